"""Pictures in and out for pixel-optimisation work (see and stylize): decode with a pixel budget, resize,
save without overwriting, and a progress bar for loops that are not Trainer runs."""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pictorch.errors import ConfigError
from pictorch.utils import article

#: Work budget: VGG-19 activations for one 1024×1024 image are ~2.5 GB in float32 with gradients; bigger
#: images are refused unless the caller raises the budget (``--max-pixels``).
DEFAULT_WORK_PIXELS = 1024 * 1024


def fit_size(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    """(H, W) scaled so the longer side is ``max_side`` (unchanged when ``None`` or 0)."""
    if not max_side:
        return h, w
    s = max_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def load_photo(path: str | os.PathLike, *, channels: int = 3, max_side: int | None = None,
               size: tuple[int, int] | None = None, max_pixels: int = DEFAULT_WORK_PIXELS,
               allow_gray: bool = True, what: str = "image", shrink_to: int | None = None) -> torch.Tensor:
    """Decode a photo to a float 1×C×H×W batch in ``[0, 1]``.

    Args:
        path: Image file.
        channels: 3 (colour) or 1 (gray): what the network wants.
        max_side: Resize so the longer side is this (keeps the aspect ratio).
        size: Resize to exactly (H, W) (overrides ``max_side``).
        max_pixels: Refuse work sizes above this many pixels (after resizing).
        allow_gray: Accept a grayscale file when ``channels == 3`` (replicated); else a ConfigError.
        shrink_to: Only make it smaller: the longer side at most this (for inputs resized again later).
        what: Name of the role for messages ("style image", ...).

    Raises:
        BadImageError: Unreadable file. ConfigError: gray image for a colour net, or over the budget.
    """
    from pictorch.data.decode import load_image

    img = load_image(path, mode=None)
    if img.shape[0] == 1 and channels == 3:
        if not allow_gray:
            raise ConfigError(f"{path}: the {what} is grayscale but the network wants colour; use a colour "
                              "image, or pass --allow-gray to use it as gray")
        img = img.expand(3, -1, -1)
    elif img.shape[0] == 3 and channels == 1:
        img = (img.float() @ torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1)).squeeze(-3)[None]
    x = img.float()[None] / 255.0
    h, w = x.shape[-2:]
    if size is None and max_side is None and shrink_to and max(h, w) > shrink_to:
        max_side = shrink_to
    th, tw = size if size is not None else fit_size(h, w, max_side)
    if th * tw > max_pixels:
        raise ConfigError(f"{path}: {article(f'{th}×{tw}')} {what} is {th * tw:,} pixels, over the budget of {max_pixels:,}; "
                          "pass a smaller --size or raise --max-pixels")
    if (th, tw) != (h, w):
        x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False, antialias=th < h)
    return x.clamp(0, 1)


def fresh_path(path: str | os.PathLike) -> Path:
    """``path``, or ``stem-1.ext``, ``stem-2.ext``, ... when it exists (earlier pictures are never replaced), as
    every verb numbers its results (:func:`pictorch.utils.free_path`)."""
    from pictorch.utils import free_path

    return free_path(path)


def save_picture(image: torch.Tensor, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Save a ``[0, 1]`` (1×)C×H×W image as PNG/JPEG at its own size; returns the path written."""
    from PIL import Image

    from pictorch.utils import atomic_save
    from pictorch.viz.grid import to_uint8

    x = image.detach().float().cpu()
    if x.ndim == 3:
        x = x[None]
    arr = to_uint8(x[:1].clamp(0, 1), (0.0, 1.0))[0].permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    p = Path(path) if overwrite else fresh_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if p.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    atomic_save(p, lambda tmp: img.save(tmp, format=fmt))
    return p


class StepBar:
    """The engine's progress bar (rich on a terminal, log lines otherwise) for a plain optimisation loop.

    Usage: ``with StepBar(n, "gatys") as bar: ... bar.update(step, {"loss": v})``.
    """

    def __init__(self, total: int, description: str, enabled: bool = True, log_every: int = 10):
        from pictorch.engine.hooks import ProgressHook

        self._hook = ProgressHook(total, description, enabled=enabled)
        self._ctx: Any = types.SimpleNamespace(fabric=types.SimpleNamespace(is_global_zero=True), step=0,
                                               start_step=0)
        self.log_every = max(1, log_every)

    def __enter__(self) -> StepBar:
        self._hook.on_fit_start(self._ctx)
        return self

    def update(self, step: int, metrics: dict[str, float] | None = None) -> None:
        self._ctx.step = step
        self._hook.on_step(self._ctx, 1)
        if metrics and (step % self.log_every == 0 or step == self._hook.total):
            self._hook.on_log(self._ctx, metrics)

    def __exit__(self, *exc: object) -> None:
        self._hook.on_fit_end(self._ctx, {})
