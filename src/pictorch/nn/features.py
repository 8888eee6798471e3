"""Tap a frozen network at named layers or stages (forward hooks, after timm's ``FeatureHookNet``).

One feature stack for perceptual losses, style transfer, DeepDream and filter visualisation:

* :class:`InputSpec` says what a network wants (channel order, 0-1 or 0-255 range, mean, std) and converts
  a ``[0, 1]`` RGB/gray batch into it and back, so callers always work in image space;
* :class:`FeatureNet` runs the network and returns the outputs of the tapped modules as a dict; the forward
  stops as soon as every tap has fired (VGG-19 up to ``relu5_1`` skips its 400 MB classifier's work);
* :func:`list_layers` lists every tap-able name with its output shape (nobody should guess ``features.22``);
  :func:`feature_info` gives channels and stride per stage;
* :func:`resolve_layer` accepts module names, the network's aliases (VGG: ``relu4_2``), and ``stage:N``;
* :func:`load_frozen` is the one grammar for naming a frozen net: ``CKPT`` | ``name[:tag]``
  (``vgg19:caffe``, ``efficientnet_lite0``, ``resnet18:imagenet``, ``vgg16:random``) | ``inception:PATH``
  (an Inception-v3 weight file, the same network FID uses).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pictorch.errors import ConfigError


@dataclass(frozen=True)
class InputSpec:
    """How a network wants its input, relative to a ``[0, 1]`` image batch in RGB (or gray) order.

    ``model_input = (flip(x) * input_range - mean) / std`` where ``flip`` reverses RGB to BGR when
    ``channel_order == "BGR"``; ``mean``/``std`` are in the model's channel order and range.
    """

    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    input_range: float = 1.0
    channel_order: str = "RGB"

    @classmethod
    def from_cfg(cls, cfg: dict[str, Any] | None, in_chans: int | None = None) -> InputSpec:
        """Read a backbone's ``default_cfg`` (``mean``, ``std``, ``input_range``, ``channel_order``)."""
        cfg = cfg or {}
        n = in_chans or int((cfg.get("input_size") or (3,))[0])
        mean = tuple(float(v) for v in cfg.get("mean") or (0.0,) * n)
        std = tuple(float(v) for v in cfg.get("std") or (1.0,) * n)
        return cls(mean, std, float(cfg.get("input_range", 1.0)), str(cfg.get("channel_order", "RGB")))

    @property
    def channels(self) -> int:
        return len(self.mean)

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return mean, std

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``[0, 1]`` B×C×H×W (RGB or gray) → the model's input space."""
        if x.shape[1] != self.channels:
            raise ConfigError(f"the network wants {self.channels}-channel input, got {x.shape[1]} channels")
        if self.channel_order == "BGR":
            x = x.flip(1)
        mean, std = self._stats(x)
        return (x * self.input_range - mean) / std

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        """The model's input space → ``[0, 1]`` RGB (not clamped)."""
        mean, std = self._stats(y)
        x = (y * std + mean) / self.input_range
        return x.flip(1) if self.channel_order == "BGR" else x


def input_spec(model: nn.Module) -> InputSpec:
    """The :class:`InputSpec` of a loaded checkpoint (its ``input``/``normalization`` record: what it was
    trained with) or of a backbone (``default_cfg``)."""
    meta = getattr(model, "pictorch_meta", {}) or {}
    rec = meta.get("input") or meta.get("normalization") or {}
    cfg = getattr(model, "default_cfg", None)
    if cfg and rec.get("mean") is None:
        return InputSpec.from_cfg(cfg)
    if rec.get("mean") is not None:
        # a checkpoint's record normalizes x/255 (engine/inference.input_record): its "range" says where
        # pixels 0 and 255 land *after* normalizing ([-0.75, 1.75] for mean 0.3, std 0.4), not a scale to
        # apply before it; reading it as one multiplied a classifier's input by 1.75 (see/ae on classify runs)
        rng = rec.get("input_range", 1.0)
        return InputSpec(tuple(rec["mean"]), tuple(rec.get("std") or (1.0,) * len(rec["mean"])),
                         float(rng), rec.get("channel_order", "RGB"))
    n = in_channels(model)
    return InputSpec((0.0,) * n, (1.0,) * n)


def in_channels(model: nn.Module) -> int:
    """Input channels of a network (its ``default_cfg`` or first convolution)."""
    cfg = getattr(model, "default_cfg", None) or {}
    if cfg.get("input_size"):
        return int(cfg["input_size"][0])
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    return 3


def layer_aliases(model: nn.Module) -> dict[str, str]:
    """Friendly names → module names: the network's own (``layer_aliases()``) plus ``stage:N``."""
    out: dict[str, str] = {}
    fn = getattr(model, "layer_aliases", None)
    if callable(fn):
        out.update(fn())
    stages = getattr(model, "feature_stages", None)
    if callable(stages):
        names = {id(m): n for n, m in model.named_modules() if n}
        for i, st in enumerate(stages()):
            target = st
            # a stage built on the fly (nn.Sequential over shared modules) is never called itself:
            # tap its last member, whose output is the stage's output
            while id(target) not in names and isinstance(target, nn.Sequential) and len(target):
                target = target[-1]
            if id(target) in names:
                out[f"stage:{i}"] = names[id(target)]
    return out


def resolve_layer(model: nn.Module, name: str) -> str:
    """A module name for ``name`` (a module name, an alias such as ``relu4_2``, or ``stage:N``).

    Raises:
        ConfigError: Unknown name; the message lists the close matches.
    """
    modules = dict(model.named_modules())
    if name in modules and name:
        return name
    aliases = layer_aliases(model)
    if name in aliases:
        return aliases[name]
    known = [n for n in modules if n] + list(aliases)
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    hint = f"; close: {', '.join(close)}" if close else ""
    arch = (getattr(model, "default_cfg", None) or {}).get("arch", type(model).__name__)
    raise ConfigError(f"{arch} has no layer {name!r}{hint} (see `pictorch see layers {arch}`)")


class _StopForward(Exception):
    """Raised by the last hook to end a forward pass early."""


class FeatureNet(nn.Module):
    """A frozen network tapped at named modules by forward hooks.

    Args:
        model: Any ``nn.Module`` (a registered backbone, a loaded checkpoint, ...).
        layers: Module names, aliases or ``stage:N`` (see :func:`resolve_layer`).
        spec: Input spec (default: :func:`input_spec` of ``model``).
        frozen: Put the model in eval mode and stop gradients to its parameters.
        truncate: End the forward pass once every tap has fired (a module called twice in one forward,
            such as a ResNet block's shared ReLU, then gives its first call's output).
        call: The model's method to run (``"forward"``; ``"forward_features"`` skips the head).

    ``forward(x)`` takes a ``[0, 1]`` image batch (``normalized=True``: already in model space) and returns
    ``{requested name: output}`` in the order the names were given.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], spec: InputSpec | None = None, *,
                 frozen: bool = True, truncate: bool = True, call: str = "forward"):
        super().__init__()
        if not layers:
            raise ConfigError("FeatureNet needs at least one layer to tap")
        self.model = model
        self.spec = spec or input_spec(model)
        self.names = list(dict.fromkeys(layers))
        self.modules_by_name = {n: resolve_layer(model, n) for n in self.names}
        self.truncate = truncate
        self.call = call
        # an in-place activation right after a tapped conv would overwrite the tapped output (and break
        # backward through it): switch them off (VGG's ReLUs are in-place)
        for m in model.modules():
            if getattr(m, "inplace", False) is True:
                m.inplace = False
        if frozen:
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)
        self._out: dict[str, torch.Tensor] = {}
        self._active = False
        self._handles = []
        targets: dict[str, list[str]] = {}
        for req, mod in self.modules_by_name.items():
            targets.setdefault(mod, []).append(req)
        for mod, reqs in targets.items():
            self._handles.append(model.get_submodule(mod).register_forward_hook(self._hook(reqs)))

    def _hook(self, reqs: list[str]):
        def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
            # hooks stay registered but act only inside this FeatureNet's own forward, so the model can
            # still be used (and tapped by other FeatureNets) as before
            if not self._active:
                return
            if isinstance(out, tuple | list):
                out = out[0]
            for r in reqs:
                if r not in self._out:
                    self._out[r] = out
            if self.truncate and len(self._out) == len(self.names):
                raise _StopForward
        return hook

    def train(self, mode: bool = True) -> FeatureNet:
        # the tapped network stays in eval mode: batch-norm statistics and dropout must not change
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, x: torch.Tensor, normalized: bool = False) -> dict[str, torch.Tensor]:
        if not normalized:
            x = self.spec.normalize(x)
        self._out = {}
        self._active = True
        try:
            getattr(self.model, self.call)(x)
        except _StopForward:
            pass
        finally:
            self._active = False
        out, self._out = self._out, {}
        missing = [n for n in self.names if n not in out]
        if missing:
            raise ConfigError(f"layers {missing} were not reached by {self.call}() (they are not used by the "
                              "network's forward pass); tap another layer")
        return {n: out[n] for n in self.names}

    def remove(self) -> None:
        """Detach the hooks (the model works as before)."""
        for h in self._handles:
            h.remove()
        self._handles = []


def _checkpoint_size(model: nn.Module) -> tuple[int, int] | None:
    """The image size a loaded checkpoint's model was trained at (its input record / ``image_size``)."""
    meta = getattr(model, "pictorch_meta", None) or {}
    size = (meta.get("input") or {}).get("size") or meta.get("image_size")
    if isinstance(size, int | float) and size:
        return int(size), int(size)
    if isinstance(size, list | tuple) and len(size) == 2 and all(size):
        return int(size[0]), int(size[1])
    return None


def list_layers(model: nn.Module, input_size: tuple[int, int] | None = None,
                leaves_only: bool = False) -> list[dict[str, Any]]:
    """Every module with its output shape on a zero input (``name``, ``alias``, ``type``, ``shape``).

    Args:
        model: The network.
        input_size: (H, W) of the probe input (default: the network's ``default_cfg`` size, else 224).
        leaves_only: Only modules without children.
    """
    cfg = getattr(model, "default_cfg", None) or {}
    if input_size is None:
        size = cfg.get("input_size") or _checkpoint_size(model) or (3, 224, 224)
        input_size = (int(size[-2]), int(size[-1]))
    c = in_channels(model)
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name, m in model.named_modules():
        if not name or (leaves_only and any(True for _ in m.children())):
            continue

        def hook(_m: nn.Module, _i: Any, out: Any, name: str = name) -> None:
            if isinstance(out, tuple | list) and out:
                out = out[0]
            if isinstance(out, torch.Tensor) and name not in shapes:
                shapes[name] = tuple(out.shape[1:])
        handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, c, *input_size))
    except (RuntimeError, ValueError, TypeError) as e:  # a network that does not take images of this size
        arch = cfg.get("arch", type(model).__name__)
        raise ConfigError(f"{arch} does not run on a {c}×{input_size[0]}×{input_size[1]} image, so its layers "
                          f"cannot be listed: {str(e).splitlines()[0][:160]}") from None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    rev: dict[str, list[str]] = {}
    for alias, target in layer_aliases(model).items():
        rev.setdefault(target, []).append(alias)
    mods = dict(model.named_modules())
    return [{"name": n, "alias": ",".join(rev.get(n, [])), "type": type(mods[n]).__name__, "shape": s}
            for n, s in shapes.items()]


def feature_info(model: nn.Module, input_size: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """Channels and stride of each feature stage (after timm's ``FeatureInfo``), from a probe forward.

    Returns:
        One ``{"stage": "stage:i", "module": name, "channels": C, "reduction": input side / output side}``
        per stage the network exposes through ``feature_stages()``.
    """
    cfg = getattr(model, "default_cfg", None) or {}
    if input_size is None:
        size = cfg.get("input_size") or (3, 224, 224)
        input_size = (int(size[-2]), int(size[-1]))
    rows = {r["name"]: r for r in list_layers(model, input_size)}
    out = []
    for alias, name in layer_aliases(model).items():
        if alias.startswith("stage:") and name in rows and len(rows[name]["shape"]) == 3:
            c, h, _w = rows[name]["shape"]
            out.append({"stage": alias, "module": name, "channels": int(c), "reduction": input_size[0] / h})
    return sorted(out, key=lambda r: int(r["stage"].split(":")[1]))


def parse_frozen_spec(spec: str) -> tuple[str, str | None]:
    """Split ``name[:tag]`` (``vgg19:caffe`` → ("vgg19", "caffe")); a path is returned whole;
    ``inception:PATH`` → ("inception", PATH) (the tag is a weight file)."""
    if spec.startswith("inception:"):
        return "inception", spec.split(":", 1)[1]
    if Path(spec).exists() or spec.endswith((".safetensors", ".pth", ".pt")):
        return spec, None
    name, _, tag = spec.partition(":")
    return name, tag or None


#: Architectures whose default weights are a bundled file rather than a download.
_DEFAULT_TAGS = {"efficientnet_lite0": "imagenet"}

#: Inception-v3's stages for ``stage:N`` (stride 2 after the stem's first conv, 8 after 5d, 16 after 6e, 32 after 7c).
_INCEPTION_STAGES = ("Conv2d_2b_3x3", "Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c")


def load_inception(path: str | Path) -> nn.Module:
    """Inception-v3 from a local weight file (torchvision's ``inception_v3_google`` or pytorch-fid's
    ``pt_inception-2015-12-05`` keys), frozen, tap-able at its module names (``Mixed_6e``) or ``stage:0-4``.

    The network is the FID variant of :mod:`pictorch.metrics.fid` (one Inception in the house): input
    [0, 1] RGB normalised with mean = std = 0.5 (i.e. [-1, 1]), 299² by default (any side ≥ 75 runs); its
    ``forward`` returns the 2048-d pool3 features.

    Raises:
        WeightsError: the file is missing or does not hold Inception-v3 weights.
    """
    from pictorch.metrics.fid import inception_feature_net

    model = inception_feature_net(path).model
    aliases = {f"stage:{i}": n for i, n in enumerate(_INCEPTION_STAGES)}
    aliases["pool3"] = "Mixed_7c"  # what FID averages over space
    model.layer_aliases = lambda: dict(aliases)  # instance attribute: resolve_layer / list_layers read it
    model.default_cfg = {**model.default_cfg, "arch": "inception_v3", "source": str(path)}
    return model


def _image_module(modules: dict[str, nn.Module]) -> nn.Module:
    """The module of a several-module checkpoint that takes images: the first whose first layer is a 2-D
    convolution (a GAN's discriminator, a translator's generator); a GAN's generator takes codes, and probing
    it with an image failed deep inside ("mat1 and mat2 shapes cannot be multiplied")."""
    for m in modules.values():
        first = next((q for q in m.modules() if isinstance(q, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)), None)
        if isinstance(first, nn.Conv2d):
            return m
    return next(iter(modules.values()))


def load_frozen(spec: str, *, in_chans: int | None = None, **model_kw: Any) -> nn.Module:
    """A frozen network from one string: a checkpoint path/run folder, or ``name[:tag]``.

    ``tag`` is a pretrained weights tag (``imagenet``, ``caffe``) or ``random`` (no weights: useful for tests
    and for looking at an untrained net). Without a tag, a registered name gets ``imagenet`` weights.

    Raises:
        ConfigError / WeightsError / CheckpointError: unknown name, unavailable weights, bad checkpoint.
    """
    name, tag = parse_frozen_spec(spec)
    p = Path(name)
    if name == "inception" and tag is not None:
        model = load_inception(tag)
    elif p.exists():
        from pictorch.engine.checkpoint import load_model

        obj = load_model(p)
        if isinstance(obj, dict):
            obj = _image_module(obj)
        model = obj
    else:
        from pictorch.registry import MODELS

        if name not in MODELS:
            MODELS.get(name)  # raises with the close matches
        kw = dict(model_kw)
        if in_chans is not None:
            kw["in_chans"] = in_chans
        tag = tag or _DEFAULT_TAGS.get(name, "imagenet")
        if tag not in ("random", "none"):
            kw["pretrained"] = tag
        model = MODELS.create(name, **kw)
    model.eval()
    for q in model.parameters():
        q.requires_grad_(False)
    return model

