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
    yield url
    srv.cleanup()


@pytest.fixture
def pg_url(pg_server_url):
    """A URL naming a new, empty gallery schema."""
    return f"{pg_server_url}#t{uuid.uuid4().hex[:12]}"
