"""The GAN zoo at equal wall-clock budgets: DCGAN vs LAPGAN vs StackGAN (and cDCGAN vs conditional StackGAN).

For each data set (Fashion-MNIST 28×28 grey; 64×64 crops of the offline colour photos, labelled by source photo),
every model trains for the same ``--budget`` seconds in this process, then is scored by ``gan evaluate``'s
machinery with the domain feature network of that data (trained once and cached): FID beside the real-vs-real
floor, KID, precision/recall, and for the conditional models the conditional consistency (the feature
classifier's accuracy on generated images of each asked-for class). DCGAN is the in-script baseline; the floor
says how low FID can go with this many samples.

    nice -n 10 env PYTHONPATH=src python bench/gan_zoo.py --budget 120 --n 1000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from _common import cpu_model  # bench/ is on sys.path when a bench runs

MODELS = ("dcgan", "lapgan", "cdcgan", "stackgan")
DATA = {"fashion-mnist": {"image_size": 28, "levels": 3}, "photo-crops": {"image_size": 64, "levels": 4}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=120.0, help="seconds of training per model")
    ap.add_argument("--data", default=",".join(DATA))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--n", type=int, default=1000, help="images per side for FID/KID")
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--ndf", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--lr", type=float, default=2e-4, help="G and D learning rate (DCGAN's 2e-4)")
    ap.add_argument("--out", default="runs/bench_gan_zoo")
    args = ap.parse_args()

    import torch

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.generate import api
    from pictorch.tasks.generate.tricks import GANConfig

    print(f"CPU: {cpu_model()}; torch threads {args.threads}; load average at start {os.getloadavg()}", flush=True)
    out = Path(args.out)
    rows = []
    for data in args.data.split(","):
        spec = DATA[data]
        size = spec["image_size"]
        t = time.perf_counter()
        feat = str(api.default_feature_net(data, image_size=size, channels=1 if data == "fashion-mnist" else 3))
        print(f"[{data}] feature net {feat} ({time.perf_counter() - t:.0f}s to get)", flush=True)
        for model in args.models.split(","):
            cfg = GANConfig(data=data, model=model, image_size=size, levels=spec["levels"], ngf=args.ngf,
                            ndf=args.ndf, instance_noise=0.05, monitor_warmup=300)
            run = out / data / model
            tcfg = TrainConfig(out_dir=str(run), steps=10**7, batch_size=args.batch_size, lr=args.lr,
                               accelerator="cpu", precision="32-true", progress=False, log_every=50,
                               picture_every=0)  # fp32: what AVX2 CPUs without native bf16 (CI, users) run
            load0 = os.getloadavg()[0]
            t = time.perf_counter()
            res = api.train(cfg, tcfg, max_seconds=args.budget, threads=int(args.threads))
            train_s = time.perf_counter() - t
            rep = api.evaluate(run, feature_net=feat, n=args.n, out=run / "eval.json")
            cc = (rep.get("conditional_consistency") or {}).get("accuracy")
            row = {"data": data, "model": model, "steps": res["step"], "train_s": round(train_s, 1),
                   "fid": rep["fid"], "fid_floor": rep["fid_floor_real_vs_real"], "kid": rep["kid"],
                   "precision": rep["precision"], "recall": rep["recall"], "consistency": cc,
                   "load": round((load0 + os.getloadavg()[0]) / 2, 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'data':<14}{'model':<10}{'steps':>7}{'FID':>9}{'floor':>8}{'KID':>10}{'prec':>6}{'rec':>6}"
          f"{'cons':>6}{'load':>6}")
    for r in rows:
        cons = "-" if r["consistency"] is None else f"{r['consistency']:.2f}"
        print(f"{r['data']:<14}{r['model']:<10}{r['steps']:>7}{r['fid']:>9.2f}{r['fid_floor']:>8.2f}"
              f"{r['kid']:>10.4f}{r['precision']:>6.2f}{r['recall']:>6.2f}{cons:>6}{r['load']:>6}")
    print(f"\nCPU: {cpu_model()}; torch threads {args.threads} (of {torch.get_num_threads()} default); load average at "
          f"end {os.getloadavg()}; {args.budget:.0f} s of training per model")
    (out / "zoo.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "zoo.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
