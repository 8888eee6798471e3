"""Gallery store: enrol/identify/calibrate semantics, model mixing, bad files, crash safety, concurrency."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from pictorch.errors import PictorchError
from pictorch.gallery import Gallery, index_path_for

D = 16
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _people(n_people: int = 4, per: int = 3, seed: int = 0, noise: float = 0.1):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_people, D))
    embs = {f"p{i}": (centers[i] + noise * rng.normal(size=(per, D))).astype(np.float32) for i in range(n_people)}
    return centers.astype(np.float32), embs


@pytest.fixture
def gallery(tmp_path):
    centers, embs = _people()
    g = Gallery.create(tmp_path / "g.gallery", "model-a", D, model="fake")
    for name, e in embs.items():
        assert g.enroll(name, e, [f"{name}_{j}.jpg" for j in range(len(e))]) == len(e)
    yield g, centers
    g.close()


def _brute_person_scores(g: Gallery, q: np.ndarray) -> dict[str, float]:
    """Reference: max cosine over each person's stored embeddings, straight from SQLite."""
    rows = g._conn.execute("SELECT p.name, e.vector FROM embeddings e JOIN people p ON p.id=e.person_id").fetchall()
    qn = q / np.linalg.norm(q)
    best: dict[str, float] = {}
    for name, blob in rows:
        v = np.frombuffer(blob, np.float32)
        best[name] = max(best.get(name, -2.0), float(qn @ (v / np.linalg.norm(v))))
    return best


def test_identify_matches_brute_force_and_lists_distinct_people(gallery):
    g, centers = gallery
    q = centers[1] + 0.05
    (m,) = g.identify(torch.from_numpy(q), k=3)
    ref = sorted(_brute_person_scores(g, q).items(), key=lambda t: -t[1])[:3]
    assert m.name == "p1" and [n for n, _ in m.topk] == [n for n, _ in ref]
    np.testing.assert_allclose([s for _, s in m.topk], [s for _, s in ref], atol=1e-5)
    assert len({n for n, _ in m.topk}) == 3
    assert g.people() == {"p0": 3, "p1": 3, "p2": 3, "p3": 3}
    assert g.identify(q, threshold=0.9999)[0].name == "unknown"
    assert g.verify(centers[0], centers[0] * 3) == pytest.approx(1.0, abs=1e-6)


def test_centroid_scoring_matches_brute_force_and_survives_changes(gallery):
    g, centers = gallery
    assert g.scoring == "nearest"
    g.threshold = 0.5
    g.scoring = "centroid"
    assert g.scoring == "centroid" and g.threshold is None  # a threshold belongs to the scoring it was set for

    def brute(q):
        rows = g._conn.execute(
            "SELECT p.name, e.vector FROM embeddings e JOIN people p ON p.id=e.person_id").fetchall()
        vecs: dict[str, list[np.ndarray]] = {}
        for name, blob in rows:
            v = np.frombuffer(blob, np.float32).astype(np.float64)
            vecs.setdefault(name, []).append(v / np.linalg.norm(v))
        qn = q / np.linalg.norm(q)
        out = {}
        for name, vs in vecs.items():
            c = np.mean(vs, axis=0)
            out[name] = float(qn @ (c / np.linalg.norm(c)))
        return sorted(out.items(), key=lambda t: -t[1])

    rng = np.random.default_rng(3)
    q = centers[2] + 0.3 * rng.normal(size=D).astype(np.float32)
    (m,) = g.identify(q, k=4)
    ref = brute(q)
    assert [n for n, _ in m.topk] == [n for n, _ in ref]
    np.testing.assert_allclose([s for _, s in m.topk], [s for _, s in ref], atol=1e-5)
    # the cache follows enrolment and removal
    g.enroll("p2", (centers[0] + 0.01 * rng.normal(size=(6, D))).astype(np.float32), [f"x{j}" for j in range(6)])
    g.remove("p3")
    (m,) = g.identify(q, k=4)
    ref = brute(q)
    assert [n for n, _ in m.topk] == [n for n, _ in ref] and "p3" not in dict(m.topk)
    np.testing.assert_allclose([s for _, s in m.topk], [s for _, s in ref], atol=1e-5)
    # kept across reopening; an unknown scoring is one clear error
    path = g.path
    g.close()
    with Gallery.open(path) as g2:
        assert g2.scoring == "centroid"
        with pytest.raises(PictorchError, match="unknown scoring"):
            g2.scoring = "median"


def test_duplicate_sources_are_skipped_and_reported(gallery, tmp_path):
    g, centers = gallery
    assert g.enroll("p0", centers[:1], ["p0_0.jpg"], hashes=None) == 1  # not a file: hashed by vector
    assert g.enroll("p0", centers[:1], ["again.jpg"]) == 0
    assert "already enrolled for 'p0'" in g.skipped[0][1]
    photo = tmp_path / "x.jpg"
    photo.write_bytes(b"same bytes")
    assert g.enroll("p2", centers[2:3] + 1, [str(photo)]) == 1
    assert g.enroll("p3", centers[3:4] + 1, [str(photo)]) == 0
    assert g.skipped == [(str(photo), "already enrolled as 'p2'")]
    n = g.enroll("p5", np.stack([centers[0] + 2, centers[0] + 3]), ["a", "b"], hashes=["h1", "h1"])
    assert n == 1 and g.skipped == [("b", "same bytes as a in this enrolment (a copy of one photo)")]
    n = g.enroll("p6", np.stack([centers[1] + 2, centers[1] + 3]), ["c", "c"], hashes=["h2", "h2"])
    assert n == 1 and g.skipped == [("c", "listed twice in this enrolment")]


def test_model_mixing_is_refused(gallery, tmp_path):
    g, centers = gallery
    with pytest.raises(PictorchError, match="another model"):
        g.enroll("p9", centers[:1], ["z"], fingerprint="model-b")
    with pytest.raises(PictorchError, match="16-d"):
        g.enroll("p9", np.ones((1, 8)), ["z"])
    with pytest.raises(PictorchError, match="another model"):
        Gallery.open(g.path, fingerprint="model-b")
    with pytest.raises(PictorchError, match="already exists"):
        Gallery.create(g.path, "model-a", D)


def test_remove_unknown_name_lists_close_names(gallery):
    g, centers = gallery
    with pytest.raises(PictorchError, match="Did you mean p1"):
        g.remove("p11")
    assert g.remove("p1") == 3
    assert "p1" not in g.people()
    assert all(m.name != "p1" for m in g.identify(centers, k=3) for _ in [0])
    assert all(n != "p1" for m in g.identify(centers, k=3) for n, _ in m.topk)
    with pytest.raises(PictorchError, match="reserved"):
        g.enroll("unknown", centers[:1], ["u"])


def test_calibrate_hits_the_target_far(gallery):
    g, centers = gallery
    rng = np.random.default_rng(3)
    members = np.concatenate([centers[i] + 0.25 * rng.normal(size=(25, D)) for i in range(4)])
    strangers = rng.normal(size=(200, D))
    names = [f"p{i}" for i in range(4) for _ in range(25)] + ["stranger"] * 100 + ["unknown"] * 100
    rep = g.calibrate(np.concatenate([members, strangers]), names, target_far=0.05)
    assert rep["far"] <= 0.05 and rep["strangers"] == 200 and rep["members"] == 100
    assert g.threshold == pytest.approx(rep["threshold"])
    # recompute FAR/TAR from scratch with the stored threshold
    st = np.array([max(_brute_person_scores(g, s).values()) for s in strangers])
    assert (st >= g.threshold).mean() <= 0.05
    got = g.identify(members)
    tar = np.mean([m.name == n for m, n in zip(got, names[:100], strict=True)])
    assert tar == pytest.approx(rep["tar"])
    assert rep["tar"] > 0.9
    with pytest.raises(PictorchError, match="strangers"):
        g.calibrate(centers, ["p0", "p1", "p2", "p3"])


def test_export_npz_and_json(gallery, tmp_path):
    g, _ = gallery
    npz = np.load(g.export(tmp_path / "e.npz"))
    assert npz["embeddings"].shape == (12, D) and list(npz["names"][:3]) == ["p0"] * 3
    assert npz["sources"][0] == "p0_0.jpg"
    doc = json.loads(g.export(tmp_path / "e.json").read_text())
    assert len(doc["rows"]) == 12 and doc["fingerprint"] == "model-a"
    np.testing.assert_array_equal(np.load(tmp_path / doc["embeddings_file"]), npz["embeddings"])
    with pytest.raises(PictorchError, match="npz or .json"):
        g.export(tmp_path / "e.csv")


def test_index_is_rebuilt_when_missing_stale_or_corrupt(gallery):
    g, centers = gallery
    path = g.path
    g.close()
    ipath = index_path_for(path)
    assert ipath.exists()
    with Gallery.open(path) as g2:
        assert len(g2.index) == 12 and g2.index_note is None  # reused as is
        g2.enroll("p4", centers[:1] + 5, ["new"])  # changes the store; the index is saved on close...
        g2._dirty = False  # ...simulate a crash before that save: the file on disk is now stale
    with Gallery.open(path) as g3:
        assert len(g3.index) == 13 and "stale" in g3.index_note
    ipath.write_bytes(b"garbage")
    with Gallery.open(path) as g4:
        assert g4.identify(centers[2])[0].name == "p2" and "damaged" in g4.index_note
    ipath.unlink()
    with Gallery.open(path) as g5:
        assert len(g5.index) == 13 and "missing" in g5.index_note


def test_a_second_handle_sees_changes_of_another(gallery):
    g, centers = gallery
    with Gallery.open(g.path) as other:
        assert other.identify(centers[0])[0].name == "p0"
        g.enroll("late", centers[:1] * -1, ["late"])
        assert other.identify(centers[0] * -1)[0].name == "late"


def test_bad_gallery_files_give_clear_errors_and_are_never_touched(tmp_path):
    with pytest.raises(PictorchError, match="no gallery at"):
        Gallery.open(tmp_path / "missing.gallery")
    junk = tmp_path / "junk.gallery"
    junk.write_bytes(b"hello world, not sqlite" * 10)
    with pytest.raises(PictorchError, match="not a pictorch gallery"):
        Gallery.open(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.commit()
    with pytest.raises(PictorchError, match="not a pictorch gallery"):
        Gallery.open(other)
    # a real gallery with its pages smashed after the header
    path = tmp_path / "g.gallery"
    with Gallery.create(path, "m", D) as g:
        _, embs = _people(20, 20)
        for name, e in embs.items():
            g.enroll(name, e, [f"{name}{j}" for j in range(len(e))])
    index_path_for(path).unlink()
    data = bytearray(path.read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(PictorchError, match="damaged|not a pictorch gallery"):
        with Gallery.open(path) as g:
            g.identify(np.ones(D))
    assert path.read_bytes() == before


def _run(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_in_the_middle_of_an_enrolment_loses_nothing(gallery):
    g, centers = gallery
    before = g.people()
    path = g.path
    g.close()
    code = """
        import sys, time
        import numpy as np
        from pictorch.gallery import Gallery
        g = Gallery.open(sys.argv[1])
        x = np.random.default_rng(1).normal(size=(40000, 16)).astype(np.float32)
        def progress(done, total):
            print("written", done, flush=True)
            if done >= 16384:
                time.sleep(120)  # mid-transaction: thousands of rows written, nothing committed
        g.enroll("victim", x, [f"v{i}" for i in range(len(x))], progress=progress)
        print("committed", flush=True)
    """
    proc = _run(code, str(path))
    try:
        for line in proc.stdout:
            if line.startswith("written") and int(line.split()[1]) >= 16384:
                break
        else:
            pytest.fail(f"child ended early: {proc.stderr.read()}")
        assert Path(str(path) + "-wal").exists()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    with Gallery.open(path) as g2:
        assert g2.people() == before
        assert g2._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert g2._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 12
        assert len(g2.index) == 12
        assert [m.name for m in g2.identify(centers)] == ["p0", "p1", "p2", "p3"]
        assert g2.enroll("after", centers[:1] * -1, ["after"]) == 1  # still writable


def test_concurrent_writers_all_land(tmp_path):
    path = tmp_path / "c.gallery"
    Gallery.create(path, "m", D).close()
    code = """
        import sys
        import numpy as np
        from pictorch.gallery import Gallery
        tag = sys.argv[2]
        rng = np.random.default_rng(int(tag))
        for i in range(15):
            with Gallery.open(sys.argv[1]) as g:
                g.enroll(f"w{tag}_{i}", rng.normal(size=(20, 16)), [f"{tag}-{i}-{j}" for j in range(20)])
        print("done", flush=True)
    """
    procs = [_run(code, str(path), str(t)) for t in (1, 2, 3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    with Gallery.open(path) as g:
        people = g.people()
        assert len(people) == 45 and set(people.values()) == {20}
        assert len(g.index) == 900
        assert g._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
