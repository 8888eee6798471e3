"""The ``see`` capability's Python API (a façade over its modules); other tasks import only this."""

from __future__ import annotations

from pictorch.tasks.see.dream import DreamConfig, dream, octave_sizes
from pictorch.tasks.see.filters import filter_images, first_conv
from pictorch.tasks.see.imageio import (
    DEFAULT_WORK_PIXELS,
    StepBar,
    fit_size,
    fresh_path,
    load_photo,
    save_picture,
)
from pictorch.tasks.see.maximize import (
    FourierImage,
    MaximizeConfig,
    MaximizeResult,
    PixelImage,
    maximize,
    random_affine,
)

__all__ = [
    "DEFAULT_WORK_PIXELS", "DreamConfig", "FourierImage", "MaximizeConfig", "MaximizeResult", "PixelImage",
    "StepBar", "dream", "filter_images", "first_conv", "fit_size", "fresh_path", "load_photo", "maximize",
    "octave_sizes", "random_affine", "save_picture",
]
