"""dlib's pretrained 128-d face descriptor as an embedder (:class:`DlibFaceEmbedder`), and the face-crop helpers.

Only numpy and dlib at module level: a face ``who`` loads this module, and importing torch would cost ~1 s of
a one-photo ``who``'s start-up on an idle core (3-4 s on a loaded one). The same descriptor as a frozen torch
backbone (for heads trained on it) is :class:`pictorch.tasks.identify.faces.DlibFaceBackbone`. Everything
here needs the ``faces`` extra: ``pip install 'pictorch[faces]'``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pictorch.errors import ConfigError, PictorchError
from pictorch.tasks.identify.detect import (
    CHIP_PADDING,
    CHIP_SIZE,
    _dlib,
    _face_rec,
    _file_sha256,
    _resize,
    model_file,
)

if TYPE_CHECKING:
    import torch


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
    if hasattr(images, "detach"):  # a torch tensor (not imported here: duck-typed)
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
        engine: Who runs the network: ``"dlib"``, ``"torch"`` (:mod:`pictorch.tasks.identify.dlib_resnet`, the
            same numbers ~10x faster), or ``"auto"``: torch for batches of at least :attr:`TORCH_MIN_FACES`
            chips or when torch is loaded anyway, dlib otherwise (and always with ``num_jitters``).
    """

    name = "dlib-face"
    dim = 128
    mode = "RGB"
    metric = "l2"
    face_model = True
    input_size = (CHIP_SIZE, CHIP_SIZE)
    default_distance = 0.6
    default_threshold = -(0.6**2)
    ENGINES = ("auto", "dlib", "torch")
    # Break-even of "auto" (AMD EPYC core, idle): importing torch (~1.0 s) and reading the network (0.16 s)
    # against dlib's ~55 ms a chip vs torch's ~4 ms (1 thread): ~24 chips. At load 7: 81 vs 5.8 ms a chip.
    TORCH_MIN_FACES = 24

    def __init__(self, num_jitters: int = 0, engine: str = "auto"):
        _dlib()
        if engine not in self.ENGINES:
            raise ConfigError(f"unknown dlib-face engine {engine!r}; choose one of {', '.join(self.ENGINES)}")
        self.engine = engine
        self.model_path = model_file("dlib_face_recognition_resnet_model_v1.dat")
        self.num_jitters = int(num_jitters)
        self.fingerprint = "dlib-face-resnet-v1:" + _file_sha256(str(self.model_path))
        self._rec = _face_rec()

    def __repr__(self) -> str:
        return f"DlibFaceEmbedder(fingerprint={self.fingerprint[:32]}...)"

    def embed_pixels(self, images: Any, batch_size: int = 64) -> np.ndarray:
        """Describe aligned face chips, as a numpy array (see :attr:`engine`: a few chips never import torch).

        Args:
            images: uint8 N×3×150×150 (array or tensor) chips aligned like :func:`dlib.get_face_chip`; other
                sizes are resized, 1-channel images are repeated to 3.
            batch_size: Chips per call into dlib.

        Returns:
            float32 N×128 raw descriptors (norm about 1.4-1.6; compare them by L2 distance).
        """
        a = _as_hwc_uint8(images)
        if a.shape[1:3] != self.input_size:
            a = np.stack([_resize(x, self.input_size) for x in a]) if len(a) else a
        if len(a) and self._use_torch(len(a)):
            return self._embed_torch(a, batch_size)
        out = np.zeros((len(a), self.dim), np.float32)
        for start in range(0, len(a), batch_size):
            batch = [np.ascontiguousarray(x) for x in a[start : start + batch_size]]
            descs = self._rec.compute_face_descriptor(batch, self.num_jitters)
            out[start : start + len(batch)] = np.asarray([np.asarray(d) for d in descs], np.float32)
        return out

    def _use_torch(self, n: int) -> bool:
        if self.num_jitters > 0 or self.engine == "dlib":
            return False
        return self.engine == "torch" or n >= self.TORCH_MIN_FACES or "torch" in sys.modules

    def _embed_torch(self, a: np.ndarray, batch_size: int) -> np.ndarray:
        import torch

        from pictorch.tasks.identify.dlib_resnet import load

        net = load(str(self.model_path))
        x = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
        return torch.cat([net(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()

    def embed_images(self, images: Any, batch_size: int = 64) -> torch.Tensor:
        """:meth:`embed_pixels` as a float32 N×128 torch tensor (the interface of the trained embedders)."""
        import torch

        return torch.from_numpy(self.embed_pixels(images, batch_size))

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


__all__ = ["DlibFaceEmbedder", "Extracted", "extract_faces", "load_photos"]
