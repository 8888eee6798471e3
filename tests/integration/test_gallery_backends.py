"""The gallery backend contract, run against SQLite + FAISS and PostgreSQL + pgvector (a pgserver started for the
session; the PostgreSQL cases skip when it cannot start), plus what only a shared server has to show: the same
answers as SQLite, two writers at once, and a client killed in the middle of an enrolment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from pictorch.errors import PictorchError
from pictorch.gallery.backends import create_gallery, gallery_exists, open_gallery
from pictorch.gallery.db import GalleryExistsError

D = 16
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _people(n_people: int = 5, per: int = 3, seed: int = 0, noise: float = 0.3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_people, D))
    return {f"p{i}": (centers[i] + noise * rng.normal(size=(per, D))).astype(np.float32) for i in range(n_people)}


@pytest.fixture(params=["sqlite", "postgresql"])
def spec(request, tmp_path):
    """Where a new gallery goes, on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "g.gallery")
    return request.getfixturevalue("pg_url")


def _fill(g, embs):
    for name, e in embs.items():
        assert g.enroll(name, e, [f"{name}_{j}.jpg" for j in range(len(e))]) == len(e)


# ---------------------------------------------------------------------------------------------- the contract
def test_contract_enrol_list_dedupe_remove(spec, tmp_path):
    embs = _people()
    assert not gallery_exists(spec)
    with create_gallery(spec, "model-a", D, model="fake", scoring="nearest", settings={"faces": False}) as g:
        _fill(g, embs)
        assert g.people() == {n: 3 for n in sorted(embs)} and len(g) == 15 and "p1" in g and "zed" not in g
        assert g.settings == {"faces": False} and g.model == "fake"
        # the same photo again (same default hash: the embedding bytes) is skipped, never stored twice
        assert g.enroll("p0", embs["p0"][:1], ["p0_0.jpg"]) == 0 and "already enrolled" in g.skipped[0][1]
        m = g.identify(embs["p2"][1:2] + 0.01, k=3)[0]
        assert m.name == "p2" and len(m.topk) == 3 and m.topk[0][0] == "p2"
        photos = g.photos("p3")
        assert [p["id"] for p in photos] == sorted(p["id"] for p in photos) and len(photos) == 3
        assert g.remove_photo("p3", photos[0]["id"]) == 1 and g.people()["p3"] == 2
        with pytest.raises(PictorchError, match="not enrolled"):
            g.remove_photo("p4", photos[1]["id"])
        assert g.remove("p1") == 3 and "p1" not in g
        assert "p1" not in g.enrolled_hashes().values()  # their photos' hashes go with them
        with pytest.raises(PictorchError, match="Did you mean"):
            g.remove("p22")
        assert all(m.name != "p1" for m in g.identify(embs["p1"], k=4))
        assert g.check()["ok"]
        copy = g.backup(tmp_path / "backup.gallery")
        with pytest.raises(PictorchError, match="already exists"):
            g.backup(copy)
    with open_gallery(copy) as b:  # a backup is a SQLite file on either backend
        assert b.people() == {"p0": 3, "p2": 3, "p3": 2, "p4": 3}
    assert gallery_exists(spec)
    with pytest.raises(GalleryExistsError):
        create_gallery(spec, "model-a", D)
    with pytest.raises(PictorchError, match="another model"):
        open_gallery(spec, fingerprint="model-b")
    with pytest.raises(PictorchError, match="16-d"):
        open_gallery(spec, dim=32)


def test_contract_threshold_scoring_rename_calibrate(spec):
    embs = _people()
    with create_gallery(spec, "model-a", D, threshold=0.5, scoring="centroid") as g:
        _fill(g, embs)
        assert g.threshold == 0.5 and g.scoring == "centroid"
        far = np.random.default_rng(9).normal(size=(1, D)).astype(np.float32)
        assert g.identify(far, threshold=0.99)[0].name == "unknown"
        g.scoring = "nearest"
        assert g.threshold is None and g.scoring == "nearest"
        assert g.rename("p0", "ann") == (3, False) and "ann" in g and "p0" not in g
        with pytest.raises(PictorchError, match="--merge"):
            g.rename("ann", "p1")
        assert g.rename("ann", "p1", merge=True) == (6, True) and g.people()["p1"] == 6
        with pytest.raises(PictorchError, match="reserved"):
            g.rename("p1", "unknown")
        rng = np.random.default_rng(3)
        queries = np.concatenate([embs["p2"] + 0.05 * rng.normal(size=(3, D)), rng.normal(size=(6, D))])
        rep = g.calibrate(queries.astype(np.float32), ["p2"] * 3 + ["stranger"] * 6, target_far=0.0)
        assert rep["members"] == 3 and rep["strangers"] == 6 and g.threshold == rep["threshold"]
        assert g.calibration["threshold"] == rep["threshold"]


def test_contract_export(spec, tmp_path):
    embs = _people(3, 2)
    with create_gallery(spec, "model-a", D) as g:
        _fill(g, embs)
        z = np.load(g.export(tmp_path / "e.npz"))
    assert list(z["names"]) == ["p0", "p0", "p1", "p1", "p2", "p2"]
    np.testing.assert_array_equal(z["embeddings"], np.concatenate(list(embs.values())))


# ---------------------------------------------------------------------------------------------- same answers
@pytest.mark.parametrize("scoring", ["nearest", "centroid"])
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_postgres_answers_as_sqlite(pg_url, tmp_path, scoring, metric):
    """Same enrolments, removals, renames and photo deletions -> the same who answers and scores."""
    embs = _people(8, 3, seed=1)
    rng = np.random.default_rng(2)
    queries = np.concatenate([embs[f"p{i}"][0:1] + 0.2 * rng.normal(size=(1, D)) for i in range(8)]
                             + [rng.normal(size=(4, D))]).astype(np.float32)
    answers = []
    for spec in (str(tmp_path / "g.gallery"), pg_url):
        with create_gallery(spec, "m", D, metric=metric, scoring=scoring) as g:
            _fill(g, embs)
            g.remove("p5")
            g.rename("p6", "p7", merge=True)
            g.remove_photo("p0", g.photos("p0")[1]["id"])
            t = g.identify(queries[:8], k=1)[0].score  # a threshold between the answers: some are unknown
            got = g.identify(queries, k=4, threshold=t)
            for m, qv in zip(got, queries, strict=True):  # verify against a person = who's score for them
                for name, score in m.topk[:2]:
                    assert g.person_score(qv, name)[0][0] == pytest.approx(score, abs=1e-5)
            answers.append((g.people(), got))
    (people_a, a), (people_b, b) = answers
    assert people_a == people_b
    for ma, mb in zip(a, b, strict=True):
        assert ma.name == mb.name and [n for n, _ in ma.topk] == [n for n, _ in mb.topk]
        np.testing.assert_allclose([s for _, s in ma.topk], [s for _, s in mb.topk], rtol=1e-5, atol=1e-5)


def test_postgres_hnsw_finds_what_exact_finds(pg_url):
    embs = _people(30, 2, seed=4, noise=0.1)
    with create_gallery(pg_url, "m", D, index="hnsw", scoring="nearest") as g:
        _fill(g, embs)
        hits = [g.identify(e[:1] + 0.01, k=3)[0].name == n for n, e in embs.items()]
    assert sum(hits) >= 29  # approximate search: recall@1 on 30 well-separated people


def test_postgres_url_errors(pg_server_url, tmp_path):
    with pytest.raises(PictorchError, match="no gallery at"):
        open_gallery(pg_server_url + "#nothing_here")
    with pytest.raises(PictorchError, match="schema name"):
        open_gallery(pg_server_url + "#Bad-Name")
    with pytest.raises(PictorchError, match="IVF"):
        create_gallery(pg_server_url + "#ivf", "m", D, index="ivf")
    bad = "postgresql://nobody:secret@/nodb?host=" + str(tmp_path)  # no server at that socket
    with pytest.raises(PictorchError, match="cannot connect") as e:
        open_gallery(bad)
    assert "secret" not in str(e.value)


def test_postgres_reconnects_after_a_lost_connection(pg_url):
    """A server-side disconnect fails one call with one clear line; the next call reconnects."""
    import psycopg

    from pictorch.gallery.pg import GalleryUnavailable, split_url

    embs = _people(2, 2)
    with create_gallery(pg_url, "m", D) as g:
        _fill(g, embs)
        pid = g._conn.info.backend_pid
        with psycopg.connect(split_url(pg_url)[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(GalleryUnavailable, match="lost the connection") as e:
            g.people()
        assert "\n" not in str(e.value) and e.value.status == 503
        assert g.people() == {"p0": 2, "p1": 2} and g.identify(embs["p1"][:1])[0].name == "p1"


# ---------------------------------------------------------------------------------------------- a shared server
def test_postgres_two_writers(pg_url):
    """Two clients enrolling at once: every enrolment lands, and a photo both send is stored once."""
    create_gallery(pg_url, "m", D).close()
    rng = np.random.default_rng(5)
    shared = rng.normal(size=(1, D)).astype(np.float32)
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            with open_gallery(pg_url) as g:
                for i in range(12):
                    g.enroll(f"{tag}{i}", rng.normal(size=(2, D)).astype(np.float32), [f"{tag}{i}a", f"{tag}{i}b"])
                    g.enroll(f"{tag}{i}", shared, ["same.jpg"], hashes=["shared-photo"])
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    with open_gallery(pg_url) as g:
        people = g.people()
        assert len(people) == 24 and len(g) == 49 and sum(c == 3 for c in people.values()) == 1
        assert list(g.enrolled_hashes().values()).count(next(n for n, c in people.items() if c == 3)) >= 1
        assert g.check()["ok"]


_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {src!r})
    from pictorch.gallery.backends import open_gallery
    g = open_gallery({url!r})
    rng = np.random.default_rng(0)
    for i in range(1000):
        g.enroll(f"person{{i}}", rng.normal(size=(1000, {d})).astype(np.float32),
                 [f"person{{i}}_{{j}}" for j in range(1000)])
        print(f"ack {{i}}", flush=True)
""")


def test_postgres_kill_mid_enrolment(pg_url):
    """SIGKILL a client in the middle of an enrolment: every acknowledged enrolment is there, and no
    half-enrolled person (the server rolls the open transaction back)."""
    create_gallery(pg_url, "m", D, scoring="centroid").close()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD.format(src=SRC, url=pg_url, d=D)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": SRC})
    acked = []
    try:
        for line in proc.stdout:
            acked.append(line.split()[1])
            if len(acked) == 3:
                break
        threading.Event().wait(0.1)  # well inside the next 1000-row enrolment (~0.5-1 s here)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    with open_gallery(pg_url) as g:
        people = g.people()
        assert {f"person{i}" for i in acked} <= set(people)
        assert set(people.values()) == {1000}  # nobody half-enrolled
        assert g.check()["ok"]  # centroids in step with the people
