"""Classification data: image folders, Fashion-MNIST, synthetic shapes; class subsets, small per-class sets,
mixed-size folders, stratified validation split, normalization statistics."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from pictorch.data.imageset import ImageSet
from pictorch.errors import DataError

log = logging.getLogger("pictorch")



def is_builtin(data: str) -> bool:
    """Whether ``--data`` names a registered image set (not a folder)."""
    from pictorch.data.resolve import lookup

    return lookup(data) is not None


def parse_classes(spec: str | None, names: list[str]) -> list[int] | None:
    """"0-4", "1,3,5", "0-2,7" or class names "cat,dog" -> sorted class indices (None: all)."""
    if spec is None or not str(spec).strip():
        return None
    out: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        if part in names:
            out.append(names.index(part))
            continue
        lo, sep, hi = part.partition("-")
        try:
            idx = list(range(int(lo), int(hi) + 1)) if sep else [int(part)]
        except ValueError:
            raise DataError(f"--classes {spec!r}: {part!r} is neither a class index/range (0-4) nor a class "
                            f"name; classes: {', '.join(names)}") from None
        bad = [i for i in idx if not 0 <= i < len(names)]
        if bad or not idx:
            raise DataError(f"--classes {spec!r}: indices {bad or part} out of range; there are {len(names)} "
                            "classes (0-based)")
        out += idx
    return sorted(set(out))


def take_per_class(ds: ImageSet, n: int, seed: int = 0) -> ImageSet:
    """At most ``n`` random images of each class (0: all)."""
    if not n or ds.labels is None:
        return ds
    g = torch.Generator().manual_seed(int(seed))
    keep = []
    for c in range(len(ds.classes)):
        idx = (ds.labels == c).nonzero().flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    return ds.subset(torch.cat(keep).sort().values)


def _scan_folder(root: Path) -> tuple[Counter, Counter]:
    """Sizes (H, W) and channel kinds of the images under root, from file headers (no decoding)."""
    from PIL import Image

    from pictorch.data.files import walk_images

    sizes: Counter = Counter()
    modes: Counter = Counter()
    for p in walk_images(root):
        try:
            with Image.open(p) as im:
                sizes[(im.size[1], im.size[0])] += 1
                modes["L" if im.mode in ("L", "LA", "1", "I", "I;16", "F") else "RGB"] += 1
        except Exception:  # noqa: BLE001 - unreadable files are skipped (and counted) by the decoder
            continue
    return sizes, modes


def load_folder(root: str, image_size: int | None = None, mode: str | None = None,
                classes: list[str] | None = None) -> tuple[ImageSet, str | None]:
    """A class-per-subfolder folder as an ImageSet; mixed sizes/modes are normalized (resize, RGB) with a note.

    Returns:
        (dataset, note): ``note`` says what was normalized, or None.
    """
    from pictorch.data.sources import load_image_folder

    p = Path(root).expanduser()
    if not p.exists():
        raise DataError(f"data folder {p} does not exist")
    if not p.is_dir():
        raise DataError(f"{p} is not a folder; expected one subfolder per class: {p}/<class name>/<images>")
    note = None
    size: tuple[int, int] | None = (image_size, image_size) if image_size else None
    if size is None or mode is None:
        sizes, modes = _scan_folder(p)
        parts = []
        if size is None and len(sizes) > 1:
            size = sizes.most_common(1)[0][0]
            shown = ", ".join(f"{h}×{w}" for h, w in list(sizes)[:3])
            parts.append(f"mixed sizes ({shown}{', ...' if len(sizes) > 3 else ''}) resized to {size[0]}×{size[1]} "
                         "(the most common; choose with --image-size)")
        if mode is None and len(modes) > 1:
            mode = "RGB"
            parts.append("grayscale and colour images mixed: all converted to RGB (choose with --mode)")
        if mode is None:
            mode = next(iter(modes), "RGB")
        if parts:
            note = f"{p}: " + "; ".join(parts)
    ds = load_image_folder(p, size=size, mode=mode, classes=classes)
    return ds, note


def load_dataset(data: str, split: str = "train", data_dir: str | None = None, image_size: int | None = None,
                 mode: str | None = None, classes: list[str] | None = None, seed: int = 0,
                 synthetic_n: int = 512) -> tuple[ImageSet, str | None]:
    """Load ``data`` (folder, fashion-mnist, synthetic) -> (ImageSet, note about normalization or None).

    Built-in sets are resized with ``image_size`` and converted to ``mode`` on the tensor side.
    """
    from pictorch.data.resolve import resolve

    ds = resolve(data, folder=lambda path, **_: load_folder(path, image_size=image_size, mode=mode, classes=classes),
                 split=split, data_dir=data_dir, seed=seed, n=synthetic_n)
    if isinstance(ds, tuple):  # a folder: (set, note)
        return ds
    ds = ImageSet(images=convert_images(ds.images, image_size, mode), labels=ds.labels, classes=list(ds.classes))
    return ds, None


def convert_images(images: torch.Tensor, image_size: int | tuple[int, int] | list[int] | None,
                   mode: str | None) -> torch.Tensor:
    """uint8 N×C×H×W -> the given side/size (stretched) and mode ("L"/"RGB"), by the one converter
    :mod:`pictorch.data.convert`."""
    from pictorch.data.convert import resize, to_mode

    return resize(to_mode(images, mode), image_size, "stretch")


def check_training_set(ds: ImageSet, where: str) -> None:
    """Reject sets a classifier cannot learn from (one class, empty classes)."""
    if ds.labels is None or len(ds) == 0:
        raise DataError(f"{where}: no labelled images")
    present = sorted(set(ds.labels.tolist()))
    if len(ds.classes) < 2 or len(present) < 2:
        only = ds.classes[present[0]] if present else "?"
        raise DataError(f"{where}: only one class ({only!r}); a classifier needs at least two class subfolders "
                        f"({where}/<class A>/..., {where}/<class B>/...)")
    empty = [ds.classes[i] for i in range(len(ds.classes)) if i not in present]
    if empty:
        raise DataError(f"{where}: classes without images: {', '.join(empty[:5])}; add images or remove them")


def channel_mean_std(images: torch.Tensor, max_images: int = 10000) -> tuple[list[float], list[float]]:
    """Per-channel mean/std of x/255 over (a sample of) uint8 images."""
    x = images[:max_images].float() / 255.0
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return [round(float(m), 4) for m in mean], [round(float(s), 4) for s in std]


def describe(ds: ImageSet) -> dict[str, Any]:
    counts = torch.bincount(ds.labels, minlength=len(ds.classes)).tolist() if ds.labels is not None else []
    return {"images": len(ds), "classes": len(ds.classes), "per_class": counts}
