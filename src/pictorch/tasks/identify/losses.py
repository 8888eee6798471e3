"""Embedding losses that return named terms (pytorch-metric-learning style).

- :class:`TripletLoss` (FaceNet): ``max(0, ‖f(a)−f(p)‖² − ‖f(a)−f(n)‖² + α)`` over the triplets an injected
  miner picks, on L2-normalized embeddings.
- :class:`SoftmaxLoss` (DeepFace): cross-entropy of a classifier over the training identities; the
  penultimate layer is the embedding.
- :class:`ArcFaceLoss` / :class:`CosFaceLoss`: margin-based softmax on cosine logits,
  ``s·cos(θ_y + m)`` (additive angular) or ``s·(cos θ_y − m)`` (additive cosine) for the true class.

Every loss is called as ``loss(emb, labels, logits=None)`` and returns a dict whose ``loss.term`` entry is
the value to back-propagate; the other entries are diagnostics (detached).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import ConfigError
from pictorch.registry import LOSSES
from pictorch.tasks.identify.miners import AllTripletsMiner, TripletMiner, make_miner


@LOSSES.register("triplet")
class TripletLoss(nn.Module):
    """Triplet loss with an injected miner.

    Args:
        margin: α.
        miner: A :class:`TripletMiner` or its name (``all``, ``hard``, ``semi-hard``); default all triplets.
        reduction: ``"nonzero"`` averages over triplets with a positive loss (so easy triplets do not dilute
            the gradient as training progresses), ``"mean"`` over all mined triplets.
    """

    term = "triplet"
    needs_logits = False

    @classmethod
    def from_options(cls, margin: float | None = None, miner: str = "semi-hard", **_: Any) -> TripletLoss:
        """The loss of ``identify train --loss triplet --margin M --miner NAME`` (margin default 0.2)."""
        m = 0.2 if margin is None else margin
        return cls(m, make_miner(miner, m))

    def __init__(self, margin: float = 0.2, miner: TripletMiner | str | None = None, reduction: str = "nonzero"):
        super().__init__()
        if margin < 0:
            raise ConfigError(f"triplet margin must be >= 0, got {margin}")
        if reduction not in ("nonzero", "mean"):
            raise ConfigError(f"reduction must be 'nonzero' or 'mean', got {reduction!r}")
        self.margin = float(margin)
        self.miner = make_miner(miner, margin) if isinstance(miner, str) else (miner or AllTripletsMiner())
        self.reduction = reduction

    def forward(self, emb: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        emb = emb.float()
        a, p, n = self.miner(emb, labels)
        if a.numel() == 0:
            zero = emb.sum() * 0.0  # keeps the graph: a batch without triplets is a no-op step
            return {"triplet": zero, "active_triplets": zero.detach(), "mined_triplets": zero.detach()}
        dap = (emb[a] - emb[p]).pow(2).sum(1)
        dan = (emb[a] - emb[n]).pow(2).sum(1)
        per = F.relu(dap - dan + self.margin)
        active = per > 0
        if self.reduction == "mean":
            loss = per.mean()
        else:
            loss = per.sum() / active.sum().clamp_min(1)
        return {"triplet": loss, "active_triplets": active.float().mean().detach(),
                "mined_triplets": torch.tensor(float(a.numel()), device=emb.device)}


@LOSSES.register("softmax")
class SoftmaxLoss(nn.Module):
    """Cross-entropy over identities (logits from the model's linear classifier)."""

    term = "softmax"
    needs_logits = True
    head = "linear"

    @classmethod
    def from_options(cls, **_: Any) -> SoftmaxLoss:
        """The loss of ``identify train --loss softmax`` (margin, miner and scale do not apply)."""
        return cls()

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    def forward(self, emb, labels, logits=None):
        if logits is None:
            raise ConfigError("softmax loss needs a model built with num_classes > 0")
        logits = logits.float()
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(1) == labels).float().mean().detach()
        return {"softmax": loss, "train_acc": acc}


class _MarginSoftmax(nn.Module):
    needs_logits = True
    head = "cosine"

    @classmethod
    def from_options(cls, margin: float | None = None, scale: float = 30.0, **_: Any) -> _MarginSoftmax:
        """The loss of ``--loss arcface|cosface [--margin M]`` (the class's own margin when None)."""
        return cls(scale=scale) if margin is None else cls(margin=margin, scale=scale)

    def __init__(self, margin: float, scale: float = 30.0):
        super().__init__()
        self.margin = float(margin)
        self.scale = float(scale)

    def target_logit(self, cos_y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, emb, labels, logits=None):
        if logits is None:
            raise ConfigError(f"{self.term} loss needs a model built with num_classes > 0 and a cosine head")
        cos = logits.float().clamp(-1.0, 1.0)
        cos_y = cos.gather(1, labels[:, None])
        out = cos.scatter(1, labels[:, None], self.target_logit(cos_y)) * self.scale
        loss = F.cross_entropy(out, labels)
        acc = (cos.argmax(1) == labels).float().mean().detach()
        return {self.term: loss, "train_acc": acc}


@LOSSES.register("arcface")
class ArcFaceLoss(_MarginSoftmax):
    """Additive angular margin (ArcFace): the true class's logit is ``s·cos(θ + m)``.

    Where ``θ + m`` would pass π (cos no longer decreasing), the usual fallback ``cos θ − m·sin m`` keeps the
    logit monotone.
    """

    term = "arcface"

    def __init__(self, margin: float = 0.5, scale: float = 30.0):
        super().__init__(margin, scale)

    def target_logit(self, cos_y):
        m = self.margin
        sin_y = (1.0 - cos_y * cos_y).clamp_min(1e-7).sqrt()
        phi = cos_y * math.cos(m) - sin_y * math.sin(m)
        return torch.where(cos_y > math.cos(math.pi - m), phi, cos_y - m * math.sin(m))


@LOSSES.register("cosface")
class CosFaceLoss(_MarginSoftmax):
    """Additive cosine margin (CosFace / AM-softmax): the true class's logit is ``s·(cos θ − m)``."""

    term = "cosface"

    def __init__(self, margin: float = 0.35, scale: float = 30.0):
        super().__init__(margin, scale)

    def target_logit(self, cos_y):
        return cos_y - self.margin


LOSS_NAMES = ("triplet", "softmax", "arcface", "cosface")


def make_loss(name: str, margin: float | None = None, miner: str = "semi-hard", scale: float = 30.0) -> nn.Module:
    """Build a loss by name; ``margin`` None uses each loss's default (triplet 0.2, arcface 0.5, cosface 0.35)."""
    if name not in LOSS_NAMES:
        raise ConfigError(f"unknown loss {name!r}; use one of: {', '.join(LOSS_NAMES)}")
    return LOSSES.get(name).from_options(margin=margin, miner=miner, scale=scale)  # each class is registered by name


__all__ = ["LOSS_NAMES", "ArcFaceLoss", "CosFaceLoss", "SoftmaxLoss", "TripletLoss", "make_loss"]
