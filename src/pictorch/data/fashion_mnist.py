"""Fashion-MNIST: an IDX reader and a loader that finds the files locally or downloads them (checksummed).

Search order: ``data_dir``, ``$PICTORCH_DATA`` (and its ``fashion-mnist/`` subfolder), the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), the download cache
(``~/.cache/pictorch/fashion-mnist`` or ``$PICTORCH_CACHE/fashion-mnist``), then a download from the official
mirror. Offline with nothing found, one :class:`~pictorch.errors.DataError` says where it looked and how to get
the files.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Literal

import numpy as np
import torch

from pictorch.data.imageset import ImageSet
from pictorch.errors import DataError
from pictorch.utils import atomic_download

logger = logging.getLogger("pictorch")

FASHION_MNIST_CLASSES: list[str] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
"""The 10 official class names, in label order."""

MIRROR_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# MD5 of the official .gz files (Fashion-MNIST README).
GZ_MD5 = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}
# MD5 of the decompressed files. Repackagers (Debian) recompress the archives, which changes the .gz MD5 but
# not the content; these were checked against the Debian package's decompressed files.
RAW_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt gzip archive ({e}); delete it and fetch it again") from None
    return raw


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Read an IDX file (raw or gzip-compressed), the format of MNIST and Fashion-MNIST.

    Args:
        path: The ``*-idx?-ubyte`` file, optionally ``.gz``.

    Returns:
        A tensor with the file's dimensions (uint8 data stays uint8).

    Raises:
        DataError: Naming the file, if it is unreadable, not IDX (bad magic number), or its size does not match
            the dimensions in its header.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype = _IDX_DTYPES[data[2]]
    ndim = data[3]
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: IDX header is truncated or declares {ndim} dimensions")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = memoryview(data)[4 + 4 * ndim :]
    if len(body) != expected:
        raise DataError(
            f"{path}: IDX size mismatch: header says {'x'.join(map(str, dims))} ({expected} bytes) but the file "
            f"has {len(body)} data bytes (truncated or corrupt download?)"
        )
    arr = np.frombuffer(body, dtype=dtype).reshape(dims)
    if dtype.byteorder == ">":
        arr = arr.astype(dtype.newbyteorder("="))
    return torch.from_numpy(arr.copy())


def _find_in(folder: Path, split: str) -> tuple[Path, Path] | None:
    """Both IDX files of ``split`` in ``folder`` (raw or .gz), or None."""
    found = []
    for stem in _FILES[split]:
        for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
            if (folder / name).is_file():
                found.append(folder / name)
                break
        else:
            return None
    return found[0], found[1]


def find_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first folder (in search order) holding both splits' IDX files, or None; never downloads."""
    for d in _candidate_dirs(data_dir):
        if _find_in(d, "train") and _find_in(d, "test"):
            return d
    return None


def cache_dir() -> Path:
    """Where downloads go: ``$PICTORCH_CACHE/fashion-mnist`` or ``~/.cache/pictorch/fashion-mnist``."""
    base = os.environ.get("PICTORCH_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "pictorch"
    return root / "fashion-mnist"


def _candidate_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    dirs: list[Path] = []
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        dirs += [d, d / "fashion-mnist", d / "fashion_mnist", d / "FashionMNIST" / "raw"]
    env = os.environ.get("PICTORCH_DATA")
    if env:
        for part in env.split(os.pathsep):
            if part:
                d = Path(part).expanduser()
                dirs += [d, d / "fashion-mnist", d / "fashion_mnist"]
    dirs += [DEBIAN_DIR, cache_dir()]
    return dirs


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _urlopen(url: str, timeout: float = 30.0):  # indirection so tests can monkeypatch the network away
    return urllib.request.urlopen(url, timeout=timeout)


def _download_one(stem: str, dest_dir: Path) -> Path:
    """Download ``stem``.gz into ``dest_dir`` through a temp file; rename only after the checksum passes."""
    url = MIRROR_URL + stem + ".gz"
    dest = dest_dir / (stem + ".gz")
    h = hashlib.md5(usedforsecurity=False)

    def fetch(f: IO[bytes]) -> None:
        with _urlopen(url) as resp:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                f.write(chunk)

    def verify(tmp: str) -> None:
        if h.hexdigest() != GZ_MD5[stem] and _md5(_read_bytes(Path(tmp))) != RAW_MD5[stem]:
            raise DataError(f"checksum mismatch for {url} (got md5 {h.hexdigest()}, want {GZ_MD5[stem]})")

    return atomic_download(dest, fetch, verify)


def _download(split: str) -> tuple[Path, Path]:
    dest_dir = cache_dir()
    out = []
    for stem in _FILES[split]:
        target = dest_dir / (stem + ".gz")
        out.append(target if target.is_file() else _download_one(stem, dest_dir))
    return out[0], out[1]


@functools.lru_cache(maxsize=8)
def _load_cached(split: str, images_path: str, labels_path: str, stamp: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    # ``stamp`` (mtime, size of both files) invalidates the cache when a file is replaced.
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28) or images.dtype != torch.uint8:
        raise DataError(f"{images_path}: expected uint8 images N×28×28, got {images.dtype} {tuple(images.shape)}")
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path}: expected {images.shape[0]} labels to match {images_path}, got shape {tuple(labels.shape)}"
        )
    labels = labels.to(torch.int64)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) > 9):
        raise DataError(f"{labels_path}: labels must be 0..9, found {int(labels.min())}..{int(labels.max())}")
    return images.unsqueeze(1).contiguous(), labels


def _stamp(*paths: Path) -> tuple:
    out = []
    for p in paths:
        st = p.stat()
        out += [st.st_mtime_ns, st.st_size]
    return tuple(out)


def load_fashion_mnist(
    split: Literal["train", "test"] = "train", data_dir: str | os.PathLike | None = None, download: bool = True
) -> ImageSet:
    """Load Fashion-MNIST as an :class:`ImageSet` of uint8 1×28×28 images with labels 0..9.

    Args:
        split: "train" (60 000 images) or "test" (10 000).
        data_dir: Folder with the four IDX files (``train-images-idx3-ubyte.gz`` ..., raw or gzip), searched
            first, also its ``fashion-mnist/`` subfolder.
        download: Allow downloading from the official mirror into the cache when no local copy exists.

    Returns:
        An ImageSet with ``classes = FASHION_MNIST_CLASSES``. Decoded tensors are cached in memory per split
        and file, so a second call is instant (each call returns its own copy).

    Raises:
        DataError: The files are nowhere to be found and cannot be downloaded, or a file is corrupt.
    """
    if split not in _FILES:
        raise DataError(f"unknown Fashion-MNIST split {split!r}; use 'train' or 'test'")
    looked = _candidate_dirs(data_dir)
    found = None
    for d in looked:
        found = _find_in(d, split)
        if found:
            break
    if found is None:
        failure = "downloading is disabled"
        if download:
            try:
                found = _download(split)
            except DataError as e:
                failure = str(e)
            except (OSError, ValueError) as e:  # URLError, timeouts, DNS, disk full
                reason = getattr(e, "reason", None) or e
                failure = f"download from {MIRROR_URL} failed ({reason})"
        if found is None:
            where = ", ".join(dict.fromkeys(str(d) for d in looked))
            stems = ", ".join(s + ".gz" for pair in _FILES.values() for s in pair)
            raise DataError(
                f"Fashion-MNIST ({split}) not found; looked in: {where}; {failure}. To fix: "
                f"`apt-get install dataset-fashion-mnist`, or put the four IDX files ({stems}) in a folder "
                "and pass it as data_dir / set PICTORCH_DATA to it"
            )
    img_p, lab_p = found
    if data_dir is not None and not str(img_p).startswith(str(Path(data_dir).expanduser())):
        logger.info("Fashion-MNIST files not in %s; using %s", data_dir, img_p.parent)
    images, labels = _load_cached(split, str(img_p.resolve()), str(lab_p.resolve()), _stamp(img_p, lab_p))
    return ImageSet(images=images.clone(), labels=labels.clone(), classes=list(FASHION_MNIST_CLASSES))
