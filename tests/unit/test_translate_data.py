"""Translation data: joint crop/flip, aligned A|B files, paired/unpaired folders, bad input, built-in splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pictorch.errors import DataError
from pictorch.tasks.translate.data import (
    UnpairedLoader,
    joint_crop_flip,
    load_translation_data,
    make_loader,
    photo_sources,
)

TORCH_THREADS = 1


def test_joint_crop_flip_cuts_the_same_window_from_a_and_b():
    a = torch.randint(0, 255, (16, 1, 12, 14), dtype=torch.uint8)
    b = torch.cat([a, 255 - a, a], 1)  # B is a pixel-wise function of A: stays so only if windows agree
    ca, cb = joint_crop_flip(a, b, crop=8, generator=torch.Generator().manual_seed(0))
    assert ca.shape == (16, 1, 8, 8) and cb.shape == (16, 3, 8, 8)
    assert torch.equal(cb[:, :1], ca) and torch.equal(cb[:, 1:2], 255 - ca)
    # every crop is a (possibly flipped) window of its own source image
    for i in range(16):
        src = a[i, 0].numpy()
        win = ca[i, 0].numpy()
        found = any(np.array_equal(src[y:y + 8, x:x + 8], w) for y in range(5) for x in range(7)
                    for w in (win, win[:, ::-1]))
        assert found
    flipped = sum(not any(np.array_equal(a[i, 0, y:y + 8, x:x + 8].numpy(), ca[i, 0].numpy())
                          for y in range(5) for x in range(7)) for i in range(16))
    assert 0 < flipped < 16
    with pytest.raises(DataError):
        joint_crop_flip(a, b[:, :, :10], 8)


def _save(arr: np.ndarray, path) -> None:
    Image.fromarray(arr).save(path)


def test_aligned_files_split_at_half_width(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        left = rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)
        _save(np.concatenate([left, 255 - left], 1), tmp_path / f"{i}.png")
    d = load_translation_data(str(tmp_path))
    assert d.paired and d.train_a.shape == (3, 3, 10, 12) and torch.equal(d.train_b, 255 - d.train_a)


def test_paired_folders_match_by_name_and_refuse_unmatched(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    for n in ("x", "y"):
        _save(np.full((8, 8), 10, np.uint8), tmp_path / "A" / f"{n}.png")
        _save(np.full((8, 8, 3), 200, np.uint8), tmp_path / "B" / f"{n}.jpg")
    d = load_translation_data(str(tmp_path), channels_a=1, channels_b=3)
    assert d.train_a.shape == (2, 1, 8, 8) and d.train_b.shape == (2, 3, 8, 8)
    other = tmp_path / "other"
    (other / "A").mkdir(parents=True)
    (other / "B").mkdir()
    _save(np.zeros((8, 8, 3), np.uint8), other / "A" / "p.png")
    _save(np.zeros((8, 8, 3), np.uint8), other / "B" / "q.png")
    with pytest.raises(DataError, match="no image pairs"):
        load_translation_data(str(other), paired=True)
    d = load_translation_data(str(other), paired=False)  # the same folders are fine for CycleGAN
    assert not d.paired and len(d.train_a) == len(d.train_b) == 1


def test_pairs_of_different_sizes_and_empty_domains_are_one_line_errors(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    _save(np.zeros((8, 8, 3), np.uint8), tmp_path / "A" / "p.png")
    _save(np.zeros((16, 8, 3), np.uint8), tmp_path / "B" / "p.png")
    with pytest.raises(DataError, match="same size"):
        load_translation_data(str(tmp_path))
    empty = tmp_path / "e"
    (empty / "A").mkdir(parents=True)
    (empty / "B").mkdir()
    _save(np.zeros((8, 8, 3), np.uint8), empty / "B" / "p.png")
    with pytest.raises(DataError):
        load_translation_data(str(empty), paired=False)
    with pytest.raises(DataError, match="no such data folder"):
        load_translation_data(str(tmp_path / "missing"))


def test_data_spec_goes_through_resolve():
    """--data names take the shared road (data/resolve.py): a typo is one line with the close match, and case,
    '-' and '_' do not matter."""
    with pytest.raises(DataError, match="did you mean edges2photo"):
        load_translation_data("edges2phot")
    with pytest.raises(DataError, match="did you mean day2night"):
        load_translation_data("day2nite")
    from pictorch.data.resolve import lookup

    assert lookup("Gray_2_Color", domain="pairs") is not None


def test_unpaired_loader_draws_b_independently_and_resumes_exactly():
    a = torch.arange(12, dtype=torch.uint8).view(12, 1, 1, 1)
    b = torch.arange(100, 105, dtype=torch.uint8).view(5, 1, 1, 1)
    ld = UnpairedLoader(a, b, batch_size=3, seed=1)
    it = iter(ld)
    next(it)
    state = ld.state_dict()
    want = next(it)
    ld2 = UnpairedLoader(a, b, batch_size=3, seed=1)
    ld2.load_state_dict(state)
    got = next(iter(ld2))
    assert torch.equal(got["image"], want["image"]) and torch.equal(got["target"], want["target"])
    assert int(want["target"].min()) >= 100


def test_builtin_photo_tasks_hold_out_whole_photos():
    d = load_translation_data("gray2color", size=16, limit=4)
    assert set(d.info["train_photos"]).isdisjoint(d.info["test_photos"])
    assert len(d.info["train_photos"]) >= 6 and d.test_a is not None
    assert d.train_a.shape[1] == 1 and d.train_b.shape[1] == 3 and d.crop == 16
    assert d.train_a.shape[-1] == 18  # stored 1/8 larger than the crop, for random windows
    assert len(photo_sources()) >= 8
    loader = make_loader(d, batch_size=4)
    batch = next(iter(loader))
    assert set(batch) >= {"image", "target"}


def test_day2night_holds_out_longitude_bands():
    try:
        d = load_translation_data("day2night", size=32, limit=50)
    except DataError as e:
        pytest.skip(str(e))  # xplanet-images not installed (make install-dev installs it)
    assert d.train_a.shape == (50, 3, 36, 36) and d.test_a.shape[1:] == (3, 32, 32)
    assert d.info["held_out_longitude_bands"]
    # night is darker than day on average (city lights on black)
    assert d.train_b.float().mean() < d.train_a.float().mean()


def test_direction_b_to_a_swaps_the_domains():
    a = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    b = torch.ones(2, 3, 4, 4, dtype=torch.uint8)
    from pictorch.tasks.translate.data import TranslationData

    d = TranslationData(a, b, a[:1], b[:1], paired=True, name="x").swapped()
    assert d.in_chans == 3 and d.out_chans == 1 and torch.equal(d.test_a, b[:1]) and d.info["direction"] == "BtoA"


def _earth_with_mask(tmp_path, monkeypatch, mask: np.ndarray) -> None:
    """Skip without NASA's Earth images; else cache ``mask`` as the land grid, standing in for the
    global-land-mask wheel (whose import unpacks 0.9 GB)."""
    from pictorch.tasks.translate.data import XPLANET_DIR

    if not (XPLANET_DIR / "earth.jpg").is_file():
        pytest.skip("xplanet-images not installed (make install-dev installs it)")
    monkeypatch.setenv("PICTORCH_HOME", str(tmp_path))
    (tmp_path / "translate").mkdir()
    np.save(tmp_path / "translate" / "land_mask_1024x512.npy", mask)


def test_labels2satellite_tiles_pair_the_mask_with_the_day_image(tmp_path, monkeypatch):
    mask = np.zeros((512, 1024), bool)
    mask[:, :512] = True  # the left half is land
    _earth_with_mask(tmp_path, monkeypatch, mask)
    d = load_translation_data("labels2satellite", size=32, limit=40)
    assert d.train_a.shape == (40, 1, 36, 36) and d.train_b.shape == (40, 3, 36, 36)
    assert set(d.train_a.unique().tolist()) <= {0, 255} and d.test_a.shape[1:] == (1, 32, 32)


def test_coast_draws_training_tiles_with_land_and_water_and_keeps_the_held_out_tiles(tmp_path, monkeypatch):
    mask = np.zeros((512, 1024), bool)
    mask[:256] = True  # the northern half is land: a coast along the equator
    _earth_with_mask(tmp_path, monkeypatch, mask)
    plain = load_translation_data("labels2satellite", size=32, limit=40)
    coast = load_translation_data("labels2satellite", size=32, limit=40, coast=1.0)
    assert torch.equal(plain.test_a, coast.test_a) and torch.equal(plain.test_b, coast.test_b)
    lo, hi = coast.train_a.flatten(1).amin(1), coast.train_a.flatten(1).amax(1)
    assert coast.train_a.shape == (40, 1, 36, 36) and bool(((lo == 0) & (hi == 255)).all())
    assert coast.info["coast"] == 1.0 and "coast" not in plain.info
    flat = plain.train_a.flatten(1)
    assert bool((flat.amin(1) == flat.amax(1)).any())  # as they fall, most tiles lie off the coast
