"""The derived FAISS index of a gallery, kept in step with the SQLite store.

Every change bumps the store's ``generation``; the index file records the generation it mirrors. On open (and
before each search) a missing, damaged or stale index is rebuilt from SQLite, so whatever happened to the
process — a crash, a kill in the middle of an enrolment, two writers — the index matches what the store
committed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.gallery.db import GalleryDb, index_path_for
from pictorch.gallery.index import VectorIndex


class IndexMirror(GalleryDb):
    """The index half of :class:`pictorch.gallery.store.Gallery`."""

    _index: VectorIndex | None
    _index_gen: int
    _dirty: bool
    _emb_ids: np.ndarray
    _emb_person: np.ndarray
    _names: dict[int, str]
    index_note: str | None
    index_kind: str
    index_options: dict[str, Any]
    metric: str
    store_id: str

    @property
    def index(self) -> VectorIndex:
        """The vector index, current with the store (loaded or rebuilt on demand)."""
        self._require_open()
        gen = self._generation()
        if self._index is None or self._index_gen != gen:
            self._load_index(gen)
        elif (
            self._index.kind == "ivf"
            and len(self._index) >= 1000
            and len(self._index) > 8 * max(self._index.trained_on, 1)
        ):
            self.index_note = "IVF index outgrew its training sample; retrained"
            self._rebuild_index(gen)
        assert self._index is not None
        return self._index

    def _load_mapping(self) -> None:
        with self._db() as conn:
            rows = conn.execute("SELECT id, person_id FROM embeddings ORDER BY id").fetchall()
            self._names = dict(conn.execute("SELECT id, name FROM people").fetchall())
        arr = np.array(rows, np.int64).reshape(-1, 2)
        self._emb_ids, self._emb_person = arr[:, 0].copy(), arr[:, 1].copy()

    def _load_index(self, gen: int) -> None:
        ipath = index_path_for(self.path)
        self._load_mapping()
        reason = None
        if not ipath.exists():
            reason = "index file missing"
        else:
            try:
                idx = VectorIndex.load(ipath)
                e = idx.extra
                if e.get("store_id") != self.store_id:
                    reason = "index file belongs to another gallery"
                elif int(e.get("generation", -1)) != gen:
                    reason = f"index is stale (generation {e.get('generation')} != {gen})"
                elif (idx.dim, idx.kind, idx.metric) != (self.dim, self.index_kind, self.metric):
                    reason = "index settings differ from the gallery's"
                elif len(idx) != len(self._emb_ids):
                    reason = "index size differs from the store"
                else:
                    self._index, self._index_gen, self._dirty = idx, gen, False
                    self.index_note = None
                    return
            except PictorchError as e:
                reason = f"index file damaged ({e})"
        self.index_note = reason
        self._rebuild_index(gen, mapping_loaded=True)

    def _iter_vectors(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(ids, person ids, vectors) in chunks, ordered by id."""
        with self._db() as conn:
            cur = conn.execute("SELECT id, person_id, vector FROM embeddings ORDER BY id")
            while True:
                rows = cur.fetchmany(65536)
                if not rows:
                    break
                ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
                pids = np.fromiter((r[1] for r in rows), np.int64, len(rows))
                blob = b"".join(r[2] for r in rows)
                vecs = np.frombuffer(blob, dtype="<f4")
                if vecs.size != len(rows) * self.dim:
                    raise self._corrupt(ValueError("an embedding blob has the wrong size"))
                yield ids, pids, vecs.reshape(len(rows), self.dim).astype(np.float32)

    def _rebuild_index(self, gen: int, mapping_loaded: bool = False) -> None:
        chunks = list(self._iter_vectors())
        idx = VectorIndex(self.dim, self.index_kind, self.metric, **self.index_options)
        if chunks:
            ids = np.concatenate([c[0] for c in chunks])
            pids = np.concatenate([c[1] for c in chunks])
            vecs = np.concatenate([c[2] for c in chunks])
            idx.add(vecs, ids)
        else:
            ids = pids = np.zeros(0, np.int64)
        with self._db() as conn:
            self._names = dict(conn.execute("SELECT id, name FROM people").fetchall())
        self._emb_ids, self._emb_person = ids, pids
        self._index, self._index_gen = idx, gen
        self._dirty = True
        with contextlib.suppress(OSError, PictorchError):
            self._save_index()  # best effort: a read-only folder still works, it just rebuilds next time

    def _save_index(self) -> None:
        assert self._index is not None
        self._index.save(
            index_path_for(self.path),
            extra={"store_id": self.store_id, "generation": self._index_gen, "count": len(self._index)},
        )
        self._dirty = False
