"""Segmentation metrics: smp's definitions against hand computations."""

from __future__ import annotations

import pytest
import torch

from pictorch.errors import ConfigError
from pictorch.metrics.segmentation import (
    accuracy,
    confusion_matrix,
    dice_score,
    get_stats,
    iou_score,
    pixel_accuracy,
    segmentation_report,
)

TORCH_THREADS = 1


def _brute_stats(pred, target, k, ignore=None):
    n = pred.shape[0]
    tp = torch.zeros(n, k, dtype=torch.long)
    fp, fn, tn = tp.clone(), tp.clone(), tp.clone()
    for i in range(n):
        for p, t in zip(pred[i].flatten().tolist(), target[i].flatten().tolist(), strict=True):
            if ignore is not None and t == ignore:
                continue
            for c in range(k):
                tp[i, c] += p == c and t == c
                fp[i, c] += p == c and t != c
                fn[i, c] += p != c and t == c
                tn[i, c] += p != c and t != c
    return tp, fp, fn, tn


def test_stats_equal_brute_force_with_ignore():
    g = torch.Generator().manual_seed(0)
    pred = torch.randint(0, 4, (3, 6, 7), generator=g)
    target = torch.randint(0, 4, (3, 6, 7), generator=g)
    target[1, :2] = 255
    got = get_stats(pred, target, "multiclass", num_classes=4, ignore_index=255)
    for a, b in zip(got, _brute_stats(pred, target, 4, 255), strict=True):
        assert torch.equal(a, b)
    btp, bfp, bfn, btn = get_stats((pred > 1).long(), (target > 1).long(), "binary")
    ref = _brute_stats((pred > 1).long(), (target > 1).long(), 2)
    assert torch.equal(btp, ref[0][:, 1:]) and torch.equal(btn, ref[3][:, 1:])


def test_reductions_follow_smp():
    # two images, two classes, counts chosen by hand
    tp = torch.tensor([[4, 0], [1, 2]])
    fp = torch.tensor([[1, 0], [0, 2]])
    fn = torch.tensor([[0, 0], [1, 1]])
    tn = torch.tensor([[5, 10], [8, 5]])
    # micro: sums 7 tp, 3 fp, 2 fn
    assert float(iou_score(tp, fp, fn, tn, "micro")) == pytest.approx(7 / 12)
    assert float(dice_score(tp, fp, fn, tn, "micro")) == pytest.approx(14 / 19)
    # macro: class 0: 5/(5+1+1); class 1: 2/(2+2+1)
    assert float(iou_score(tp, fp, fn, tn, "macro")) == pytest.approx((5 / 7 + 2 / 5) / 2)
    assert float(iou_score(tp, fp, fn, tn, "macro", class_weights=[1, 3])) == pytest.approx((5 / 7 + 3 * 2 / 5) / 4)
    # weighted by support (tp + fn): class 0: 6, class 1: 3
    assert float(iou_score(tp, fp, fn, tn, "weighted")) == pytest.approx((6 * 5 / 7 + 3 * 2 / 5) / 9)
    # micro-imagewise: image 0: 4/5; image 1: 3/(3+2+2)
    assert float(iou_score(tp, fp, fn, tn, "micro-imagewise")) == pytest.approx((4 / 5 + 3 / 7) / 2)
    # macro-imagewise: image 0: (4/5, 0/0 -> 0); image 1: (1/2, 2/5)
    assert float(iou_score(tp, fp, fn, tn, "macro-imagewise")) == pytest.approx(((4 / 5 + 0) / 2 + (1 / 2 + 2 / 5) / 2) / 2)
    assert float(iou_score(tp, fp, fn, tn, "macro-imagewise", zero_division=1.0)) == pytest.approx(
        ((4 / 5 + 1) / 2 + (1 / 2 + 2 / 5) / 2) / 2)
    none = iou_score(tp, fp, fn, tn, "none")
    assert none.shape == (2, 2) and float(none[1, 1]) == pytest.approx(2 / 5)
    assert float(accuracy(tp, fp, fn, tn, "micro")) == pytest.approx((7 + 28) / 40)
    with pytest.raises(ConfigError):
        iou_score(tp, fp, fn, tn, "average")


def test_pixel_accuracy_confusion_and_report():
    target = torch.tensor([[[0, 0, 1], [1, 2, 255]]])
    pred = torch.tensor([[[0, 1, 1], [1, 2, 0]]])
    assert pixel_accuracy(pred, target, 255) == pytest.approx(4 / 5)
    cm = confusion_matrix(pred, target, 3, ignore_index=255)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    rep = segmentation_report(pred, target, ["bg", "a", "b"], ignore_index=255)
    assert rep["per_class"][0]["iou"] == pytest.approx(1 / 2)
    assert rep["per_class"][1]["iou"] == pytest.approx(2 / 3)
    assert rep["miou"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert rep["confusion"] == cm.tolist()
    b = segmentation_report((pred > 0).long(), (target > 0).long().masked_fill(target == 255, 255), ["bg", "fg"], 255)
    assert b["foreground"]["iou"] == pytest.approx(3 / 4)
    assert b["foreground"]["dice"] == pytest.approx(6 / 7)


def test_out_of_range_values_fail_clearly():
    with pytest.raises(ConfigError, match="outside"):
        get_stats(torch.tensor([[0, 5]]), torch.tensor([[0, 1]]), "multiclass", num_classes=3)
    with pytest.raises(ConfigError, match="shape"):
        get_stats(torch.zeros(1, 2, 2), torch.zeros(1, 2, 3), "binary")
