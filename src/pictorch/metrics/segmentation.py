"""Segmentation metrics with segmentation_models_pytorch's definitions (``smp.metrics``).

:func:`get_stats` counts true/false positives/negatives per image and class (N×C); the scores
(:func:`iou_score`, :func:`dice_score` = F1, :func:`accuracy`, :func:`precision`, :func:`recall`) reduce
them as smp does:

* ``"micro"``: sum the counts over images and classes, then score;
* ``"macro"``: sum over images, score per class, mean over classes (``class_weights``: weighted mean);
* ``"weighted"``: as macro, classes weighted by their support (tp + fn);
* ``"micro-imagewise"``: sum over classes per image, score per image, mean over images;
* ``"macro-imagewise"``: score per image and class, mean over classes, then over images;
* ``"none"``: the N×C scores.

A 0/0 score (a class absent from both prediction and target) becomes ``zero_division`` (smp's default 0).
Binary mode counts the foreground class only (C = 1); multi-class mode every class. Pixels whose target
is ``ignore_index`` are not counted. :func:`pixel_accuracy` is the share of scored pixels labelled right
(in multi-class mode smp's micro ``accuracy`` also counts true negatives and is not this).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from pictorch.errors import ConfigError

REDUCTIONS = ("micro", "macro", "weighted", "micro-imagewise", "macro-imagewise", "none")
Stats = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def confusion_matrices(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                       ignore_index: int | None = None) -> torch.Tensor:
    """Per-image confusion matrices N×K×K (rows: target class, columns: predicted class).

    Args:
        pred: Predicted class indices N×H×W (or N×…).
        target: True class indices, same shape.
        num_classes: K.
        ignore_index: Target value left out.

    Raises:
        ConfigError: Shapes differ, or a value lies outside ``[0, K)`` (other than ``ignore_index``).
    """
    if pred.shape != target.shape:
        raise ConfigError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    k = int(num_classes)
    n = pred.shape[0] if pred.ndim else 1
    p = pred.reshape(n, -1).long()
    t = target.reshape(n, -1).long()
    valid = torch.ones_like(t, dtype=torch.bool) if ignore_index is None else t != ignore_index
    bad = valid & ((t < 0) | (t >= k) | (p < 0) | (p >= k))
    if bad.any():
        raise ConfigError(f"class values outside 0..{k - 1} (e.g. target {int(t[bad][0])}, prediction "
                          f"{int(p[bad][0])})")
    flat = torch.where(valid, t * k + p, torch.full_like(t, k * k))
    offsets = torch.arange(n, device=flat.device).unsqueeze(1) * (k * k + 1)
    counts = torch.bincount((flat + offsets).reshape(-1), minlength=n * (k * k + 1))
    return counts.reshape(n, k * k + 1)[:, : k * k].reshape(n, k, k)


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int | None = None) -> torch.Tensor:
    """The K×K confusion matrix summed over all images (rows: target, columns: prediction)."""
    return confusion_matrices(pred, target, num_classes, ignore_index).sum(0)


def get_stats(pred: torch.Tensor, target: torch.Tensor, mode: str, num_classes: int | None = None,
              ignore_index: int | None = None) -> Stats:
    """True/false positive/negative counts per image and class, as ``smp.metrics.get_stats``.

    Args:
        pred: Class indices N×H×W (binary: 0/1).
        target: Class indices N×H×W.
        mode: ``"binary"`` (C = 1: the foreground class 1) or ``"multiclass"`` (C = ``num_classes``).
        num_classes: Classes (multiclass).
        ignore_index: Target value left out.

    Returns:
        ``(tp, fp, fn, tn)``, int64 tensors N×C.
    """
    if mode not in ("binary", "multiclass"):
        raise ConfigError(f"unknown metric mode {mode!r}; known: binary, multiclass")
    k = 2 if mode == "binary" else int(num_classes or 0)
    if k < 1:
        raise ConfigError("multiclass metrics need num_classes")
    cm = confusion_matrices(pred, target, k, ignore_index)
    tp = torch.diagonal(cm, dim1=1, dim2=2)
    fp = cm.sum(1) - tp
    fn = cm.sum(2) - tp
    tn = cm.sum((1, 2)).unsqueeze(1) - tp - fp - fn
    if mode == "binary":
        return tp[:, 1:], fp[:, 1:], fn[:, 1:], tn[:, 1:]
    return tp, fp, fn, tn


def _zero_div(x: torch.Tensor, value: float) -> torch.Tensor:
    return torch.where(torch.isnan(x), torch.full_like(x, float(value)), x)


def _reduce(fn: Callable[..., torch.Tensor], tp: torch.Tensor, fp: torch.Tensor, fn_: torch.Tensor,
            tn: torch.Tensor, reduction: str, class_weights: Sequence[float] | None, zero_division: float
            ) -> torch.Tensor:
    tp, fp, fn_, tn = (v.double() for v in (tp, fp, fn_, tn))
    if reduction == "micro":
        return _zero_div(fn(tp.sum(), fp.sum(), fn_.sum(), tn.sum()), zero_division)
    if reduction in ("macro", "weighted"):
        score = _zero_div(fn(tp.sum(0), fp.sum(0), fn_.sum(0), tn.sum(0)), zero_division)
        if reduction == "weighted":
            w = (tp + fn_).sum(0)
            return (score * w).sum() / w.sum() if w.sum() > 0 else score.mean()
        if class_weights is not None:
            w = torch.as_tensor(class_weights, dtype=score.dtype)
            return (score * w).sum() / w.sum()
        return score.mean()
    if reduction == "micro-imagewise":
        return _zero_div(fn(tp.sum(1), fp.sum(1), fn_.sum(1), tn.sum(1)), zero_division).mean()
    if reduction == "macro-imagewise":
        score = _zero_div(fn(tp, fp, fn_, tn), zero_division)
        if class_weights is not None:
            w = torch.as_tensor(class_weights, dtype=score.dtype)
            return ((score * w).sum(1) / w.sum()).mean()
        return score.mean(1).mean()
    if reduction in ("none", None):
        return _zero_div(fn(tp, fp, fn_, tn), zero_division)
    raise ConfigError(f"unknown reduction {reduction!r}; known: {', '.join(REDUCTIONS)}")


def _metric(formula: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def metric(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, tn: torch.Tensor, reduction: str = "micro",
               class_weights: Sequence[float] | None = None, zero_division: float = 0.0) -> torch.Tensor:
        return _reduce(formula, tp, fp, fn, tn, reduction, class_weights, zero_division)

    metric.__doc__ = f"{formula.__doc__} Reduced as described in the module docstring (float64)."
    return metric


def _iou(tp, fp, fn, tn):  # noqa: ANN001, ANN202
    """IoU (Jaccard): tp / (tp + fp + fn)."""
    return tp / (tp + fp + fn)


def _dice(tp, fp, fn, tn):  # noqa: ANN001, ANN202
    """Dice (F1): 2·tp / (2·tp + fp + fn)."""
    return 2 * tp / (2 * tp + fp + fn)


def _accuracy(tp, fp, fn, tn):  # noqa: ANN001, ANN202
    """Accuracy: (tp + tn) / (tp + fp + fn + tn)."""
    return (tp + tn) / (tp + fp + fn + tn)


def _precision(tp, fp, fn, tn):  # noqa: ANN001, ANN202
    """Precision: tp / (tp + fp)."""
    return tp / (tp + fp)


def _recall(tp, fp, fn, tn):  # noqa: ANN001, ANN202
    """Recall: tp / (tp + fn)."""
    return tp / (tp + fn)


iou_score = _metric(_iou)
dice_score = _metric(_dice)
f1_score = dice_score
accuracy = _metric(_accuracy)
precision = _metric(_precision)
recall = _metric(_recall)


def pixel_accuracy(pred: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None) -> float:
    """Share of scored pixels whose predicted class equals the target's."""
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    n = int(valid.sum())
    return float(((pred == target) & valid).sum()) / n if n else float("nan")


def segmentation_report(pred: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor | Sequence[torch.Tensor],
                        classes: Sequence[str], ignore_index: int | None = None) -> dict:
    """Everything ``segment evaluate`` prints: IoU and Dice (micro, macro, per image), pixel accuracy, a
    per-class table and the confusion matrix.

    Args:
        pred: Predicted class indices N×H×W, or a list of H×W maps of different sizes.
        target: True class indices, same shapes.
        classes: Class names (index order; two classes: binary, also scored on class 1 as "foreground").
        ignore_index: Target value left out.
    """
    k = len(classes)
    if isinstance(pred, torch.Tensor):
        cm = confusion_matrices(pred, target, k, ignore_index)
    else:
        if len(pred) != len(target):
            raise ConfigError(f"{len(pred)} predictions for {len(target)} targets")
        cm = torch.cat([confusion_matrices(p.unsqueeze(0), t.unsqueeze(0), k, ignore_index)
                        for p, t in zip(pred, target, strict=True)])
    tp = torch.diagonal(cm, dim1=1, dim2=2)
    fp, fn = cm.sum(1) - tp, cm.sum(2) - tp
    tn = cm.sum((1, 2)).unsqueeze(1) - tp - fp - fn
    per_iou = _zero_div(tp.sum(0).double() / (tp + fp + fn).sum(0).double(), 0.0)
    per_dice = _zero_div(2 * tp.sum(0).double() / (2 * tp + fp + fn).sum(0).double(), 0.0)
    support = (tp + fn).sum(0)
    total = cm.sum(0)
    scored = int(total.sum())
    rep = {
        "classes": list(classes),
        "count": int(cm.shape[0]),
        "pixel_accuracy": float(torch.diagonal(total).sum()) / scored if scored else float("nan"),
        "miou": float(per_iou.mean()),
        "mdice": float(per_dice.mean()),
        "iou_micro": float(iou_score(tp, fp, fn, tn, "micro")),
        "iou_macro_imagewise": float(iou_score(tp, fp, fn, tn, "macro-imagewise")),
        "per_class": [{"class": c, "iou": float(per_iou[i]), "dice": float(per_dice[i]),
                       "pixels": int(support[i])} for i, c in enumerate(classes)],
        "confusion": total.tolist(),
    }
    if k == 2:  # binary: the foreground scores, micro over the set and per image (smp's binary mode)
        ftp, ffp, ffn, ftn = tp[:, 1:], fp[:, 1:], fn[:, 1:], tn[:, 1:]
        rep["foreground"] = {
            "iou": float(iou_score(ftp, ffp, ffn, ftn, "micro")),
            "dice": float(dice_score(ftp, ffp, ffn, ftn, "micro")),
            "iou_per_image": float(iou_score(ftp, ffp, ffn, ftn, "micro-imagewise")),
            "precision": float(precision(ftp, ffp, ffn, ftn, "micro")),
            "recall": float(recall(ftp, ffp, ffn, ftn, "micro")),
        }
    return rep
