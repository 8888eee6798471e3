"""Copy a gallery between backends (SQLite -> PostgreSQL and back) with nothing lost.

``migrate(src, dst)``:

1. Refuses a destination that holds people unless ``force`` (an empty gallery there is replaced).
2. Copies into a staging place beside the destination (``.<file>.migrating``, or schema ``<name>__migrating``)
   in committed chunks of rows, ids kept, so an interrupted copy resumes where it stopped (the staging
   records the source's store id and generation; if the source changed meanwhile the copy starts over).
3. Verifies the staging against the source: the row count and a SHA-256 of every row of ``people``,
   ``sources`` and ``embeddings`` (vectors as float32 bytes), and the ``meta`` values.
4. Puts it in place in one step: a file rename, or one PostgreSQL transaction that renames the schema.
   Until then the destination is untouched; after it, it is the complete copy.

The copy gets a new ``store_id`` (it is a new store: a SQLite copy's FAISS index is rebuilt on first use).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.gallery.backends import backend_name, display_name, gallery_exists, open_gallery
from pictorch.gallery.export import iter_rows

TABLES = ("people", "sources", "embeddings")
CHUNK = 5000
_NOT_COPIED = ("store_id", "migrating_from")
Progress = Callable[[str, int, int], None]


def digest(g: Any) -> dict[str, tuple[int, str]]:
    """``{table: (rows, sha256 of every row in id order)}`` — the same for the same content on any backend."""
    out: dict[str, tuple[int, str]] = {}
    for table in TABLES:
        h = hashlib.sha256()
        n = 0
        for rows in iter_rows(g, table, CHUNK):
            for r in rows:
                if table == "embeddings":
                    h.update(repr(tuple(r[:3])).encode())
                    h.update(r[3])
                else:
                    h.update(repr(tuple(r)).encode())
            n += len(rows)
        out[table] = (n, h.hexdigest())
    return out


def _meta_copied(meta: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in meta.items() if k not in _NOT_COPIED}


# ---------------------------------------------------------------------------------------------- SQLite staging
class _SqliteTarget:
    def __init__(self, dst: str):
        self.dst = Path(dst)
        self.staging = self.dst.with_name(f".{self.dst.name}.migrating")

    def describe(self) -> str:
        return str(self.dst)

    def open_staging(self, meta: dict[str, str], marker: str) -> tuple[Any, bool]:
        """(staging connection, resumed?)"""
        from pictorch.gallery.db import _SCHEMA

        if self.staging.exists():
            try:
                conn = sqlite3.connect(self.staging, isolation_level=None)
                row = conn.execute("SELECT value FROM meta WHERE key='migrating_from'").fetchone()
                if row and row[0] == marker:
                    return conn, True
                conn.close()
            except sqlite3.Error:
                pass
            self.discard()
        self.dst.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.staging, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [*meta.items(), ("migrating_from", marker)])
        return conn, False

    @staticmethod
    def last_id(conn: Any, table: str) -> tuple[int, int]:
        """(largest id copied, rows copied) of a staging table."""
        r = conn.execute(f"SELECT COALESCE(MAX(id), 0), COUNT(*) FROM {table}").fetchone()
        return int(r[0]), int(r[1])

    @staticmethod
    def insert(conn: Any, table: str, rows: list[tuple]) -> None:
        from pictorch.gallery.db import ROW_COLUMNS

        cols = ROW_COLUMNS[table]
        marks = ",".join("?" * len(cols.split(",")))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO {table}({cols}) VALUES ({marks})", rows)
        conn.execute("COMMIT")

    def finish_copy(self, conn: Any, index: str) -> None:
        conn.close()  # the last connection checkpoints the WAL into the file

    def staged(self) -> Any:
        from pictorch.gallery.store import Gallery

        return Gallery.open(self.staging)

    def put_in_place(self, force: bool, index: str) -> None:
        conn = sqlite3.connect(self.staging, isolation_level=None)
        conn.execute("DELETE FROM meta WHERE key='migrating_from'")
        conn.close()
        from pictorch.gallery.store import index_path_for

        if self.dst.exists():
            _refuse_nonempty(str(self.dst), force)
            for stale in (index_path_for(self.dst), Path(f"{self.dst}-wal"), Path(f"{self.dst}-shm")):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()  # an old WAL beside the new file would be replayed into it
            os.replace(self.staging, self.dst)
        else:
            try:
                os.link(self.staging, self.dst)  # fails if someone created dst meanwhile: never overwrite
            except FileExistsError:
                raise PictorchError(f"{self.dst} appeared during the migration; run it again") from None
            self.staging.unlink()
        from pictorch.gallery.store import Gallery

        with Gallery.open(self.dst) as g:  # its FAISS index now: the copy's first `who` warned "index rebuilt
            _ = g.index                    # from the store: index file missing" right after a verified copy

    def discard(self) -> None:
        for p in (self.staging, Path(f"{self.staging}-wal"), Path(f"{self.staging}-shm")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


# ---------------------------------------------------------------------------------------------- PostgreSQL staging
class _PgTarget:
    def __init__(self, dst: str):
        from pictorch.gallery.pg_sql import split_url

        self.url = dst
        dsn, self.schema = split_url(dst)
        self.stage_schema = f"{self.schema[:50]}__migrating"
        self.stage_url = f"{dsn}#{self.stage_schema}"

    def describe(self) -> str:
        return display_name(self.url)

    def open_staging(self, meta: dict[str, str], marker: str) -> tuple[Any, bool]:
        from pictorch.gallery.pg_sql import _connect, _has_gallery, create_tables, ensure_extension

        conn = _connect(self.url, "migrating a gallery")
        ensure_extension(conn, self.url)
        if _has_gallery(conn, self.stage_schema):
            row = conn.execute(f'SELECT value FROM "{self.stage_schema}".meta WHERE key=\'migrating_from\'').fetchone()
            if row and row[0] == marker:
                return conn, True
        with conn.transaction():
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.stage_schema}" CASCADE')
            # the HNSW index is built once after the copy (much faster than row by row)
            create_tables(conn, self.stage_schema, {**meta, "migrating_from": marker}, hnsw=False)
        return conn, False

    def last_id(self, conn: Any, table: str) -> tuple[int, int]:
        """(largest id copied, rows copied) of a staging table."""
        r = conn.execute(f'SELECT COALESCE(MAX(id), 0), COUNT(*) FROM "{self.stage_schema}".{table}').fetchone()
        return int(r[0]), int(r[1])

    def insert(self, conn: Any, table: str, rows: list[tuple]) -> None:
        from pictorch.gallery.db import ROW_COLUMNS
        from pictorch.gallery.pg_sql import vector_text

        cols = ROW_COLUMNS[table]
        if table == "embeddings":
            rows = [(i, p, s, vector_text(np.frombuffer(v, "<f4"))) for i, p, s, v in rows]
        with conn.transaction(), conn.cursor().copy(
                f'COPY "{self.stage_schema}".{table} ({cols}) FROM STDIN') as cp:
            for r in rows:
                cp.write_row(r)

    def finish_copy(self, conn: Any, index: str) -> None:
        """Identity sequences past the copied ids, every person's centroid, the HNSW indexes; then close."""
        from pictorch.gallery.index import l2_normalize
        from pictorch.gallery.pg_sql import hnsw_ddl, parse_vector, vector_text

        s = f'"{self.stage_schema}"'
        meta = dict(conn.execute(f"SELECT key, value FROM {s}.meta").fetchall())
        with conn.transaction():
            for table in TABLES:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{s}.{table}', 'id'), "
                             f"GREATEST((SELECT MAX(id) FROM {s}.{table}), 1))")
            conn.execute(f"DELETE FROM {s}.centroids")
            sums: dict[int, np.ndarray] = {}
            counts: dict[int, int] = {}
            cur = conn.cursor(name="vectors")  # server-side: stream, never all rows in memory at once
            cur.execute(f"SELECT person_id, vector::text FROM {s}.embeddings ORDER BY id")
            while rows := cur.fetchmany(CHUNK):
                for pid, v in rows:
                    x = parse_vector(v)[None]
                    x = (l2_normalize(x) if meta["metric"] == "cosine" else x)[0].astype(np.float64)
                    sums[pid] = sums[pid] + x if pid in sums else x
                    counts[pid] = counts.get(pid, 0) + 1
            cur.close()
            with conn.cursor().copy(f"COPY {s}.centroids (person_id, vector) FROM STDIN") as cp:
                for pid, total in sums.items():
                    cp.write_row((pid, vector_text((total / counts[pid]).astype(np.float32))))
        opts = json.loads(meta.get("index_options") or "{}")
        if index == "hnsw":
            for stmt in hnsw_ddl(self.stage_schema, meta["metric"], opts).split(";"):
                if stmt.strip():
                    conn.execute(stmt)
        conn.close()

    def staged(self) -> Any:
        from pictorch.gallery.pg import PgGallery

        return PgGallery.open(self.stage_url)

    def put_in_place(self, force: bool, index: str) -> None:
        from pictorch.gallery.pg_sql import _connect, _has_gallery

        conn = _connect(self.url, "migrating a gallery")
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"pictorch-gallery:{self.schema}",))
                if _has_gallery(conn, self.schema):
                    n = conn.execute(f'SELECT COUNT(*) FROM "{self.schema}".people').fetchone()[0]
                    if n and not force:
                        raise _nonempty(self.describe(), int(n))
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
                conn.execute(f'ALTER SCHEMA "{self.stage_schema}" RENAME TO "{self.schema}"')
                conn.execute(f"DELETE FROM \"{self.schema}\".meta WHERE key='migrating_from'")
        finally:
            conn.close()

    def discard(self) -> None:
        from pictorch.gallery.pg_sql import _connect

        conn = _connect(self.url, "migrating a gallery")
        try:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.stage_schema}" CASCADE')
        finally:
            conn.close()


def _nonempty(what: str, n: int) -> PictorchError:
    return PictorchError(f"{what} already holds a gallery with {n} {'person' if n == 1 else 'people'}; pass --force "
                         "to replace it (its people are lost), or migrate to a new place")


def _refuse_nonempty(dst: str, force: bool) -> None:
    if force or not gallery_exists(dst):
        return
    with open_gallery(dst) as g:
        n = len(g.people())
    if n:
        raise _nonempty(display_name(dst), n)


# ---------------------------------------------------------------------------------------------- the use case
def migrate(src: str | os.PathLike, dst: str | os.PathLike, force: bool = False,
            progress: Progress | None = None, index: str | None = None) -> dict[str, Any]:
    """Copy the gallery ``src`` to ``dst`` (a SQLite file or a ``postgresql://`` URL, either way round).

    Args:
        src: The gallery to copy (left unchanged).
        dst: Where the copy goes; a gallery with people there is replaced only with ``force``.
        force: Replace a non-empty destination.
        progress: Called as ``progress(table, rows copied, rows in all)`` after each committed chunk.
        index: The copy's index kind (``flat``, ``hnsw``, ``ivf``; default: the source's): how an existing
            gallery's index is changed, as a FAISS index is, by building a new one over the same vectors.

    Returns:
        ``{"src", "dst", "backend", "people", "sources", "embeddings", "sha256": {table: digest}, "resumed",
        "index", "notes"}``.

    Raises:
        PictorchError: The destination holds people (without ``force``), is the source, or the copy does
            not verify (the staging copy is then removed and the destination left untouched).
    """
    src, dst = str(src), str(dst)
    if index is not None:
        from pictorch.gallery.index import KINDS

        if index not in KINDS:
            raise PictorchError(f"unknown --index {index!r}; known: {', '.join(KINDS)}")
        if index == "ivf" and backend_name(dst) == "postgresql":
            raise PictorchError("a PostgreSQL gallery searches exactly (--index flat) or with pgvector's HNSW "
                                "(--index hnsw); IVF is for SQLite galleries")
    wanted_index = index
    if display_name(src) == display_name(dst) or (backend_name(src) == "sqlite" == backend_name(dst)
                                                   and Path(src).resolve() == Path(dst).resolve()):
        raise PictorchError("migrate copies a gallery to another place: SRC and DST are the same")
    _refuse_nonempty(dst, force)  # early, before any work; checked again when putting the copy in place
    target: Any = _PgTarget(dst) if backend_name(dst) == "postgresql" else _SqliteTarget(dst)
    notes: list[str] = []
    with open_gallery(src) as g:
        for _attempt in range(3):
            meta = g.meta_items()
            gen = meta.get("generation", "0")
            marker = f"{meta['store_id']}:{gen}"
            index = wanted_index or meta.get("index") or "flat"
            if backend_name(dst) == "postgresql" and index == "ivf":
                index = "flat"
                notes.append("the SQLite gallery's IVF index became exact search (PostgreSQL: flat or hnsw)")
            copied = {**_meta_copied(meta), "store_id": uuid.uuid4().hex, "index": index}
            conn, resumed = target.open_staging(copied, marker)
            try:
                totals = {"people": len(g.people()), "sources": len(g.enrolled_hashes()), "embeddings": len(g)}
                for table in TABLES:
                    after, done = target.last_id(conn, table)
                    while rows := g.select_rows(table, after, CHUNK):
                        target.insert(conn, table, rows)
                        after = int(rows[-1][0])
                        done += len(rows)
                        if progress is not None:
                            progress(table, done, totals[table])
                target.finish_copy(conn, index)
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.close()
                raise
            if g.meta_items().get("generation", "0") != gen:
                notes.append("the source changed during the copy; copied again")
                target.discard()
                continue
            want = digest(g)
            with target.staged() as staged:
                got = digest(staged)
                staged_meta = _meta_copied(staged.meta_items())
            if got != want or staged_meta != _meta_copied(copied):
                target.discard()
                bad = [t for t in TABLES if got[t] != want[t]] or ["meta"]
                raise PictorchError(f"the copy of {display_name(src)} did not verify ({', '.join(bad)} differ); "
                                    f"{target.describe()} was left untouched")
            target.put_in_place(force, index)
            return {"src": display_name(src), "dst": target.describe(), "backend": backend_name(dst),
                    **{t: want[t][0] for t in TABLES}, "sha256": {t: want[t][1] for t in TABLES},
                    "resumed": resumed, "index": index, "notes": notes}
    raise PictorchError(f"{display_name(src)} kept changing during the migration; run it when enrolments pause")
