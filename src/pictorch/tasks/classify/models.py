"""Classification models of the classify task (registered, so checkpoints rebuild them by name).

``classify.scalable_cnn`` is a VGG-style conv-BN-ReLU network for small images (28–64 px) with EfficientNet's
two network multipliers: ``width_mult`` scales the channels of every stage and ``depth_mult`` the number of
conv layers per stage. It is the default base network of ``pictorch classify scale`` (any registered model
taking ``width_mult``/``depth_mult`` works, e.g. ``efficientnet``) and, at ``width_mult=2``, a fast
Fashion-MNIST network (see ``bench/classify_fashion_mnist.py``).
"""

from __future__ import annotations

import math
from pathlib import Path

from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.backbones.base import Backbone, maybe_load_pretrained
from pictorch.nn.blocks import ConvBnAct
from pictorch.registry import MODELS


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10% (EfficientNet's rule)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


class ScalableCNN(Backbone):
    """conv-BN-ReLU stages with max-pooling between them, global average pooling, dropout, linear classifier.

    Args:
        in_chans: Input channels.
        num_classes: Classifier outputs (0: none).
        widths: Base channels of each stage.
        depths: Base conv layers of each stage.
        width_mult: Channel multiplier (rounded to multiples of 4).
        depth_mult: Layer multiplier (``ceil(depth * depth_mult)`` layers per stage).
        drop_rate: Dropout before the classifier.
    """

    def __init__(self, in_chans: int = 1, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128),
                 depths: tuple[int, ...] = (2, 2, 2), width_mult: float = 1.0, depth_mult: float = 1.0,
                 drop_rate: float = 0.0):
        super().__init__()
        if len(widths) != len(depths) or not widths:
            raise ConfigError(f"widths {widths} and depths {depths} must be non-empty and of equal length")
        if width_mult <= 0 or depth_mult <= 0:
            raise ConfigError(f"width_mult and depth_mult must be > 0, got {width_mult}, {depth_mult}")
        stages: list[nn.Module] = []
        c = in_chans
        for i, (w, d) in enumerate(zip(widths, depths, strict=True)):
            out = make_divisible(w * width_mult, 4)
            layers: list[nn.Module] = []
            for _ in range(max(1, math.ceil(d * depth_mult))):
                layers.append(ConvBnAct(c, out))
                c = out
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
        self.stages_ = nn.ModuleList(stages)
        self.init_head(c, num_classes, drop_rate)
        self.default_cfg = self.small_cfg("classify.scalable_cnn", in_chans, 2 ** (len(widths) - 1), "stages_.0.0.conv")
        self.init_convs()

    def feature_stages(self) -> list[nn.Module]:
        return list(self.stages_)


@MODELS.register("classify.scalable_cnn", tags=("backbone",))
def scalable_cnn(*, in_chans: int = 3, num_classes: int = 1000, pretrained: str | bool | None = None,
                 weights: str | Path | None = None, drop_rate: float = 0.0, width_mult: float = 1.0,
                 depth_mult: float = 1.0, widths: tuple[int, ...] | list[int] = (32, 64, 128),
                 depths: tuple[int, ...] | list[int] = (2, 2, 2)) -> ScalableCNN:
    """VGG-style small-image CNN with width/depth multipliers (see :class:`ScalableCNN`)."""
    model = ScalableCNN(in_chans=in_chans, num_classes=num_classes, widths=tuple(widths), depths=tuple(depths),
                        width_mult=width_mult, depth_mult=depth_mult, drop_rate=drop_rate)
    return maybe_load_pretrained(model, pretrained, weights)
