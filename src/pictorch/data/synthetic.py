"""Generated datasets for tests, demos and smoke runs: labelled shapes with masks, textures, toy identities.

Everything is vectorized torch code driven by a seeded ``torch.Generator``: the same arguments always give
the same tensors, and thousands of small images take well under a second.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pictorch.data.imageset import ImageSet
from pictorch.errors import DataError

SHAPE_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "bar")
"""Shape classes of :func:`synthetic_shapes`, in label order."""


def _check(n: int, size: int, channels: int) -> None:
    if n < 1:
        raise DataError(f"number of images must be >= 1, got {n}")
    if size < 8:
        raise DataError(f"image size must be >= 8 pixels, got {size}")
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def _uniform(g: torch.Generator, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=g)


def _shape_mask(
    kind: int, coords: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, r: torch.Tensor, ang: torch.Tensor
) -> torch.Tensor:
    """Boolean masks m×H×W of shape ``kind`` (index into SHAPE_NAMES) at the given centres/radii/angles."""
    m, size = len(cx), len(coords)
    dy = coords.view(1, size, 1) - cy.view(m, 1, 1)
    dx = coords.view(1, 1, size) - cx.view(m, 1, 1)
    rr = r.view(m, 1, 1)
    cos, sin = torch.cos(ang).view(m, 1, 1), torch.sin(ang).view(m, 1, 1)
    u = cos * dx + sin * dy  # rotated coordinates
    v = -sin * dx + cos * dy
    name = SHAPE_NAMES[kind]
    if name in ("circle", "ring"):
        dist = torch.sqrt(dx * dx + dy * dy)
        return (dist <= rr) if name == "circle" else (dist <= rr) & (dist >= 0.55 * rr)
    if name == "square":
        return (u.abs() <= 0.8 * rr) & (v.abs() <= 0.8 * rr)
    if name == "triangle":  # equilateral: intersection of three half-planes
        tri = torch.ones_like(u, dtype=torch.bool)
        for k in range(3):
            a = -math.pi / 2 + k * 2 * math.pi / 3
            tri &= (u * math.cos(a) + v * math.sin(a)) <= 0.5 * rr
        return tri
    if name == "cross":
        arm = 0.3 * rr
        return ((u.abs() <= arm) & (v.abs() <= rr)) | ((v.abs() <= arm) & (u.abs() <= rr))
    return (u.abs() <= rr) & (v.abs() <= 0.3 * rr)  # bar


def synthetic_shapes(n: int, size: int = 32, channels: int = 1, num_classes: int = 4, seed: int = 0) -> ImageSet:
    """Labelled shapes (circle, square, triangle, cross, ring, bar) on a noisy background, with masks.

    Each image holds one shape with random position, scale, small rotation and colour. Classes are balanced
    (``i % num_classes`` before shuffling).

    Args:
        n: Number of images.
        size: Height and width in pixels (>= 8).
        channels: 1 (grayscale) or 3 (colour).
        num_classes: How many shape kinds to use, 2..6 (the first ``num_classes`` of :data:`SHAPE_NAMES`).
        seed: Random seed; same arguments give identical output.

    Returns:
        ImageSet with uint8 images N×C×size×size, int64 labels, ``classes`` = shape names, and masks
        N×size×size where shape pixels hold ``label + 1`` and background pixels 0.

    Raises:
        DataError: On invalid arguments.
    """
    _check(n, size, channels)
    if not 2 <= num_classes <= len(SHAPE_NAMES):
        raise DataError(f"num_classes must be between 2 and {len(SHAPE_NAMES)}, got {num_classes}")
    g = torch.Generator().manual_seed(int(seed))
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=g)]
    r = _uniform(g, (n,), 0.2, 0.36) * size
    cx = r + torch.rand(n, generator=g) * (size - 1 - 2 * r)
    cy = r + torch.rand(n, generator=g) * (size - 1 - 2 * r)
    theta = _uniform(g, (n,), -math.pi / 9, math.pi / 9)
    bar_theta = torch.rand(n, generator=g) * math.pi  # bars may point any way; their aspect ratio identifies them

    ang = torch.where(labels == 5, bar_theta, theta)
    coords = torch.arange(size, dtype=torch.float32)
    shape = torch.zeros((n, size, size), dtype=torch.bool)
    for c in range(num_classes):  # each image only needs its own shape: compute per class on its subset
        sel = (labels == c).nonzero().flatten()
        if len(sel):
            shape[sel] = _shape_mask(c, coords, cx[sel], cy[sel], r[sel], ang[sel])

    bg = _uniform(g, (n, channels, 1, 1), 0.0, 0.35)
    fg = _uniform(g, (n, channels, 1, 1), 0.6, 1.0)
    noise = torch.randn((n, channels, size, size), generator=g) * 0.05
    img = torch.where(shape.unsqueeze(1), fg, bg) + noise
    masks = shape.to(torch.uint8) * (labels.view(n, 1, 1) + 1).to(torch.uint8)
    return ImageSet(
        images=_to_uint8(img), labels=labels.to(torch.int64), classes=list(SHAPE_NAMES[:num_classes]), masks=masks
    )


def _smooth_noise(g: torch.Generator, n: int, channels: int, size: int, cells: int) -> torch.Tensor:
    """Low-frequency noise in [0, 1]: random values on a coarse grid, upsampled bicubically."""
    coarse = torch.rand((n, channels, cells, cells), generator=g)
    up = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return up.clamp(0, 1)


def _gratings(g: torch.Generator, n: int, channels: int, size: int, count: int) -> torch.Tensor:
    """Sum of ``count`` random sinusoidal gratings per image, in [0, 1]."""
    coords = torch.arange(size, dtype=torch.float32) / size
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    out = torch.zeros((n, channels, size, size))
    for _ in range(count):
        freq = _uniform(g, (n, channels, 1, 1), 1.0, 6.0) * 2 * math.pi
        ang = torch.rand((n, channels, 1, 1), generator=g) * math.pi
        phase = torch.rand((n, channels, 1, 1), generator=g) * 2 * math.pi
        out += torch.sin(freq * (torch.cos(ang) * xx + torch.sin(ang) * yy) + phase)
    return (out / (2 * count) + 0.5).clamp(0, 1)


def noise_patterns(n: int, size: int = 32, channels: int = 1, seed: int = 0) -> ImageSet:
    """Unlabelled random textures (gratings mixed with smooth noise), e.g. for autoencoder smoke tests.

    Args:
        n: Number of images.
        size: Height and width (>= 8).
        channels: 1 or 3.
        seed: Random seed; same arguments give identical output.

    Returns:
        ImageSet with uint8 images N×C×size×size and no labels.
    """
    _check(n, size, channels)
    g = torch.Generator().manual_seed(int(seed))
    mix = torch.rand((n, 1, 1, 1), generator=g)
    cells = max(2, size // 8)
    img = mix * _gratings(g, n, channels, size, 3) + (1 - mix) * _smooth_noise(g, n, channels, size, cells)
    img = img + torch.randn(img.shape, generator=g) * 0.03
    return ImageSet(images=_to_uint8(img))


def toy_identities(
    num_ids: int, per_id: int, size: int = 32, channels: int = 1, seed: int = 0, jitter: float = 1.0
) -> ImageSet:
    """Images of ``num_ids`` identities: a fixed random prototype per identity plus per-image jitter.

    Each identity's prototype is a random smooth pattern with gratings. Each image shifts it by a few pixels
    (±size/16 px) and changes brightness (±5%)/contrast (±10%) and adds noise, so identities stay recognizable but no two images are
    equal. Useful to test identification/verification end to end.

    Args:
        num_ids: Number of identities (labels 0..num_ids-1).
        per_id: Images per identity.
        size: Height and width (>= 8).
        channels: 1 or 3.
        seed: Random seed; same arguments give identical output.
        jitter: Scales all per-image variations (0 = every image equals its prototype).

    Returns:
        ImageSet with uint8 images (identity-major order), labels and ``classes = ["id000", ...]``.
    """
    _check(num_ids * per_id, size, channels)
    if num_ids < 1 or per_id < 1:
        raise DataError(f"num_ids and per_id must be >= 1, got {num_ids} and {per_id}")
    g = torch.Generator().manual_seed(int(seed))
    proto = 0.5 * _smooth_noise(g, num_ids, channels, size, max(3, size // 6)) + 0.5 * _gratings(
        g, num_ids, channels, size, 2
    )
    n = num_ids * per_id
    labels = torch.arange(num_ids).repeat_interleave(per_id)
    base = proto[labels]
    max_shift = 2.0 / size * max(1.0, size / 16) * jitter  # ±size/16 px (at least 1) in [-1, 1] coordinates
    shift = (torch.rand((n, 2), generator=g) * 2 - 1) * max_shift
    theta = torch.zeros((n, 2, 3))
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, [n, channels, size, size], align_corners=False)
    img = F.grid_sample(base, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = 1 + (torch.rand((n, 1, 1, 1), generator=g) * 2 - 1) * 0.1 * jitter
    brightness = (torch.rand((n, 1, 1, 1), generator=g) * 2 - 1) * 0.05 * jitter
    img = (img - 0.5) * contrast + 0.5 + brightness + torch.randn(img.shape, generator=g) * 0.04 * jitter
    return ImageSet(
        images=_to_uint8(img), labels=labels.to(torch.int64), classes=[f"id{i:03d}" for i in range(num_ids)]
    )
