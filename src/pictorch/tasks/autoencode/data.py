"""Where the autoencoder's images come from: Fashion-MNIST, synthetic shapes, an image folder, or files.

Everything goes through :mod:`pictorch.data` (ImageSet, loaders, safe decoding). Images stay uint8
N×C×H×W in memory; models see them scaled to [0, 1].
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pictorch.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
FASHION = ("fashion-mnist", "fashion_mnist", "fmnist")


def _pair(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


def default_mode(data: str) -> str:
    """"L" for Fashion-MNIST and synthetic data, "RGB" for folders."""
    return "L" if data in FASHION or data == "synthetic" else "RGB"


def load_dataset(data: str, *, split: str = "train", data_dir: str | None = None,
                 image_size: int | Sequence[int] | None = None, mode: str | None = None, limit: int = 0,
                 seed: int = 0) -> Any:
    """Load a dataset as a :class:`pictorch.data.ImageSet` (uint8 N×C×H×W images + labels + classes).

    Args:
        data: "fashion-mnist", "synthetic" or an image folder (class-per-subfolder, or flat).
        split: "train" or "test" (Fashion-MNIST and synthetic; a folder has one split).
        data_dir: Folder with the Fashion-MNIST IDX files.
        image_size: Resize to this side (folders; default 32) — Fashion-MNIST stays 28×28 unless given.
        mode: "L" or "RGB" (default: :func:`default_mode`).
        limit: Keep the first ``limit`` images (0: all).
        seed: Seed of the synthetic data.

    Raises:
        DataError: Missing/empty data.
    """
    import torch.nn.functional as F

    mode = mode or default_mode(data)
    size = _pair(image_size)
    if data in FASHION:
        try:
            from pictorch.data.fashion_mnist import load_fashion_mnist
        except ModuleNotFoundError:
            ds = _fashion_fallback(split, data_dir)
        else:
            ds = load_fashion_mnist(split=split, data_dir=data_dir)
    elif data == "synthetic":
        n = limit or 512
        kw = {"size": size[0] if size else 32, "channels": 1 if mode == "L" else 3,
              "seed": seed + (0 if split == "train" else 7919)}
        try:
            from pictorch.data.synthetic import synthetic_shapes
        except ModuleNotFoundError:
            ds = _synthetic_fallback(n, **kw)
        else:
            ds = synthetic_shapes(n, **kw)
    else:
        root = Path(data)
        if not root.is_dir():
            raise DataError(f"{data}: not a dataset name or a folder; use fashion-mnist, synthetic or an image "
                            "folder")
        ds = load_folder(root, size=size or (32, 32), mode=mode)
    if limit and len(ds) > limit:
        ds = ds.subset(torch.arange(limit))
    if len(ds) == 0:
        raise DataError(f"{data}: no images")
    if mode == "RGB" and ds.images.shape[1] == 1:
        ds.images = ds.images.expand(-1, 3, -1, -1).contiguous()
    elif mode == "L" and ds.images.shape[1] == 3:
        ds.images = _to_gray(ds.images)
    if size is not None and tuple(ds.images.shape[-2:]) != size:
        ds.images = F.interpolate(ds.images.float(), size=size, mode="bilinear", antialias=True,
                                  align_corners=False).round().clamp(0, 255).to(torch.uint8)
    return ds


def _to_gray(images: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def load_folder(root: Path, size: tuple[int, int], mode: str) -> Any:
    """An image folder: class-per-subfolder when it has subfolders with images, else a flat folder."""
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir() and any(_image_files([d]))]
    if subdirs:
        try:
            from pictorch.data.sources import load_image_folder
        except ModuleNotFoundError:
            pass
        else:
            return load_image_folder(root, size=size, mode=mode)
        parts, labels, paths = [], [], []
        for ci, d in enumerate(subdirs):
            imgs, ps = load_files([str(d)], size=size, mode=mode)
            parts.append(imgs)
            labels += [ci] * len(ps)
            paths += ps
        return _ImageSet(torch.cat(parts), torch.tensor(labels), [d.name for d in subdirs], paths)
    images, paths = load_files([str(root)], size=size, mode=mode)
    try:
        from pictorch.data import ImageSet
    except (ModuleNotFoundError, ImportError):
        return _ImageSet(images=images, labels=None, classes=[], paths=paths)
    return ImageSet(images=images, labels=None, classes=[], paths=paths)


def _image_files(inputs: Sequence[str | Path]) -> list[Path]:
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(p)
    return out


def load_files(inputs: Sequence[str | Path], size: int | Sequence[int], mode: str) -> tuple[torch.Tensor, list[str]]:
    """Decode image files and folders (recursively) into uint8 N×C×H×W at ``size``; bad files are skipped
    with a warning, none decodable is a :class:`DataError`."""
    if not inputs:
        raise DataError("no input images given")
    for item in inputs:
        if not Path(item).exists():
            raise DataError(f"{item}: no such file or folder")
    files = _image_files(inputs)
    if not files:
        raise DataError(f"{', '.join(str(i) for i in inputs)}: no image files found "
                        f"(looked for {', '.join(IMAGE_SUFFIXES)})")
    try:
        from pictorch.data.decode import load_images
    except ModuleNotFoundError:
        load_images = None
    if load_images is None:
        images, ok, bad = _decode_fallback([str(f) for f in files], mode, _pair(size))
    else:
        images, ok, bad = load_images([str(f) for f in files], mode=mode, size=_pair(size), on_error="skip")
    if ok:  # with none decodable the error below says it all
        for path, reason in bad:
            print(f"warning: skipped {path}: {reason}", file=sys.stderr)
    if not ok:
        raise DataError(f"none of the {len(files)} input files could be decoded as images "
                        f"(first: {bad[0][0]}: {bad[0][1]})" if bad else "no images decoded")
    if isinstance(images, list):
        images = torch.stack(images)
    return images, [str(p) for p in ok]


def make_loader(images: torch.Tensor, batch_size: int, seed: int) -> Any:
    """A shuffled, resumable :class:`pictorch.data.loader.TensorLoader` over uint8 images."""
    if len(images) < batch_size:
        raise DataError(f"only {len(images)} training images but --batch-size {batch_size}; lower --batch-size")
    try:
        from pictorch.data.loader import TensorLoader
    except ModuleNotFoundError:
        return _Loader(images, batch_size, seed)
    return TensorLoader(images, None, batch_size=batch_size, shuffle=True, drop_last=True, seed=seed)


# -- fallbacks while pictorch.data is not installed in this checkout ------------------------------------------
# (pictorch.data is the shared implementation; these keep the capability usable on its own and are only
# reached through the ModuleNotFoundError branches below.)

@dataclass
class _ImageSet:
    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str]
    paths: list[str] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx: torch.Tensor) -> _ImageSet:
        idx = torch.as_tensor(idx)
        return _ImageSet(self.images[idx], None if self.labels is None else self.labels[idx], self.classes,
                         None if self.paths is None else [self.paths[int(i)] for i in idx])


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def _read_idx(path: Path) -> np.ndarray:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_fallback(split: str, data_dir: str | None) -> _ImageSet:
    import os

    prefix = "train" if split == "train" else "t10k"
    candidates = [data_dir, os.environ.get("PICTORCH_DATA"), "/usr/share/datasets/fashion-mnist"]
    for d in candidates:
        if not d:
            continue
        for sub in (Path(d), Path(d) / "fashion-mnist"):
            img = sub / f"{prefix}-images-idx3-ubyte.gz"
            lab = sub / f"{prefix}-labels-idx1-ubyte.gz"
            if img.is_file() and lab.is_file():
                x = torch.from_numpy(_read_idx(img).copy()).unsqueeze(1)
                y = torch.from_numpy(_read_idx(lab).astype(np.int64))
                return _ImageSet(x, y, list(FASHION_CLASSES))
    raise DataError("Fashion-MNIST not found (looked in --data-dir, $PICTORCH_DATA and "
                    "/usr/share/datasets/fashion-mnist); install dataset-fashion-mnist or pass --data-dir")


def _synthetic_fallback(n: int, size: int, channels: int, seed: int) -> _ImageSet:
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    labels = torch.randint(0, 4, (n,), generator=g)
    cy = torch.rand(n, 1, 1, generator=g) * size * 0.5 + size * 0.25
    cx = torch.rand(n, 1, 1, generator=g) * size * 0.5 + size * 0.25
    r = torch.rand(n, 1, 1, generator=g) * size * 0.15 + size * 0.12
    dy, dx = ys - cy, xs - cx
    shapes = torch.stack([
        ((dy**2 + dx**2).sqrt() < r),                      # disc
        (dy.abs() < r) & (dx.abs() < r),                   # square
        (dy.abs() < r) & (dx.abs() < r * 0.35),            # bar
        (dy < r) & (dy > -r) & (dx.abs() < (dy + r) / 2),  # triangle
    ], 1).float()
    mask = shapes[torch.arange(n), labels]
    color = torch.rand(n, channels, 1, 1, generator=g) * 0.6 + 0.4
    img = mask.unsqueeze(1) * color * 255
    return _ImageSet(img.round().to(torch.uint8), labels, ["disc", "square", "bar", "triangle"])


def _decode_fallback(paths: list[str], mode: str, size: tuple[int, int] | None):
    from PIL import Image

    ok, bad, out = [], [], []
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert(mode)
                if size is not None:
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except Exception as e:  # noqa: BLE001 - one bad file must not stop the batch
            bad.append((p, f"cannot decode image ({e.__class__.__name__})"))
            continue
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        out.append(torch.from_numpy(arr.copy()))
        ok.append(p)
    return (torch.stack(out) if out and size is not None else out), ok, bad


class _Loader:
    """Shuffled uint8 batches {"image": B×C×H×W}, reproducible per epoch, resumable mid-epoch."""

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int):
        self.images, self.batch_size, self.seed = images, batch_size, seed
        self.epoch, self.pos = 0, 0

    def __len__(self) -> int:
        return len(self.images) // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def to(self, device: Any) -> _Loader:
        self.images = self.images.to(device)
        return self

    def __iter__(self):
        perm = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(self.seed + self.epoch))
        start, self.pos = self.pos, 0
        for i in range(start, len(self)):
            self.pos = i + 1
            yield {"image": self.images[perm[i * self.batch_size:(i + 1) * self.batch_size].to(self.images.device)]}
        self.pos = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
