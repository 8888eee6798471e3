"""Activation maximisation, DeepDream octaves, filters."""

from __future__ import annotations

import pytest
import torch

from pictorch.errors import ConfigError
from pictorch.nn.features import load_frozen
from pictorch.tasks.see.api import (
    DreamConfig,
    FourierImage,
    MaximizeConfig,
    PixelImage,
    dream,
    filter_images,
    maximize,
    octave_sizes,
    random_affine,
)
from pictorch.tasks.see.cli import parse_indices

TORCH_THREADS = 1


@pytest.fixture(scope="module")
def gray_net():
    torch.manual_seed(0)
    return load_frozen("small_cnn:random", in_chans=1, num_classes=10)


@pytest.mark.parametrize("param", ["fourier", "pixel"])
def test_maximize_raises_the_channel_well_above_its_start(gray_net, param):
    res = maximize(gray_net, [0, 3], "stage:1", MaximizeConfig(param=param, steps=25, size=28, lr=0.1),
                   progress=False)
    assert res.images.shape == (2, 1, 28, 28)
    assert 0 <= res.images.min() and res.images.max() <= 1
    for a, b in zip(res.start, res.final, strict=True):
        assert b > a + 5 * max(abs(a), 1e-3), (a, b)


def test_maximize_class_logit_and_bad_indices(gray_net):
    res = maximize(gray_net, [4], None, MaximizeConfig(steps=20, size=28, lr=0.1), progress=False)
    assert res.final[0] > res.start[0] and res.prob is not None and len(res.top1) == 1
    with pytest.raises(ConfigError, match="out of range"):
        maximize(gray_net, [10], None, MaximizeConfig(steps=1, size=28), progress=False)
    with pytest.raises(ConfigError, match="close"):
        maximize(gray_net, [0], "stage:99", MaximizeConfig(steps=1, size=28), progress=False)


def test_dead_unit_is_reported():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
    with torch.no_grad():  # channel 0 can never be positive: its ReLU output and gradient are 0
        net[0].weight[0].zero_()
        net[0].bias[0] = -1.0
        net[0].weight[1].fill_(0.1)  # channel 1 is positive for any picture
        net[0].bias[1] = 0.0
    res = maximize(net, [0, 1], "1", MaximizeConfig(steps=2, size=28), progress=False)
    assert res.dead == [True, False]


def test_parametrisations_are_valid_images():
    g = torch.Generator().manual_seed(0)
    for cls in (FourierImage, PixelImage):
        x = cls(2, 3, (17, 20), generator=g)()
        assert x.shape == (2, 3, 17, 20) and 0 < x.min() and x.max() < 1
    y = random_affine(torch.rand(3, 1, 9, 9), generator=g)
    assert y.shape == (3, 1, 9, 9)


def test_octave_sizes():
    assert octave_sizes(300, 400, 3, 2.0) == [(75, 100), (150, 200), (300, 400)]
    assert octave_sizes(100, 100, 4, 1.4) == [(36, 36), (51, 51), (71, 71), (100, 100)]
    assert octave_sizes(40, 40, 5, 2.0, min_side=16) == [(20, 20), (40, 40)]
    with pytest.raises(ConfigError):
        octave_sizes(10, 10, 0, 2.0)


def test_dream_changes_the_photo_and_makes_frames(gray_net):
    photo = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    out, frames = dream(gray_net, photo, ["stage:1"], DreamConfig(octaves=2, octave_scale=1.5, steps=3, jitter=4,
                                                                 frames=2, frame_steps=1), progress=False)
    assert out.shape == photo.shape and (out - photo).abs().mean() > 1e-3
    assert len(frames) == 2 and frames[0].shape == photo.shape


def test_filters_and_indices(gray_net):
    name, imgs = filter_images(gray_net)
    assert imgs.shape[1] == 1 and 0 <= imgs.min() and imgs.max() <= 1
    assert parse_indices("0-3,7", "x") == [0, 1, 2, 3, 7]
    with pytest.raises(ConfigError):
        parse_indices("a-b", "--channel")
