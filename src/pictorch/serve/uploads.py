"""Uploaded photos: size cap, pixel cap (decompression bombs), type by content (never by name), then a private
temporary file the gallery use cases can read, removed as soon as the call returns.

The temporary folder lives beside the gallery (``<gallery>.uploads/``, mode 0700) so no biometric data is
written anywhere else, and is emptied at start in case a killed server left files behind.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pictorch.errors import DataError

FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif",
           "PPM": ".pgm"}  # PPM: PIL's name for PGM/PPM (the AT&T faces are PGM)
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40 MP photo decodes to 120 MB of RGB; a bomb claims far more


class UploadError(DataError):
    """An upload that is too big, not an image, or claims too many pixels (HTTP 413/415/422)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """One uploaded photo: the name the client gave (shown back in answers) and its bytes."""

    name: str
    data: bytes


def from_base64(name: str, text: str, max_bytes: int = MAX_BYTES) -> Upload:
    """Decode a base64 photo (a ``data:image/...;base64,`` prefix is allowed)."""
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    if len(text) > (max_bytes * 4) // 3 + 8:
        raise UploadError(f"{name}: larger than the {max_bytes // (1024 * 1024)} MB upload limit", 413)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(f"{name}: not valid base64", 422) from None
    return Upload(name, data)


def check(up: Upload, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> str:
    """Validate one upload by its content; returns the file extension of its real format."""
    from PIL import Image, UnidentifiedImageError

    if len(up.data) > max_bytes:
        raise UploadError(f"{up.name}: {len(up.data)} bytes is larger than the {max_bytes} byte upload limit", 413)
    if not up.data:
        raise UploadError(f"{up.name}: empty file", 422)
    try:
        with Image.open(io.BytesIO(up.data)) as im:  # reads the header only: the pixel cap comes before decoding
            fmt, (w, h) = im.format, im.size
            if fmt not in FORMATS:
                raise UploadError(f"{up.name}: {fmt} images are not accepted ({', '.join(FORMATS)})", 415)
            if w * h > max_pixels:
                raise UploadError(f"{up.name}: {w}x{h} is more than the {max_pixels:,} pixel limit", 413)
            im.verify()
    except UploadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UploadError(f"{up.name}: not an image (JPEG, PNG, WebP, BMP, GIF, TIFF or PGM)", 415) from None
    return FORMATS[fmt]


def safe_name(name: str) -> str:
    """A client's file name reduced to a harmless base name (no folders, no odd characters)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(name or "photo"))[:80].lstrip(".")
    return base or "photo"


class Spool:
    """The private temporary folder of a gallery's uploads."""

    def __init__(self, gallery: str | os.PathLike, root: str | os.PathLike | None = None):
        from pictorch.gallery.backends import sidecar

        self.root = Path(root) if root else Path(sidecar(gallery, ".uploads"))
        shutil.rmtree(self.root, ignore_errors=True)  # files a killed server left behind
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextlib.contextmanager
    def files(self, uploads: list[Upload], max_bytes: int = MAX_BYTES,
              max_pixels: int = MAX_PIXELS) -> Iterator[tuple[list[str], dict[str, str]]]:
        """Check every upload, write each to a temporary file; yields the paths and path → client name."""
        if not uploads:
            raise UploadError("no photos given", 422)
        exts = [check(u, max_bytes, max_pixels) for u in uploads]
        d = tempfile.mkdtemp(dir=self.root)
        try:
            paths, names = [], {}
            for i, (u, ext) in enumerate(zip(uploads, exts, strict=True)):
                stem = Path(safe_name(u.name)).stem
                p = os.path.join(d, f"{i:03d}_{stem}{ext}")
                with open(p, "wb") as f:
                    f.write(u.data)
                paths.append(p)
                names[p] = u.name
            yield paths, names
        finally:
            shutil.rmtree(d, ignore_errors=True)
