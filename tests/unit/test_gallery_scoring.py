"""The pure scoring functions of `gallery/scoring.py` against brute force, and calibrate's FAR interval."""

from __future__ import annotations

import numpy as np
import pytest

from pictorch.gallery.scoring import distinct_people, threshold_at_far


@pytest.mark.parametrize("far", [0.0, 0.01, 0.1, 0.5])
def test_threshold_at_far_accepts_at_most_the_allowed_impostors(far):
    imp = np.random.default_rng(0).normal(size=1000)
    t = threshold_at_far(imp, far)
    accepted = int((imp >= t).sum())
    assert accepted <= int(far * 1000)


def test_distinct_people_matches_brute_force():
    rng = np.random.default_rng(1)
    emb_ids = np.arange(10, 40, dtype=np.int64)
    emb_person = rng.integers(0, 6, emb_ids.size)
    names = {i: f"p{i}" for i in range(6)}
    scores = np.sort(rng.random(30))[::-1].astype(np.float32)
    ids = rng.permutation(emb_ids)
    got = distinct_people(scores, ids, emb_ids, emb_person, names, 3, "cosine")
    want, seen = [], set()
    for s, i in zip(scores, ids, strict=True):
        pid = int(emb_person[i - 10])
        if pid not in seen:
            seen.add(pid)
            want.append((names[pid], float(s)))
    assert got == want[:3]
    l2 = distinct_people(scores, ids, emb_ids, emb_person, names, 3, "l2")
    assert [s for _, s in l2] == [-s for _, s in want[:3]]


def test_clopper_pearson_covers_the_rate():
    pytest.importorskip("scipy")
    from pictorch.tasks.identify.service import clopper_pearson

    lo, hi = clopper_pearson(4, 98)
    assert 0.011 < lo < 0.012 and 0.10 < hi < 0.102  # exact binomial 95% interval of 4/98
    assert clopper_pearson(0, 100)[0] == 0.0 and clopper_pearson(100, 100)[1] == 1.0
