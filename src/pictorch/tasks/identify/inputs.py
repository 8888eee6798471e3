"""What the gallery service takes in, checked: photo lists and labelled folders expanded the one way, the error
for a call where no photo was usable, the detector and finiteness checks, and the exact binomial interval that
calibration reports. Split out of :mod:`pictorch.tasks.identify.service`, which re-exports them."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from pictorch.errors import ConfigError, DataError, PictorchError


def expand_photos(photos: Sequence[str | os.PathLike]) -> list[str]:
    """Files as given, folders expanded to the images inside them (sorted; hidden files skipped)."""
    from pictorch.data.files import expand_inputs

    return [str(p) for p in expand_inputs(photos, what="photos", missing_ok=True)]


def labelled_photos(folder: str | os.PathLike) -> list[tuple[str, str]]:
    """``(photo, person)`` for ``folder/<person>/<photo>`` (sorted; hidden files and folders skipped)."""
    from pictorch.data.files import labelled_images

    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder (expected one subfolder of photos per person)")
    out = [(str(f), person) for f, person in labelled_images(root)]
    if not out:
        raise DataError(f"{root} has no subfolders with photos (expected FOLDER/<person>/<photo>)")
    return out


def none_usable(what: str, bad: list[tuple[str, str]]) -> PictorchError:
    """The error for a call where no photo gave an input."""
    shown = "; ".join(f"{Path(p).name}: {r}" for p, r in bad[:3])
    more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
    return DataError(f"no usable photo {what}: {shown}{more}")


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval of a rate ``k / n``."""
    from scipy.stats import beta

    if n <= 0:
        return (0.0, 1.0)
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return (lo, hi)


def _check_detector(detector: str | None) -> None:
    from pictorch.tasks.identify.detect import DETECTORS

    if detector is not None and detector not in DETECTORS:
        raise ConfigError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")


def _finite(value: float | None, what: str) -> None:
    if value is not None and not math.isfinite(float(value)):
        raise ConfigError(f"{what} must be a finite number, got {value}")
