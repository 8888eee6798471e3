"""GoogLeNet (Inception v1) in torchvision's layout, and a compact inception network for small images.

Both are stacks of :class:`~pictorch.nn.blocks.InceptionModule`: four parallel branches (1×1; 1×1
reduction -> 3×3; 1×1 reduction -> 5×5; 3×3 max-pool -> 1×1 projection) concatenated along channels. The
1×1 reductions shrink the channels before the expensive convolutions, which is what keeps a 22-layer
GoogLeNet at 6.6 M parameters.

``googlenet`` keys match torchvision's ``googlenet-1378be20.pth`` (``conv1.conv.weight``, ``conv1.bn.*``,
``inception3a.branch1.conv.weight``, ..., ``fc.weight``; the file also holds the two auxiliary heads
``aux1.*``/``aux2.*``, which load when ``aux_logits=True`` and are ignored otherwise). As in torchvision,
branch 3 uses a 3×3 kernel where the paper has 5×5 (``branch3_kernel=5`` gives the paper's network, which
then cannot load the official file), and batch norm (eps 1e-3) follows every conv. The official weights
were ported from TensorFlow and expect inputs normalized to [-1, 1], so ``default_cfg`` mean/std are 0.5
(``transform_input=True`` instead accepts ImageNet-normalized inputs, as torchvision does).

``inception_small`` is the network a Fashion-MNIST/CIFAR user trains from scratch: a 3×3 stem without the
4× early downsampling, two stages of two inception modules, global average pooling, dropout and a linear
classifier (0.33 M parameters at width 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.backbones.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Backbone,
    channel_stats,
    maybe_load_pretrained,
)
from pictorch.nn.blocks import ConvBnAct, InceptionModule
from pictorch.registry import MODELS
from pictorch.weights import pretrained_cfg

#: GoogLeNet's inception modules (Table 1 of Szegedy et al., 2015):
#: name -> (in, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj).
GOOGLENET_MODULES: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}

_BN_EPS = 1e-3


@torch.no_grad()
def _trunc_normal_(t: torch.Tensor, std: float) -> torch.Tensor:
    """Normal(0, std) truncated to ±2 std, by redrawing the values outside (as torchvision's GoogLeNet init).

    Rejection sampling: ~5 % of the values are redrawn per round. ``nn.init.trunc_normal_`` (inverse-CDF)
    took 1 s for GoogLeNet on one core and over 10 s on two busy ones.
    """
    t.normal_(0.0, std)
    if t.is_meta:  # shapes only (e.g. FLOP counting on the meta device)
        return t
    for _ in range(100):
        out = t.abs() > 2 * std
        n = int(out.sum())
        if n == 0:
            break
        t[out] = torch.randn(n, dtype=t.dtype, device=t.device) * std
    return t.clamp_(-2 * std, 2 * std)


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier: 4×4 average pool, 1×1 conv to 128, fc 1024 (ReLU, dropout 0.7), fc.

    Keys as torchvision (``conv.conv.weight``, ``conv.bn.*``, ``fc1.*``, ``fc2.*``).
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.conv = ConvBnAct(in_channels, 128, kernel_size=1, eps=_BN_EPS)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2: nn.Module = nn.Linear(1024, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(nn.functional.adaptive_avg_pool2d(x, (4, 4)))
        x = self.dropout(self.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class GoogLeNet(Backbone):
    """GoogLeNet / Inception v1 (torchvision layout).

    Args:
        in_chans: Input channels.
        num_classes: Classifier outputs (0: none).
        drop_rate: Dropout before ``fc`` (0.2 as torchvision; the paper used 0.4).
        aux_logits: Build the two auxiliary classifiers (after inception4a and 4d). They only matter for
            training through :meth:`forward_with_aux`; ``forward`` always returns the main logits.
        transform_input: Convert ImageNet-normalized RGB inputs to the [-1, 1] range the official weights
            expect (3 channels only).
        branch3_kernel: Kernel of each module's third branch (3 as torchvision, 5 as the paper).
        arch: Registry name.
    """

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.2,
        aux_logits: bool = False,
        transform_input: bool = False,
        branch3_kernel: int = 3,
        arch: str = "googlenet",
    ):
        super().__init__()
        if transform_input and in_chans != 3:
            raise ConfigError(f"{arch}: transform_input converts ImageNet-normalized RGB and needs in_chans=3, "
                              f"got {in_chans}")
        self.transform_input = bool(transform_input)
        self.aux_logits = bool(aux_logits)
        self.conv1 = ConvBnAct(in_chans, 64, kernel_size=7, stride=2, eps=_BN_EPS)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = ConvBnAct(64, 64, kernel_size=1, eps=_BN_EPS)
        self.conv3 = ConvBnAct(64, 192, kernel_size=3, eps=_BN_EPS)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, cfg in GOOGLENET_MODULES.items():
            if name == "inception4a":
                self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            elif name == "inception5a":
                self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
            setattr(self, name, InceptionModule(*cfg, branch3_kernel=branch3_kernel, eps=_BN_EPS))
        self.aux1: InceptionAux | None = InceptionAux(512, num_classes) if aux_logits else None
        self.aux2: InceptionAux | None = InceptionAux(528, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.init_head(1024, num_classes, drop_rate)
        self.default_cfg = {
            "arch": arch,
            "input_size": (in_chans, 224, 224),
            "min_input_size": 15,
            "mean": channel_stats(IMAGENET_MEAN if transform_input else (0.5, 0.5, 0.5), in_chans),
            "std": channel_stats(IMAGENET_STD if transform_input else (0.5, 0.5, 0.5), in_chans),
            **(pretrained_cfg(arch) if branch3_kernel == 3 else pretrained_cfg("")),
            "first_conv": "conv1.conv",
            "classifier": "fc",
            "aux_classifiers": ("aux1.fc2", "aux2.fc2") if aux_logits else (),
            # keys of the official file that a model without aux heads simply does not have
            "optional_keys": ("aux1.", "aux2."),
        }
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                _trunc_normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        if not self.transform_input:
            return x
        mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * std + mean - 0.5) / 0.5

    def feature_stages(self) -> list[nn.Module]:
        """Stem (to stride 8), inception 3a-3b, pool + 4a-4e (stride 16), pool + 5a-5b (stride 32)."""
        return [
            nn.Sequential(self.conv1, self.maxpool1, self.conv2, self.conv3, self.maxpool2),
            nn.Sequential(self.inception3a, self.inception3b),
            nn.Sequential(self.maxpool3, self.inception4a, self.inception4b, self.inception4c, self.inception4d,
                          self.inception4e),
            nn.Sequential(self.maxpool4, self.inception5a, self.inception5b),
        ]

    def head_stage(self) -> nn.Module:
        """``fc`` plus the auxiliary heads when built."""
        return nn.ModuleList([m for m in (self.fc, self.aux1, self.aux2) if m is not None])

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)
        for aux in (self.aux1, self.aux2):
            if aux is not None:
                ref = aux.fc1.weight
                new = nn.Linear(1024, num_classes) if num_classes > 0 else nn.Identity()
                aux.fc2 = new.to(device=ref.device, dtype=ref.dtype)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self._transform(x)
        for stage in self.feature_stages():
            x = stage(x)
        return x

    def forward_intermediates(
        self, x: torch.Tensor, indices: int | Sequence[int] | None = None
    ) -> list[torch.Tensor]:
        self.check_input(x)
        return super().forward_intermediates(self._transform(x), indices)

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Main logits and the auxiliary logits (after inception4a and 4d; empty without aux heads).

        The paper trains with ``loss = main + 0.3 · (aux1 + aux2)``; at inference only the main logits count.
        """
        self.check_input(x)
        x = self._transform(x)
        aux: list[torch.Tensor] = []
        x = self.inception3b(self.inception3a(self.feature_stages()[0](x)))
        x = self.inception4a(self.maxpool3(x))
        if self.aux1 is not None:
            aux.append(self.aux1(x))
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        if self.aux2 is not None:
            aux.append(self.aux2(x))
        x = self.inception5b(self.inception5a(self.maxpool4(self.inception4e(x))))
        return self.forward_head(x), aux


@MODELS.register("googlenet", tags=("backbone",))
def googlenet(
    *, in_chans: int = 3, num_classes: int = 1000, pretrained: str | bool | None = None,
    weights: str | Path | None = None, drop_rate: float = 0.2, aux_logits: bool = False, **kw: object,
) -> GoogLeNet:
    """GoogLeNet / Inception v1 (torchvision layout, feature_dim 1024, 6.6 M parameters without aux heads).

    Extra kw: ``transform_input``, ``branch3_kernel`` (see :class:`GoogLeNet`). The official file loads
    with or without ``aux_logits``.
    """
    model = GoogLeNet(in_chans=in_chans, num_classes=num_classes, drop_rate=drop_rate, aux_logits=aux_logits,
                      **kw)  # type: ignore[arg-type]
    return maybe_load_pretrained(model, pretrained, weights)


#: ``inception_small``'s modules at width 1, in the GoogLeNet format; "M" is a 2×2 max-pool.
SMALL_MODULES: tuple[tuple[tuple[int, int, int, int, int, int, int] | str, ...], ...] = (
    ((64, 32, 32, 48, 8, 16, 16), (112, 48, 48, 64, 12, 24, 24)),
    ("M", (160, 64, 64, 96, 16, 32, 32), (224, 80, 80, 112, 16, 32, 32)),
)


class InceptionSmall(Backbone):
    """A compact GoogLeNet-style network for 28–64 px images, built from inception modules with 1×1
    reductions.

    Stem: two 3×3 conv-BN-ReLU (32, 64 channels) and a 2×2 max-pool (28 px -> 14 px; GoogLeNet's stem
    would shrink a 28 px image 8×). Stage 1: two inception modules (-> 112 -> 160 channels). Stage 2: 2×2
    max-pool and two more modules (-> 224 -> 256 channels). Then global average pooling, dropout and a
    linear classifier. Branch 3 uses the paper's 5×5 kernel.

    Args:
        in_chans: Input channels.
        num_classes: Classifier outputs (0: none).
        drop_rate: Dropout before the classifier.
        width: Multiplier of every channel count (rounded, at least 1).
    """

    def __init__(self, in_chans: int = 1, num_classes: int = 10, drop_rate: float = 0.2, width: float = 1.0):
        super().__init__()
        if width <= 0:
            raise ConfigError(f"inception_small: width must be > 0, got {width}")

        def w(c: int) -> int:
            return max(1, int(round(c * width)))

        self.stem = nn.Sequential(
            ConvBnAct(in_chans, w(32), 3), ConvBnAct(w(32), w(64), 3), nn.MaxPool2d(2)
        )
        stages = []
        c = w(64)
        for row in SMALL_MODULES:
            mods: list[nn.Module] = []
            for item in row:
                if item == "M":
                    mods.append(nn.MaxPool2d(2))
                    continue
                _, *chs = item  # type: ignore[misc]
                mod = InceptionModule(c, *(w(v) for v in chs), branch3_kernel=5)
                mods.append(mod)
                c = mod.out_channels
            stages.append(nn.Sequential(*mods))
        self.stage1, self.stage2 = stages
        self.init_head(c, num_classes, drop_rate)
        self.default_cfg = self.small_cfg("inception_small", in_chans, 4, "stem.0.conv")
        self.init_convs()

    def feature_stages(self) -> list[nn.Module]:
        return [self.stem, self.stage1, self.stage2]


@MODELS.register("inception_small", tags=("backbone",))
def inception_small(
    *, in_chans: int = 3, num_classes: int = 1000, pretrained: str | bool | None = None,
    weights: str | Path | None = None, drop_rate: float = 0.2, width: float = 1.0, **kw: object,
) -> InceptionSmall:
    """A compact inception network for 28–64 px images (see :class:`InceptionSmall`); ``width`` scales it."""
    model = InceptionSmall(in_chans=in_chans, num_classes=num_classes, drop_rate=drop_rate, width=width, **kw)
    return maybe_load_pretrained(model, pretrained, weights)
