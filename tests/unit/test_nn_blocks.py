"""Building blocks checked against hand-written references."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.blocks import (
    BasicBlock,
    Bottleneck,
    ConvBnAct,
    DropPath,
    InceptionModule,
    MaxPoolWithIndices,
    MaxUnpool,
    MBConv,
    SqueezeExcite,
    Unpool,
    conv1x1,
    conv3x3,
    make_activation,
)


def _reference_max_unpool(x: torch.Tensor, k: int) -> torch.Tensor:
    """Brute force: for every k×k window of x, keep the (first) maximum at its place, zero elsewhere."""
    b, c, h, w = x.shape
    out = torch.zeros_like(x)
    for n in range(b):
        for ch in range(c):
            for i in range(0, h - h % k, k):
                for j in range(0, w - w % k, k):
                    win = x[n, ch, i : i + k, j : j + k]
                    flat = int(torch.argmax(win))
                    di, dj = divmod(flat, k)
                    out[n, ch, i + di, j + dj] = win[di, dj]
    return out


@pytest.mark.parametrize("k,h,w", [(2, 8, 8), (2, 7, 9), (3, 9, 6)])
def test_max_unpool_restores_values_at_saved_indices(k, h, w):
    torch.manual_seed(0)
    x = torch.randn(2, 3, h, w)
    pooled, idx = MaxPoolWithIndices(k)(x)
    assert pooled.shape == (2, 3, h // k, w // k)
    restored = MaxUnpool(k)(pooled, idx, output_size=x.shape)
    assert restored.shape == x.shape
    assert torch.equal(restored, _reference_max_unpool(x, k))
    # the same through Unpool(mode="max")
    assert torch.equal(Unpool("max", scale_factor=k)(pooled, idx, output_size=x.shape), restored)


def test_unpool_modes():
    x = torch.arange(4.0).reshape(1, 1, 2, 2)
    near = Unpool("nearest")(x)
    assert torch.equal(near, torch.tensor([[[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3.0]]]]))
    nails = Unpool("max")(x)  # no indices: bed of nails
    assert torch.equal(nails, torch.tensor([[[[0, 0, 1, 0], [0, 0, 0, 0], [2, 0, 3, 0], [0, 0, 0, 0.0]]]]))
    up = Unpool("transposed", in_channels=1, out_channels=5)
    assert up(x).shape == (1, 5, 4, 4)
    assert sum(p.numel() for p in up.parameters()) == 1 * 5 * 2 * 2 + 5
    with pytest.raises(ConfigError):
        Unpool("bilinear")
    with pytest.raises(ConfigError):
        Unpool("transposed")


def test_conv_bn_act_same_padding_and_names():
    block = ConvBnAct(3, 8, kernel_size=5, act="silu")
    assert set(block.state_dict()) >= {"conv.weight", "bn.weight", "bn.running_mean"}
    assert block.conv.bias is None  # BN makes the bias redundant
    x = torch.randn(2, 3, 11, 11)
    assert block(x).shape == (2, 8, 11, 11)
    assert ConvBnAct(3, 8, stride=2)(x).shape == (2, 8, 6, 6)
    no_norm = ConvBnAct(3, 4, norm=None, act=None)
    assert no_norm.conv.bias is not None and isinstance(no_norm.bn, nn.Identity)
    assert conv1x1(3, 4, stride=2)(x).shape == (2, 4, 6, 6)
    assert conv3x3(3, 4)(x).shape == (2, 4, 11, 11)


def test_make_activation():
    assert isinstance(make_activation("relu"), nn.ReLU)
    assert isinstance(make_activation("swish"), nn.SiLU)
    assert isinstance(make_activation(None), nn.Identity)
    with pytest.raises(ConfigError, match="relu"):
        make_activation("relux")


def test_inception_output_channels():
    m = InceptionModule(192, 64, 96, 128, 16, 32, 32)  # GoogLeNet's inception (3a)
    assert m.out_channels == 256
    y = m(torch.randn(2, 192, 7, 7))
    assert y.shape == (2, 256, 7, 7)
    assert m.branch3[1].conv.kernel_size == (5, 5)
    assert "branch4.1.conv.weight" in m.state_dict()


@pytest.mark.parametrize("block,inplanes,planes,stride,out_c", [
    (BasicBlock, 64, 64, 1, 64),
    (BasicBlock, 64, 128, 2, 128),
    (Bottleneck, 64, 64, 1, 256),
    (Bottleneck, 256, 128, 2, 512),
])
def test_residual_block_shapes(block, inplanes, planes, stride, out_c):
    m = block(inplanes, planes, stride).eval()
    y = m(torch.randn(2, inplanes, 8, 8))
    assert y.shape == (2, out_c, 8 // stride, 8 // stride)
    needs_shortcut = stride != 1 or inplanes != out_c
    assert (m.downsample is not None) == needs_shortcut
    if needs_shortcut:
        assert isinstance(m.downsample[0], nn.Conv2d) and isinstance(m.downsample[1], nn.BatchNorm2d)


def test_basic_block_is_identity_plus_relu_when_branch_is_zero():
    m = BasicBlock(4, 4).eval()
    nn.init.zeros_(m.bn2.weight)
    nn.init.zeros_(m.bn2.bias)
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(m(x), torch.relu(x))


def test_drop_path():
    dp = DropPath(0.5)
    x = torch.randn(64, 3, 4, 4)
    dp.eval()
    assert torch.equal(dp(x), x)
    dp.train()
    torch.manual_seed(0)
    y = dp(x)
    dropped = (y.flatten(1) == 0).all(1)
    kept = ~dropped
    assert 0 < dropped.sum() < 64  # whole samples are dropped, not single values
    assert torch.allclose(y[kept], x[kept] * 2.0)


def test_squeeze_excite_scales_channels():
    se = SqueezeExcite(8, rd_channels=2)
    x = torch.rand(2, 8, 5, 5) + 0.1
    y = se(x)
    ratio = y / x
    # one gate per (sample, channel), in (0, 1)
    assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio), atol=1e-6)
    assert (ratio > 0).all() and (ratio < 1).all()


def test_mbconv():
    m = MBConv(16, 16, kernel_size=5, expand_ratio=6, drop_path=0.2).eval()
    x = torch.randn(2, 16, 8, 8)
    assert m.use_res_connect and m(x).shape == x.shape
    keys = m.state_dict()
    assert keys["block.0.0.weight"].shape == (96, 16, 1, 1)  # expand
    assert keys["block.1.0.weight"].shape == (96, 1, 5, 5)  # depthwise
    assert keys["block.2.fc1.weight"].shape == (4, 96, 1, 1)  # SE on in_channels * 0.25
    assert keys["block.3.0.weight"].shape == (16, 96, 1, 1)  # project
    down = MBConv(16, 24, stride=2, expand_ratio=1)
    assert not down.use_res_connect and down(x).shape == (2, 24, 4, 4)
    assert "block.0.0.weight" in down.state_dict() and down.state_dict()["block.0.0.weight"].shape[1] == 1
