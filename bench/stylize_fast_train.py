"""Fast style transfer (Johnson et al.) trained in a short CPU budget, scored against Gatys on the same pair.

Trains a TransformerNet (the reference 1,679,235-parameter net) for one style on crops of the offline photos
(scikit-image, scikit-learn, matplotlib, Debian's darknet/opencv-doc samples; the held-out photo is not among
them), then scores on the held-out photo, with one and the same perceptual loss (the training loss: content
relu2_2, style Grams relu1_2…relu4_3, Caffe VGG-19):

* the photo itself (the "no stylisation" baseline: content 0, the style term to beat),
* the fast net's one-pass output,
* Gatys' optimisation of that loss from the photo (L-BFGS, the per-image optimum the fast net approximates).

A picture ``fast_vs_gatys.png`` (photo | fast | Gatys | style) goes to ``--out``.

    PYTHONPATH=src nice python bench/stylize_fast_train.py --steps 400 --crop 128 --out /tmp/fast
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

STARRY = "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg"
HELD_OUT = "skimage/chelsea.png"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--style", default=STARRY)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--style-weight", type=float, default=30.0)
    ap.add_argument("--content-weight", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=256, help="Longer side of the held-out photo when scoring.")
    ap.add_argument("--gatys-steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--out", default="/tmp/pictorch-fast-style")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.see.api import load_photo
    from pictorch.tasks.stylize.api import GatysConfig, build_loss, stylize_gatys
    from pictorch.tasks.stylize.fast import FastStyleConfig, load_stylizer, train
    from pictorch.tasks.translate.data import photo_sources
    from pictorch.viz.grid import save_image_grid

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = dict(photo_sources())
    held = sources.get(HELD_OUT) or next(iter(sources.values()))
    tmp = Path(tempfile.mkdtemp(prefix="fast-style-"))
    photos = tmp / "photos"
    photos.mkdir()
    for name, path in sources.items():
        if path != held and path.is_file():
            shutil.copy(path, photos / name.replace("/", "_"))
    n_photos = len(list(photos.iterdir()))
    print(f"cpu: {cpu_model()}, threads {torch.get_num_threads()}, precision {args.precision}; {n_photos} "
          f"training photos, held out {held.name}; load {os.getloadavg()}", flush=True)

    fcfg = FastStyleConfig(style=args.style, content=str(photos), crop=args.crop,
                           content_weight=args.content_weight, style_weight=args.style_weight)
    tcfg = TrainConfig(out_dir=str(out / "run"), steps=args.steps, batch_size=args.batch, lr=args.lr,
                       precision=args.precision, accelerator="cpu", progress=False,
                       log_every=max(1, args.steps // 4), picture_every=0, seed=0)
    t0 = time.perf_counter()
    res = train(fcfg, tcfg)
    t_train = time.perf_counter() - t0
    print(f"trained {args.steps} steps × {args.batch} crops of {args.crop}² in {t_train:.0f} s "
          f"({res['images_per_s']:.1f} img/s); final train terms "
          + ", ".join(f"{k} {v:.4g}" for k, v in res["metrics"].items() if k in ("content", "style", "loss"))
          + f"; load {os.getloadavg()}", flush=True)

    # one loss for all three: Gatys' optimiser on the fast net's training loss
    gcfg = GatysConfig(content_layers=("relu2_2",), style_layers=tuple(fcfg.style_layers.split(",")),
                       content_weight=args.content_weight, style_weight=args.style_weight,
                       steps=args.gatys_steps, size=args.size, style_size=fcfg.style_size)
    loss = build_loss(gcfg)
    photo = load_photo(held, channels=3, max_side=args.size)
    style = load_photo(args.style, channels=3, max_side=fcfg.style_size)
    loss.set_content(photo)
    loss.set_style([style])
    net, _ = load_stylizer(res["checkpoint"])
    t = time.perf_counter()
    with torch.no_grad():
        fast = net(photo).clamp(0, 1)
    t_fast = time.perf_counter() - t
    t = time.perf_counter()
    g = stylize_gatys(held, [args.style], gcfg, progress=False, loss=loss)
    t_gatys = time.perf_counter() - t
    loss.set_content(photo)  # stylize_gatys reset the targets to its own (identical) resize; score on ours
    loss.set_style([style])
    rows = []
    with torch.no_grad():
        for name, img, secs in (("photo itself", photo, 0.0), ("fast net", fast, t_fast),
                                (f"Gatys ({args.gatys_steps} L-BFGS)", g.image, t_gatys)):
            terms = loss(img)
            rows.append((name, float(terms["content"]), float(terms["style"]), float(terms["loss"]), secs))
    print(f"held-out {held.name} at {photo.shape[-1]}×{photo.shape[-2]}, the training loss "
          f"(content {args.content_weight}·relu2_2, style {args.style_weight}·Grams {fcfg.style_layers}):")
    for name, c, s, total, secs in rows:
        print(f"  {name:22s} content {c:10.4g}  style {s:10.4g}  total {total:10.4g}  ({secs:.2f} s)")
    fast_total, gatys_total, base = rows[1][3], rows[2][3], rows[0][3]
    print(f"fast / Gatys total loss {fast_total / gatys_total:.2f}; the fast net removes "
          f"{(base - fast_total) / max(base - gatys_total, 1e-12) * 100:.0f} % of the loss Gatys removes; "
          f"load {os.getloadavg()}")
    style_show = torch.nn.functional.interpolate(style, size=photo.shape[-2:], mode="bilinear", antialias=True)
    save_image_grid(torch.cat([photo, fast, g.image, style_show]), out / "fast_vs_gatys.png", nrow=4,
                    value_range=(0.0, 1.0))
    print(f"wrote {out / 'fast_vs_gatys.png'} (photo | fast | Gatys | style)")


if __name__ == "__main__":
    main()
