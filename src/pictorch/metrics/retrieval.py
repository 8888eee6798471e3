"""Retrieval and identification metrics over embeddings (cosine similarity).

- Retrieval (every item queries the others, or a query set against a reference set): Recall@k (at least one
  same-label item among the k nearest) and MAP@R (Musgrave et al., "A Metric Learning Reality Check").
- Closed-set identification against a gallery of enrolled identities: CMC curve and rank-1.
- Open-set identification: the detection-and-identification rate (DIR) at a false-alarm rate (FAR) on
  non-members, and the non-member rejection rate at a threshold.

An identity's score for a query is its best (max) similarity over the identity's enrolled embeddings.
Similarity matrices are computed in row chunks so large sets stay within memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pictorch.errors import DataError

_CHUNK = 1024


def _t(x: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def _normed(x: Any) -> torch.Tensor:
    return torch.nn.functional.normalize(_t(x), dim=1)


def _neighbours(emb: Any, labels: Any, k: int, ref_emb: Any = None, ref_labels: Any = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Labels of the k nearest references per query (self excluded when ref is None), query labels, and
    how many references share each query's label."""
    q = _normed(emb)
    ql = _t(labels, torch.int64)
    loo = ref_emb is None
    r = q if loo else _normed(ref_emb)
    rl = ql if loo else _t(ref_labels, torch.int64)
    if q.shape[0] != ql.shape[0] or r.shape[0] != rl.shape[0]:
        raise ValueError("embeddings and labels differ in length")
    k = min(k, r.shape[0] - (1 if loo else 0))
    if k < 1:
        raise DataError("retrieval needs at least two items")
    out = []
    for s in range(0, q.shape[0], _CHUNK):
        sim = q[s:s + _CHUNK] @ r.T
        if loo:
            idx = torch.arange(s, min(s + _CHUNK, q.shape[0]))
            sim[idx - s, idx] = -float("inf")
        out.append(rl[sim.topk(k, dim=1).indices])
    uniq, counts = torch.unique(rl, return_counts=True)
    lut = dict(zip(uniq.tolist(), counts.tolist(), strict=True))
    same = torch.tensor([lut.get(v, 0) for v in ql.tolist()], dtype=torch.int64)
    if loo:
        same = same - 1
    return torch.cat(out), ql, same


def recall_at_k(emb: Any, labels: Any, ks: int | tuple[int, ...] = 1, ref_emb: Any = None,
                ref_labels: Any = None) -> dict[int, float] | float:
    """Fraction of queries with at least one same-label item among their k nearest neighbours.

    Args:
        emb: Query embeddings N×D (also the references when ``ref_emb`` is None, leave-one-out).
        labels: Query labels N.
        ks: One k (returns a float) or several (returns {k: recall}).
        ref_emb: Optional reference embeddings M×D.
        ref_labels: Their labels.
    """
    many = isinstance(ks, tuple | list)
    kk = tuple(ks) if many else (int(ks),)
    nb, ql, _ = _neighbours(emb, labels, max(kk), ref_emb, ref_labels)
    hit = nb == ql[:, None]
    out = {k: float(hit[:, :k].any(dim=1).float().mean()) for k in kk}
    return out if many else out[kk[0]]


def map_at_r(emb: Any, labels: Any, ref_emb: Any = None, ref_labels: Any = None) -> float:
    """Mean average precision at R, R = the number of references sharing the query's label.

    AP@R = (1/R) Σ_{i≤R} P(i)·rel(i). Queries with R = 0 are left out.
    """
    ql0 = _t(labels, torch.int64)
    rl0 = ql0 if ref_labels is None else _t(ref_labels, torch.int64)
    counts = torch.bincount(rl0 - rl0.min()) if rl0.numel() else torch.zeros(1)
    r_max = int(counts.max()) - (1 if ref_emb is None else 0)
    if r_max < 1:
        raise DataError("MAP@R needs at least one label with two or more items")
    nb, ql, same = _neighbours(emb, labels, r_max, ref_emb, ref_labels)
    rel = (nb == ql[:, None]).float()
    ranks = torch.arange(1, rel.shape[1] + 1, dtype=torch.float32)
    within = ranks[None, :] <= same[:, None].float()
    rel = rel * within
    prec = rel.cumsum(1) / ranks[None, :]
    keep = same > 0
    ap = (prec * rel).sum(1)[keep] / same[keep].float()
    return float(ap.mean())


def identity_scores(query_emb: Any, gallery_emb: Any, gallery_labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query and enrolled identity, the best similarity over that identity's embeddings.

    Returns:
        ``(scores Q×I, identities I)`` where ``identities`` are the distinct gallery labels (sorted).
    """
    q = _normed(query_emb)
    g = _normed(gallery_emb)
    gl = _t(gallery_labels, torch.int64)
    ids, inv = torch.unique(gl, return_inverse=True)
    out = []
    for s in range(0, q.shape[0], _CHUNK):
        sim = q[s:s + _CHUNK] @ g.T
        best = torch.full((sim.shape[0], ids.numel()), -float("inf"))
        best.scatter_reduce_(1, inv.expand(sim.shape[0], -1), sim, reduce="amax")
        out.append(best)
    return torch.cat(out) if out else torch.zeros(0, ids.numel()), ids


def cmc(query_emb: Any, query_labels: Any, gallery_emb: Any, gallery_labels: Any, max_rank: int = 10
        ) -> np.ndarray:
    """Cumulative match characteristic: ``cmc[r-1]`` = fraction of (member) queries whose true identity is
    among the top r identities. Queries whose identity is not enrolled are left out."""
    scores, ids = identity_scores(query_emb, gallery_emb, gallery_labels)
    ql = _t(query_labels, torch.int64)
    pos = torch.searchsorted(ids, ql).clamp(max=max(ids.numel() - 1, 0))
    member = ids[pos] == ql
    if not bool(member.any()):
        raise DataError("CMC: none of the queries belongs to an enrolled identity")
    s, p = scores[member], pos[member]
    true = s.gather(1, p[:, None])
    rank = (s > true).sum(1) + 1  # ties are resolved in the query's favour
    r = min(max_rank, ids.numel())
    return np.array([float((rank <= i).float().mean()) for i in range(1, r + 1)])


def rank1(query_emb: Any, query_labels: Any, gallery_emb: Any, gallery_labels: Any) -> float:
    """Closed-set rank-1 identification rate."""
    return float(cmc(query_emb, query_labels, gallery_emb, gallery_labels, max_rank=1)[0])


def open_set_top1(query_emb: Any, query_labels: Any, gallery_emb: Any, gallery_labels: Any
                  ) -> dict[str, np.ndarray]:
    """Top-1 answer per query: ``score``, ``identity``, ``member`` (label enrolled), ``correct``."""
    scores, ids = identity_scores(query_emb, gallery_emb, gallery_labels)
    ql = _t(query_labels, torch.int64)
    best, arg = scores.max(1)
    top = ids[arg]
    member = torch.isin(ql, ids)
    return {"score": best.numpy().astype(np.float64), "identity": top.numpy(), "member": member.numpy(),
            "correct": (member & (top == ql)).numpy()}


def open_set_rates(top1_score: Any, top1_correct: Any, member: Any, threshold: float) -> dict[str, float]:
    """Rates at a threshold: DIR (members identified correctly with score >= threshold), FAR (non-members
    accepted as someone), and the non-member rejection rate (1 − FAR)."""
    s = np.asarray(top1_score, np.float64)
    c = np.asarray(top1_correct, bool)
    m = np.asarray(member, bool)
    dir_ = float(((s >= threshold) & c)[m].mean()) if m.any() else float("nan")
    far = float((s[~m] >= threshold).mean()) if (~m).any() else float("nan")
    return {"dir": dir_, "far": far, "rejection_rate": 1.0 - far if far == far else float("nan"),
            "threshold": float(threshold)}


def dir_at_far(top1_score: Any, top1_correct: Any, member: Any, far: float) -> dict[str, float]:
    """Detection-and-identification rate at a false-alarm rate of at most ``far`` on non-members.

    The threshold is the lowest one that accepts at most ``floor(far · #non-members)`` non-members.
    """
    s = np.asarray(top1_score, np.float64)
    m = np.asarray(member, bool)
    nm = np.sort(s[~m])[::-1]
    if nm.size == 0:
        raise DataError("DIR@FAR needs non-member queries (strangers)")
    allowed = int(np.floor(far * nm.size + 1e-9))
    t = -np.inf if allowed >= nm.size else float(np.nextafter(nm[allowed], np.inf))
    return open_set_rates(s, top1_correct, m, t)


__all__ = ["cmc", "dir_at_far", "identity_scores", "map_at_r", "open_set_rates", "open_set_top1",
           "rank1", "recall_at_k"]
