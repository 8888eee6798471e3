"""Safe image decoding with Pillow.

Every failure (missing, empty, truncated, corrupt, not an image, decompression bomb) becomes a
:class:`~pictorch.errors.BadImageError` carrying the path and a short human reason, so long jobs can skip
and count bad files instead of dying on the first one. Every supported pixel format (CMYK, RGBA, LA, palette
with transparency, 16-bit, 1-bit, ...) is normalized to the requested mode, with EXIF orientation applied.
"""

from __future__ import annotations

import logging
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from pictorch.data.files import IMAGE_EXTENSIONS, is_image_file  # noqa: F401 - re-exported
from pictorch.errors import BadImageError, DataError

if TYPE_CHECKING:  # torch loads inside the functions that return tensors: load_array needs only numpy
    import torch

logger = logging.getLogger("pictorch")

DEFAULT_MAX_PIXELS = 89_478_485
"""Largest accepted width × height (Pillow's own default limit); bigger files are refused as bombs."""

Mode = Literal["RGB", "L"]
ResizeMode = Literal["fit", "stretch", "center_crop"]


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c >= 32 or c in b"\t\r\n\f" for c in head)


def _human_reason(exc: BaseException) -> str:
    msg = str(exc)
    low = msg.lower()
    if "truncated" in low or isinstance(exc, EOFError):
        return "truncated file (image data ends early)"
    if "crc" in low or isinstance(exc, zlib.error):
        return "corrupt data (checksum/compression error)"
    if isinstance(exc, MemoryError):
        return "image too large to decode in memory"
    first = msg.splitlines()[0] if msg else type(exc).__name__
    return f"corrupt or unsupported image data ({first[:120]})"


def _to_mode(im: Image.Image, mode: str | None) -> Image.Image:
    """Normalize any Pillow mode to "RGB" or "L" (alpha composited on white, 16-bit scaled)."""
    src = im.mode
    if src == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif src == "PA":
        im = im.convert("RGBA")
    elif src == "1":
        im = im.convert("L")
    elif src in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im).astype(np.float64)
        # 16-bit data spans 0..65535: scale (not clip) to 0..255 so bright areas keep their detail.
        arr = np.clip(arr, 0, 65535) * (255.0 / 65535.0)
        im = Image.fromarray(np.rint(arr).astype(np.uint8), mode="L")
    elif src == "F":
        arr = np.asarray(im).astype(np.float64)
        finite = arr[np.isfinite(arr)]
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        arr = np.nan_to_num(arr * scale, nan=0.0, posinf=255.0, neginf=0.0)
        im = Image.fromarray(np.rint(np.clip(arr, 0, 255)).astype(np.uint8), mode="L")
    elif src in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    if im.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        gray_src = im.mode in ("LA", "La")
        im = Image.alpha_composite(white, rgba).convert("L" if gray_src else "RGB")
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    target = mode or im.mode
    if im.mode != target:
        im = im.convert(target)
    return im


def _decode(path: str | os.PathLike, mode: str | None, max_pixels: int) -> Image.Image:
    """Open, verify, orient and convert one image; raise BadImageError on any failure."""
    if mode not in (None, "RGB", "L"):
        raise ValueError(f"mode must be 'RGB', 'L' or None, got {mode!r}")
    p = str(path)
    try:
        size = os.path.getsize(p)
    except FileNotFoundError:
        raise BadImageError(p, "file not found") from None
    except OSError as e:
        raise BadImageError(p, f"cannot read file ({e.strerror or e})") from None
    if os.path.isdir(p):
        raise BadImageError(p, "is a folder, not an image file")
    if size == 0:
        raise BadImageError(p, "empty file (0 bytes)")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone enabled Pillow's lenient mode globally; we still refuse to pass off half-decoded images.
        logger.debug("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True; truncation may go undetected")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open(p, "rb") as f:
                head = f.read(64)
                f.seek(0)
                try:
                    im = Image.open(f)
                except UnidentifiedImageError:
                    kind = "looks like a text file" if _looks_like_text(head) else "unrecognized format"
                    raise BadImageError(p, f"not an image ({kind})") from None
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise BadImageError(p, f"invalid image size {w}x{h}")
                if w * h > max_pixels:
                    raise BadImageError(
                        p, f"too large: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} "
                        "(possible decompression bomb)"
                    )
                im.load()
            try:
                im = ImageOps.exif_transpose(im) or im
            except Exception as e:  # a broken EXIF block should not cost us an otherwise good image
                logger.debug("ignoring unreadable EXIF orientation in %s: %s", p, e)
            return _to_mode(im, mode)
    except BadImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadImageError(p, f"too large: possible decompression bomb ({str(e).split(',')[0]})") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, MemoryError,
            IndexError, TypeError, KeyError) as e:
        raise BadImageError(p, _human_reason(e)) from None


def _pil_to_tensor(im: Image.Image) -> torch.Tensor:
    import torch

    arr = np.array(im, dtype=np.uint8)  # a writable copy: torch must not alias Pillow-owned memory
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def load_array(
    path: str | os.PathLike, mode: Mode | None = "RGB", max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode one image file into a uint8 array H×W×C, exactly as :func:`load_image` (same checks, same
    mode conversion, EXIF orientation), without importing torch.

    Face detection works on H×W×3 arrays; decoding straight into one keeps torch out of a face ``who``
    (importing it is ~1 s of a one-photo ``who``'s start-up on an idle core, 3-4 s on a loaded one).

    Raises:
        BadImageError: As :func:`load_image`.
    """
    arr = np.array(_decode(path, mode, max_pixels), dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_image(
    path: str | os.PathLike, mode: Mode | None = "RGB", max_pixels: int = DEFAULT_MAX_PIXELS
) -> torch.Tensor:
    """Decode one image file into a uint8 tensor C×H×W.

    Args:
        path: Image file.
        mode: "RGB" (3 channels), "L" (1 channel), or None to keep grayscale images grayscale and
            make everything else RGB. Alpha is composited on white; 16-bit data is scaled to 8 bits;
            EXIF orientation is applied.
        max_pixels: Largest accepted width × height; bigger images are refused as decompression bombs.

    Returns:
        uint8 tensor C×H×W.

    Raises:
        BadImageError: The file is missing, empty, truncated, corrupt, not an image, or too large.
    """
    return _pil_to_tensor(_decode(path, mode, max_pixels))


def _parse_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        h = w = size
    else:
        if len(size) != 2:
            raise ValueError(f"size must be an int or (H, W), got {size!r}")
        h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return h, w


def resize_image(im: Image.Image, size: tuple[int, int], how: ResizeMode = "fit") -> Image.Image:
    """Resize a Pillow image to exactly ``size`` = (H, W).

    Args:
        im: Image in mode "RGB" or "L".
        size: Target (H, W).
        how: "fit" keeps the aspect ratio, scales to fit inside and pads the rest with black (centred);
            "stretch" scales each axis independently; "center_crop" scales to cover and crops the centre.
    """
    h, w = size
    if im.size == (w, h):
        return im
    resample = Image.Resampling.BICUBIC
    if how == "stretch":
        return im.resize((w, h), resample)
    if how == "center_crop":
        return ImageOps.fit(im, (w, h), method=resample)
    if how == "fit":
        inner = ImageOps.contain(im, (w, h), method=resample)
        canvas = Image.new(im.mode, (w, h), 0)
        canvas.paste(inner, ((w - inner.size[0]) // 2, (h - inner.size[1]) // 2))
        return canvas
    raise ValueError(f"resize must be 'fit', 'stretch' or 'center_crop', got {how!r}")


def load_images(
    paths: Sequence[str | os.PathLike],
    mode: Mode | None = "RGB",
    size: int | Sequence[int] | None = None,
    on_error: Literal["skip", "raise"] = "skip",
    resize: ResizeMode = "fit",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    num_workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor | list[torch.Tensor], list[str], list[tuple[str, str]]]:
    """Decode many image files, skipping and counting the bad ones.

    Args:
        paths: Image files.
        mode: "RGB", "L" or None (see :func:`load_image`). With None and ``size`` given, the set is made RGB
            if any image is colour, else grayscale, so the result stacks.
        size: If given ((H, W) or an int), every image is resized to it and the result is one stacked tensor.
        on_error: "skip" (default) leaves bad files out and logs one warning summary; "raise" raises the
            first :class:`BadImageError`.
        resize: How to reach ``size``: "fit" (letterbox), "stretch" or "center_crop"; see :func:`resize_image`.
        max_pixels: Decompression-bomb limit per image.
        num_workers: Decoding threads (Pillow releases the GIL); default min(8, CPU count).
        progress: ``progress(done, total)`` after each file (:mod:`pictorch.viz.progress`).

    Returns:
        ``(images, ok_paths, bad)``: a uint8 tensor N×C×H×W if ``size`` is given else a list of C×H×W
        tensors; the paths that decoded, in input order; and ``(path, reason)`` for each skipped file.

    Raises:
        BadImageError: With ``on_error="raise"``, for the first bad file.
        DataError: If ``paths`` is empty or no file at all could be decoded.
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    paths = [str(p) for p in paths]
    if not paths:
        raise DataError("no image files given")
    hw = _parse_size(size) if size is not None else None

    def work(p: str) -> Image.Image | BadImageError:
        try:
            im = _decode(p, mode, max_pixels)
            if hw is not None:
                im = resize_image(im, hw, resize)
            return im
        except BadImageError as e:
            if on_error == "raise":
                raise
            return e

    workers = num_workers or min(8, os.cpu_count() or 1)
    results: list[Image.Image | BadImageError] = []

    def collect(it: Iterable[Image.Image | BadImageError]) -> None:
        for r in it:  # in input order, as each finishes
            results.append(r)
            if progress is not None:
                progress(len(results), len(paths))

    if workers > 1 and len(paths) > 16:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            collect(pool.map(work, paths))
    else:
        collect(work(p) for p in paths)

    ims: list[Image.Image] = []
    ok: list[str] = []
    bad: list[tuple[str, str]] = []
    for p, r in zip(paths, results, strict=True):
        if isinstance(r, BadImageError):
            bad.append((p, r.reason))
        else:
            ims.append(r)
            ok.append(p)
    if not ims:
        raise DataError(
            f"none of the {len(paths)} image files could be read; first: {bad[0][0]}: {bad[0][1]}"
        )
    if bad:
        shown = "; ".join(f"{Path(p).name}: {why}" for p, why in bad[:3])
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        logger.warning("skipped %d of %d image files that could not be read: %s%s", len(bad), len(paths),
                       shown, more)
    if mode is None and hw is not None and len({im.mode for im in ims}) > 1:
        ims = [im.convert("RGB") for im in ims]
    tensors = [_pil_to_tensor(im) for im in ims]
    if hw is not None:
        import torch

        return torch.stack(tensors), ok, bad
    return tensors, ok, bad
