"""The one folder walker: which files are images, in which order, and which are skipped.

Every verb that takes a folder (train, evaluate, predict, embed, enroll, who, ae, gan) lists it here, so they
agree on what a folder holds: image extensions only, sorted by path, hidden files and folders skipped (names
starting with a dot, which includes macOS's ``._IMG.jpg`` AppleDouble files that hold no image).
Standard library only: listing a folder imports neither torch nor Pillow.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from pictorch.errors import DataError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)
"""File extensions (lower case, with the dot) treated as images when scanning folders."""


def is_hidden(name: str) -> bool:
    """Dot files and folders (``.DS_Store``, ``.git``, AppleDouble ``._x.jpg``)."""
    return name.startswith(".")


def is_image_file(path: str | os.PathLike) -> bool:
    """True when ``path`` has an image extension and is not a hidden file."""
    name = Path(path).name
    return not is_hidden(name) and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def walk_images(folder: str | os.PathLike, recursive: bool = True) -> Iterator[Path]:
    """Image files under ``folder`` in sorted order, skipping hidden files and hidden subfolders.

    Raises:
        DataError: The folder cannot be listed.
    """
    folder = Path(folder)
    try:
        entries = sorted(folder.iterdir(), key=lambda e: e.name)
    except OSError as e:
        raise DataError(f"cannot list {folder}: {e.strerror or e}") from None
    for e in entries:
        if is_hidden(e.name):
            continue
        if e.is_dir():
            if recursive:
                yield from walk_images(e, True)
        elif is_image_file(e):
            yield e


def expand_inputs(items: Iterable[str | os.PathLike], what: str = "images", missing_ok: bool = False) -> list[Path]:
    """Files as given, folders expanded to the images inside them (recursively, sorted).

    Args:
        items: Files and folders.
        what: What they are, for messages.
        missing_ok: Pass paths that do not exist through (the caller reports unreadable files per file).

    Raises:
        DataError: A path that does not exist, a folder without images, or nothing at all.
    """
    out: list[Path] = []
    for item in items:
        p = Path(item).expanduser()
        if not p.exists():
            if missing_ok:
                out.append(p)
                continue
            raise DataError(f"{p} does not exist")
        if p.is_dir():
            found = list(walk_images(p))
            if not found:
                raise DataError(f"folder {p} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            out += found
        else:
            out.append(p)
    if not out:
        raise DataError(f"no {what} given")
    return out


def class_folders(root: str | os.PathLike) -> list[Path]:
    """The visible subfolders of ``root`` (one per class or person), sorted by name."""
    root = Path(root)
    return [d for d in sorted(root.iterdir(), key=lambda d: d.name) if d.is_dir() and not is_hidden(d.name)]


def labelled_images(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """``(image, class)`` for every image of ``root/<class>/...`` (sorted; hidden files and folders skipped)."""
    return [(f, d.name) for d in class_folders(root) for f in walk_images(d)]
