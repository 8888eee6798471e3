"""Data layer: in-memory image sets, safe decoding, dataset sources, loaders, augmentation, samplers.

Small datasets live in memory as uint8 tensors (:class:`ImageSet`); :class:`~pictorch.data.loader.TensorLoader`
batches them without per-image Python work, and :class:`~pictorch.data.augment.Augment` augments whole batches.

:class:`ImageSet` is exported lazily: ``from pictorch.data.decode import load_array`` (a face ``who`` on one
photo) must not import torch through this package (~1 s of a one-photo ``who``'s start-up on an idle core).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ImageSet"]


def __getattr__(name: str) -> Any:
    if name == "ImageSet":
        from pictorch.data.imageset import ImageSet

        return ImageSet
    raise AttributeError(f"module 'pictorch.data' has no attribute {name!r}")
