"""Folder sources, Fashion-MNIST search order and IDX reading (all files made in tmp_path, no network)."""

from __future__ import annotations

import gzip
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pictorch.data.fashion_mnist as fm
from pictorch.data.sources import load_flat_folder, load_image_folder, load_paired, load_unpaired
from pictorch.errors import BadImageError, DataError
from pictorch.registry import DATASETS


def _img(path: Path, w: int = 12, h: int = 10, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, dtype=np.uint8)).save(path)
    return path


def _class_tree(root: Path) -> None:
    for c, v in (("cat", 10), ("dog", 200)):
        for i in range(3):
            _img(root / c / f"{i}.png", value=v + i)


def test_image_folder_basic_and_hidden_ignored(tmp_path):
    _class_tree(tmp_path)
    (tmp_path / ".git").mkdir()
    _img(tmp_path / ".git" / "x.png")
    _img(tmp_path / "cat" / ".hidden.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = load_image_folder(tmp_path)
    assert ds.classes == ["cat", "dog"]
    assert ds.images.shape == (6, 3, 10, 12)
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.images[4, 0, 0, 0] == 201 and Path(ds.paths[4]).name == "1.png"
    gray = load_image_folder(tmp_path, size=8, mode="L")
    assert gray.images.shape == (6, 1, 8, 8)


def test_image_folder_bad_file_skipped_and_counted(tmp_path, caplog):
    _class_tree(tmp_path)
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    with caplog.at_level(logging.WARNING, logger="pictorch"):
        ds = load_image_folder(tmp_path)
    assert len(ds) == 6
    assert not any("broken" in p for p in ds.paths)
    assert "skipped 1 of 7" in caplog.text and "broken.jpg" in caplog.text
    with pytest.raises(BadImageError):
        load_image_folder(tmp_path, on_error="raise")


def test_image_folder_all_bad(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        (tmp_path / c / "x.png").write_text("text")
    with pytest.raises(DataError, match="none of the 2"):
        load_image_folder(tmp_path)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(DataError, match="no class folders"):
        load_image_folder(tmp_path)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match="no image files"):
        load_image_folder(tmp_path)


def test_image_folder_class_mismatch(tmp_path):
    _class_tree(tmp_path)
    with pytest.raises(DataError, match="missing: bird; unexpected: dog"):
        load_image_folder(tmp_path, classes=["cat", "bird"])
    ds = load_image_folder(tmp_path, classes=["dog", "cat"])  # labels follow the given order
    assert ds.classes == ["dog", "cat"] and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.images[0, 0, 0, 0] == 200


def test_mixed_sizes_need_size(tmp_path):
    _img(tmp_path / "a" / "1.png", 12, 10)
    _img(tmp_path / "a" / "2.png", 20, 16)
    with pytest.raises(DataError, match="pass a size"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, size=(9, 7)).images.shape == (2, 3, 9, 7)


def test_flat_folder(tmp_path):
    for i in range(3):
        _img(tmp_path / f"{i}.jpg")
    _img(tmp_path / "sub" / "deep.png")
    ds = load_flat_folder(tmp_path)
    assert ds.labels is None and len(ds) == 3
    assert len(load_flat_folder(tmp_path, recursive=True)) == 4


def test_paired_by_stem(tmp_path, caplog):
    for s in ("x", "y", "z"):
        _img(tmp_path / "A" / f"{s}.png", value=10)
        _img(tmp_path / "B" / f"{s}.jpg", value=250)
    _img(tmp_path / "A" / "lonely.png")
    (tmp_path / "B" / "y.jpg").write_bytes(b"")  # a bad partner drops the whole pair
    with caplog.at_level(logging.WARNING, logger="pictorch"):
        a, b = load_paired(tmp_path / "A", tmp_path / "B")
    assert [Path(p).stem for p in a.paths] == ["x", "z"] == [Path(p).stem for p in b.paths]
    assert "no partner" in caplog.text and "lonely" in caplog.text
    assert int(a.images[0, 0, 0, 0]) == 10 and abs(int(b.images[0, 0, 0, 0]) - 250) <= 3
    a2, _ = load_paired(tmp_path)  # one root with A/ and B/
    assert len(a2) == 2


@pytest.mark.parametrize("layout", [("train/A", "train/B"), ("trainA", "trainB")])
def test_paired_and_unpaired_layouts(tmp_path, layout):
    for i in range(2):
        _img(tmp_path / layout[0] / f"{i}.png")
    for i in range(3):
        _img(tmp_path / layout[1] / f"{i}.png")
    a, b = load_paired(tmp_path)
    assert len(a) == len(b) == 2
    ua, ub = load_unpaired(tmp_path)
    assert (len(ua), len(ub)) == (2, 3)
    with pytest.raises(DataError, match="cannot find the A and B folders"):
        load_paired(tmp_path, split="test")


def test_paired_no_match(tmp_path):
    _img(tmp_path / "A" / "1.png")
    _img(tmp_path / "B" / "2.png")
    with pytest.raises(DataError, match="no image pairs"):
        load_paired(tmp_path / "A", tmp_path / "B")


def test_every_registered_data_set_is_one_resolve_looks_up():
    """Every ``DATASETS`` entry is ``<domain>/<name>``, the key :func:`pictorch.data.resolve.resolve` looks up
    (``folder``, ``flat``, ``shapes``, ... used to be registered under plain names nothing looked up)."""
    import pictorch.tasks.segment.data  # noqa: F401 - registers the masks domain
    import pictorch.tasks.translate.data  # noqa: F401 - registers the pairs domain
    from pictorch.data.resolve import names, resolve

    assert all("/" in n for n in DATASETS.names()), DATASETS.names()
    assert {"fashion-mnist", "synthetic", "toy-identities"} <= set(names("images"))
    assert {"nuclei", "synthetic"} <= set(names("masks")) and "edges2photo" in names("pairs")
    shapes = resolve("synthetic", n=8, size=16)
    assert shapes.images.shape == (8, 1, 16, 16)


# ---------------------------------------------------------------- IDX and Fashion-MNIST


def _idx_bytes(arr: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _write_fmnist(folder: Path, n: int, value: int, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images = np.full((n, 28, 28), value, dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for prefix in ("train", "t10k"):
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            data = _idx_bytes(arr)
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = _idx_bytes(arr)
    p = tmp_path / ("x.gz" if gz else "x")
    p.write_bytes(gzip.compress(data) if gz else data)
    t = fm.read_idx(p)
    assert t.dtype == torch.uint8 and torch.equal(t, torch.from_numpy(arr))


def test_read_idx_errors(tmp_path):
    bad_magic = tmp_path / "magic"
    bad_magic.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="magic") as ei:
        fm.read_idx(bad_magic)
    assert "magic" in str(ei.value) and str(bad_magic) in str(ei.value)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(np.zeros((4, 5), dtype=np.uint8))[:-3])
    with pytest.raises(DataError, match="size mismatch"):
        fm.read_idx(short)
    badgz = tmp_path / "bad.gz"
    badgz.write_bytes(b"\x1f\x8b" + b"junk" * 10)
    with pytest.raises(DataError, match="gzip"):
        fm.read_idx(badgz)


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Hide the Debian copy and the real cache; make any download attempt fail like an offline machine."""
    calls = []

    def offline(url, timeout=30.0):
        calls.append(url)
        raise OSError("network unreachable")

    monkeypatch.setattr(fm, "_urlopen", offline)
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("PICTORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PICTORCH_DATA", raising=False)
    return calls


def test_fashion_mnist_search_order(tmp_path, monkeypatch, no_network):
    env_root = tmp_path / "env"
    _write_fmnist(env_root / "fashion-mnist", 20, value=7)
    monkeypatch.setenv("PICTORCH_DATA", str(env_root))
    ds = fm.load_fashion_mnist("train")
    assert ds.images.shape == (20, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.classes == fm.FASHION_MNIST_CLASSES and len(ds.classes) == 10
    assert ds.labels.dtype == torch.int64 and ds.labels[:3].tolist() == [0, 1, 2]
    assert int(ds.images[0, 0, 0, 0]) == 7
    explicit = tmp_path / "explicit"
    _write_fmnist(explicit, 10, value=42, gz=False)
    ds2 = fm.load_fashion_mnist("test", data_dir=explicit)  # data_dir wins over $PICTORCH_DATA
    assert len(ds2) == 10 and int(ds2.images[0, 0, 0, 0]) == 42
    ds2.images.zero_()  # callers get their own copy; the in-memory cache stays intact
    assert int(fm.load_fashion_mnist("test", data_dir=explicit).images[0, 0, 0, 0]) == 42
    assert no_network == []


def test_fashion_mnist_offline_error(tmp_path, no_network):
    with pytest.raises(DataError) as ei:
        fm.load_fashion_mnist("train", data_dir=tmp_path / "nothing")
    msg = str(ei.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "PICTORCH_DATA" in msg
    assert str(tmp_path / "nothing") in msg and "network unreachable" in msg
    assert len(no_network) == 1  # gave up after the first failed download
    assert not any((tmp_path / "cache").rglob("*.gz"))


class _FakeResponse:
    def __init__(self, data: bytes):
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        out = self._data[self._pos : self._pos + n] if n >= 0 else self._data[self._pos :]
        self._pos += len(out)
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_fashion_mnist_download_checksummed(tmp_path, monkeypatch, no_network):
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    payload = {
        "train-images-idx3-ubyte": gzip.compress(_idx_bytes(images)),
        "train-labels-idx1-ubyte": gzip.compress(_idx_bytes(labels)),
    }
    for stem, data in payload.items():
        monkeypatch.setitem(fm.GZ_MD5, stem, fm._md5(data))
    monkeypatch.setattr(fm, "_urlopen", lambda url, timeout=30.0: _FakeResponse(payload[url.rsplit("/", 1)[1][:-3]]))
    ds = fm.load_fashion_mnist("train")
    assert len(ds) == 5 and ds.labels.tolist() == [0, 1, 2, 3, 4]
    cached = sorted(p.name for p in (tmp_path / "cache" / "fashion-mnist").iterdir())
    assert cached == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]  # no leftover temp files


def test_fashion_mnist_download_bad_checksum(tmp_path, monkeypatch, no_network):
    monkeypatch.setattr(fm, "_urlopen", lambda url, timeout=30.0: _FakeResponse(b"tampered"))
    with pytest.raises(DataError, match="checksum mismatch"):
        fm.load_fashion_mnist("test")
    assert list((tmp_path / "cache" / "fashion-mnist").iterdir()) == []


@pytest.mark.skipif(not fm.DEBIAN_DIR.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_debian_copy_matches_official_content():
    import hashlib

    for stem, want in fm.RAW_MD5.items():
        data = gzip.decompress((fm.DEBIAN_DIR / f"{stem}.gz").read_bytes())
        assert hashlib.md5(data).hexdigest() == want
