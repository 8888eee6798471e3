"""One generic registry per kind of component (models, losses, datasets, ...).

Usage::

    @MODELS.register("resnet18")
    def resnet18(**kw): ...

    model = create_model("resnet18", num_classes=10)

Modules that register entries are imported lazily the first time a registry is queried, so
``import pictorch`` stays fast. Unknown names fail with the list of known ones.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from typing import Any

from pictorch.errors import ConfigError

_NOT_IN_SPEC = {"pretrained", "weights", "progress"}


class Registry:
    """A name -> factory table for one kind of component.

    Args:
        kind: Human name of the kind ("model", "loss", ...), used in error messages.
        modules: Dotted module paths imported on first lookup; they register entries as a side effect.
    """

    def __init__(self, kind: str, modules: Iterable[str] = (), discover: str | None = None):
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}
        self._tags: dict[str, set[str]] = {}
        self._modules: list[str] = list(modules)
        self._discover = discover
        self._loaded = False

    def add_modules(self, *modules: str) -> None:
        """Declare more modules that register entries (imported lazily)."""
        for m in modules:
            if m not in self._modules:
                self._modules.append(m)
                self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._discover:
            # "package.module:NAME" lists more modules; read at the first lookup, by name, so importing the
            # registry imports no capability (shared floors stay free of tasks/)
            from importlib.util import find_spec

            where, attr = self._discover.split(":")
            listed = getattr(importlib.import_module(where), attr)
            self._modules += [m for m in listed if m not in self._modules
                              and find_spec(m.rsplit(".", 1)[0]) is not None]
        for m in list(self._modules):
            importlib.import_module(m)

    def register(self, name: str | None = None, *, tags: Iterable[str] = ()) -> Callable:
        """Decorator registering a class or factory function under ``name`` (default: its ``__name__``)."""

        def deco(obj: Callable) -> Callable:
            key = name or obj.__name__
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = obj
            self._tags[key] = set(tags)
            return obj

        return deco

    def get(self, name: str) -> Callable[..., Any]:
        """Return the factory registered as ``name``; unknown names raise with the known ones listed."""
        self._load()
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}"
            )
        return self._entries[name]

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build the component registered as ``name`` with keyword arguments.

        Built objects get a ``pictorch_spec`` attribute ({"arch", "kwargs", "module"}) so checkpoints can
        rebuild them later without the caller retyping flags. Weight-source arguments are left out of the
        spec: the checkpoint carries the weights.
        """
        factory = self.get(name)
        obj = factory(**kwargs)
        spec_kwargs = {k: v for k, v in kwargs.items() if k not in _NOT_IN_SPEC}
        try:
            obj.pictorch_spec = {"arch": name, "kwargs": spec_kwargs, "module": factory.__module__}
        except AttributeError:
            pass
        return obj

    def names(self, tag: str | None = None) -> list[str]:
        """Sorted registered names, optionally only those carrying ``tag``."""
        self._load()
        return sorted(k for k in self._entries if tag is None or tag in self._tags[k])

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


MODELS = Registry("model", modules=["pictorch.nn.backbones"], discover="pictorch.tasks:MODEL_MODULES")
LOSSES = Registry("loss")
DATASETS = Registry("dataset", modules=["pictorch.data.resolve"])  # "<domain>/<name>", looked up by resolve()


def create_model(name: str, **kwargs: Any) -> Any:
    """Build a registered model by name, e.g. ``create_model("resnet18", in_chans=1, num_classes=10)``."""
    return MODELS.create(name, **kwargs)


def create_with_weights(name: str, pretrained: str | None = None, weights: str | None = None, **kwargs: Any) -> Any:
    """:func:`create_model` passing ``pretrained`` / ``weights`` only when given (a model without pretrained
    weights takes neither argument)."""
    sources = {k: v for k, v in (("pretrained", pretrained), ("weights", weights)) if v}
    return create_model(name, **kwargs, **sources)


def list_models(pattern: str | None = None, tag: str | None = None) -> list[str]:
    """Names of registered models, as timm's ``list_models``: ``pattern`` takes shell wildcards
    (``"resnet*"``, ``"*gan*"``), ``tag`` keeps those carrying it (``"backbone"``)."""
    import fnmatch

    names = MODELS.names(tag)
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names
