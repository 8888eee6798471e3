"""Data layer: in-memory image sets, safe decoding, dataset sources, loaders, augmentation, samplers.

Small datasets live in memory as uint8 tensors (:class:`ImageSet`); :class:`~pictorch.data.loader.TensorLoader`
batches them without per-image Python work, and :class:`~pictorch.data.augment.Augment` augments whole batches.
"""

from __future__ import annotations

from pictorch.data.imageset import ImageSet

__all__ = ["ImageSet"]
