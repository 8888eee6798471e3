"""Fixtures of the integration tests: a throwaway PostgreSQL (pgserver, with pgvector) per session and a fresh gallery
schema per test, for the PostgreSQL gallery tests (they skip when pgserver cannot start)."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory):
    """The URL of a pgserver PostgreSQL (with pgvector) for this session; skips when it cannot start."""
    pytest.importorskip("psycopg")
    from pictorch.errors import PictorchError
    from pictorch.gallery.pg import start_pgserver

    try:
        srv, url = start_pgserver(tmp_path_factory.mktemp("pg") / "data")
    except PictorchError as e:
        pytest.skip(str(e))
    import psycopg

    # a throwaway server: no fsync (commits still survive a killed client, which is what the tests kill); its
    # shutdown checkpoint took ~6 s of the session at load 8 with fsync on
    with psycopg.connect(url, autocommit=True) as c:
        for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
            c.execute(f"ALTER SYSTEM SET {setting}")
        c.execute("SELECT pg_reload_conf()")
    yield url
    srv.cleanup()


@pytest.fixture
def pg_url(pg_server_url):
    """A URL naming a new, empty gallery schema."""
    return f"{pg_server_url}#t{uuid.uuid4().hex[:12]}"
