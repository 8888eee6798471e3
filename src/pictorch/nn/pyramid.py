"""Gaussian and Laplacian image pyramids (LAPGAN's d(·), u(·), G(I), L(I) and their inverse).

* ``down`` (d): halves an image by the mean of each 2×2 block (a box blur then decimation);
* ``up`` (u): doubles it by bilinear interpolation (weights 9/16, 3/16, 3/16, 1/16 at align_corners=False);
* ``gaussian_pyramid(I, K)`` = [I_0 … I_{K-1}] with I_0 = I and I_{k+1} = d(I_k);
* ``laplacian_pyramid(I, K)`` = [h_0 … h_{K-2}, I_{K-1}] with h_k = I_k − u(I_{k+1});
* ``reconstruct(L)`` runs the recurrence back: I_k = u(I_{k+1}) + h_k.

Both filters have dyadic weights (multiples of 1/4 and 1/16), so on 8-bit pictures stored on a dyadic grid (any
``k / 2^m``, e.g. ``uint8 / 256``) every intermediate value is exactly representable in float32 for up to 6
levels and the round trip is bit-exact; for arbitrary floats the residuals carry one rounding each and the round
trip is exact to a few ulps (``reconstruct`` in float64 is exact to 1e-15 on [-1, 1] images).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from pictorch.errors import ConfigError

__all__ = ["check_levels", "down", "gaussian_pyramid", "laplacian_pyramid", "level_sizes", "reconstruct", "up"]


def level_sizes(size: int, levels: int) -> list[int]:
    """The sides of a ``levels``-level pyramid over a ``size`` image (28, 3 → [28, 14, 7]).

    Raises:
        ConfigError: ``levels`` < 1, or a side on the way is odd (d(·) halves exactly) or falls below 4.
    """
    if levels < 1:
        raise ConfigError(f"--levels must be >= 1, got {levels}")
    sizes = [int(size)]
    for _ in range(levels - 1):
        s = sizes[-1]
        if s % 2 or s // 2 < 4:
            fits = [k for k in range(1, 9) if _fits(size, k)]
            raise ConfigError(f"{levels} pyramid levels do not fit {size}×{size} images: "
                              f"{' → '.join(map(str, sizes))} cannot halve {s} "
                              f"({'odd' if s % 2 else 'below 8'}); use --levels "
                              f"{', '.join(map(str, fits))} for this size or an image size divisible by "
                              f"{2 ** (levels - 1)}")
        sizes.append(s // 2)
    return sizes


def _fits(size: int, levels: int) -> bool:
    s = size
    for _ in range(levels - 1):
        if s % 2 or s // 2 < 4:
            return False
        s //= 2
    return True


def check_levels(size: int, levels: int) -> None:
    """Raise a one-line :class:`ConfigError` when ``levels`` do not fit ``size`` (see :func:`level_sizes`)."""
    level_sizes(size, levels)


def _check_image(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ConfigError(f"pyramids take a batch N×C×H×W, got shape {tuple(x.shape)}")
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ConfigError(f"d(·) halves an image exactly: {x.shape[-2]}×{x.shape[-1]} has an odd side; crop or "
                          "resize to even sides")


def down(x: torch.Tensor) -> torch.Tensor:
    """d(·): half the size, each output pixel the mean of a 2×2 block (N×C×H×W with even H, W)."""
    _check_image(x)
    return F.avg_pool2d(x, 2)


def up(x: torch.Tensor) -> torch.Tensor:
    """u(·): double the size by bilinear interpolation (the smooth prediction the residual h corrects)."""
    if x.ndim != 4:
        raise ConfigError(f"pyramids take a batch N×C×H×W, got shape {tuple(x.shape)}")
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def gaussian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[I_0 … I_{levels-1}]: the image and ``levels − 1`` successive halvings."""
    if x.ndim != 4:
        raise ConfigError(f"pyramids take a batch N×C×H×W, got shape {tuple(x.shape)}")
    for side in {int(x.shape[-2]), int(x.shape[-1])}:
        level_sizes(side, levels)
    out = [x]
    for _ in range(levels - 1):
        out.append(down(out[-1]))
    return out


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[h_0 … h_{levels-2}, I_{levels-1}]: the band-pass residuals h_k = I_k − u(I_{k+1}) and the coarsest image."""
    g = gaussian_pyramid(x, levels)
    return [g[k] - up(g[k + 1]) for k in range(levels - 1)] + [g[-1]]


def reconstruct(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """The image from its Laplacian pyramid: start at the coarsest and apply I_k = u(I_{k+1}) + h_k."""
    if not pyramid:
        raise ConfigError("reconstruct needs a non-empty Laplacian pyramid")
    img = pyramid[-1]
    for h in reversed(pyramid[:-1]):
        if h.shape[-2:] != (2 * img.shape[-2], 2 * img.shape[-1]):
            raise ConfigError(f"a Laplacian level of {tuple(h.shape[-2:])} cannot follow one of "
                              f"{tuple(img.shape[-2:])}: each level doubles the side")
        img = up(img) + h
    return img
