"""Building blocks of the classic image networks.

Module names inside the residual, inception and MBConv blocks follow torchvision's, so state dicts of
networks assembled from them line up with the official files (``conv1``/``bn1``/``downsample.0``,
``branch1``..``branch4`` with ``conv``/``bn``, ``block.N.0``/``block.N.1``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ConvBnAct",
    "DropPath",
    "InceptionModule",
    "MBConv",
    "MaxPoolWithIndices",
    "MaxUnpool",
    "SqueezeExcite",
    "Unpool",
    "conv1x1",
    "conv3x3",
    "make_activation",
    "make_norm",
]

_ACTIVATIONS: dict[str, Callable[[bool], nn.Module]] = {
    "relu": lambda inplace: nn.ReLU(inplace=inplace),
    "relu6": lambda inplace: nn.ReLU6(inplace=inplace),
    "leaky_relu": lambda inplace: nn.LeakyReLU(0.2, inplace=inplace),
    "elu": lambda inplace: nn.ELU(inplace=inplace),
    "silu": lambda inplace: nn.SiLU(inplace=inplace),
    "swish": lambda inplace: nn.SiLU(inplace=inplace),
    "hardswish": lambda inplace: nn.Hardswish(inplace=inplace),
    "gelu": lambda inplace: nn.GELU(),
    "tanh": lambda inplace: nn.Tanh(),
    "sigmoid": lambda inplace: nn.Sigmoid(),
    "hardsigmoid": lambda inplace: nn.Hardsigmoid(inplace=inplace),
    "identity": lambda inplace: nn.Identity(),
    "none": lambda inplace: nn.Identity(),
}


def make_activation(name: str | nn.Module | None, inplace: bool = True) -> nn.Module:
    """Build an activation layer from its name.

    Args:
        name: One of ``relu``, ``relu6``, ``leaky_relu`` (slope 0.2), ``elu``, ``silu``/``swish``,
            ``hardswish``, ``gelu``, ``tanh``, ``sigmoid``, ``hardsigmoid``, ``identity``/``none``; ``None``
            means identity. A module is returned as it is.
        inplace: Use the in-place variant where one exists.

    Raises:
        ConfigError: Unknown name (the message lists the known ones).
    """
    if isinstance(name, nn.Module):
        return name
    key = "none" if name is None else str(name).lower()
    if key not in _ACTIVATIONS:
        from pictorch.errors import ConfigError

        raise ConfigError(f"unknown activation {name!r}. Known: {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[key](inplace)


def make_norm(name: str | None, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> nn.Module:
    """Build a 2-d normalization layer.

    Args:
        name: ``bn``/``batch``, ``in``/``instance`` (affine), ``gn``/``group`` (32 groups or fewer, dividing
            ``channels``), ``none``/``None`` (identity).
        channels: Number of channels.
        eps: Numerical epsilon.
        momentum: Running-statistics momentum (batch norm only).

    Raises:
        ConfigError: Unknown name.
    """
    key = "none" if name is None else str(name).lower()
    if key in ("bn", "batch", "batchnorm"):
        return nn.BatchNorm2d(channels, eps=eps, momentum=momentum)
    if key in ("in", "instance", "instancenorm"):
        return nn.InstanceNorm2d(channels, eps=eps, affine=True)
    if key in ("gn", "group", "groupnorm"):
        groups = next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels, eps=eps)
    if key in ("none", "identity"):
        return nn.Identity()
    from pictorch.errors import ConfigError

    raise ConfigError(f"unknown norm {name!r}. Known: bn, in, gn, none")


def _same_padding(kernel_size: int, dilation: int = 1) -> int:
    # symmetric padding: exact "same" for stride 1, ceil(H / stride) output for odd kernels otherwise
    return (kernel_size - 1) // 2 * dilation


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """A 1×1 convolution without bias (a per-pixel linear layer across channels)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


def conv3x3(
    in_channels: int, out_channels: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    """A 3×3 convolution without bias and with "same" padding."""
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size=3,
        stride=stride,
        padding=dilation,
        groups=groups,
        dilation=dilation,
        bias=False,
    )


class ConvBnAct(nn.Sequential):
    """Convolution -> normalization -> activation (children ``conv``, ``bn``, ``act``).

    The state-dict keys (``conv.weight``, ``bn.weight``, ...) match torchvision's GoogLeNet/Inception
    ``BasicConv2d``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size.
        stride: Stride.
        padding: ``"same"`` (default: ``(k - 1) // 2 * dilation``, so stride 1 keeps the size and stride s
            gives ``ceil(H / s)``), ``"valid"`` (0) or an explicit int.
        groups: Convolution groups (``groups=in_channels`` for depthwise).
        dilation: Dilation.
        norm: Normalization name for :func:`make_norm` (``"bn"``, ``"in"``, ``"gn"``, ``None``).
        act: Activation name for :func:`make_activation` (``None`` for a linear output).
        bias: Convolution bias; default only when there is no normalization.
        eps: Normalization epsilon.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: str | int = "same",
        groups: int = 1,
        dilation: int = 1,
        norm: str | None = "bn",
        act: str | nn.Module | None = "relu",
        bias: bool | None = None,
        eps: float = 1e-5,
    ):
        if padding == "same":
            pad = _same_padding(kernel_size, dilation)
        elif padding == "valid":
            pad = 0
        else:
            pad = int(padding)
        has_norm = norm is not None and str(norm).lower() not in ("none", "identity")
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=pad,
            groups=groups,
            dilation=dilation,
            bias=(not has_norm) if bias is None else bias,
        )
        self.bn = make_norm(norm, out_channels, eps=eps)
        self.act = make_activation(act)
        self.in_channels = in_channels
        self.out_channels = out_channels


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample while training.

    Kept samples are scaled by ``1 / (1 - p)`` so the expected output is unchanged; identity in eval mode.

    Args:
        p: Probability of dropping the branch for a sample.
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _downsample(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


def _shortcut(block: nn.Module, inplanes: int, planes: int, stride: int, downsample: nn.Module | None,
              drop_path: float) -> None:
    """A residual block's ``downsample`` (built when the stride or the width changes), ``drop_path``, ``stride``."""
    if downsample is None and (stride != 1 or inplanes != planes * block.expansion):
        downsample = _downsample(inplanes, planes * block.expansion, stride)
    block.downsample = downsample
    block.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
    block.stride = stride


class BasicBlock(nn.Module):
    """The two-3×3-conv residual block of ResNet-18/34 (torchvision names).

    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``. The shortcut is ``downsample`` (1×1 conv +
    BN) when the stride or the width changes; it is built automatically unless given.

    Args:
        inplanes: Input channels.
        planes: Output channels (``planes * expansion``, expansion = 1).
        stride: Stride of the first conv (2 halves the resolution).
        downsample: Explicit shortcut module; ``None`` builds one when needed.
        drop_path: Stochastic-depth probability of the residual branch.
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        _shortcut(self, inplanes, planes, stride, downsample, drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(self.drop_path(out) + identity)


class Bottleneck(nn.Module):
    """The 1×1 -> 3×3 -> 1×1 residual bottleneck of ResNet-50+ (torchvision names, stride on the 3×3).

    Args:
        inplanes: Input channels.
        planes: Bottleneck width; the output has ``planes * 4`` channels.
        stride: Stride of the 3×3 conv.
        downsample: Explicit shortcut module; ``None`` builds one when needed.
        groups: Groups of the 3×3 conv (ResNeXt).
        base_width: Width per group (64 = plain ResNet; wide ResNets use 128).
        drop_path: Stochastic-depth probability of the residual branch.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        drop_path: float = 0.0,
    ):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        _shortcut(self, inplanes, planes, stride, downsample, drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(self.drop_path(out) + identity)


class InceptionModule(nn.Module):
    """GoogLeNet's inception module: four parallel branches concatenated along channels.

    ``branch1``: 1×1; ``branch2``: 1×1 reduction -> 3×3; ``branch3``: 1×1 reduction -> 5×5;
    ``branch4``: 3×3 max-pool (stride 1) -> 1×1 projection. The 1×1 reductions keep the expensive
    convolutions cheap. Each conv is a :class:`ConvBnAct` (keys ``conv.*``/``bn.*`` as torchvision).

    Args:
        in_channels: Input channels.
        ch1x1: Output channels of branch 1.
        ch3x3red: Reduction width before the 3×3.
        ch3x3: Output channels of branch 2.
        ch5x5red: Reduction width before the 5×5.
        ch5x5: Output channels of branch 3.
        pool_proj: Output channels of branch 4.
        branch3_kernel: Kernel of branch 3 (5 as in the paper; torchvision's GoogLeNet uses 3).
        eps: Batch-norm epsilon (torchvision's GoogLeNet uses 1e-3).
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        branch3_kernel: int = 5,
        eps: float = 1e-5,
    ):
        super().__init__()
        self.branch1 = ConvBnAct(in_channels, ch1x1, kernel_size=1, eps=eps)
        self.branch2 = nn.Sequential(
            ConvBnAct(in_channels, ch3x3red, kernel_size=1, eps=eps),
            ConvBnAct(ch3x3red, ch3x3, kernel_size=3, eps=eps),
        )
        self.branch3 = nn.Sequential(
            ConvBnAct(in_channels, ch5x5red, kernel_size=1, eps=eps),
            ConvBnAct(ch5x5red, ch5x5, kernel_size=branch3_kernel, eps=eps),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            ConvBnAct(in_channels, pool_proj, kernel_size=1, eps=eps),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: reweight channels by a gate computed from their global averages.

    Names follow torchvision's ``SqueezeExcitation`` (``fc1``, ``fc2`` as 1×1 convs).

    Args:
        channels: Channels of the gated tensor.
        rd_channels: Width of the bottleneck; default ``max(1, round(channels * rd_ratio))``.
        rd_ratio: Bottleneck ratio when ``rd_channels`` is not given.
        act: Activation of the bottleneck.
        gate: Gate activation (``sigmoid``; ``hardsigmoid`` for MobileNetV3).
    """

    def __init__(
        self,
        channels: int,
        rd_channels: int | None = None,
        rd_ratio: float = 0.25,
        act: str = "relu",
        gate: str = "sigmoid",
    ):
        super().__init__()
        rd = rd_channels if rd_channels is not None else max(1, round(channels * rd_ratio))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, rd, 1)
        self.fc2 = nn.Conv2d(rd, channels, 1)
        self.activation = make_activation(act)
        self.scale_activation = make_activation(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * s


def _conv_norm_act(
    in_ch: int, out_ch: int, k: int, stride: int = 1, groups: int = 1, act: str | None = "silu",
    eps: float = 1e-5,
) -> nn.Sequential:
    # numbered children (0: conv, 1: bn, 2: act) like torchvision's Conv2dNormActivation
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, k, stride, _same_padding(k), groups=groups, bias=False),
        nn.BatchNorm2d(out_ch, eps=eps),
    ]
    if act is not None:
        layers.append(make_activation(act))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """EfficientNet's inverted bottleneck: 1×1 expand -> depthwise k×k -> SE -> 1×1 project (+ residual).

    The residual (with stochastic depth) is used when ``stride == 1`` and ``in_channels == out_channels``.
    Keys match torchvision's EfficientNet ``MBConv`` (``block.0.0.weight``, ...); without expansion
    (``expand_ratio == 1``) the expand conv is omitted as there.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Depthwise kernel (3 or 5).
        stride: Depthwise stride.
        expand_ratio: Expansion of the hidden width.
        se_ratio: SE bottleneck width relative to ``in_channels`` (0 disables SE).
        drop_path: Stochastic-depth probability.
        act: Activation (``silu`` for EfficientNet).
        eps: Batch-norm epsilon.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        expand_ratio: float = 6.0,
        se_ratio: float = 0.25,
        drop_path: float = 0.0,
        act: str = "silu",
        eps: float = 1e-5,
    ):
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        layers: list[nn.Module] = []
        if hidden != in_channels:
            layers.append(_conv_norm_act(in_channels, hidden, 1, act=act, eps=eps))
        layers.append(_conv_norm_act(hidden, hidden, kernel_size, stride, groups=hidden, act=act, eps=eps))
        if se_ratio > 0:
            layers.append(SqueezeExcite(hidden, rd_channels=max(1, int(in_channels * se_ratio)), act=act))
        layers.append(_conv_norm_act(hidden, out_channels, 1, act=None, eps=eps))
        self.block = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and in_channels == out_channels
        self.stochastic_depth = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


# pooling with saved indices and the unpooling decoders use: nn/pooling.py (re-exported here)
from pictorch.nn.pooling import MaxPoolWithIndices, MaxUnpool, Unpool  # noqa: E402
