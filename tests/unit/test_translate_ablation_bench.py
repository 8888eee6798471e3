"""The ablation bench's interior FCN-score (bench/translate_ablation.py): which pixels count and how they score."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

TORCH_THREADS = 1
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
ab = pytest.importorskip("translate_ablation")


def _half_mask(size: int = 32) -> torch.Tensor:
    m = torch.zeros(1, 1, size, size, dtype=torch.uint8)
    m[..., :, size // 2:] = 255  # land on the right half, coast between columns 15 and 16
    return m


def test_interior_keeps_only_pixels_far_from_the_other_class():
    land, water = ab.interior(_half_mask(), 4)
    # a column counts when no pixel of the other class is within 4 px: land from column 20, water up to 11
    assert land[0, 0, 0].nonzero().flatten().tolist() == list(range(20, 32))
    assert water[0, 0, 0].nonzero().flatten().tolist() == list(range(0, 12))
    assert not (land & water).any()


class _Constant(torch.nn.Module):
    """A judge that says land where the image's first channel is bright (a stand-in for a trained one)."""

    view = staticmethod(lambda x: x.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] - 127.5


def test_fcn_interior_scores_land_and_water_recall_and_their_mean():
    m = _half_mask()
    right = ab.fcn_interior(_Constant(), m.expand(-1, 3, -1, -1), m, 4)
    assert right == {"int_land": 1.0, "int_water": 1.0, "int_bacc": 1.0}
    all_land = ab.fcn_interior(_Constant(), torch.full((1, 3, 32, 32), 255, dtype=torch.uint8), m, 4)
    assert all_land == {"int_land": 1.0, "int_water": 0.0, "int_bacc": 0.5}  # relief everywhere: chance


def test_receptive_radius_of_the_texture_judge():
    judge = ab.Segmenter(in_chans=1)
    judge.view = ab._texture
    assert ab.receptive_radius(judge) == 1 + 2 + 4 + 1 + 2


def test_highpass_rms_sees_texture_on_land_only_where_painted():
    m = _half_mask()
    flat = m.expand(-1, 3, -1, -1).clone()
    assert ab.highpass_rms(flat, m, 4) == {"hp_land": 0.0, "hp_water": 0.0}  # the coastline is out of sight
    textured = flat.clone()
    textured[..., ::2, 20:] = 200  # stripes on interior land only
    hp = ab.highpass_rms(textured, m, 4)
    assert hp["hp_land"] > 0.05 and hp["hp_water"] == 0.0


def test_majority_score_is_the_chance_level_of_a_constant_judge():
    m = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    m[..., :1, :] = 255  # a quarter land
    assert ab.majority_score(m) == {"fcn_acc": 0.75, "fcn_miou": 0.375}
    right = ab.fcn_score(_Constant(), torch.zeros(1, 3, 4, 4, dtype=torch.uint8), m)  # says water everywhere
    assert right == {"fcn_acc": 0.75, "fcn_miou": 0.375}


class _Tiles:
    def __init__(self, train_a: torch.Tensor, train_b: torch.Tensor, test_a: torch.Tensor, test_b: torch.Tensor):
        self.train_a, self.train_b, self.test_a, self.test_b = train_a, train_b, test_a, test_b


def test_aligned_masks_takes_the_labels_of_the_same_day_tiles_and_refuses_others():
    g = torch.Generator().manual_seed(0)
    day_tr, day_te = (torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8) for n in (3, 2))
    mask_tr, mask_te = (torch.randint(0, 2, (n, 1, 8, 8), generator=g, dtype=torch.uint8) * 255 for n in (3, 2))
    night = _Tiles(day_tr, day_tr // 4, day_te, day_te // 4)  # day2night: A = day, B = night
    labels = _Tiles(mask_tr, day_tr, mask_te, day_te)  # labels2satellite: A = mask, B = day
    m_tr, m_te = ab.aligned_masks(night, labels)
    assert torch.equal(m_tr, mask_tr) and torch.equal(m_te, mask_te)
    moved = _Tiles(mask_tr, day_tr.roll(1, 0), mask_te, day_te)
    with pytest.raises(ValueError, match="not cut where"):
        ab.aligned_masks(night, moved)
