"""Training images for the GAN task: Fashion-MNIST or an image folder, in memory as uint8, sized once.

Reading, decoding and batching come from :mod:`pictorch.data`; this module only picks the source named by
``--data``, fits size/channels once, and maps pixels to the generator's [-1, 1] range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from pictorch.errors import DataError

FASHION_NAMES = ("fashion-mnist", "fashion_mnist", "fmnist")
PHOTO_NAMES = ("photo-crops", "photos")
PHOTO_CROPS_PER_PHOTO = 200  # 26 photos here → 5200 crops; labels name the photo a crop came from


@dataclass
class Images:
    """In-memory images (uint8 N×C×H×W), integer labels (or None), class names and source files (folders)."""

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str]
    paths: list[str] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])


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
    """The data named by ``--data`` (fashion-mnist or a folder), resized to ``image_size`` with ``channels``.

    A folder with class sub-folders gives labels; a flat folder of images gives an unlabelled set;
    ``photo-crops`` cuts random crops from the real colour photos installed with the toolkit's dependencies
    (:func:`photo_crops`; labelled by source photo).
    """
    from pictorch.data.resolve import resolve

    def folder(path: str, **_: object) -> object:
        from pictorch.data.sources import load_flat_folder, load_image_folder

        root = Path(path)
        if not root.is_dir():
            raise DataError(f"{data}: not a folder and not a known dataset; use --data fashion-mnist or a folder "
                            "of images (class sub-folders for conditional GANs)")
        mode = "L" if channels == 1 else "RGB"
        has_sub = any(p.is_dir() for p in root.iterdir())
        return (load_image_folder(root, size=(image_size, image_size), mode=mode) if has_sub
                else load_flat_folder(root, size=(image_size, image_size), mode=mode))

    if data in PHOTO_NAMES:
        ds = photo_crops(image_size, seed=0 if split == "train" else 1)
    else:  # fashion-mnist, synthetic, ... or a folder
        ds = resolve(data, folder=folder, split=split, data_dir=data_dir)
    paths = list(ds.paths) if getattr(ds, "paths", None) is not None else None
    images, labels = ds.images, ds.labels
    if limit and limit < images.shape[0]:
        idx = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))[:limit]
        images, labels = images[idx], None if labels is None else labels[idx]
        paths = None if paths is None else [paths[int(i)] for i in idx]
    classes = list(ds.classes) if labels is not None else []
    return Images(fit_images(images, image_size, channels), labels, classes, paths)


def photo_crops(size: int, per_photo: int = PHOTO_CROPS_PER_PHOTO, seed: int = 0) -> Images:
    """Random size×size crops of the real colour photos that scikit-image, scikit-learn, matplotlib (and, when
    installed, Debian's darknet and opencv-doc) ship, the photos translate trains on; no download.

    Each photo is scaled so its short side is 4 × ``size`` (a crop shows about a quarter of it: objects and
    texture, not flat colour); labels name the source photo, so a domain feature network can be trained on them.
    """
    import numpy as np
    from PIL import Image

    from pictorch.tasks.translate import api as translate

    sources = translate.photo_sources()
    if len(sources) < 2:
        raise DataError("photo-crops needs the sample photos of scikit-image and scikit-learn "
                        "(pip install scikit-image scikit-learn)")
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for i, (_, path) in enumerate(sources):
        with Image.open(path) as im:
            im = im.convert("RGB")
            s = 4 * size / min(im.size)
            im = im.resize((max(size, round(im.size[0] * s)), max(size, round(im.size[1] * s))), Image.BICUBIC)
            a = np.asarray(im)
        ys = rng.integers(0, a.shape[0] - size + 1, per_photo)
        xs = rng.integers(0, a.shape[1] - size + 1, per_photo)
        crops.append(np.stack([a[y:y + size, x:x + size] for y, x in zip(ys, xs, strict=True)]))
        labels += [i] * per_photo
    images = torch.from_numpy(np.concatenate(crops)).permute(0, 3, 1, 2).contiguous()
    return Images(images, torch.tensor(labels, dtype=torch.long), [n for n, _ in sources])


def load_condition_csv(path: str | Path, images: Images) -> tuple[torch.Tensor, list[str]]:
    """Float condition vectors per training image from a CSV: ``file,v1,v2,…`` (one row per image).

    The first column names the image: its path relative to the data folder, its file name, or (for built-in data
    sets) its index. An optional header row names the columns (kept for ``gan sample --condition``).

    Returns:
        (N×D float tensor in the images' order, column names).

    Raises:
        DataError: unreadable file, ragged or non-numeric rows, or an image without a row.
    """
    import csv

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such condition CSV (rows: file,v1,v2,...)")
    with open(p, newline="") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    if not rows:
        raise DataError(f"{path}: the condition CSV is empty")
    header: list[str] | None = None
    try:
        [float(v) for v in rows[0][1:]]
    except ValueError:
        header, rows = rows[0][1:], rows[1:]
    table: dict[str, list[float]] = {}
    width = None
    for line, r in enumerate(rows, start=2 if header else 1):
        try:
            vec = [float(v) for v in r[1:]]
        except ValueError:
            raise DataError(f"{path}, line {line}: condition values must be numbers, got {r[1:]}") from None
        if not vec or any(v != v or v in (float("inf"), float("-inf")) for v in vec):
            raise DataError(f"{path}, line {line}: a condition row needs finite numbers after the file name")
        if width is None:
            width = len(vec)
        elif len(vec) != width:
            raise DataError(f"{path}, line {line}: {len(vec)} values where the first row has {width}")
        table[r[0].strip()] = vec
    n = len(images)
    keys: list[list[str]]
    if images.paths is not None:
        keys = []
        for q in images.paths:
            qp = Path(q)
            keys.append([q, "/".join(qp.parts[-2:]), qp.name, qp.stem])  # most specific first
    else:
        keys = [[str(i)] for i in range(n)]
    out = []
    for ks in keys:
        row = next((table[k] for k in ks if k in table), None)
        if row is None:
            raise DataError(f"{path}: no condition row for image {ks[0]} (rows start with its file name"
                            f"{' or path' if images.paths is not None else ' index'})")
        out.append(row)
    assert width is not None
    return torch.tensor(out, dtype=torch.float32), header or [f"c{j}" for j in range(width)]


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (what a tanh generator produces); floats pass through."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x.float()


def make_loader(images: torch.Tensor, labels: torch.Tensor | None, batch_size: int, seed: int = 0,
                extras: dict[str, torch.Tensor] | None = None):
    """A shuffled in-memory :class:`~pictorch.data.loader.TensorLoader` with a GAN-specific size message
    (``extras``: more per-image tensors, e.g. StackGAN's condition vectors as ``cond``)."""
    from pictorch.data.loader import TensorLoader

    if images.shape[0] < batch_size:
        raise DataError(f"only {images.shape[0]} training samples for batches of {batch_size}; lower --batch-size "
                        "(a step draws --batch-size × --d-steps real samples)")
    return TensorLoader(images, labels, batch_size=batch_size, shuffle=True, drop_last=True, seed=seed,
                        extras=extras)
