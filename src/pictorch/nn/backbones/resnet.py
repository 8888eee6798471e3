"""ResNet-18/34/50 with torchvision's module names, so the official ``.pth`` files load as they are.

``stem="cifar"`` swaps the 7×7/2 conv + max-pool stem for a 3×3/1 conv without pooling, the usual choice
for 28–32 px inputs (otherwise the stem alone shrinks a 32 px image to 8 px). It changes ``conv1.weight``'s
shape (64×C×3×3 instead of 64×C×7×7), so with pretrained weights conv1 stays freshly initialised (a warning
is logged) while every other layer loads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.backbones.base import (
    Backbone,
    maybe_load_pretrained,
)
from pictorch.nn.blocks import BasicBlock, Bottleneck
from pictorch.registry import MODELS


class ResNet(Backbone):
    """A ResNet (v1.5: stride on the 3×3 of bottlenecks), torchvision layout.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: Blocks per stage, e.g. ``[2, 2, 2, 2]`` for ResNet-18.
        arch: Registry name (for ``default_cfg`` and messages).
        in_chans: Input channels.
        num_classes: Classifier outputs (0: none).
        drop_rate: Dropout before ``fc``.
        stem: ``"imagenet"`` (7×7/2 conv + 3×3/2 max-pool) or ``"cifar"`` (3×3/1 conv, no pooling).
        drop_path_rate: Stochastic depth, increasing linearly over the blocks up to this value.
        zero_init_residual: Start each residual branch's last BN at zero (the block begins as identity).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        arch: str = "resnet",
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
        stem: str = "imagenet",
        drop_path_rate: float = 0.0,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ConfigError(f"unknown ResNet stem {stem!r}. Known: imagenet, cifar")
        self.inplanes = 64
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if stem == "imagenet" else nn.Identity()
        total = sum(layers)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        stages = []
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(self.inplanes, planes, stride, drop_path=dpr.pop(0)))
                self.inplanes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.init_head(512 * block.expansion, num_classes, drop_rate)
        self.default_cfg = self.imagenet_cfg(arch, in_chans, 224, 1, "conv1", "fc", stem=stem)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def feature_stages(self) -> list[nn.Module]:
        stem = nn.Sequential(self.conv1, self.bn1, self.relu, self.maxpool)
        return [stem, self.layer1, self.layer2, self.layer3, self.layer4]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _variant(arch: str, block: type[BasicBlock] | type[Bottleneck], layers: list[int], doc: str
             ) -> Callable[..., ResNet]:
    """Register ``arch`` (a :class:`ResNet` of ``block`` × ``layers``) with the backbone factory interface."""

    def build(*, in_chans: int = 3, num_classes: int = 1000, pretrained: str | bool | None = None,
              weights: str | Path | None = None, drop_rate: float = 0.0, **kw: object) -> ResNet:
        model = ResNet(block, layers, arch=arch, in_chans=in_chans, num_classes=num_classes, drop_rate=drop_rate,
                       **kw)
        return maybe_load_pretrained(model, pretrained, weights)

    build.__name__ = build.__qualname__ = arch
    build.__doc__ = doc
    return MODELS.register(arch, tags=("backbone",))(build)


resnet18 = _variant("resnet18", BasicBlock, [2, 2, 2, 2], "ResNet-18 (BasicBlock, [2, 2, 2, 2], feature_dim 512). "
                    "Extra kw: ``stem``, ``drop_path_rate``, ``zero_init_residual`` (see :class:`ResNet`).")
resnet34 = _variant("resnet34", BasicBlock, [3, 4, 6, 3], "ResNet-34 (BasicBlock, [3, 4, 6, 3], feature_dim 512).")
resnet50 = _variant("resnet50", Bottleneck, [3, 4, 6, 3], "ResNet-50 (Bottleneck, [3, 4, 6, 3], feature_dim 2048).")
