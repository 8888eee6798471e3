"""Scoring queries against a gallery: per-person scores (nearest photo or centroid), open-set answers,
verification, and threshold calibration. The pure parts (:func:`distinct_people`, :func:`threshold_at_far`)
take arrays and return values; :class:`Scoring` applies them to an open gallery."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.gallery.db import UNKNOWN
from pictorch.gallery.index import VectorIndex, as_float_matrix, l2_normalize
from pictorch.gallery.mirror import IndexMirror


@dataclass
class Match:
    """The answer for one query.

    Attributes:
        name: Best-matching person, or ``"unknown"`` when the best score is below the threshold.
        score: The best person's score (cosine similarity; higher = more similar).
        topk: Up to k distinct people, best first, as ``(name, score)``; a person's score is the maximum
            over that person's enrolled embeddings.
    """

    name: str
    score: float
    topk: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"name": self.name, "score": self.score, "topk": [[n, s] for n, s in self.topk]}



def distinct_people(scores: np.ndarray, ids: np.ndarray, emb_ids: np.ndarray, emb_person: np.ndarray,
                    names: dict[int, str], k: int, metric: str) -> list[tuple[str, float]]:
    """Up to ``k`` distinct people from one query's nearest embeddings (ids sorted by ``emb_ids``), best first;
    L2 distances become negated "higher is better" scores so thresholds work the same way."""
    valid = ids >= 0
    scores, ids = scores[valid], ids[valid]
    pos = np.searchsorted(emb_ids, ids)
    pos = np.clip(pos, 0, max(len(emb_ids) - 1, 0))
    out: list[tuple[str, float]] = []
    seen: set[int] = set()
    for s, p, i in zip(scores, pos, ids, strict=True):
        if emb_ids[p] != i:
            continue
        pid = int(emb_person[p])
        if pid in seen:
            continue
        seen.add(pid)
        out.append((names.get(pid, f"#{pid}"), float(s) if metric == "cosine" else -float(s)))
        if len(out) == k:
            break
    return out


def threshold_at_far(impostor: Any, target_far: float) -> float:
    """The lowest threshold accepting at most ``floor(target_far · n)`` of the impostor scores (accept: >=)."""
    imp = np.sort(np.asarray(impostor, np.float64))[::-1]
    allowed = int(math.floor(float(target_far) * len(imp) + 1e-9))
    if allowed >= len(imp):
        return float(imp[-1])
    # just above the (allowed+1)-th highest impostor score: at most `allowed` impostors accepted
    return float(np.nextafter(np.float32(imp[allowed]), np.float32(np.inf)))


class Scoring(IndexMirror):
    """The FAISS query half of :class:`pictorch.gallery.store.Gallery` (the open-set part: :class:`OpenSet`)."""

    _per_person: int
    _per_person_gen: int
    _centroids: VectorIndex | None
    _centroid_gen: int

    def person_scores(self, queries: Any, k: int = 5) -> list[list[tuple[str, float]]]:
        """For each query, up to ``k`` distinct people with their score (see :attr:`scoring`), best first."""
        q = as_float_matrix(queries, self.dim, "queries")
        index = self.index
        n = len(index)
        if n == 0 or not len(q):
            return [[] for _ in range(len(q))]
        n_people = len(self._names)
        k = max(1, min(int(k), n_people))
        if self.scoring == "centroid":
            return self._centroid_scores(q, k)
        if self._per_person_gen != self._index_gen:
            self._per_person = int(np.unique(self._emb_person, return_counts=True)[1].max())
            self._per_person_gen = self._index_gen
        per_person = self._per_person
        # Each person fills at most `per_person` result slots, so k*per_person results hold k people;
        # start smaller and widen only for queries that came back short.
        want = min(n, k * min(int(per_person), 8))
        results: list[list[tuple[str, float]] | None] = [None] * len(q)
        todo = np.arange(len(q))
        while len(todo):
            scores, ids = index.search(q[todo], want)
            short = []
            for row, qi in enumerate(todo):
                people = self._distinct_people(scores[row], ids[row], k)
                if len(people) < k and want < n:
                    short.append(qi)
                else:
                    results[qi] = people
            todo = np.array(short, np.int64)
            want = min(n, want * 4)
        return results  # type: ignore[return-value]

    def _centroid_scores(self, q: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Scores against each person's mean embedding (unit-normalized first for cosine), exact search."""
        if self._centroids is None or self._centroid_gen != self._index_gen:
            people = np.unique(self._emb_person)  # sorted person ids of the index's embeddings
            sums = np.zeros((len(people), self.dim), np.float64)
            counts = np.zeros(len(people), np.float64)
            for _, pids, vecs in self._iter_vectors():
                pos = np.searchsorted(people, pids)
                np.add.at(sums, pos, l2_normalize(vecs) if self.metric == "cosine" else vecs)
                np.add.at(counts, pos, 1.0)
            idx = VectorIndex(self.dim, "flat", self.metric)
            idx.add((sums / counts[:, None]).astype(np.float32), people)
            self._centroids, self._centroid_gen = idx, self._index_gen
        scores, ids = self._centroids.search(q, k)
        sign = 1.0 if self.metric == "cosine" else -1.0
        return [[(self._names.get(int(i), f"#{int(i)}"), sign * float(s)) for s, i in zip(srow, irow, strict=True)
                 if i >= 0] for srow, irow in zip(scores, ids, strict=True)]

    def _distinct_people(self, scores: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[str, float]]:
        return distinct_people(scores, ids, self._emb_ids, self._emb_person, self._names, k, self.metric)


class OpenSet:
    """Open-set answers, verification and calibration over any backend's :meth:`person_scores` (the SQLite +
    FAISS :class:`Scoring` and the PostgreSQL + pgvector :class:`pictorch.gallery.pg.PgGallery` share it, so
    both give the same answers for the same scores)."""

    dim: int
    path: Any
    scoring: str
    threshold: float | None

    def person_scores(self, queries: Any, k: int = 5) -> list[list[tuple[str, float]]]:  # pragma: no cover
        raise NotImplementedError

    def people(self) -> dict[str, int]:  # pragma: no cover
        raise NotImplementedError

    def _require_open(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def _save_calibration(self, threshold: float, report: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def identify(self, queries: Any, k: int = 5, threshold: float | None = None) -> list[Match]:
        """Name each query: the best-matching person, or ``"unknown"`` below the threshold.

        Args:
            queries: Q×D embeddings (a single D vector is one query).
            k: How many distinct candidate people to list per query.
            threshold: Accept threshold on the score; ``None`` uses the gallery's stored (calibrated) one.
                With no threshold at all, the best match is always named.

        Returns:
            One :class:`Match` per query.
        """
        self._require_open()
        t = self.threshold if threshold is None else float(threshold)
        out = []
        for people in self.person_scores(queries, k):
            if not people:
                out.append(Match(UNKNOWN, float("-inf"), []))
                continue
            best, score = people[0]
            out.append(Match(best if t is None or score >= t else UNKNOWN, score, people))
        return out

    def person_vectors(self, name: str) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def person_score(self, queries: Any, name: str) -> tuple[np.ndarray, int]:
        """Each query's score against one enrolled person, as :meth:`identify` would score that person (the
        gallery's scoring: their nearest embedding, or their centroid), and how many embeddings they have.

        Raises:
            PictorchError: ``name`` is not enrolled.
        """
        q = as_float_matrix(queries, self.dim, "queries")
        v = self.person_vectors(name)
        if self.metric == "cosine":
            qn, vn = l2_normalize(q), l2_normalize(v)
            if self.scoring == "centroid":
                c = l2_normalize((vn.astype(np.float64).sum(0) / len(vn)).astype(np.float32)[None])
                return (qn @ c.T)[:, 0].astype(np.float64), len(v)
            return (qn @ vn.T).max(1).astype(np.float64), len(v)
        if self.scoring == "centroid":
            c = (v.astype(np.float64).sum(0) / len(v)).astype(np.float32)[None]
            return -((q - c) ** 2).sum(1).astype(np.float64), len(v)
        return -((q[:, None, :] - v[None]) ** 2).sum(2).min(1).astype(np.float64), len(v)

    def verify(self, a: Any, b: Any) -> float:
        """Cosine similarity of two embeddings (1 = same direction)."""
        va = l2_normalize(as_float_matrix(a, self.dim, "embedding a"))
        vb = l2_normalize(as_float_matrix(b, self.dim, "embedding b"))
        if len(va) != 1 or len(vb) != 1:
            raise PictorchError("verify compares exactly two embeddings")
        return float(va[0] @ vb[0])

    def calibrate(self, embeddings: Any, names: Sequence[str], target_far: float = 0.01) -> dict[str, Any]:
        """Choose and store the threshold that gives ``target_far`` false accepts on labelled queries.

        Queries whose name is not enrolled (or is ``"unknown"``) are strangers. Impostor trials are the
        strangers' best scores plus, for members whose best match is someone else, that wrong match's score:
        accepting either is a false accept. The threshold is the lowest one whose false-accept rate on those
        trials is at most ``target_far``; the true-accept rate (members named correctly and above it) is
        reported.

        Returns:
            ``{"threshold", "tar", "far", "target_far", "members", "strangers", "impostor_trials",
            "rank1_accuracy"}``.
        """
        self._require_open()
        if not 0.0 <= float(target_far) < 1.0:
            raise PictorchError(f"target FAR must be in [0, 1), got {target_far}")
        x = as_float_matrix(embeddings, self.dim, "calibration embeddings")
        names = [str(n) for n in names]
        if len(names) != len(x):
            raise PictorchError(f"got {len(x)} calibration embeddings but {len(names)} names")
        enrolled = set(self.people())
        if not enrolled:
            raise PictorchError(f"gallery {self.path} is empty; enrol people before calibrating")
        tops = self.person_scores(x, k=1)
        genuine, impostor = [], []
        correct = 0
        members = 0
        for name, top in zip(names, tops, strict=True):
            best, score = top[0]
            if name in enrolled and name != UNKNOWN:
                members += 1
                if best == name:
                    correct += 1
                    genuine.append(score)
                else:
                    impostor.append(score)
            else:
                impostor.append(score)
        strangers = len(names) - members
        if not impostor:
            raise PictorchError(
                "calibration needs impostor trials: add photos of people who are not enrolled (strangers)"
            )
        if members == 0:
            raise PictorchError("calibration needs photos of enrolled people too (their names as labels)")
        imp = np.asarray(impostor, np.float64)
        threshold = threshold_at_far(imp, target_far)
        far = float((imp >= threshold).mean())
        tar = float((np.asarray(genuine) >= threshold).sum() / members)
        report = {
            "threshold": threshold,
            "tar": tar,
            "far": far,
            "target_far": float(target_far),
            "members": members,
            "strangers": strangers,
            "impostor_trials": len(imp),
            "rank1_accuracy": correct / members,
            "scoring": self.scoring,
        }
        self._save_calibration(threshold, report)
        return report
