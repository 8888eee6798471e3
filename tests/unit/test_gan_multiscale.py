"""LAPGAN and StackGAN: shapes, coarse-to-fine sampling, the KL term against its closed form, bad input, and each
level's / stage's generator moving its samples toward a toy target."""

from __future__ import annotations

import pytest
import torch

from pictorch.engine.config import TrainConfig
from pictorch.engine.trainer import Trainer
from pictorch.errors import ConfigError
from pictorch.nn.pyramid import down, gaussian_pyramid, up
from pictorch.registry import create_model
from pictorch.tasks.generate.data import make_loader
from pictorch.tasks.generate.multiscale import (
    ConditioningAugmentation,
    condition_vector,
    kl_to_standard_normal,
)
from pictorch.tasks.generate.steps_multiscale import LapGANTask, StackGANTask
from pictorch.tasks.generate.tricks import GANConfig

TORCH_THREADS = 1


# -- the KL term -------------------------------------------------------------------------------------------------
def test_kl_equals_the_closed_form_for_diagonal_gaussians():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(6, 5, generator=g, dtype=torch.float64)
    logvar = torch.randn(6, 5, generator=g, dtype=torch.float64)
    # reference: torch.distributions' KL of the product of per-dimension normals, per sample, batch-averaged
    p = torch.distributions.Independent(torch.distributions.Normal(mu, (0.5 * logvar).exp()), 1)
    q = torch.distributions.Independent(torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    ref = torch.distributions.kl_divergence(p, q).mean()
    assert float(kl_to_standard_normal(mu, logvar)) == pytest.approx(float(ref), rel=1e-6)
    # zero exactly at the prior, positive elsewhere
    assert float(kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0
    assert float(kl_to_standard_normal(mu.float(), logvar.float())) > 0


def test_kl_matches_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(1, 3, generator=g, dtype=torch.float64), torch.randn(1, 3, generator=g,
                                                                                  dtype=torch.float64) * 0.5
    s = (0.5 * logvar).exp()
    x = mu + s * torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    log_p = (-0.5 * ((x - mu) / s) ** 2 - torch.log(s)).sum(1)
    log_q = (-0.5 * x ** 2).sum(1)
    assert float((log_p - log_q).mean()) == pytest.approx(float(kl_to_standard_normal(mu, logvar)), abs=0.02)


def test_conditioning_augmentation_reparametrises_and_is_deterministic_in_eval():
    torch.manual_seed(0)
    ca = ConditioningAugmentation(cond_dim=4, embed_dim=8, c_dim=3)
    c = torch.eye(4)[[0, 1, 2, 3] * 500]
    c_hat, mu, logvar = ca(c)
    # gradients reach μ and σ through ĉ = μ + σ ε
    c_hat.sum().backward()
    assert ca.stats.weight.grad is not None and ca.stats.weight.grad.abs().sum() > 0
    with torch.no_grad():
        c_hat, mu, logvar = ca(c)
        z = (c_hat - mu) / (0.5 * logvar).exp()
    assert abs(float(z.mean())) < 0.05 and float(z.std()) == pytest.approx(1.0, abs=0.05)
    ca.eval()
    with torch.no_grad():
        a, mu_e, _ = ca(c[:4])
    assert torch.equal(a, mu_e)


def test_condition_vectors_of_the_wrong_width_are_refused():
    assert condition_vector(torch.tensor([0, 2]), 3, one_hot=True).tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.raises(ConfigError, match="must be 3 wide"):
        condition_vector(torch.zeros(2, 4), 3, one_hot=True)
    with pytest.raises(ConfigError, match="not class indices"):
        condition_vector(torch.tensor([0, 1]), 3, one_hot=False)
    with pytest.raises(ConfigError, match="conditional"):
        condition_vector(None, 3, one_hot=True)
    g = create_model("gan.stackgan_g", z_dim=4, image_size=16, channels=1, cond_dim=5, one_hot=False, ngf=8)
    with pytest.raises(ConfigError, match="5 wide"):
        g(torch.randn(2, 4), torch.zeros(2, 6))


def test_config_refuses_bad_multiscale_settings():
    with pytest.raises(ConfigError, match="must be >= 0"):
        GANConfig(model="stackgan", kl_weight=-0.1)
    with pytest.raises(ConfigError, match="cannot halve 7"):
        GANConfig(model="lapgan", image_size=28, levels=4)
    with pytest.raises(ConfigError, match="even"):
        GANConfig(model="stackgan", image_size=27)
    with pytest.raises(ConfigError, match="saturating"):
        GANConfig(model="lapgan", g_loss="saturating")
    GANConfig(model="lapgan", image_size=64, levels=4)  # 64 → 32 → 16 → 8


# -- shapes ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "channels", "levels"), [(28, 1, 3), (64, 3, 4), (16, 1, 1)])
def test_lapgan_samples_coarse_to_fine_at_full_size(size, channels, levels):
    g = create_model("gan.lapgan_g", z_dim=8, image_size=size, channels=channels, levels=levels, ngf=8).eval()
    d = create_model("gan.lapgan_d", image_size=size, channels=channels, levels=levels, ndf=8)
    z = torch.randn(3, 8)
    with torch.no_grad():
        x = g(z)
        assert x.shape == (3, channels, size, size) and x.abs().max() <= 1.0
        assert torch.equal(x, g(z))  # eval sampling is reproducible (fixed level noise)
        sizes = g.sizes
        coarse = g(z, level=levels - 1)
        assert coarse.shape[-1] == sizes[-1]
        assert d(coarse).shape == (3,)
        for k in range(levels - 1):
            low = up(torch.zeros(3, channels, sizes[k + 1], sizes[k + 1]))
            h = g(torch.randn(3, 1, sizes[k], sizes[k]), level=k, low=low)
            assert h.shape == (3, channels, sizes[k], sizes[k])
            assert d(h, level=k, low=low).shape == (3,)
        # the sampler is the pyramid's recurrence: with the residual generators zeroed it is u(u(coarse))
        for lvl in g.fine:
            torch.nn.init.zeros_(lvl.net[-2].weight)
            torch.nn.init.zeros_(lvl.net[-2].bias)
        y = coarse
        for _ in range(levels - 1):
            y = up(y).clamp(-1, 1)
        assert torch.allclose(g(z), y)


def test_stackgan_stage_one_draws_half_size_and_stage_two_full_size():
    g = create_model("gan.stackgan_g", z_dim=8, image_size=28, channels=1, cond_dim=3, ngf=8)
    d = create_model("gan.stackgan_d", image_size=28, channels=1, cond_dim=3, ndf=8)
    z, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    s0, mu, logvar = g(z, y, stage=1, with_stats=True)
    assert s0.shape == (4, 1, 14, 14) and mu.shape == logvar.shape == (4, 16)
    x = g(z, y)
    assert x.shape == (4, 1, 28, 28)
    assert d(s0, y, stage=1).shape == (4,) and d(x, y).shape == (4,)


# -- it learns ---------------------------------------------------------------------------------------------------
def _target(n: int, size: int = 16) -> torch.Tensor:
    """A toy target distribution, uint8: one picture with a little noise: a bright disc on a ramp (its sharp rim is
    what the finer residuals carry, and it can be predicted from the low-pass image a level is given)."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 < (size / 3) ** 2).float()
    img = 0.8 * disc + 0.3 * (xx.float() / size) - 0.5
    noise = 0.03 * torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(0))
    return ((img + noise).clamp(-1, 1) * 127.5 + 127.5).round().to(torch.uint8)


def _cfg(tmp_path, steps: int) -> TrainConfig:
    return TrainConfig(out_dir=str(tmp_path / "run"), steps=steps, batch_size=32, lr=2e-3, precision="32-true",
                       accelerator="cpu", progress=False, log_every=steps, picture_every=0)


def _gan(model: str, **kw) -> GANConfig:
    # spectral norm, no BatchNorm in D: a near-constant real batch through D's BatchNorm amplifies the tiny
    # noise into features D separates at once (D won the finest level in 25 steps and G diverged)
    base = dict(model=model, image_size=16, z_dim=8, ngf=16, ndf=16, label_flip=0.0, instance_noise=0.0,
                monitor_warmup=10_000, channels_last=False, spectral_norm=True)
    base.update(kw)
    return GANConfig(**base)


def _signed(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1


@pytest.mark.learns
def test_each_lapgan_level_moves_toward_its_real_level(tmp_path):
    imgs = _target(256)
    cfg = _gan("lapgan", levels=3, ngf=32)  # 16 → 8 → 4; level widths 32, 32, 16 (finest)
    task = LapGANTask(cfg, (1, 16, 16), total_steps=150)
    torch.manual_seed(0)
    fresh = task.build()
    res = Trainer(_cfg(tmp_path, 150)).fit(task, make_loader(imgs, None, 32))
    trained = res["modules"]
    real = gaussian_pyramid(_signed(imgs[:64]), 3)

    def gap(fake: torch.Tensor, real: torch.Tensor) -> float:
        """How far the samples' mean picture is from the data's (the toy data is one picture plus noise)."""
        return float((fake.mean(0) - real.mean(0)).pow(2).mean())

    def errors(g) -> list[float]:
        g.eval()
        out = []
        with torch.no_grad():
            z = torch.randn(64, 8, generator=torch.Generator().manual_seed(3))
            out.append(gap(g(z, level=2), real[2]))  # the coarsest level
            for k in (1, 0):  # each finer level on the real low-pass image, as it was trained
                low = up(real[k + 1])
                h = g(torch.randn(64, 1, real[k].shape[-1], real[k].shape[-1]), level=k, low=low)
                out.append(gap(h, real[k] - low))
        return out

    before, after = errors(fresh["G"]), errors(trained["G"])
    for b, a in zip(before, after, strict=True):
        assert a < 0.5 * b, (before, after)
    with torch.no_grad():  # and the coarse-to-fine sample lands near the target picture
        full = trained["G"](torch.randn(64, 8))
    assert full.shape == (64, 1, 16, 16)
    fresh["G"].eval()
    with torch.no_grad():
        full_before = fresh["G"](torch.randn(64, 8))
    assert gap(full, _signed(imgs[:64])) < 0.5 * gap(full_before, _signed(imgs[:64]))


@pytest.mark.learns
def test_each_stackgan_stage_moves_toward_its_class_target(tmp_path):
    imgs = _target(256)
    labels = torch.arange(256) % 2
    imgs[labels == 1] = 255 - imgs[labels == 1]  # class 1: the negative picture
    cfg = _gan("stackgan", stage1_fraction=0.6, kl_weight=1.0)
    task = StackGANTask(cfg, (1, 16, 16), cond_dim=2, one_hot=True, num_classes=2, total_steps=240)
    torch.manual_seed(0)
    fresh = task.build()
    res = Trainer(_cfg(tmp_path, 240)).fit(task, make_loader(imgs, labels, 32))
    g = res["modules"]["G"].eval()
    fresh_g = fresh["G"].eval()
    assert task.stage == 2 and "kl" in res["metrics"]
    y = torch.arange(64) % 2
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(3))
    target = _signed(torch.stack([imgs[0], imgs[1]]))[y]
    with torch.no_grad():
        for stage, tgt in ((1, down(target)), (2, target)):
            # the class-mean pictures of the samples against the targets'
            def gap(x: torch.Tensor, tgt: torch.Tensor = tgt) -> float:
                return sum(float((x[y == c].mean(0) - tgt[y == c].mean(0)).pow(2).mean()) for c in (0, 1))

            before, after = gap(fresh_g(z, y, stage=stage)), gap(g(z, y, stage=stage))
            assert after < 0.5 * before, (stage, before, after)


# -- data --------------------------------------------------------------------------------------------------------
def test_condition_csv_rows_by_file_and_bad_rows(tmp_path):
    from pictorch.errors import DataError
    from pictorch.tasks.generate.data import Images, load_condition_csv

    imgs = Images(torch.zeros(3, 1, 8, 8, dtype=torch.uint8), None, [],
                  [str(tmp_path / "a" / "x.png"), str(tmp_path / "a" / "y.png"), str(tmp_path / "b" / "x.png")])
    csv = tmp_path / "c.csv"
    csv.write_text("file,hair,glasses\na/x.png,1,0\ny.png,0,1\nb/x.png,0.5,0.5\n")
    cond, names = load_condition_csv(csv, imgs)
    assert names == ["hair", "glasses"] and cond.tolist() == [[1, 0], [0, 1], [0.5, 0.5]]
    csv.write_text("a/x.png,1,0\ny.png,0,1\n")
    with pytest.raises(DataError, match="no condition row for image .*b/x.png"):
        load_condition_csv(csv, imgs)
    csv.write_text("a/x.png,1,0\ny.png,0,yes\nb/x.png,1,1\n")
    with pytest.raises(DataError, match="line 2: condition values must be numbers"):
        load_condition_csv(csv, imgs)
    csv.write_text("a/x.png,1,nan\n")
    with pytest.raises(DataError, match="finite"):
        load_condition_csv(csv, imgs)
    with pytest.raises(DataError, match="no such condition CSV"):
        load_condition_csv(tmp_path / "missing.csv", imgs)


def test_photo_crops_are_labelled_by_source_photo():
    pytest.importorskip("sklearn")
    from pictorch.tasks.generate.data import photo_crops

    ds = photo_crops(32, per_photo=2)
    assert ds.images.dtype == torch.uint8 and ds.images.shape[1:] == (3, 32, 32)
    assert len(ds.classes) >= 2 and ds.images.shape[0] == 2 * len(ds.classes)
    assert ds.labels.tolist() == [i for i in range(len(ds.classes)) for _ in range(2)]


@pytest.mark.parametrize("model", ["lapgan", "stackgan"])
@pytest.mark.parametrize("g_loss", ["hinge", "wgan-gp"])
def test_other_objectives_of_the_shared_kit_train_a_step(tmp_path, model, g_loss):
    imgs = _target(16)
    cfg = _gan(model, g_loss=g_loss, ngf=8, ndf=8, spectral_norm=False, instance_noise=0.1)
    kw = {"cond_dim": 2, "one_hot": True, "num_classes": 2} if model == "stackgan" else {}
    task = (StackGANTask if model == "stackgan" else LapGANTask)(cfg, (1, 16, 16), total_steps=2, **kw)
    res = Trainer(TrainConfig(out_dir=str(tmp_path / "r"), steps=2, batch_size=8, precision="32-true",
                              accelerator="cpu", progress=False, log_every=1, picture_every=0)).fit(
        task, make_loader(imgs, torch.arange(16) % 2, 8))
    assert res["step"] == 2 and all(v == v for v in res["metrics"].values())
