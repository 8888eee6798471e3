"""Tiled inference against whole-image inference; the loaded Segmenter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pictorch import create_model
from pictorch.errors import ConfigError
from pictorch.tasks.segment.inference import probabilities, ramp, resolve_tile

TORCH_THREADS = 1


class PixelNet(nn.Module):
    """A 1×1-conv network: its receptive field is one pixel, so tiling must not change anything."""

    multiple = 1

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 1), nn.ReLU(), nn.Conv2d(8, 3, 1))

    def forward(self, x):
        return self.net(x)


def test_tiled_equals_whole_image_for_a_pixelwise_net_at_any_tiling():
    torch.manual_seed(0)
    net = PixelNet().eval()
    x = torch.randn(1, 1, 70, 45)
    whole = probabilities(net, x, binary=False)
    for tile, overlap in [(16, 4), (32, 8), (20, 0), (64, 32)]:
        tiled = probabilities(net, x, binary=False, tile=tile, overlap=overlap)
        assert torch.allclose(tiled, whole, atol=1e-6), (tile, overlap)


def test_tiled_equals_whole_image_where_one_tile_covers_it():
    torch.manual_seed(0)
    model = create_model("segment.unet", in_chans=1, num_classes=1, width=4, depth=2).eval()
    x = torch.randn(1, 1, 40, 52)
    whole = probabilities(model, x, binary=True)
    assert torch.equal(probabilities(model, x, binary=True, tile=64, overlap=16), whole)
    tiled = probabilities(model, x, binary=True, tile=32, overlap=16)
    assert tiled.shape == whole.shape == (1, 2, 40, 52)
    assert torch.allclose(tiled.sum(1), torch.ones(1, 40, 52), atol=1e-5)
    # a conv net sees other borders inside tiles: close, not equal
    assert (tiled - whole).abs().mean() < 0.1


def test_ramp_and_tile_options():
    r = ramp(16, 8)
    assert r.min() > 0 and r.max() == 1 and torch.allclose(r, r.flip(0))
    assert resolve_tile("auto", 100, 100) is None and resolve_tile("auto", 4000, 4000) == 512
    assert resolve_tile(0, 10, 10) is None and resolve_tile(128, 10, 10) == 128
    with pytest.raises(ConfigError):
        resolve_tile(4, 10, 10)
    with pytest.raises(ConfigError):
        probabilities(PixelNet(), torch.zeros(1, 1, 50, 50), False, tile=16, overlap=16)
