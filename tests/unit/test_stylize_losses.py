"""Perceptual losses against brute-force computations."""

from __future__ import annotations

import pytest
import torch

from pictorch.losses.perceptual import PerceptualLoss, content_loss, gram_matrix, style_loss, tv_loss
from pictorch.nn.features import FeatureNet, InputSpec
from pictorch.registry import create_model

TORCH_THREADS = 1


def _brute_gram(f: torch.Tensor) -> torch.Tensor:
    b, c, h, w = f.shape
    g = torch.zeros(b, c, c, dtype=torch.float64)
    for n in range(b):
        for i in range(c):
            for j in range(c):
                g[n, i, j] = sum(float(f[n, i, y, x]) * float(f[n, j, y, x]) for y in range(h) for x in range(w))
    return g / (h * w)


def test_gram_matches_brute_force():
    torch.manual_seed(0)
    f = torch.randn(2, 3, 4, 5)
    assert torch.allclose(gram_matrix(f).double(), _brute_gram(f), atol=1e-5)


def test_style_loss_matches_brute_force():
    torch.manual_seed(1)
    fa = {"a": torch.randn(1, 4, 3, 3), "b": torch.randn(1, 2, 5, 2)}
    fs = {"a": torch.randn(1, 4, 6, 2), "b": torch.randn(1, 2, 3, 3)}
    weights = {"a": 0.5, "b": 2.0}
    targets = {k: gram_matrix(v) for k, v in fs.items()}
    expect = 0.0
    for k, w in weights.items():
        ga, gs = _brute_gram(fa[k]), _brute_gram(fs[k])
        c = ga.shape[-1]
        expect += w / c**2 * float(((ga - gs) ** 2).sum()) / c**2
    got = style_loss(fa, targets, weights)
    assert got.item() == pytest.approx(expect, rel=1e-5)
    raw = style_loss(fa, targets, weights, channel_norm=False)
    assert raw.item() > got.item()


def test_content_and_tv_match_brute_force():
    torch.manual_seed(2)
    x = torch.randn(1, 2, 3, 4)
    t = torch.randn(1, 2, 3, 4)
    assert content_loss({"l": x}, {"l": t}, {"l": 3.0}).item() == pytest.approx(
        3.0 * float(((x - t) ** 2).sum()) / x.numel(), rel=1e-6)
    dx = sum(abs(float(x[0, c, i, j + 1] - x[0, c, i, j])) for c in range(2) for i in range(3) for j in range(3)) / 18
    dy = sum(abs(float(x[0, c, i + 1, j] - x[0, c, i, j])) for c in range(2) for i in range(2) for j in range(4)) / 16
    assert tv_loss(x).item() == pytest.approx(0.5 * (dx + dy), rel=1e-5)


def test_perceptual_loss_terms_blend_and_distance():
    torch.manual_seed(3)
    m = create_model("vgg11", num_classes=0, hidden=8)
    net = FeatureNet(m, ["relu1_1", "relu2_1"], spec=InputSpec())
    loss = PerceptualLoss(net, ["relu2_1"], {"relu1_1": 1.0, "relu2_1": 0.5}, content_weight=2.0,
                          style_weight=3.0, tv_weight=0.1)
    c, s1, s2 = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 40, 32), torch.rand(1, 3, 32, 48)
    loss.set_content(c)
    loss.set_style([s1, s2], blend=[3, 1])
    g1 = gram_matrix(net(s1)["relu1_1"])
    g2 = gram_matrix(net(s2)["relu1_1"])
    assert torch.allclose(loss.style_grams["relu1_1"], 0.75 * g1 + 0.25 * g2, atol=1e-6)
    terms = loss(c)
    assert terms["content"].item() == pytest.approx(0.0, abs=1e-7)  # the content image is its own target
    assert terms["style"].item() > 0 and terms["tv"].item() > 0
    assert terms["loss"].item() == pytest.approx(sum(terms[k].item() for k in ("content", "style", "tv")))
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    d = loss.distance(x, torch.rand(2, 3, 32, 32))
    d.backward()
    assert d.item() > 0 and x.grad.abs().sum() > 0
