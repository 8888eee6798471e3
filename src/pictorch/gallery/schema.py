"""The gallery's format, the same on both backends: its version, the table layout (SQLite DDL; the PostgreSQL
one in :mod:`pictorch.gallery.pg_sql` mirrors it), the column order migrations copy, and the checks every
backend makes of the ``meta`` rows when it opens a gallery."""

from __future__ import annotations

from typing import Any

from pictorch.errors import PictorchError

FORMAT_VERSION = 1
SCORINGS = ("nearest", "centroid")
UNKNOWN = "unknown"

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

# The columns of each table in the order migrate copies and checksums them (the same on every backend).
ROW_COLUMNS = {
    "people": "id, name, created_at",
    "sources": "id, sha256, path, person_id, added_at",
    "embeddings": "id, person_id, source_id, vector",
}


def check_meta(meta: dict[str, str], path: Any, not_a_gallery: str) -> dict[str, str]:
    """``meta`` when it is a pictorch gallery's this pictorch can read; ``not_a_gallery`` is the message when the
    tables hold something else.

    Raises:
        PictorchError: Not a gallery, a newer format version, or required keys missing.
    """
    if meta.get("format") != "pictorch-gallery":
        raise PictorchError(not_a_gallery)
    if int(meta.get("format_version", "0")) > FORMAT_VERSION:
        raise PictorchError(f"gallery {path} uses format version {meta['format_version']}, newer than this "
                            f"pictorch understands ({FORMAT_VERSION}); upgrade pictorch")
    missing = {"fingerprint", "dim", "metric", "index", "store_id", "generation"} - set(meta)
    if missing:
        raise PictorchError(f"gallery {path} is damaged: meta lacks {', '.join(sorted(missing))}")
    return meta
