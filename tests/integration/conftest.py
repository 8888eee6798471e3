"""Fixtures of the integration tests: ``run`` (a ``pictorch`` command in-process), and a throwaway PostgreSQL
(pgserver, with pgvector) per session and a fresh gallery schema per test, for the PostgreSQL gallery tests (they skip
when pgserver cannot start)."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture
def run(capsys):
    """Run `pictorch ...` in-process through the console entry point; returns (exit code, stdout + stderr)."""
    from cli_run import cli

    def _run(*args: str) -> tuple[int, str]:
        code, out, err = cli(capsys, *args)
        return code, out + err

    return _run


@pytest.fixture(scope="session")
def pg_server_url():
    """The URL of a pgserver PostgreSQL (with pgvector) for this session; skips when it cannot start.

    ``PICTORCH_TEST_PG_URL`` names a server of your own instead (e.g. the system's PostgreSQL with pgvector).
    Its data folder is a private temp folder, not under pytest's basetemp: other pytest runs on a shared machine
    prune old basetemp folders, and one pruned this server's folder while it started.
    """
    pytest.importorskip("psycopg")
    if os.environ.get("PICTORCH_TEST_PG_URL"):  # a server of your own (with pgvector): used as it is
        yield os.environ["PICTORCH_TEST_PG_URL"]
        return
    import shutil
    import tempfile

    from pictorch.errors import PictorchError
    from pictorch.gallery.pg import start_pgserver

    folder = tempfile.mkdtemp(prefix="pictorch-pg-")
    try:
        srv, url = start_pgserver(os.path.join(folder, "data"))
    except PictorchError as e:
        shutil.rmtree(folder, ignore_errors=True)
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
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server_url):
    """A URL naming a new, empty gallery schema."""
    return f"{pg_server_url}#t{uuid.uuid4().hex[:12]}"
