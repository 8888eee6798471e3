"""Compound scaling pieces: the candidate grid under α·β²·γ² ≈ 2, counted FLOPs, the score, scaling with
EfficientNet."""

from __future__ import annotations

import pytest
import torch

from pictorch import create_model
from pictorch.errors import ConfigError
from pictorch.tasks.classify.scale import candidates, count_flops, efficiency_score, model_flops


def test_candidates_satisfy_the_constraint_closest_first():
    grid = (1.0, 1.1, 1.2, 1.3, 1.4)
    all_c = candidates(grid, 2.0, 0.1)
    brute = [(a, b, g) for a in grid for b in grid for g in grid if abs(a * b * b * g * g - 2) <= 0.1 + 1e-9]
    assert sorted(all_c) == sorted(brute) and len(all_c) == 15
    devs = [abs(a * b * b * g * g - 2) for a, b, g in all_c]
    assert devs == sorted(devs)
    assert candidates(grid, 2.0, 0.1, max_candidates=3) == all_c[:3]
    with pytest.raises(ConfigError, match="no \\(alpha, beta, gamma\\)"):
        candidates((1.0, 1.05), 2.0, 0.01)
    with pytest.raises(ConfigError, match=">= 1"):
        candidates((0.9, 1.2))


def test_counted_flops_match_a_hand_count():
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1, bias=False), torch.nn.Flatten(),
                            torch.nn.Linear(4 * 8 * 8, 10, bias=False))
    # conv: 8·8 outputs × 4 channels × 9 MACs; linear: 256 × 10 MACs; 2 FLOPs per MAC
    assert count_flops(m, (1, 1, 8, 8)) == 2 * (8 * 8 * 4 * 9 + 256 * 10)


def test_model_flops_grow_with_each_multiplier():
    base = model_flops("classify.scalable_cnn", 1.0, 1.0, 1, 10, 28)
    assert model_flops("classify.scalable_cnn", 1.0, 1.0, 1, 10, 40) == pytest.approx(base * (40 / 28) ** 2,
                                                                                     rel=0.02)
    assert model_flops("classify.scalable_cnn", 2.0, 1.0, 1, 10, 28) == pytest.approx(base * 4, rel=0.1)
    assert model_flops("classify.scalable_cnn", 1.0, 2.0, 1, 10, 28) > 1.8 * base
    m = create_model("classify.scalable_cnn", in_chans=1, num_classes=10)
    assert count_flops(m, (1, 1, 28, 28)) == base  # meta-device count equals the real one


def test_efficientnet_is_scalable_by_name():
    f0 = model_flops("efficientnet", 1.0, 1.0, 3, 10, 32)
    f1 = model_flops("efficientnet", 1.1, 1.2, 3, 10, 32)
    assert f1 > f0 > 0


def test_score_penalizes_flops_above_the_target():
    assert efficiency_score(0.9, 100, 100) == pytest.approx(0.9)
    assert efficiency_score(0.9, 200, 100) == pytest.approx(0.9 * 2 ** -0.07)
    assert efficiency_score(0.9, 50, 100) > 0.9
