"""The lecture's small CNN: (conv-BN-ReLU ×2 + max-pool) ×2, one more conv block, global pooling, dropout, fc.

Built for 28×28 images (Fashion-MNIST) but, thanks to global average pooling, any input of at least 16×16
pixels and any number of channels works. Fast enough to train on a CPU in minutes.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from pictorch.nn.backbones.base import Backbone, maybe_load_pretrained
from pictorch.nn.blocks import ConvBnAct
from pictorch.registry import MODELS


class SmallCNN(Backbone):
    """Three conv stages of widths ``width``, ``2*width``, ``4*width`` (the first two end in 2×2 max-pool).

    Args:
        in_chans: Input channels.
        num_classes: Classifier outputs (0: none).
        drop_rate: Dropout before the classifier.
        width: Channels of the first stage.
        act: Activation name.
    """

    def __init__(
        self, in_chans: int = 1, num_classes: int = 10, drop_rate: float = 0.0, width: int = 32, act: str = "relu"
    ):
        super().__init__()
        w = int(width)
        self.blocks = nn.Sequential(
            nn.Sequential(ConvBnAct(in_chans, w, act=act), ConvBnAct(w, w, act=act), nn.MaxPool2d(2)),
            nn.Sequential(ConvBnAct(w, 2 * w, act=act), ConvBnAct(2 * w, 2 * w, act=act), nn.MaxPool2d(2)),
            nn.Sequential(ConvBnAct(2 * w, 4 * w, act=act)),
        )
        self.init_head(4 * w, num_classes, drop_rate)
        self.default_cfg = self.small_cfg("small_cnn", in_chans, 16, "blocks.0.0.conv")
        self.init_convs()

    def feature_stages(self) -> list[nn.Module]:
        return list(self.blocks)


@MODELS.register("small_cnn", tags=("backbone",))
def small_cnn(
    *,
    in_chans: int = 3,
    num_classes: int = 1000,
    pretrained: str | bool | None = None,
    weights: str | Path | None = None,
    drop_rate: float = 0.0,
    width: int = 32,
    **kw: object,
) -> SmallCNN:
    """The lecture's small CNN for 28×28 images (see :class:`SmallCNN`); ``width`` scales every stage."""
    model = SmallCNN(in_chans=in_chans, num_classes=num_classes, drop_rate=drop_rate, width=width, **kw)
    return maybe_load_pretrained(model, pretrained, weights)
