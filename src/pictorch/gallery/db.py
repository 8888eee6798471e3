"""The gallery's SQLite file: schema, constants, opening checks, meta values, people, integrity and backups.

Layout on disk::

    people.gallery          # SQLite (WAL): meta, people, sources (sha256 of each enrolled file), embeddings
    people.gallery.faiss    # derived: the vector index + the store generation it mirrors

:class:`GalleryDb` is the base of :class:`pictorch.gallery.store.Gallery`: everything that only reads or writes
the SQLite file, and of :class:`pictorch.gallery.pg.PgGallery`, which overrides the SQLite-only plumbing and
shares the rest (:meth:`GalleryDb._sql`). The index mirror lives in :mod:`pictorch.gallery.mirror`, scoring in
:mod:`pictorch.gallery.scoring`, export in :mod:`pictorch.gallery.export`, an enrolment's rows and duplicate
checks in :mod:`pictorch.gallery.enrolment`.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np

from pictorch.errors import PictorchError
from pictorch.gallery.enrolment import (  # noqa: F401 - re-exported
    enrolment_rows,
    new_photos,
    source_hash,
    storable_text,
)
from pictorch.gallery.names import MAX_NAME_CHARS, check_person_name  # noqa: F401 - re-exported
from pictorch.gallery.schema import (  # noqa: F401 - re-exported: the format lives in schema.py
    _SCHEMA,
    FORMAT_VERSION,
    ROW_COLUMNS,
    SCORINGS,
    UNKNOWN,
    check_meta,
)
from pictorch.utils import sha256_file  # noqa: F401 - re-exported for the gallery

_SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 8192
_BUSY_TIMEOUT_S = 30.0
_QUICK_CHECK_MAX_BYTES = 256 << 20  # quick_check reads every page: ~0.1 s per 64 MB here; bigger: `check`


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


def index_path_for(path: str | Path) -> Path:
    """Where a gallery keeps its derived FAISS index (``<gallery>.faiss``)."""
    return Path(str(path) + ".faiss")



class GalleryDb:
    """SQLite access shared by the gallery's parts (needs ``path``, ``_conn``, ``fingerprint``, ``dim``).

    The PostgreSQL backend (:class:`pictorch.gallery.pg.PgGallery`) derives from it too and overrides the
    SQLite-only plumbing; what both share is written once here with :meth:`_sql`, whose ``{s}`` is the table
    prefix (none in SQLite, the schema in PostgreSQL) and whose ``?`` is the backend's placeholder.
    """

    path: Path
    _conn: sqlite3.Connection
    fingerprint: str
    dim: int
    index_kind: str
    _prefix = ""        # table prefix in SQL: "" in SQLite, '"schema".' in PostgreSQL
    _placeholder = "?"  # parameter placeholder: "?" in SQLite, "%s" in psycopg

    def _sql(self, text: str) -> str:
        """``text`` for this backend: ``{s}`` becomes the table prefix, ``?`` the placeholder."""
        return text.replace("{s}", self._prefix).replace("?", self._placeholder)

    def close(self) -> None:  # pragma: no cover - each backend closes its own connection
        raise NotImplementedError

    def _read_identity(self) -> dict[str, str]:
        """Read ``meta`` into what every backend holds while open (model, size, metric, index, store id)."""
        meta = self._read_meta()
        self.skipped: list[tuple[str, str]] = []
        self.index_note: str | None = None
        self.fingerprint = meta["fingerprint"]
        self.dim = int(meta["dim"])
        self.metric: str = meta["metric"]
        self.index_kind = meta["index"]
        self.index_options: dict[str, Any] = json.loads(meta.get("index_options") or "{}")
        self.store_id: str = meta["store_id"]
        return meta

    def _checked(self, fingerprint: str | None, dim: int | None) -> Self:
        """This gallery, just opened, after :meth:`check_model` when a model is given (closed if refused)."""
        if fingerprint is not None or dim is not None:
            try:
                self.check_model(fingerprint, dim)
            except BaseException:
                self.close()
                raise
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, dim={self.dim}, index={self.index_kind!r})"

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
        return check_meta(dict(rows), self.path, f"{self.path} is a SQLite file but not a pictorch gallery")

    def _meta_in(self, conn: Any, key: str) -> str:
        """One ``meta`` value read on ``conn`` (inside a write transaction: under its lock)."""
        row = conn.execute(self._sql("SELECT value FROM {s}meta WHERE key=?"), (key,)).fetchone()
        return row[0] if row and row[0] else ""

    def _meta_value(self, key: str) -> str:
        with self._db() as conn:
            return self._meta_in(conn, key)

    def _set_meta(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        """Write one ``meta`` row inside the caller's write transaction (each backend has its own SQL)."""
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _generation(self) -> int:
        return int(self._meta_value("generation") or 0)

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
            self._set_meta(conn, "threshold", "" if value is None else repr(float(value)))

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
            self._set_meta(conn, "scoring", value)
            self._set_meta(conn, "threshold", "")
            self._set_meta(conn, "calibration", "")

    @property
    def settings(self) -> dict[str, Any]:
        """Application settings stored with the gallery (e.g. how photos were preprocessed)."""
        v = self._meta_value("settings")
        return json.loads(v) if v else {}

    def update_settings(self, **values: Any) -> None:
        """Merge JSON-serializable ``values`` into :attr:`settings` (one transaction)."""
        with self._write() as conn:
            cur = json.loads(self._meta_in(conn, "settings") or "{}")
            cur.update(values)
            self._set_meta(conn, "settings", json.dumps(cur))

    @property
    def calibration(self) -> dict[str, Any] | None:
        """The report of the last :meth:`calibrate`, if any."""
        v = self._meta_value("calibration")
        return json.loads(v) if v else None

    def _save_calibration(self, threshold: float, report: dict[str, Any]) -> None:
        """Store a calibration's threshold and report (one transaction)."""
        with self._write() as conn:
            self._set_meta(conn, "threshold", repr(threshold))
            self._set_meta(conn, "calibration", json.dumps(report))

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
            return int(conn.execute(self._sql("SELECT COUNT(*) FROM {s}embeddings")).fetchone()[0])

    def __contains__(self, name: str) -> bool:
        with self._db() as conn:
            return conn.execute(self._sql("SELECT 1 FROM {s}people WHERE name=?"), (name,)).fetchone() is not None

    def enrolled_hashes(self) -> dict[str, str]:
        """sha256 -> person name for every enrolled source file."""
        with self._db() as conn:
            rows = conn.execute(self._sql(
                "SELECT s.sha256, p.name FROM {s}sources s JOIN {s}people p ON p.id = s.person_id")).fetchall()
        return dict(rows)

    def _person_id(self, conn: Any, name: str, extra: str = "") -> int:
        """The id of enrolled ``name``, on ``conn``; an unknown name raises with the close names listed."""
        row = conn.execute(self._sql("SELECT id FROM {s}people WHERE name=?"), (name,)).fetchone()
        if row is not None:
            return int(row[0])
        names = [r[0] for r in conn.execute(self._sql("SELECT name FROM {s}people")).fetchall()]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise PictorchError(f"{name!r} is not enrolled in {self.path}.{hint}{extra}")

    def _enrolment(self, name: str, embeddings: Any, sources: Any, hashes: Any, fingerprint: str | None
                   ) -> tuple[str, np.ndarray, list[str], list]:
        """What every backend's ``enroll`` checks first: open, the same model, a valid name, one row per
        embedding (:func:`enrolment_rows`); clears :attr:`skipped`."""
        self._require_open()
        self.check_model(fingerprint)
        name = self._check_name(name)
        x, sources, hashes = enrolment_rows(embeddings, sources, hashes, self.dim)
        self.skipped: list[tuple[str, str]] = []
        return name, x, sources, hashes

    def _rename_in(self, conn: Any, old: str, new: str, merge: bool) -> tuple[int, int, bool]:
        """Rename ``old`` (or with ``merge`` join them to ``new``) on ``conn``, inside the caller's write.

        Returns:
            ``(the id of the person now holding the photos, their embeddings, merged)``.
        """
        pid = self._person_id(conn, old)
        count = self._sql("SELECT COUNT(*) FROM {s}embeddings WHERE person_id=?")
        if new == old:
            return pid, int(conn.execute(count, (pid,)).fetchone()[0]), False
        other = conn.execute(self._sql("SELECT id FROM {s}people WHERE name=?"), (new,)).fetchone()
        merged = other is not None
        if merged and not merge:
            raise PictorchError(f"{new!r} is already enrolled in {self.path}; pass --merge to join {old!r}'s "
                                f"photos to {new!r}")
        if merged:
            target = int(other[0])
            conn.execute(self._sql("UPDATE {s}embeddings SET person_id=? WHERE person_id=?"), (target, pid))
            conn.execute(self._sql("UPDATE {s}sources SET person_id=? WHERE person_id=?"), (target, pid))
            conn.execute(self._sql("DELETE FROM {s}people WHERE id=?"), (pid,))
        else:
            target = pid
            conn.execute(self._sql("UPDATE {s}people SET name=? WHERE id=?"), (new, pid))
        return target, int(conn.execute(count, (target,)).fetchone()[0]), merged

    def photos(self, name: str) -> list[dict[str, Any]]:
        """A person's enrolled photos, oldest first: ``id``, ``sha256`` and ``added_at``.

        Raises:
            PictorchError: ``name`` is not enrolled.
        """
        if name not in self:
            raise PictorchError(f"{name!r} is not enrolled in {self.path}")
        with self._db() as conn:
            rows = conn.execute(self._sql("SELECT s.id, s.sha256, s.added_at FROM {s}sources s JOIN {s}people p ON "
                                          "s.person_id = p.id WHERE p.name = ? ORDER BY s.id"), (name,)).fetchall()
        return [{"id": int(i), "sha256": h, "added_at": float(t)} for i, h, t in rows]

    def remove_photo(self, name: str, photo_id: int) -> int:
        """Remove one enrolled photo of ``name`` (its embedding and its hash); the last one removes the person.

        One write transaction that bumps the store generation, so the index is rebuilt from the store on its
        next use.

        Returns:
            How many embeddings were removed.
        """
        with self._write() as conn:
            row = conn.execute("SELECT s.person_id FROM sources s JOIN people p ON s.person_id = p.id WHERE "
                               "s.id = ? AND p.name = ?", (int(photo_id), name)).fetchone()
            if row is None:
                raise PictorchError(f"photo {photo_id} of {name!r} is not enrolled in {self.path}")
            n = conn.execute("DELETE FROM embeddings WHERE source_id = ?", (int(photo_id),)).rowcount
            conn.execute("DELETE FROM sources WHERE id = ?", (int(photo_id),))
            if conn.execute("SELECT COUNT(*) FROM embeddings WHERE person_id = ?", row).fetchone()[0] == 0:
                conn.execute("DELETE FROM sources WHERE person_id = ?", row)
                conn.execute("DELETE FROM people WHERE id = ?", row)
            conn.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'generation'")
        return int(n)

    def person_vectors(self, name: str) -> np.ndarray:
        """One person's embeddings (N×D float32, in id order).

        Raises:
            PictorchError: ``name`` is not enrolled.
        """
        with self._db() as conn:
            rows = conn.execute("SELECT e.vector FROM embeddings e JOIN people p ON p.id = e.person_id WHERE "
                                "p.name = ? ORDER BY e.id", (name,)).fetchall()
        if not rows:
            raise PictorchError(f"{name!r} is not enrolled in {self.path} (pictorch identify list shows everyone)")
        return np.frombuffer(b"".join(r[0] for r in rows), "<f4").reshape(len(rows), self.dim).astype(np.float32)

    def meta_items(self) -> dict[str, str]:
        """Every ``meta`` value (format, model, fingerprint, threshold, calibration, settings, ...)."""
        with self._db() as conn:
            return dict(conn.execute(self._sql("SELECT key, value FROM {s}meta")).fetchall())

    def select_rows(self, table: str, after: int = 0, limit: int = 10000) -> list[tuple]:
        """Rows of ``people``/``sources``/``embeddings`` with ``id > after``, by id, in the backend-neutral form
        :mod:`pictorch.gallery.migrate` copies and checksums (vectors as little-endian float32 bytes)."""
        with self._db() as conn:
            return [tuple(r) for r in conn.execute(
                f"SELECT {ROW_COLUMNS[table]} FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (int(after), int(limit))
            ).fetchall()]

    @staticmethod
    def _check_name(name: str) -> str:
        """The name to store for a person (stripped), or one line saying why it cannot be one.

        Names are printed in answers, drawn on annotated photos, written into exports and are path segments
        of the HTTP API (``/api/people/NAME``), so a ``/`` or ``\\``, a control or invisible formatting
        character (a terminal escape, a bidi override that reverses the printed text), bytes that are not
        UTF-8 (a shell passes them through as lone surrogates) or an empty / whitespace-only name are refused.
        """
        return check_person_name(name)

    def _require_open(self) -> None:
        if self._conn is None:
            raise PictorchError(f"gallery {self.path} is closed")

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
