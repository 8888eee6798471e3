"""Distribution metrics for generative models: FID, KID, precision/recall — over a chosen feature network.

The feature network is any model with the Backbone interface (``forward_features`` and
``forward_head(x, pre_logits=True)``), typically a classifier trained on the same data: Inception features
describe photos, not 28×28 clothes, and their weights cannot be downloaded offline. A local Inception-v3 FID
weight file (``pt_inception-2015-12-05-*.pth``, torchvision key names) is supported through
:class:`InceptionFeatures`.

* :func:`frechet_distance` — ‖μ₁−μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), with the matrix square root computed from
  a symmetric eigen-decomposition (stable in float64, no complex parts).
* :func:`kid` — unbiased MMD² with the cubic polynomial kernel (x·y/d + 1)³, averaged over random subsets.
* :func:`precision_recall` — Kynkäänniemi et al. 2019: the fraction of generated samples inside the k-NN
  balls of the real features (precision) and vice versa (recall).

Always report FID beside the *real-vs-real floor* (FID between two disjoint real samples of the same size):
FID is biased upwards for finite samples, so the floor says what "as good as the data" would score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pictorch.errors import CheckpointError, ConfigError, WeightsError


# -- statistics ------------------------------------------------------------------------------------------
def feature_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean vector and (unbiased) covariance matrix of N×D features, in float64."""
    f = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ConfigError(f"need at least 2 feature vectors (N×D), got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between Gaussians N(μ₁, Σ₁) and N(μ₂, Σ₂).

    tr((Σ₁Σ₂)^½) equals the sum of square roots of the eigenvalues of Σ₁^½ Σ₂ Σ₁^½, which is symmetric
    positive semi-definite, so no complex square root is needed.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ConfigError(f"feature sizes differ: {mu1.shape} vs {mu2.shape}")
    r1 = _sqrt_psd(s1)
    inner = r1 @ s2 @ r1
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum())
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt, 0.0))


def fid_from_features(real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray) -> float:
    """FID between two N×D feature sets."""
    return frechet_distance(*feature_stats(real), *feature_stats(fake))


def _as_tensor(f: torch.Tensor | np.ndarray) -> torch.Tensor:
    return (f if isinstance(f, torch.Tensor) else torch.from_numpy(np.asarray(f))).detach().cpu().double()


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> torch.Tensor:
    """(γ x·y + c)^degree with γ = 1/D by default (the KID kernel)."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (gamma * x @ y.T + coef0) ** degree


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, kernel: Callable[..., torch.Tensor] = polynomial_kernel) -> float:
    """Unbiased estimate of MMD² between samples ``x`` (m×D) and ``y`` (n×D) (diagonals left out)."""
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ConfigError("KID needs at least 2 samples on each side")
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray, num_subsets: int = 50,
        subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of unbiased MMD² over random subsets.

    With ``subset_size`` ≥ both set sizes a single subset (all samples) is used.
    """
    x, y = _as_tensor(real), _as_tensor(fake)
    if subset_size >= x.shape[0] and subset_size >= y.shape[0]:
        return mmd2_unbiased(x, y), 0.0
    size = min(subset_size, x.shape[0], y.shape[0])
    g = torch.Generator().manual_seed(seed)
    vals = []
    for _ in range(num_subsets):
        ix = torch.randperm(x.shape[0], generator=g)[:size]
        iy = torch.randperm(y.shape[0], generator=g)[:size]
        vals.append(mmd2_unbiased(x[ix], y[iy]))
    t = torch.tensor(vals, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(vals) > 1 else 0.0


def _kth_nn_radius(f: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    radii = []
    for i in range(0, f.shape[0], chunk):
        d = torch.cdist(f[i:i + chunk], f)
        # k+1 smallest: the first is the point itself (distance 0)
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def _coverage(points: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor, chunk: int = 2048) -> float:
    inside = []
    for i in range(0, points.shape[0], chunk):
        d = torch.cdist(points[i:i + chunk], centers)
        inside.append((d <= radii[None, :]).any(1))
    return float(torch.cat(inside).float().mean())


def precision_recall(real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray, k: int = 3) -> dict[str, float]:
    """Improved precision and recall of a generated distribution (Kynkäänniemi et al., 2019).

    Precision: share of generated samples within the k-NN radius of some real sample (are samples realistic?).
    Recall: share of real samples within the k-NN radius of some generated sample (is the data covered?).
    """
    x, y = _as_tensor(real).float(), _as_tensor(fake).float()
    if x.shape[0] <= k or y.shape[0] <= k:
        raise ConfigError(f"precision/recall with k={k} needs more than {k} samples on each side")
    rx, ry = _kth_nn_radius(x, k), _kth_nn_radius(y, k)
    return {"precision": _coverage(y, x, rx), "recall": _coverage(x, y, ry)}


# -- feature networks ------------------------------------------------------------------------------------
@dataclass
class FeatureNet:
    """A feature network with its input convention.

    Args:
        model: Backbone-interface module (``forward_features``, ``forward_head(x, pre_logits=True)``).
        input_size: (H, W) the network expects; inputs are resized to it.
        in_chans: Channels the network expects (1↔3 adapted).
        mean: Per-channel normalization mean (on [0, 1] pixels).
        std: Per-channel normalization std.
        classes: Class names of its classifier head (for conditional consistency), if any.
        name: Where it came from (reported beside the numbers).
    """

    model: nn.Module
    input_size: tuple[int, int]
    in_chans: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: list[str] | None = None
    name: str = "features"

    def prepare(self, images: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
        """Images (uint8 [0, 255] or float in ``value_range``) -> the network's normalized input."""
        if images.dtype == torch.uint8:
            x = images.float() / 255.0
        else:
            lo, hi = value_range
            x = ((images.float() - lo) / (hi - lo)).clamp(0, 1)
        if x.shape[1] != self.in_chans:
            if self.in_chans == 3 and x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            elif self.in_chans == 1 and x.shape[1] == 3:
                x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device)[None, :, None, None]).sum(1, True)
            else:
                raise ConfigError(f"feature network {self.name} takes {self.in_chans}-channel images, got "
                                  f"{x.shape[1]}")
        if tuple(x.shape[-2:]) != tuple(self.input_size):
            x = F.interpolate(x, size=tuple(self.input_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.input_size[1])
        mean = torch.tensor(self.mean, device=x.device)[None, :, None, None]
        std = torch.tensor(self.std, device=x.device)[None, :, None, None]
        return (x - mean) / std

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor, batch_size: int = 256,
                            value_range: tuple[float, float] = (-1.0, 1.0),
                            logits: bool = False, progress: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pre-logit features (N×D float64) and optionally class logits (N×K) of a batch of images;
        ``progress(done, total)`` after each batch."""
        self.model.eval()
        dev = next(self.model.parameters()).device
        feats, outs = [], []
        for chunk in images.split(batch_size):
            if progress is not None:
                progress(sum(len(f) for f in feats), len(images))
            x = self.prepare(chunk.to(dev), value_range)
            h = self.model.forward_features(x)
            f = self.model.forward_head(h, pre_logits=True)
            feats.append(f.double().cpu())
            if logits:
                outs.append(self.model.forward_head(h).float().cpu())
        if progress is not None:
            progress(len(images), len(images))
        return torch.cat(feats), (torch.cat(outs) if logits else None)

    def features(self, images: torch.Tensor, batch_size: int = 256,
                 value_range: tuple[float, float] = (-1.0, 1.0), progress: Any = None) -> torch.Tensor:
        """Pre-logit features (N×D, float64)."""
        return self.features_and_logits(images, batch_size, value_range, progress=progress)[0]


def _has_backbone_interface(m: Any) -> bool:
    return isinstance(m, nn.Module) and hasattr(m, "forward_head") and hasattr(m, "forward_features")


def feature_net_from_model(model: nn.Module, name: str = "model", meta: dict[str, Any] | None = None) -> FeatureNet:
    """Wrap a Backbone-interface model; normalization and input size come from checkpoint meta or its cfg."""
    if not _has_backbone_interface(model):
        raise ConfigError(f"{name}: not a Backbone-interface model (needs forward_features and forward_head); "
                          "pass a classifier checkpoint")
    meta = dict(meta or getattr(model, "pictorch_meta", {}) or {})
    cfg = dict(getattr(model, "default_cfg", {}) or {})
    norm = meta.get("normalization") or {}
    input_size = meta.get("input_size") or (  # a classify checkpoint records image_size and in_chans
        [meta["in_chans"], *meta["image_size"]] if meta.get("image_size") and meta.get("in_chans") else None
    ) or cfg.get("input_size") or (1, 28, 28)
    in_chans = int(input_size[0]) if len(input_size) == 3 else 3
    hw = tuple(int(v) for v in input_size[-2:])
    mean = tuple(norm.get("mean") or cfg.get("mean") or (0.5,) * in_chans)
    std = tuple(norm.get("std") or cfg.get("std") or (0.5,) * in_chans)
    classes = meta.get("classes") or None
    if getattr(model, "num_classes", 0) == 0:
        classes = None
    return FeatureNet(model.eval(), hw, in_chans, mean, std, classes, name)


def load_feature_net(spec: str, device: str = "cpu") -> FeatureNet:
    """A feature network from ``CKPT`` (any pictorch Backbone checkpoint) or ``inception:PATH``.

    Raises:
        CheckpointError / WeightsError: missing or unsuitable file, with what to pass instead.
    """
    if spec.startswith("inception:"):
        return inception_feature_net(spec.split(":", 1)[1], device)
    from pictorch.engine.checkpoint import load_model

    model = load_model(spec, map_location=device)
    if isinstance(model, dict):
        raise CheckpointError(f"{spec}: holds several modules ({', '.join(model)}); the feature network must be "
                              "a single classifier/backbone checkpoint (e.g. from `pictorch classify train` or "
                              "`pictorch gan feature-net train`)")
    if not _has_backbone_interface(model):
        raise CheckpointError(f"{spec}: {type(model).__name__} is not a Backbone-interface model (needs "
                              "forward_features and forward_head); pass a classifier checkpoint")
    return feature_net_from_model(model, name=str(spec))


# -- Inception-v3 (FID variant) from a local weight file ---------------------------------------------------
class _BasicConv(nn.Module):
    def __init__(self, cin: int, cout: int, **kw: Any):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    # the TF FID graph averages without the zero padding
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class _InceptionA(nn.Module):
    def __init__(self, cin: int, pool: int):
        super().__init__()
        self.branch1x1 = _BasicConv(cin, 64, kernel_size=1)
        self.branch5x5_1 = _BasicConv(cin, 48, kernel_size=1)
        self.branch5x5_2 = _BasicConv(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = _BasicConv(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv(96, 96, kernel_size=3, padding=1)
        self.branch_pool = _BasicConv(cin, pool, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(_avg3(x))], 1)


class _InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = _BasicConv(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = _BasicConv(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, 2)], 1)


class _InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = _BasicConv(cin, 192, kernel_size=1)
        self.branch7x7_1 = _BasicConv(cin, c7, kernel_size=1)
        self.branch7x7_2 = _BasicConv(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = _BasicConv(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _BasicConv(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = _BasicConv(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _BasicConv(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _BasicConv(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _BasicConv(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = _BasicConv(cin, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for m in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = m(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_avg3(x))], 1)


class _InceptionD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = _BasicConv(cin, 192, kernel_size=1)
        self.branch3x3_2 = _BasicConv(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = _BasicConv(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = _BasicConv(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _BasicConv(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _BasicConv(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, 2)], 1)


class _InceptionE(nn.Module):
    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool  # the FID graph's last block max-pools (a bug in the TF original, kept)
        self.branch1x1 = _BasicConv(cin, 320, kernel_size=1)
        self.branch3x3_1 = _BasicConv(cin, 384, kernel_size=1)
        self.branch3x3_2a = _BasicConv(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = _BasicConv(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _BasicConv(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = _BasicConv(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _BasicConv(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = _BasicConv(cin, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pool = F.max_pool2d(x, 3, 1, 1) if self.max_pool else _avg3(x)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pool)], 1)


class InceptionFeatures(nn.Module):
    """Inception-v3 as used for FID (pool3, 2048-d), with the Backbone feature interface.

    Parameter names match torchvision's ``inception_v3`` and pytorch-fid's ``pt_inception-2015-12-05``
    file, so either loads as it is (the classifier ``fc``/``AuxLogits`` weights are ignored).
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _BasicConv(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = _BasicConv(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = _BasicConv(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = _BasicConv(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = _BasicConv(80, 192, kernel_size=3)
        self.Mixed_5b = _InceptionA(192, 32)
        self.Mixed_5c = _InceptionA(256, 64)
        self.Mixed_5d = _InceptionA(288, 64)
        self.Mixed_6a = _InceptionB(288)
        self.Mixed_6b = _InceptionC(768, 128)
        self.Mixed_6c = _InceptionC(768, 160)
        self.Mixed_6d = _InceptionC(768, 160)
        self.Mixed_6e = _InceptionC(768, 192)
        self.Mixed_7a = _InceptionD(768)
        self.Mixed_7b = _InceptionE(1280, max_pool=False)
        self.Mixed_7c = _InceptionE(2048, max_pool=True)
        self.feature_dim = 2048
        self.num_classes = 0
        self.default_cfg = {"input_size": (3, 299, 299), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, 2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, 2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x), pre_logits=True)


def inception_feature_net(path: str | Path, device: str = "cpu") -> FeatureNet:
    """The FID Inception-v3 from a local weight file (``.pth``/``.pt`` state dict or ``.safetensors``).

    Raises:
        WeightsError: the file is missing or its weights do not fit Inception-v3.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: Inception weight file not found; the FID Inception weights "
                           "(pt_inception-2015-12-05-6726825d.pth from pytorch-fid, or torchvision's "
                           "inception_v3_google) cannot be downloaded here: copy the file to this machine and pass "
                           "--feature-net inception:/path/to/file, or use a classifier checkpoint")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p))
        else:
            sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{p}: cannot read weights ({e.__class__.__name__})") from e
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    net = InceptionFeatures()
    own = net.state_dict()
    sd = {k: v for k, v in sd.items() if k in own}
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    if missing:
        raise WeightsError(f"{p}: not Inception-v3 weights ({len(missing)} tensors missing, e.g. {missing[0]})")
    net.load_state_dict(sd, strict=False)
    net.to(device).eval()
    return FeatureNet(net, (299, 299), 3, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), None, f"inception:{p}")


def fid_floor_note(fid_value: float, floor: float) -> str:
    """A one-line reading of FID against its real-vs-real floor."""
    if not math.isfinite(fid_value):
        return "FID is not finite"
    return f"FID {fid_value:.3f} (real-vs-real floor {floor:.3f}, {fid_value / max(floor, 1e-12):.1f}× the floor)"
