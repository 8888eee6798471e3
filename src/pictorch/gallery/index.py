"""A vector index over FAISS: exact (flat), HNSW and IVF, with ids, removal and atomic save/load.

``VectorIndex`` hides the FAISS index zoo behind one small interface that the identification gallery and
the autoencoder similar-image search share::

    index = VectorIndex(128, kind="hnsw", metric="cosine")
    index.add(vectors, ids)                  # float32 N×D, int64 N
    scores, ids = index.search(queries, k=5)  # higher score = more similar (cosine); id -1 = empty slot
    index.remove([3, 7])
    index.save("gallery.faiss", extra={"generation": 12})
    index = VectorIndex.load("gallery.faiss")

Kinds:
    * ``flat``: exact search (``IndexIDMap2`` over ``IndexFlatIP``/``IndexFlatL2``). The default and the
      reference the approximate kinds are measured against; fine up to a few hundred thousand vectors.
    * ``hnsw``: a graph index (``IndexHNSWFlat``), fast and accurate for large galleries; no training.
      FAISS cannot delete from an HNSW graph, so :meth:`remove` keeps tombstones that searches filter out
      and the graph is rebuilt once they pass a quarter of the vectors.
    * ``ivf``: an inverted-file index (``IndexIVFFlat``), trained (k-means) on the first vectors added;
      ``nlist`` defaults to about 4·sqrt(N) lists.

Metrics: ``cosine`` (vectors and queries are L2-normalized, scores are cosine similarities in [-1, 1]) and
``l2`` (scores are squared Euclidean distances: lower = more similar).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.utils import atomic_write

KINDS = ("flat", "hnsw", "ivf")
METRICS = ("cosine", "l2")
_MAGIC = b"PTVIDX01"
_COMPACT_FRACTION = 0.25
_SINGLE_THREAD_BELOW = 8


def _faiss():
    try:
        import faiss
    except ImportError as e:  # pragma: no cover - faiss-cpu is a core dependency
        raise PictorchError("faiss is not installed: pip install faiss-cpu") from e
    return faiss


def as_float_matrix(x: Any, dim: int | None = None, what: str = "vectors") -> np.ndarray:
    """Turn a tensor/array/list into a contiguous float32 N×D matrix (a single vector becomes 1×D)."""
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").float().numpy()
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise PictorchError(f"{what} must be a N×D matrix, got shape {tuple(a.shape)}")
    if dim is not None and a.shape[1] != dim:
        raise PictorchError(f"{what} have dimension {a.shape[1]} but the index holds {dim}-d vectors")
    if a.size and not np.isfinite(a).all():
        raise PictorchError(f"{what} contain NaN or Inf values")
    return a


def l2_normalize(a: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalization (zero rows stay zero)."""
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return (a / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


class VectorIndex:
    """Nearest-neighbour search over id-tagged vectors (see the module docstring).

    Args:
        dim: Vector width.
        kind: ``"flat"`` (exact), ``"hnsw"`` or ``"ivf"``.
        metric: ``"cosine"`` or ``"l2"``.
        hnsw_m: HNSW graph degree (neighbours per node).
        ef_construction: HNSW build-time beam width (higher = better graph, slower build).
        ef_search: HNSW search beam width (higher = better recall, slower queries); raised to ``k`` if smaller.
        nlist: IVF list count; ``None`` picks about 4·sqrt(N) at training time.
        nprobe: IVF lists visited per query.
    """

    def __init__(
        self,
        dim: int,
        kind: str = "flat",
        metric: str = "cosine",
        *,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        nlist: int | None = None,
        nprobe: int = 16,
    ):
        if kind not in KINDS:
            raise PictorchError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
        if metric not in METRICS:
            raise PictorchError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        if int(dim) <= 0:
            raise PictorchError(f"index dimension must be positive, got {dim}")
        self.dim = int(dim)
        self.kind = kind
        self.metric = metric
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.nlist = None if nlist is None else int(nlist)
        self.nprobe = int(nprobe)
        self.trained_on = 0  # IVF: how many vectors the coarse quantizer was trained on
        self.extra: dict[str, Any] = {}  # caller metadata persisted with save()/load()
        self._deleted: set[int] = set()  # HNSW tombstones
        self._index = self._new_index() if kind != "ivf" else None

    # ------------------------------------------------------------------ construction helpers
    @property
    def _faiss_metric(self) -> int:
        faiss = _faiss()
        return faiss.METRIC_INNER_PRODUCT if self.metric == "cosine" else faiss.METRIC_L2

    def _new_index(self):
        faiss = _faiss()
        if self.kind == "flat":
            base = faiss.IndexFlatIP(self.dim) if self.metric == "cosine" else faiss.IndexFlatL2(self.dim)
            return faiss.IndexIDMap2(base)
        if self.kind == "hnsw":
            base = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, self._faiss_metric)
            base.hnsw.efConstruction = self.ef_construction
            base.hnsw.efSearch = self.ef_search
            return faiss.IndexIDMap2(base)
        raise AssertionError(self.kind)

    def _new_ivf(self, train: np.ndarray):
        faiss = _faiss()
        n = len(train)
        nlist = self.nlist or max(1, min(int(4 * math.sqrt(max(n, 1))), n // 39 or 1))
        nlist = max(1, min(nlist, n))
        quantizer = faiss.IndexFlatIP(self.dim) if self.metric == "cosine" else faiss.IndexFlatL2(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, self._faiss_metric)
        ivf.cp.seed = 1234  # reproducible k-means
        ivf.train(train)
        ivf.nprobe = min(self.nprobe, nlist)
        self.nlist = nlist
        self.trained_on = n
        return ivf

    def _prep(self, x: Any, what: str) -> np.ndarray:
        a = as_float_matrix(x, self.dim, what)
        return l2_normalize(a) if self.metric == "cosine" else a

    # ------------------------------------------------------------------ public API
    def __len__(self) -> int:
        if self._index is None:
            return 0
        return int(self._index.ntotal) - len(self._deleted)

    def __repr__(self) -> str:
        return f"VectorIndex(dim={self.dim}, kind={self.kind!r}, metric={self.metric!r}, n={len(self)})"

    def train(self, vectors: Any) -> None:
        """Train an IVF index's coarse quantizer on a sample (optional: the first :meth:`add` trains it)."""
        if self.kind != "ivf":
            return
        if self._index is not None and self._index.ntotal:
            raise PictorchError("this IVF index already holds vectors; train it before adding any")
        x = self._prep(vectors, "training vectors")
        if not len(x):
            raise PictorchError("cannot train an IVF index on zero vectors")
        self._index = self._new_ivf(x)

    def add(self, vectors: Any, ids: Any) -> None:
        """Add vectors with their int64 ids (ids must be unique within the index).

        Args:
            vectors: float N×D (tensor or array); normalized here for the cosine metric.
            ids: int64 N.
        """
        x = self._prep(vectors, "vectors")
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if len(ids) != len(x):
            raise PictorchError(f"got {len(x)} vectors but {len(ids)} ids")
        if not len(x):
            return
        if len(np.unique(ids)) != len(ids):
            raise PictorchError("ids passed to VectorIndex.add must be unique")
        if (ids < 0).any():
            raise PictorchError("ids must be non-negative (-1 marks empty result slots)")
        if self._deleted and not self._deleted.isdisjoint(ids.tolist()):
            self._compact()  # a tombstoned id comes back: drop the old vector for good first
        if self.kind == "ivf" and self._index is None:
            self._index = self._new_ivf(x)
        self._index.add_with_ids(x, ids)

    def search(self, queries: Any, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Find the ``k`` nearest stored vectors of each query.

        Returns:
            ``(scores, ids)``, both Q×k. Cosine: similarities, best first (higher = closer). L2: squared
            distances, best first (lower = closer). Slots without a neighbour have id -1 and score
            -inf (cosine) / +inf (l2).
        """
        q = self._prep(queries, "queries")
        k = int(k)
        if k <= 0:
            raise PictorchError(f"k must be positive, got {k}")
        empty_score = -np.inf if self.metric == "cosine" else np.inf
        if self._index is None or len(self) == 0 or not len(q):
            return (np.full((len(q), k), empty_score, np.float32), np.full((len(q), k), -1, np.int64))
        faiss = _faiss()
        params = None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, k)
            if self._deleted:
                self._sel_ids = np.fromiter(self._deleted, dtype=np.int64, count=len(self._deleted))
                self._sel_batch = faiss.IDSelectorBatch(self._sel_ids)  # kept alive while searching
                self._sel = faiss.IDSelectorNot(self._sel_batch)
                params.sel = self._sel
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF()
            params.nprobe = min(self.nprobe, self._index.nlist)
        # A handful of queries: one thread. Waking an OpenMP team costs more than the search itself (10-50x
        # worse p50 latency on a busy machine); batches still use every core.
        threads = faiss.omp_get_max_threads()
        if len(q) < _SINGLE_THREAD_BELOW and threads > 1:
            faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(q, k, params=params) if params is not None else self._index.search(q, k)
        finally:
            if faiss.omp_get_max_threads() != threads:
                faiss.omp_set_num_threads(threads)
        scores = scores.astype(np.float32, copy=False)
        scores[ids < 0] = empty_score
        return scores, ids.astype(np.int64, copy=False)

    def remove(self, ids: Any) -> int:
        """Remove vectors by id; unknown ids are ignored. Returns how many were removed."""
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if self._index is None or not len(ids):
            return 0
        if self.kind == "hnsw":
            present = set(self.ids().tolist()) & set(ids.tolist())
            self._deleted |= present
            if len(self._deleted) > _COMPACT_FRACTION * max(self._index.ntotal, 1):
                self._compact()
            return len(present)
        return int(self._index.remove_ids(_faiss().IDSelectorBatch(ids)))

    def ids(self) -> np.ndarray:
        """All live ids (int64), in insertion order for flat/HNSW."""
        faiss = _faiss()
        if self._index is None:
            return np.zeros(0, np.int64)
        if self.kind == "ivf":
            inv = self._index.invlists
            parts = [
                faiss.rev_swig_ptr(inv.get_ids(i), inv.list_size(i)).copy()
                for i in range(self._index.nlist)
                if inv.list_size(i)
            ]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        all_ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        if self._deleted:
            all_ids = all_ids[~np.isin(all_ids, np.fromiter(self._deleted, np.int64, len(self._deleted)))]
        return all_ids

    def reconstruct(self, ids: Any) -> np.ndarray:
        """The stored (normalized, for cosine) vectors of ``ids`` (flat/HNSW only)."""
        if self.kind == "ivf":
            raise PictorchError("an IVF index does not keep an id -> vector map; read vectors from the store")
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        try:
            return np.stack([self._index.reconstruct(int(i)) for i in ids]).astype(np.float32)
        except RuntimeError as e:
            raise PictorchError(f"id not in the index: {e}") from None

    def _compact(self) -> None:
        """Rebuild an HNSW graph without its tombstoned vectors."""
        live = self.ids()
        vecs = self.reconstruct(live)
        self._deleted = set()
        self._index = self._new_index()
        if len(live):
            self._index.add_with_ids(vecs, live)

    # ------------------------------------------------------------------ persistence
    def _header(self) -> dict[str, Any]:
        return {
            "dim": self.dim, "kind": self.kind, "metric": self.metric, "hnsw_m": self.hnsw_m,
            "ef_construction": self.ef_construction, "ef_search": self.ef_search, "nlist": self.nlist,
            "nprobe": self.nprobe, "trained_on": self.trained_on, "extra": self.extra,
            "deleted": sorted(self._deleted),
        }

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write the index atomically (a crash leaves the old file or the new one, never half of one).

        Args:
            path: Target file.
            extra: JSON-serializable caller metadata stored with it (e.g. the store generation it mirrors).
        """
        faiss = _faiss()
        if extra is not None:
            self.extra = dict(extra)
        header = json.dumps(self._header()).encode()
        blob = faiss.serialize_index(self._index).tobytes() if self._index is not None else b""
        path = Path(path)
        with atomic_write(path) as f:
            f.write(_MAGIC)
            f.write(struct.pack("<QQ", len(header), len(blob)))
            f.write(header)
            f.write(blob)
        return path

    @classmethod
    def load(cls, path: str | Path) -> VectorIndex:
        """Read an index written by :meth:`save`; a missing/corrupt file raises :class:`PictorchError`."""
        faiss = _faiss()
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PictorchError(f"index file not found: {path}") from None
        except OSError as e:
            raise PictorchError(f"cannot read index file {path}: {e.strerror or e}") from None
        try:
            if data[:8] != _MAGIC:
                raise ValueError("not a pictorch vector index")
            hlen, blen = struct.unpack("<QQ", data[8:24])
            if 24 + hlen + blen != len(data):
                raise ValueError("truncated")
            h = json.loads(data[24 : 24 + hlen])
            idx = cls(
                h["dim"], h["kind"], h["metric"], hnsw_m=h["hnsw_m"], ef_construction=h["ef_construction"],
                ef_search=h["ef_search"], nlist=h["nlist"], nprobe=h["nprobe"],
            )
            idx.trained_on = int(h.get("trained_on", 0))
            idx.extra = dict(h.get("extra") or {})
            idx._deleted = {int(i) for i in h.get("deleted", [])}
            if blen:
                blob = np.frombuffer(data, dtype=np.uint8, offset=24 + hlen, count=blen)
                idx._index = faiss.deserialize_index(np.ascontiguousarray(blob))
                if idx._index.d != idx.dim:
                    raise ValueError("dimension mismatch")
            else:
                idx._index = None if idx.kind == "ivf" else idx._new_index()
        except PictorchError:
            raise
        except Exception as e:  # struct/json/faiss errors all mean "damaged file"
            raise PictorchError(
                f"index file {path} is damaged or not a pictorch index ({e.__class__.__name__}: {e})"
            ) from None
        return idx
