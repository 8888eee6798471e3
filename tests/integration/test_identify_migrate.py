"""``pictorch identify migrate``: SQLite -> PostgreSQL -> SQLite with nothing lost (rows, checksums, answers),
resumable after an interruption, refusing a non-empty destination without --force; through the CLI too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pictorch.errors import PictorchError
from pictorch.gallery import migrate as M
from pictorch.gallery.backends import create_gallery, open_gallery

D = 12
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _sqlite_gallery(path, n_people=6, per=3, index="flat", scoring="centroid"):
    rng = np.random.default_rng(0)
    with create_gallery(path, "fp", D, index=index, scoring=scoring, model="fake", threshold=0.3,
                        settings={"faces": False}) as g:
        for i in range(n_people):
            e = (rng.normal(size=(1, D)) + 0.3 * rng.normal(size=(per, D))).astype(np.float32)
            g.enroll(f"person {i}", e, [f"p{i}_{j}.jpg" for j in range(per)])
        g.remove("person 2")  # ids with a gap, as real galleries have
    return str(path)


def _answers(spec, q):
    with open_gallery(spec) as g:
        return g.people(), [(m.name, [n for n, _ in m.topk], [round(s, 5) for _, s in m.topk])
                            for m in g.identify(q, k=3)], g.threshold, g.settings, g.model, g.scoring


def test_round_trip_sqlite_postgres_sqlite(tmp_path, pg_url):
    src = _sqlite_gallery(tmp_path / "a.gallery")
    q = np.random.default_rng(1).normal(size=(5, D)).astype(np.float32)
    r1 = M.migrate(src, pg_url)
    assert (r1["people"], r1["embeddings"], r1["resumed"]) == (5, 15, False)
    back = str(tmp_path / "b.gallery")
    r2 = M.migrate(pg_url, back)
    assert r2["sha256"] == r1["sha256"]
    assert _answers(src, q) == _answers(pg_url, q) == _answers(back, q)
    with open_gallery(src) as a, open_gallery(back) as b:
        assert M.digest(a) == M.digest(b) and a.store_id != b.store_id
        assert b.check()["ok"]
    with open_gallery(pg_url) as g:  # the copy takes new enrolments, ids after the copied ones
        g.enroll("new", q[:1], ["new.jpg"])
        assert g.people()["new"] == 1


def test_refuses_nonempty_destination_without_force(tmp_path, pg_url):
    src = _sqlite_gallery(tmp_path / "a.gallery")
    other = _sqlite_gallery(tmp_path / "other.gallery", n_people=3)
    with pytest.raises(PictorchError, match="--force"):
        M.migrate(src, other)
    with open_gallery(other) as g:
        assert len(g.people()) == 2  # untouched
    M.migrate(other, pg_url)
    with pytest.raises(PictorchError, match="--force"):
        M.migrate(src, pg_url)
    assert M.migrate(src, pg_url, force=True)["people"] == 5
    assert M.migrate(src, other, force=True)["people"] == 5
    with open_gallery(other) as g:
        assert len(g.people()) == 5 and g.check()["ok"]
    with pytest.raises(PictorchError, match="same"):
        M.migrate(src, src)


@pytest.mark.parametrize("direction", ["to_pg", "to_sqlite"])
def test_interrupted_copy_resumes(tmp_path, pg_url, monkeypatch, direction):
    src = _sqlite_gallery(tmp_path / "a.gallery", n_people=20, per=4, index="hnsw", scoring="nearest")
    if direction == "to_sqlite":
        M.migrate(src, pg_url)
        src, dst = pg_url, str(tmp_path / "copy.gallery")
    else:
        dst = pg_url
    monkeypatch.setattr(M, "CHUNK", 16)
    calls = []

    def stop(table, done, total):
        calls.append(table)
        if table == "embeddings" and done >= 32:
            raise KeyboardInterrupt

    if direction == "to_pg":
        with pytest.raises(KeyboardInterrupt):
            M.migrate(src, dst, progress=stop)
        with pytest.raises(PictorchError, match="no gallery"):
            open_gallery(dst)  # nothing in place until the copy verified
    else:
        with pytest.raises(KeyboardInterrupt):
            M.migrate(src, dst, progress=stop)
        assert not Path(dst).exists()
    r = M.migrate(src, dst)
    assert r["resumed"] and r["embeddings"] == 76 and r["index"] == "hnsw"
    q = np.random.default_rng(2).normal(size=(4, D)).astype(np.float32)
    assert _answers(src, q)[:2] == _answers(dst, q)[:2]


def test_cli_migrate(tmp_path, pg_url):
    src = _sqlite_gallery(tmp_path / "a.gallery")
    env = {**os.environ, "PYTHONPATH": SRC}
    run = [sys.executable, "-m", "pictorch", "identify", "migrate"]
    out = subprocess.run(run + [src, pg_url, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["people"] == 5 and doc["backend"] == "postgresql" and len(doc["sha256"]) == 3
    again = subprocess.run(run + [src, pg_url], capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode != 0 and "--force" in again.stderr and "Traceback" not in again.stderr
    lst = subprocess.run([sys.executable, "-m", "pictorch", "identify", "list", "-g", pg_url], capture_output=True,
                         text=True, env=env, timeout=120)
    assert lst.returncode == 0 and "person 5" in lst.stdout, lst.stderr


def test_sqlite_copy_has_its_index(tmp_path):
    """A migrated SQLite copy is put in place with its FAISS index: its first query used to warn "index rebuilt
    from the store: index file missing" right after a verified migration."""
    src = _sqlite_gallery(tmp_path / "a.gallery")
    back = str(tmp_path / "b.gallery")
    M.migrate(src, back)
    q = np.random.default_rng(1).normal(size=(2, D)).astype(np.float32)
    with open_gallery(back) as g:
        g.identify(q, k=3)
        assert g.index_note is None
