"""Segmentation losses against brute-force per-pixel loops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pictorch.errors import ConfigError
from pictorch.losses.segmentation import (
    CrossEntropy,
    DiceLoss,
    FocalLoss,
    JaccardLoss,
    TverskyLoss,
    build_loss,
)

TORCH_THREADS = 1


def _data(k: int, seed: int = 0, ignore: bool = True):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, k, 5, 6, generator=g, dtype=torch.float64).float()
    target = torch.randint(0, max(k, 2), (2, 5, 6), generator=g)
    if k == 3:
        target[target == 2] = 1  # class 2 absent from the target
    if ignore:
        target[0, 0, :3] = 255
    return logits, target


def _brute_counts(logits, target, k):
    """Soft tp/fp/fn per class by looping over pixels."""
    tp, fp, fn = [0.0] * max(k, 1), [0.0] * max(k, 1), [0.0] * max(k, 1)
    b, _, h, w = logits.shape
    for n in range(b):
        for i in range(h):
            for j in range(w):
                t = int(target[n, i, j])
                if t == 255:
                    continue
                if k == 1:
                    probs = [1 / (1 + math.exp(-float(logits[n, 0, i, j])))]
                    onehot = [1.0 if t == 1 else 0.0]
                else:
                    ex = [math.exp(float(logits[n, c, i, j])) for c in range(k)]
                    probs = [e / sum(ex) for e in ex]
                    onehot = [1.0 if t == c else 0.0 for c in range(k)]
                for c in range(len(probs)):
                    tp[c] += probs[c] * onehot[c]
                    fp[c] += probs[c] * (1 - onehot[c])
                    fn[c] += (1 - probs[c]) * onehot[c]
    return tp, fp, fn


@pytest.mark.parametrize("k", [1, 3])
def test_region_losses_equal_brute_force(k):
    logits, target = _data(k)
    tp, fp, fn = _brute_counts(logits, target, k)
    present = [tp[c] + fn[c] > 0 for c in range(len(tp))]
    if k == 3:
        assert present == [True, True, False]

    def mean(vals):
        kept = [v for v, p in zip(vals, present, strict=True) if p]
        return sum(kept) / len(kept)

    dice = mean([1 - 2 * tp[c] / (2 * tp[c] + fp[c] + fn[c]) for c in range(len(tp))])
    jac = mean([1 - tp[c] / (tp[c] + fp[c] + fn[c]) for c in range(len(tp))])
    tv = mean([(1 - tp[c] / (tp[c] + 0.3 * fp[c] + 0.7 * fn[c])) ** 2 for c in range(len(tp))])
    assert DiceLoss()(logits, target).item() == pytest.approx(dice, rel=1e-5)
    assert JaccardLoss()(logits, target).item() == pytest.approx(jac, rel=1e-5)
    assert TverskyLoss(alpha=0.3, beta=0.7, gamma=2)(logits, target).item() == pytest.approx(tv, rel=1e-5)
    # Tversky with alpha = beta = 1/2 is Dice
    assert TverskyLoss()(logits, target).item() == pytest.approx(dice, rel=1e-5)


def test_dice_class_weights_weight_the_mean():
    logits, target = _data(3)
    tp, fp, fn = _brute_counts(logits, target, 3)
    per = [1 - 2 * tp[c] / (2 * tp[c] + fp[c] + fn[c]) for c in range(3)]
    w = [1.0, 3.0, 5.0]
    expect = (w[0] * per[0] + w[1] * per[1]) / (w[0] + w[1])  # class 2 absent: left out
    assert DiceLoss(class_weights=w)(logits, target).item() == pytest.approx(expect, rel=1e-5)


def test_cross_entropy_and_bce_with_ignore_and_weights():
    logits, target = _data(3)
    valid = target != 255
    w = torch.tensor([1.0, 2.0, 0.5])
    lp = logits.log_softmax(1)
    t = torch.where(valid, target, 0)
    nll = -lp.gather(1, t.unsqueeze(1))[:, 0]
    expect = (nll * w[t] * valid).sum() / (w[t] * valid).sum()
    assert CrossEntropy(class_weights=w.tolist())(logits, target).item() == pytest.approx(expect.item(), rel=1e-5)

    lb, tb = _data(1)
    vb = tb != 255
    p = torch.sigmoid(lb[:, 0]).double()
    y = (tb == 1).double()
    per = -(y * p.log() + (1 - y) * (1 - p).log())
    wb = torch.where(tb == 1, 3.0, 1.0).double()
    assert CrossEntropy()(lb, tb).item() == pytest.approx(float(per[vb].mean()), rel=1e-5)
    expect = float((per * wb)[vb].sum() / wb[vb].sum())
    assert CrossEntropy(class_weights=[1.0, 3.0])(lb, tb).item() == pytest.approx(expect, rel=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_focal_equals_brute_force_and_gamma0_is_ce(k):
    logits, target = _data(k)
    valid = target != 255
    t = torch.where(valid, target, 0)
    if k == 1:
        p = torch.sigmoid(logits[:, 0]).double()
        pt = torch.where(t == 1, p, 1 - p)
    else:
        pt = logits.double().softmax(1).gather(1, t.unsqueeze(1))[:, 0]
    expect = float((-(1 - pt) ** 2 * pt.log())[valid].mean())
    assert FocalLoss(gamma=2)(logits, target).item() == pytest.approx(expect, rel=1e-5)
    assert FocalLoss(gamma=0)(logits, target).item() == pytest.approx(CrossEntropy()(logits, target).item(), rel=1e-5)


def test_build_loss_combines_named_terms():
    logits, target = _data(3)
    loss = build_loss("ce:1,dice:0.5")
    out = loss(logits, target)
    assert set(out) == {"ce", "dice", "loss"}
    assert out["loss"].item() == pytest.approx(out["ce"].item() + 0.5 * out["dice"].item(), rel=1e-6)
    assert set(build_loss("focal+jaccard+tversky")(logits, target)) == {"focal", "jaccard", "tversky", "loss"}
    for bad in ("", "dcie", "ce:x", "ce:-1"):
        with pytest.raises(ConfigError):
            build_loss(bad)


def test_losses_have_gradients_and_perfect_prediction_scores_zero():
    target = torch.randint(0, 3, (2, 8, 8))
    perfect = F.one_hot(target, 3).permute(0, 3, 1, 2).float() * 40
    for name in ("dice", "jaccard", "tversky", "focal", "ce"):
        assert build_loss(name)(perfect, target)["loss"].item() < 1e-4, name
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    build_loss("ce+dice+focal")(logits, target)["loss"].backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
