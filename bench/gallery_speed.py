"""Gallery speed: exact vs HNSW vs IVF search, SQLite enrolment throughput, dlib-face embedding throughput.

    PYTHONPATH=src python bench/gallery_speed.py --n 1000000
    PYTHONPATH=src python bench/gallery_speed.py --n 100000 --skip-faces

Vectors are random but clustered (like face embeddings: many people, a few photos each), normalized, 128-d.
The exact flat index is the baseline: recall@1 of the approximate kinds is measured against it and their
latency is reported as a speed-up over it, all in this one process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from pictorch.gallery import Gallery, VectorIndex


def clustered(n: int, d: int, n_centers: int, rng: np.random.Generator) -> np.ndarray:
    centers = rng.normal(size=(n_centers, d)).astype(np.float32)
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        out[s : s + m] = centers[rng.integers(0, n_centers, m)] + 0.35 * rng.normal(size=(m, d)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def latency(index: VectorIndex, queries: np.ndarray, k: int = 10) -> tuple[float, float]:
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None], k)
        times.append(time.perf_counter() - t)
    a = np.array(times) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="Vectors in the index.")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000, help="Queries for recall (batch).")
    ap.add_argument("--latency-queries", type=int, default=200, help="Single queries timed for p50/p99.")
    ap.add_argument("--store-n", type=int, default=200_000, help="Vectors enrolled into the SQLite store.")
    ap.add_argument("--kinds", default="hnsw,ivf")
    ap.add_argument("--skip-faces", action="store_true", help="Skip the dlib-face embedding throughput.")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)

    rng = np.random.default_rng(0)
    t = time.perf_counter()
    x = clustered(args.n, args.dim, max(10, args.n // 10), rng)
    ids = np.arange(args.n, dtype=np.int64)
    # queries: other photos of enrolled "people" (perturbed stored vectors)
    pick = rng.integers(0, args.n, args.queries)
    q = x[pick] + 0.2 * rng.normal(size=(args.queries, args.dim)).astype(np.float32) / np.sqrt(args.dim)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    print(f"data: {args.n:,} × {args.dim} float32 ({x.nbytes / 2**20:.0f} MiB), made in {time.perf_counter() - t:.1f} s")

    results = {}
    t = time.perf_counter()
    flat = VectorIndex(args.dim, "flat")
    flat.add(x, ids)
    build = time.perf_counter() - t
    t = time.perf_counter()
    _, truth = flat.search(q, 1)
    batch_qps = len(q) / (time.perf_counter() - t)
    p50, p99 = latency(flat, q[: args.latency_queries])
    results["flat"] = (build, p50, p99, 1.0, batch_qps)
    print(f"flat (exact): build {build:.2f} s, single query p50 {p50:.2f} ms p99 {p99:.2f} ms, "
          f"batch {batch_qps:,.0f} q/s")
    del flat

    for kind in args.kinds.split(","):
        t = time.perf_counter()
        idx = VectorIndex(args.dim, kind)
        idx.add(x, ids)
        build = time.perf_counter() - t
        t = time.perf_counter()
        _, got = idx.search(q, 1)
        bq = len(q) / (time.perf_counter() - t)
        recall = float((got[:, 0] == truth[:, 0]).mean())
        p50, p99 = latency(idx, q[: args.latency_queries])
        results[kind] = (build, p50, p99, recall, bq)
        extra = f"efSearch {idx.ef_search}, M {idx.hnsw_m}" if kind == "hnsw" else f"nlist {idx.nlist}, nprobe {idx.nprobe}"
        print(f"{kind} ({extra}): build {build:.1f} s, p50 {p50:.3f} ms p99 {p99:.3f} ms, recall@1 vs exact "
              f"{recall:.4f}, batch {bq:,.0f} q/s; p50 speed-up over exact {results['flat'][1] / p50:.1f}×")
        del idx

    # enrolment into the SQLite store: people of 10 embeddings, one transaction each
    n_store = min(args.store_n, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        g = Gallery.create(Path(tmp) / "bench.gallery", "bench", args.dim)
        per = 10
        t = time.perf_counter()
        for p in range(0, n_store, per):
            g.enroll(f"person{p // per}", x[p : p + per], [f"img{p + j}.jpg" for j in range(per)],
                     hashes=[f"h{p + j}" for j in range(per)])
        dt = time.perf_counter() - t
        print(f"store: enrolled {n_store:,} vectors as {n_store // per:,} people (one transaction each) in "
              f"{dt:.1f} s = {n_store / dt:,.0f} vectors/s")
        g.close()
        t = time.perf_counter()
        with Gallery.open(Path(tmp) / "bench.gallery") as g2:
            _ = g2.index
        print(f"store: reopen + load index {time.perf_counter() - t:.2f} s")
        Path(str(Path(tmp) / "bench.gallery") + ".faiss").unlink()
        t = time.perf_counter()
        with Gallery.open(Path(tmp) / "bench.gallery") as g3:
            _ = g3.index
        print(f"store: reopen + rebuild index from SQLite {time.perf_counter() - t:.2f} s")

    if not args.skip_faces:
        import skimage.data as sd
        import torch
        from PIL import Image

        from pictorch.tasks.identify.faces import DlibFaceEmbedder, extract_faces

        emb = DlibFaceEmbedder()
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "astro.png"
            Image.fromarray(sd.astronaut()).save(p)
            t = time.perf_counter()
            crops, _, _ = extract_faces([p] * 8)
            det = 8 / (time.perf_counter() - t)
        chips = crops.repeat(8, 1, 1, 1)
        chips = (chips.float() + torch.randn_like(chips.float()) * 3).clamp(0, 255).to(torch.uint8)
        emb.embed_images(chips[:4])
        t = time.perf_counter()
        emb.embed_images(chips)
        print(f"dlib-face: embedding {len(chips) / (time.perf_counter() - t):.1f} img/s (aligned 150×150 chips); "
              f"detect+align (HOG, 512×512 photo) {det:.1f} img/s")


if __name__ == "__main__":
    main()
