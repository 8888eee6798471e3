"""Gallery export: names, sources and embeddings as ``.npz``, or ``.json`` with a ``.npy`` beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.utils import atomic_write


def export_gallery(g: Any, path: str | Path) -> Path:
    """Write names, sources and embeddings: ``.npz``, or ``.json`` (+ ``.npy`` beside it for vectors).

    Returns:
        The written file (the JSON one for the JSON+npy form).
    """
    g._require_open()
    path = Path(path)
    with g._db() as conn:
        rows = conn.execute(
            "SELECT e.id, p.name, COALESCE(s.path, ''), COALESCE(s.sha256, '') FROM embeddings e "
            "JOIN people p ON p.id=e.person_id LEFT JOIN sources s ON s.id=e.source_id ORDER BY e.id"
        ).fetchall()
    chunks = [c[2] for c in g._iter_vectors()]
    vecs = np.concatenate(chunks) if chunks else np.zeros((0, g.dim), np.float32)
    ids = np.array([r[0] for r in rows], np.int64)
    names = [r[1] for r in rows]
    sources = [r[2] for r in rows]
    hashes = [r[3] for r in rows]
    info = {
        "fingerprint": g.fingerprint, "dim": g.dim, "metric": g.metric, "model": g.model,
        "threshold": g.threshold,
    }
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with atomic_write(path) as f:
            np.savez(
                f, embeddings=vecs, ids=ids, names=np.array(names, dtype=str),
                sources=np.array(sources, dtype=str), sha256=np.array(hashes, dtype=str),
                info=np.array(json.dumps(info)),
            )
    elif suffix == ".json":
        npy = path.with_suffix(".npy")
        with atomic_write(npy) as f:
            np.save(f, vecs)
        doc = {
            **info, "embeddings_file": npy.name,
            "rows": [{"id": int(i), "name": n, "source": s, "sha256": h}
                     for i, n, s, h in zip(ids, names, sources, hashes, strict=True)],
        }
        with atomic_write(path, "w") as f:
            json.dump(doc, f, indent=1)
    else:
        raise PictorchError(f"export to .npz or .json, not {path.name!r}")
    return path
