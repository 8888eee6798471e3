"""Gallery search on both backends: SQLite + FAISS (the baseline, same process) against PostgreSQL + pgvector.

For galleries of 100, 1,000 and 10,000 people (2 embeddings each, 128-d like dlib's descriptor): ``identify``
latency p50/p95 of one query (what ``who`` does after detection and embedding), for both scorings (nearest
photo, centroid), exact (FAISS flat / pgvector sequential scan) and HNSW (FAISS M=32, ef_construction=200 /
pgvector m=16, ef_construction=64; ef_search=128 on both); HNSW recall@1 and top-3 overlap against exact search; and ``migrate``
speed (the PostgreSQL galleries are made by migrating the SQLite ones, which also checks every row).

The PostgreSQL server is a throwaway pgserver (16 + pgvector 0.6) on a Unix socket of this machine.

Run: ``nice PYTHONPATH=src python bench/gallery_pgvector.py [--sizes 100,1000,10000] [--queries 200]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

D, PER = 128, 2


def cpu() -> str:
    try:
        name = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].splitlines()[0].strip()
    except (OSError, IndexError):
        name = platform.processor() or platform.machine()
    return name


def build(path: Path, n: int, index: str, centers: np.ndarray, rng: np.random.Generator) -> float:
    from pictorch.gallery.backends import create_gallery

    t0 = time.perf_counter()
    with create_gallery(path, "bench", D, index=index, scoring="nearest") as g:
        for i in range(n):
            e = centers[i] + 0.35 * rng.normal(size=(PER, D)).astype(np.float32)
            g.enroll(f"p{i:05d}", e, [f"p{i}_{j}" for j in range(PER)], [f"{n}-{index}-{i}-{j}" for j in range(PER)])
    return time.perf_counter() - t0


def timed(g, queries: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
    g.identify(queries[:1], k=3)  # warm (index load / plan cache)
    out, lat = [], []
    for q in queries:
        t = time.perf_counter()
        m = g.identify(q[None], k=3)[0]
        lat.append(time.perf_counter() - t)
        out.append([n for n, _ in m.topk])
    return out, np.array(lat) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from pictorch.gallery.backends import open_gallery
    from pictorch.gallery.migrate import migrate
    from pictorch.gallery.pg import start_pgserver

    print(f"cpu: {cpu()}, threads 1 (torch/FAISS; PostgreSQL: one backend process per query), "
          f"load {tuple(round(x, 2) for x in os.getloadavg())}")
    tmp = Path(tempfile.mkdtemp())
    srv, url = start_pgserver(tmp / "pg")
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            rng = np.random.default_rng(n)
            centers = rng.normal(size=(n, D)).astype(np.float32)
            # half the queries are new photos of enrolled people, half strangers
            who = rng.integers(0, n, args.queries // 2)
            queries = np.concatenate([centers[who] + 0.35 * rng.normal(size=(len(who), D)),
                                      rng.normal(size=(args.queries - len(who), D))]).astype(np.float32)
            results = {}
            for index in ("flat", "hnsw"):
                path = tmp / f"g{n}-{index}.gallery"
                built = build(path, n, index, centers, np.random.default_rng(n + 1))
                pg = f"{url}#g{n}_{index}"
                t0 = time.perf_counter()
                migrate(str(path), pg)
                moved = time.perf_counter() - t0
                print(f"{n:>6} people x {PER}, {index}: SQLite enrol {n / built:.0f} people/s; migrate to "
                      f"PostgreSQL {n * PER / moved:.0f} embeddings/s (verified) | load {os.getloadavg()[0]:.2f}")
                for scoring in ("nearest", "centroid"):
                    for backend, spec in (("faiss", path), ("pgvector", pg)):
                        with open_gallery(spec) as g:
                            g.scoring = scoring
                            names, lat = timed(g, queries)
                        results[(index, scoring, backend)] = names
                        print(f"  {backend:8s} {'exact' if index == 'flat' else 'HNSW':5s} {scoring:8s} identify "
                              f"p50 {np.percentile(lat, 50):6.2f} ms  p95 {np.percentile(lat, 95):6.2f} ms"
                              f" | load {os.getloadavg()[0]:.2f}")
            for scoring in ("nearest", "centroid"):
                exact = results[("flat", scoring, "faiss")]
                same = results[("flat", scoring, "pgvector")] == exact
                for backend in ("faiss", "pgvector"):
                    approx = results[("hnsw", scoring, backend)]
                    hit1 = np.array([a[0] == e[0] for a, e in zip(approx, exact, strict=True)])
                    r3 = np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact, strict=True)])
                    m = len(who)  # members' queries first, then strangers'
                    print(f"  {n:>6} {scoring:8s} {backend:8s} HNSW vs exact: recall@1 {hit1.mean():.3f} (members "
                          f"{hit1[:m].mean():.3f}, strangers {hit1[m:].mean():.3f}), top-3 overlap {r3:.3f}"
                          + (f"; pgvector exact == FAISS exact top-3 on every query: {same}"
                             if backend == "faiss" else ""))
    finally:
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
