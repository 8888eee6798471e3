"""Verification metrics vs scikit-learn and hand-computed values; LFW pairs reader; pair building."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from pictorch.errors import DataError
from pictorch.metrics.verification import (
    best_threshold,
    eer,
    lfw_10fold_accuracy,
    pairs_from_labels,
    read_lfw_pairs,
    roc,
    roc_auc,
    tar_at_far,
    verification_report,
)


def _data(n=400, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.normal(size=n) + 1.2 * y
    if ties:
        s = np.round(s, 1)
    return s, y


@pytest.mark.parametrize("ties", [False, True])
def test_auc_and_roc_match_sklearn(ties):
    s, y = _data(ties=ties)
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, thr = roc(s, y)
    f2, t2, _ = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    assert np.all(np.diff(thr[1:]) < 0)


def test_hand_computed_small_case():
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 1, 0, 1, 0, 0])
    # pairs genuine>impostor: 0.9>all3, 0.8>all3, 0.6>0.5,0.4 -> 8 of 9
    assert roc_auc(s, y) == pytest.approx(8 / 9)
    tar, t = tar_at_far(s, y, 0.0)
    assert tar == pytest.approx(2 / 3) and t == pytest.approx(0.8)
    tar, t = tar_at_far(s, y, 1 / 3)
    assert tar == pytest.approx(1.0) and t == pytest.approx(0.6)
    t, acc = best_threshold(s, y)
    assert acc == pytest.approx(5 / 6)
    rate, _ = eer(s, y)
    assert rate == pytest.approx(1 / 3)


def test_eer_brute_force():
    s, y = _data(n=2000, seed=3)
    rate, t = eer(s, y)
    far = ((s >= t) & (y == 0)).sum() / (y == 0).sum()
    frr = ((s < t) & (y == 1)).sum() / (y == 1).sum()
    assert abs(far - frr) < 0.02 and abs(rate - (far + frr) / 2) < 0.02


def test_tar_at_far_brute_force():
    s, y = _data(n=3000, seed=1)
    for far in (1e-2, 1e-1):
        tar, t = tar_at_far(s, y, far)
        assert ((s >= t) & (y == 0)).sum() / (y == 0).sum() <= far
        assert tar == pytest.approx(((s >= t) & (y == 1)).sum() / (y == 1).sum())
        # lowering the threshold to the next impostor score would break the FAR budget
        lower = s[(y == 0) & (s < t)].max()
        assert ((s >= lower) & (y == 0)).sum() / (y == 0).sum() > far


def test_lfw_10fold_uses_held_out_threshold():
    s, y = _data(n=600, seed=2)
    res = lfw_10fold_accuracy(s, y)
    assert len(res["thresholds"]) == 10
    # brute-force the protocol
    accs = []
    for f in range(10):
        te = np.zeros(600, bool)
        te[f * 60:(f + 1) * 60] = True
        cands = np.unique(s[~te])
        best = max(cands, key=lambda t: ((s[~te] >= t) == (y[~te] == 1)).mean())
        accs.append(((s[te] >= best) == (y[te] == 1)).mean())
    assert res["accuracy"] == pytest.approx(np.mean(accs), abs=0.01)
    perfect = lfw_10fold_accuracy(np.r_[np.ones(50), np.zeros(50)], np.r_[np.ones(50), np.zeros(50)].astype(int))
    assert perfect["accuracy"] == 1.0
    rep = verification_report(s, y)
    assert {"accuracy_10fold", "auc", "eer", "tar@far=0.01", "tar@far=0.001"} <= set(rep)


def test_pairs_from_labels_balanced_and_valid():
    labels = np.repeat(np.arange(5), 20)
    i, j, same = pairs_from_labels(labels, 400, seed=0)
    assert len(i) == 400 and same.sum() == 200
    assert np.all((labels[i] == labels[j]) == (same == 1))
    assert np.all(i != j)
    assert len({(a, b) for a, b in zip(i, j, strict=True)}) == 400
    with pytest.raises(DataError, match="single image"):
        pairs_from_labels(np.arange(10), 10)


def test_read_lfw_pairs(tmp_path):
    p = tmp_path / "pairs.txt"
    p.write_text("10\t300\nAbel_Pacheco\t1\t4\nAJ_Cook\t1\tMarsha_Thomason\t1\n\n")
    pairs = read_lfw_pairs(p)
    assert [q.same for q in pairs] == [True, False]
    a, b = pairs[0].paths("/lfw")
    assert str(a) == "/lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg" and b.name == "Abel_Pacheco_0004.jpg"
    assert pairs[1].name2 == "Marsha_Thomason"
    p.write_text("Abel 1 x\n")
    with pytest.raises(DataError, match=r"pairs.txt:1"):
        read_lfw_pairs(p)
    with pytest.raises(DataError, match="not found"):
        read_lfw_pairs(tmp_path / "nope.txt")
