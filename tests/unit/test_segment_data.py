"""Segmentation data: mask formats, clear errors, nuclei folds, crop loader, joint augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pictorch.data.augment_masks import JointAugment, parse_joint_augment
from pictorch.errors import ConfigError, DataError
from pictorch.tasks.segment.data import CropLoader, SegSet, load_mask_folder, quadrant_folds

TORCH_THREADS = 1


def _folder(tmp_path, masks: dict, images: dict | None = None, classes=None):
    (tmp_path / "images").mkdir(parents=True)
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for name, m in masks.items():
        h, w = (m.shape[:2] if not isinstance(m, Image.Image) else (m.height, m.width))
        arr = (images or {}).get(name, rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        Image.fromarray(arr).save(tmp_path / "images" / f"{name}.jpg")
        (m if isinstance(m, Image.Image) else Image.fromarray(m)).save(tmp_path / "masks" / f"{name}_mask.png")
    if classes is not None:
        (tmp_path / "classes.json").write_text(json.dumps(classes))
    return tmp_path


def test_binary_0_255_masks(tmp_path):
    m = np.zeros((12, 10), np.uint8)
    m[2:5, 3:7] = 255
    ds = load_mask_folder(_folder(tmp_path, {"a": m, "b": np.zeros((9, 14), np.uint8)}))
    assert ds.classes == ["background", "foreground"] and ds.mask_format.startswith("binary")
    assert ds.masks[0].tolist() == (m == 255).astype(np.uint8).tolist()
    assert [tuple(im.shape) for im in ds.images] == [(3, 12, 10), (3, 9, 14)]


def test_index_and_palette_masks(tmp_path):
    m = np.array([[0, 1, 2], [2, 1, 255]], np.uint8)
    p = Image.fromarray(m, mode="P")
    pal = [0, 0, 0, 200, 10, 10, 10, 200, 10] + [0] * (768 - 9)
    p.putpalette(pal)
    ds = load_mask_folder(_folder(tmp_path, {"a": p}))
    assert ds.mask_format == "palette" and len(ds.classes) == 3
    assert ds.masks[0].tolist() == m.tolist()  # 255 kept: not scored
    assert ds.colors[1] == (200, 10, 10)


def test_rgb_colour_maps_auto_and_declared(tmp_path):
    m = np.zeros((4, 5, 3), np.uint8)
    m[1, :] = (255, 0, 0)
    m[2, :] = (0, 0, 255)
    ds = load_mask_folder(_folder(tmp_path / "a", {"x": m}))
    assert ds.mask_format == "rgb" and ds.classes[0] == "background" and len(ds.classes) == 3
    assert ds.masks[0][1, 0] != ds.masks[0][2, 0] and int(ds.masks[0][0, 0]) == 0
    declared = {"names": ["bg", "road", "sky"], "colors": [[0, 0, 0], [0, 0, 255], [255, 0, 0]]}
    ds = load_mask_folder(_folder(tmp_path / "b", {"x": m}, classes=declared))
    assert ds.classes == ["bg", "road", "sky"] and int(ds.masks[0][1, 0]) == 2 and int(ds.masks[0][2, 0]) == 1
    m2 = m.copy()
    m2[3, 0] = (0, 255, 0)
    with pytest.raises(DataError, match=r"colour \(0, 255, 0\) is not one of the 3 declared"):
        load_mask_folder(_folder(tmp_path / "c", {"x": m2}, classes=declared))


def test_bad_folders_fail_with_one_clear_line(tmp_path):
    m = np.zeros((6, 6), np.uint8)
    root = _folder(tmp_path / "size", {"a": m}, images={"a": np.zeros((6, 8, 3), np.uint8)})
    with pytest.raises(DataError, match="mask is 6×6 but its image a.jpg is 8×6"):
        load_mask_folder(root)
    root = _folder(tmp_path / "nomask", {"a": m})
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(root / "images" / "lonely.png")
    with pytest.raises(DataError, match="lonely.png: no mask"):
        load_mask_folder(root)
    m3 = np.array([[0, 1], [2, 7]], np.uint8)
    root = _folder(tmp_path / "range", {"a": m3})
    with pytest.raises(DataError, match=r"class value 7 outside the 3 declared classes.*values found"):
        load_mask_folder(root, classes=["bg", "a", "b"])
    with pytest.raises(DataError, match="images/ and a masks/"):
        load_mask_folder(tmp_path / "range" / "images")


def test_quadrant_folds_partition_the_image():
    im = torch.arange(64, dtype=torch.uint8).reshape(1, 8, 8)
    ds = SegSet([im], [(im % 2).to(torch.uint8)], ["background", "fg"])
    for fold in range(4):
        train, test = quadrant_folds(ds, fold)
        assert len(train) == 3 and len(test) == 1
        got = sorted(torch.cat([t.flatten() for t in train.images + test.images]).tolist())
        assert got == list(range(64))
    _, test = quadrant_folds(ds, 3)
    assert test.images[0][0, 0, 0] == 4 * 8 + 4
    with pytest.raises(DataError):
        quadrant_folds(ds, 4)


def test_crop_loader_mixed_sizes_resume_and_padding():
    ims = [torch.full((1, 20, 30), 1, dtype=torch.uint8), torch.full((1, 6, 9), 2, dtype=torch.uint8)]
    ds = SegSet(ims, [torch.ones(20, 30, dtype=torch.uint8), torch.ones(6, 9, dtype=torch.uint8)], ["b", "f"])
    loader = CropLoader(ds, crop=16, batch_size=8, batches_per_epoch=3, seed=1)
    batches = list(loader)
    assert len(batches) == 3 and batches[0]["image"].shape == (8, 1, 16, 16)
    small = [i for b in batches for i in range(8) if int(b["image"][i].max()) == 2]
    if small:  # a crop of the small image: its padding is masked out
        b = next(b for b in batches if (b["image"].amax((1, 2, 3)) == 2).any())
        j = int((b["image"].amax((1, 2, 3)) == 2).nonzero()[0])
        assert (b["mask"][j, 6:, :] == 255).all() and (b["mask"][j, :6, :9] == 1).all()
    loader.set_epoch(0)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    again = CropLoader(ds, crop=16, batch_size=8, batches_per_epoch=3, seed=1)
    again.load_state_dict(state)
    assert torch.equal(next(iter(again))["image"], batches[1]["image"])


def test_joint_augment_keeps_pairs_aligned_and_masks_nearest():
    torch.manual_seed(0)
    b, h, w = 6, 24, 24
    masks = torch.randint(0, 4, (b, h, w))
    masks[:, :2] = 255
    images = masks.unsqueeze(1).float() * 10.0  # image = 10 × label: alignment is checkable pixel by pixel
    aug = JointAugment(**parse_joint_augment("strong")).train()
    g = torch.Generator().manual_seed(0)
    out_i, out_m = aug(images, masks, generator=g)
    assert out_i.shape == images.shape and out_m.shape == masks.shape and out_m.dtype == masks.dtype
    assert set(out_m.unique().tolist()) <= set(masks.unique().tolist())  # never interpolated into new values
    # flips/turns only: exact permutations of the pairs
    flips = JointAugment(hflip=1.0, vflip=1.0, rot90=1.0).train()
    fi, fm = flips(images, masks, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fi[:, 0], fm.float() * 10.0)
    # resampled: where the image is not blended between labels, it equals its mask's label
    pure = (out_i[:, 0] / 10.0 - out_i[:, 0].div(10.0).round()).abs() < 1e-4
    agree = (out_i[:, 0] / 10.0).round() == out_m.float()
    assert float((agree & pure).sum()) / float(pure.sum()) > 0.97
    aug.eval()
    same_i, same_m = aug(images, masks)
    assert same_i is images and same_m is masks
    with pytest.raises(ConfigError):
        parse_joint_augment("twirl=1")
    with pytest.raises(ConfigError):
        JointAugment(crop=1.5)


def test_real_nuclei_image_from_the_stardist_wheel():
    import importlib.util

    if importlib.util.find_spec("stardist") is None:
        pytest.skip("stardist wheel not installed (make install-dev installs it with --no-deps)")
    from pictorch.tasks.segment.data import load_nuclei

    ds = load_nuclei()
    assert len(ds) == 1 and tuple(ds.images[0].shape) == (1, 512, 512) and ds.images[0].dtype == torch.uint8
    fg = float(ds.masks[0].float().mean())
    assert 0.15 < fg < 0.25  # the 125 hand-drawn nuclei cover a fifth of the image
    train, test = quadrant_folds(ds, 2)
    assert [tuple(m.shape) for m in train.masks + test.masks] == [(256, 256)] * 4


def test_stardist_missing_is_a_clear_error(monkeypatch):
    import importlib.util

    from pictorch.tasks.segment import data as segdata

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "stardist" else real(name, *a))
    with pytest.raises(DataError, match="pip install --no-deps stardist"):
        segdata.stardist_files()


def test_earth_missing_image_is_a_clear_error(monkeypatch, tmp_path):
    from pictorch.tasks.segment.data import load_earth

    monkeypatch.setenv("PICTORCH_EARTH_IMAGE", str(tmp_path / "no-earth.jpg"))
    with pytest.raises(DataError, match="apt-get install xplanet-images"):
        load_earth()


def test_fashion_clutter_masks_are_exact_and_reproducible():
    import importlib.util
    from pathlib import Path

    if importlib.util.find_spec("skimage") is None and not Path("/usr/share/xplanet/images").is_dir():
        pytest.skip("no background photos (scikit-image or xplanet-images)")
    from pictorch.tasks.segment.clutter import ALPHA, fashion_clutter

    try:
        ds = fashion_clutter(6, "test", seed=3)
    except DataError as e:
        pytest.skip(str(e))
    again = fashion_clutter(6, "test", seed=3)
    assert all(torch.equal(a, b) for a, b in zip(ds.masks, again.masks, strict=True))
    assert len(ds.classes) == 11 and ds.classes[0] == "background"
    for im, m in zip(ds.images, ds.masks, strict=True):
        assert im.shape == (1, 64, 64) and m.shape == (64, 64) and int(m.max()) <= 10
        assert (m > 0).any() and (im[0][m > 0] >= ALPHA).all()  # item pixels are the item's own, above alpha
