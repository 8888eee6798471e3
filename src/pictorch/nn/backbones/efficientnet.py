"""EfficientNet-B0…B7 built by compound scaling, with torchvision's module names.

EfficientNet starts from a small base network found by architecture search (B0: a stem, seven stages of
MBConv blocks, a 1×1 head conv) and scales it in three dimensions at once: depth (blocks per stage),
width (channels of every layer) and input resolution. One coefficient ``φ`` sets all three
(:func:`compound_scaling`). Widths are rounded to multiples of 8 and block counts rounded up, as in the
paper.

Layout (the keys of torchvision's ``efficientnet_b0..b7`` files, so official weights load as they are)::

    features.0          stem: 3×3/2 conv (features.0.0) + BN (features.0.1) + SiLU
    features.1 … 7      the seven MBConv stages; block j: features.i.j.block.k.*
    features.8          1×1 conv to 4 × the last stage width (1280 for B0) + BN + SiLU
    classifier.0 / .1   dropout / Linear

B5–B7 use batch-norm eps 1e-3 and momentum 0.01 like torchvision (their weights come from the TF port).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.backbones.base import (
    Backbone,
    maybe_load_pretrained,
)
from pictorch.nn.blocks import MBConv, make_activation
from pictorch.registry import MODELS

#: The B0 base network (Table 1 of the paper), one row per MBConv stage:
#: (expand_ratio, kernel, stride, in_channels, out_channels, repeats).
B0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)

#: Published (width_mult, depth_mult, resolution, dropout) of B0…B7 (Tan & Le, 2019). They follow the
#: compound-scaling idea but were tuned, so they do not equal :func:`compound_scaling` for integer φ.
VARIANTS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
}

# batch-norm (eps, momentum) of the official files: B5-B7 were ported from TensorFlow
_TF_BN = (1e-3, 0.01)
_TORCH_BN = (1e-5, 0.1)


def compound_scaling(
    phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15, base_resolution: int = 224
) -> tuple[float, float, int]:
    """Depth, width and resolution multipliers of EfficientNet's compound scaling for coefficient ``φ``.

    ``depth = α^φ``, ``width = β^φ``, ``resolution = γ^φ · base_resolution`` (rounded to an int). The
    constants come from a small grid search on B0 under the constraint ``α · β² · γ² ≈ 2`` (with
    α, β, γ ≥ 1): the FLOPs of a conv net grow linearly with depth but quadratically with width and with
    resolution, so each unit of φ roughly doubles the FLOPs (the defaults give 1.2·1.1²·1.15² ≈ 1.92).

    Args:
        phi: Compound coefficient (0 gives B0; it can be fractional or negative to shrink the network).
        alpha: Depth base α.
        beta: Width base β.
        gamma: Resolution base γ.
        base_resolution: Input size of the base network.

    Returns:
        ``(depth_mult, width_mult, resolution)``.
    """
    return alpha**phi, beta**phi, int(round(gamma**phi * base_resolution))


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, never going more than 10 % below it."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def scale_width(channels: int, width_mult: float) -> int:
    """Scale a channel count by ``width_mult`` and round it to a multiple of 8."""
    return make_divisible(channels * width_mult, 8)


def scale_depth(repeats: int, depth_mult: float) -> int:
    """Scale a stage's block count by ``depth_mult``, rounding up."""
    return int(math.ceil(repeats * depth_mult))


def _stem_or_head(in_ch: int, out_ch: int, k: int, stride: int, eps: float) -> nn.Sequential:
    # torchvision's Conv2dNormActivation layout: 0 conv, 1 BN, 2 SiLU
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, k, stride, (k - 1) // 2, bias=False),
        nn.BatchNorm2d(out_ch, eps=eps),
        make_activation("silu"),
    )


class EfficientNet(Backbone):
    """EfficientNet (v1) of any width/depth multiplier, torchvision layout.

    Args:
        width_mult: Channel multiplier (β^φ); every width is scaled and rounded to a multiple of 8.
        depth_mult: Depth multiplier (α^φ); every stage's block count is scaled and rounded up.
        in_chans: Input channels.
        num_classes: Classifier outputs (0: none, forward returns the pooled features).
        drop_rate: Dropout before the classifier (``classifier.0``).
        stochastic_depth: Stochastic-depth probability of the last block; block ``i`` of ``n`` drops its
            residual branch with probability ``stochastic_depth · i / n`` while training.
        arch: Registry name (for ``default_cfg`` and messages).
        resolution: Native input size recorded in ``default_cfg["input_size"]`` (any size ≥ 1 px works).
        bn_eps: Batch-norm epsilon.
        bn_momentum: Batch-norm momentum.
        stages: Base stage table (default :data:`B0_STAGES`).
    """

    def __init__(
        self,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.2,
        stochastic_depth: float = 0.2,
        arch: str = "efficientnet",
        resolution: int = 224,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        stages: tuple[tuple[int, int, int, int, int, int], ...] = B0_STAGES,
    ):
        super().__init__()
        if width_mult <= 0 or depth_mult <= 0:
            raise ConfigError(f"{arch}: width_mult and depth_mult must be > 0, got {width_mult}, {depth_mult}")
        if not 0.0 <= stochastic_depth < 1.0:
            raise ConfigError(f"{arch}: stochastic_depth must be in [0, 1), got {stochastic_depth}")
        self.width_mult, self.depth_mult = float(width_mult), float(depth_mult)
        rows = [(e, k, s, scale_width(cin, width_mult), scale_width(cout, width_mult), scale_depth(n, depth_mult))
                for e, k, s, cin, cout, n in stages]
        total = sum(r[-1] for r in rows)
        layers: list[nn.Module] = [_stem_or_head(in_chans, rows[0][3], 3, 2, bn_eps)]
        block_id = 0
        for expand, kernel, stride, cin, cout, n in rows:
            blocks = []
            for j in range(n):
                blocks.append(MBConv(cin if j == 0 else cout, cout, kernel_size=kernel, stride=stride if j == 0 else 1,
                                     expand_ratio=expand, se_ratio=0.25,
                                     drop_path=stochastic_depth * block_id / total, act="silu", eps=bn_eps))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
        last_in = rows[-1][4]
        self.feature_dim = 4 * last_in
        layers.append(_stem_or_head(last_in, self.feature_dim, 1, 1, bn_eps))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_classes = num_classes
        self.drop_rate = float(drop_rate)
        self.classifier = nn.Sequential(
            nn.Dropout(p=self.drop_rate),
            nn.Linear(self.feature_dim, num_classes) if num_classes > 0 else nn.Identity(),
        )
        self.default_cfg = self.imagenet_cfg(arch, in_chans, int(resolution), 1, "features.0.0", "classifier.1",
                                             width_mult=self.width_mult, depth_mult=self.depth_mult)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.eps, m.momentum = bn_eps, bn_momentum
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                r = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -r, r)
                nn.init.zeros_(m.bias)

    def feature_stages(self) -> list[nn.Module]:
        """Stem, the seven MBConv stages, and the 1×1 head conv (nine groups)."""
        return list(self.features)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        if pre_logits or self.num_classes == 0:
            return x
        return self.classifier(x)

    def head_stage(self) -> nn.Module:
        return self.classifier


def _efficientnet(
    arch: str, width_mult: float, depth_mult: float, resolution: int, *, in_chans: int, num_classes: int,
    pretrained: str | bool | None, weights: str | Path | None, drop_rate: float, bn: tuple[float, float],
    **kw: object,
) -> EfficientNet:
    kw.setdefault("bn_eps", bn[0])
    kw.setdefault("bn_momentum", bn[1])
    model = EfficientNet(width_mult, depth_mult, in_chans=in_chans, num_classes=num_classes, drop_rate=drop_rate,
                         arch=arch, resolution=resolution, **kw)  # type: ignore[arg-type]
    return maybe_load_pretrained(model, pretrained, weights)


def _register(arch: str) -> None:
    width, depth, res, dropout = VARIANTS[arch]
    bn = _TF_BN if arch in ("efficientnet_b5", "efficientnet_b6", "efficientnet_b7") else _TORCH_BN

    def factory(
        *, in_chans: int = 3, num_classes: int = 1000, pretrained: str | bool | None = None,
        weights: str | Path | None = None, drop_rate: float | None = None, **kw: object,
    ) -> EfficientNet:
        return _efficientnet(arch, width, depth, res, in_chans=in_chans, num_classes=num_classes,
                             pretrained=pretrained, weights=weights,
                             drop_rate=dropout if drop_rate is None else drop_rate, bn=bn, **kw)

    factory.__name__ = factory.__qualname__ = arch
    factory.__doc__ = (f"EfficientNet-{arch[-2:].upper()}: width ×{width}, depth ×{depth}, {res} px, dropout "
                       f"{dropout} (torchvision layout). Extra kw: ``stochastic_depth``, ``resolution`` "
                       "(see :class:`EfficientNet`).")
    factory.__module__ = __name__
    globals()[arch] = MODELS.register(arch, tags=("backbone",))(factory)


for _arch in VARIANTS:
    _register(_arch)


@MODELS.register("efficientnet", tags=("backbone",))
def efficientnet(
    *, width_mult: float = 1.0, depth_mult: float = 1.0, in_chans: int = 3, num_classes: int = 1000,
    pretrained: str | bool | None = None, weights: str | Path | None = None, drop_rate: float = 0.2,
    stochastic_depth: float = 0.2, resolution: int | None = None, **kw: object,
) -> EfficientNet:
    """An EfficientNet of any width/depth multiplier (e.g. from :func:`compound_scaling`).

    ``resolution`` (only recorded in ``default_cfg``) defaults to the published one when the multipliers
    are those of B0…B7, else to ``224 · γ^φ`` with φ recovered from the depth multiplier (``α^φ``).
    No official weights exist under this name (use ``efficientnet_bN`` for those), but ``weights=PATH`` of
    a matching torchvision file loads.
    """
    if resolution is None:
        published = [v[2] for v in VARIANTS.values() if (v[0], v[1]) == (width_mult, depth_mult)]
        if published:
            resolution = published[0]
        else:
            phi = math.log(depth_mult) / math.log(1.2) if depth_mult > 0 else 0.0
            resolution = compound_scaling(phi)[2]
    return _efficientnet("efficientnet", width_mult, depth_mult, resolution, in_chans=in_chans,
                         num_classes=num_classes, pretrained=pretrained, weights=weights, drop_rate=drop_rate,
                         bn=_TORCH_BN, stochastic_depth=stochastic_depth, **kw)
