"""Search by code vs brute force, leave-one-out Recall@1, slerp, PCA reconstruction optimality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pictorch.tasks.autoencode import api


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_nearest_neighbours_match_brute_force(metric):
    rng = np.random.default_rng(0)
    db, q = rng.normal(size=(300, 12)).astype("f4"), rng.normal(size=(9, 12)).astype("f4")
    scores, ids = api.nearest_neighbours(db, q, 4, metric=metric)
    if metric == "l2":
        d = ((q[:, None] - db[None]) ** 2).sum(-1)
        ref = np.argsort(d, axis=1)[:, :4]
        np.testing.assert_allclose(scores, np.take_along_axis(d, ref, 1), rtol=1e-4, atol=1e-4)
    else:
        s = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (db / np.linalg.norm(db, axis=1, keepdims=True)).T
        ref = np.argsort(-s, axis=1)[:, :4]
        np.testing.assert_allclose(scores, np.take_along_axis(s, ref, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(ids, ref)


def test_recall_at_1_leave_one_out():
    # two tight clusters + one item of class 0 sitting inside cluster 1
    a = np.zeros((5, 2), "f4") + np.arange(5)[:, None] * 0.01
    b = np.ones((5, 2), "f4") * 10 + np.arange(5)[:, None] * 0.01
    x = np.concatenate([a, b, [[10.02, 10.0]]]).astype("f4")
    labels = np.array([0] * 5 + [1] * 5 + [0])
    assert api.recall_at_1(x, labels) == pytest.approx(10 / 11)  # the odd one out finds a class-1 neighbour
    # no item may count itself
    assert api.recall_at_1(np.eye(4, dtype="f4"), np.arange(4)) == 0.0


def test_slerp_endpoints_and_norms():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 1.0])
    path = api.slerp(a, b, torch.linspace(0, 1, 5))
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)
    torch.testing.assert_close(path.norm(dim=1), torch.linspace(3, 1, 5))
    mid = path[2] / path[2].norm()
    torch.testing.assert_close(mid, torch.tensor([1.0, 1.0]) / 2**0.5)  # halfway along the arc
    torch.testing.assert_close(api.slerp(a, 2 * a, torch.tensor([0.5]))[0], 1.5 * a)  # parallel: lerp


def test_pca_reconstruct_is_optimal_rank_k():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 10, generator=g) * torch.linspace(3, 0.1, 10)
    rec = api.pca_reconstruct(x, x, [3, 10])
    torch.testing.assert_close(rec[10], x, atol=1e-4, rtol=1e-4)
    centered = x - x.mean(0)
    s = torch.linalg.svdvals(centered)
    err = ((rec[3] - x) ** 2).sum()
    torch.testing.assert_close(err, (s[3:] ** 2).sum(), rtol=1e-4, atol=1e-3)  # Eckart-Young
