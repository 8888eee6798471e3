"""pictorch: the classic deep-learning-for-images systems as working tools.

Heavy modules (torch, the tasks) are imported lazily so that ``import pictorch`` and ``pictorch --help``
stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "list_models", "load"]


def _registry() -> Any:
    """The model registry, with every task's model module declared (imported on first lookup)."""
    import importlib.util

    from pictorch.registry import MODELS
    from pictorch.tasks import MODEL_MODULES

    MODELS.add_modules(*(m for m in MODEL_MODULES if importlib.util.find_spec(m.rsplit(".", 1)[0]) is not None))
    return MODELS


def create_model(name: str, **kwargs: Any) -> Any:
    """Build any registered model by name: backbones and task models (see :mod:`pictorch.registry`)."""
    return _registry().create(name, **kwargs)


def list_models(tag: str | None = None) -> list[str]:
    """Names of registered models (``tag="backbone"`` for backbones only)."""
    return _registry().names(tag)


def load(path: str, task: str | None = None, map_location: str = "cpu") -> Any:
    """Rebuild a trained model from a pictorch checkpoint (file or run folder) without retyping flags.

    Args:
        path: A ``.safetensors`` checkpoint written by pictorch, or a run folder containing one.
        task: If given, fail clearly when the checkpoint belongs to another task.
        map_location: Device for the weights.
    """
    from pictorch.engine.checkpoint import load_model

    return load_model(path, task=task, map_location=map_location)
