"""Embedding gallery: a SQLite store of enrolled people + a FAISS vector index (flat, HNSW, IVF).

Used by ``pictorch identify`` (who is this?) and by the autoencoder's similar-image search. Names are
exported lazily so ``import pictorch.gallery`` does not load numpy/faiss until they are used::

    from pictorch.gallery import Gallery, VectorIndex, Match
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VectorIndex": "pictorch.gallery.index",
    "Gallery": "pictorch.gallery.store",
    "Match": "pictorch.gallery.store",
    "GalleryExistsError": "pictorch.gallery.store",
    "UNKNOWN": "pictorch.gallery.store",
    "sha256_file": "pictorch.gallery.store",
    "index_path_for": "pictorch.gallery.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pictorch.gallery' has no attribute {name!r}")
