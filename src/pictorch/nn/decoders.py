"""Dense-prediction decoders shared by segmentation and image-to-image tasks.

* :class:`UNetDecoder`: U-Net's expanding path over any encoder described by its stages' channels and
  strides (a backbone's ``feature_info``): upsample, concatenate the skip of the same stride, two 3×3 convs.
* :class:`SegNetDecoder`: SegNet's decoder, which upsamples only by max-unpooling with the indices the
  encoder's max-pools saved (no learned upsampling), each unpooling followed by 3×3 convs.
* :class:`FCNDecoder` / :class:`FCNHead`: the fully convolutional baseline: per-stage 1×1 class scores,
  upsampled bilinearly and summed (FCN-32s with ``skips=0``, FCN-16s/8s with 1/2).
* :func:`pad_to_multiple` / :func:`crop_to`: let any input size through a network whose strides need
  sides divisible by ``m`` (pad, run, crop back) instead of refusing it as smp's ``check_input_shape`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.nn.blocks import ConvBnAct


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect",
                    min_size: int = 0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two dimensions on the bottom/right up to multiples of ``multiple`` (and at least
    ``min_size``).

    Args:
        x: ``...×H×W`` tensor.
        multiple: The network's total stride (e.g. 32 for a ResNet encoder, ``2**depth`` for U-Net).
        mode: ``"reflect"`` (mirror the image: no artificial edge for the convolutions to learn), falling back
            to ``"replicate"`` when a side is too small to mirror, or ``"constant"`` (zeros).
        min_size: Smallest padded side (a backbone's ``min_input_size``).

    Returns:
        The padded tensor and the original ``(H, W)`` for :func:`crop_to`.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    m = max(1, int(multiple))
    th, tw = max(h, int(min_size)), max(w, int(min_size))
    ph, pw = th + (-th) % m - h, tw + (-tw) % m - w
    if ph == 0 and pw == 0:
        return x, (h, w)
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"
    if mode != "constant" and x.dtype in (torch.uint8, torch.int64, torch.long, torch.bool):
        x_pad = F.pad(x.float(), (0, pw, 0, ph), mode=mode).to(x.dtype)
    else:
        x_pad = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x_pad, (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`: keep the top-left ``size`` of the last two dimensions."""
    return x[..., : size[0], : size[1]]


class UpBlock(nn.Module):
    """One U-Net decoder step: upsample ×2 (to the skip's exact size), concatenate the skip, two 3×3 convs.

    Args:
        in_channels: Channels coming from the deeper level.
        skip_channels: Channels of the skip connection (0: none, for steps below the shallowest skip).
        out_channels: Output channels.
        upsample: ``"transposed"`` (the paper's learned 2×2 up-convolution, which also halves the channels)
            or ``"bilinear"`` (parameter-free; smp's choice, nearest there).
        norm: Normalization after each conv (``"bn"``, ``"gn"``, ``None``).
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, upsample: str = "bilinear",
                 norm: str | None = "bn"):
        super().__init__()
        from pictorch.errors import ConfigError

        if upsample not in ("transposed", "bilinear", "nearest"):
            raise ConfigError(f"unknown U-Net upsampling {upsample!r}. Known: transposed, bilinear, nearest")
        self.upsample = upsample
        up_channels = in_channels
        if upsample == "transposed":
            up_channels = max(1, in_channels // 2)
            self.up = nn.ConvTranspose2d(in_channels, up_channels, 2, stride=2)
        self.conv1 = ConvBnAct(up_channels + skip_channels, out_channels, norm=norm)
        self.conv2 = ConvBnAct(out_channels, out_channels, norm=norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        if self.upsample == "transposed":
            x = self.up(x)
            if tuple(x.shape[-2:]) != tuple(size):  # odd sizes: the 2× up-conv is one pixel off
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        else:
            x = F.interpolate(x, size=size, mode=self.upsample,
                              **({"align_corners": False} if self.upsample == "bilinear" else {}))
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UNetDecoder(nn.Module):
    """U-Net's expanding path over encoder features at strictly increasing strides.

    The deepest feature is the bottleneck; each shallower feature is one skip. When the shallowest skip is
    still reduced (a ResNet's stem is at stride 4), more up-steps without skips bring the map to full size.

    Args:
        encoder_channels: Channels of the features, shallow to deep.
        reductions: Their strides (e.g. ``[1, 4, 8, 16, 32]``), strictly increasing.
        decoder_channels: Output channels of each up-step, deep to shallow (one per skip, then one per extra
            ×2 step). Default: each step takes its skip's width (the paper's 512, 256, 128, 64), the extra
            steps halve it (at least 16).
        upsample: See :class:`UpBlock`.
        norm: See :class:`UpBlock`.

    Attributes:
        out_channels: Channels of the full-size output.
    """

    def __init__(self, encoder_channels: Sequence[int], reductions: Sequence[int],
                 decoder_channels: Sequence[int] | None = None, upsample: str = "bilinear",
                 norm: str | None = "bn"):
        super().__init__()
        from pictorch.errors import ConfigError

        chans, reds = [int(c) for c in encoder_channels], [int(r) for r in reductions]
        if len(chans) != len(reds) or len(chans) < 1:
            raise ConfigError("UNetDecoder: one reduction per encoder feature, at least one feature")
        if any(b <= a for a, b in zip(reds, reds[1:], strict=False)):
            raise ConfigError(f"UNetDecoder: reductions must increase strictly, got {reds}")
        self.reductions = reds
        n_extra = max(0, round(math.log2(reds[0]))) if reds[0] > 1 else 0
        n_steps = len(chans) - 1 + n_extra
        if decoder_channels is None:
            skip_widths = list(reversed(chans[:-1]))
            extra, last = [], (skip_widths[-1] if skip_widths else chans[-1])
            for _ in range(n_extra):
                last = max(16, last // 2)
                extra.append(last)
            decoder_channels = skip_widths + extra
        dec = [int(c) for c in decoder_channels]
        if len(dec) != n_steps:
            raise ConfigError(f"UNetDecoder: {n_steps} up-steps need {n_steps} decoder_channels, got {len(dec)}")
        blocks = []
        cin = chans[-1]
        for j in range(n_steps):
            skip = chans[-2 - j] if j < len(chans) - 1 else 0
            blocks.append(UpBlock(cin, skip, dec[j], upsample=upsample, norm=norm))
            cin = dec[j]
        self.blocks = nn.ModuleList(blocks)
        self.n_extra = n_extra
        self.out_channels = cin if n_steps else chans[-1]

    def forward(self, features: Sequence[torch.Tensor], out_size: tuple[int, int]) -> torch.Tensor:
        """Args: features: shallow to deep, as described at construction; out_size: the input's (H, W)."""
        x = features[-1]
        n_skip = len(features) - 1
        for j, block in enumerate(self.blocks):
            if j < n_skip:
                skip = features[-2 - j]
                x = block(x, skip, tuple(skip.shape[-2:]))
            else:
                r = self.reductions[0] >> (j - n_skip + 1)
                size = (math.ceil(out_size[0] / r), math.ceil(out_size[1] / r))
                x = block(x, None, size)
        return x


class SegNetDecoder(nn.Module):
    """SegNet's decoder: per encoder stage (deep to shallow) max-unpool with its saved indices, then 3×3
    conv-BN-ReLUs mirroring the stage's convolutions.

    Upsampling is only unpooling (no transposed convs, no interpolation): each value goes back to the
    position its max came from, zeros elsewhere, and the convs densify the sparse map. What the encoder keeps
    for the decoder is one index per pooled value (int64, 8 bytes: half the bytes of the float32 feature map
    U-Net keeps per skip, since a 2×2 pool leaves a quarter of the values).

    Args:
        stage_widths: Conv widths of each encoder stage, shallow to deep (VGG-16: ``[[64, 64], [128, 128],
            [256, 256, 256], [512, 512, 512], [512, 512, 512]]``).
        norm: Normalization after each conv.

    Attributes:
        out_channels: Channels of the full-size output (the first stage's width).
    """

    def __init__(self, stage_widths: Sequence[Sequence[int]], norm: str | None = "bn"):
        super().__init__()
        widths = [[int(c) for c in s] for s in stage_widths]
        stages = []
        for k in range(len(widths) - 1, -1, -1):
            w = widths[k][-1]
            out = widths[k - 1][-1] if k > 0 else widths[0][-1]
            convs = [ConvBnAct(w, w, norm=norm) for _ in range(len(widths[k]) - 1)]
            convs.append(ConvBnAct(w, out, norm=norm))
            stages.append(nn.Sequential(*convs))
        self.stages = nn.ModuleList(stages)  # deep to shallow
        self.out_channels = widths[0][-1]

    def forward(self, x: torch.Tensor, indices: Sequence[torch.Tensor],
                sizes: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Args: x: the encoder's last pooled map; indices/sizes: each pool's indices and input (H, W),
        shallow to deep."""
        for stage, idx, size in zip(self.stages, reversed(indices), reversed(sizes), strict=True):
            x = F.max_unpool2d(x, idx, 2, 2, 0, tuple(size))
            x = stage(x)
        return x


class FCNHead(nn.Module):
    """FCN's classifier on a feature map: 3×3 conv-BN-ReLU, dropout, 1×1 conv to class scores.

    Args:
        in_channels: Feature channels.
        num_classes: Output channels.
        mid_channels: Hidden width (default ``in_channels // 4``, at least 16, as torchvision's FCNHead).
        dropout: Dropout before the scoring conv.
    """

    def __init__(self, in_channels: int, num_classes: int, mid_channels: int | None = None, dropout: float = 0.1):
        super().__init__()
        mid = int(mid_channels or max(16, in_channels // 4))
        self.conv = ConvBnAct(in_channels, mid)
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.score = nn.Conv2d(mid, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.drop(self.conv(x)))


class FCNDecoder(nn.Module):
    """FCN-32s/16s/8s: class scores from the deepest feature (an :class:`FCNHead`) plus 1×1 scores of the
    ``skips`` next-shallower features, each upsampled bilinearly to the next and summed, then to full size.

    Args:
        encoder_channels: Channels of the features, shallow to deep.
        num_classes: Output channels.
        skips: Shallower features fused (0: FCN-32s, 1: 16s, 2: 8s).
        dropout: Dropout of the head.
    """

    def __init__(self, encoder_channels: Sequence[int], num_classes: int, skips: int = 2, dropout: float = 0.1):
        super().__init__()
        chans = [int(c) for c in encoder_channels]
        self.skips = max(0, min(int(skips), len(chans) - 1))
        self.head = FCNHead(chans[-1], num_classes, dropout=dropout)
        self.scores = nn.ModuleList(nn.Conv2d(chans[-2 - i], num_classes, 1) for i in range(self.skips))
        for conv in self.scores:  # start as FCN-32s: the skips' scores grow from zero (the paper's init)
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.out_channels = num_classes

    def forward(self, features: Sequence[torch.Tensor], out_size: tuple[int, int]) -> torch.Tensor:
        x = self.head(features[-1])
        for i, conv in enumerate(self.scores):
            skip = features[-2 - i]
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False) + conv(skip)
        return F.interpolate(x, size=out_size, mode="bilinear", align_corners=False)
