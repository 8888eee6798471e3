"""Why CycleGAN collapsed on labels2satellite: one arm per switch, each trained unpaired and scored on the held-out pairs.

Each arm is a list of ``key=value`` overrides of :class:`~pictorch.tasks.translate.config.TranslateConfig`
fields plus ``lr``, ``steps``, ``batch`` and ``seed``; the scores are ``translate_cyclegan.py``'s (SSIM / PSNR
against the true day tile, FCN accuracy / mIoU of the land/water judge trained on real tiles, FID / KID on the
judge's hidden statistics against the real held-out tiles) plus ``land``: the fraction of held-out pixels the
judge calls land on the generated tiles (the true fraction is printed; a collapse to ocean gives 0).

Run: ``nice python bench/translate_cyclegan_ablation.py --arm base:lr=1e-3 --arm paper:lr=2e-4``
"""

from __future__ import annotations

import argparse
import time

import torch
from translate_ablation import crop_center, fcn_score, frechet, header, judge_features, train_segmenter


def parse_arm(text: str) -> tuple[str, dict[str, object]]:
    name, _, rest = text.partition(":")
    out: dict[str, object] = {}
    for kv in filter(None, rest.split(",")):
        k, v = kv.split("=", 1)
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = {"true": True, "false": False}.get(v.lower(), v)
    return name, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arm", action="append", required=True, help="name:key=value,... (repeatable)")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--task", default="labels2satellite")
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--out", default="/tmp/pictorch-bench-translate-cyclegan-ablation")
    args = ap.parse_args()
    from _common import env_line

    torch.set_num_threads(args.threads)
    print(env_line(), flush=True)

    from pictorch.engine.config import TrainConfig
    from pictorch.metrics.fid import kid
    from pictorch.tasks.translate import api
    from pictorch.tasks.translate.data import load_translation_data
    from pictorch.tasks.translate.reports import cycle_l1, image_scores, translate_batches

    judges: dict[int, tuple] = {}
    for text in args.arm:
        name, over = parse_arm(text)
        steps, batch = int(over.pop("steps", args.steps)), int(over.pop("batch", args.batch))
        lr, seed = float(over.pop("lr", 2e-4)), int(over.pop("seed", 0))
        size = int(over.pop("size", args.size))
        kw = {"model": "cyclegan", "data": args.task, "size": size, "ngf": args.ngf, "ndf": args.ngf, **over}
        cfg = api.TranslateConfig(**kw)
        data = load_translation_data(args.task, size=size, limit=cfg.limit)
        if size not in judges and args.task == "labels2satellite":
            j = train_segmenter(crop_center(data.train_b, size), crop_center(data.train_a, size))
            judges[size] = (j, judge_features(j, data.test_b))
        tcfg = TrainConfig(out_dir=f"{args.out}/{name}", steps=steps, batch_size=batch, lr=lr, seed=seed,
                           precision=args.precision, accelerator="cpu", progress=False, log_every=50,
                           picture_every=max(1, steps // 4))
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        res = api.train(cfg, tcfg)
        g_ab = api.load_translator(res["checkpoint"])
        g_ba = api.load_translator(res["checkpoint"], reverse=True)
        pred = translate_batches(g_ab, data.test_a)
        s = image_scores(pred, data.test_b)
        if size in judges:
            j, real = judges[size]
            s.update(fcn_score(j, pred, data.test_a))
            fake = judge_features(j, pred)
            s["fid"] = frechet(fake, real)
            s["kid"] = kid(real, fake, subset_size=100)[0]
            with torch.no_grad():
                s["land"] = float(torch.cat([j(j.view(pred[i:i + 64])) > 0 for i in range(0, len(pred), 64)])
                                  .float().mean())
            s["true_land"] = float((data.test_a > 127).float().mean())
        s["cyc_a"] = cycle_l1(g_ab, g_ba, data.test_a)
        s["cyc_b"] = cycle_l1(g_ba, g_ab, data.test_b)
        s["seconds"] = time.perf_counter() - t0
        print(f"{name:14s} {steps} steps x{batch} lr {lr:g} {size}px {over}: "
              + ", ".join(f"{k} {v:.3f}" for k, v in s.items()) + f"; {header().split('; ')[-1]}", flush=True)


if __name__ == "__main__":
    main()
