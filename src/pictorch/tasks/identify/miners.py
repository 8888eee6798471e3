"""Triplet miners (pytorch-metric-learning style): given a batch of embeddings and labels, pick the
(anchor, positive, negative) index triplets a loss should use. Miners are injected into the loss.

Distances are squared Euclidean, as in FaceNet's loss ``max(0, ‖f(a)−f(p)‖² − ‖f(a)−f(n)‖² + α)``. Mining
runs without gradients: it only chooses indices.
"""

from __future__ import annotations

import torch

from pictorch.registry import Registry

MINERS = Registry("miner")  # --miner: all, hard, semi-hard (looked up by make_miner)


def pairwise_sq_dist(emb: torch.Tensor) -> torch.Tensor:
    """B×B squared Euclidean distances (clamped at 0 against rounding)."""
    sq = (emb * emb).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * emb @ emb.T).clamp_min(0.0)


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.numel(), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


class TripletMiner:
    """Base class: ``miner(emb, labels) -> (a, p, n)`` int64 index tensors of equal length."""

    name = "base"

    def __call__(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return self.mine(emb.detach().float(), labels)

    def mine(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    @classmethod
    def from_options(cls, margin: float = 0.2) -> TripletMiner:
        """Build from the CLI options (as the losses do); a miner without a margin ignores it."""
        return cls()


@MINERS.register("all")
class AllTripletsMiner(TripletMiner):
    """Every valid triplet: a ≠ p with the same label, n with another label."""

    name = "all"

    def mine(self, emb, labels):
        pos, neg = _masks(labels)
        valid = pos[:, :, None] & neg[:, None, :]
        a, p, n = valid.nonzero(as_tuple=True)
        return a, p, n


@MINERS.register("hard")
class HardMiner(TripletMiner):
    """Batch-hard: per anchor, the farthest positive (argmax d(a,p)) and the closest negative (argmin d(a,n)).

    Anchors without a positive or a negative in the batch are skipped.
    """

    name = "hard"

    def mine(self, emb, labels):
        d = pairwise_sq_dist(emb)
        pos, neg = _masks(labels)
        ok = pos.any(1) & neg.any(1)
        p = d.masked_fill(~pos, -float("inf")).argmax(1)
        n = d.masked_fill(~neg, float("inf")).argmin(1)
        a = torch.arange(labels.numel(), device=labels.device)
        return a[ok], p[ok], n[ok]


@MINERS.register("semi-hard")
class SemiHardMiner(TripletMiner):
    """FaceNet's semi-hard negatives: for every positive pair (a, p), negatives with
    ``d(a,p) < d(a,n) < d(a,p) + α`` (farther than the positive, yet inside the margin).

    Args:
        margin: α, the triplet loss margin.
        hardest_only: Keep only the closest such negative per (a, p) (FaceNet's choice) instead of all.
    """

    name = "semi-hard"

    def __init__(self, margin: float = 0.2, hardest_only: bool = False):
        self.margin = float(margin)
        self.hardest_only = hardest_only

    @classmethod
    def from_options(cls, margin: float = 0.2) -> TripletMiner:
        return cls(margin)

    def mine(self, emb, labels):
        d = pairwise_sq_dist(emb)
        pos, neg = _masks(labels)
        dap = d[:, :, None]
        dan = d[:, None, :]
        valid = pos[:, :, None] & neg[:, None, :] & (dan > dap) & (dan < dap + self.margin)
        if not self.hardest_only:
            return valid.nonzero(as_tuple=True)
        cost = dan.expand_as(valid).masked_fill(~valid, float("inf"))
        best = cost.argmin(2)
        has = valid.any(2)
        a, p = has.nonzero(as_tuple=True)
        return a, p, best[a, p]


def make_miner(name: str, margin: float = 0.2) -> TripletMiner:
    """A miner by name: ``all``, ``hard`` or ``semi-hard``."""
    key = name.replace("_", "-").lower()
    if key == "semihard":
        key = "semi-hard"
    return MINERS.get(key).from_options(margin)  # an unknown name: one line with the close ones and all known


__all__ = ["AllTripletsMiner", "HardMiner", "MINERS", "SemiHardMiner", "TripletMiner", "make_miner",
           "pairwise_sq_dist"]
