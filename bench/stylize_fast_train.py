"""Fast style transfer (Johnson et al.) trained in a short CPU budget, scored against Gatys on held-out photos.

Trains a TransformerNet (the reference 1,679,235-parameter net) for one style on crops of the offline photos
(scikit-image, scikit-learn, matplotlib, Debian's darknet/opencv-doc samples) minus the held-out ones, then
scores each held-out photo three ways, for the photo itself (no stylisation), the fast net's one pass, and
Gatys' L-BFGS optimisation of the same training loss from the photo (the per-image optimum the net
approximates):

* the training loss (its weighted content, style and total: "the fast net removes X % of what Gatys removes");
* content kept: the plain relu2_2 feature MSE to the photo (the same for every configuration), the edge
  correlation (Pearson r of the Sobel magnitudes of the blurred luminance: 1 = the photo's outlines, ~0 = none
  left) and whether EfficientNet-Lite0 still gives the photo's own top-1 class in its top 5 ("recognisably
  the photo": a cat stays a cat);
* style reached: the plain Gram MSE to the style's Grams at relu1_2…relu4_3 (unweighted, · 1/C²) as a fraction
  of the photo's own (1 = not stylised, lower = closer to the style).

A picture ``fast_vs_gatys.png`` (rows: photo | fast net | Gatys | style) goes to ``--out`` (numbered, never
over an earlier one).

    PYTHONPATH=src nice python bench/stylize_fast_train.py --steps 200 --crop 128 --out /tmp/fast   # ~5 min quiet, 25 at load 10
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import env_line, load  # noqa: E402

STARRY = "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg"
HELD_OUT = "skimage/chelsea.png,skimage/coffee.png,darknet/dog.jpg"
SCORE_STYLE = "relu1_2,relu2_2,relu3_3,relu4_3"


def edge_correlation(a: torch.Tensor, b: torch.Tensor, blur: float = 2.0) -> float:
    """Pearson r of the Sobel gradient magnitudes of two pictures' blurred luminance (1×3×H×W, [0, 1]).

    The blur (σ = 2 px) removes brush-stroke texture, so what is compared is the outlines of the objects."""
    def edges(x: torch.Tensor) -> torch.Tensor:
        y = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
        r = int(3 * blur)
        t = torch.arange(-r, r + 1, dtype=y.dtype)
        k = torch.exp(-(t ** 2) / (2 * blur ** 2))
        k = k / k.sum()
        y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
        y = F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
        sx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=y.dtype).view(1, 1, 3, 3)
        yp = F.pad(y, (1, 1, 1, 1), mode="replicate")
        gx, gy = F.conv2d(yp, sx), F.conv2d(yp, sx.transpose(-1, -2))
        return (gx ** 2 + gy ** 2).sqrt().flatten()

    ea, eb = edges(a), edges(b)
    ea, eb = ea - ea.mean(), eb - eb.mean()
    return float((ea * eb).sum() / (ea.norm() * eb.norm()).clamp_min(1e-12))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--style", default=STARRY)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--style-weight", type=float, default=None, help="default: FastStyleConfig's")
    ap.add_argument("--content-weight", type=float, default=None)
    ap.add_argument("--tv-weight", type=float, default=None)
    ap.add_argument("--style-size", type=int, default=None)
    ap.add_argument("--content-layers", default=None)
    ap.add_argument("--style-layers", default=None)
    ap.add_argument("--identity-steps", type=int, default=None)
    ap.add_argument("--skip", type=int, default=None, help="1: TransformerNet with the input skip, 0: without")
    ap.add_argument("--held-out", default=HELD_OUT, help="Comma-separated photo_sources names kept out of training.")
    ap.add_argument("--size", type=int, default=256, help="Longer side of the held-out photos when scoring.")
    ap.add_argument("--gatys-steps", type=int, default=100, help="0: skip Gatys (quick tuning runs).")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", default="32-true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/pictorch-fast-style")
    ap.add_argument("--ckpt", default=None, help="Score this trained net (its run's settings given as above) "
                                                 "instead of training one.")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from pictorch.engine.config import TrainConfig
    from pictorch.losses.perceptual import PerceptualLoss
    from pictorch.nn.features import FeatureNet, input_spec, load_frozen
    from pictorch.tasks.see.api import fresh_path, load_photo
    from pictorch.tasks.stylize.api import GatysConfig, build_loss, stylize_gatys
    from pictorch.tasks.stylize.fast import FastStyleConfig, build_perceptual, load_stylizer, train
    from pictorch.tasks.translate.data import photo_sources
    from pictorch.viz.grid import save_image_grid

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = dict(photo_sources())
    held_names = [n for n in args.held_out.split(",") if n in sources] or [next(iter(sources))]
    held = [sources[n] for n in held_names]
    tmp = Path(tempfile.mkdtemp(prefix="fast-style-"))
    photos = tmp / "photos"
    photos.mkdir()
    for name, path in sources.items():
        if path not in held and path.is_file():
            shutil.copy(path, photos / name.replace("/", "_"))
    n_photos = len(list(photos.iterdir()))

    over = {k: v for k, v in {"style_weight": args.style_weight, "content_weight": args.content_weight,
                              "tv_weight": args.tv_weight, "style_size": args.style_size,
                              "content_layers": args.content_layers, "style_layers": args.style_layers,
                              "identity_steps": args.identity_steps,
                              "skip": None if args.skip is None else bool(args.skip)}.items() if v is not None}
    fcfg = FastStyleConfig(style=args.style, content=str(photos), crop=args.crop, **over)
    print(env_line(), flush=True)
    print(f"{n_photos} training photos, held out {', '.join(held_names)}; style {Path(args.style).name}; "
          f"{args.steps} steps × {args.batch} crops of {args.crop}², lr {args.lr}, style_size {fcfg.style_size}, "
          f"weights content {fcfg.content_weight}·{fcfg.content_layers} style {fcfg.style_weight}·"
          f"{fcfg.style_layers} tv {fcfg.tv_weight}, identity_steps {fcfg.identity_steps}, skip {fcfg.skip}", flush=True)
    tcfg = TrainConfig(out_dir=str(out / "run"), steps=args.steps, batch_size=args.batch, lr=args.lr,
                       precision=args.precision, accelerator="cpu", progress=False,
                       log_every=max(1, args.steps // 4), picture_every=0, seed=args.seed)
    t0 = time.perf_counter()
    res = train(fcfg, tcfg) if args.ckpt is None else None
    t_train = time.perf_counter() - t0
    if res is None:
        print(f"scoring {args.ckpt}", flush=True)
        res = {"checkpoint": args.ckpt}
    else:
        print(f"trained in {t_train:.0f} s ({t_train / args.steps:.2f} s/step, {res['images_per_s']:.1f} img/s); "
              "final train terms " + ", ".join(f"{k} {v:.4g}" for k, v in res["metrics"].items()
                                               if k in ("content", "style", "loss")) + f"; {load()}", flush=True)

    # the training loss (Gatys optimises the same), and a fixed plain scorer shared by every configuration
    loss = build_perceptual(fcfg)
    score_net = FeatureNet(loss.net.model, ["relu2_2", *SCORE_STYLE.split(",")], call=loss.net.call)
    scorer = PerceptualLoss(score_net, ["relu2_2"], SCORE_STYLE.split(","), content_weight=1.0, style_weight=1.0)
    style = load_photo(args.style, channels=3, max_side=fcfg.style_size)
    loss.set_style([style])
    scorer.set_style([style])
    gcfg = GatysConfig(content_layers=tuple(fcfg.content_layers.split(",")),
                       style_layers=tuple(fcfg.style_layers.split(",")), content_weight=fcfg.content_weight,
                       style_weight=fcfg.style_weight, tv_weight=fcfg.tv_weight, steps=max(1, args.gatys_steps),
                       size=args.size, style_size=fcfg.style_size)
    gloss = build_loss(gcfg) if args.gatys_steps else None
    lite = load_frozen("efficientnet_lite0")
    lite_spec = input_spec(lite)
    net, _ = load_stylizer(res["checkpoint"])

    def top(img: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return lite(lite_spec.normalize(F.interpolate(img, size=(224, 224), mode="bilinear",
                                                          antialias=True))).softmax(1)[0]

    kinds = ["photo", "fast", "gatys"] if args.gatys_steps else ["photo", "fast"]
    agg = {k: {"total": 0.0, "removed": 0.0, "content": 0.0, "edge": 0.0, "style_frac": 0.0, "kept": 0}
           for k in kinds}
    tiles = []
    for path in held:
        photo = load_photo(path, channels=3, max_side=args.size)
        loss.set_content(photo)
        scorer.set_content(photo)
        t = time.perf_counter()
        with torch.no_grad():
            fast = net(photo).clamp(0, 1)
        t_fast = time.perf_counter() - t
        pics = {"photo": (photo, 0.0), "fast": (fast, t_fast)}
        if args.gatys_steps:
            t = time.perf_counter()
            g = stylize_gatys(path, [args.style], gcfg, progress=False, loss=gloss)
            pics["gatys"] = (g.image, time.perf_counter() - t)
        p0 = top(photo)
        cls = int(p0.argmax())
        base_style = None
        base_total = None
        print(f"{path.name} {photo.shape[-1]}×{photo.shape[-2]} (Lite0 top-1 class {cls}, p {float(p0[cls]):.2f}):")
        for k in kinds:
            img, secs = pics[k]
            with torch.no_grad():
                tr = loss(img)
                sc = scorer(img)
            probs = top(img)
            rank = int((probs > probs[cls]).sum()) + 1
            base_style = float(sc["style"]) if base_style is None else base_style
            base_total = float(tr["loss"]) if base_total is None else base_total
            edge = edge_correlation(img, photo)
            frac = float(sc["style"]) / base_style
            a = agg[k]
            a["total"] += float(tr["loss"])
            a["removed"] += base_total - float(tr["loss"])
            a["content"] += float(sc["content"])
            a["edge"] += edge
            a["style_frac"] += frac
            a["kept"] += int(rank <= 5)
            print(f"  {k:6s} train loss {float(tr['loss']):9.4g} (content {float(tr['content']):9.4g} style "
                  f"{float(tr['style']):9.4g})  plain content {float(sc['content']):8.4g}  edge r {edge:5.3f}  "
                  f"style {frac:6.4f} of the photo's  class rank {rank:3d} (p {float(probs[cls]):.2f})  "
                  f"{secs:.2f} s", flush=True)
        style_show = F.interpolate(style, size=photo.shape[-2:], mode="bilinear", antialias=True)
        tiles += [pics[k][0] for k in kinds] + [style_show]
    n = len(held)
    print(f"mean over {n} held-out photos ({load()}):")
    for k in kinds:
        a = agg[k]
        print(f"  {k:6s} plain content {a['content'] / n:8.4g}  edge r {a['edge'] / n:5.3f}  style "
              f"{a['style_frac'] / n:6.4f} of the photo's  class in top-5 {a['kept']}/{n}")
    if args.gatys_steps:
        print(f"the fast net removes {agg['fast']['removed'] / max(agg['gatys']['removed'], 1e-12) * 100:.0f} % "
              "of the training loss Gatys removes (summed over the held-out photos)")
    h = max(t.shape[-2] for t in tiles)
    w = max(t.shape[-1] for t in tiles)
    tiles = [F.pad(t, (0, w - t.shape[-1], 0, h - t.shape[-2]), value=1.0) for t in tiles]
    dst = fresh_path(out / "fast_vs_gatys.png")
    save_image_grid(torch.cat(tiles), dst, nrow=len(kinds) + 1, value_range=(0.0, 1.0))
    print(f"wrote {dst} (rows: {' | '.join(kinds)} | style)")


if __name__ == "__main__":
    main()
