"""Land/water on NASA's Blue Marble (xplanet-images' earth.jpg) with the exact GLOBE mask of the
global-land-mask wheel: U-Net vs a colour-threshold baseline, on the quadrant split.

The image is 2048×1024 equirectangular; quadrant ``--fold`` (0 NW, 1 NE, 2 SW, 3 SE) is held out, the other
three train. The baseline is the best linear threshold in RGB colour space (logistic regression on the
training quadrants' pixels, then thresholded at 0.5): what a colour rule can do at best, with no context.
Scores: land IoU and Dice (micro over the held-out quadrant), pixel accuracy.

    PYTHONPATH=src nice python bench/segment_earth.py --fold 1 --steps 100
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import load  # bench/ is on sys.path when a bench runs


def colour_baseline(train, test) -> dict:
    """Logistic regression on (r, g, b)/255 over the training pixels; the test quadrant's report."""
    from pictorch.metrics.segmentation import segmentation_report

    g = torch.Generator().manual_seed(0)
    x = torch.cat([im.reshape(3, -1).T.float() / 255 for im in train.images])
    y = torch.cat([m.reshape(-1).float() for m in train.masks])
    idx = torch.randperm(len(x), generator=g)[:200_000]
    x, y = x[idx], y[idx]
    w = torch.zeros(3, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        preds = [((im.reshape(3, -1).T.float() / 255 @ w + b) > 0).reshape(im.shape[-2:]).to(torch.uint8)
                 for im in test.images]
    return segmentation_report(preds, test.masks, test.classes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", default="1")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    torch.set_num_threads(args.threads)

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.segment import api
    from pictorch.tasks.segment.data import load_earth, quadrant_folds
    from pictorch.tasks.segment.steps import SegmentConfig

    print(f"{torch.get_num_threads()} threads; {load()}")
    earth = load_earth()
    tmp = Path(tempfile.mkdtemp(prefix="segment-earth-"))
    for k in (int(f) for f in args.folds.split(",")):
        train, test = quadrant_folds(earth, k)
        base = colour_baseline(train, test)["foreground"]
        print(f"fold {k} colour threshold (RGB logistic): land IoU {base['iou']:.4f} Dice {base['dice']:.4f}")
        cfg = SegmentConfig(data="earth", fold=k, arch="unet", model_kwargs={"width": 16, "depth": 4},
                            crop=args.crop, augment="light")
        tcfg = TrainConfig(out_dir=str(tmp / f"fold{k}"), steps=args.steps, batch_size=args.batch_size, lr=3e-3,
                           progress=False, log_every=max(1, args.steps // 2), seed=k)
        t0 = time.perf_counter()
        res = api.train(cfg, tcfg, data=train, val=test)
        fg = res["val"]["foreground"]
        print(f"fold {k} U-Net: land IoU {fg['iou']:.4f} Dice {fg['dice']:.4f}, pixel accuracy "
              f"{res['val']['pixel_accuracy']:.4f} ({args.steps} steps, {time.perf_counter() - t0:.0f} s); {load()}",
              flush=True)


if __name__ == "__main__":
    main()
