"""ImageSet, TensorLoader, normalization, PKSampler, Augment and synthetic data."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from pictorch.data import ImageSet
from pictorch.data.augment import Augment
from pictorch.data.loader import TensorLoader, denormalize, to_float, to_uint8
from pictorch.data.samplers import PKSampler
from pictorch.data.synthetic import SHAPE_NAMES, noise_patterns, synthetic_shapes, toy_identities
from pictorch.errors import ConfigError, DataError


def _data(n: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return images, torch.arange(n, dtype=torch.int64) % 5


# ---------------------------------------------------------------- ImageSet


def test_imageset_validation_and_ops():
    images, labels = _data(20)
    ds = ImageSet(images, labels, [f"c{i}" for i in range(5)], paths=[f"p{i}" for i in range(20)])
    assert len(ds) == 20 and ds.num_channels == 1 and ds.image_size == (2, 2)
    with pytest.raises(DataError, match="uint8"):
        ImageSet(images.float(), labels, ds.classes)
    with pytest.raises(DataError, match="labels"):
        ImageSet(images, labels[:5], ds.classes)
    with pytest.raises(DataError, match="int64"):
        ImageSet(images, labels.int(), ds.classes)
    with pytest.raises(DataError, match="masks"):
        ImageSet(images, labels, ds.classes, masks=torch.zeros(20, 3, 3, dtype=torch.uint8))
    sub = ds.subset([3, 1])
    assert sub.labels.tolist() == [3, 1] and sub.paths == ["p3", "p1"]
    kept = ds.filter_classes([4, 1])
    assert kept.classes == ["c4", "c1"] and len(kept) == 8
    assert sorted(Counter(kept.labels.tolist()).items()) == [(0, 4), (1, 4)]
    assert (kept.images[kept.labels == 0].flatten() % 5 == 4).all()  # relabelled class 0 is old class 4
    raw = ds.filter_classes([4], relabel=False)
    assert raw.labels.unique().tolist() == [4] and raw.classes == ds.classes


def test_imageset_split_stratified_and_deterministic():
    images, labels = _data(50)
    ds = ImageSet(images, labels, [str(i) for i in range(5)])
    rest, held = ds.split(0.2, seed=3)
    assert len(rest) + len(held) == 50
    assert Counter(held.labels.tolist()) == {c: 2 for c in range(5)}
    assert set(rest.images[:, 0, 0, 0].tolist()).isdisjoint(held.images[:, 0, 0, 0].tolist())
    _, held2 = ds.split(0.2, seed=3)
    assert torch.equal(held.images, held2.images)
    with pytest.raises(DataError):
        ds.split(1.5)


# ---------------------------------------------------------------- TensorLoader


def _epoch_indices(loader: TensorLoader) -> list[int]:
    return [i for b in loader for i in b["index"].tolist()]


def test_loader_batches_and_reproducibility():
    images, labels = _data(50)
    masks = torch.arange(50, dtype=torch.int64) * 10
    loader = TensorLoader(images, labels, batch_size=8, seed=1, extras={"target": masks})
    assert len(loader) == 6
    batches = list(loader)
    assert len(batches) == 6
    b = batches[0]
    assert set(b) == {"image", "label", "index", "target"}
    assert b["image"].dtype == torch.uint8 and b["image"].shape == (8, 1, 2, 2)
    assert b["label"].dtype == torch.int64 and b["index"].dtype == torch.int64
    assert torch.equal(b["image"][:, 0, 0, 0].long(), b["index"])
    assert torch.equal(b["label"], b["index"] % 5) and torch.equal(b["target"], b["index"] * 10)
    epoch0 = [i for x in batches for i in x["index"].tolist()]
    assert len(set(epoch0)) == 48
    assert loader.epoch == 1  # a full pass moves on to the next epoch
    epoch1 = _epoch_indices(loader)
    assert epoch1 != epoch0
    loader.set_epoch(0)
    assert _epoch_indices(loader) == epoch0
    other = TensorLoader(images, labels, batch_size=8, seed=1)
    assert _epoch_indices(other) == epoch0  # same (seed, epoch) -> same order
    seq = TensorLoader(images, batch_size=16, shuffle=False, drop_last=False)
    sizes = [len(x["index"]) for x in seq]
    assert sizes == [16, 16, 16, 2] and len(seq) == 4 and "label" not in next(iter(seq))


def test_loader_accepts_imageset_and_checks_sizes():
    ds = synthetic_shapes(10, size=8)
    loader = TensorLoader(ds, batch_size=5)
    assert next(iter(loader))["label"].shape == (5,)
    with pytest.raises(DataError, match="fewer than batch_size"):
        TensorLoader(ds, batch_size=64)
    with pytest.raises(DataError, match="labels"):
        TensorLoader(ds.images, torch.zeros(3, dtype=torch.int64))


def test_loader_shards_are_disjoint_and_equal():
    images, labels = _data(50)
    world = 3
    per_rank = []
    for rank in range(world):
        loader = TensorLoader(images, labels, batch_size=4, seed=7).shard(rank, world)
        loader.set_epoch(2)
        per_rank.append(_epoch_indices(loader))
        assert len(loader) == 4  # 50 // 3 = 16 items -> 4 batches
    assert all(len(r) == 16 for r in per_rank)
    flat = [i for r in per_rank for i in r]
    assert len(set(flat)) == len(flat) == 48


def test_loader_exact_mid_epoch_resume():
    images, labels = _data(50)
    ref = TensorLoader(images, labels, batch_size=5, seed=4)
    ref.set_epoch(3)
    full = [b["index"].tolist() for b in ref]
    run = TensorLoader(images, labels, batch_size=5, seed=4)
    run.set_epoch(3)
    it = iter(run)
    seen = [next(it)["index"].tolist() for _ in range(4)]
    state = run.state_dict()
    assert state == {"epoch": 3, "position": 4}
    resumed = TensorLoader(images, labels, batch_size=5, seed=4)
    resumed.load_state_dict(state)
    rest = [b["index"].tolist() for b in resumed]
    assert seen + rest == full
    assert resumed.state_dict() == {"epoch": 4, "position": 0}


def test_loader_with_pk_sampler_and_to_device():
    images, labels = _data(60)
    sampler = PKSampler(labels, p=3, k=4, seed=0)
    loader = TensorLoader(images, labels, batch_size=999, batch_sampler=sampler).to("cpu")
    assert len(loader) == len(sampler) == 5
    for b in loader:
        assert len(b["index"]) == 12 and len(b["label"].unique()) == 3
    assert loader.device.type == "cpu"


def test_to_float_and_back():
    x = torch.tensor([[[[0, 255]], [[51, 102]], [[255, 0]]]], dtype=torch.uint8)
    y = to_float(x, mean=[0.5, 0.2, 0.5], std=[0.5, 0.2, 0.5])
    assert y.dtype == torch.float32
    assert torch.allclose(y[0, :, 0, 0], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.allclose(to_float(x), x.float() / 255)
    assert torch.equal(to_uint8(y, [0.5, 0.2, 0.5], [0.5, 0.2, 0.5]), x)
    assert torch.allclose(denormalize(to_float(x, 0.5, 0.25), 0.5, 0.25), x.float() / 255, atol=1e-6)
    with pytest.raises(DataError, match="channels"):
        to_float(x, mean=[0.1, 0.2], std=1.0)


# ---------------------------------------------------------------- PKSampler


def test_pk_sampler_composition():
    labels = torch.tensor([0] * 6 + [1] * 2 + [2] * 5 + [3] * 1 + [4] * 4)
    sampler = PKSampler(labels, p=3, k=4, seed=5, batches_per_epoch=20)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 20
    for b in batches:
        assert len(b) == 12
        ids = Counter(labels[b].tolist())
        assert len(ids) == 3 and all(v == 4 for v in ids.values())
        assert 3 not in ids  # single-image identity never drawn as one of the P
        for ident in ids:
            members = labels[b] == ident
            picked = torch.tensor(b)[members]
            if ident != 1:  # identities with >= K images: K distinct images
                assert len(picked.unique()) == 4
            else:  # identity 1 has only 2 images: all of them, then repeats
                assert set(picked.tolist()) == {6, 7}
    sampler.set_epoch(0)
    assert list(sampler) == batches
    sampler.set_epoch(1)
    assert list(sampler) != batches


def test_pk_sampler_errors():
    with pytest.raises(DataError, match="at least 2 identities"):
        PKSampler(torch.tensor([0, 0, 0, 1]), p=2, k=2)
    with pytest.raises(DataError, match="lower P"):
        PKSampler(torch.tensor([0, 0, 1, 1]), p=3, k=2)


# ---------------------------------------------------------------- Augment


@pytest.mark.parametrize("channels", [1, 3])
def test_augment_shapes_determinism_eval(channels):
    aug = Augment.from_config(
        {"hflip": 0.5, "vflip": 0.5, "rotate": 15, "shift": 0.1, "scale": 0.1, "crop": 0.6, "color_jitter": 0.3,
         "noise": 0.05, "erase": 0.5, "mean": 0.5, "std": 0.5}
    )
    x = torch.rand(6, channels, 16, 16) * 2 - 1
    torch.manual_seed(0)
    y1 = aug(x)
    torch.manual_seed(0)
    y2 = aug(x)
    assert y1.shape == x.shape and y1.dtype == x.dtype
    assert torch.equal(y1, y2) and not torch.allclose(y1, x)
    assert y1.min() < 0  # normalized data stays normalized (colour ops ran in [0, 1] space)
    aug.eval()
    assert torch.equal(aug(x), x)


def test_augment_hflip_only_flips():
    aug = Augment(hflip=1.0)
    x = torch.rand(2, 3, 4, 5)
    assert torch.equal(aug(x), x.flip(-1))
    with pytest.raises(ConfigError, match="unknown augment option"):
        Augment.from_config({"hflip": 0.5, "rotation": 3})
    with pytest.raises(TypeError):
        aug(torch.zeros(2, 3, 4, 5, dtype=torch.uint8))


# ---------------------------------------------------------------- synthetic


def test_synthetic_shapes_deterministic_masks_consistent():
    a = synthetic_shapes(64, size=24, channels=3, num_classes=6, seed=1)
    b = synthetic_shapes(64, size=24, channels=3, num_classes=6, seed=1)
    c = synthetic_shapes(64, size=24, channels=3, num_classes=6, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    assert a.images.shape == (64, 3, 24, 24) and a.masks.shape == (64, 24, 24)
    assert a.classes == list(SHAPE_NAMES)
    assert sorted(Counter(a.labels.tolist()).values()) == [10, 10, 11, 11, 11, 11]  # balanced
    for i in range(64):
        vals = set(a.masks[i].unique().tolist())
        assert vals == {0, int(a.labels[i]) + 1}  # shape pixels carry label + 1, background 0
        fg = a.masks[i] > 0
        assert fg.sum() >= 10
        # shape pixels are clearly brighter than background pixels
        assert a.images[i].float().mean(0)[fg].mean() > a.images[i].float().mean(0)[~fg].mean() + 50
    kept = a.filter_classes([3, 1])  # masks are relabelled together with the labels
    assert kept.classes == ["cross", "square"]
    for i in range(len(kept)):
        assert set(kept.masks[i].unique().tolist()) == {0, int(kept.labels[i]) + 1}


def test_synthetic_generators_shapes():
    # speed is measured in bench/, never asserted in tests
    ds = synthetic_shapes(2000, size=32, channels=1, num_classes=4, seed=0)
    assert ds.images.shape == (2000, 1, 32, 32)
    noise = noise_patterns(16, size=16, channels=3, seed=0)
    assert noise.labels is None and noise.images.shape == (16, 3, 16, 16)
    assert torch.equal(noise.images, noise_patterns(16, size=16, channels=3, seed=0).images)
    ids = toy_identities(5, 4, size=16, channels=1, seed=0)
    assert ids.labels.tolist() == [i for i in range(5) for _ in range(4)] and len(ids.classes) == 5
    x = ids.images.float().flatten(1)
    d = torch.cdist(x, x)
    same = ids.labels[:, None] == ids.labels[None, :]
    off_diag = ~torch.eye(20, dtype=torch.bool)
    assert d[same & off_diag].mean() < 0.7 * d[~same].mean()  # identities are recognizable...
    d.fill_diagonal_(float("inf"))
    assert (ids.labels[d.argmin(1)] == ids.labels).float().mean() >= 0.9  # ...by nearest neighbour
    assert not torch.equal(ids.images[0], ids.images[1])  # ...but no two images are the same
    with pytest.raises(DataError):
        synthetic_shapes(4, num_classes=7)
