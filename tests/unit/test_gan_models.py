"""GAN models: shapes for every registered G/D, DCGAN size rules, conditioning, the no-FC trick, rebuild."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pictorch.engine.checkpoint import load_model, save_checkpoint
from pictorch.errors import ConfigError
from pictorch.registry import MODELS, create_model
from pictorch.tasks.generate.models import dcgan_plan, label_vector
from pictorch.tasks.generate.steps import build_gan
from pictorch.tasks.generate.tricks import GANConfig

torch.manual_seed(0)


def test_registry_has_all_gan_models_and_they_run():
    names = [n for n in MODELS.names(tag="gan")]
    assert set(names) == {"gan.mlp_g", "gan.mlp_d", "gan.dcgan_g", "gan.dcgan_d", "gan.lapgan_g", "gan.lapgan_d",
                          "gan.stackgan_g", "gan.stackgan_d"}
    z = torch.randn(3, 16)
    g = create_model("gan.mlp_g", z_dim=16, out_shape=[1, 28, 28], hidden=[32, 64])
    d = create_model("gan.mlp_d", in_shape=[1, 28, 28], hidden=[64, 32])
    x = g(z)
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1.0
    assert d(x).shape == (3,)


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (36, 1), (64, 3)])
def test_dcgan_any_multiple_of_four(size, channels):
    g = create_model("gan.dcgan_g", z_dim=8, image_size=size, channels=channels, ngf=8)
    d = create_model("gan.dcgan_d", image_size=size, channels=channels, ndf=8)
    x = g(torch.randn(2, 8))
    assert x.shape == (2, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output matches inputs scaled to [-1, 1]
    assert d(x).shape == (2,)


def test_dcgan_architecture_follows_the_lecture():
    g = create_model("gan.dcgan_g", z_dim=8, image_size=32, ngf=8)
    d = create_model("gan.dcgan_d", image_size=32, ndf=8)
    gm, dm = list(g.modules()), list(d.modules())
    assert not any(isinstance(m, nn.Linear) for m in gm + dm)  # no fully connected layers
    assert not any(isinstance(m, nn.MaxPool2d | nn.AvgPool2d) for m in gm + dm)  # strided convs instead
    assert any(isinstance(m, nn.ConvTranspose2d) for m in gm) and any(isinstance(m, nn.BatchNorm2d) for m in gm)
    assert any(isinstance(m, nn.ReLU) for m in gm) and isinstance(g.net[-1], nn.Tanh)
    assert any(isinstance(m, nn.LeakyReLU) for m in dm) and not any(isinstance(m, nn.ReLU) for m in dm)
    fc = create_model("gan.dcgan_g", z_dim=8, image_size=32, ngf=8, fully_connected=True)
    assert any(isinstance(m, nn.Linear) for m in fc.modules())
    assert fc(torch.randn(2, 8)).shape == (2, 1, 32, 32)


@pytest.mark.parametrize("bad", [30, 24, 26, 0])
def test_bad_image_size_names_allowed_sizes(bad):
    with pytest.raises(ConfigError, match=r"image size .* multiple of 4 from 28 up \(28, 32, 36"):
        dcgan_plan(bad)
    with pytest.raises(ConfigError, match="multiple of 4"):
        GANConfig(model="dcgan", image_size=bad)


def test_dcgan_plan_values():
    assert dcgan_plan(28) == (7, 2)
    assert dcgan_plan(32) == (4, 3)
    assert dcgan_plan(64) == (4, 4)
    assert dcgan_plan(36) == (9, 2)


def test_conditional_models_take_indices_and_multi_hot():
    g = create_model("gan.dcgan_g", z_dim=8, image_size=28, ngf=8, num_classes=3)
    d = create_model("gan.dcgan_d", image_size=28, ndf=8, num_classes=3)
    z = torch.randn(4, 8)
    y = torch.tensor([0, 1, 2, 1])
    multi = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    g.eval()
    x1, x2 = g(z, y), g(z, multi)
    assert x1.shape == x2.shape == (4, 1, 28, 28)
    # the one-hot row equals the index label; the label actually changes the output
    torch.testing.assert_close(x1[2], x2[2], atol=1e-5, rtol=1e-4)
    assert (g(z, torch.zeros(4, dtype=torch.long)) - x1).abs().max() > 1e-6
    assert d(x1, y).shape == (4,)
    with pytest.raises(ConfigError, match="conditional"):
        g(z)
    with pytest.raises(ConfigError, match="multi-hot"):
        label_vector(torch.zeros(4, 5), 3)


def test_spectral_norm_and_checkpoint_rebuild(tmp_path):
    cfg = GANConfig(model="cdcgan", image_size=28, ngf=8, ndf=8, spectral_norm=True, z_dim=8)
    mods = build_gan(cfg, (1, 28, 28), num_classes=3)
    assert any("parametrizations" in k for k in mods["D"].state_dict())
    save_checkpoint(tmp_path / "g.safetensors", mods, {"task": "generate"})
    loaded = load_model(tmp_path / "g.safetensors")
    assert set(loaded) == {"G", "D"}
    z, y = torch.randn(2, 8), torch.tensor([0, 2])
    mods["G"].eval()
    torch.testing.assert_close(loaded["G"](z, y), mods["G"](z, y))


def test_wgan_gp_critic_has_no_batchnorm():
    mods = build_gan(GANConfig(model="dcgan", g_loss="wgan-gp", ngf=8, ndf=8), (1, 28, 28))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in mods["D"].modules())


def test_projection_of_z_is_the_transposed_conv_it_replaces():
    g = create_model("gan.dcgan_g", z_dim=8, image_size=28, ngf=8)
    z = torch.randn(3, 8)
    h = g.project(z[:, :, None, None])  # the registered layer, run as a transposed conv
    torch.testing.assert_close(g.net(h), g(z))
    gl = g.to(memory_format=torch.channels_last)
    torch.testing.assert_close(gl(z), g.net(h), atol=1e-6, rtol=1e-5)


def test_conditional_bn_steers_every_stage_and_old_specs_still_build():
    g = create_model("gan.dcgan_g", z_dim=8, image_size=28, ngf=8, num_classes=3, cond_bn=True)
    from pictorch.tasks.generate.models import CondBatchNorm2d

    cbn = [m for m in g.modules() if isinstance(m, CondBatchNorm2d)]
    assert len(cbn) == 2 and not any(type(m) is nn.BatchNorm2d for m in g.net)
    g.eval()
    z = torch.randn(4, 8)
    x1 = g(z, torch.tensor([0, 1, 2, 1]))
    x2 = g(z, torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]))
    torch.testing.assert_close(x1, x2)
    # with the z embedding zeroed, the label still changes the image (through the BN gains/shifts)
    with torch.no_grad():
        g.embed.weight.zero_()
    assert (g(z, torch.zeros(4, dtype=torch.long)) - g(z, torch.full((4,), 2))).abs().max() > 1e-4
    # a checkpoint spec without the new options rebuilds the old architecture
    old = create_model("gan.dcgan_g", z_dim=8, image_size=28, ngf=8, num_classes=3)
    assert not any(isinstance(m, CondBatchNorm2d) for m in old.modules())
    mods = build_gan(GANConfig(model="cdcgan", ngf=8, ndf=8, z_dim=8, aux_weight=0.0), (1, 28, 28), num_classes=3)
    assert mods["G"].pictorch_spec["kwargs"]["cond_bn"] is True
    assert "aux_classifier" not in mods["D"].pictorch_spec["kwargs"]
    # the AC head is on by default for conditional models and never for unconditional ones
    mods = build_gan(GANConfig(model="cdcgan", ngf=8, ndf=8, z_dim=8), (1, 28, 28), num_classes=3)
    assert mods["D"].pictorch_spec["kwargs"]["aux_classifier"] is True
    mods = build_gan(GANConfig(model="dcgan", ngf=8, ndf=8, z_dim=8), (1, 28, 28), num_classes=3)
    assert "aux_classifier" not in mods["D"].pictorch_spec["kwargs"]


@pytest.mark.parametrize("model", ["cdcgan", "cgan"])
def test_auxiliary_classifier_head(model):
    cfg = GANConfig(model=model, ngf=8, ndf=8, z_dim=8, hidden=32, aux_weight=1.0)
    mods = build_gan(cfg, (1, 28, 28), num_classes=3)
    x, y = torch.rand(4, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 2, 0])
    out, aux = mods["D"](x, y, return_aux=True)
    assert out.shape == (4,) and aux.shape == (4, 3)
    torch.testing.assert_close(mods["D"].eval()(x, y), mods["D"](x, y, return_aux=True)[0])
    with pytest.raises(ConfigError, match="aux-weight"):
        GANConfig(model=model, aux_weight=-1)


@pytest.mark.parametrize("model", ["cdcgan", "cgan"])
def test_auxiliary_head_cannot_read_the_label(model):
    """With the AC head on, D's features (and so the head) do not depend on y: it must recognise the class."""
    cfg = GANConfig(model=model, ngf=8, ndf=8, z_dim=8, hidden=32, aux_weight=1.0)
    d = build_gan(cfg, (1, 28, 28), num_classes=3)["D"].eval()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    out0, aux0 = d(x, torch.zeros(4, dtype=torch.long), return_aux=True)
    out2, aux2 = d(x, torch.full((4,), 2), return_aux=True)
    torch.testing.assert_close(aux0, aux2)
    assert (out0 - out2).abs().max() > 0  # the projection still conditions D's verdict
