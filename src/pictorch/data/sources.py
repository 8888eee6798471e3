"""Dataset sources: image folders (class-per-subfolder, flat, paired A/B, unpaired A/B).

All sources decode through :mod:`pictorch.data.decode`: a bad image is skipped and counted in one warning,
never fatal; a folder where nothing is readable is a :class:`~pictorch.errors.DataError`. They are the
``folder`` loaders that :func:`pictorch.data.resolve.resolve` hands an existing folder to; the named sets live in
:data:`pictorch.registry.DATASETS` as ``"<domain>/<name>"`` (``images/fashion-mnist``, ``masks/nuclei``,
``pairs/edges2photo``, ...), registered with :func:`pictorch.data.resolve.dataset` where they are built.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from pictorch.data.decode import DEFAULT_MAX_PIXELS, Mode, ResizeMode, load_images
from pictorch.data.imageset import ImageSet
from pictorch.errors import DataError

logger = logging.getLogger("pictorch")

Size = int | Sequence[int] | None


def _root(root: str | os.PathLike, what: str = "folder") -> Path:
    p = Path(root).expanduser()
    if not p.exists():
        raise DataError(f"{what} {p} does not exist")
    if not p.is_dir():
        raise DataError(f"{what} {p} is not a folder")
    return p


def _walk_images(folder: Path, recursive: bool) -> Iterator[Path]:
    from pictorch.data.files import walk_images

    return walk_images(folder, recursive)


def _stack_or_explain(tensors: list[torch.Tensor], paths: list[str], root: Path) -> torch.Tensor:
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        examples = {}
        for t, p in zip(tensors, paths, strict=True):
            examples.setdefault(tuple(t.shape), p)
        shown = "; ".join(f"{Path(p).name}: {s[0]}×{s[1]}×{s[2]}" for s, p in list(examples.items())[:3])
        raise DataError(
            f"images in {root} have different sizes or channel counts ({shown}); pass a size (e.g. size=(64, 64) "
            "or --size 64) to resize them"
        )
    return torch.stack(tensors)


def _decode_set(
    files: list[Path],
    root: Path,
    size: Size,
    mode: Mode | None,
    resize: ResizeMode,
    on_error: str,
    max_pixels: int,
) -> tuple[torch.Tensor, list[str], list[tuple[str, str]]]:
    if not files:
        raise DataError(f"no image files in {root} (looked for common image extensions, hidden files ignored)")
    images, ok, bad = load_images(
        files, mode=mode, size=size, on_error=on_error, resize=resize, max_pixels=max_pixels  # type: ignore[arg-type]
    )
    if isinstance(images, list):
        images = _stack_or_explain(images, ok, root)
    return images, ok, bad


def load_image_folder(
    root: str | os.PathLike,
    size: Size = None,
    mode: Mode | None = "RGB",
    classes: Sequence[str] | None = None,
    resize: ResizeMode = "fit",
    on_error: str = "skip",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageSet:
    """Load ``root/<class>/<image>`` (class-per-subfolder; images may sit in nested subfolders).

    Args:
        root: Folder whose non-hidden subfolders are the classes (sorted by name).
        size: (H, W) or int to resize every image to; required when the images differ in size.
        mode: "RGB", "L", or None (keep grayscale when all images are grayscale).
        classes: Expected class names (e.g. those of a trained model). Labels then follow this order, and the
            folder must have exactly these classes.
        resize: "fit", "stretch" or "center_crop" (see :func:`pictorch.data.decode.resize_image`).
        on_error: "skip" bad images (counted in one warning) or "raise".
        max_pixels: Decompression-bomb limit per image.

    Returns:
        ImageSet with labels, ``classes`` and ``paths`` of the images that decoded.

    Raises:
        DataError: No class folders, no images, no readable image, mixed sizes without ``size``, or a
            ``classes`` mismatch (missing/extra classes listed).
    """
    root_p = _root(root, "image folder")
    found = [d.name for d in sorted(root_p.iterdir(), key=lambda d: d.name) if d.is_dir() and not d.name.startswith(".")]
    if not found:
        raise DataError(
            f"no class folders in {root_p}; expected one subfolder per class: {root_p}/<class name>/<image files>"
        )
    if classes is not None:
        classes = [str(c) for c in classes]
        missing = [c for c in classes if c not in found]
        extra = [c for c in found if c not in classes]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing: {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected: {', '.join(extra)}")
            raise DataError(f"class folders in {root_p} do not match the expected classes ({'; '.join(parts)})")
        names = classes
    else:
        names = found
    files: list[Path] = []
    labels: list[int] = []
    for i, name in enumerate(names):
        cls_files = list(_walk_images(root_p / name, recursive=True))
        if not cls_files:
            logger.warning("class folder %s has no image files", root_p / name)
        files += cls_files
        labels += [i] * len(cls_files)
    images, ok, _bad = _decode_set(files, root_p, size, mode, resize, on_error, max_pixels)
    label_of = {str(f): lab for f, lab in zip(files, labels, strict=True)}
    return ImageSet(
        images=images,
        labels=torch.tensor([label_of[p] for p in ok], dtype=torch.int64),
        classes=list(names),
        paths=ok,
    )


def load_flat_folder(
    root: str | os.PathLike,
    size: Size = None,
    mode: Mode | None = "RGB",
    recursive: bool = False,
    resize: ResizeMode = "fit",
    on_error: str = "skip",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageSet:
    """Load every image in ``root`` as an unlabelled ImageSet (``labels`` None, ``paths`` set).

    Args:
        root: Folder of images.
        size: (H, W) or int; required when the images differ in size.
        mode: "RGB", "L" or None.
        recursive: Also read non-hidden subfolders.
        resize: "fit", "stretch" or "center_crop".
        on_error: "skip" (default) or "raise".
        max_pixels: Decompression-bomb limit per image.

    Raises:
        DataError: Missing folder, no images, none readable, or mixed sizes without ``size``.
    """
    root_p = _root(root, "image folder")
    files = list(_walk_images(root_p, recursive))
    images, ok, _bad = _decode_set(files, root_p, size, mode, resize, on_error, max_pixels)
    return ImageSet(images=images, paths=ok)


def _resolve_ab(root: Path, split: str | None) -> tuple[Path, Path]:
    """Find the A and B folders under ``root``: A/B, <split>/A and <split>/B, or <split>A and <split>B."""
    layouts: list[tuple[Path, Path]] = []
    if split is None:
        layouts += [(root / "A", root / "B"), (root / "a", root / "b")]
    s = split or "train"
    layouts += [(root / s / "A", root / s / "B"), (root / s / "a", root / s / "b"), (root / f"{s}A", root / f"{s}B")]
    for a, b in layouts:
        if a.is_dir() and b.is_dir():
            return a, b
    tried = ", ".join(f"{a.relative_to(root)}/ + {b.relative_to(root)}/" for a, b in layouts)
    raise DataError(
        f"cannot find the A and B folders in {root}; expected one of: {tried} (or pass the two folders separately)"
    )


def _ab_roots(root_a: str | os.PathLike, root_b: str | os.PathLike | None, split: str | None) -> tuple[Path, Path]:
    if root_b is None:
        return _resolve_ab(_root(root_a, "dataset folder"), split)
    return _root(root_a, "folder A"), _root(root_b, "folder B")


def load_paired(
    root_a: str | os.PathLike,
    root_b: str | os.PathLike | None = None,
    size: Size = None,
    mode: Mode | None = "RGB",
    split: str | None = None,
    resize: ResizeMode = "fit",
    on_error: str = "skip",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[ImageSet, ImageSet]:
    """Load aligned image pairs (e.g. for pix2pix): ``A/x.png`` pairs with ``B/x.jpg`` by file stem.

    Args:
        root_a: Folder of A images, or (with ``root_b`` None) a dataset folder containing ``A/`` and ``B/``,
            ``<split>/A`` and ``<split>/B``, or ``<split>A`` and ``<split>B``.
        root_b: Folder of B images.
        size: (H, W) or int; required when images differ in size.
        mode: "RGB", "L" or None.
        split: Subset name for the one-folder layouts (default: try "train", then plain A/B).
        resize: "fit", "stretch" or "center_crop".
        on_error: "skip" (default) or "raise".
        max_pixels: Decompression-bomb limit per image.

    Returns:
        ``(a, b)``: two unlabelled ImageSets of equal length where ``a[i]`` pairs with ``b[i]``. Files
        without a partner are left out and reported in one warning; a pair with a bad image is dropped.

    Raises:
        DataError: Folders not found, or no matching pair.
    """
    dir_a, dir_b = _ab_roots(root_a, root_b, split)
    files_a = {f.stem: f for f in reversed(list(_walk_images(dir_a, False)))}
    files_b = {f.stem: f for f in reversed(list(_walk_images(dir_b, False)))}
    common = sorted(set(files_a) & set(files_b))
    only_a = sorted(set(files_a) - set(files_b))
    only_b = sorted(set(files_b) - set(files_a))
    if not common:
        raise DataError(
            f"no image pairs: no file name (without extension) appears in both {dir_a} ({len(files_a)} images) "
            f"and {dir_b} ({len(files_b)} images)"
        )
    if only_a or only_b:
        logger.warning(
            "paired data: %d images in %s and %d in %s have no partner and are left out (e.g. %s)",
            len(only_a), dir_a, len(only_b), dir_b, ", ".join((only_a + only_b)[:3]),
        )
    pa = [files_a[s] for s in common]
    pb = [files_b[s] for s in common]
    imgs_a, ok_a, _ = _decode_set(pa, dir_a, size, mode, resize, on_error, max_pixels)
    imgs_b, ok_b, _ = _decode_set(pb, dir_b, size, mode, resize, on_error, max_pixels)
    pos_a = {Path(p).stem: i for i, p in enumerate(ok_a)}
    pos_b = {Path(p).stem: i for i, p in enumerate(ok_b)}
    both = [s for s in common if s in pos_a and s in pos_b]
    if not both:
        raise DataError(f"no readable image pairs in {dir_a} and {dir_b}")
    ia = torch.tensor([pos_a[s] for s in both], dtype=torch.int64)
    ib = torch.tensor([pos_b[s] for s in both], dtype=torch.int64)
    a = ImageSet(images=imgs_a[ia], paths=[ok_a[i] for i in ia.tolist()])
    b = ImageSet(images=imgs_b[ib], paths=[ok_b[i] for i in ib.tolist()])
    return a, b


def load_unpaired(root_a: str | os.PathLike, root_b: str | os.PathLike | None = None, split: str | None = None,
                  **read: Any) -> tuple[ImageSet, ImageSet]:
    """Load two independent image collections (e.g. for CycleGAN): domain A and domain B.

    Args:
        root_a: Folder of A images, or (with ``root_b`` None) a dataset folder laid out as for
            :func:`load_paired` (``A/``+``B/``, ``train/A``+``train/B``, ``trainA``+``trainB``).
        root_b: Folder of B images.
        split: Subset name for the one-folder layouts.
        **read: How each folder is read, as in :func:`load_flat_folder` and :func:`load_paired` (``size``,
            ``mode`` (default RGB), ``resize``, ``on_error``, ``max_pixels``).

    Returns:
        ``(a, b)``: two unlabelled ImageSets, possibly of different lengths.
    """
    dir_a, dir_b = _ab_roots(root_a, root_b, split)
    return load_flat_folder(dir_a, **read), load_flat_folder(dir_b, **read)
