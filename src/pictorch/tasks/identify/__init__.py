"""identify: recognize people and objects from a few photos (embeddings, gallery, open-set answers).

Python API (imported lazily so ``import pictorch.tasks.identify`` stays light)::

    from pictorch.tasks.identify import load_embedder, service
    emb = load_embedder("runs/identify")          # or "dlib-face"
    vectors, ok, bad = emb.embed_files(photos)     # the same road as every CLI verb (preprocess.prepare)
    service.enroll("group.db", "alice", ["alice/"], model="dlib-face")
    answer = service.who("group.db", ["party.jpg"])  # WhoResult: every face, box, name/unknown, score, top-k
"""

from __future__ import annotations

from typing import Any

__all__ = ["Embedder", "evaluate", "load_embedder", "prepare", "service", "train"]


def __getattr__(name: str) -> Any:
    if name in ("Embedder", "load_embedder", "train", "evaluate"):
        from pictorch.tasks.identify import api

        return getattr(api, name)
    if name == "prepare":
        from pictorch.tasks.identify.preprocess import prepare

        return prepare
    if name == "service":
        import importlib

        return importlib.import_module("pictorch.tasks.identify.service")
    raise AttributeError(name)
