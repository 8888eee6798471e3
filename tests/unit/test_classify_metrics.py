"""Classification metrics against scikit-learn and brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pictorch.metrics.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
    precision_recall_f1,
    top_k_accuracy,
)

sk = pytest.importorskip("sklearn.metrics")


@pytest.fixture
def preds():
    rng = np.random.default_rng(0)
    k = 5
    y = rng.integers(0, k, 300)
    scores = rng.normal(size=(300, k))
    scores[np.arange(300), y] += 1.0  # better than chance, not perfect
    y[:3] = 4  # make sure class 4 occurs
    scores[:, 3] -= 10  # class 3 is never predicted: precision 0 by convention
    return y, scores, k


def test_accuracy_and_confusion_match_sklearn(preds):
    y, scores, k = preds
    pred = scores.argmax(1)
    assert accuracy(y, pred) == pytest.approx(sk.accuracy_score(y, pred))
    assert accuracy(torch.from_numpy(y), torch.from_numpy(scores)) == pytest.approx(sk.accuracy_score(y, pred))
    np.testing.assert_array_equal(confusion_matrix(y, pred, k), sk.confusion_matrix(y, pred, labels=range(k)))


def test_per_class_prf_match_sklearn(preds):
    y, scores, k = preds
    pred = scores.argmax(1)
    ours = precision_recall_f1(y, pred, k)
    p, r, f, s = sk.precision_recall_fscore_support(y, pred, labels=range(k), zero_division=0)
    np.testing.assert_allclose(ours["precision"], p)
    np.testing.assert_allclose(ours["recall"], r)
    np.testing.assert_allclose(ours["f1"], f)
    np.testing.assert_array_equal(ours["support"], s)
    assert ours["precision"][3] == 0.0


def test_top_k_matches_brute_force_and_sklearn(preds):
    y, scores, k = preds
    for kk in (1, 2, 3, 4):
        brute = np.mean([y[i] in np.argsort(-scores[i], kind="stable")[:kk] for i in range(len(y))])
        assert top_k_accuracy(y, scores, kk) == pytest.approx(brute)
        assert top_k_accuracy(y, scores, kk) == pytest.approx(sk.top_k_accuracy_score(y, scores, k=kk,
                                                                                   labels=range(k)))
    assert top_k_accuracy(y, scores, 50) == 1.0


def test_report_macro_weighted_and_hand_built_case():
    y = [0, 0, 1, 1, 2]
    pred = [0, 1, 1, 1, 0]
    rep = classification_report(y, pred, classes=["a", "b", "c"])
    # class a: tp 1, predicted 2, support 2 -> p .5 r .5; b: tp 2 of 3 predicted -> p 2/3 r 1; c: 0
    assert rep["per_class"][0]["precision"] == pytest.approx(0.5)
    assert rep["per_class"][1]["precision"] == pytest.approx(2 / 3) and rep["per_class"][1]["recall"] == 1.0
    assert rep["per_class"][2]["f1"] == 0.0
    assert rep["accuracy"] == pytest.approx(0.6)
    assert rep["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    p, r, f, _ = sk.precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    assert rep["macro"]["f1"] == pytest.approx(f) and rep["macro"]["precision"] == pytest.approx(p)
    p, r, f, _ = sk.precision_recall_fscore_support(y, pred, average="weighted", zero_division=0)
    assert rep["weighted"]["recall"] == pytest.approx(r) and rep["weighted"]["f1"] == pytest.approx(f)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], num_classes=2)
