"""The gallery: enrolled people and their embeddings in one SQLite file, searched through a FAISS index.

Layout on disk::

    people.gallery          # SQLite (WAL): meta, people, sources (sha256 of each enrolled file), embeddings
    people.gallery.faiss    # derived: the vector index + the store generation it mirrors

SQLite is the source of truth. Every change (an enrolment, a removal, a calibration) is one transaction that
also bumps the ``generation`` counter in ``meta``; the index file records the generation it was built from.
On open (and before each search) a missing, damaged or stale index is rebuilt from SQLite, so whatever
happened to the process — a crash, a kill in the middle of an enrolment, two writers — the index always
matches what the store committed.

A gallery refuses to mix embeddings of different models: it records the embedder's ``fingerprint`` and
``dim`` when created and rejects anything else.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import math
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.gallery.index import VectorIndex, as_float_matrix, l2_normalize
from pictorch.utils import atomic_write

FORMAT_VERSION = 1
SCORINGS = ("nearest", "centroid")
UNKNOWN = "unknown"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 8192
_BUSY_TIMEOUT_S = 30.0
_QUICK_CHECK_MAX_BYTES = 256 << 20  # quick_check reads every page: ~0.1 s per 64 MB here; bigger: `check`

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    added_at REAL NOT NULL
);
CREATE TABLE embeddings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    source_id INTEGER REFERENCES sources(id) ON DELETE CASCADE,
    vector BLOB NOT NULL
);
CREATE INDEX embeddings_person ON embeddings(person_id);
CREATE INDEX sources_person ON sources(person_id);
"""


@dataclass
class Match:
    """The answer for one query.

    Attributes:
        name: Best-matching person, or ``"unknown"`` when the best score is below the threshold.
        score: The best person's score (cosine similarity; higher = more similar).
        topk: Up to k distinct people, best first, as ``(name, score)``; a person's score is the maximum
            over that person's enrolled embeddings.
    """

    name: str
    score: float
    topk: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"name": self.name, "score": self.score, "topk": [[n, s] for n, s in self.topk]}


class GalleryExistsError(PictorchError):
    """:meth:`Gallery.create` found a gallery already at that path (maybe made by another process just now)."""


def damaged(path: str | Path, e: Exception | str) -> PictorchError:
    """The one message for a damaged gallery file: what happened and what to do."""
    return PictorchError(
        f"gallery {path} is damaged ({e}); it was left untouched: restore a backup (pictorch identify backup "
        "makes one), or enrol the photos again into a new gallery file; pictorch identify check tells more"
    )


def _check_scoring(scoring: str) -> None:
    if scoring not in SCORINGS:
        raise PictorchError(f"unknown scoring {scoring!r}; use one of: {', '.join(SCORINGS)}")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def index_path_for(path: str | Path) -> Path:
    """Where a gallery keeps its derived FAISS index (``<gallery>.faiss``)."""
    return Path(str(path) + ".faiss")


class Gallery:
    """An open gallery. Build one with :meth:`create` or :meth:`open`; use it as a context manager.

    Attributes:
        skipped: ``(source, reason)`` for each input the last :meth:`enroll` did not store (duplicates).
        index_note: Why the index was rebuilt from the store on the last load (``None`` if it was reused).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self._conn = conn
        self.skipped: list[tuple[str, str]] = []
        self.index_note: str | None = None
        self._index: VectorIndex | None = None
        self._index_gen: int = -1
        self._dirty = False
        self._emb_ids = np.zeros(0, np.int64)  # sorted embedding ids present in the index
        self._emb_person = np.zeros(0, np.int64)  # person id of each embedding id
        self._names: dict[int, str] = {}
        self._per_person, self._per_person_gen = 1, -2
        self._centroids: VectorIndex | None = None
        self._centroid_gen = -1
        meta = self._read_meta()
        self._meta = meta
        self.fingerprint: str = meta["fingerprint"]
        self.dim: int = int(meta["dim"])
        self.metric: str = meta["metric"]
        self.index_kind: str = meta["index"]
        self.index_options: dict[str, Any] = json.loads(meta.get("index_options") or "{}")
        self.store_id: str = meta["store_id"]

    # ------------------------------------------------------------------ opening / creating
    @classmethod
    def create(
        cls,
        path: str | Path,
        fingerprint: str,
        dim: int,
        index: str = "flat",
        metric: str = "cosine",
        *,
        model: str | None = None,
        threshold: float | None = None,
        index_options: dict[str, Any] | None = None,
        scoring: str = "nearest",
        settings: dict[str, Any] | None = None,
    ) -> Gallery:
        """Create a new, empty gallery file (refuses to touch an existing file).

        Args:
            path: The SQLite file to create.
            fingerprint: Identifies the embedding model (architecture + weights); recorded and enforced.
            dim: Embedding width.
            index: ``"flat"`` (exact), ``"hnsw"`` or ``"ivf"`` (see :class:`VectorIndex`).
            metric: ``"cosine"`` or ``"l2"``.
            model: How to load the embedder again (a checkpoint path or ``"dlib-face"``), so queries need no
                ``--model``.
            threshold: Initial accept threshold (e.g. the model's published one) until :meth:`calibrate`.
            index_options: Extra :class:`VectorIndex` options (``ef_search``, ``nprobe``, ``hnsw_m``, ...).
            scoring: How a person is scored against a query: ``"nearest"`` (the best of their enrolled
                embeddings) or ``"centroid"`` (their mean embedding: steadier with several photos per person,
                and better at rejecting strangers that resemble one enrolled photo).
            settings: Application settings stored from the start (see :attr:`settings`), e.g. how photos are
                preprocessed, so a gallery never exists without them.

        Raises:
            GalleryExistsError: ``path`` exists (never overwritten).
        """
        path = Path(path)
        _check_scoring(scoring)
        VectorIndex(int(dim), index, metric, **(index_options or {}))  # validates kind/metric/options
        if not fingerprint:
            raise PictorchError("a gallery needs the embedding model's fingerprint")
        if path.exists():
            raise GalleryExistsError(f"{path} already exists; open it instead of creating it")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.creating")
        meta = {
            "format": "pictorch-gallery",
            "format_version": str(FORMAT_VERSION),
            "fingerprint": fingerprint,
            "dim": str(int(dim)),
            "metric": metric,
            "index": index,
            "index_options": json.dumps(index_options or {}),
            "model": model or "",
            "threshold": "" if threshold is None else repr(float(threshold)),
            "calibration": "",
            "scoring": scoring,
            "generation": "0",
            "store_id": uuid.uuid4().hex,
            "created_at": repr(time.time()),
        }
        if settings:
            meta["settings"] = json.dumps(settings)
        # Build the schema in a temp file and rename it in place: a crash never leaves a half-made gallery.
        conn = sqlite3.connect(tmp, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", list(meta.items()))
        finally:
            conn.close()
        try:
            # link() fails if another process created `path` meanwhile: never overwrite a gallery.
            os.link(tmp, path)
        except FileExistsError:
            raise GalleryExistsError(f"{path} already exists; open it instead of creating it") from None
        except OSError:  # a filesystem without hard links: a rename (the exists() check above guards it)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path, *, fingerprint: str | None = None, dim: int | None = None) -> Gallery:
        """Open an existing gallery.

        Args:
            path: The gallery file.
            fingerprint: If given, the embedder that will be used with it; a different one is refused.
            dim: If given, the embedding width that will be used; a different one is refused.

        Raises:
            PictorchError: The file is missing, is not a pictorch gallery, is damaged, or was built by another
                model. The file is never modified in these cases.
        """
        path = Path(path)
        if not path.exists():
            raise PictorchError(
                f"no gallery at {path}; create one by enrolling people (pictorch identify enroll NAME "
                f"PHOTOS... --gallery {path} --model ...)"
            )
        if path.is_dir():
            raise PictorchError(f"{path} is a folder, not a gallery file")
        try:
            with open(path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as e:
            raise PictorchError(f"cannot read gallery {path}: {e.strerror or e}") from None
        if head != _SQLITE_MAGIC:
            raise PictorchError(
                f"{path} is not a pictorch gallery (not a SQLite database, or its header is damaged); "
                "it was left untouched"
            )
        try:
            conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise PictorchError(f"cannot open gallery {path}: {e}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
            # WAL + NORMAL: a killed process never loses or corrupts a committed enrolment; only a power
            # cut can drop the last few commits (never corrupts). Saves an fsync per enrolment.
            conn.execute("PRAGMA synchronous=NORMAL")
            if path.stat().st_size <= _QUICK_CHECK_MAX_BYTES:
                # Every command checks the file's structure the same way before trusting it (a truncated
                # file used to surface as "unexpected DatabaseError"); bigger files: `identify check`.
                row = conn.execute("PRAGMA quick_check(1)").fetchone()
                if not row or row[0] != "ok":
                    raise sqlite3.DatabaseError(row[0] if row else "quick_check returned nothing")
            g = cls(path, conn)
        except sqlite3.OperationalError as e:
            conn.close()
            if "locked" in str(e) or "busy" in str(e):
                raise PictorchError(f"gallery {path} is busy: another process kept it locked for over "
                                    f"{_BUSY_TIMEOUT_S:.0f} s; try again when it has finished") from None
            raise damaged(path, e) from None
        except sqlite3.DatabaseError as e:
            conn.close()
            raise damaged(path, e) from None
        except BaseException:
            conn.close()
            raise
        if fingerprint is not None or dim is not None:
            try:
                g.check_model(fingerprint, dim)
            except BaseException:
                g.close()
                raise
        return g

    def _corrupt(self, e: Exception) -> PictorchError:
        return damaged(self.path, e)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """Translate SQLite failures into one clear message each."""
        try:
            yield self._conn
        except sqlite3.OperationalError as e:
            msg = str(e)
            if "locked" in msg or "busy" in msg:
                raise PictorchError(
                    f"gallery {self.path} is busy: another process kept it locked for over "
                    f"{_BUSY_TIMEOUT_S:.0f} s; try again when it has finished"
                ) from None
            if "no such table" in msg or "no such column" in msg:
                raise PictorchError(f"{self.path} is not a pictorch gallery ({msg})") from None
            if "readonly" in msg or "read-only" in msg:
                raise PictorchError(f"gallery {self.path} is read-only; check the file's permissions") from None
            raise self._corrupt(e) from None
        except sqlite3.DatabaseError as e:
            raise self._corrupt(e) from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: concurrent writers queue on the busy timeout)."""
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read_meta(self) -> dict[str, str]:
        with self._db() as conn:
            try:
                rows = conn.execute("SELECT key, value FROM meta").fetchall()
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    raise PictorchError(f"{self.path} is a SQLite file but not a pictorch gallery") from None
                raise
        meta = dict(rows)
        if meta.get("format") != "pictorch-gallery":
            raise PictorchError(f"{self.path} is a SQLite file but not a pictorch gallery")
        if int(meta.get("format_version", "0")) > FORMAT_VERSION:
            raise PictorchError(
                f"gallery {self.path} uses format version {meta['format_version']}, newer than this pictorch "
                f"understands ({FORMAT_VERSION}); upgrade pictorch"
            )
        missing = {"fingerprint", "dim", "metric", "index", "store_id", "generation"} - set(meta)
        if missing:
            raise PictorchError(f"gallery {self.path} is damaged: meta lacks {', '.join(sorted(missing))}")
        return meta

    def _meta_value(self, key: str) -> str:
        with self._db() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else ""

    def _generation(self) -> int:
        return int(self._meta_value("generation") or 0)

    def close(self) -> None:
        """Save the index if it changed and close the database."""
        if self._conn is None:
            return
        try:
            if self._dirty and self._index is not None:
                self._save_index()
        finally:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Gallery({str(self.path)!r}, dim={self.dim}, index={self.index_kind!r})"

    # ------------------------------------------------------------------ model identity
    @property
    def model(self) -> str | None:
        """How to load the embedder this gallery was built with (checkpoint path or ``"dlib-face"``)."""
        return self._meta_value("model") or None

    @property
    def threshold(self) -> float | None:
        """The accept threshold (calibrated, or the initial one); ``None`` if never set."""
        v = self._meta_value("threshold")
        return float(v) if v else None

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE meta SET value=? WHERE key='threshold'", ("" if value is None else repr(float(value)),)
            )

    @property
    def scoring(self) -> str:
        """``"nearest"`` or ``"centroid"`` (see :meth:`create`); galleries from before the option: nearest."""
        return self._meta_value("scoring") or "nearest"

    @scoring.setter
    def scoring(self, value: str) -> None:
        """Change the scoring; the threshold and calibration belong to the old one and are cleared."""
        _check_scoring(value)
        if value == self.scoring:
            return
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('scoring', ?)", (value,))
            conn.execute("UPDATE meta SET value='' WHERE key IN ('threshold', 'calibration')")

    @property
    def settings(self) -> dict[str, Any]:
        """Application settings stored with the gallery (e.g. how photos were preprocessed)."""
        v = self._meta_value("settings")
        return json.loads(v) if v else {}

    def update_settings(self, **values: Any) -> None:
        """Merge JSON-serializable ``values`` into :attr:`settings` (one transaction)."""
        with self._write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key='settings'").fetchone()
            cur = json.loads(row[0]) if row and row[0] else {}
            cur.update(values)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('settings', ?)", (json.dumps(cur),))

    @property
    def calibration(self) -> dict[str, Any] | None:
        """The report of the last :meth:`calibrate`, if any."""
        v = self._meta_value("calibration")
        return json.loads(v) if v else None

    def check_model(self, fingerprint: str | None, dim: int | None = None) -> None:
        """Refuse an embedder other than the one this gallery was built with."""
        if dim is not None and int(dim) != self.dim:
            raise PictorchError(
                f"gallery {self.path} holds {self.dim}-d embeddings but this model makes {dim}-d ones; use the "
                f"model the gallery was built with ({self.model or self.fingerprint}) or a new gallery file"
            )
        if fingerprint is not None and fingerprint != self.fingerprint:
            raise PictorchError(
                f"gallery {self.path} was built by another model (fingerprint {self.fingerprint[:40]}, this "
                f"one is {fingerprint[:40]}); embeddings of different models cannot be mixed: use the model "
                f"the gallery was built with ({self.model or 'see pictorch identify list'}) or a new gallery"
            )

    # ------------------------------------------------------------------ people
    def people(self) -> dict[str, int]:
        """Enrolled people and how many embeddings each has, by name."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT p.name, COUNT(e.id) FROM people p LEFT JOIN embeddings e ON e.person_id = p.id "
                "GROUP BY p.id ORDER BY p.name"
            ).fetchall()
        return dict(rows)

    def __len__(self) -> int:
        with self._db() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def __contains__(self, name: str) -> bool:
        with self._db() as conn:
            return conn.execute("SELECT 1 FROM people WHERE name=?", (name,)).fetchone() is not None

    def enrolled_hashes(self) -> dict[str, str]:
        """sha256 -> person name for every enrolled source file."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT s.sha256, p.name FROM sources s JOIN people p ON p.id = s.person_id"
            ).fetchall()
        return dict(rows)

    @staticmethod
    def _check_name(name: str) -> str:
        name = str(name).strip()
        if not name:
            raise PictorchError("a person's name cannot be empty")
        if name.lower() == UNKNOWN:
            raise PictorchError(f"{name!r} is reserved for people not in the gallery; choose another name")
        return name

    def enroll(
        self,
        name: str,
        embeddings: Any,
        sources: Sequence[str],
        hashes: Sequence[str | None] | None = None,
        *,
        fingerprint: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Add a person's embeddings (a new person, or more photos of an enrolled one) in one transaction.

        A source whose hash is already in the gallery (the same file enrolled before, for this person or
        another) is skipped and reported in :attr:`skipped`, never stored twice. If the process dies
        mid-enrolment nothing of this call is stored and everything enrolled before is intact.

        Args:
            name: The person's name (``"unknown"`` is reserved).
            embeddings: N×D float tensor or array from the gallery's model.
            sources: N source descriptions (usually file paths), kept for export and reports.
            hashes: N SHA-256 hex digests of the source files; ``None`` hashes each source file if it exists
                (else the embedding bytes), so re-enrolling the same file is caught either way.
            fingerprint: The embedder's fingerprint, checked against the gallery's when given.
            progress: Called as ``progress(done, total)`` after each chunk is written.

        Returns:
            How many embeddings were stored.
        """
        self._require_open()
        self.check_model(fingerprint)
        name = self._check_name(name)
        x = as_float_matrix(embeddings, self.dim, "embeddings")
        sources = [str(s) for s in sources]
        if len(sources) != len(x):
            raise PictorchError(f"got {len(x)} embeddings but {len(sources)} sources")
        if hashes is None:
            hashes = [self._default_hash(s, v) for s, v in zip(sources, x, strict=True)]
        elif len(hashes) != len(x):
            raise PictorchError(f"got {len(x)} embeddings but {len(hashes)} hashes")
        self.skipped = []
        _ = self.index  # bring the index up to date first so this change is applied to it incrementally
        with self._write() as conn:
            gen_before = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
            known = self._known_hashes(conn, [h for h in hashes if h])
            keep: list[int] = []
            seen: set[str] = set()
            for i, (src, h) in enumerate(zip(sources, hashes, strict=True)):
                if h and h in known:
                    owner = known[h]
                    self.skipped.append((src, f"already enrolled as {owner!r}" if owner != name
                                         else f"already enrolled for {name!r}"))
                elif h and h in seen:
                    self.skipped.append((src, "the same file appears twice in this enrolment"))
                else:
                    keep.append(i)
                    if h:
                        seen.add(h)
            if not keep:
                return 0
            now = time.time()
            row = conn.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()
            if row is None:
                person_id = conn.execute(
                    "INSERT INTO people(name, created_at) VALUES (?, ?)", (name, now)
                ).lastrowid
            else:
                person_id = row[0]
            new_ids = np.zeros(len(keep), np.int64)
            for start in range(0, len(keep), _CHUNK):
                part = keep[start : start + _CHUNK]
                for j, i in enumerate(part):
                    source_id = None
                    if hashes[i]:
                        source_id = conn.execute(
                            "INSERT INTO sources(sha256, path, person_id, added_at) VALUES (?, ?, ?, ?)",
                            (hashes[i], sources[i], person_id, now),
                        ).lastrowid
                    new_ids[start + j] = conn.execute(
                        "INSERT INTO embeddings(person_id, source_id, vector) VALUES (?, ?, ?)",
                        (person_id, source_id, x[i].astype("<f4").tobytes()),
                    ).lastrowid
                if progress is not None:
                    progress(min(start + _CHUNK, len(keep)), len(keep))
            gen = gen_before + 1
            conn.execute("UPDATE meta SET value=? WHERE key='generation'", (str(gen),))
        # committed: mirror the change in the in-memory index if it was current, else rebuild lazily
        if self._index is not None and self._index_gen == gen_before:
            self._index.add(x[keep], new_ids)
            self._emb_ids = np.concatenate([self._emb_ids, new_ids])
            self._emb_person = np.concatenate([self._emb_person, np.full(len(new_ids), person_id, np.int64)])
            if len(self._emb_ids) > len(new_ids) and self._emb_ids[-len(new_ids) - 1] > new_ids[0]:
                order = np.argsort(self._emb_ids, kind="stable")  # ids are AUTOINCREMENT: rarely needed
                self._emb_ids, self._emb_person = self._emb_ids[order], self._emb_person[order]
            self._names[int(person_id)] = name
            self._index_gen = gen
            self._dirty = True
        else:
            self._index = None
        return len(keep)

    @staticmethod
    def _default_hash(source: str, vector: np.ndarray) -> str:
        p = Path(source)
        try:
            if p.is_file():
                return sha256_file(p)
        except OSError:
            pass
        return "vector:" + hashlib.sha256(vector.astype("<f4").tobytes()).hexdigest()

    @staticmethod
    def _known_hashes(conn: sqlite3.Connection, hashes: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        uniq = list(dict.fromkeys(hashes))
        for start in range(0, len(uniq), 500):
            part = uniq[start : start + 500]
            q = ",".join("?" * len(part))
            found.update(conn.execute(
                f"SELECT s.sha256, p.name FROM sources s JOIN people p ON p.id=s.person_id WHERE s.sha256 IN ({q})",
                part,
            ).fetchall())
        return found

    def remove(self, name: str) -> int:
        """Remove a person and all their embeddings. Returns how many embeddings were removed.

        Raises:
            PictorchError: The name is not enrolled (the message lists close names).
        """
        self._require_open()
        _ = self.index  # see enroll()
        with self._write() as conn:
            row = conn.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()
            if row is None:
                names = [r[0] for r in conn.execute("SELECT name FROM people").fetchall()]
                close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise PictorchError(
                    f"{name!r} is not enrolled in {self.path}.{hint} (pictorch identify list shows everyone)"
                )
            person_id = row[0]
            gen_before = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
            ids = np.array(
                [r[0] for r in conn.execute("SELECT id FROM embeddings WHERE person_id=?", (person_id,))], np.int64
            )
            conn.execute("DELETE FROM embeddings WHERE person_id=?", (person_id,))
            conn.execute("DELETE FROM sources WHERE person_id=?", (person_id,))
            conn.execute("DELETE FROM people WHERE id=?", (person_id,))
            gen = gen_before + 1
            conn.execute("UPDATE meta SET value=? WHERE key='generation'", (str(gen),))
        if self._index is not None and self._index_gen == gen_before:
            self._index.remove(ids)
            keep = self._emb_person != person_id
            self._emb_ids, self._emb_person = self._emb_ids[keep], self._emb_person[keep]
            self._names.pop(int(person_id), None)
            self._index_gen = gen
            self._dirty = True
        else:
            self._index = None
        return len(ids)

    def rename(self, old: str, new: str, merge: bool = False) -> tuple[int, bool]:
        """Rename a person; with ``merge``, into a person already enrolled (their embeddings join).

        Returns:
            ``(embeddings now under the new name's person, merged)``.

        Raises:
            PictorchError: ``old`` is not enrolled (close names listed), or ``new`` is taken without ``merge``.
        """
        self._require_open()
        new = self._check_name(new)
        with self._write() as conn:
            row = conn.execute("SELECT id FROM people WHERE name=?", (old,)).fetchone()
            if row is None:
                names = [r[0] for r in conn.execute("SELECT name FROM people").fetchall()]
                close = difflib.get_close_matches(old, names, n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise PictorchError(f"{old!r} is not enrolled in {self.path}.{hint}")
            pid = row[0]
            if new == old:
                n = conn.execute("SELECT COUNT(*) FROM embeddings WHERE person_id=?", (pid,)).fetchone()[0]
                return int(n), False
            other = conn.execute("SELECT id FROM people WHERE name=?", (new,)).fetchone()
            merged = other is not None
            if merged and not merge:
                raise PictorchError(f"{new!r} is already enrolled in {self.path}; pass --merge to join {old!r}'s "
                                    f"photos to {new!r}")
            if merged:
                target = other[0]
                conn.execute("UPDATE embeddings SET person_id=? WHERE person_id=?", (target, pid))
                conn.execute("UPDATE sources SET person_id=? WHERE person_id=?", (target, pid))
                conn.execute("DELETE FROM people WHERE id=?", (pid,))
            else:
                target = pid
                conn.execute("UPDATE people SET name=? WHERE id=?", (new, pid))
            n = conn.execute("SELECT COUNT(*) FROM embeddings WHERE person_id=?", (target,)).fetchone()[0]
            gen = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0]) + 1
            conn.execute("UPDATE meta SET value=? WHERE key='generation'", (str(gen),))
        self._index = None  # person ids changed: rebuild the mapping (and centroids) on next use
        self._centroids = None
        return int(n), merged

    # ------------------------------------------------------------------ index
    def _require_open(self) -> None:
        if self._conn is None:
            raise PictorchError(f"gallery {self.path} is closed")

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

    # ------------------------------------------------------------------ queries
    def person_scores(self, queries: Any, k: int = 5) -> list[list[tuple[str, float]]]:
        """For each query, up to ``k`` distinct people with their score (see :attr:`scoring`), best first."""
        q = as_float_matrix(queries, self.dim, "queries")
        index = self.index
        n = len(index)
        if n == 0 or not len(q):
            return [[] for _ in range(len(q))]
        n_people = len(self._names)
        k = max(1, min(int(k), n_people))
        if self.scoring == "centroid":
            return self._centroid_scores(q, k)
        if self._per_person_gen != self._index_gen:
            self._per_person = int(np.unique(self._emb_person, return_counts=True)[1].max())
            self._per_person_gen = self._index_gen
        per_person = self._per_person
        # Each person fills at most `per_person` result slots, so k*per_person results hold k people;
        # start smaller and widen only for queries that came back short.
        want = min(n, k * min(int(per_person), 8))
        results: list[list[tuple[str, float]] | None] = [None] * len(q)
        todo = np.arange(len(q))
        while len(todo):
            scores, ids = index.search(q[todo], want)
            short = []
            for row, qi in enumerate(todo):
                people = self._distinct_people(scores[row], ids[row], k)
                if len(people) < k and want < n:
                    short.append(qi)
                else:
                    results[qi] = people
            todo = np.array(short, np.int64)
            want = min(n, want * 4)
        return results  # type: ignore[return-value]

    def _centroid_scores(self, q: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Scores against each person's mean embedding (unit-normalized first for cosine), exact search."""
        if self._centroids is None or self._centroid_gen != self._index_gen:
            people = np.unique(self._emb_person)  # sorted person ids of the index's embeddings
            sums = np.zeros((len(people), self.dim), np.float64)
            counts = np.zeros(len(people), np.float64)
            for _, pids, vecs in self._iter_vectors():
                pos = np.searchsorted(people, pids)
                np.add.at(sums, pos, l2_normalize(vecs) if self.metric == "cosine" else vecs)
                np.add.at(counts, pos, 1.0)
            idx = VectorIndex(self.dim, "flat", self.metric)
            idx.add((sums / counts[:, None]).astype(np.float32), people)
            self._centroids, self._centroid_gen = idx, self._index_gen
        scores, ids = self._centroids.search(q, k)
        sign = 1.0 if self.metric == "cosine" else -1.0
        return [[(self._names.get(int(i), f"#{int(i)}"), sign * float(s)) for s, i in zip(srow, irow, strict=True)
                 if i >= 0] for srow, irow in zip(scores, ids, strict=True)]

    def _distinct_people(self, scores: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[str, float]]:
        valid = ids >= 0
        scores, ids = scores[valid], ids[valid]
        pos = np.searchsorted(self._emb_ids, ids)
        pos = np.clip(pos, 0, max(len(self._emb_ids) - 1, 0))
        out: list[tuple[str, float]] = []
        seen: set[int] = set()
        for s, p, i in zip(scores, pos, ids, strict=True):
            if self._emb_ids[p] != i:
                continue
            pid = int(self._emb_person[p])
            if pid in seen:
                continue
            seen.add(pid)
            # l2 distances become "higher is better" similarities so thresholds work the same way
            score = float(s) if self.metric == "cosine" else -float(s)
            out.append((self._names.get(pid, f"#{pid}"), score))
            if len(out) == k:
                break
        return out

    def identify(self, queries: Any, k: int = 5, threshold: float | None = None) -> list[Match]:
        """Name each query: the best-matching person, or ``"unknown"`` below the threshold.

        Args:
            queries: Q×D embeddings (a single D vector is one query).
            k: How many distinct candidate people to list per query.
            threshold: Accept threshold on the score; ``None`` uses the gallery's stored (calibrated) one.
                With no threshold at all, the best match is always named.

        Returns:
            One :class:`Match` per query.
        """
        self._require_open()
        t = self.threshold if threshold is None else float(threshold)
        out = []
        for people in self.person_scores(queries, k):
            if not people:
                out.append(Match(UNKNOWN, float("-inf"), []))
                continue
            best, score = people[0]
            out.append(Match(best if t is None or score >= t else UNKNOWN, score, people))
        return out

    def verify(self, a: Any, b: Any) -> float:
        """Cosine similarity of two embeddings (1 = same direction)."""
        va = l2_normalize(as_float_matrix(a, self.dim, "embedding a"))
        vb = l2_normalize(as_float_matrix(b, self.dim, "embedding b"))
        if len(va) != 1 or len(vb) != 1:
            raise PictorchError("verify compares exactly two embeddings")
        return float(va[0] @ vb[0])

    def calibrate(self, embeddings: Any, names: Sequence[str], target_far: float = 0.01) -> dict[str, Any]:
        """Choose and store the threshold that gives ``target_far`` false accepts on labelled queries.

        Queries whose name is not enrolled (or is ``"unknown"``) are strangers. Impostor trials are the
        strangers' best scores plus, for members whose best match is someone else, that wrong match's score:
        accepting either is a false accept. The threshold is the lowest one whose false-accept rate on those
        trials is at most ``target_far``; the true-accept rate (members named correctly and above it) is
        reported.

        Returns:
            ``{"threshold", "tar", "far", "target_far", "members", "strangers", "impostor_trials",
            "rank1_accuracy"}``.
        """
        self._require_open()
        if not 0.0 <= float(target_far) < 1.0:
            raise PictorchError(f"target FAR must be in [0, 1), got {target_far}")
        x = as_float_matrix(embeddings, self.dim, "calibration embeddings")
        names = [str(n) for n in names]
        if len(names) != len(x):
            raise PictorchError(f"got {len(x)} calibration embeddings but {len(names)} names")
        enrolled = set(self.people())
        if not enrolled:
            raise PictorchError(f"gallery {self.path} is empty; enrol people before calibrating")
        tops = self.person_scores(x, k=1)
        genuine, impostor = [], []
        correct = 0
        members = 0
        for name, top in zip(names, tops, strict=True):
            best, score = top[0]
            if name in enrolled and name != UNKNOWN:
                members += 1
                if best == name:
                    correct += 1
                    genuine.append(score)
                else:
                    impostor.append(score)
            else:
                impostor.append(score)
        strangers = len(names) - members
        if not impostor:
            raise PictorchError(
                "calibration needs impostor trials: add photos of people who are not enrolled (strangers)"
            )
        if members == 0:
            raise PictorchError("calibration needs photos of enrolled people too (their names as labels)")
        imp = np.sort(np.asarray(impostor, np.float64))[::-1]
        allowed = int(math.floor(float(target_far) * len(imp) + 1e-9))
        if allowed >= len(imp):
            threshold = float(imp[-1])
        else:
            # just above the (allowed+1)-th highest impostor score: at most `allowed` impostors accepted
            threshold = float(np.nextafter(np.float32(imp[allowed]), np.float32(np.inf)))
        far = float((imp >= threshold).mean())
        tar = float((np.asarray(genuine) >= threshold).sum() / members)
        report = {
            "threshold": threshold,
            "tar": tar,
            "far": far,
            "target_far": float(target_far),
            "members": members,
            "strangers": strangers,
            "impostor_trials": len(imp),
            "rank1_accuracy": correct / members,
            "scoring": self.scoring,
        }
        with self._write() as conn:
            conn.execute("UPDATE meta SET value=? WHERE key='threshold'", (repr(threshold),))
            conn.execute("UPDATE meta SET value=? WHERE key='calibration'", (json.dumps(report),))
        return report

    # ------------------------------------------------------------------ integrity and backups
    def check(self) -> dict[str, Any]:
        """A full check: SQLite's ``integrity_check``, every embedding's size and finiteness, rows pointing
        at missing people, and whether the index file matches the store (rebuilt when it does not).

        Returns:
            ``{"ok", "problems": [str], "people", "embeddings", "index"}``.
        """
        self._require_open()
        problems: list[str] = []
        with self._db() as conn:
            rows = conn.execute("PRAGMA integrity_check(20)").fetchall()
            if [r[0] for r in rows] != ["ok"]:
                problems += [f"sqlite: {r[0]}" for r in rows]
            orphans = conn.execute("SELECT COUNT(*) FROM embeddings e LEFT JOIN people p ON p.id=e.person_id "
                                   "WHERE p.id IS NULL").fetchone()[0]
            if orphans:
                problems.append(f"{orphans} embeddings belong to no enrolled person")
            bad_size = bad_value = 0
            cur = conn.execute("SELECT vector FROM embeddings")
            while chunk := cur.fetchmany(65536):
                for (blob,) in chunk:
                    if not isinstance(blob, bytes) or len(blob) != 4 * self.dim:
                        bad_size += 1
                    elif not np.isfinite(np.frombuffer(blob, "<f4")).all():
                        bad_value += 1
        if bad_size:
            problems.append(f"{bad_size} embeddings have the wrong size")
        if bad_value:
            problems.append(f"{bad_value} embeddings hold NaN or infinite values")
        index_state = "not checked"
        if not problems:
            self._index = None
            _ = self.index
            index_state = "ok" if self.index_note is None else f"rebuilt ({self.index_note})"
        return {"ok": not problems, "problems": problems, "people": len(self.people()), "embeddings": len(self),
                "index": index_state}

    def backup(self, dest: str | Path) -> Path:
        """Copy the gallery to ``dest`` with SQLite's online backup API (consistent even while other processes
        enrol); never overwrites an existing file.

        Returns:
            ``dest``.
        """
        self._require_open()
        dest = Path(dest)
        if dest.exists():
            raise PictorchError(f"{dest} already exists; choose a new backup file name")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.backup")
        try:
            target = sqlite3.connect(tmp)
            try:
                with self._db() as conn:
                    conn.backup(target)
            finally:
                target.close()
            os.link(tmp, dest)
        except FileExistsError:
            raise PictorchError(f"{dest} already exists; choose a new backup file name") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return dest

    # ------------------------------------------------------------------ export
    def export(self, path: str | Path) -> Path:
        """Write names, sources and embeddings: ``.npz``, or ``.json`` (+ ``.npy`` beside it for vectors).

        Returns:
            The written file (the JSON one for the JSON+npy form).
        """
        self._require_open()
        path = Path(path)
        with self._db() as conn:
            rows = conn.execute(
                "SELECT e.id, p.name, COALESCE(s.path, ''), COALESCE(s.sha256, '') FROM embeddings e "
                "JOIN people p ON p.id=e.person_id LEFT JOIN sources s ON s.id=e.source_id ORDER BY e.id"
            ).fetchall()
        chunks = [c[2] for c in self._iter_vectors()]
        vecs = np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)
        ids = np.array([r[0] for r in rows], np.int64)
        names = [r[1] for r in rows]
        sources = [r[2] for r in rows]
        hashes = [r[3] for r in rows]
        info = {
            "fingerprint": self.fingerprint, "dim": self.dim, "metric": self.metric, "model": self.model,
            "threshold": self.threshold,
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
