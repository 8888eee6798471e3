"""The ``see`` capability's Python API (a façade over its modules); other tasks import only this."""

from __future__ import annotations

from pictorch.tasks.see.imageio import (
    DEFAULT_WORK_PIXELS,
    StepBar,
    fit_size,
    fresh_path,
    load_photo,
    save_picture,
)

__all__ = ["DEFAULT_WORK_PIXELS", "StepBar", "fit_size", "fresh_path", "load_photo", "save_picture"]
