"""U-Net vs SegNet on the real DSB 2018 nuclei image (stardist wheel), 4-fold quadrant split; training img/s
of pictorch's path against a plain eager fp32 loop over the same network in the same process.

Each fold trains on three 256×256 quadrants (random crops, joint flips/turns) and is scored on the fourth:
foreground IoU and Dice (micro over the quadrant's pixels, smp's binary definitions). The issue's target:
U-Net IoU ≥ 0.80 (Dice ≥ 0.89) within 10 minutes per fold on 2 cores; SegNet within 0.05 IoU with less
decoder memory. Memory is what one training forward keeps for backward (autograd saved-tensor hooks, each
storage once) and the encoder → decoder hand-off (U-Net's skip maps vs SegNet's int64 pooling indices).

Throughput: ``pictorch`` = the Trainer as ``segment train`` runs it (Fabric precision "auto" = bf16 autocast
on a bf16 CPU, channels-last, in-memory uint8 crops); ``eager`` = a hand-written loop over the same model
class, same batches, same loss and optimizer, fp32 and contiguous. Both are timed over the same number of
steps after the same warm-up, alternating, so load swings hit both.

    PYTHONPATH=src nice python bench/segment_nuclei.py                 # 4 folds × 2 archs
    PYTHONPATH=src nice python bench/segment_nuclei.py --folds 0 --steps 60
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import cpu_model, load  # bench/ is on sys.path when a bench runs

ARCHS = {
    "unet": ("segment.unet", {"width": 16, "depth": 4}),
    "segnet": ("segment.segnet", {"width_mult": 0.25, "depth": 4}),
}


def eager_img_per_s(arch: str, kw: dict, data, mean, std, crop: int, batch: int, steps: int, warmup: int) -> float:
    """Steady-state img/s of a plain fp32, contiguous, eager loop (no Fabric, no autocast)."""
    from pictorch import create_model
    from pictorch.data.loader import to_float
    from pictorch.losses.segmentation import build_loss
    from pictorch.tasks.segment.data import CropLoader

    torch.manual_seed(0)
    model = create_model(arch, in_chans=1, num_classes=1, **kw).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = build_loss("ce+dice")
    loader = CropLoader(data, crop, batch, batches_per_epoch=steps + warmup, seed=0)
    t0 = None
    for i, b in enumerate(loader):
        if i == warmup:
            t0 = time.perf_counter()
        x = to_float(b["image"], mean, std)
        loss = loss_fn(model(x), b["mask"].long())["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def pictorch_img_per_s(arch_name: str, kw: dict, data, val, crop: int, batch: int, steps: int, warmup: int,
                       out: Path) -> float:
    """Steady-state img/s of the Trainer path (the last log interval, after ``warmup`` steps)."""
    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.segment import api
    from pictorch.tasks.segment.steps import SegmentConfig

    cfg = SegmentConfig(data="nuclei", fold=0, arch=arch_name, model_kwargs=kw, crop=crop, augment="none")
    tcfg = TrainConfig(out_dir=str(out), steps=steps + warmup, batch_size=batch, lr=3e-3, weight_decay=1e-4,
                       progress=False, log_every=warmup)
    api.train(cfg, tcfg, data=data, val=None)
    # every log interval after the first (the warm-up): images / seconds, from the run's metrics.csv
    import csv

    with open(out / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("img_per_s")]
    imgs = secs = 0.0
    prev = int(rows[0]["step"])
    for r in rows[1:]:
        n = (int(r["step"]) - prev) * batch
        prev = int(r["step"])
        imgs += n
        secs += n / float(r["img_per_s"])
    return imgs / secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", default="0,1,2,3", help='Test quadrants, or "none" (memory and speed only).')
    ap.add_argument("--archs", default="unet,segnet")
    ap.add_argument("--steps", type=int, default=150, help="Training steps per fold and architecture.")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speed-steps", type=int, default=8, help="Timed steps of each throughput run.")
    ap.add_argument("--out", default=None, help="Run folders (default: a temporary folder).")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    torch.set_num_threads(args.threads)

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.segment import api
    from pictorch.tasks.segment.api import channel_stats
    from pictorch.tasks.segment.data import load_nuclei, quadrant_folds
    from pictorch.tasks.segment.reports import count_params, memory_profile
    from pictorch.tasks.segment.steps import SegmentConfig
    from pictorch.utils import auto_precision

    print(f"CPU {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"precision auto = {auto_precision('cpu')}; {load()}")
    full = load_nuclei()
    folds = [] if args.folds == "none" else [int(f) for f in args.folds.split(",")]
    archs = [a.strip() for a in args.archs.split(",")]
    tmp = Path(args.out or tempfile.mkdtemp(prefix="segment-nuclei-"))

    # -- memory and parameters (exact, machine-independent) -----------------------------------------------------
    from pictorch import create_model

    for a in archs:
        name, kw = ARCHS[a]
        m = create_model(name, in_chans=1, num_classes=1, **kw).train()
        mem = memory_profile(m, torch.randn(args.batch_size, 1, args.crop, args.crop))
        p = count_params(m)
        print(f"{a:7s} params {p['params']:,} (decoder {p['decoder_params']:,}); a training forward of "
              f"{args.batch_size}×{args.crop}² keeps {mem['saved_total'] / 2**20:.1f} MiB for backward "
              f"(decoder {mem['saved_decoder'] / 2**20:.1f} MiB); encoder→decoder hand-off "
              f"{mem['handoff'] / 2**20:.2f} MiB")

    # -- throughput: pictorch's path vs a plain eager fp32 loop (fold 0's data), alternating ----------------------
    train0, val0 = quadrant_folds(full, 0)
    mean, std = channel_stats(train0.images)
    for a in archs:
        name, kw = ARCHS[a]
        warm = 3
        e1 = eager_img_per_s(name, kw, train0, mean, std, args.crop, args.batch_size, args.speed_steps, warm)
        p1 = pictorch_img_per_s(a, kw, train0, val0, args.crop, args.batch_size, args.speed_steps, warm,
                                tmp / f"speed-{a}")
        e2 = eager_img_per_s(name, kw, train0, mean, std, args.crop, args.batch_size, args.speed_steps, warm)
        p2 = pictorch_img_per_s(a, kw, train0, val0, args.crop, args.batch_size, args.speed_steps, warm,
                                tmp / f"speed-{a}-2")
        e, p = max(e1, e2), max(p1, p2)
        print(f"{a:7s} training img/s ({args.crop}² crops, batch {args.batch_size}): pictorch {p:.1f} vs eager "
              f"fp32 {e:.1f} -> {p / e:.2f}x  [runs: {p1:.1f}/{p2:.1f} vs {e1:.1f}/{e2:.1f}]; {load()}")

    # -- quality: 4 folds ----------------------------------------------------------------------------------------
    results: dict[str, list[tuple[float, float, float]]] = {a: [] for a in archs}
    for k in folds:
        train, val = quadrant_folds(full, k)
        for a in archs:
            _, kw = ARCHS[a]
            cfg = SegmentConfig(data="nuclei", fold=k, arch=a, model_kwargs=kw, crop=args.crop, augment="light")
            tcfg = TrainConfig(out_dir=str(tmp / f"fold{k}-{a}"), steps=args.steps, batch_size=args.batch_size,
                               lr=args.lr, weight_decay=1e-4, progress=False, log_every=max(1, args.steps // 3),
                               seed=k)
            t0 = time.perf_counter()
            res = api.train(cfg, tcfg, data=train, val=val)
            secs = time.perf_counter() - t0
            fg = res["val"]["foreground"]
            results[a].append((fg["iou"], fg["dice"], secs))
            print(f"fold {k} {a:7s} IoU {fg['iou']:.4f} Dice {fg['dice']:.4f} ({args.steps} steps, {secs:.0f} s, "
                  f"{res['images_per_s']:.1f} img/s); {load()}", flush=True)
    for a in archs if folds else []:
        ious = [r[0] for r in results[a]]
        dices = [r[1] for r in results[a]]
        secs = [r[2] for r in results[a]]
        print(f"{a:7s} mean over {len(ious)} folds: IoU {sum(ious) / len(ious):.4f} (min {min(ious):.4f}), "
              f"Dice {sum(dices) / len(dices):.4f}, {sum(secs) / len(secs):.0f} s per fold")
    print(f"done; {load()}")


if __name__ == "__main__":
    main()
