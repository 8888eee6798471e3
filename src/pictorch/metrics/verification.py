"""Verification metrics on pairs of embeddings: ROC, AUC, EER, TAR@FAR and the LFW 10-fold accuracy.

Convention: a *score* is a similarity (higher = more likely the same identity); a pair is accepted as
"same" when ``score >= threshold``. ``labels`` are 1 for genuine (same identity) pairs, 0 for impostors.
Also here: building balanced pairs from a labelled set, and reading LFW-format ``pairs.txt`` files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pictorch.errors import DataError


def _np(x: Any, dtype: Any = np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=dtype).reshape(-1)


def _check(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s, y = _np(scores), _np(labels, np.int64)
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.shape[0]}) and labels ({y.shape[0]}) differ in length")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (impostor) or 1 (genuine)")
    if (y == 1).sum() == 0 or (y == 0).sum() == 0:
        raise DataError("verification needs both genuine and impostor pairs")
    return s, y


def roc(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve of a similarity score.

    Args:
        scores: Similarity per pair (N).
        labels: 1 genuine / 0 impostor (N).

    Returns:
        ``(fpr, tpr, thresholds)``: thresholds strictly decreasing, starting at +inf (accept nothing);
        ``fpr[i]``/``tpr[i]`` are the rates when accepting ``score >= thresholds[i]``. Ties share one point.
    """
    s, y = _check(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # last index of each run of equal scores: the operating points
    distinct = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp = np.cumsum(y)[distinct]
    fp = (distinct + 1) - tp
    tpr = np.r_[0.0, tp / tp[-1]]
    fpr = np.r_[0.0, fp / fp[-1]]
    thr = np.r_[np.inf, s[distinct]]
    return fpr, tpr, thr


def auc(fpr: Any, tpr: Any) -> float:
    """Area under a curve given by increasing ``fpr`` (trapezoid rule)."""
    x, y = _np(fpr), _np(tpr)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def roc_auc(scores: Any, labels: Any) -> float:
    """ROC AUC: probability that a random genuine pair outscores a random impostor (ties count 1/2)."""
    fpr, tpr, _ = roc(scores, labels)
    return auc(fpr, tpr)


def eer(scores: Any, labels: Any) -> tuple[float, float]:
    """Equal error rate: where the false-accept rate equals the false-reject rate.

    Returns:
        ``(eer, threshold)``; the EER is interpolated linearly between the two ROC points around the crossing.
    """
    fpr, tpr, thr = roc(scores, labels)
    fnr = 1.0 - tpr
    diff = fpr - fnr  # increases from -1 to +1 along the curve
    i = int(np.searchsorted(diff, 0.0))
    if i == 0:
        return float(fpr[0]), float(thr[1] if thr.size > 1 else thr[0])
    if i >= diff.size:
        return float(fpr[-1]), float(thr[-1])
    d0, d1 = diff[i - 1], diff[i]
    w = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    rate = fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    t = thr[i] if not np.isfinite(thr[i - 1]) else thr[i - 1] + w * (thr[i] - thr[i - 1])
    return float(rate), float(t)


def tar_at_far(scores: Any, labels: Any, far: float) -> tuple[float, float]:
    """True-accept rate at a false-accept rate of at most ``far``.

    Returns:
        ``(tar, threshold)`` of the best operating point with ``fpr <= far`` (the threshold is +inf when
        even the single highest impostor score exceeds the budget and nothing can be accepted).
    """
    fpr, tpr, thr = roc(scores, labels)
    ok = np.nonzero(fpr <= far + 1e-12)[0]
    i = int(ok[-1])
    return float(tpr[i]), float(thr[i])


def best_threshold(scores: Any, labels: Any) -> tuple[float, float]:
    """The accuracy-maximizing threshold (midpoint between neighbouring scores) and that accuracy."""
    s, y = _np(scores), _np(labels, np.int64)
    u = np.unique(s)
    cands = np.r_[u[0] - 1e-6, (u[1:] + u[:-1]) / 2.0, u[-1] + 1e-6] if u.size else np.array([0.0])
    # accuracy(t) = (#genuine >= t + #impostor < t) / n, computed for all candidates via sorted counts
    gen = np.sort(s[y == 1])
    imp = np.sort(s[y == 0])
    tp = gen.size - np.searchsorted(gen, cands, side="left")
    tn = np.searchsorted(imp, cands, side="left")
    acc = (tp + tn) / max(s.size, 1)
    i = int(np.argmax(acc))
    return float(cands[i]), float(acc[i])


def lfw_10fold_accuracy(scores: Any, labels: Any, folds: int = 10) -> dict[str, Any]:
    """The LFW protocol: split pairs into ``folds`` consecutive folds; for each, pick the threshold that is
    most accurate on the other folds and measure accuracy on it.

    Returns:
        ``{"accuracy": mean, "std": std, "thresholds": [...], "fold_accuracies": [...]}``.
    """
    s, y = _check(scores, labels)
    if s.size < folds:
        raise DataError(f"{s.size} pairs are too few for {folds}-fold accuracy")
    bounds = np.linspace(0, s.size, folds + 1).astype(int)
    accs, thrs = [], []
    for f in range(folds):
        test = np.zeros(s.size, bool)
        test[bounds[f]:bounds[f + 1]] = True
        t, _ = best_threshold(s[~test], y[~test])
        accs.append(float(((s[test] >= t) == (y[test] == 1)).mean()))
        thrs.append(t)
    return {"accuracy": float(np.mean(accs)), "std": float(np.std(accs)), "thresholds": thrs,
            "fold_accuracies": accs}


def verification_report(scores: Any, labels: Any, fars: Sequence[float] = (1e-2, 1e-3)) -> dict[str, float]:
    """All pair metrics at once: 10-fold accuracy, AUC, EER and TAR at each FAR (keys ``tar@far=...``)."""
    s, y = _check(scores, labels)
    out: dict[str, float] = {}
    # shuffle pairs deterministically so consecutive folds mix genuine and impostor pairs
    perm = np.random.default_rng(0).permutation(s.size)
    if s.size >= 10:
        ten = lfw_10fold_accuracy(s[perm], y[perm])
        out["accuracy_10fold"] = ten["accuracy"]
        out["accuracy_10fold_std"] = ten["std"]
        out["threshold_10fold"] = float(np.mean(ten["thresholds"]))
    out["auc"] = roc_auc(s, y)
    out["eer"], out["eer_threshold"] = eer(s, y)
    for far in fars:
        out[f"tar@far={far:g}"], out[f"threshold@far={far:g}"] = tar_at_far(s, y, far)
    out["genuine_pairs"] = float((y == 1).sum())
    out["impostor_pairs"] = float((y == 0).sum())
    return out


def _draw_pairs(n: int, budget: int, pick: Any, seen: set[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Up to ``n`` new unordered pairs from ``pick()`` (None: rejected), within ``budget`` tries."""
    out_i: list[int] = []
    out_j: list[int] = []
    tries = 0
    while len(out_i) < n and tries < budget:
        tries += 1
        ab = pick()
        if ab is None:
            continue
        key = (min(ab), max(ab))
        if key in seen:
            continue
        seen.add(key)
        out_i.append(key[0])
        out_j.append(key[1])
    return out_i, out_j


def pairs_from_labels(labels: Any, n_pairs: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced random pairs (half genuine, half impostor) over a labelled set, without repeats.

    Args:
        labels: Identity per item (N).
        n_pairs: Total pairs wanted (fewer if the set cannot supply them).
        seed: RNG seed.

    Returns:
        ``(i, j, same)`` index arrays and 0/1 labels, genuine and impostor pairs interleaved at random.

    Raises:
        DataError: When no genuine pair exists (every identity has one item) or only one identity.
    """
    y = _np(labels, np.int64)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    multi = classes[counts >= 2]
    if multi.size == 0:
        raise DataError("cannot build genuine pairs: every identity has a single image (need 2+ for some)")
    if classes.size < 2:
        raise DataError("cannot build impostor pairs: only one identity")
    by_class = {c: np.nonzero(y == c)[0] for c in multi}
    weights = np.array([len(by_class[c]) * (len(by_class[c]) - 1) / 2 for c in multi], dtype=np.float64)
    max_gen = int(weights.sum())
    max_imp = y.size * (y.size - 1) // 2 - max_gen
    # never ask for more pairs than exist: --n-pairs 100000000000 drew impostors for ever (its draw budget
    # scaled with the request)
    n_pairs = int(min(n_pairs, max_gen + max_imp))
    half = n_pairs // 2
    n_gen = min(half, max_gen)
    seen: set[tuple[int, int]] = set()
    p = weights / weights.sum()
    budget = 20 * n_pairs + 1000

    def genuine() -> tuple[int, int]:
        c = multi[rng.choice(multi.size, p=p)]
        a, b = rng.choice(by_class[c], size=2, replace=False)
        return a, b

    def impostor() -> tuple[int, int] | None:
        a, b = rng.integers(0, y.size, size=2)
        return None if y[a] == y[b] else (a, b)

    gi, gj = _draw_pairs(n_gen, budget, genuine, seen)
    ii, ij = _draw_pairs(n_pairs - len(gi) if len(gi) < half else half, budget, impostor, seen)
    i = np.array(gi + ii, dtype=np.int64)
    j = np.array(gj + ij, dtype=np.int64)
    same = np.r_[np.ones(len(gi), np.int64), np.zeros(len(ii), np.int64)]
    perm = rng.permutation(i.size)
    return i[perm], j[perm], same[perm]


@dataclass
class LFWPair:
    """One line of an LFW pairs file: two (name, image number) references and whether they match."""

    name1: str
    num1: int
    name2: str
    num2: int
    same: bool

    def paths(self, root: str | os.PathLike, ext: str = ".jpg") -> tuple[Path, Path]:
        """Image files in LFW's layout: ``root/<name>/<name>_<num:04d>.jpg``."""
        r = Path(root)
        return (r / self.name1 / f"{self.name1}_{self.num1:04d}{ext}",
                r / self.name2 / f"{self.name2}_{self.num2:04d}{ext}")


def read_lfw_pairs(path: str | os.PathLike) -> list[LFWPair]:
    """Read an LFW-format pairs file.

    Lines are ``name n1 n2`` (a genuine pair) or ``name1 n1 name2 n2`` (an impostor pair), separated by tabs
    or spaces. An optional header of one or two integers (``10 300``: folds, pairs per fold) is skipped.

    Raises:
        DataError: Missing file, a malformed line (with its number), or no pairs.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: pairs file not found")
    pairs: list[LFWPair] = []
    for lineno, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) == 3:
                pairs.append(LFWPair(parts[0], int(parts[1]), parts[0], int(parts[2]), True))
            elif len(parts) == 4:
                pairs.append(LFWPair(parts[0], int(parts[1]), parts[2], int(parts[3]), False))
            elif lineno == 1 and len(parts) <= 2 and all(x.isdigit() for x in parts):
                continue
            else:
                raise ValueError
        except ValueError:
            raise DataError(f"{p}:{lineno}: expected 'name n1 n2' or 'name1 n1 name2 n2', got {line.strip()!r}") \
                from None
    if not pairs:
        raise DataError(f"{p}: no pairs in this file")
    return pairs


__all__ = ["LFWPair", "auc", "best_threshold", "eer", "lfw_10fold_accuracy", "pairs_from_labels",
           "read_lfw_pairs", "roc", "roc_auc", "tar_at_far", "verification_report"]
