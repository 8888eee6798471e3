"""Scores of an embedder's metric, and their user-facing units.

Two metrics, one convention inside pictorch: a *score* is higher for more similar faces.

* ``cosine`` (trained embedders: L2-normalized vectors): score = cosine similarity; users see the same number.
* ``l2`` (dlib-face: raw 128-d descriptors): the gallery's FAISS L2 index returns *squared* distances, so
  score = -distance²; users see (and type) the Euclidean distance, the unit dlib's authors calibrated 0.6 in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

METRICS = ("cosine", "l2")


def metric_of(embedder: Any) -> str:
    """The metric an embedder's vectors are compared with (``cosine`` unless it declares ``metric``)."""
    m = str(getattr(embedder, "metric", "cosine"))
    return m if m in METRICS else "cosine"


def pair_scores(a: Any, b: Any, metric: str = "cosine") -> np.ndarray:
    """Scores of row-aligned pairs (N×D each): cosine similarity, or -squared L2 distance."""
    x = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, np.float64)
    y = np.asarray(b.detach().cpu().numpy() if hasattr(b, "detach") else b, np.float64)
    if metric == "l2":
        return -((x - y) ** 2).sum(1)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return (x * y).sum(1)


def to_user(score: float | None, metric: str) -> float | None:
    """A score in the user's unit: cosine similarity, or L2 distance."""
    if score is None or not math.isfinite(score):
        return None if score is None else (score if metric == "cosine" else math.inf)
    return float(score) if metric == "cosine" else math.sqrt(max(0.0, -float(score)))


def from_user(value: float | None, metric: str) -> float | None:
    """A user's threshold (cosine similarity, or L2 distance) as a score threshold."""
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        from pictorch.errors import ConfigError

        raise ConfigError(f"--threshold must be a finite number, got {value}")
    if metric == "l2":
        if v < 0:
            from pictorch.errors import ConfigError

            raise ConfigError(f"--threshold is an L2 distance for this model and cannot be negative, got {v}")
        return -v * v
    return v


def unit(metric: str) -> str:
    """What a user-facing number is called: ``score`` (cosine) or ``distance`` (L2)."""
    return "distance" if metric == "l2" else "score"


def accepts(metric: str) -> str:
    """The comparison that means 'same person' in user units (for messages)."""
    return "<=" if metric == "l2" else ">="


__all__ = ["METRICS", "accepts", "from_user", "metric_of", "pair_scores", "to_user", "unit"]
