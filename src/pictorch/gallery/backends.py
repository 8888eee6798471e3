"""Which gallery backend a ``--gallery`` value names, through one registry.

A path is a SQLite file (:class:`pictorch.gallery.store.Gallery`, the embedded default, with a FAISS index);
a ``postgresql://`` (or ``postgres://``) URL is a PostgreSQL + pgvector gallery
(:class:`pictorch.gallery.pg.PgGallery`) that several machines share. Both have the same interface::

    from pictorch.gallery.backends import open_gallery, create_gallery, gallery_exists, display_name

    with open_gallery("postgresql://pictorch@db/faces#doorway") as g:
        g.identify(embeddings)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pictorch.registry import Registry

BACKENDS = Registry("gallery backend", modules=["pictorch.gallery.backends"])


class _Sqlite:
    """A SQLite gallery file."""

    @staticmethod
    def cls() -> Any:
        from pictorch.gallery.store import Gallery

        return Gallery

    @staticmethod
    def exists(spec: str) -> bool:
        return Path(spec).exists()

    @staticmethod
    def display(spec: str) -> str:
        return str(spec)

    @staticmethod
    def name(spec: str) -> str:
        return Path(spec).name

    @staticmethod
    def sidecar(spec: str, suffix: str) -> str:
        return f"{spec}{suffix}"


class _Postgres:
    """A PostgreSQL + pgvector gallery (a URL)."""

    @staticmethod
    def cls() -> Any:
        from pictorch.gallery.pg import PgGallery

        return PgGallery

    @staticmethod
    def exists(spec: str) -> bool:
        from pictorch.gallery.pg import gallery_exists as pg_exists

        return pg_exists(spec)

    @staticmethod
    def display(spec: str) -> str:
        from pictorch.gallery.pg import redact

        return redact(spec)

    @staticmethod
    def name(spec: str) -> str:
        """``database#schema`` (no host, user or password)."""
        from urllib.parse import urlsplit

        from pictorch.gallery.pg import split_url

        _, schema = split_url(spec)
        db = urlsplit(spec).path.strip("/") or "postgres"
        return f"{db}#{schema}"

    @staticmethod
    def sidecar(spec: str, suffix: str) -> str:
        """Local files of a shared gallery (keys, audit log, upload spool) live in this machine's pictorch
        folder (``$PICTORCH_HOME``, default ``~/.pictorch``): ``postgres/<database>-<schema><suffix>``."""
        home = Path(os.environ.get("PICTORCH_HOME") or "~/.pictorch").expanduser()
        return str(home / "postgres" / f"{_Postgres.name(spec).replace('#', '-')}{suffix}")


BACKENDS.register("sqlite")(_Sqlite)
BACKENDS.register("postgresql")(_Postgres)


def backend_name(spec: str | os.PathLike) -> str:
    """``"postgresql"`` for a ``postgresql://`` / ``postgres://`` URL, else ``"sqlite"`` (decided without
    importing the PostgreSQL backend: a SQLite ``who`` loads nothing of it)."""
    return "postgresql" if str(spec).startswith(("postgresql://", "postgres://")) else "sqlite"


def _backend(spec: str | os.PathLike) -> Any:
    return BACKENDS.get(backend_name(spec))


def open_gallery(spec: str | os.PathLike, **kw: Any) -> Any:
    """Open the gallery ``spec`` names (``fingerprint``/``dim`` as :meth:`Gallery.open`)."""
    return _backend(spec).cls().open(str(spec) if backend_name(spec) == "postgresql" else spec, **kw)


def create_gallery(spec: str | os.PathLike, *args: Any, **kw: Any) -> Any:
    """Create a gallery where ``spec`` says (arguments as :meth:`Gallery.create`)."""
    return _backend(spec).cls().create(str(spec) if backend_name(spec) == "postgresql" else spec, *args, **kw)


def gallery_exists(spec: str | os.PathLike) -> bool:
    """Is there a gallery at ``spec``? (a file, or a reachable PostgreSQL schema holding one)."""
    return bool(_backend(spec).exists(str(spec)))


def display_name(spec: str | os.PathLike) -> str:
    """The gallery as messages show it (a PostgreSQL URL without its password)."""
    return _backend(spec).display(str(spec))


def short_name(spec: str | os.PathLike) -> str:
    """The gallery's short name (a file's name; ``database#schema``)."""
    return _backend(spec).name(str(spec))


def sidecar(spec: str | os.PathLike, suffix: str) -> str:
    """Where a gallery's local companion file lives (``.keys.json``, ``.audit.jsonl``, ``.uploads``)."""
    return _backend(spec).sidecar(str(spec), suffix)
