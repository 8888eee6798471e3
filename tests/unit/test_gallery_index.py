"""VectorIndex: exact search vs brute force, approximate kinds' recall, removal, persistence, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from pictorch.errors import PictorchError
from pictorch.gallery import VectorIndex


def _clustered(n: int, d: int, centers: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d))
    x = c[rng.integers(0, centers, n)] + 0.3 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_flat_matches_brute_force_cosine():
    x = _clustered(500, 16)
    ids = np.arange(500, dtype=np.int64) * 3 + 7
    q = _clustered(10, 16, seed=1) * 5.0  # unnormalized queries: cosine normalizes them
    idx = VectorIndex(16, "flat", "cosine")
    idx.add(x * 2.0, ids)
    scores, got = idx.search(q, 5)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    sims = qn @ x.T
    want = np.argsort(-sims, axis=1)[:, :5]
    np.testing.assert_array_equal(got, ids[want])
    np.testing.assert_allclose(scores, np.take_along_axis(sims, want, 1), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def test_l2_metric_returns_squared_distances():
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    idx = VectorIndex(4, metric="l2")
    idx.add(x, np.arange(50))
    d, i = idx.search(x[:3] + 0.01, 2)
    np.testing.assert_array_equal(i[:, 0], [0, 1, 2])
    np.testing.assert_allclose(d[:, 0], 4 * 0.01**2, rtol=1e-2)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_kinds_recall(kind):
    x = _clustered(4000, 32)
    q = _clustered(100, 32, seed=5)
    exact = VectorIndex(32, "flat")
    exact.add(x, np.arange(4000))
    approx = VectorIndex(32, kind)
    approx.add(x, np.arange(4000))
    assert len(approx) == 4000
    _, e = exact.search(q, 1)
    _, a = approx.search(q, 1)
    assert (e[:, 0] == a[:, 0]).mean() >= 0.9


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_remove_save_load_roundtrip(tmp_path, kind):
    x = _clustered(300, 8)
    idx = VectorIndex(8, kind)
    idx.add(x, np.arange(300) + 1000)
    assert idx.remove([1000, 1001, 5]) == 2
    assert len(idx) == 298
    _, got = idx.search(x[:2], 1)
    assert not np.isin(got, [1000, 1001]).any()
    path = idx.save(tmp_path / "i.faiss", extra={"generation": 4})
    back = VectorIndex.load(path)
    assert (back.kind, back.dim, back.metric, len(back), back.extra) == (kind, 8, "cosine", 298, {"generation": 4})
    np.testing.assert_array_equal(back.search(x[2:9], 3)[1], idx.search(x[2:9], 3)[1])
    assert sorted(back.ids().tolist()) == list(range(1002, 1300))
    back.add(x[:2], [1000, 1001])  # a removed id may come back (HNSW drops its tombstone first)
    np.testing.assert_array_equal(back.search(x[:2], 1)[1][:, 0], [1000, 1001])


def test_empty_slots_and_empty_index():
    idx = VectorIndex(4)
    s, i = idx.search(np.ones((2, 4)), 3)
    assert (i == -1).all() and np.isneginf(s).all()
    idx.add(np.eye(4)[:2], [1, 2])
    s, i = idx.search(np.ones(4), 3)
    assert sorted(i[0, :2].tolist()) == [1, 2] and i[0, 2] == -1 and np.isneginf(s[0, 2])


def test_bad_input_is_a_clear_error(tmp_path):
    idx = VectorIndex(4)
    with pytest.raises(PictorchError, match="dimension 3"):
        idx.add(np.ones((2, 3)), [1, 2])
    with pytest.raises(PictorchError, match="unique"):
        idx.add(np.ones((2, 4)), [1, 1])
    with pytest.raises(PictorchError, match="NaN"):
        idx.add(np.full((1, 4), np.nan), [1])
    with pytest.raises(PictorchError, match="unknown index kind"):
        VectorIndex(4, "annoy")
    bad = tmp_path / "bad.faiss"
    bad.write_bytes(b"not an index at all")
    with pytest.raises(PictorchError, match="damaged"):
        VectorIndex.load(bad)
    good = VectorIndex(4)
    good.add(np.eye(4), np.arange(4))
    good.save(tmp_path / "t.faiss")
    data = (tmp_path / "t.faiss").read_bytes()
    (tmp_path / "t.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(PictorchError, match="damaged"):
        VectorIndex.load(tmp_path / "t.faiss")
