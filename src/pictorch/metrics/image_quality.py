"""Image-quality metrics: PSNR and SSIM, batched, differentiable, on any device.

SSIM follows Wang et al. (2004) with the conventions of ``skimage.metrics.structural_similarity`` so the
numbers agree with it: a uniform ``win_size``×``win_size`` window (or a Gaussian one of σ=1.5 and radius
``int(3.5σ + 0.5)``), K1=0.01, K2=0.03, sample covariances (N/(N-1)) by default, and the mean taken over the
"valid" region only (the ``(win_size-1)/2`` border is left out). Multi-channel images average the
per-channel SSIM.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape != y.shape:
        raise ValueError(f"images must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.ndim == 3:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"expected B×C×H×W or C×H×W images, got shape {tuple(x.shape)}")
    return x, y


def mse_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each image pair (B×C×H×W -> B), computed in float32."""
    x, y = _check_pair(x, y)
    return (x.float() - y.float()).pow(2).flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "mean",
         eps: float = 1e-10) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10·log10(range² / MSE)``, per image.

    Args:
        x: Images B×C×H×W (or C×H×W).
        y: Reference images of the same shape.
        data_range: Pixel value range (1.0 for [0, 1] images, 255 for uint8 ones).
        reduction: "mean" (average of the per-image PSNRs), "none" (a B vector) or "pooled" (PSNR of the
            mean MSE over the batch).
        eps: Floor on the MSE so identical images give a large finite number.

    Returns:
        A 0-dim tensor, or a B vector for ``reduction="none"``.
    """
    mse = mse_per_image(x, y)
    if reduction == "pooled":
        mse = mse.mean()
    out = 10.0 * torch.log10(data_range**2 / mse.clamp_min(eps))
    if reduction == "mean":
        return out.mean()
    if reduction in ("none", "pooled"):
        return out
    raise ValueError(f"unknown reduction {reduction!r}; use mean, none or pooled")


def _window(win_size: int, gaussian: bool, sigma: float, channels: int, device: torch.device,
            dtype: torch.dtype) -> torch.Tensor:
    if gaussian:
        r = win_size // 2
        t = torch.arange(-r, r + 1, device=device, dtype=torch.float64)
        g = torch.exp(-(t**2) / (2 * sigma**2))
        g = g / g.sum()
        w2 = torch.outer(g, g)
    else:
        w2 = torch.full((win_size, win_size), 1.0 / win_size**2, device=device, dtype=torch.float64)
    return w2.to(dtype).expand(channels, 1, win_size, win_size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, win_size: int | None = None,
         gaussian: bool = False, sigma: float = 1.5, use_sample_covariance: bool = True, k1: float = 0.01,
         k2: float = 0.03, reduction: str = "mean", full: bool = False) -> torch.Tensor:
    """Structural similarity (differentiable), matching ``skimage.metrics.structural_similarity``.

    Args:
        x: Images B×C×H×W (or C×H×W), float.
        y: Reference images of the same shape.
        data_range: Pixel value range (1.0 for [0, 1] images).
        win_size: Odd window side; default 7 (uniform) or ``2·int(3.5σ+0.5)+1`` (Gaussian, 11 for σ=1.5).
        gaussian: Gaussian-weighted window instead of a uniform one.
        sigma: Gaussian σ.
        use_sample_covariance: Unbiased (N-1) covariances, skimage's default.
        k1: Luminance constant.
        k2: Contrast constant.
        reduction: "mean" (over the batch), "none" (a B vector).
        full: Return the B×C×h×w SSIM map (valid region) instead of its mean.

    Returns:
        Mean SSIM (0-dim), per-image SSIM (B), or the SSIM map.
    """
    x, y = _check_pair(x, y)
    x, y = x.float(), y.float()
    if win_size is None:
        win_size = 2 * int(3.5 * sigma + 0.5) + 1 if gaussian else 7
    if win_size % 2 == 0 or win_size < 3:
        raise ValueError(f"win_size must be odd and >= 3, got {win_size}")
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"images of {x.shape[-2]}×{x.shape[-1]} pixels are smaller than the SSIM window "
                         f"({win_size}); use a smaller win_size")
    c = x.shape[1]
    w = _window(win_size, gaussian, sigma, c, x.device, x.dtype)
    n = win_size**2
    cov_norm = n / (n - 1) if use_sample_covariance else 1.0

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    ux, uy = filt(x), filt(y)
    uxx, uyy, uxy = filt(x * x), filt(y * y), filt(x * y)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    if full:
        return s
    per_image = s.flatten(1).mean(1)
    if reduction == "mean":
        return per_image.mean()
    if reduction == "none":
        return per_image
    raise ValueError(f"unknown reduction {reduction!r}; use mean or none")


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """PSNR in dB for a given mean squared error (host-side helper for tables)."""
    return 10.0 * math.log10(data_range**2 / max(mse, 1e-10))


__all__ = ["mse_per_image", "psnr", "psnr_from_mse", "ssim"]
