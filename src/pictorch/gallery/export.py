"""Gallery export: names, sources and embeddings as ``.npz``, or ``.json`` with a ``.npy`` beside it.

Backend-neutral: reads the rows every backend gives through ``select_rows`` (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.utils import atomic_write


def iter_rows(g: Any, table: str, chunk: int = 10000) -> Iterator[list[tuple]]:
    """Every row of ``table`` in id order, in chunks (``select_rows`` paging by id)."""
    after = 0
    while rows := g.select_rows(table, after, chunk):
        yield rows
        after = int(rows[-1][0])


def export_gallery(g: Any, path: str | Path) -> Path:
    """Write names, sources and embeddings: ``.npz``, or ``.json`` (+ ``.npy`` beside it for vectors).

    Returns:
        The written file (the JSON one for the JSON+npy form).
    """
    g._require_open()
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".json"):
        raise PictorchError(f"export to .npz or .json, not {path.name!r}")
    people = {int(r[0]): r[1] for rows in iter_rows(g, "people") for r in rows}
    src = {int(r[0]): (r[2], r[1]) for rows in iter_rows(g, "sources") for r in rows}
    ids: list[int] = []
    names: list[str] = []
    sources: list[str] = []
    hashes: list[str] = []
    blobs: list[bytes] = []
    for rows in iter_rows(g, "embeddings"):
        for i, pid, sid, vec in rows:
            ids.append(int(i))
            names.append(people[int(pid)])
            s_path, s_hash = src.get(int(sid), ("", "")) if sid is not None else ("", "")
            sources.append(s_path)
            hashes.append(s_hash)
            blobs.append(vec)
    vecs = np.frombuffer(b"".join(blobs), "<f4").reshape(len(ids), g.dim).astype(np.float32)
    info = {
        "fingerprint": g.fingerprint, "dim": g.dim, "metric": g.metric, "model": g.model,
        "threshold": g.threshold,
    }
    if suffix == ".npz":
        with atomic_write(path) as f:
            np.savez(
                f, embeddings=vecs, ids=np.array(ids, np.int64), names=np.array(names, dtype=str),
                sources=np.array(sources, dtype=str), sha256=np.array(hashes, dtype=str),
                info=np.array(json.dumps(info)),
            )
    else:
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
    return path
