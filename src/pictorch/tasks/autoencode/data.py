"""Where the autoencoder's images come from: Fashion-MNIST, synthetic shapes, an image folder, or files.

Everything goes through the shared :mod:`pictorch.data` (ImageSet, loaders, safe decoding). Images stay uint8
N×C×H×W in memory; models see them scaled to [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pictorch.data.files import IMAGE_EXTENSIONS, walk_images
from pictorch.errors import DataError

IMAGE_SUFFIXES = tuple(sorted(IMAGE_EXTENSIONS))


def _pair(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


def is_builtin(data: str) -> bool:
    """Whether ``--data`` names a registered image set (Fashion-MNIST, synthetic...) rather than a folder."""
    from pictorch.data.resolve import lookup

    return lookup(data) is not None


def default_mode(data: str) -> str:
    """"L" for the registered image sets, "RGB" for folders."""
    return "L" if is_builtin(data) else "RGB"


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
    from pictorch.data.resolve import resolve

    ds = resolve(data, folder=lambda path, **_: load_folder(Path(path), size=size or (32, 32), mode=mode),
                 split=split, data_dir=data_dir, size=size, mode=mode, seed=seed, n=limit or 512)
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
        from pictorch.data.sources import load_image_folder

        return load_image_folder(root, size=size, mode=mode)
    from pictorch.data.sources import load_flat_folder

    return load_flat_folder(root, size=size, mode=mode, recursive=True)


def _image_files(inputs: Sequence[str | Path]) -> list[Path]:
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += list(walk_images(p))
        else:
            out.append(p)
    return out


def load_files(inputs: Sequence[str | Path], size: int | Sequence[int] | None, mode: str,
               progress: Any = None) -> tuple[Any, list[str]]:
    """Decode image files and folders (recursively) into uint8 N×C×H×W at ``size`` (None: a list of C×H×W at
    their own sizes); bad files are skipped with a warning, none decodable is a :class:`DataError`;
    ``progress(done, total)`` after each file."""
    if not inputs:
        raise DataError("no input images given")
    for item in inputs:
        if not Path(item).exists():
            raise DataError(f"{item}: no such file or folder")
    files = _image_files(inputs)
    if not files:
        raise DataError(f"{', '.join(str(i) for i in inputs)}: no image files found "
                        f"(looked for {', '.join(IMAGE_SUFFIXES)})")
    from pictorch.data.decode import load_images

    # bad files are skipped with one warning; none readable is a DataError naming the first
    images, ok, _bad = load_images([str(f) for f in files], mode=mode, size=_pair(size) if size else None,
                                   on_error="skip", progress=progress)
    return images, [str(p) for p in ok]


def make_loader(images: torch.Tensor, batch_size: int, seed: int) -> Any:
    """A shuffled, resumable :class:`pictorch.data.loader.TensorLoader` over uint8 images."""
    if len(images) < batch_size:
        raise DataError(f"only {len(images)} training images but --batch-size {batch_size}; lower --batch-size")
    from pictorch.data.loader import TensorLoader

    return TensorLoader(images, None, batch_size=batch_size, shuffle=True, drop_last=True, seed=seed)

