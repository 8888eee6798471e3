"""The image transformation network of fast style transfer (Johnson, Alahi & Fei-Fei 2016).

Layout of the reference implementation (pytorch/examples ``fast_neural_style``), 1,679,235 parameters:
a 9×9 conv (32), two stride-2 3×3 convs (64, 128), five residual blocks of two 3×3 convs (128), two
nearest-upsample ×2 + 3×3 convs (64, 32) — upsample+conv instead of transposed convs avoids checkerboard
artefacts (Odena et al. 2016) — and a 9×9 conv back to 3 channels. Every conv is reflection padded and
followed by instance normalisation with affine parameters (Ulyanov et al. 2016: per-image contrast
normalisation is what lets one net stylise any photo) and ReLU, except the last conv.

Input and output are ``[0, 1]`` RGB; the output is not squashed (clamped when saved), like the reference.
Any size works: inputs are reflection-padded to a multiple of 4 and the output cropped back.

``skip=True`` (pictorch's choice for short CPU runs, same parameters) adds the input to the output and starts
the last conv at zero, so the untrained net is the identity and training only adds the style: without it,
200 steps on one core left outlines at edge r 0.29 to the photo whatever the style weight (30, 3 or 0.3), as
the net had not yet learned to copy (``bench/stylize_fast_train.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import ConfigError
from pictorch.registry import MODELS


class ConvIN(nn.Module):
    """Reflection pad → conv → (instance norm → ReLU); ``upsample`` first enlarges the input (nearest)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, upsample: int = 1, norm: bool = True,
                 relu: bool = True):
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv = nn.Conv2d(c_in, c_out, k, stride)
        self.norm = nn.InstanceNorm2d(c_out, affine=True) if norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        return F.relu(x) if self.relu else x


class Residual(nn.Module):
    """Two 3×3 ConvIN (the second without ReLU) plus the identity."""

    def __init__(self, c: int):
        super().__init__()
        self.a = ConvIN(c, c, 3)
        self.b = ConvIN(c, c, 3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x))


class TransformerNet(nn.Module):
    """Photo → stylised photo, same size (see the module docstring).

    Args:
        width: Channels of the first layer (32 in the reference; 16 is ~4× cheaper).
        blocks: Residual blocks (5 in the reference).
        skip: Output = input + the net's output, the last conv zero at the start (the identity).
    """

    def __init__(self, width: int = 32, blocks: int = 5, skip: bool = False):
        super().__init__()
        self.skip = skip
        w = width
        self.down = nn.Sequential(ConvIN(3, w, 9), ConvIN(w, 2 * w, 3, stride=2), ConvIN(2 * w, 4 * w, 3, stride=2))
        self.res = nn.Sequential(*[Residual(4 * w) for _ in range(blocks)])
        self.up = nn.Sequential(ConvIN(4 * w, 2 * w, 3, upsample=2), ConvIN(2 * w, w, 3, upsample=2),
                                ConvIN(w, 3, 9, norm=False, relu=False))
        if skip:
            nn.init.zeros_(self.up[-1].conv.weight)
            nn.init.zeros_(self.up[-1].conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float N×3×H×W in [0, 1] → the same; also (as ``pictorch.load(ckpt)(x)``) a numpy array or uint8 tensor
        in any layout :func:`pictorch.data.convert.map_images` reads, or a PIL image, answered the same way."""
        if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
            return self._forward_any(x)
        h, w = x.shape[-2:]
        # two stride-2 convs: pad to a multiple of 4, and to at least 8 px so the 9×9 reflection pads fit
        ph, pw = max(8, h + (-h) % 4) - h, max(8, w + (-w) % 4) - w
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        y = self.up(self.res(self.down(x)))
        if self.skip:
            y = y + x
        return y[..., :h, :w]

    @torch.no_grad()
    def _forward_any(self, x):  # noqa: ANN001, ANN202 - array, uint8 tensor or PIL image in, the same kind out
        import numpy as np
        from PIL import Image

        from pictorch.data.convert import map_images, map_pil

        dev = next(self.parameters()).device

        def run(u8: torch.Tensor) -> torch.Tensor:
            y = self(u8.to(dev).float() / 255.0).clamp(0, 1)
            return (y * 255.0).round().to(torch.uint8)

        if isinstance(x, Image.Image):
            return map_pil(run, x, "RGB")
        if not isinstance(x, torch.Tensor | np.ndarray):
            raise ConfigError(f"a stylizer takes a float tensor in [0, 1], a numpy array, a uint8 tensor or a PIL "
                              f"image, got {type(x).__name__}")
        return map_images(run, x, "RGB", "a stylizer")


@MODELS.register("stylize.transformer_net")
def transformer_net(*, width: int = 32, blocks: int = 5, skip: bool = False) -> TransformerNet:
    """The fast-style-transfer network (1,679,235 parameters at the reference width 32 and 5 blocks, with or
    without the input skip)."""
    return TransformerNet(width=width, blocks=blocks, skip=skip)
