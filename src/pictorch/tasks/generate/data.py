"""Training images for the GAN task: Fashion-MNIST or an image folder, in memory as uint8, sized once.

Uses :mod:`pictorch.data` (loaders, decoding, the in-memory TensorLoader) when it is installed; a small
local IDX reader / folder reader / batch loader keeps the task usable on its own.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from pictorch.errors import DataError

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
_IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass
class Images:
    """In-memory images (uint8 N×C×H×W), integer labels (or None) and class names."""

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _read_idx(path: Path) -> torch.Tensor:
    import numpy as np

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read IDX file ({e})") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    count = 1
    for d in dims:
        count *= d
    body = data[4 + 4 * ndim:]
    if len(body) < count:
        raise DataError(f"{path}: truncated IDX file ({len(body)} of {count} bytes)")
    return torch.from_numpy(np.frombuffer(body[:count], dtype=np.uint8).reshape(dims).copy())


def _find_idx(name: str, data_dir: str | None) -> Path | None:
    dirs = [d for d in (data_dir, os.environ.get("PICTORCH_DATA"), "/usr/share/datasets/fashion-mnist") if d]
    for d in dirs:
        for sub in ("", "fashion-mnist", "FashionMNIST/raw"):
            for ext in (".gz", ""):
                p = Path(d) / sub / f"{name}{ext}"
                if p.is_file():
                    return p
    return None


def load_fashion(split: str = "train", data_dir: str | None = None) -> Images:
    """Fashion-MNIST as uint8 N×1×28×28 with labels (pictorch.data when available, else the local reader)."""
    try:
        from pictorch.data.fashion_mnist import load_fashion_mnist
    except ImportError:
        load_fashion_mnist = None
    if load_fashion_mnist is not None:
        ds = load_fashion_mnist(split=split, data_dir=data_dir)
        return Images(ds.images, ds.labels, list(ds.classes))
    img_name, lab_name = _IDX_NAMES[split]
    ip, lp = _find_idx(img_name, data_dir), _find_idx(lab_name, data_dir)
    if ip is None or lp is None:
        where = data_dir or "$PICTORCH_DATA or /usr/share/datasets/fashion-mnist"
        raise DataError(f"Fashion-MNIST {split} files ({img_name}.gz, {lab_name}.gz) not found in {where}; "
                        "pass --data-dir with the IDX files")
    images, labels = _read_idx(ip), _read_idx(lp).long()
    if images.ndim != 3 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{ip}: expected N×28×28 images matching {lp}")
    return Images(images[:, None], labels, list(FASHION_CLASSES))


def load_folder(root: str, size: int, channels: int) -> Images:
    """An image folder: class sub-folders (labels) or a flat folder of images (one class)."""
    root_p = Path(root)
    if not root_p.is_dir():
        raise DataError(f"{root}: not a folder and not a known dataset (use fashion-mnist or a folder of images)")
    mode = "L" if channels == 1 else "RGB"
    try:
        from pictorch.data.sources import load_image_folder
    except ImportError:
        load_image_folder = None
    subdirs = sorted(p for p in root_p.iterdir() if p.is_dir())
    if load_image_folder is not None and subdirs:
        ds = load_image_folder(str(root_p), size=(size, size), mode=mode)
        return Images(ds.images, ds.labels, list(ds.classes))
    from PIL import Image, UnidentifiedImageError

    groups = [(d.name, d) for d in subdirs] or [("images", root_p)]
    imgs, labels, classes = [], [], []
    bad = 0
    for ci, (name, d) in enumerate(groups):
        classes.append(name)
        for p in sorted(d.iterdir()):
            if p.suffix.lower() not in IMAGE_EXTS:
                continue
            try:
                with Image.open(p) as im:
                    im = im.convert(mode).resize((size, size), Image.BILINEAR)
                    t = torch.from_numpy(__import__("numpy").asarray(im).copy())
            except (OSError, UnidentifiedImageError, ValueError):
                bad += 1
                continue
            imgs.append(t[None] if t.ndim == 2 else t.permute(2, 0, 1))
            labels.append(ci)
    if not imgs:
        raise DataError(f"{root}: no readable images ({bad} unreadable); expected class sub-folders of images")
    return Images(torch.stack(imgs), torch.tensor(labels), classes)


def fit_images(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """Resize (antialiased bilinear) and adapt channels (1↔3) of a uint8 batch, once, in memory."""
    x = images
    if channels and x.shape[1] != channels:
        if channels == 3 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif channels == 1 and x.shape[1] in (3, 4):
            x = (x[:, :3].float() * torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
            x = x.round().clamp(0, 255).to(torch.uint8)
        else:
            raise DataError(f"cannot turn {x.shape[1]}-channel images into {channels} channels")
    if x.shape[-1] != size or x.shape[-2] != size:
        out = []
        for chunk in x.split(4096):
            out.append(F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True,
                                     align_corners=False).round().clamp(0, 255).to(torch.uint8))
        x = torch.cat(out)
    return x.contiguous()


def load_training_images(data: str, image_size: int, channels: int = 0, data_dir: str | None = None,
                         split: str = "train", limit: int = 0) -> Images:
    """The training set named by ``--data``, resized to ``image_size`` with ``channels`` (0: keep)."""
    if data in ("fashion-mnist", "fashion_mnist", "fmnist"):
        ds = load_fashion(split, data_dir)
    else:
        ds = load_folder(data, image_size, channels or 3)
    if limit and limit < len(ds):
        idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:limit]
        ds = Images(ds.images[idx], None if ds.labels is None else ds.labels[idx], ds.classes)
    return Images(fit_images(ds.images, image_size, channels), ds.labels, ds.classes)


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (what a tanh generator produces); floats pass through."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x.float()


class BatchLoader:
    """Shuffled in-memory batches ``{"image", "label"}`` with exact resume (epoch, position).

    Args:
        images: N×... tensor (uint8 images or float vectors).
        labels: N labels or None.
        batch_size: Batch size (last partial batch dropped).
        seed: Shuffle seed (per epoch: seed + epoch).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int, seed: int = 0):
        if images.shape[0] < batch_size:
            raise DataError(f"only {images.shape[0]} training samples for batches of {batch_size}; lower "
                            "--batch-size (times --d-steps)")
        self.images, self.labels = images, labels
        self.batch_size, self.seed = batch_size, seed
        self.epoch, self.pos = 0, 0

    def __len__(self) -> int:
        return self.images.shape[0] // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def to(self, device: Any) -> BatchLoader:
        self.images = self.images.to(device)
        if self.labels is not None:
            self.labels = self.labels.to(device)
        return self

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        perm = torch.randperm(self.images.shape[0], generator=g).to(self.images.device)
        start, self.pos = self.pos, 0
        for i in range(start, len(self)):
            self.pos = i + 1
            idx = perm[i * self.batch_size:(i + 1) * self.batch_size]
            batch = {"image": self.images[idx]}
            if self.labels is not None:
                batch["label"] = self.labels[idx]
            yield batch
        self.pos = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
