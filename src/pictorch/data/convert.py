"""Images as Python callers hand them over -> the uint8 N×C×H×W batch every model's preparation starts from.

Accepted (``numpy`` arrays or ``torch`` tensors): N×C×H×W, N×H×W×C (PIL/numpy order), C×H×W, H×W×C, N×H×W (a
gray batch) and H×W (one gray image); uint8 in 0..255 or floating point in [0, 1]. A layout that could be read
two ways is resolved by a fixed rule and named in a warning, never guessed silently.
"""

from __future__ import annotations

import warnings
from typing import Any

from pictorch.errors import ConfigError

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
            return "CHW", f"a {'×'.join(map(str, shape))} array was read as C×H×W (channels first)"
        return "NHW", None
    if len(shape) == 4:
        chw, hwc = shape[1] in _CHANNELS, shape[-1] in _CHANNELS
        if hwc and not chw:
            return "NHWC", None
        if chw and hwc:
            return "NCHW", f"a {'×'.join(map(str, shape))} array was read as N×C×H×W (channels first)"
        if chw:
            return "NCHW", None
    raise ConfigError(f"images of shape {tuple(shape)}: expected N×C×H×W, N×H×W×C, C×H×W, H×W×C, N×H×W or H×W "
                      "with 1, 3 or 4 channels")


def as_uint8_batch(images: Any) -> Any:
    """A uint8 torch tensor N×C×H×W (C = 1 or 3; alpha dropped) from any accepted array (see the module doc).

    Raises:
        ConfigError: An unknown layout, a non-numeric dtype, or floats outside [0, 1] (or not finite).
    """
    import numpy as np
    import torch

    x = images
    if isinstance(x, np.ndarray):
        if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise ConfigError(f"images of dtype {x.dtype}: pass uint8 (0..255) or float in [0, 1]")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"images must be a numpy array or a torch tensor, got {type(images).__name__}")
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
