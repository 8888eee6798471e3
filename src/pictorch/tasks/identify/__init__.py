"""identify: recognize people and objects from a few photos (embeddings, gallery, open-set answers).

Python API (imported lazily so ``import pictorch.tasks.identify`` stays light)::

    from pictorch.tasks.identify import load_embedder
    emb = load_embedder("runs/identify")          # or "dlib-face"
    vectors = emb.embed_images(uint8_batch)        # N×dim, L2-normalized
"""

from __future__ import annotations

from typing import Any

__all__ = ["Embedder", "load_embedder", "train", "evaluate"]


def __getattr__(name: str) -> Any:
    if name in ("Embedder", "load_embedder", "train", "evaluate"):
        from pictorch.tasks.identify import api

        return getattr(api, name)
    raise AttributeError(name)
