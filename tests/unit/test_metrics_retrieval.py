"""Retrieval / identification metrics against brute-force python loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pictorch.metrics.retrieval import (
    cmc,
    dir_at_far,
    map_at_r,
    open_set_rates,
    open_set_top1,
    rank1,
    recall_at_k,
)


def _emb(n=60, d=8, c=4, seed=0, noise=1.0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, c, (n,), generator=g)
    centers = torch.randn(c, d, generator=g)
    x = centers[labels] + noise * torch.randn(n, d, generator=g)
    return torch.nn.functional.normalize(x, dim=1), labels


def _sorted_neighbours(x, i):
    sim = (x @ x[i]).numpy().copy()
    sim[i] = -np.inf
    return np.argsort(-sim, kind="stable")[:-1]


def test_recall_at_k_brute_force():
    x, y = _emb()
    res = recall_at_k(x, y, ks=(1, 2, 5))
    for k in (1, 2, 5):
        hits = [any(y[j] == y[i] for j in _sorted_neighbours(x, i)[:k]) for i in range(len(y))]
        assert res[k] == pytest.approx(np.mean(hits))
    assert recall_at_k(x, y, 1) == res[1]


def test_map_at_r_brute_force_and_hand_case():
    x, y = _emb(seed=1)
    aps = []
    for i in range(len(y)):
        r = int((y == y[i]).sum()) - 1
        if r == 0:
            continue
        nb = _sorted_neighbours(x, i)[:r]
        rel = [int(y[j] == y[i]) for j in nb]
        aps.append(sum(sum(rel[:k + 1]) / (k + 1) * rel[k] for k in range(r)) / r)
    assert map_at_r(x, y) == pytest.approx(np.mean(aps), abs=1e-6)
    # the paper's example: R=4... here one query with relevant at ranks 1 and 3 of R=3 -> (1 + 2/3)/3
    q = torch.tensor([[1.0, 0.0]])
    ref = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]])
    assert map_at_r(q, torch.tensor([0]), ref, torch.tensor([0, 1, 0, 0])) == pytest.approx((1 + 2 / 3) / 3)


def test_cmc_rank1_brute_force():
    g, gl = _emb(n=20, c=5, seed=2, noise=0.5)
    q, ql = _emb(n=40, c=6, seed=3, noise=0.5)  # label 5 is not enrolled
    curve = cmc(q, ql, g, gl, max_rank=5)
    ranks = []
    for i in range(len(ql)):
        if int(ql[i]) not in set(gl.tolist()):
            continue
        sims = {c: max(float(q[i] @ g[j]) for j in range(len(gl)) if gl[j] == c) for c in set(gl.tolist())}
        true = sims[int(ql[i])]
        ranks.append(1 + sum(v > true for v in sims.values()))
    for r in range(1, 6):
        assert curve[r - 1] == pytest.approx(np.mean([x <= r for x in ranks]))
    assert rank1(q, ql, g, gl) == curve[0]
    assert np.all(np.diff(curve) >= 0)


def test_open_set_dir_at_far_hand_case():
    score = np.array([0.9, 0.8, 0.7, 0.4, 0.85, 0.5, 0.3, 0.2])
    correct = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)
    member = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    r = dir_at_far(score, correct, member, far=0.0)
    assert r["far"] == 0.0 and r["dir"] == pytest.approx(1 / 4)  # only 0.9 beats the 0.85 stranger
    r = dir_at_far(score, correct, member, far=0.25)
    assert r["far"] == 0.25 and r["dir"] == pytest.approx(2 / 4) and r["rejection_rate"] == 0.75
    r = open_set_rates(score, correct, member, 0.35)
    assert r["dir"] == pytest.approx(3 / 4) and r["far"] == pytest.approx(0.5)


def test_open_set_top1():
    g = torch.eye(3)
    gl = torch.tensor([0, 1, 2])
    q = torch.tensor([[1.0, 0.1, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5]])
    top = open_set_top1(q, torch.tensor([0, 1, 7]), g, gl)
    assert top["identity"].tolist()[:2] == [0, 2]
    assert top["member"].tolist() == [True, True, False]
    assert top["correct"].tolist() == [True, False, False]
