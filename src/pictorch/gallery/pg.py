"""The gallery in PostgreSQL with pgvector: one gallery shared by several machines (service replicas).

Same interface and the same answers as the SQLite + FAISS :class:`pictorch.gallery.store.Gallery` (the
contract tests run against both), but PostgreSQL is both the truth and the index: there is no derived file.

Where it lives: ``postgresql://user:password@host:port/database`` (any libpq URL; ``?host=/socket/dir`` for a
Unix socket), one gallery per schema: the URL's fragment names it (``...#doorway``), default ``pictorch``.

Tables (schema ``S``): ``meta``, ``people``, ``sources`` and ``embeddings`` as in SQLite (vectors are
``vector(D)``, float32 like SQLite's blobs, so a migrated gallery holds the same bits), plus ``centroids``:
each person's mean embedding (unit-normalized embeddings first for cosine), recomputed inside every write
that touches the person, so ``centroid`` scoring is one nearest-neighbour query too.

Search, by the gallery's ``index`` kind:
    * ``flat``: exact. ``nearest`` scoring is one ``GROUP BY person`` over every embedding (a sequential
      scan: the best score per person, exactly SQLite's answer); ``centroid`` an exact scan of ``centroids``.
    * ``hnsw``: pgvector's HNSW index on both tables (``m`` = ``hnsw_m``, default 16, ``ef_construction`` 64;
      ``hnsw.ef_search`` per query = max(``ef_search``, candidates wanted), ``ef_search`` default 128 as the
      FAISS HNSW's); approximate: recall against exact search in bench/gallery_pgvector.py.
    * ``ivf``: refused (pgvector's IVFFlat must be built after the data is in; use hnsw).

Writers: every write transaction first locks the ``generation`` row (``SELECT ... FOR UPDATE``), so writers
queue like SQLite's ``BEGIN IMMEDIATE`` and a duplicate photo enrolled by two replicas at once is stored
once. A killed client's transaction is rolled back by the server: never a half-enrolled person.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.gallery.db import (
    ROW_COLUMNS,
    GalleryDb,
    GalleryExistsError,
    _check_scoring,
    check_meta,
    new_photos,
)
from pictorch.gallery.index import as_float_matrix, l2_normalize
from pictorch.gallery.pg_sql import (  # noqa: F401 - re-exported: the backend's public names live in pg
    _CONNECT_TIMEOUT_S,
    _SCHEMA_RE,
    DEFAULT_SCHEMA,
    SCHEMES,
    GalleryUnavailable,
    _connect,
    _has_gallery,
    _ops,
    _psycopg,
    _tables,
    create_tables,
    ensure_extension,
    gallery_exists,
    hnsw_ddl,
    is_url,
    new_meta,
    parse_vector,
    redact,
    split_url,
    start_pgserver,
    vector_text,
)
from pictorch.gallery.scoring import OpenSet


class PgGallery(GalleryDb, OpenSet):
    """An open PostgreSQL gallery. Build one with :meth:`create` or :meth:`open`; use it as a context manager.

    Attributes:
        path: The URL with its password hidden (what messages and results show).
        skipped: ``(source, reason)`` for each input the last :meth:`enroll` did not store (duplicates).
        index_note: Always ``None`` (there is no derived index to rebuild).
    """

    backend = "postgresql"
    _placeholder = "%s"

    def __init__(self, url: str, conn: Any):
        self.url = url
        self.path = redact(url)
        _, self.schema = split_url(url)
        self._s = f'"{self.schema}"'
        self._prefix = f"{self._s}."
        self._conn = conn
        self._read_identity()
        self._ops, self._dist = _ops(self.metric)

    # ------------------------------------------------------------------ opening / creating
    @classmethod
    def create(cls, url: str, fingerprint: str, dim: int, index: str = "flat", metric: str = "cosine", *,
               model: str | None = None, threshold: float | None = None,
               index_options: dict[str, Any] | None = None, scoring: str = "nearest",
               settings: dict[str, Any] | None = None) -> PgGallery:
        """Create a new, empty gallery in the URL's schema (one transaction; see
        :meth:`pictorch.gallery.store.Gallery.create` for the arguments).

        Raises:
            GalleryExistsError: The schema already holds a gallery (never overwritten).
        """
        from pictorch.gallery.index import VectorIndex

        _check_scoring(scoring)
        if index == "ivf":
            raise PictorchError("a PostgreSQL gallery searches exactly (--index flat) or with pgvector's HNSW "
                                "(--index hnsw); IVF is for SQLite galleries")
        VectorIndex(int(dim), index, metric, **(index_options or {}))  # validates kind/metric/options
        if not fingerprint:
            raise PictorchError("a gallery needs the embedding model's fingerprint")
        _, schema = split_url(url)
        meta = new_meta(fingerprint, dim, index, metric, model, threshold, index_options, scoring, settings)
        conn = _connect(url, "creating a gallery")
        try:
            ensure_extension(conn, url)
            with conn.transaction():
                # one creator at a time per schema; the loser of a race sees the winner's gallery
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"pictorch-gallery:{schema}",))
                if _has_gallery(conn, schema):
                    raise GalleryExistsError(f"{redact(url)} already holds a gallery; open it instead")
                if conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name=%s",
                                (schema,)).fetchone():
                    raise PictorchError(f"schema {schema} of {redact(url)} exists but holds no pictorch gallery; "
                                        "name another one with #name at the end of the URL")
                create_tables(conn, schema, meta)
        finally:
            conn.close()
        return cls.open(url)

    @classmethod
    def open(cls, url: str, *, fingerprint: str | None = None, dim: int | None = None) -> PgGallery:
        """Open an existing gallery (see :meth:`pictorch.gallery.store.Gallery.open`)."""
        conn = _connect(url, "opening a gallery")
        try:
            if not _has_gallery(conn, split_url(url)[1]):
                raise PictorchError(f"no gallery at {redact(url)}; create one by enrolling people (pictorch "
                                    f"identify enroll NAME PHOTOS... --gallery URL --model ...)")
            g = cls(url, conn)
        except BaseException:
            conn.close()
            raise
        return g._checked(fingerprint, dim)

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ SQL plumbing
    @contextlib.contextmanager
    def _db(self) -> Iterator[Any]:
        """The connection, with server failures as one clear message each; a connection that broke (server
        restarted, network cut) is replaced here, so a long-lived service fails one request, not all later."""
        self._require_open()
        psycopg = _psycopg()
        if self._conn.broken or self._conn.closed:
            self._conn.close()
            self._conn = _connect(self.url, "reconnecting")
        try:
            yield self._conn
        except psycopg.errors.UndefinedTable as e:
            raise PictorchError(f"{self.path} is not a pictorch gallery any more ({str(e).strip()})") from None
        except psycopg.OperationalError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise GalleryUnavailable(f"lost the connection to the PostgreSQL gallery {self.path} ({first}); a "
                                     "change in flight may not have been stored: check and try again") from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[Any]:
        """One write transaction; writers queue on the ``generation`` row lock."""
        with self._db() as conn, conn.transaction():
            conn.execute(f"SELECT value FROM {self._s}.meta WHERE key='generation' FOR UPDATE")
            yield conn
            conn.execute(f"UPDATE {self._s}.meta SET value = (value::bigint + 1)::text WHERE key='generation'")

    def _read_meta(self) -> dict[str, str]:
        return check_meta(self.meta_items(), self.path, f"{self.path} holds tables but not a pictorch gallery")

    def _set_meta(self, conn: Any, key: str, value: str) -> None:
        conn.execute(f"INSERT INTO {self._s}.meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET "
                     "value = EXCLUDED.value", (key, value))

    # model identity, threshold, scoring, calibration and settings are GalleryDb's, written through this
    # class's _set_meta and GalleryDb._sql (the meta rows are the same in both backends)

    # ------------------------------------------------------------------ people
    def people(self) -> dict[str, int]:
        """Enrolled people and how many embeddings each has, by name (code-point order, as SQLite)."""
        with self._db() as conn:
            rows = conn.execute(
                f"SELECT p.name, COUNT(e.id) FROM {self._s}.people p LEFT JOIN {self._s}.embeddings e ON "
                'e.person_id = p.id GROUP BY p.id, p.name ORDER BY p.name COLLATE "C"').fetchall()
        return {n: int(c) for n, c in rows}

    def _update_centroid(self, conn: Any, person_id: int) -> None:
        """Recompute one person's centroid from their embeddings (in the caller's transaction), as the SQLite
        backend does: the float64 mean of the (unit-normalized, for cosine) float32 embeddings, in id order."""
        rows = conn.execute(f"SELECT vector::text FROM {self._s}.embeddings WHERE person_id=%s ORDER BY id",
                            (int(person_id),)).fetchall()
        if not rows:
            conn.execute(f"DELETE FROM {self._s}.centroids WHERE person_id=%s", (int(person_id),))
            return
        vecs = np.stack([parse_vector(r[0]) for r in rows])
        if self.metric == "cosine":
            vecs = l2_normalize(vecs)
        mean = vecs.astype(np.float64).sum(0) / len(vecs)
        conn.execute(f"INSERT INTO {self._s}.centroids(person_id, vector) VALUES (%s, %s::vector) ON CONFLICT "
                     "(person_id) DO UPDATE SET vector = EXCLUDED.vector",
                     (int(person_id), vector_text(mean.astype(np.float32))))

    def enroll(self, name: str, embeddings: Any, sources: Sequence[str], hashes: Sequence[str | None] | None = None,
               *, fingerprint: str | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Add a person's embeddings in one transaction (see :meth:`pictorch.gallery.store.Gallery.enroll`).

        Returns:
            How many embeddings were stored.
        """
        name, x, sources, hashes = self._enrolment(name, embeddings, sources, hashes, fingerprint)
        with self._write() as conn:
            wanted = list(dict.fromkeys(h for h in hashes if h))
            known = dict(conn.execute(
                f"SELECT s.sha256, p.name FROM {self._s}.sources s JOIN {self._s}.people p ON p.id=s.person_id "
                "WHERE s.sha256 = ANY(%s)", (wanted,)).fetchall()) if wanted else {}
            keep, self.skipped = new_photos(sources, hashes, known, name)
            if not keep:
                return 0
            now = time.time()
            row = conn.execute(f"SELECT id FROM {self._s}.people WHERE name=%s", (name,)).fetchone()
            person_id = row[0] if row else conn.execute(
                f"INSERT INTO {self._s}.people(name, created_at) VALUES (%s, %s) RETURNING id", (name, now)
            ).fetchone()[0]
            # ids drawn from the identity sequences up front, then one pipelined executemany per table:
            # a row-by-row INSERT ... RETURNING cost a round trip each (~1 ms a photo here)
            with_hash = [i for i in keep if hashes[i]]
            source_ids = self._next_ids(conn, "sources", len(with_hash))
            source_of = dict(zip(with_hash, source_ids, strict=True))
            with conn.cursor() as cur:
                for start in range(0, len(keep), 256):
                    part = keep[start : start + 256]
                    rows = [(source_of[i], hashes[i], sources[i], person_id, now) for i in part if i in source_of]
                    if rows:
                        cur.executemany(f"INSERT INTO {self._s}.sources(id, sha256, path, person_id, added_at) "
                                        "VALUES (%s, %s, %s, %s, %s)", rows)
                    cur.executemany(f"INSERT INTO {self._s}.embeddings(person_id, source_id, vector) VALUES "
                                    "(%s, %s, %s::vector)",
                                    [(person_id, source_of.get(i), vector_text(x[i])) for i in part])
                    if progress is not None:
                        progress(start + len(part), len(keep))
            self._update_centroid(conn, person_id)
        return len(keep)

    def _next_ids(self, conn: Any, table: str, n: int) -> list[int]:
        if n == 0:
            return []
        return [r[0] for r in conn.execute(f"SELECT nextval(pg_get_serial_sequence('{self._s}.{table}', 'id')) "
                                           "FROM generate_series(1, %s)", (n,)).fetchall()]

    def remove(self, name: str) -> int:
        """Remove a person and all their embeddings. Returns how many embeddings were removed."""
        with self._write() as conn:
            row = (self._person_id(conn, name, " (pictorch identify list shows everyone)"),)
            n = conn.execute(f"DELETE FROM {self._s}.embeddings WHERE person_id=%s", row).rowcount
            conn.execute(f"DELETE FROM {self._s}.sources WHERE person_id=%s", row)
            conn.execute(f"DELETE FROM {self._s}.people WHERE id=%s", row)  # its centroid goes by cascade
        return int(n)

    def rename(self, old: str, new: str, merge: bool = False) -> tuple[int, bool]:
        """Rename a person; with ``merge``, into a person already enrolled (their embeddings join)."""
        new = self._check_name(new)
        with self._write() as conn:
            target, n, merged = self._rename_in(conn, old, new, merge)
            if merged:
                self._update_centroid(conn, target)
        return n, merged

    def person_vectors(self, name: str) -> np.ndarray:
        """One person's embeddings (N×D float32, in id order); raises if ``name`` is not enrolled."""
        with self._db() as conn:
            rows = conn.execute(f"SELECT e.vector::text FROM {self._s}.embeddings e JOIN {self._s}.people p ON "
                                "p.id = e.person_id WHERE p.name = %s ORDER BY e.id", (name,)).fetchall()
        if not rows:
            raise PictorchError(f"{name!r} is not enrolled in {self.path} (pictorch identify list shows everyone)")
        return np.stack([parse_vector(r[0]) for r in rows])

    def remove_photo(self, name: str, photo_id: int) -> int:
        """Remove one enrolled photo of ``name``; the last one removes the person. Returns embeddings removed."""
        with self._write() as conn:
            row = conn.execute(f"SELECT s.person_id FROM {self._s}.sources s JOIN {self._s}.people p ON "
                               "s.person_id = p.id WHERE s.id = %s AND p.name = %s", (int(photo_id), name)).fetchone()
            if row is None:
                raise PictorchError(f"photo {photo_id} of {name!r} is not enrolled in {self.path}")
            n = conn.execute(f"DELETE FROM {self._s}.embeddings WHERE source_id = %s", (int(photo_id),)).rowcount
            conn.execute(f"DELETE FROM {self._s}.sources WHERE id = %s", (int(photo_id),))
            if conn.execute(f"SELECT COUNT(*) FROM {self._s}.embeddings WHERE person_id = %s", row).fetchone()[0] == 0:
                conn.execute(f"DELETE FROM {self._s}.sources WHERE person_id = %s", row)
                conn.execute(f"DELETE FROM {self._s}.people WHERE id = %s", row)
            else:
                self._update_centroid(conn, row[0])
        return int(n)

    # ------------------------------------------------------------------ search
    @property
    def index(self) -> PgGallery:
        """The gallery itself (PostgreSQL is the index; kept so callers that warm the index up work)."""
        self._require_open()
        return self

    def _search_sql(self, table: str, limit_people: bool) -> str:
        """One query's nearest rows: ``(person name, distance)``; distinct people when ``limit_people``.

        The inner query ORDERs BY the distance alone: pgvector's HNSW scan serves nothing else (a second sort
        key made the 10,000-people centroid search a full scan, 12 ms). Names come from a scalar subquery
        (primary-key lookups for the few rows kept; a join hashed the whole people table per query).
        """
        s, d = self._s, self._dist
        name = f"(SELECT name FROM {s}.people WHERE id = r.person_id)"
        if table == "centroids":
            inner = (f"SELECT person_id, person_id AS tie, vector {d} %(q)s::vector AS dist FROM {s}.centroids "
                     f"ORDER BY vector {d} %(q)s::vector LIMIT %(n)s")
        elif limit_people:  # exact: the best embedding of every person, then the best people
            inner = (f"SELECT person_id, person_id AS tie, MIN(vector {d} %(q)s::vector) AS dist FROM "
                     f"{s}.embeddings GROUP BY person_id ORDER BY 3, 1 LIMIT %(n)s")
        else:
            inner = (f"SELECT person_id, id AS tie, vector {d} %(q)s::vector AS dist FROM {s}.embeddings "
                     f"ORDER BY vector {d} %(q)s::vector LIMIT %(n)s")
        return f"SELECT {name}, r.dist FROM ({inner}) r ORDER BY r.dist, r.tie"

    def _score(self, dist: float) -> float:
        """pgvector distance -> pictorch score: cosine similarity, or minus the squared L2 distance (as FAISS)."""
        d = float(dist)
        if d != d:  # a zero vector has no direction: pgvector says NaN, FAISS's normalized zero scores 0
            return 0.0 if self.metric == "cosine" else float("-inf")
        return 1.0 - d if self.metric == "cosine" else -(d * d)

    def person_scores(self, queries: Any, k: int = 5) -> list[list[tuple[str, float]]]:
        """For each query, up to ``k`` distinct people with their score (see :attr:`scoring`), best first.

        One round trip per query (plus one for the scoring): the LIMIT caps the answer at the people there are,
        so no count is needed (a ``COUNT(*)`` scan per query cost ~1 ms at 10,000 people).
        """
        q = as_float_matrix(queries, self.dim, "queries")
        if not len(q):
            return []
        k = max(1, int(k))
        scoring = self.scoring
        hnsw = self.index_kind == "hnsw"
        ef = int(self.index_options.get("ef_search", 128))
        out: list[list[tuple[str, float]]] = []
        with self._db() as conn, conn.transaction():
            # a flat gallery has no vector index, so its searches are exact scans (no planner setting needed:
            # turning index scans off made each name lookup a scan of the people table too)
            if hnsw and scoring == "centroid":
                conn.execute(f"SET LOCAL hnsw.ef_search = {max(ef, k)}")
            for v in q:
                qt = vector_text(v)
                if scoring == "centroid":
                    rows = conn.execute(self._search_sql("centroids", True), {"q": qt, "n": k}).fetchall()
                    out.append([(n, self._score(dd)) for n, dd in rows])
                elif not hnsw:
                    rows = conn.execute(self._search_sql("embeddings", True), {"q": qt, "n": k}).fetchall()
                    out.append([(n, self._score(dd)) for n, dd in rows])
                else:
                    out.append(self._hnsw_people(conn, qt, k, ef))
        return out

    def _hnsw_people(self, conn: Any, qt: str, k: int, ef: int) -> list[tuple[str, float]]:
        """Distinct people from HNSW candidates, widening the candidate list until ``k`` people are in it (or
        the index has no more: fewer rows than asked for)."""
        want = k * 8
        while True:
            conn.execute(f"SET LOCAL hnsw.ef_search = {min(max(ef, want), 1000)}")
            rows = conn.execute(self._search_sql("embeddings", False), {"q": qt, "n": want}).fetchall()
            people: list[tuple[str, float]] = []
            seen: set[str] = set()
            for n, dd in rows:
                if n not in seen:
                    seen.add(n)
                    people.append((n, self._score(dd)))
            if len(people) >= k or len(rows) < want or want >= 1000:
                return people[:k]
            want = min(1000, want * 4)

    # ------------------------------------------------------------------ integrity, rows, backups
    def check(self) -> dict[str, Any]:
        """A full check: every embedding's finiteness, rows pointing at missing people, centroids in step.

        Returns:
            ``{"ok", "problems": [str], "people", "embeddings", "index"}``.
        """
        problems: list[str] = []
        s = self._s
        with self._db() as conn:
            bad = conn.execute(f"SELECT COUNT(*) FROM {s}.embeddings WHERE vector_dims(vector) <> %s OR "
                               "vector::text ~* 'nan|inf'", (self.dim,)).fetchone()[0]
            stale = conn.execute(f"SELECT COUNT(*) FROM {s}.people p LEFT JOIN {s}.centroids c ON c.person_id = "
                                 "p.id WHERE c.person_id IS NULL").fetchone()[0]
        if bad:
            problems.append(f"{bad} embeddings have the wrong size or hold NaN or infinite values")
        if stale:
            problems.append(f"{stale} people have no centroid")
        return {"ok": not problems, "problems": problems, "people": len(self.people()), "embeddings": len(self),
                "index": f"pgvector {'HNSW' if self.index_kind == 'hnsw' else 'exact scan'}"}

    def select_rows(self, table: str, after: int = 0, limit: int = 10000) -> list[tuple]:
        """Rows with ``id > after`` in the backend-neutral form (see :meth:`GalleryDb.select_rows`)."""
        cols = ROW_COLUMNS[table].replace("vector", "vector::text")
        with self._db() as conn:
            rows = conn.execute(f"SELECT {cols} FROM {self._s}.{table} WHERE id > %s ORDER BY id LIMIT %s",
                                (int(after), int(limit))).fetchall()
        if table == "embeddings":
            return [(i, p, s, parse_vector(v).astype("<f4").tobytes()) for i, p, s, v in rows]
        return [tuple(r) for r in rows]

    def backup(self, dest: Any) -> Any:
        """Copy the gallery into a new SQLite file (a migration: counts and checksums verified)."""
        from pathlib import Path

        from pictorch.gallery.migrate import migrate

        if Path(dest).exists():
            raise PictorchError(f"{dest} already exists; choose a new backup file name")
        migrate(self.url, str(dest))
        return Path(dest)

    def export(self, path: Any) -> Any:
        """Write names, sources and embeddings (see :meth:`pictorch.gallery.store.Gallery.export`)."""
        from pictorch.gallery.export import export_gallery

        return export_gallery(self, path)

