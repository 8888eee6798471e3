"""Segmentation losses: cross-entropy/BCE, Dice, Jaccard, Focal, Tversky, and weighted sums of them.

Every loss takes ``(logits, target)``: logits B×K×H×W (K = 1: binary, a foreground logit through a sigmoid;
K ≥ 2: classes through a softmax) and an integer target B×H×W whose ``ignore_index`` pixels (padding, "don't
care" borders) count for nothing. Region losses (Dice, Jaccard, Tversky) follow smp's definitions: soft
counts summed over the batch and the pixels per class, ``1 - score`` per class, classes absent from the
target (and from nothing else) left out of the mean, so an empty class cannot dominate a small batch.

:class:`CombinedLoss` adds weighted terms and returns them by name (``{"loss": total, "ce": ..., "dice":
...}``); :func:`build_loss` makes one from a spec such as ``"ce+dice"`` or ``"focal:1,dice:0.5"``, looking
each name up in the ``LOSSES`` registry (``seg.<name>``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import ConfigError
from pictorch.registry import LOSSES

IGNORE_INDEX = 255


def _weights(class_weights: Sequence[float] | torch.Tensor | None, k: int, ref: torch.Tensor) -> torch.Tensor | None:
    if class_weights is None:
        return None
    w = torch.as_tensor(class_weights, dtype=torch.float32, device=ref.device)
    if k == 1 and w.numel() == 2:  # binary: [background, foreground]; region scores see the foreground only
        return w[1:]
    if w.numel() != k:
        raise ConfigError(f"class weights: {w.numel()} values for {k} classes")
    return w


def soft_counts(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = IGNORE_INDEX
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft true-positive, false-positive and false-negative mass per class, summed over batch and pixels.

    Binary logits (K = 1) give the foreground class only, as smp's binary mode does.

    Returns:
        ``(tp, fp, fn)``, each a float tensor of K values.
    """
    logits = logits.float()
    k = logits.shape[1]
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    t = torch.where(valid, target, torch.zeros_like(target)).long()
    if k == 1:
        probs = torch.sigmoid(logits)
        onehot = (t == 1).unsqueeze(1).float()
    else:
        probs = logits.softmax(1)
        onehot = F.one_hot(t, k).permute(0, 3, 1, 2).float()
    v = valid.unsqueeze(1).float()
    probs, onehot = probs * v, onehot * v
    dims = (0, 2, 3)
    tp = (probs * onehot).sum(dims)
    fp = (probs * (1 - onehot)).sum(dims)
    fn = ((1 - probs) * onehot).sum(dims)
    return tp, fp, fn


class RegionLoss(nn.Module):
    """Base of the soft-count losses: ``1 - score(tp, fp, fn)`` per class, mean over present classes.

    Args:
        smooth: Added to numerator and denominator (0: smp's default).
        eps: Floor of the denominator.
        class_weights: Weight per class in the mean (default: equal).
        ignore_index: Target value that is not scored.
    """

    def __init__(self, smooth: float = 0.0, eps: float = 1e-7, class_weights: Sequence[float] | None = None,
                 ignore_index: int | None = IGNORE_INDEX):
        super().__init__()
        self.smooth, self.eps = float(smooth), float(eps)
        self.class_weights = None if class_weights is None else list(class_weights)
        self.ignore_index = ignore_index

    def score(self, tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def per_class(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-class losses and which classes occur in the target."""
        tp, fp, fn = soft_counts(logits, target, self.ignore_index)
        return 1.0 - self.score(tp, fp, fn), (tp + fn) > 0

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss, present = self.per_class(logits, target)
        w = _weights(self.class_weights, loss.numel(), loss)
        m = present.float() if w is None else present.float() * w
        return (loss * m).sum() / m.sum().clamp_min(1e-12) if m.sum() > 0 else loss.sum() * 0.0


@LOSSES.register("seg.dice", tags=("segmentation",))
class DiceLoss(RegionLoss):
    """Soft Dice: ``1 - 2·tp / (2·tp + fp + fn)`` per class (Milletari et al. 2016; smp's DiceLoss)."""

    def score(self, tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
        return (2 * tp + self.smooth) / (2 * tp + fp + fn + self.smooth).clamp_min(self.eps)


@LOSSES.register("seg.jaccard", tags=("segmentation",))
class JaccardLoss(RegionLoss):
    """Soft Jaccard (IoU): ``1 - tp / (tp + fp + fn)`` per class."""

    def score(self, tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
        return (tp + self.smooth) / (tp + fp + fn + self.smooth).clamp_min(self.eps)


@LOSSES.register("seg.tversky", tags=("segmentation",))
class TverskyLoss(RegionLoss):
    """Tversky (Salehi et al. 2017): ``(1 - tp / (tp + α·fp + β·fn))**γ``; α = β = ½ is Dice, β > α
    punishes missed foreground more (thin or rare structures).

    Args:
        alpha: Weight of false positives.
        beta: Weight of false negatives.
        gamma: Focal exponent (1: plain Tversky).
        **kw: See :class:`RegionLoss`.
    """

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, gamma: float = 1.0, **kw):
        super().__init__(**kw)
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)

    def score(self, tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
        return (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth).clamp_min(self.eps)

    def per_class(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, present = super().per_class(logits, target)
        return loss.clamp_min(0) ** self.gamma, present


@LOSSES.register("seg.ce", tags=("segmentation",))
class CrossEntropy(nn.Module):
    """Pixel-wise cross-entropy (softmax, K ≥ 2) or binary cross-entropy (sigmoid, K = 1), mean over the
    scored pixels.

    Args:
        class_weights: Weight per class (binary: ``[w_background, w_foreground]``).
        ignore_index: Target value that is not scored.
        label_smoothing: Softmax label smoothing (K ≥ 2).
    """

    def __init__(self, class_weights: Sequence[float] | None = None, ignore_index: int | None = IGNORE_INDEX,
                 label_smoothing: float = 0.0):
        super().__init__()
        self.class_weights = None if class_weights is None else list(class_weights)
        self.ignore_index = ignore_index
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        k = logits.shape[1]
        if k > 1:
            w = _weights(self.class_weights, k, logits)
            return F.cross_entropy(logits, target.long(), weight=w, label_smoothing=self.label_smoothing,
                                   ignore_index=-100 if self.ignore_index is None else self.ignore_index)
        valid = torch.ones_like(target, dtype=torch.bool) if self.ignore_index is None else target != self.ignore_index
        y = (target == 1).float()
        per_pixel = F.binary_cross_entropy_with_logits(logits[:, 0], y, reduction="none")
        w = None if self.class_weights is None else torch.as_tensor(self.class_weights, dtype=torch.float32,
                                                                     device=logits.device)
        if w is not None and w.numel() != 2:
            raise ConfigError(f"binary cross-entropy takes 2 class weights (background, foreground), got {w.numel()}")
        weight = valid.float() if w is None else valid.float() * torch.where(target == 1, w[1], w[0])
        return (per_pixel * weight).sum() / (valid.float() if w is None else weight).sum().clamp_min(1.0)


LOSSES.register("seg.bce", tags=("segmentation",))(type("BinaryCrossEntropy", (CrossEntropy,), {
    "__doc__": "Alias of :class:`CrossEntropy` (binary with one output channel).", "__module__": __name__}))


@LOSSES.register("seg.focal", tags=("segmentation",))
class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): ``-α_t (1 - p_t)**γ log p_t``, mean over the scored pixels; easy pixels
    (p_t near 1) fade out, so a large easy background does not swamp a small foreground.

    Args:
        gamma: Focusing exponent (0: cross-entropy).
        alpha: Binary: weight of the foreground (background ``1 - alpha``); None: no weighting.
        class_weights: Multi-class: weight per class (α_t).
        ignore_index: Target value that is not scored.
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, class_weights: Sequence[float] | None = None,
                 ignore_index: int | None = IGNORE_INDEX):
        super().__init__()
        self.gamma, self.alpha = float(gamma), alpha
        self.class_weights = None if class_weights is None else list(class_weights)
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        k = logits.shape[1]
        valid = torch.ones_like(target, dtype=torch.bool) if self.ignore_index is None else target != self.ignore_index
        t = torch.where(valid, target, torch.zeros_like(target)).long()
        if k == 1:
            y = (t == 1).float()
            logp = -F.binary_cross_entropy_with_logits(logits[:, 0], y, reduction="none")
            a = None if self.alpha is None else torch.where(t == 1, float(self.alpha), 1 - float(self.alpha))
        else:
            logp = logits.log_softmax(1).gather(1, t.unsqueeze(1))[:, 0]
            w = _weights(self.class_weights, k, logits)
            a = None if w is None else w[t]
        loss = -((1 - logp.exp()) ** self.gamma) * logp
        if a is not None:
            loss = loss * a
        v = valid.float()
        return (loss * v).sum() / v.sum().clamp_min(1.0)


class CombinedLoss(nn.Module):
    """A weighted sum of losses that also reports each term.

    Args:
        terms: ``(name, weight, loss)`` triples.

    Returns (forward):
        ``{"loss": Σ weight·term, name: term, ...}`` (the terms unweighted, for the log).
    """

    def __init__(self, terms: Sequence[tuple[str, float, nn.Module]]):
        super().__init__()
        if not terms:
            raise ConfigError("a combined loss needs at least one term")
        self.names = [n for n, _, _ in terms]
        self.weights = [float(w) for _, w, _ in terms]
        self.losses = nn.ModuleList([m for _, _, m in terms])

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total = logits.new_zeros((), dtype=torch.float32)
        for name, w, loss in zip(self.names, self.weights, self.losses, strict=True):
            v = loss(logits, target)
            out[name] = v
            total = total + w * v
        out["loss"] = total
        return out


#: Spec names accepted by :func:`build_loss` (``LOSSES`` holds them as ``seg.<name>``).
LOSS_NAMES = ("ce", "bce", "dice", "jaccard", "focal", "tversky")


def build_loss(spec: str, class_weights: Sequence[float] | None = None,
               ignore_index: int | None = IGNORE_INDEX) -> CombinedLoss:
    """A :class:`CombinedLoss` from ``"ce+dice"`` or ``"focal:1,dice:0.5"`` (``name[:weight]`` joined by
    ``+`` or ``,``; weight 1 by default).

    Raises:
        ConfigError: Unknown name or a weight that is not a non-negative number.
    """
    terms = []
    parts = [p.strip() for p in spec.replace("+", ",").split(",") if p.strip()]
    if not parts:
        raise ConfigError(f"--loss {spec!r}: name at least one of {', '.join(LOSS_NAMES)}")
    for part in parts:
        name, _, weight = part.partition(":")
        name = name.strip().lower()
        if f"seg.{name}" not in LOSSES:
            raise ConfigError(f"unknown segmentation loss {name!r} in --loss {spec!r}; known: {', '.join(LOSS_NAMES)}")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"--loss {part!r}: the weight after ':' must be a number") from None
        if w < 0:
            raise ConfigError(f"--loss {part!r}: weights must be >= 0")
        cls = LOSSES.get(f"seg.{name}")
        kw = {"ignore_index": ignore_index}
        if class_weights is not None and name in ("ce", "bce", "dice", "jaccard", "focal", "tversky"):
            kw["class_weights"] = class_weights
        terms.append((name, w, cls(**kw)))
    return CombinedLoss(terms)
