"""The one road from photo files to an embedder's input, shared by every identify verb and the Python API.

``identify embed``, ``evaluate``, ``enroll``, ``who``, ``verify``, ``calibrate``, ``Embedder.embed_files`` and
``DlibFaceEmbedder.embed_files`` all call :func:`prepare`, so one photo gives one vector whichever way it came
in. (Before this module, ``embed``/``evaluate`` letterboxed with bicubic filtering while ``enroll``/``who``
stretched with Lanczos: a 40×90 photo gave two vectors with cosine 0.963, and a threshold calibrated one way
was applied to vectors made the other.)

* Whole photos (``faces=False``): :func:`pictorch.data.decode.load_images` with ``resize="fit"`` (letterbox,
  bicubic), exactly what training on a folder does (:func:`pictorch.data.sources.load_image_folder`).
* Faces (``faces=True``): decoded by the same decoder (:func:`pictorch.data.decode.load_array`), detected,
  aligned to a chip (dlib 5-point landmarks), then converted to the model's mode and size by the same Pillow
  conversion and resize as whole photos.

The road is numpy: :attr:`Prepared.pixels` is a uint8 array and :attr:`Prepared.images` a zero-copy torch view
made on first use, so a face ``who`` with dlib's descriptor (which takes arrays) never imports torch (~1 s of
a one-photo ``who``'s start-up on an idle core, 3-4 s on a loaded one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pictorch.errors import BadImageError, ConfigError, DataError

WHICH = ("largest", "all", "one")
"""Faces kept per photo: the largest (noted when there are several), every face, or exactly one."""

RESIZE = "fit"
"""The resize policy of the road (the same as training on a folder)."""

_CHUNK = 256  # whole photos decoded per progress update

if TYPE_CHECKING:
    import torch


@dataclass
class Item:
    """One model input: a whole photo, or one face of it.

    Attributes:
        path: The photo file.
        box: ``(left, top, right, bottom)`` of the face in the photo's pixels, or ``None`` for a whole photo.
        face: Index of this face among the faces kept for this photo (0 for a whole photo).
        faces_in_photo: How many faces the detector found in the photo (0 for a whole photo).
    """

    path: str
    box: tuple[int, int, int, int] | None = None
    face: int = 0
    faces_in_photo: int = 0


@dataclass
class Prepared:
    """The road's output.

    Attributes:
        pixels: uint8 array N×C×H×W at the model's size and channels, one row per :attr:`items` entry
            (:attr:`images` is the same memory as a torch tensor).
        items: Where each row came from.
        bad: ``(path, reason)`` for each photo that gave no input (unreadable, no face, several faces with
            ``which="one"``).
        notes: ``(path, note)`` remarks on kept photos (``"3 faces; using the largest"``).
        sizes: ``path -> (height, width)`` of each decoded photo (to draw boxes on it).
    """

    pixels: np.ndarray
    items: list[Item]
    bad: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def images(self) -> torch.Tensor:
        """:attr:`pixels` as a uint8 torch tensor (shares memory; imports torch on first use)."""
        import torch

        return torch.from_numpy(self.pixels)

    @property
    def paths(self) -> list[str]:
        """The photo of each row (a photo appears once per kept face)."""
        return [it.path for it in self.items]

    def __len__(self) -> int:
        return len(self.items)


def _pil_convert(arr: np.ndarray, mode: str, size: tuple[int, int]) -> np.ndarray:
    """H×W×3 uint8 -> uint8 C×H×W in ``mode`` at ``size``: the whole-photo road's Pillow conversion + resize."""
    from PIL import Image

    from pictorch.data.decode import resize_image

    im = Image.fromarray(arr, "RGB")
    if mode != "RGB":
        im = im.convert(mode)
    im = resize_image(im, size, RESIZE)
    out = np.array(im, dtype=np.uint8)
    if out.ndim == 2:
        out = out[:, :, None]
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def _empty(mode: str, size: tuple[int, int]) -> np.ndarray:
    return np.zeros((0, 1 if mode == "L" else 3, *size), dtype=np.uint8)


Progress = Callable[[int, int], None]


def _whole_photos(paths: list[str], mode: str, size: tuple[int, int], progress: Progress | None = None) -> Prepared:
    from pictorch.data.decode import load_image, load_images

    if progress is not None and len(paths) > _CHUNK:  # in chunks, so a long job shows it is moving
        parts = []
        for i in range(0, len(paths), _CHUNK):
            progress(i, len(paths))
            parts.append(_whole_photos(paths[i:i + _CHUNK], mode, size))
        progress(len(paths), len(paths))
        return Prepared(np.concatenate([q.pixels for q in parts]), [it for q in parts for it in q.items],
                        [b for q in parts for b in q.bad])
    if progress is not None:
        progress(len(paths), len(paths))
    try:
        imgs, ok, bad = load_images(paths, mode=mode, size=size, resize=RESIZE)
    except DataError:  # nothing decoded: collect each file's own reason
        bad = []
        for p in paths:
            try:
                load_image(p, mode)
            except BadImageError as e:
                bad.append((p, e.reason))
        return Prepared(_empty(mode, size), [], bad or [(p, "unreadable") for p in paths])
    return Prepared(imgs.numpy(), [Item(p) for p in ok], list(bad))


def _faces(paths: list[str], mode: str, size: tuple[int, int], detector: str, which: str,
           upsample: int | None, progress: Progress | None = None) -> Prepared:
    from pictorch.data.decode import load_array
    from pictorch.tasks.identify import detect as F

    F.require(detector)
    side = max(size)
    rows: list[np.ndarray] = []
    items: list[Item] = []
    bad: list[tuple[str, str]] = []
    notes: list[tuple[str, str]] = []
    sizes: dict[str, tuple[int, int]] = {}
    for i, p in enumerate(paths):
        if progress is not None:
            progress(i, len(paths))
        try:
            img = load_array(p, "RGB")
        except BadImageError as e:
            bad.append((p, e.reason))
            continue
        sizes[p] = img.shape[:2]
        found = F.detect_faces_scored(img, detector, upsample)
        if not found:
            bad.append((p, "no face found"))
            continue
        if which == "all":
            boxes = [b for b, _ in found]
        else:
            boxes = F.strong_faces(found)
            if len(boxes) > 1 and which == "one":
                bad.append((p, f"{len(boxes)} faces; expected one (use --largest-face to take the largest)"))
                continue
            if len(boxes) > 1:
                notes.append((p, f"{len(boxes)} faces; using the largest"))
            boxes = boxes[:1]
        for j, box in enumerate(boxes):
            chip = F.align_face(img, box, size=side)
            rows.append(_pil_convert(chip, mode, size))
            items.append(Item(p, tuple(int(v) for v in box), j, len(found) if which == "all" else len(boxes)))
    if progress is not None:
        progress(len(paths), len(paths))
    return Prepared(np.stack(rows) if rows else _empty(mode, size), items, bad, notes, sizes)


def prepare(paths: Sequence[str | os.PathLike], input_size: Sequence[int], mode: str = "RGB", faces: bool = False,
            detector: str = "hog", which: str = "largest", upsample: int | None = None,
            progress: Progress | None = None) -> Prepared:
    """Photo files -> the model's uint8 input (the one preprocessing road).

    Args:
        paths: Photo files.
        input_size: The model's (H, W).
        mode: ``"RGB"`` or ``"L"``.
        faces: Detect and align faces first (face models); ``False``: each photo is one input, letterboxed.
        detector: ``"hog"``, ``"cnn"`` or ``"haar"``.
        which: With ``faces``: ``"largest"`` face per photo (noted when there are several), ``"all"`` faces,
            or ``"one"`` (a photo with several faces is an error).
        upsample: Fixed detector upsampling (None: automatic).
        progress: Called as ``progress(done, total)`` while photos are read (a CLI shows a bar).

    Returns:
        A :class:`Prepared` (rows in input order; a photo gives several rows with ``which="all"``).
    """
    if mode not in ("RGB", "L"):
        raise ConfigError(f"unknown image mode {mode!r}; use 'RGB' or 'L'")
    if which not in WHICH:
        raise ConfigError(f"unknown face choice {which!r}; use one of {', '.join(WHICH)}")
    hw = (int(input_size[0]), int(input_size[1]))
    plist = [str(p) for p in paths]
    if not plist:
        return Prepared(_empty(mode, hw), [])
    if faces:
        return _faces(plist, mode, hw, detector, which, upsample, progress)
    return _whole_photos(plist, mode, hw, progress)


def meta_says_faces(meta: dict[str, Any] | None) -> bool:
    """Whether a checkpoint's metadata marks a face model (``faces`` set, or a dlib-face backbone)."""
    meta = meta or {}
    if meta.get("faces"):
        return True
    spec = (meta.get("models") or {}).get("model") or {}
    return (spec.get("kwargs") or {}).get("backbone") == "dlib-face"


def is_face_model(embedder: Any) -> bool:
    """Whether an embedder expects aligned face chips (dlib-face, or a model trained on top of it), so every
    verb detects faces unless told ``--no-faces``."""
    return bool(getattr(embedder, "face_model", False)) or meta_says_faces(getattr(embedder, "meta", None))


def faces_default(embedder: Any, faces: bool | None, stored: bool | None = None) -> bool:
    """Detect faces? An explicit choice wins, then what a gallery was built with, then the model's kind."""
    if faces is not None:
        return bool(faces)
    if stored is not None:
        return bool(stored)
    return is_face_model(embedder)


def embed_prepared(embedder: Any, prep: Prepared) -> Any:
    """Embed a :class:`Prepared` batch: N×D float32 (0×D when empty), a numpy array from an embedder with
    ``embed_pixels`` (dlib-face: torch is never imported), else the torch tensor of ``embed_images``."""
    if callable(getattr(embedder, "embed_pixels", None)):
        return embedder.embed_pixels(prep.pixels)
    if not len(prep):
        return np.zeros((0, int(embedder.dim)), np.float32)
    return embedder.embed_images(prep.images)


__all__ = ["Item", "Prepared", "RESIZE", "WHICH", "embed_prepared", "faces_default", "is_face_model", "meta_says_faces", "prepare"]
