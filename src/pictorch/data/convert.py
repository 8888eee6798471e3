"""Images as Python callers hand them over -> the uint8 N×C×H×W batch every model's preparation starts from.

Accepted (``numpy`` arrays or ``torch`` tensors): N×C×H×W, N×H×W×C (PIL/numpy order), C×H×W, H×W×C, N×H×W (a
gray batch) and H×W (one gray image); uint8 in 0..255 or floating point in [0, 1]. A layout that could be read
two ways is resolved by a fixed rule and named in a warning, never guessed silently.
"""

from __future__ import annotations

import warnings
from typing import Any

from pictorch.errors import ConfigError
from pictorch.utils import article

_CHANNELS = (1, 3, 4)


def _layout(shape: tuple[int, ...]) -> tuple[str, str | None]:
    """The layout of an array of this shape, and a note when the shape could be read another way."""
    if len(shape) == 2:
        return "HW", None
    if len(shape) == 3:
        first, last = shape[0] in (1, 3), shape[-1] in _CHANNELS
        if last and not first:
            return "HWC", None
        if first and not last:
            return ("CHW", f"a 3×{shape[1]}×{shape[2]} array was read as one 3-channel image (C×H×W); pass "
                    f"N×1×H×W for {shape[0]} gray images") if shape[0] == 3 else ("CHW", None)
        if first and last:
            return "CHW", f"{article('×'.join(map(str, shape)))} array was read as C×H×W (channels first)"
        return "NHW", None
    if len(shape) == 4:
        chw, hwc = shape[1] in _CHANNELS, shape[-1] in _CHANNELS
        if hwc and not chw:
            return "NHWC", None
        if chw and hwc:
            return "NCHW", f"{article('×'.join(map(str, shape)))} array was read as N×C×H×W (channels first)"
        if chw:
            return "NCHW", None
    raise ConfigError(f"images of shape {tuple(shape)}: expected N×C×H×W, N×H×W×C, C×H×W, H×W×C, N×H×W or H×W "
                      "with 1, 3 or 4 channels")


def as_uint8_batch(images: Any, layout: str | None = None) -> Any:
    """A uint8 torch tensor N×C×H×W (C = 1 or 3; alpha dropped) from any accepted array (see the module doc).

    ``layout`` (e.g. ``"NCHW"`` for decoded files) says how the array is laid out; None reads it from the shape,
    with a warning where the shape allows two readings (a 1×1 photo, say).

    Raises:
        ConfigError: An unknown layout, a non-numeric dtype, or floats outside [0, 1] (or not finite).
    """
    import numpy as np
    import torch

    x = images
    if isinstance(x, np.ndarray):
        if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise ConfigError(f"images of dtype {x.dtype}: pass uint8 (0..255) or float in [0, 1]")
        x = np.ascontiguousarray(x)
        if not x.flags.writeable:  # np.asarray(PIL image) is read-only: torch would warn and share it anyway
            x = x.copy()
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"images must be a numpy array or a torch tensor, got {type(images).__name__}")
    note = None
    if layout is None:
        layout, note = _layout(tuple(x.shape))
    if note:
        warnings.warn(note, stacklevel=3)
    x = {"HW": lambda t: t[None, None], "HWC": lambda t: t.permute(2, 0, 1)[None], "CHW": lambda t: t[None],
         "NHW": lambda t: t[:, None], "NHWC": lambda t: t.permute(0, 3, 1, 2), "NCHW": lambda t: t}[layout](x)
    if x.is_floating_point():
        if x.numel() and not bool(torch.isfinite(x).all()):
            raise ConfigError("float images contain NaN/Inf")
        if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
            raise ConfigError(f"float images must be in [0, 1] (got {float(x.min()):g}..{float(x.max()):g}); "
                              "pass uint8 for 0..255")
        x = (x * 255).round().to(torch.uint8)
    elif x.dtype != torch.uint8:
        if x.numel() and (int(x.min()) < 0 or int(x.max()) > 255):
            raise ConfigError(f"integer images must be in 0..255 (got {int(x.min())}..{int(x.max())})")
        x = x.to(torch.uint8)
    if x.shape[1] == 4:
        x = x[:, :3]
    return x.contiguous()


RESIZE_POLICIES = ("fit", "stretch", "center_crop", "none")
"""How an image reaches a model's input size: letterbox (keep the aspect, pad black, centred), stretch each axis,
scale to cover and crop the centre, or not at all (fully convolutional models take any size)."""

# ITU-R 601 luma, as PIL's convert("L")
_LUMA = (0.299, 0.587, 0.114)


def to_mode(images: Any, mode: str | None) -> Any:
    """uint8 N×C×H×W (C = 1, 3 or 4) -> ``mode`` channels: "L" (luma), "RGB" (gray repeated), None (as is)."""
    import torch

    if images.shape[1] == 4:
        images = images[:, :3]
    c = images.shape[1]
    if mode is None or (mode == "L" and c == 1) or (mode == "RGB" and c == 3):
        return images
    if mode == "RGB" and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    if mode == "L" and c == 3:
        w = torch.tensor(_LUMA, device=images.device).view(1, 3, 1, 1)
        return (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise ConfigError(f"cannot convert {c}-channel images to {mode}")


def _interpolate(images: Any, hw: tuple[int, int]) -> Any:
    import torch
    import torch.nn.functional as F

    out = []
    for i in range(0, len(images), 1024):  # bounded float memory for large in-memory sets
        x = F.interpolate(images[i:i + 1024].float(), size=hw, mode="bilinear", antialias=True, align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out) if out else images


def resize(images: Any, size: int | tuple[int, int] | list[int] | None, policy: str = "fit") -> Any:
    """uint8 N×C×H×W -> uint8 N×C×H'×W' at ``size`` by ``policy`` (:data:`RESIZE_POLICIES`).

    Bilinear with antialiasing (torch's PIL-like filter) on the tensor side, so an array handed to a model and
    the same picture read from its file reach the model as the same pixels.
    """
    import torch

    if policy not in RESIZE_POLICIES:
        raise ConfigError(f"resize policy must be one of {', '.join(RESIZE_POLICIES)}, got {policy!r}")
    if not size or policy == "none":
        return images
    hw = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    h, w = int(images.shape[-2]), int(images.shape[-1])
    if (h, w) == hw:
        return images
    if policy == "stretch":
        return _interpolate(images, hw)
    if policy == "fit":
        s = min(hw[0] / h, hw[1] / w)
        inner = (max(1, min(hw[0], round(h * s))), max(1, min(hw[1], round(w * s))))
        x = _interpolate(images, inner)
        canvas = torch.zeros(*images.shape[:2], *hw, dtype=torch.uint8, device=images.device)
        top, left = (hw[0] - inner[0]) // 2, (hw[1] - inner[1]) // 2
        canvas[..., top:top + inner[0], left:left + inner[1]] = x
        return canvas
    s = max(hw[0] / h, hw[1] / w)  # center_crop: cover, then cut the middle
    outer = (max(hw[0], round(h * s)), max(hw[1], round(w * s)))
    x = _interpolate(images, outer)
    top, left = (outer[0] - hw[0]) // 2, (outer[1] - hw[1]) // 2
    return x[..., top:top + hw[0], left:left + hw[1]].contiguous()


def to_input(images: Any, size: int | tuple[int, int] | list[int] | None = None, mode: str | None = None,
             policy: str = "fit", layout: str | None = None) -> Any:
    """The one converter: any accepted array (see the module doc) -> uint8 N×C×H×W in ``mode`` at ``size``
    (``layout``: as :func:`as_uint8_batch`)."""
    return resize(to_mode(as_uint8_batch(images, layout), mode), size, policy).contiguous()


def normalize(images: Any, mean: Any, std: Any) -> Any:
    """uint8 -> float model input ``(x / 255 - mean) / std``: :func:`pictorch.data.loader.to_float`'s arithmetic,
    so what training fed the model and what a loaded model is fed agree to the bit."""
    from pictorch.data.loader import to_float

    return to_float(images, list(mean), list(std))


def map_images(fn: Any, images: Any, mode: str, what: str) -> Any:
    """Apply an image→image network to arrays as a user holds them, and give the answer back the same way.

    ``images``: a numpy array (uint8, or float in [0, 1]) or a uint8 tensor in any layout :func:`to_input` reads
    (N×C×H×W, N×H×W×C, C×H×W, H×W×C, N×H×W, H×W); ``fn`` maps uint8 N×C×H×W in ``mode`` to uint8 N×C'×H'×W'.
    The result has the input's layout (channels where the input had them; a gray N×H×W input of a colour network
    gives N×H×W×3) and kind (numpy or tensor; float in [0, 1] for float input). Used by the translators and the
    stylizer, so ``pictorch.load(ckpt)(array)`` behaves the same for both (:func:`map_pil` for PIL images).
    """
    import numpy as np

    is_np = isinstance(images, np.ndarray)
    if is_np and images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise ConfigError(f"{what} takes uint8 or float [0, 1] arrays, got dtype {images.dtype}")
    layout, _ = _layout(tuple(images.shape))
    y = fn(to_input(images, None, mode, "none")).cpu()  # warns when the layout is ambiguous
    if layout in ("NHWC", "HWC") or (layout in ("NHW", "HW") and y.shape[1] != 1):
        y = y.permute(0, 2, 3, 1)
    elif layout in ("NHW", "HW"):
        y = y[:, 0]
    if layout in ("CHW", "HWC", "HW"):
        y = y[0]
    if not is_np:
        return y.contiguous()
    out = y.numpy()
    return out if images.dtype == np.uint8 else (out.astype(np.float32) / 255.0).astype(images.dtype)


def map_pil(fn: Any, image: Any, mode: str) -> Any:
    """:func:`map_images` for one PIL image: converted to ``mode``, handed to ``fn`` as uint8 1×C×H×W (no layout
    guessing, so a 3-px-tall photo is not read as channels), answered as a PIL image (gray for one channel)."""
    import numpy as np
    import torch
    from PIL import Image

    arr = np.asarray(image.convert(mode))
    t = torch.from_numpy(arr.copy())
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    out = fn(t[None]).cpu()[0]
    return Image.fromarray(out[0].numpy() if out.shape[0] == 1 else out.permute(1, 2, 0).numpy())
