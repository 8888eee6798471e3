"""GAN quality after fixed training budgets on Fashion-MNIST: FID (domain features) and conditional consistency.

1. Trains the domain feature network (small_cnn classifier, `gan feature-net train`) for a time budget, or
   reuses ``--feature-net``.
2. Trains DCGAN and conditional DCGAN for ``--budget`` seconds each (same machine, same script).
3. Evaluates each: FID beside the real-vs-real floor, KID, precision/recall; for the conditional model the
   feature classifier's accuracy on generated images per class ("conditional consistency").
   The baseline in the same run is the FID of the untrained generator (step 0) and the real-vs-real floor.

    PYTHONPATH=src python bench/gan_quality.py --budget 120 --feature-budget 90 --n 2000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=120.0, help="seconds of training per GAN")
    ap.add_argument("--feature-budget", type=float, default=90.0, help="seconds for the feature network")
    ap.add_argument("--feature-width", type=int, default=16, help="small_cnn width of the feature network")
    ap.add_argument("--feature-net", default=None, help="reuse this classifier checkpoint")
    ap.add_argument("--models", default="dcgan,cdcgan")
    ap.add_argument("--n", type=int, default=2000, help="images per side for FID")
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--ndf", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--out", default="runs/bench_gan_quality")
    args = ap.parse_args()

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.generate import api
    from pictorch.tasks.generate.tricks import GANConfig

    out = Path(args.out)
    feat = args.feature_net
    if feat is None:
        t = time.perf_counter()
        fcfg = TrainConfig(out_dir=str(out / "featnet"), steps=10**7, batch_size=128, lr=2e-3, weight_decay=1e-4,
                           precision=args.precision, accelerator="cpu", progress=False, log_every=50, val_every=0)
        res = api.train_feature_net(fcfg, data="fashion-mnist", width=args.feature_width, max_seconds=args.feature_budget)
        feat = str(res["checkpoint"])
        print(f"feature net: {res['step']} steps in {time.perf_counter() - t:.0f}s, test accuracy "
              f"{res['metrics'].get('val_acc', float('nan')):.3f}", flush=True)

    rows = []
    for model in args.models.split(","):
        cfg = GANConfig(model=model, ngf=args.ngf, ndf=args.ndf, instance_noise=0.05, monitor_warmup=300)
        run = out / model
        # untrained generator as the in-script baseline
        tcfg0 = TrainConfig(out_dir=str(run / "step1"), steps=1, batch_size=args.batch_size, lr=2e-4,
                            precision=args.precision, accelerator="cpu", progress=False)
        api.train(cfg, tcfg0)
        base = api.evaluate(run / "step1", feature_net=feat, n=args.n)
        tcfg = TrainConfig(out_dir=str(run), steps=10**7, batch_size=args.batch_size, lr=2e-4,
                           precision=args.precision, accelerator="cpu", progress=False, log_every=50,
                           picture_every=200)
        t = time.perf_counter()
        res = api.train(cfg, tcfg, max_seconds=args.budget)
        secs = time.perf_counter() - t
        rep = api.evaluate(run, feature_net=feat, n=args.n)
        cc = rep.get("conditional_consistency", {}).get("accuracy")
        rows.append((model, res["step"], secs, base["fid"], rep))
        print(f"{model}: {res['step']} steps in {secs:.0f}s ({res['images_per_s']:.0f} img/s); FID {rep['fid']:.2f} "
              f"(untrained {base['fid']:.2f}, real-vs-real floor {rep['fid_floor_real_vs_real']:.2f}); KID "
              f"{rep['kid']:.4f}; precision {rep['precision']:.3f} recall {rep['recall']:.3f}"
              + (f"; conditional consistency {cc:.3f}" if cc is not None else ""), flush=True)
        if cc is not None:
            per = ", ".join(f"{k} {v:.2f}" for k, v in rep["conditional_consistency"]["per_class"].items())
            print(f"  per class: {per}")
        if res.get("warnings"):
            print("  monitor warnings:", ", ".join(w["kind"] for w in res["warnings"]))
    summary = [{"model": m, "steps": s, "seconds": sec, "fid_untrained": b, **{k: v for k, v in r.items()
                                                                              if k != "report_path"}}
               for m, s, sec, b, r in rows]
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"summary: {out / 'summary.json'}")


if __name__ == "__main__":
    main()
