"""Segmentation data: image + mask folders, the ``--data`` road (:func:`load_segset`; the built-in sets live
in :mod:`pictorch.tasks.segment.builtin`), quadrant folds, and a crop loader that batches images of any sizes.

Masks are class-index maps (uint8 H×W; 255 = not scored). A folder's masks are read as they come and their
format is detected over the whole set:

* palette PNGs (mode ``P``): the palette indices are the classes (VOC style; 255 stays "not scored");
* grayscale with only 0 and 255: binary, 255 → class 1;
* grayscale with small values 0..K-1: index masks;
* RGB colour maps: each colour one class (black first as background), or the colours a ``classes.json``
  (``{"names": [...], "colors": [[r, g, b], ...]}``) beside the folders declares; an undeclared colour, a
  class value outside the declared classes, a mask whose size differs from its image and an image without
  a mask are one-line errors naming the file, with the per-class pixel counts found.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pictorch.errors import DataError

IGNORE = 255
IMAGE_DIRS = ("images", "image", "imgs", "img")
MASK_DIRS = ("masks", "mask", "labels", "label", "annotations")
MASK_SUFFIXES = ("", "_mask", "_label", "_labels", "_seg")
MAX_AUTO_COLORS = 64


@dataclass
class SegSet:
    """Images and their masks; images may differ in size.

    Attributes:
        images: uint8 C×H×W tensors.
        masks: uint8 H×W class-index tensors (255: not scored).
        classes: Class names (index order; ``["background", "foreground"]`` for binary masks).
        paths: Where each image came from.
        colors: An RGB colour per class for overlays and colour-map PNGs.
        mask_format: How the masks were read (binary, index, palette, rgb, instances...).
    """

    images: list[torch.Tensor]
    masks: list[torch.Tensor]
    classes: list[str]
    paths: list[str] = field(default_factory=list)
    colors: list[tuple[int, int, int]] = field(default_factory=list)
    mask_format: str = "index"

    def __post_init__(self) -> None:
        if len(self.images) != len(self.masks):
            raise DataError(f"{len(self.images)} images but {len(self.masks)} masks")
        if not self.colors:
            self.colors = default_colors(len(self.classes))
        if not self.paths:
            self.paths = [f"image {i}" for i in range(len(self.images))]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_channels(self) -> int:
        return int(self.images[0].shape[0]) if self.images else 0

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def subset(self, idx: Sequence[int]) -> SegSet:
        idx = list(idx)
        return SegSet([self.images[i] for i in idx], [self.masks[i] for i in idx], list(self.classes),
                      [self.paths[i] for i in idx], list(self.colors), self.mask_format)

    def pixel_counts(self) -> list[int]:
        """Scored pixels per class over the set."""
        counts = torch.zeros(len(self.classes), dtype=torch.long)
        for m in self.masks:
            v = m[m != IGNORE].long()
            counts += torch.bincount(v, minlength=len(self.classes))[: len(self.classes)]
        return counts.tolist()

    def describe(self) -> dict[str, Any]:
        sizes = sorted({tuple(im.shape[-2:]) for im in self.images})
        return {"images": len(self), "channels": self.num_channels, "sizes": [list(s) for s in sizes[:5]],
                "classes": self.classes, "pixels_per_class": self.pixel_counts(), "mask_format": self.mask_format}


def default_colors(k: int) -> list[tuple[int, int, int]]:
    """Black background, then well-separated hues (VOC's bit-interleaved palette)."""
    out = []
    for i in range(k):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    if k == 2:
        out[1] = (255, 255, 255)
    return out


# -- reading masks -----------------------------------------------------------------------------------------


def _read_raw_mask(path: Path) -> tuple[np.ndarray, str, list[tuple[int, int, int]] | None]:
    """(array, kind, palette): kind "palette" (H×W indices), "gray" (H×W values) or "rgb" (H×W×3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode == "P":
                pal = im.getpalette() or []
                colors = [tuple(pal[i:i + 3]) for i in range(0, len(pal), 3)]
                return np.array(im), "palette", colors  # type: ignore[return-value]
            if im.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F"):
                return np.array(im), "gray", None
            if im.mode == "LA":
                return np.array(im.convert("L")), "gray", None
            arr = np.array(im.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"{path}: not a readable mask image ({e.__class__.__name__}: {str(e)[:80]})") from None
    if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
        return arr[..., 0], "gray", None
    return arr, "rgb", None


def _counts_text(values: np.ndarray, counts: np.ndarray, limit: int = 8) -> str:
    return ", ".join(f"{int(v)}: {int(c)} px" for v, c in list(zip(values, counts, strict=True))[:limit])


def _find_dirs(root: Path) -> tuple[Path, Path]:
    img = next((root / d for d in IMAGE_DIRS if (root / d).is_dir()), None)
    msk = next((root / d for d in MASK_DIRS if (root / d).is_dir()), None)
    if img is None or msk is None:
        raise DataError(f"{root}: expected an images/ and a masks/ folder (masks named like their images, "
                        "e.g. images/a.jpg + masks/a.png or masks/a_mask.png)")
    return img, msk


def _match_masks(images: list[Path], mask_dir: Path) -> list[Path]:
    from pictorch.data.decode import is_image_file

    by_stem: dict[str, Path] = {}
    for p in sorted(mask_dir.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and is_image_file(p):
            by_stem.setdefault(str(p.relative_to(mask_dir).with_suffix("")), p)
    out = []
    for im in images:
        stem = im.stem
        found = next((by_stem[s + suf] for s in (stem,) for suf in MASK_SUFFIXES if s + suf in by_stem), None)
        if found is None:
            raise DataError(f"{im}: no mask for this image in {mask_dir} (looked for {stem}.png, "
                            f"{stem}_mask.png, ...); add it or move the image out")
        out.append(found)
    return out


def load_mask_folder(root: str | os.PathLike, mode: str | None = None, classes: Sequence[str] | None = None,
                     limit: int = 0) -> SegSet:
    """Read ``root/images/*`` and their masks from ``root/masks/``.

    Args:
        root: The dataset folder (optionally with ``classes.json``).
        mode: ``"L"``, ``"RGB"`` or None (gray stays gray, everything else RGB; a mixed folder becomes RGB).
        classes: Declared class names (their count bounds the mask values); default from ``classes.json``
            or from the masks.
        limit: Read at most this many images (0: all).

    Raises:
        DataError: Missing folders, an image without a mask, a mask of another size, values outside the
            declared classes, unknown colours.
    """
    from pictorch.data.decode import is_image_file, load_image

    r = Path(root).expanduser()
    if not r.is_dir():
        raise DataError(f"{r}: no such folder (give a folder with images/ and masks/, or nuclei / synthetic)")
    img_dir, mask_dir = _find_dirs(r)
    files = sorted(p for p in img_dir.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(img_dir).parts) and is_image_file(p))
    if not files:
        raise DataError(f"{img_dir}: no images")
    if limit:
        files = files[:limit]
    mask_files = _match_masks(files, mask_dir)
    declared = _read_classes_json(r)
    names = list(classes) if classes else (declared["names"] if declared else None)
    declared_colors = declared.get("colors") if declared else None

    images = [load_image(p, mode=mode) for p in files]
    if mode is None and len({int(im.shape[0]) for im in images}) > 1:
        images = [im.expand(3, -1, -1).contiguous() if im.shape[0] == 1 else im for im in images]
    raws = [_read_raw_mask(p) for p in mask_files]
    for im, (arr, _, _), ip, mp in zip(images, raws, files, mask_files, strict=True):
        if tuple(arr.shape[:2]) != tuple(im.shape[-2:]):
            raise DataError(f"{mp}: mask is {arr.shape[1]}×{arr.shape[0]} but its image {ip.name} is "
                            f"{im.shape[-1]}×{im.shape[-2]}; masks must have their image's size")
    kinds = {k for _, k, _ in raws}
    if "rgb" in kinds or declared_colors:
        masks, names, colors, fmt = _rgb_masks(raws, mask_files, names, declared_colors)
    else:
        masks, names, colors, fmt = _index_masks(raws, mask_files, names)
    return SegSet(images, masks, names, [str(p) for p in files], colors, fmt)


def _read_classes_json(root: Path) -> dict[str, Any] | None:
    p = root / "classes.json"
    if not p.is_file():
        return None
    try:
        d = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{p}: not valid JSON ({e})") from None
    if isinstance(d, list):
        d = {"names": d}
    if not isinstance(d, dict) or not isinstance(d.get("names"), list):
        raise DataError(f'{p}: expected {{"names": [...], "colors": [[r, g, b], ...]}}')
    if d.get("colors") is not None and len(d["colors"]) != len(d["names"]):
        raise DataError(f"{p}: {len(d['names'])} names but {len(d['colors'])} colors")
    return d


def _index_masks(raws: list, paths: list[Path], names: list[str] | None) -> tuple[list, list, list, str]:
    values = np.unique(np.concatenate([np.unique(a) for a, _, _ in raws]))
    palette = next((p for _, k, p in raws if k == "palette"), None)
    scored = values[values != IGNORE]  # 255 marks pixels not scored (VOC's object borders)
    if palette is None and set(values.tolist()) <= {0, 255} and 255 in values and not names:
        masks = [torch.from_numpy((a == 255).astype(np.uint8)) for a, _, _ in raws]
        return masks, ["background", "foreground"], default_colors(2), "binary (0/255)"
    if palette is None and names and len(names) == 2 and set(values.tolist()) <= {0, 255}:
        masks = [torch.from_numpy((a == 255).astype(np.uint8)) for a, _, _ in raws]
        return masks, list(names), default_colors(2), "binary (0/255)"
    k = len(names) if names else int(scored.max()) + 1 if scored.size else 1
    if names is None and k > 64:
        raise DataError(f"masks hold values up to {int(scored.max())}: not class indices (a photo? a "
                        "JPEG-compressed mask?); save masks as index or 0/255 PNGs, or declare the classes in "
                        "classes.json")
    bad = scored[scored >= k]
    if bad.size:
        first = next(p for (a, _, _), p in zip(raws, paths, strict=True) if np.isin(a, bad).any())
        allv = np.concatenate([a.ravel() for a, _, _ in raws])
        vals, counts = np.unique(allv, return_counts=True)
        raise DataError(f"{first}: class value {int(bad[0])} outside the {k} declared classes 0..{k - 1} "
                        f"(values found: {_counts_text(vals, counts)})")
    masks = [torch.from_numpy(a.astype(np.uint8)) for a, _, _ in raws]
    names = list(names) if names else (["background", "foreground"] if k == 2 else
                                       ["background", *(f"class_{i}" for i in range(1, k))])
    colors = [tuple(c) for c in palette[:k]] if palette is not None else default_colors(k)
    return masks, names, colors, "palette" if palette is not None else "index"


def _rgb_masks(raws: list, paths: list[Path], names: list[str] | None,
               declared: list | None) -> tuple[list, list, list, str]:
    def rgb(a: np.ndarray, kind: str, pal: list | None) -> np.ndarray:
        if kind == "rgb":
            return a
        if kind == "palette" and pal is not None:
            return np.array(pal, dtype=np.uint8)[a]
        return np.repeat(a[..., None].astype(np.uint8), 3, axis=2)

    arrays = [rgb(a, k, p) for a, k, p in raws]
    codes = [(a[..., 0].astype(np.int64) << 16) | (a[..., 1].astype(np.int64) << 8) | a[..., 2] for a in arrays]
    if declared:
        table = [tuple(int(v) for v in c) for c in declared]
    else:
        found = np.unique(np.concatenate([np.unique(c) for c in codes]))
        if found.size > MAX_AUTO_COLORS:
            raise DataError(f"RGB masks hold {found.size} colours: not a colour map (JPEG-compressed or a "
                            "photo?); save masks as PNG with one colour per class, or declare them in classes.json")
        table = sorted(((int(c) >> 16, (int(c) >> 8) & 255, int(c) & 255) for c in found),
                       key=lambda t: (t != (0, 0, 0), t))
    lut = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(table)}
    masks = []
    for code, p in zip(codes, paths, strict=True):
        uniq, inv = np.unique(code, return_inverse=True)
        unknown = [int(u) for u in uniq if int(u) not in lut]
        if unknown:
            u = unknown[0]
            raise DataError(f"{p}: colour ({u >> 16}, {(u >> 8) & 255}, {u & 255}) is not one of the "
                            f"{len(table)} declared class colours; fix the mask or add the colour to classes.json")
        mapped = np.array([lut[int(u)] for u in uniq], dtype=np.uint8)[inv].reshape(code.shape)
        masks.append(torch.from_numpy(mapped))
    k = len(table)
    if names is not None and len(names) != k:
        raise DataError(f"{len(names)} class names but the masks use {k} colours")
    names = list(names) if names else ["background" if t == (0, 0, 0) else "#" + "".join(f"{v:02x}" for v in t) for t in table]
    return masks, names, table, "rgb"


def quadrant_folds(ds: SegSet, fold: int) -> tuple[SegSet, SegSet]:
    """Split each image into 2×2 quadrants; quadrant ``fold`` (0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right) of every image is the test set, the other three the training set."""
    if not 0 <= fold <= 3:
        raise DataError(f"--fold must be 0..3 (the test quadrant), got {fold}")
    tr_i, tr_m, te_i, te_m, tr_p, te_p = [], [], [], [], [], []
    for im, m, p in zip(ds.images, ds.masks, ds.paths, strict=True):
        h, w = im.shape[-2:]
        hh, hw = h // 2, w // 2
        for q, (y, x) in enumerate(((0, 0), (0, hw), (hh, 0), (hh, hw))):
            qi = im[:, y:y + hh, x:x + hw].contiguous()
            qm = m[y:y + hh, x:x + hw].contiguous()
            (te_i if q == fold else tr_i).append(qi)
            (te_m if q == fold else tr_m).append(qm)
            (te_p if q == fold else tr_p).append(f"{p}#q{q}")
    mk = lambda i, m, p: SegSet(i, m, list(ds.classes), p, list(ds.colors), ds.mask_format)  # noqa: E731
    return mk(tr_i, tr_m, tr_p), mk(te_i, te_m, te_p)


def load_segset(spec: str, mode: str | None = None, classes: Sequence[str] | None = None, limit: int = 0,
                seed: int = 0, split: str = "train") -> SegSet:
    """``--data`` → SegSet through :func:`pictorch.data.resolve.resolve` (domain ``masks``): a folder,
    ``nuclei`` / ``earth`` (the whole image), ``fashion-clutter`` (11 classes), ``synthetic`` / ``synthetic-multi``."""
    from pictorch.data.resolve import resolve

    return resolve(spec, domain="masks",
                   folder=lambda path, **_: load_mask_folder(path, mode=mode, classes=classes, limit=limit),
                   limit=limit, seed=seed, split=split)


# -- batching ----------------------------------------------------------------------------------------------


class CropLoader:
    """Random crops of a fixed size from images of any sizes, batched as uint8 tensors.

    Each item draws an image (weighted by its area, so big images give proportionally more crops) and a
    crop position; images smaller than the crop are padded, their padding masked 255 (not scored). Batches
    are ``{"image": uint8 B×C×c×c, "mask": uint8 B×c×c}``. A batch depends only on (seed, epoch, position), so
    :meth:`state_dict`/:meth:`load_state_dict` resume exactly.

    Args:
        ds: The training set.
        crop: Crop side (None: the largest image side, i.e. whole images padded to a common size).
        batch_size: Crops per batch.
        batches_per_epoch: Length of an epoch (default: enough crops to cover the set's pixels once).
        seed: Random seed.
    """

    def __init__(self, ds: SegSet, crop: int | None, batch_size: int, batches_per_epoch: int | None = None,
                 seed: int = 0):
        if len(ds) == 0:
            raise DataError("no training images")
        self.ds, self.batch_size, self.seed = ds, int(batch_size), int(seed)
        sides = [max(int(im.shape[-2]), int(im.shape[-1])) for im in ds.images]
        self.crop = int(crop) if crop else max(sides)
        areas = torch.tensor([float(im.shape[-2] * im.shape[-1]) for im in ds.images])
        self.weights = areas / areas.sum()
        per_epoch = batches_per_epoch or max(1, round(float(areas.sum()) / (self.crop ** 2 * self.batch_size)))
        self.batches_per_epoch = int(per_epoch)
        self.epoch, self.position = 0, 0
        self.device = torch.device("cpu")

    def __len__(self) -> int:
        return self.batches_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.position = int(epoch), 0

    def to(self, device: torch.device | str) -> CropLoader:
        self.device = torch.device(device)
        return self

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def batch(self, epoch: int, position: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 1_000_003 + position)
        c = self.crop
        idx = torch.multinomial(self.weights, self.batch_size, replacement=True, generator=g).tolist()
        ch = self.ds.num_channels
        images = torch.zeros(self.batch_size, ch, c, c, dtype=torch.uint8)
        masks = torch.full((self.batch_size, c, c), IGNORE, dtype=torch.uint8)
        for j, i in enumerate(idx):
            im, m = self.ds.images[i], self.ds.masks[i]
            h, w = int(im.shape[-2]), int(im.shape[-1])
            y = int(torch.randint(0, max(1, h - c + 1), (1,), generator=g))
            x = int(torch.randint(0, max(1, w - c + 1), (1,), generator=g))
            ph, pw = min(c, h), min(c, w)
            images[j, :, :ph, :pw] = im[:, y:y + ph, x:x + pw]
            masks[j, :ph, :pw] = m[y:y + ph, x:x + pw]
        return {"image": images.to(self.device), "mask": masks.to(self.device)}

    def __iter__(self):
        while self.position < self.batches_per_epoch:
            b = self.batch(self.epoch, self.position)
            self.position += 1
            yield b
        self.epoch, self.position = self.epoch + 1, 0


# the built-in sets register themselves in the masks domain; re-exported for the older imports
from pictorch.tasks.segment.builtin import (  # noqa: E402,F401
    EARTH_IMAGE,
    load_earth,
    load_nuclei,
    stardist_files,
    synthetic_segset,
)
