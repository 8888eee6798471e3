"""Translation generators: the pix2pix U-Net and the CycleGAN ResNet, plus padding to the network's multiple.

Layer plans follow junyanz/pytorch-CycleGAN-and-pix2pix, so parameter counts agree at the same settings
(U-Net-256: 54.414 M with batch norm; ResNet-9: 11.378 M with instance norm), but the U-Net is written as two
flat lists (encoder, decoder) instead of nested blocks, so any depth is one argument and the skip tensors are
visible in ``forward``.

A U-Net of depth d halves the image d times, so it takes sides that are multiples of 2^d; the ResNet generator
needs multiples of 4. :func:`pad_to_multiple` pads any image up (reflection where it fits, else edge
replication) and :func:`crop_to` cuts the output back, so translated images keep the input's size and aspect.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.discriminators import norm2d, uses_bias
from pictorch.registry import MODELS

__all__ = ["ResnetGenerator", "UnetGenerator", "crop_to", "pad_to_multiple", "translate_any_size"]


class AnySizeTranslator(nn.Module):
    """Generators take images of any size and kind: ``g(x)`` pads to the network's multiple and crops back.

    - a float tensor (C×H×W or B×C×H×W, in [-1, 1]) gives a float tensor of the same size in [-1, 1];
    - a uint8 tensor (0-255) gives uint8, in any layout :mod:`pictorch.data.convert` reads (N×C×H×W, N×H×W×C,
      C×H×W, H×W×C, N×H×W, H×W), returned in the same layout;
    - a numpy array in those layouts, uint8 or float in [0, 1] (what every Predictor takes), gives a numpy
      array of the same layout and kind (a gray N×H×W input of a colour translator gives N×H×W×3);
    - a PIL image gives a PIL image (so ``pictorch.load(ckpt)(Image.open(p))`` is the translated picture).

    Subclasses implement ``_translate`` for sides that are multiples of ``self.multiple``. Whether dropout and
    batch statistics are on follows the module's mode: ``eval()`` (the default after loading) is deterministic;
    ``train()`` under ``torch.no_grad()`` is the pix2pix paper's test-time behaviour.
    """

    multiple: int = 1
    min_size: int = 0

    def _translate(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x):  # noqa: ANN001, ANN201 - tensor, array or PIL image in, the same kind out
        import numpy as np

        if isinstance(x, np.ndarray) or (isinstance(x, torch.Tensor) and x.dtype == torch.uint8
                                         and not (x.ndim in (3, 4) and x.shape[-3] == self.in_chans)):
            return self._forward_array(x)
        if not isinstance(x, torch.Tensor):
            return self._forward_pil(x)
        single = x.ndim == 3
        xb = x.unsqueeze(0) if single else x
        if xb.ndim != 4:
            raise ConfigError(f"a translator takes C×H×W or B×C×H×W images, got shape {tuple(x.shape)}")
        if xb.shape[1] != self.in_chans:
            raise ConfigError(f"this translator takes {self.in_chans}-channel images, got {xb.shape[1]} channels")
        is_u8 = xb.dtype == torch.uint8
        p = next(self.parameters())
        xf = xb.to(p.device, p.dtype) / 127.5 - 1.0 if is_u8 else xb
        h, w = xf.shape[-2:]
        if h % self.multiple or w % self.multiple or h < self.min_size or w < self.min_size:
            xp, hw = pad_to_multiple(xf, self.multiple, self.min_size)
            y = crop_to(self._translate(xp), hw)
        else:
            y = self._translate(xf)
        if is_u8:
            y = ((y.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return y[0] if single else y

    @torch.no_grad()
    def _forward_array(self, x):  # noqa: ANN001, ANN202 - numpy array or uint8 tensor, any convert layout
        from pictorch.data.convert import map_images

        return map_images(self, x, "L" if self.in_chans == 1 else "RGB", "a translator")

    @torch.no_grad()
    def _forward_pil(self, im):  # noqa: ANN001, ANN202
        from PIL import Image

        from pictorch.data.convert import map_pil

        if not isinstance(im, Image.Image):
            raise ConfigError(f"a translator takes a tensor, a numpy array or a PIL image, got {type(im).__name__}")
        return map_pil(self, im, "L" if self.in_chans == 1 else "RGB")

class UnetGenerator(AnySizeTranslator):
    """The pix2pix U-Net: ``num_downs`` stride-2 4×4 convs down, transposed convs up, skips concatenated.

    Widths are ``ngf·min(2^i, 8)``; the innermost layer has no norm on its way down; dropout 0.5 (pix2pix's
    only noise source, also at test time in the paper) sits in the decoder blocks of the repeated
    ``8·ngf`` layers (3 of them at depth 8). Depths under 6 have none of those; there it goes in the block
    just above the innermost so small nets keep some noise.

    Args:
        in_chans: Input channels.
        out_chans: Output channels.
        num_downs: Downsamplings (8 for 256×256 "unet_256", 7 for "unet_128"; 3-5 for 16-64 px images).
        ngf: Width of the first layer.
        norm: batch, instance or none.
        dropout: Dropout in the decoder (pix2pix: on).
    """

    def __init__(self, in_chans: int = 3, out_chans: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: bool = True):
        super().__init__()
        if num_downs < 1:
            raise ConfigError(f"a U-Net needs num_downs >= 1, got {num_downs}")
        bias = uses_bias(norm)
        widths = [ngf * min(2 ** i, 8) for i in range(num_downs)]
        n = num_downs
        drop_at = {i for i in range(4, n - 1)} or ({n - 2} if n >= 3 else set())
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for i, c in enumerate(widths):
            if i == 0:
                self.down.append(nn.Conv2d(in_chans, c, 4, 2, 1, bias=bias))
            elif i == n - 1:
                self.down.append(nn.Sequential(nn.LeakyReLU(0.2, True), nn.Conv2d(widths[i - 1], c, 4, 2, 1,
                                                                                   bias=bias)))
            else:
                self.down.append(nn.Sequential(nn.LeakyReLU(0.2, True),
                                               nn.Conv2d(widths[i - 1], c, 4, 2, 1, bias=bias), norm2d(norm, c)))
        for i, c in enumerate(widths):
            c_in = c if i == n - 1 else 2 * c
            if i == 0:
                block: list[nn.Module] = [nn.ReLU(True), nn.ConvTranspose2d(c_in, out_chans, 4, 2, 1), nn.Tanh()]
            else:
                block = [nn.ReLU(True), nn.ConvTranspose2d(c_in, widths[i - 1], 4, 2, 1, bias=bias),
                         norm2d(norm, widths[i - 1])]
                if dropout and i in drop_at:
                    block.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*block))
        self.multiple = 2 ** num_downs
        self.in_chans, self.out_chans = in_chans, out_chans

    def _translate(self, x: torch.Tensor) -> torch.Tensor:
        """Translate B×in×H×W (H, W multiples of ``self.multiple``) to B×out×H×W in [-1, 1]."""
        skips = []
        h = x
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        u = self.up[-1](skips[-1])
        for i in range(len(self.up) - 2, -1, -1):
            u = self.up[i](torch.cat([skips[i], u], 1))
        return u


class ResnetBlock(nn.Module):
    """Two reflection-padded 3×3 convs with norm, added to the input."""

    def __init__(self, dim: int, norm: str, dropout: bool):
        super().__init__()
        bias = uses_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm2d(norm, dim),
                                   nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm2d(norm, dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(AnySizeTranslator):
    """CycleGAN's generator (Johnson et al. 2016): 7×7 stem, two stride-2 downsamplings, ``n_blocks`` residual
    blocks at 4·ngf, two transposed-conv upsamplings, 7×7 to ``out_chans`` and tanh.

    Args:
        in_chans: Input channels.
        out_chans: Output channels.
        n_blocks: Residual blocks (9 for 256 px, 6 for 128 px and smaller).
        ngf: Width of the stem.
        norm: instance (CycleGAN's), batch or none.
        dropout: Dropout in the residual blocks (CycleGAN: off).
    """

    def __init__(self, in_chans: int = 3, out_chans: int = 3, n_blocks: int = 9, ngf: int = 64,
                 norm: str = "instance", dropout: bool = False):
        super().__init__()
        if n_blocks < 0:
            raise ConfigError(f"n_blocks must be >= 0, got {n_blocks}")
        bias = uses_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_chans, ngf, 7, bias=bias), norm2d(norm, ngf),
                                   nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1, bias=bias), norm2d(norm, 2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 4 // 2 ** i
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias), norm2d(norm, c // 2),
                       nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_chans, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.multiple = 4
        # the 3×3 reflection pads after two halvings need a side of at least 2 there, so 8 px in
        self.min_size = 8
        self.in_chans, self.out_chans = in_chans, out_chans

    def _translate(self, x: torch.Tensor) -> torch.Tensor:
        """Translate B×in×H×W (H, W multiples of 4) to B×out×H×W in [-1, 1]."""
        return self.model(x)


@MODELS.register("translate.unet", tags=("generator",))
def unet(*, in_chans: int = 3, out_chans: int = 3, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
         dropout: bool = True) -> UnetGenerator:
    """The pix2pix U-Net (``num_downs=8``: unet_256, 7: unet_128)."""
    return UnetGenerator(in_chans, out_chans, num_downs, ngf, norm, dropout)


@MODELS.register("translate.resnet", tags=("generator",))
def resnet(*, in_chans: int = 3, out_chans: int = 3, n_blocks: int = 9, ngf: int = 64, norm: str = "instance",
           dropout: bool = False) -> ResnetGenerator:
    """The CycleGAN ResNet generator (``n_blocks=9``: resnet_9blocks, 6: resnet_6blocks)."""
    return ResnetGenerator(in_chans, out_chans, n_blocks, ngf, norm, dropout)


# the anchor's generator names → (registry name, kwargs)
GENERATOR_PRESETS: dict[str, tuple[str, dict]] = {
    "unet_256": ("translate.unet", {"num_downs": 8}),
    "unet_128": ("translate.unet", {"num_downs": 7}),
    "resnet_9blocks": ("translate.resnet", {"n_blocks": 9}),
    "resnet_6blocks": ("translate.resnet", {"n_blocks": 6}),
}


def pad_to_multiple(x: torch.Tensor, multiple: int, min_size: int = 0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad B×C×H×W on the bottom/right up to multiples of ``multiple`` (and at least ``min_size``); returns the
    padded batch and the original (H, W).

    Reflection keeps edge statistics natural; it needs the pad to be smaller than the side, so small images
    (e.g. 20 px into a 256-multiple U-Net) fall back to edge replication.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    th, tw = max(h, min_size), max(w, min_size)
    ph, pw = th - h + (-th) % multiple, tw - w + (-tw) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The top-left ``size`` of a B×C×H×W batch (undoes :func:`pad_to_multiple`)."""
    return x[..., : size[0], : size[1]]


def translate_any_size(g: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run generator ``g`` on images of any size: pad to its multiple, translate, crop back to the input size."""
    multiple = int(getattr(g, "multiple", 1))
    xp, hw = pad_to_multiple(x, multiple, int(getattr(g, "min_size", 0)))
    return crop_to(g(xp), hw)
