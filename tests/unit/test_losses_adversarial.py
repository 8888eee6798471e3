"""The shared adversarial kit against brute force: GAN losses, gradient penalty, targets, pool, frozen(D)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.losses.adversarial import (
    GANLoss,
    ImagePool,
    anneal,
    d_targets,
    frozen,
    gradient_penalty,
    instance_noise,
)

TORCH_THREADS = 1


def test_lsgan_matches_brute_force_on_patch_maps():
    torch.manual_seed(0)
    pred = torch.randn(3, 1, 5, 7)
    loss = GANLoss("lsgan")
    brute_real = sum((float(v) - 1.0) ** 2 for v in pred.flatten()) / pred.numel()
    brute_fake = sum(float(v) ** 2 for v in pred.flatten()) / pred.numel()
    assert loss(pred, True).item() == pytest.approx(brute_real, rel=1e-5)
    assert loss(pred, False).item() == pytest.approx(brute_fake, rel=1e-5)
    assert loss.d_loss(pred, pred).item() == pytest.approx(0.5 * (brute_real + brute_fake), rel=1e-5)
    assert loss.g_loss(pred).item() == pytest.approx(brute_real, rel=1e-5)


def test_vanilla_is_bce_on_logits_with_per_sample_targets():
    torch.manual_seed(1)
    pred = torch.randn(4, 1, 3, 3)
    targets = torch.tensor([0.9, 1.0, 0.0, 0.9])
    got = GANLoss("vanilla")(pred, targets).item()
    brute = 0.0
    for b in range(4):
        t = float(targets[b])
        for v in pred[b].flatten().tolist():
            p = 1 / (1 + math.exp(-v))
            brute -= t * math.log(p) + (1 - t) * math.log(1 - p)
    assert got == pytest.approx(brute / pred.numel(), rel=1e-5)
    # the generator's loss is the non-saturating -log D(G(z))
    g = GANLoss("non-saturating").g_loss(pred).item()
    assert g == pytest.approx(sum(math.log(1 + math.exp(-v)) for v in pred.flatten().tolist()) / pred.numel(),
                              rel=1e-5)


def test_wgan_and_hinge_directions():
    real, fake = torch.tensor([2.0, 1.0]), torch.tensor([-1.0, 0.5])
    w = GANLoss("wgan-gp")
    assert w.d_loss(real, fake).item() == pytest.approx(fake.mean() - real.mean())
    assert w.g_loss(fake).item() == pytest.approx(-fake.mean())
    h = GANLoss("hinge")
    assert h.d_loss(real, fake).item() == pytest.approx(0.0 + (0.0 + 1.5) / 2)
    with pytest.raises(ConfigError):
        GANLoss("nope")


def test_gradient_penalty_matches_brute_force():
    torch.manual_seed(2)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 1))
    real, fake = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2)
    got = gradient_penalty(critic, real, fake, weight=10.0, generator=torch.Generator().manual_seed(7))
    eps = torch.rand(5, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    brute = 0.0
    for i in range(5):  # one sample at a time, the definition
        x = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x)
        brute += (g.norm() - 1.0).item() ** 2
    assert got.item() == pytest.approx(10.0 * brute / 5, rel=1e-4)
    got.backward()  # has a graph to the critic's weights
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0


def test_gradient_penalty_of_a_linear_critic_is_analytic():
    w = torch.randn(1, 6)
    critic = nn.Linear(6, 1, bias=False)
    critic.weight.data.copy_(w)
    gp = gradient_penalty(critic, torch.randn(4, 6), torch.randn(4, 6), weight=1.0)
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)


def test_d_targets_smoothing_and_flip_rate():
    rt, ft = d_targets(20000, real=0.9, flip=0.1, generator=torch.Generator().manual_seed(0))
    flipped = (rt == 0.0).float().mean().item()
    assert abs(flipped - 0.1) < 0.01
    assert torch.equal(rt == 0.0, ft == 0.9)  # a flip swaps both targets of that sample
    rt, ft = d_targets(8, real=0.9)
    assert torch.all(rt == 0.9) and torch.all(ft == 0.0)


def test_instance_noise_and_anneal():
    x = torch.zeros(1000)
    assert instance_noise(x, 0.0) is x
    assert instance_noise(x, 0.5).std().item() == pytest.approx(0.5, rel=0.1)
    assert anneal(0.1, 0, 100, 0.5) == pytest.approx(0.1)
    assert anneal(0.1, 25, 100, 0.5) == pytest.approx(0.05)
    assert anneal(0.1, 60, 100, 0.5) == 0.0


def test_image_pool_fills_then_returns_past_fakes_with_probability_p():
    pool = ImagePool(size=50, p=0.5, seed=3)
    first = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1)
    out = pool.query(first)
    assert torch.equal(out, first)  # while filling, every image comes back as itself
    n, from_pool = 4000, 0
    seen = set(range(50))
    for k in range(n):
        new_value = 1000.0 + k
        got = pool.query(torch.full((1, 1, 1, 1), new_value)).item()
        if got != new_value:
            assert got in seen  # a past fake, never an invented one
            from_pool += 1
        seen.add(new_value)
    # binomial(4000, 0.5): sd 0.008; 0.04 is 5 sd
    assert abs(from_pool / n - 0.5) < 0.04
    assert len(pool) == 50
    # state round trip
    other = ImagePool(size=50, p=0.5)
    other.load_state_dict(pool.state_dict())
    x = torch.full((4, 1, 1, 1), -1.0)
    assert torch.equal(other.query(x), pool.query(x))


def test_image_pool_zero_size_passes_through():
    x = torch.randn(3, 2, 4, 4, requires_grad=True)
    out = ImagePool(0).query(x)
    assert torch.equal(out, x) and not out.requires_grad


def test_frozen_restores_each_flag_even_on_error():
    d = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    d[0].weight.requires_grad_(False)  # frozen on purpose: must stay frozen
    with frozen(d):
        assert not any(p.requires_grad for p in d.parameters())
    assert [p.requires_grad for p in d.parameters()] == [False, True, True, True]
    with pytest.raises(RuntimeError), frozen(d):
        raise RuntimeError("boom")
    assert [p.requires_grad for p in d.parameters()] == [False, True, True, True]
