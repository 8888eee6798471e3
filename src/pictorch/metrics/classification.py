"""Classification metrics: accuracy, top-k accuracy, confusion matrix, per-class precision/recall/F1.

Inputs are label vectors (int, N) or score matrices (float, N×K), as torch tensors, numpy arrays or lists.
Everything is computed exactly (no sampling); the conventions follow scikit-learn's (a class that is never
predicted has precision 0, a class that never occurs has recall 0, F1 = 0 where precision + recall = 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def _labels(x: Any, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim != 1:
        raise ValueError(f"{what} must be a 1-d label vector, got shape {tuple(t.shape)}")
    return t.long().cpu()


def _check_pair(y_true: Any, y_pred: Any) -> tuple[torch.Tensor, torch.Tensor]:
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"y_true has {len(t)} labels but y_pred has {len(p)}")
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of predictions equal to the true label (``y_pred`` labels, or N×K scores: argmax)."""
    pred = torch.as_tensor(np.asarray(y_pred) if not isinstance(y_pred, torch.Tensor) else y_pred)
    if pred.ndim == 2:
        pred = pred.argmax(1)
    t, p = _check_pair(y_true, pred)
    if len(t) == 0:
        return float("nan")
    return float((t == p).double().mean())


def top_k_accuracy(y_true: Any, scores: Any, k: int = 5) -> float:
    """Fraction of samples whose true label is among the ``k`` highest scores (N×K scores).

    Ties are broken by class index (lower first), as ``torch.topk`` on a stable sort would; with ``k`` at least
    the number of classes the result is 1.
    """
    s = torch.as_tensor(np.asarray(scores) if not isinstance(scores, torch.Tensor) else scores).float().cpu()
    t = _labels(y_true, "y_true")
    if s.ndim != 2 or len(s) != len(t):
        raise ValueError(f"scores must be N×K with N = {len(t)}, got shape {tuple(s.shape)}")
    if len(t) == 0:
        return float("nan")
    k = min(int(k), s.shape[1])
    order = torch.sort(s, dim=1, descending=True, stable=True).indices[:, :k]
    return float((order == t[:, None]).any(1).double().mean())


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """K×K counts: row = true class, column = predicted class (int64 numpy array)."""
    t, p = _check_pair(y_true, y_pred)
    k = int(num_classes) if num_classes is not None else int(max(int(t.max()) if len(t) else -1,
                                                                 int(p.max()) if len(p) else -1) + 1)
    if len(t) and (int(t.min()) < 0 or int(p.min()) < 0 or int(t.max()) >= k or int(p.max()) >= k):
        raise ValueError(f"labels must be in [0, {k})")
    cm = torch.bincount(t * k + p, minlength=k * k).view(k, k)
    return cm.numpy().astype(np.int64)


def precision_recall_f1(y_true: Any, y_pred: Any, num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support (arrays of length K) from labels."""
    cm = confusion_matrix(y_true, y_pred, num_classes).astype(np.float64)
    return prf_from_confusion(cm)


def prf_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix (rows = true)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted = cm.sum(0)
    support = cm.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def classification_report(y_true: Any, scores_or_pred: Any, classes: Sequence[str] | None = None,
                          top_k: Sequence[int] = (1, 3, 5)) -> dict[str, Any]:
    """Everything :func:`pictorch.tasks.classify` reports about predictions, JSON-ready.

    Args:
        y_true: True labels (N).
        scores_or_pred: N×K scores/probabilities (enables top-k) or predicted labels (N).
        classes: Class names (length K); default "0", "1", ...
        top_k: k values for top-k accuracy (those above 1 and below K are reported).

    Returns:
        ``{"accuracy", "top_k": {k: acc}, "macro": {precision, recall, f1}, "weighted": {...},
        "per_class": [{"class", "precision", "recall", "f1", "support"}], "confusion": K×K list, "count"}``.
    """
    s = torch.as_tensor(np.asarray(scores_or_pred) if not isinstance(scores_or_pred, torch.Tensor)
                        else scores_or_pred)
    pred = s.argmax(1) if s.ndim == 2 else s
    k = len(classes) if classes is not None else (s.shape[1] if s.ndim == 2 else None)
    cm = confusion_matrix(y_true, pred, k)
    k = cm.shape[0]
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    prf = prf_from_confusion(cm)
    support = prf["support"].astype(np.float64)
    total = support.sum()
    out: dict[str, Any] = {"count": int(total), "accuracy": accuracy(y_true, pred), "top_k": {}}
    if s.ndim == 2:
        for kk in top_k:
            if 1 < kk < k:
                out["top_k"][int(kk)] = top_k_accuracy(y_true, s, kk)
    present = support > 0
    out["macro"] = {m: float(prf[m][present].mean()) if present.any() else float("nan")
                    for m in ("precision", "recall", "f1")}
    out["weighted"] = {m: float((prf[m] * support).sum() / total) if total else float("nan")
                       for m in ("precision", "recall", "f1")}
    out["per_class"] = [{"class": names[i], "precision": float(prf["precision"][i]),
                         "recall": float(prf["recall"][i]), "f1": float(prf["f1"][i]),
                         "support": int(prf["support"][i])} for i in range(k)]
    out["confusion"] = cm.tolist()
    return out


__all__ = ["accuracy", "classification_report", "confusion_matrix", "precision_recall_f1", "prf_from_confusion",
           "top_k_accuracy"]
