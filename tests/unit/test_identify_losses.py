"""Triplet loss and miners against brute-force python loops on hand-built batches; margin softmaxes."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from pictorch.tasks.identify.losses import ArcFaceLoss, CosFaceLoss, SoftmaxLoss, TripletLoss, make_loss
from pictorch.tasks.identify.miners import AllTripletsMiner, HardMiner, SemiHardMiner, make_miner


def _batch(seed=0, p=3, k=3, d=4):
    g = torch.Generator().manual_seed(seed)
    emb = F.normalize(torch.randn(p * k, d, generator=g), dim=1)
    labels = torch.arange(p).repeat_interleave(k)
    return emb, labels


def _d(x, i, j):
    return float(((x[i] - x[j]) ** 2).sum())


def _brute_triplets(x, y, kind, margin=0.2):
    n = len(y)
    out = set()
    for a in range(n):
        pos = [p for p in range(n) if p != a and y[p] == y[a]]
        neg = [m for m in range(n) if y[m] != y[a]]
        if kind == "hard":
            if pos and neg:
                p = max(pos, key=lambda j: _d(x, a, j))
                m = min(neg, key=lambda j: _d(x, a, j))
                out.add((a, p, m))
            continue
        for p, m in itertools.product(pos, neg):
            if kind == "all" or _d(x, a, p) < _d(x, a, m) < _d(x, a, p) + margin:
                out.add((a, p, m))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["all", "hard", "semi-hard"])
def test_miners_match_brute_force(seed, kind):
    x, y = _batch(seed)
    miner = make_miner(kind, margin=0.5)
    a, p, n = miner(x, y)
    got = set(zip(a.tolist(), p.tolist(), n.tolist(), strict=True))
    assert got == _brute_triplets(x, y, kind, margin=0.5)
    assert len(got) == a.numel()  # no duplicates


def test_semi_hard_inequality_on_hand_built_batch():
    # 1-D embeddings (as 2-D points on a line) so the distances are easy to check by hand
    x = torch.tensor([[0.0, 0], [0.3, 0], [0.45, 0], [0.8, 0], [2.0, 0]])
    y = torch.tensor([0, 0, 1, 1, 2])
    a, p, n = SemiHardMiner(margin=0.2)(x, y)
    trip = set(zip(a.tolist(), p.tolist(), n.tolist(), strict=True))
    # anchor 0, positive 1: d(a,p)=0.09; negatives: 2 -> 0.2025 (in (0.09, 0.29)), 3 -> 0.64, 4 -> 4
    assert (0, 1, 2) in trip and (0, 1, 3) not in trip and (0, 1, 4) not in trip
    # anchor 1, positive 0: d=0.09; negative 2: d=0.0225 < 0.09 -> hard, not semi-hard
    assert (1, 0, 2) not in trip
    for a_, p_, n_ in trip:
        assert _d(x, a_, p_) < _d(x, a_, n_) < _d(x, a_, p_) + 0.2
    hardest = SemiHardMiner(margin=1.0, hardest_only=True)
    a, p, n = hardest(x, y)
    assert (0, 1, 2) in set(zip(a.tolist(), p.tolist(), n.tolist(), strict=True))


def test_hard_miner_hand_built():
    x = torch.tensor([[0.0, 0], [1.0, 0], [0.1, 0], [3.0, 0]])
    y = torch.tensor([0, 0, 1, 1])
    a, p, n = HardMiner()(x, y)
    assert a.tolist() == [0, 1, 2, 3]
    assert p.tolist() == [1, 0, 3, 2] and n.tolist() == [2, 2, 0, 1]


@pytest.mark.parametrize("reduction", ["nonzero", "mean"])
@pytest.mark.parametrize("kind", ["all", "hard", "semi-hard"])
def test_triplet_loss_brute_force(kind, reduction):
    x, y = _batch(seed=5, p=4, k=3)
    margin = 0.3
    loss = TripletLoss(margin, make_miner(kind, margin), reduction=reduction)
    out = loss(x, y)
    trip = _brute_triplets(x, y, kind, margin)
    per = [max(0.0, _d(x, a, p) - _d(x, a, n) + margin) for a, p, n in trip]
    active = [v for v in per if v > 0]
    want = sum(per) / len(per) if reduction == "mean" else (sum(active) / max(len(active), 1))
    assert float(out["triplet"]) == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert float(out["active_triplets"]) == pytest.approx(len(active) / len(per))
    assert float(out["mined_triplets"]) == len(trip)


def test_triplet_loss_gradients_and_empty_batch():
    x, y = _batch(seed=1)
    x.requires_grad_(True)
    out = TripletLoss(0.2, AllTripletsMiner())(x, y)
    out["triplet"].backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # single identity: no negatives -> zero loss that still backpropagates
    z = torch.randn(4, 3, requires_grad=True)
    out = TripletLoss()(z, torch.zeros(4, dtype=torch.long))
    assert float(out["triplet"].detach()) == 0.0
    out["triplet"].backward()


def test_softmax_arcface_cosface():
    g = torch.Generator().manual_seed(0)
    cos = torch.rand(5, 4, generator=g) * 2 - 1
    y = torch.tensor([0, 1, 2, 3, 0])
    # CosFace: s * (cos - m) on the target
    out = CosFaceLoss(margin=0.35, scale=10.0)(None, y, cos)["cosface"]
    ref = cos.clone()
    ref[torch.arange(5), y] -= 0.35
    assert float(out) == pytest.approx(float(F.cross_entropy(10 * ref, y)), rel=1e-5)
    # ArcFace: s * cos(theta + m) on the target (brute force with acos)
    cos2 = torch.rand(5, 4, generator=g) * 1.2 - 0.2  # stay away from theta + m > pi
    out = ArcFaceLoss(margin=0.5, scale=10.0)(None, y, cos2)["arcface"]
    ref = cos2.clone()
    for i in range(5):
        ref[i, y[i]] = math.cos(math.acos(float(cos2[i, y[i]])) + 0.5)
    assert float(out) == pytest.approx(float(F.cross_entropy(10 * ref, y)), rel=1e-5)
    logits = torch.randn(5, 4, generator=g)
    sm = SoftmaxLoss()(None, y, logits)
    assert float(sm["softmax"]) == pytest.approx(float(F.cross_entropy(logits, y)))
    # margins make the loss larger than plain softmax on the same cosines
    assert float(ArcFaceLoss(scale=10.0)(None, y, cos2)["arcface"]) > float(F.cross_entropy(10 * cos2, y))
    assert make_loss("triplet", miner="hard").miner.name == "hard"


def test_miners_are_looked_up_in_their_registry():
    """``MINERS`` was a plain dict beside the registries; now a Registry, with close matches for a typo."""
    from pictorch.errors import ConfigError
    from pictorch.tasks.identify.miners import MINERS

    assert MINERS.names() == ["all", "hard", "semi-hard"]
    assert isinstance(make_miner("semihard", 0.3), SemiHardMiner) and make_miner("semi_hard", 0.3).margin == 0.3
    with pytest.raises(ConfigError, match="unknown miner 'hardd'. Did you mean hard"):
        make_miner("hardd")
