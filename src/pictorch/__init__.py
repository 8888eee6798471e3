"""pictorch: the classic deep-learning-for-images systems as working tools.

Heavy modules (torch, the tasks) are imported lazily so that ``import pictorch`` and ``pictorch --help``
stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "list_models", "load"]


def create_model(name: str, **kwargs: Any) -> Any:
    """Build any registered model by name: backbones and task models (see :mod:`pictorch.registry`)."""
    from pictorch.registry import create_model as create

    return create(name, **kwargs)


def list_models(pattern: str | None = None, tag: str | None = None) -> list[str]:
    """Names of registered models, optionally matching a wildcard ``pattern`` (``"resnet*"``) or a ``tag``."""
    from pictorch.registry import list_models as names

    return names(pattern, tag)


def load(path: str, task: str | None = None, map_location: str = "cpu") -> Any:
    """Rebuild a trained model from a pictorch checkpoint (file or run folder) without retyping flags.

    Args:
        path: A ``.safetensors`` checkpoint written by pictorch, or a run folder containing one.
        task: If given, fail clearly when the checkpoint belongs to another task.
        map_location: Device for the weights.
    """
    from pictorch.engine.checkpoint import load_model

    return load_model(path, task=task, map_location=map_location)
