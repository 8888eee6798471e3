"""GAN quality after fixed training budgets on Fashion-MNIST: FID (domain features) and conditional consistency.

1. Uses the default domain feature network (`gan evaluate`'s: a small_cnn classifier trained once for
   150 s and cached), or ``--feature-net``; prints its accuracy on 2000 real test images, which bounds the
   conditional consistency (the metric on real test images equals it).
2. Trains DCGAN and conditional DCGAN for ``--budget`` seconds each (same machine, same script).
3. Evaluates each: FID beside the real-vs-real floor, KID, precision/recall; for the conditional model the
   feature classifier's accuracy on generated images per class ("conditional consistency").
   The baseline in the same run is the FID of the untrained generator (step 0) and the real-vs-real floor.

    PYTHONPATH=src python bench/gan_quality.py --budget 300 --models dcgan,cdcgan --n 2000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=300.0, help="seconds of training per GAN")
    ap.add_argument("--feature-net", default=None, help="classifier checkpoint (default: gan evaluate's cached one)")
    ap.add_argument("--models", default="dcgan,cdcgan")
    ap.add_argument("--n", type=int, default=2000, help="images per side for FID")
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--ndf", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--precision", default="auto", help="training precision (auto, as gan train: bf16-mixed on bf16 CPUs)")
    ap.add_argument("--aux-weight", type=float, default=None, help="AC-GAN loss weight (default: GANConfig's)")
    ap.add_argument("--no-cond-bn", action="store_true")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--out", default="runs/bench_gan_quality")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.generate import api
    from pictorch.tasks.generate.tricks import GANConfig

    out = Path(args.out)
    feat = args.feature_net
    if feat is None:
        t = time.perf_counter()
        feat = str(api.default_feature_net("fashion-mnist"))
        print(f"feature net: {feat} ({time.perf_counter() - t:.0f}s to get)", flush=True)
    print(f"feature net accuracy on real test images: {_test_accuracy(feat):.4f}", flush=True)

    rows = []
    for model in args.models.split(","):
        extra = {} if args.aux_weight is None else {"aux_weight": args.aux_weight}
        cfg = GANConfig(model=model, ngf=args.ngf, ndf=args.ndf, instance_noise=0.05, monitor_warmup=300,
                        cond_bn=not args.no_cond_bn, **extra)
        run = out / model
        # untrained generator as the in-script baseline
        tcfg0 = TrainConfig(out_dir=str(run / "step1"), steps=1, batch_size=args.batch_size, lr=args.lr,
                            precision=args.precision, accelerator="cpu", progress=False)
        api.train(cfg, tcfg0)
        base = api.evaluate(run / "step1", feature_net=feat, n=args.n)
        tcfg = TrainConfig(out_dir=str(run), steps=10**7, batch_size=args.batch_size, lr=args.lr,
                           precision=args.precision, accelerator="cpu", progress=False, log_every=50,
                           picture_every=200)
        t = time.perf_counter()
        res = api.train(cfg, tcfg, max_seconds=args.budget)
        secs = time.perf_counter() - t
        rep = api.evaluate(run, feature_net=feat, n=args.n)
        cc = rep.get("conditional_consistency", {}).get("accuracy")
        rows.append((model, res["step"], secs, base["fid"], rep))
        print(f"{model} (cond_bn={cfg.cond_bn}, aux_weight={cfg.aux_weight}, load {os.getloadavg()[0]:.1f}, threads "
              f"{res.get('cpu_threads', {}).get('threads')}): {res['step']} steps in {secs:.0f}s ({res['images_per_s']:.0f} img/s); FID {rep['fid']:.2f} "
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


def _test_accuracy(feat: str) -> float:

    from pictorch.data.fashion_mnist import load_fashion_mnist
    from pictorch.metrics.fid import load_feature_net

    fnet = load_feature_net(feat)
    ds = load_fashion_mnist("test")
    _, logits = fnet.features_and_logits(ds.images[:2000], logits=True)
    return float((logits.argmax(1) == ds.labels[:2000]).float().mean())


if __name__ == "__main__":
    main()
