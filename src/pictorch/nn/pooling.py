"""Max pooling that keeps its indices, and the unpooling layers decoders build on (SegNet, autoencoders).

Split out of ``nn/blocks.py`` (which re-exports these names): they are the decoder side's pieces, the blocks
are the encoder's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaxPoolWithIndices", "MaxUnpool", "Unpool", "pool_stages"]


def pool_stages(features: nn.Sequential) -> list[nn.Module]:
    """A VGG-style layer list split into stages, each ending with its max-pool (slices sharing the modules);
    layers after the last pool form one more stage. VGG's feature stages and SegNet's encoder stages."""
    out, start = [], 0
    for i, m in enumerate(features):
        if isinstance(m, nn.MaxPool2d):
            out.append(features[start : i + 1])
            start = i + 1
    if start < len(features):
        out.append(features[start:])
    return out


class MaxPoolWithIndices(nn.Module):
    """Max pooling that also returns where each maximum came from (for :class:`MaxUnpool` in a decoder).

    Args:
        kernel_size: Pooling window.
        stride: Stride (default: ``kernel_size``).
        padding: Padding.
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None, padding: int = 0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size
        self.padding = padding

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(pooled, indices)``; ``indices`` are flat positions within each H×W input plane."""
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, return_indices=True)


class MaxUnpool(nn.Module):
    """Max unpooling: put each value back at the position its encoder max-pool took it from; zeros elsewhere.

    Args:
        kernel_size: Window of the matching pooling.
        stride: Stride of the matching pooling (default: ``kernel_size``).
        padding: Padding of the matching pooling.
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None, padding: int = 0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size
        self.padding = padding

    def forward(
        self, x: torch.Tensor, indices: torch.Tensor, output_size: tuple[int, ...] | torch.Size | None = None
    ) -> torch.Tensor:
        """Args: x: pooled values; indices: from :class:`MaxPoolWithIndices`; output_size: the encoder's
        pre-pooling size (needed when it was odd)."""
        if output_size is not None:
            output_size = tuple(output_size)[-2:]
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)


class Unpool(nn.Module):
    """Upsampling by a factor in one of the three classic ways.

    * ``"nearest"``: copy each value into an s×s block (parameter-free).
    * ``"max"``: with ``indices`` from :class:`MaxPoolWithIndices`, max unpooling (values return to the
      argmax positions); without them, "bed of nails" (each value in the top-left corner of its block).
    * ``"transposed"``: a learned transposed convolution with kernel = stride = ``scale_factor``.

    Args:
        mode: ``"nearest"``, ``"max"`` or ``"transposed"``.
        in_channels: Input channels (``"transposed"`` only).
        out_channels: Output channels (``"transposed"``; default ``in_channels``).
        scale_factor: Integer upsampling factor.

    Raises:
        ConfigError: Unknown mode, or ``"transposed"`` without ``in_channels``.
    """

    def __init__(
        self,
        mode: str = "nearest",
        in_channels: int | None = None,
        out_channels: int | None = None,
        scale_factor: int = 2,
    ):
        super().__init__()
        from pictorch.errors import ConfigError

        if mode not in ("nearest", "max", "transposed"):
            raise ConfigError(f"unknown unpooling mode {mode!r}. Known: nearest, max, transposed")
        self.mode = mode
        self.scale_factor = int(scale_factor)
        if mode == "transposed":
            if in_channels is None:
                raise ConfigError("Unpool(mode='transposed') needs in_channels")
            self.up = nn.ConvTranspose2d(
                in_channels, out_channels or in_channels, self.scale_factor, stride=self.scale_factor
            )

    def forward(
        self,
        x: torch.Tensor,
        indices: torch.Tensor | None = None,
        output_size: tuple[int, ...] | torch.Size | None = None,
    ) -> torch.Tensor:
        s = self.scale_factor
        if self.mode == "nearest":
            size = tuple(output_size)[-2:] if output_size is not None else None
            return F.interpolate(x, size=size, scale_factor=None if size else s, mode="nearest")
        if self.mode == "transposed":
            return self.up(x)
        if indices is not None:
            size = tuple(output_size)[-2:] if output_size is not None else None
            return F.max_unpool2d(x, indices, s, s, 0, size)
        b, c, h, w = x.shape
        out = x.new_zeros(b, c, h, s, w, s)
        out[:, :, :, 0, :, 0] = x
        out = out.reshape(b, c, h * s, w * s)
        if output_size is not None:
            out = out[..., : tuple(output_size)[-2], : tuple(output_size)[-1]]
        return out

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, scale_factor={self.scale_factor}"
