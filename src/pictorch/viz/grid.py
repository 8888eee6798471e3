"""Image grids, strips and GIFs: the pictures people look at instead of numbers."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


def to_uint8(images: torch.Tensor, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Float (any range; auto-detected [-1,1] or [0,1] unless given) or uint8 B×C×H×W -> uint8 B×C×H×W."""
    if images.dtype == torch.uint8:
        return images
    x = images.detach().float().cpu()
    if value_range is None:
        lo = float(x.min()) if x.numel() else 0.0
        value_range = (-1.0, 1.0) if lo < -0.01 else (0.0, 1.0)
    lo, hi = value_range
    x = (x - lo) / (hi - lo)
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def make_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2, pad_value: int = 255,
              value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Tile B×C×H×W images into one H'×W'×C uint8 array (C is 1 or 3)."""
    x = to_uint8(images, value_range)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    b, c, h, w = x.shape
    if c not in (1, 3):
        x = x[:, :3] if c > 3 else x[:, :1]
        c = x.shape[1]
    nrow = max(1, min(nrow, b))
    rows = (b + nrow - 1) // nrow
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    arr = x.permute(0, 2, 3, 1).numpy()
    for i in range(b):
        r, col = divmod(i, nrow)
        y0, x0 = pad + r * (h + pad), pad + col * (w + pad)
        grid[y0:y0 + h, x0:x0 + w] = arr[i]
    return grid


def _save_array(arr: np.ndarray, path: str | os.PathLike, scale: int = 1) -> Path:
    from PIL import Image

    from pictorch.utils import atomic_save

    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    atomic_save(path, lambda tmp: img.save(tmp, format=path.suffix.lstrip(".").upper().replace("JPG", "JPEG")
                                            or "PNG"))
    return path


def save_image_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8,
                    labels: Sequence[str] | None = None, value_range: tuple[float, float] | None = None,
                    scale: int | None = None, title: str | None = None) -> Path:
    """Save a grid of images as PNG; with ``labels`` (one per image) or ``title``, draws them via matplotlib.

    Small images (≤ 64 px) are upscaled with nearest-neighbour so they are readable.
    """
    arr = make_grid(images, nrow=nrow, value_range=value_range)
    h = images.shape[-2]
    scale = scale or (4 if h <= 32 else 2 if h <= 64 else 1)
    if labels is None and title is None:
        return _save_array(arr, path, scale)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = images.shape[0]
    nrow = max(1, min(nrow, b))
    rows = (b + nrow - 1) // nrow
    x = to_uint8(images, value_range).permute(0, 2, 3, 1).numpy()
    fig, axes = plt.subplots(rows, nrow, figsize=(1.6 * nrow, 1.8 * rows + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < b:
            img = x[i, ..., 0] if x.shape[-1] == 1 else x[i]
            ax.imshow(img, cmap="gray" if x.shape[-1] == 1 else None, vmin=0, vmax=255)
            if labels is not None:
                # wrapped, never cut: a label sliced to fit read "T-shirt/to"
                ax.set_title("\n".join(textwrap.wrap(str(labels[i]), 22)) or "", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from pictorch.utils import atomic_save

    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path


def save_strip(images: torch.Tensor, path: str | os.PathLike, **kw) -> Path:
    """One row of images (e.g. an interpolation)."""
    return save_image_grid(images, path, nrow=images.shape[0], **kw)


def save_gif(frames: torch.Tensor, path: str | os.PathLike, duration_ms: int = 80, loop: int = 0,
             scale: int | None = None, boomerang: bool = True, value_range: tuple[float, float] | None = None) -> Path:
    """Animated GIF from B×C×H×W frames (played forward then back when ``boomerang``)."""
    from PIL import Image

    from pictorch.utils import atomic_save

    x = to_uint8(frames, value_range).permute(0, 2, 3, 1).numpy()
    h = x.shape[1]
    scale = scale or (4 if h <= 32 else 2 if h <= 64 else 1)
    imgs = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in x]
    if scale > 1:
        imgs = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in imgs]
    if boomerang and len(imgs) > 2:
        imgs = imgs + imgs[-2:0:-1]
    atomic_save(path, lambda tmp: imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:],
                                               duration=duration_ms, loop=loop))
    return Path(path)
