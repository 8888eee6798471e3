"""Image discriminators for adversarial training: PatchGAN (n-layer, 70×70 at 3 layers) and the 1×1 "pixel" one.

A PatchGAN (Isola et al. 2017, §3.2.2) classifies every overlapping patch of its input as real or fake and
outputs a map B×1×h×w; with ``n_layers=3`` each output sees a 70×70 receptive field. The layer plan matches
junyanz/pytorch-CycleGAN-and-pix2pix so parameter counts agree at the same settings (2.769 M on 6 channels
with batch norm, 2.765 M on 3 channels with instance norm): 4×4 convs, stride 2 for the first ``n_layers``,
widths ``ndf·min(2^i, 8)``, bias only where no affine norm follows, LeakyReLU 0.2.
"""

from __future__ import annotations

import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.registry import MODELS

__all__ = ["PatchDiscriminator", "PixelDiscriminator", "norm2d", "patch_receptive_field"]

NORMS = ("batch", "instance", "none")


def norm2d(kind: str, channels: int) -> nn.Module:
    """The image-to-image papers' norms: batch (affine, running stats), instance (no affine, no running stats,
    as pix2pix/CycleGAN's), or none.

    Raises:
        ConfigError: Unknown kind.
    """
    k = str(kind).lower()
    if k in ("batch", "bn"):
        return nn.BatchNorm2d(channels)
    if k in ("instance", "in"):
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if k in ("none", "identity"):
        return nn.Identity()
    raise ConfigError(f"unknown norm {kind!r}; use one of {', '.join(NORMS)}")


def uses_bias(kind: str) -> bool:
    """A conv followed by batch norm needs no bias (BN's shift replaces it); instance norm here has no affine."""
    return str(kind).lower() not in ("batch", "bn")


def patch_receptive_field(n_layers: int) -> int:
    """Receptive field (pixels) of one PatchGAN output: 70 for 3 layers, 34 for 2, 16 for 1, 142 for 4."""
    rf = 1
    for _ in range(2):  # the two final stride-1 4×4 convs
        rf += 3
    for _ in range(n_layers):  # each stride-2 4×4 conv
        rf = rf * 2 + 2
    return rf


class PatchDiscriminator(nn.Module):
    """The n-layer PatchGAN.

    Args:
        in_chans: Input channels (pix2pix: channels of A + channels of B, as D sees the pair).
        ndf: Width of the first layer.
        n_layers: Stride-2 layers (3 gives the 70×70 PatchGAN).
        norm: batch, instance or none.
    """

    def __init__(self, in_chans: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        if n_layers < 1:
            raise ConfigError(f"a PatchGAN needs n_layers >= 1, got {n_layers}")
        bias = uses_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_chans, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias), norm2d(norm, ndf * mult),
                       nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias), norm2d(norm, ndf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)
        self.in_chans = in_chans
        self.n_layers = n_layers
        self.receptive_field = patch_receptive_field(n_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits B×1×h×w, one per patch."""
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """The 1×1 PatchGAN ("pixelGAN"): judges each pixel's colour only, no spatial structure."""

    def __init__(self, in_chans: int = 3, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        bias = uses_bias(norm)
        self.model = nn.Sequential(
            nn.Conv2d(in_chans, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm2d(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias))
        self.in_chans = in_chans
        self.receptive_field = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits B×1×H×W, one per pixel."""
        return self.model(x)


@MODELS.register("patchgan", tags=("discriminator",))
def patchgan(*, in_chans: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> PatchDiscriminator:
    """The n-layer PatchGAN (70×70 at ``n_layers=3``)."""
    return PatchDiscriminator(in_chans, ndf, n_layers, norm)


@MODELS.register("pixelgan", tags=("discriminator",))
def pixelgan(*, in_chans: int = 3, ndf: int = 64, norm: str = "batch") -> PixelDiscriminator:
    """The 1×1 pixel discriminator."""
    return PixelDiscriminator(in_chans, ndf, norm)
