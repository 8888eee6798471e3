"""Unseen-class protocol on Fashion-MNIST: train embeddings on classes 0-4, evaluate on test images of the
never-seen classes 5-9 (Recall@1, MAP@R, verification AUC), beside pixel-kNN and PCA-kNN baselines run in
the same process. Prints a table and each method's ratio to the best baseline.

    PYTHONPATH=src python bench/identify_unseen.py [--budget 60] [--methods triplet-all,arcface,...]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from pictorch.data.fashion_mnist import load_fashion_mnist
from pictorch.metrics.retrieval import map_at_r, recall_at_k
from pictorch.metrics.verification import pairs_from_labels, roc_auc

METHODS = {
    "triplet-all": dict(loss="triplet", miner="all"),
    "triplet-hard": dict(loss="triplet", miner="hard"),
    "triplet-semi-hard": dict(loss="triplet", miner="semi-hard"),
    "softmax": dict(loss="softmax"),
    "arcface": dict(loss="arcface"),
    "cosface": dict(loss="cosface"),
}


def scores_of(emb: torch.Tensor, labels: torch.Tensor, pairs) -> dict[str, float]:
    i, j, same = pairs
    s = (emb[torch.from_numpy(i)] * emb[torch.from_numpy(j)]).sum(1).numpy()
    return {"recall@1": recall_at_k(emb, labels, 1), "map@r": map_at_r(emb, labels), "auc": roc_auc(s, same)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", type=float, default=60.0, help="training seconds per method")
    ap.add_argument("--steps", type=int, default=2000, help="step cap per method")
    ap.add_argument("--methods", default=",".join(k for k in METHODS if k != "cosface"))
    ap.add_argument("--eval-images", type=int, default=5000)
    ap.add_argument("--pool", type=int, default=2, help="embedder pooling grid (1: global average pooling)")
    ap.add_argument("--width", type=int, default=16, help="small_cnn width")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: default). On a CPU shared with other jobs, 1 avoids OpenMP spin-waits")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    train = load_fashion_mnist("train", args.data_dir).filter_classes([0, 1, 2, 3, 4])
    test = load_fashion_mnist("test", args.data_dir).filter_classes([5, 6, 7, 8, 9])
    if len(test) > args.eval_images:
        test = test.subset(torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:args.eval_images])
    y = test.labels
    pairs = pairs_from_labels(y.numpy(), 6000, seed=0)
    rows: dict[str, dict[str, float]] = {}

    # baselines -------------------------------------------------------------------------------------------
    t = time.perf_counter()
    px = test.images.flatten(1).float() / 255.0
    px_c = px - (train.images.flatten(1).float() / 255.0).mean(0)
    rows["pixel-kNN"] = {**scores_of(torch.nn.functional.normalize(px_c, dim=1), y, pairs),
                         "seconds": time.perf_counter() - t}
    t = time.perf_counter()
    tr = train.images.flatten(1).float() / 255.0
    mean = tr.mean(0)
    _, _, v = torch.pca_lowrank(tr - mean, q=64, center=False, niter=4)
    pca = torch.nn.functional.normalize((px - mean) @ v, dim=1)
    rows["PCA-kNN (64)"] = {**scores_of(pca, y, pairs), "seconds": time.perf_counter() - t}

    # learned embeddings -----------------------------------------------------------------------------------
    from pictorch.tasks.identify.api import load_embedder
    from pictorch.tasks.identify.api import train as train_embedder

    for name in [m.strip() for m in args.methods.split(",") if m.strip()]:
        kw = METHODS[name]
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            res = train_embedder(out_dir=tmp, data="fashion-mnist", data_dir=args.data_dir, classes="0-4",
                                 steps=args.steps, batch_size=100, lr=3e-3, log_every=25, progress=False,
                                 backbone="small_cnn", backbone_args=f"width={args.width}", val_images=0,
                                 pool=args.pool,
                                 time_budget=args.budget, accelerator="cpu", **kw)
            emb = load_embedder(tmp).embed_images(test.images)
            rows[name] = {**scores_of(emb, y, pairs), "seconds": time.perf_counter() - t, "steps": res["step"]}
        print(f"  {name}: {rows[name]}", flush=True)

    base = {k: max(rows["pixel-kNN"][k], rows["PCA-kNN (64)"][k]) for k in ("recall@1", "map@r", "auc")}
    print(f"\nUnseen classes 5-9 ({len(test)} test images), trained on classes 0-4; "
          f"{args.budget:.0f}s training budget per method, {torch.get_num_threads()} threads, "
          f"small_cnn width {args.width}, pool {args.pool}")
    print(f"{'method':20s} {'steps':>6s} {'R@1':>7s} {'MAP@R':>7s} {'AUC':>7s}   vs best baseline (R@1 / MAP@R / AUC)")
    for name, r in rows.items():
        ratio = " / ".join(f"{r[k] / base[k]:.2f}x" for k in ("recall@1", "map@r", "auc"))
        print(f"{name:20s} {r.get('steps', 0):6.0f} {r['recall@1']:7.4f} {r['map@r']:7.4f} {r['auc']:7.4f}   {ratio}")
    learned = {k: v for k, v in rows.items() if k in METHODS}
    if learned:
        best = max(learned, key=lambda k: learned[k]["map@r"])
        beats = all(learned[best][k] > base[k] for k in base)
        print(f"\nbest learned: {best}; beats both baselines on all three metrics: {beats}")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
