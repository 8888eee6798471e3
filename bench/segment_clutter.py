"""Cluttered Fashion-MNIST (garments pasted on real photos, exact 11-class masks): mIoU of U-Net, SegNet and
FCN-8s over several seeds, each trained with the same budget through ``segment compare``.

Training scenes use Fashion-MNIST's train split on training photos, the 500 test scenes its test split on
other photos (see ``pictorch.tasks.segment.clutter``). mIoU is the mean over the 11 classes of the IoU
summed over the test scenes (smp's "macro").

    PYTHONPATH=src nice python bench/segment_clutter.py --seeds 0,1,2 --steps 150
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from _common import load  # bench/ is on sys.path when a bench runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--archs", default="unet,segnet,fcn")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-scenes", type=int, default=2000, help="Training scenes (the 500 test scenes are fixed).")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--loss", default="ce+dice")
    ap.add_argument("--class-weights", default="none", help="none, balanced (inverse pixel frequency) or w0,w1,...")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    torch.set_num_threads(args.threads)

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.segment import api
    from pictorch.tasks.segment.steps import SegmentConfig

    print(f"{torch.get_num_threads()} threads; loss {args.loss}, class weights {args.class_weights}, lr {args.lr}, "
          f"{args.steps} steps × {args.batch_size}, {args.train_scenes} training scenes; {load()}")
    archs = [a.strip() for a in args.archs.split(",")]
    scores: dict[str, list[float]] = {a: [] for a in archs}
    tmp = Path(tempfile.mkdtemp(prefix="segment-clutter-"))
    for seed in (int(s) for s in args.seeds.split(",")):
        cfg = SegmentConfig(data="fashion-clutter", loss=args.loss, augment="light", crop=64, limit=args.train_scenes,
                            class_weights=args.class_weights)
        tcfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=1e-4, seed=seed,
                           progress=False, log_every=max(1, args.steps // 2))
        res = api.compare(cfg, tcfg, archs=archs, out_dir=tmp / f"seed{seed}")
        for r in res["rows"]:
            scores[r["arch"]].append(r["miou"])
            print(f"seed {seed} {r['arch']:7s} mIoU {r['miou']:.4f} pixel acc {r['pixel_accuracy']:.4f} "
                  f"params {r['params']:,} {r['train_img_per_s']:.0f} img/s {r['seconds']:.0f} s; {load()}",
                  flush=True)
    for a in archs:
        v = scores[a]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"{a:7s} mIoU {statistics.mean(v):.4f} ± {sd:.4f} over {len(v)} seeds")


if __name__ == "__main__":
    main()
