"""The gallery: enrolled people and their embeddings in one SQLite file, searched through a FAISS index.

SQLite is the source of truth (:mod:`pictorch.gallery.db`). Every change (an enrolment, a removal, a
calibration) is one transaction that also bumps the ``generation`` counter in ``meta``; the derived index
(:mod:`pictorch.gallery.mirror`) always matches what the store committed. Scoring and calibration:
:mod:`pictorch.gallery.scoring`; export: :mod:`pictorch.gallery.export`.

A gallery refuses to mix embeddings of different models: it records the embedder's ``fingerprint`` and
``dim`` when created and rejects anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.gallery.db import (  # noqa: F401  (re-exported: the gallery's public names live here)
    _BUSY_TIMEOUT_S,
    _CHUNK,
    _QUICK_CHECK_MAX_BYTES,
    _SCHEMA,
    _SQLITE_MAGIC,
    FORMAT_VERSION,
    SCORINGS,
    UNKNOWN,
    GalleryExistsError,
    _check_scoring,
    damaged,
    enrolment_rows,
    index_path_for,
    new_photos,
    sha256_file,
    source_hash,
)
from pictorch.gallery.index import VectorIndex
from pictorch.gallery.scoring import Match, OpenSet, Scoring  # noqa: F401


class Gallery(Scoring, OpenSet):
    """An open gallery. Build one with :meth:`create` or :meth:`open`; use it as a context manager.

    Attributes:
        skipped: ``(source, reason)`` for each input the last :meth:`enroll` did not store (duplicates).
        index_note: Why the index was rebuilt from the store on the last load (``None`` if it was reused).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self._conn = conn
        self._index: VectorIndex | None = None
        self._index_gen: int = -1
        self._dirty = False
        self._emb_ids = np.zeros(0, np.int64)  # sorted embedding ids present in the index
        self._emb_person = np.zeros(0, np.int64)  # person id of each embedding id
        self._names: dict[int, str] = {}
        self._per_person, self._per_person_gen = 1, -2
        self._centroids: VectorIndex | None = None
        self._centroid_gen = -1
        self._meta = self._read_identity()

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
        return g._checked(fingerprint, dim)


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
        name, x, sources, hashes = self._enrolment(name, embeddings, sources, hashes, fingerprint)
        _ = self.index  # bring the index up to date first so this change is applied to it incrementally
        with self._write() as conn:
            gen_before = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
            known = self._known_hashes(conn, [h for h in hashes if h])
            keep, self.skipped = new_photos(sources, hashes, known, name)
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
        return source_hash(source, vector)

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
            person_id = self._person_id(conn, name, " (pictorch identify list shows everyone)")
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
            _, n, merged = self._rename_in(conn, old, new, merge)
            if new == old:
                return n, False
            gen = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0]) + 1
            conn.execute("UPDATE meta SET value=? WHERE key='generation'", (str(gen),))
        self._index = None  # person ids changed: rebuild the mapping (and centroids) on next use
        self._centroids = None
        return int(n), merged

    # ------------------------------------------------------------------ export
    def export(self, path: str | Path) -> Path:
        """Write names, sources and embeddings: ``.npz``, or ``.json`` (+ ``.npy`` beside it for vectors).

        Returns:
            The written file (the JSON one for the JSON+npy form).
        """
        from pictorch.gallery.export import export_gallery

        return export_gallery(self, path)
