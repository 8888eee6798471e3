"""GAN objectives and tricks against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from pictorch.errors import ConfigError
from pictorch.tasks.generate.losses import GANLoss
from pictorch.tasks.generate.monitor import GANMonitor
from pictorch.tasks.generate.tricks import (
    GANConfig,
    d_targets,
    lerp,
    noise_std,
    sample_z,
    seed_latents,
    slerp,
)


def _sig(v):
    return 1 / (1 + math.exp(-v))


def test_bce_d_loss_matches_formula_with_smoothing():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    out = GANLoss("non-saturating").d_loss(real, fake, real_target=0.9, fake_target=0.0)
    want = 0.0
    for r in (2.0, -1.0):
        want += -(0.9 * math.log(_sig(r)) + 0.1 * math.log(1 - _sig(r))) / 2
    for f in (0.5, -3.0):
        want += -math.log(1 - _sig(f)) / 2
    assert out["d_loss"].item() == pytest.approx(want, rel=1e-5)
    assert out["d_real"].item() == pytest.approx((_sig(2) + _sig(-1)) / 2, rel=1e-6)
    assert out["d_fake"].item() == pytest.approx((_sig(0.5) + _sig(-3)) / 2, rel=1e-6)


def test_generator_losses_and_why_saturating_stalls():
    f = torch.tensor([-6.0, 1.0])
    assert GANLoss("non-saturating").g_loss(f).item() == pytest.approx(
        -(math.log(_sig(-6)) + math.log(_sig(1))) / 2, rel=1e-5)
    assert GANLoss("saturating").g_loss(f).item() == pytest.approx(
        (math.log(1 - _sig(-6)) + math.log(1 - _sig(1))) / 2, rel=1e-5)
    assert GANLoss("hinge").g_loss(f).item() == pytest.approx(2.5)
    # D confidently rejects a sample (logit −6): saturating gradient ≈ σ(−6) ≈ 0, non-saturating ≈ 1
    grads = {}
    for kind in ("saturating", "non-saturating"):
        x = torch.tensor([-6.0], requires_grad=True)
        GANLoss(kind).g_loss(x).backward()
        grads[kind] = abs(x.grad.item())
    assert grads["saturating"] < 0.01 < 0.9 < grads["non-saturating"]


def test_hinge_and_wasserstein_d_losses():
    r, f = torch.tensor([0.5, 2.0]), torch.tensor([-2.0, 0.0])
    assert GANLoss("hinge").d_loss(r, f)["d_loss"].item() == pytest.approx((0.5 + 0) / 2 + (0 + 1) / 2)
    assert GANLoss("wgan-gp").d_loss(r, f)["d_loss"].item() == pytest.approx(-1.0 - 1.25)
    with pytest.raises(ConfigError, match="unknown GAN loss"):
        GANLoss("minimax")


def test_d_targets_smoothing_and_flips():
    torch.manual_seed(0)
    real, fake = d_targets(20000, torch.device("cpu"), 0.9, 0.1)
    assert torch.allclose(real.unique(), torch.tensor([0.0, 0.9]))
    assert (real == 0).float().mean().item() == pytest.approx(0.1, abs=0.01)
    assert (fake > 0).float().mean().item() == pytest.approx(0.1, abs=0.01)
    real, fake = d_targets(10, torch.device("cpu"), 1.0, 0.0)
    assert (real == 1).all() and (fake == 0).all()


def test_instance_noise_anneals_to_zero():
    assert noise_std(0.1, 0, 1000, 0.5) == pytest.approx(0.1)
    assert noise_std(0.1, 250, 1000, 0.5) == pytest.approx(0.05)
    assert noise_std(0.1, 600, 1000, 0.5) == 0.0
    assert noise_std(0.0, 0, 1000, 0.5) == 0.0


def test_latents_and_interpolation():
    z = sample_z(20000, 8, "uniform")
    assert z.min() >= -1 and z.max() <= 1
    zn = sample_z(20000, 8, "normal")
    assert zn.std().item() == pytest.approx(1.0, abs=0.03)
    a, b = seed_latents([1, 2], 16)
    torch.testing.assert_close(seed_latents([1], 16)[0], a)  # reproducible per seed
    t = torch.linspace(0, 1, 7)
    for fn in (lerp, slerp):
        path = fn(a, b, t)
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b, atol=1e-5, rtol=1e-5)
    # slerp between equal-norm vectors keeps the norm (lerp shrinks it mid-way: off the typical shell)
    b2 = b / b.norm() * a.norm()
    s, lin = slerp(a, b2, t), lerp(a, b2, t)
    torch.testing.assert_close(s.norm(dim=1), torch.full((7,), float(a.norm())), atol=1e-4, rtol=1e-4)
    assert lin[3].norm() < a.norm() * 0.99


def test_config_validation_messages():
    with pytest.raises(ConfigError, match="unknown --model 'stylegan'; use gan, dcgan"):
        GANConfig(model="stylegan")
    with pytest.raises(ConfigError, match="label-smoothing"):
        GANConfig(label_smoothing=0.2)
    with pytest.raises(ConfigError, match="d-steps"):
        GANConfig(d_steps=0)
    with pytest.raises(ConfigError, match="unknown --z-dist 'cauchy'"):
        GANConfig(z_dist="cauchy")


def test_monitor_warns_when_d_wins_and_on_collapse(capsys):
    mon = GANMonitor(patience=3, diversity_floor=0.3, warmup=100)
    good = {"d_loss": 1.2, "d_real": 0.6, "d_fake": 0.4, "diversity": 0.9}
    bad_d = {"d_loss": 0.35, "d_real": 0.88, "d_fake": 0.001, "diversity": 0.9}  # smoothing: loss stays > 0
    collapsed = {"d_loss": 1.2, "d_real": 0.6, "d_fake": 0.4, "diversity": 0.05}
    assert mon.update(50, bad_d) == []  # warm-up: no judgement yet
    assert mon.update(150, bad_d) == [] and mon.update(200, good) == []  # streak broken
    assert mon.update(250, bad_d) == [] and mon.update(300, bad_d) == []
    msgs = mon.update(350, bad_d)
    assert len(msgs) == 1 and "discriminator wins too early" in msgs[0]
    assert mon.update(400, bad_d) == []  # each warning once
    for s in (450, 500):
        assert mon.update(s, collapsed) == []
    msgs = mon.update(550, collapsed)
    assert len(msgs) == 1 and "mode collapse" in msgs[0]
    assert [w["kind"] for w in mon.warnings] == ["d_wins", "mode_collapse"]
    assert "warning: step 350" in capsys.readouterr().err


def test_the_gan_loss_choice_goes_through_the_registry():
    """``LOSSES["gan"]`` used to be registered and never looked up (GANTask built GANLoss directly)."""
    from pictorch.registry import LOSSES
    from pictorch.tasks.generate.losses import G_LOSSES, make_gan_loss
    from pictorch.tasks.generate.steps import GANTask

    assert LOSSES.names("gan") == sorted(f"gan.{k}" for k in G_LOSSES)
    loss = make_gan_loss("hinge", gp_weight=3.0)
    assert isinstance(loss, GANLoss) and loss.kind == "hinge" and loss.gp_weight == 3.0
    with pytest.raises(ConfigError, match=r"unknown GAN loss 'hnge'.*did you mean hinge"):
        make_gan_loss("hnge")
    task = GANTask(GANConfig(model="gan", g_loss="wgan-gp"), (2,), out_act="none")
    assert task.loss.kind == "wgan-gp"
