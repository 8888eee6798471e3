"""User-facing errors.

Anything a person can act on (a missing file, an empty folder, a checkpoint of the wrong task, a shape the
architecture cannot take) is raised as a :class:`PictorchError`. The CLI prints ``str(error)`` as one line and
exits non-zero; no traceback unless ``--debug``.
"""

from __future__ import annotations


class PictorchError(Exception):
    """An error caused by input a person can fix. The message says what, which file, and what to do."""

    exit_code = 2


class DataError(PictorchError):
    """A dataset, folder or file cannot be used."""


class BadImageError(DataError):
    """One image file cannot be decoded (kept per file so long runs can skip and count it)."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CheckpointError(PictorchError):
    """A checkpoint is missing, corrupt, or belongs to another task/architecture."""


class ConfigError(PictorchError):
    """A configuration value or flag combination is invalid."""


class WeightsError(PictorchError):
    """Pretrained weights cannot be found, downloaded, or verified."""


class TrainingDiverged(PictorchError):
    """Training produced NaN/Inf losses or collapsed; the last good checkpoint is kept."""

    exit_code = 3
