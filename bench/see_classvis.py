"""Class visualisation on EfficientNet-Lite0: is the rendered picture its target class's top-1 with p >= 0.9?

Renders one picture per random ImageNet class (Fourier parametrisation, decorrelated colour, jitter/scale/
rotate; all classes in one batch) and scores the final pictures, un-jittered, with the same network. The
baseline in the same process is the same count on the starting noise (before any step). Target: >= 18 of 20.

Run: ``PYTHONPATH=src nice python bench/see_classvis.py [--classes 20 --steps 128 --size 128]``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from _common import cpu_model  # bench/ is on sys.path when a bench runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="efficientnet_lite0", help="name[:tag] or a classifier checkpoint "
                    "(e.g. a Fashion-MNIST run: all its classes are rendered when --classes >= their count)")
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--objective", default="logprob", help="logprob or logit")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="Save the grid here (PNG).")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    torch.set_num_threads(args.threads)
    from pictorch.nn.features import input_spec, load_frozen
    from pictorch.tasks.see.api import MaximizeConfig, maximize

    model = load_frozen(args.model)
    from pictorch.nn.features import in_channels

    chans = in_channels(model)
    with torch.no_grad():
        n_classes = model(torch.zeros(1, chans, args.size, args.size)).shape[1]
    g = torch.Generator().manual_seed(args.seed)
    classes = torch.randperm(n_classes, generator=g)[: args.classes].tolist()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    res = maximize(model, classes, None, MaximizeConfig(steps=args.steps, size=args.size, seed=args.seed,
                                                               class_objective=args.objective),
                   progress=False)
    secs = time.perf_counter() - t0
    # baseline: the parametrisation's starting pictures
    from pictorch.tasks.see.maximize import FourierImage

    start = FourierImage(len(classes), chans, (args.size, args.size), generator=torch.Generator().manual_seed(args.seed))()
    with torch.no_grad():
        p0 = model(input_spec(model).normalize(start)).softmax(1)
    base_hits = sum(int(p0[i].argmax() == c and p0[i, c] >= 0.9) for i, c in enumerate(classes))
    hits = sum(int(t == c and p >= 0.9) for c, t, p in zip(classes, res.top1, res.prob, strict=True))
    print(f"cpu: {cpu_model()}, threads {torch.get_num_threads()}, load before {load0}, after {os.getloadavg()}")
    print(f"classes: {classes}")
    print(f"p(target): {[round(p, 3) for p in res.prob]}")
    print(f"top-1: {res.top1}")
    print(f"{args.model} class visualisation: {hits}/{len(classes)} pictures are their class's top-1 with p >= 0.9 "
          f"({args.objective}, {args.steps} steps, {args.size} px, {secs:.0f} s); baseline (start noise): {base_hits}/{len(classes)}")
    if args.out:
        from pictorch.viz.grid import save_image_grid

        save_image_grid(res.images, args.out, nrow=10, labels=[f"{c}: {p:.2f}" for c, p in zip(classes, res.prob,
                                                                                            strict=True)])


if __name__ == "__main__":
    main()
