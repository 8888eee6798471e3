"""The im2col convolutions for tiny maps give the usual layers' outputs and gradients, and keep their state dicts."""

import copy

import pytest
import torch
from torch import nn

from pictorch.tasks.translate.fastlayers import (
    FastInstanceNorm2d,
    Im2colConv2d,
    Im2colConvTranspose2d,
    fast_instance_norms,
    small_map_convs,
    use_im2col,
)


@pytest.mark.parametrize("rule", [True, False])
@pytest.mark.parametrize("layer, side", [
    (nn.Conv2d(8, 6, 4, 2, 1, bias=False), 4),     # 2×2 output
    (nn.Conv2d(8, 6, 4, 2, 1), 2),                 # 1×1 output, with bias
    (nn.Conv2d(8, 6, 3, 1, 1), 8),                 # 8×8 output
    (nn.ConvTranspose2d(8, 6, 4, 2, 1, bias=False), 1),
    (nn.ConvTranspose2d(8, 6, 4, 2, 1), 4),
    (nn.ConvTranspose2d(8, 6, 3, 2, 1, output_padding=1), 2),  # the ResNet generator's upsampling
    (nn.ConvTranspose2d(8, 3, 4, 2, 1), 6),        # few output channels: one batched GEMM
    (nn.ConvTranspose2d(8, 2, 3, 2, 1, output_padding=1, bias=False), 5),  # the same with output padding
    (nn.Conv2d(8, 1, 4, 1, 1), 7),                 # the PatchGAN's 1-channel head: one GEMM over the taps
    (nn.Conv2d(8, 1, 3, 2, 2, dilation=2, bias=False), 9),  # taps with stride and dilation
])
def test_same_outputs_and_gradients(layer, side, rule, monkeypatch):
    torch.manual_seed(0)
    # each road on every shape (which one a CPU takes depends on its kind; the maths must not)
    monkeypatch.setattr("pictorch.tasks.translate.fastlayers.use_im2col", lambda *a, **k: rule)
    layer.zero_grad(set_to_none=True)  # the parametrized layer is shared by the rule's two cases
    fast = small_map_convs(copy.deepcopy(layer))
    assert isinstance(fast, (Im2colConv2d, Im2colConvTranspose2d))
    assert fast.state_dict().keys() == layer.state_dict().keys()
    x = torch.randn(3, 8, side, side, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    y, y2 = layer(x), fast(x2)
    assert y.shape == y2.shape
    torch.testing.assert_close(y2, y, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(y)
    y.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.weight.grad, layer.weight.grad, rtol=1e-4, atol=1e-4)
    if layer.bias is not None:
        torch.testing.assert_close(fast.bias.grad, layer.bias.grad, rtol=1e-4, atol=1e-4)


def test_rule_and_untouched_layers():
    # AVX2: maps of at most 16 positions, whatever the width
    assert use_im2col(16, False, batch=4, weight_numel=1, isa="AVX2") and not use_im2col(64, True, isa="AVX2")
    # AVX-512 fp32: more than 32768 weight elements per GEMM column (batch · positions)
    w = 256 * 256 * 16
    assert use_im2col(4, False, batch=4, weight_numel=w, isa="AVX-512")
    assert not use_im2col(16, True, batch=4, weight_numel=512 * 128 * 16, isa="AVX-512")
    assert not use_im2col(64, True, batch=2, weight_numel=1024 * 256 * 16, isa="AVX-512")  # 32768 exactly
    # bf16: from 4096 per column
    assert use_im2col(16, False, batch=4, weight_numel=128 * 256 * 16, bf16=True)
    assert not use_im2col(49, False, batch=8, weight_numel=128 * 256 * 16, bf16=True)
    # outside the measured maps: the usual kernel
    assert not use_im2col(256, False, weight_numel=512 * 512 * 16, bf16=True)
    assert not use_im2col(64, False, weight_numel=512 * 512 * 16, isa="AVX-512")
    m = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), nn.Conv2d(4, 4, 3, groups=2))
    small_map_convs(m)
    assert all(type(c) is nn.Conv2d for c in m)  # reflect padding and groups keep the usual class


@pytest.mark.parametrize("affine", [False, True])
def test_fast_instance_norm_matches(affine):
    torch.manual_seed(0)
    ref = nn.InstanceNorm2d(5, affine=affine)
    if affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-1, 1)
    fast = fast_instance_norms(nn.Sequential(copy.deepcopy(ref)))[0]
    assert isinstance(fast, FastInstanceNorm2d)
    x = torch.randn(3, 5, 6, 7, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    y, y2 = ref(x), fast(x2)
    torch.testing.assert_close(y2, y, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(y)
    y.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-4, atol=1e-5)
    kept = fast_instance_norms(nn.InstanceNorm2d(5, track_running_stats=True))
    assert type(kept) is nn.InstanceNorm2d  # running statistics: the usual layer


def test_one_forward_for_real_and_fake_equals_two():
    """A PatchGAN judging cat(real, fake) with split batch norms gives the two forwards' outputs, running
    statistics and weight gradients."""
    from pictorch.nn.discriminators import PatchDiscriminator
    from pictorch.tasks.translate.fastlayers import batch_split, split_batch_norms

    torch.manual_seed(0)
    ref = PatchDiscriminator(in_chans=4, ndf=8, n_layers=2, norm="batch")
    fast = split_batch_norms(copy.deepcopy(ref))
    real, fake = torch.randn(3, 4, 32, 32), torch.randn(3, 4, 32, 32)
    pr, pf = ref(real), ref(fake)
    (pr.mean() - pf.mean()).backward()
    split = batch_split(fast, 2)
    assert split.usable()
    with split:
        out = fast(torch.cat([real, fake]))
    qr, qf = out[:3], out[3:]
    (qr.mean() - qf.mean()).backward()
    torch.testing.assert_close(qr, pr, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(qf, pf, rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(ref.state_dict().items(), fast.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
    for a, b in zip(ref.parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5)
    assert not batch_split(ref, 2).usable()  # plain batch norms: the caller runs two forwards


@pytest.mark.parametrize("layer, side", [
    (nn.Conv2d(16, 16, 4, 2, 1), 4),
    (nn.ConvTranspose2d(16, 3, 4, 2, 1), 8),
    (nn.Conv2d(16, 1, 4, 1, 1), 7),
])
def test_bf16_autocast_agrees(layer, side):
    """Under CPU bf16 autocast the fast roads compute in bf16 too and agree with the usual layer there."""
    torch.manual_seed(0)
    fast = small_map_convs(copy.deepcopy(layer))
    x = torch.randn(2, 16, side, side)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, y2 = layer(x), fast(x)
    assert y2.dtype == y.dtype == torch.bfloat16
    torch.testing.assert_close(y2.float(), y.float(), rtol=3e-2, atol=3e-2)
