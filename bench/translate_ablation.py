"""pix2pix's loss ablation on a real offline task: L1+cGAN vs L1 only vs cGAN only, several seeds.

Task: labels2satellite (the exact land/water mask of the ``global-land-mask`` wheel → NASA's Earth by day,
held-out longitude bands). Scores on the held-out tiles: L1 / PSNR / SSIM against the true day image and the
paper's "FCN-score": a small segmenter trained on REAL day tiles (train bands) labels each generated tile
land/water, scored against the mask the tile was generated from (pixel accuracy and mean IoU over the two
classes). The segmenter on the real held-out tiles gives the ceiling. ``fd`` is FID's Fréchet distance computed
on the judge's hidden features (channel means and std devs) between generated held-out tiles and real training
tiles: a realism score that blur does not pass (lower is better; real held-out tiles give its floor).

Two judges: ``colour`` sees the tile as it is; ``texture`` sees only its colour-free high-pass (gray minus its
5×5 local mean), so it must find land by its relief and cannot label a blurry tile from its colours alone. The
colour judge is what the paper's FCN-score resembles least: land/water is a colour question, so blurry L1-only
tiles with the right colours pass it; the texture judge asks for what the cGAN adds. Both judges also score the
real held-out tiles blurred (3×3 box, twice): how much blur alone costs under each judge.

Beside them, the paper's logic in one more score: ``int_*`` is the texture judge scored only on *interior* pixels,
those with no pixel of the other class within ``--interior`` px (default: the judge's receptive radius, 10 px:
5×5 high-pass + dilations 1, 2, 4, 1), so the coastline the label draws into the image is outside everything the
judge sees there, and land must be recognised by what the generator made of it. ``int_land`` / ``int_water``
are the fractions of interior land / water labelled right, ``int_bacc`` their mean (a generator that paints relief
everywhere scores land 1, water 0: 0.5). ``tex_fd`` is ``fd`` on the texture judge's features (a realism score of
the high-pass, which colours cannot pass). ``fd_held`` is ``fd`` against the REAL held-out tiles (same masks, same
land fraction) instead of the training tiles: generated held-out tiles can sit closer to the training bands'
statistics than the real held-out tiles do (``fd`` below its floor), which is not realism. ``hp_land`` /
``hp_water``: the RMS of the texture view on interior land / water (how much texture the generator painted there).

Run: ``nice python bench/translate_ablation.py [--steps 400] [--seeds 0,1,2] [--size 32]``; the 64-px setting of
the README: ``--size 64 --steps 800 [--lr 2e-4]`` (about 20 min at load 3-5; ``--reuse`` rescores its checkpoints).

``--task day2night``: the same arms on NASA's Earth by day → at night; the judges are trained on REAL night
training tiles to label the land mask of the same tile (labels2satellite's tiles, cut at the same places: checked
by :func:`aligned_masks`). Its judges' lines (``--arms ""`` prints only those) came out near chance at 32 px (the
README's ablation part): half of the held-out land pixels are pure black at night, as water is.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from _common import cpu_model  # bench/ is on sys.path when a bench runs
from torch import nn

if TYPE_CHECKING:
    from pictorch.tasks.translate.data import TranslationData

ARMS = {"l1+cgan": {"lambda_l1": 100.0, "gan_weight": 1.0}, "l1": {"lambda_l1": 100.0, "gan_weight": 0.0},
        "cgan": {"lambda_l1": 0.0, "gan_weight": 1.0}}


def header() -> str:
    la = os.getloadavg()
    return (f"cpu: {cpu_model()}; threads {torch.get_num_threads()}; torch {torch.__version__}; "
            f"load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")


class Segmenter(nn.Module):
    """A small fully convolutional land/water labeller (the FCN-score's judge)."""

    def __init__(self, width: int = 24, in_chans: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_chans
        for dil in (1, 2, 4, 1):
            layers += [nn.Conv2d(c, width, 3, padding=dil, dilation=dil), nn.BatchNorm2d(width), nn.ReLU(True)]
            c = width
        layers.append(nn.Conv2d(width, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255.0 * 2 - 1


def _texture(x: torch.Tensor) -> torch.Tensor:
    """The colour-free high-pass a texture judge sees: gray minus its 5×5 local mean (×4 to unit-ish scale)."""
    g = _unit(x).mean(1, keepdim=True)
    return 4 * (g - F.avg_pool2d(g, 5, 1, 2, count_include_pad=False))


VIEWS = {"colour": (_unit, 3), "texture": (_texture, 1)}


def blurred(x: torch.Tensor) -> torch.Tensor:
    """uint8 images through a 3×3 box blur applied twice (the blur control)."""
    y = x.float()
    for _ in range(2):
        y = F.avg_pool2d(y, 3, 1, 1, count_include_pad=False)
    return y.round().clamp(0, 255).to(torch.uint8)


def train_segmenter(images: torch.Tensor, masks: torch.Tensor, steps: int = 200, seed: int = 0,
                    view: str = "colour") -> Segmenter:
    """Fit the judge on real images (uint8 N×3×H×W) and their masks (uint8 N×1×H×W, 255 = land)."""
    torch.manual_seed(seed)
    fn, chans = VIEWS[view]
    m = Segmenter(in_chans=chans)
    m.view = fn
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, images.shape[0], (32,), generator=g)
        loss = F.binary_cross_entropy_with_logits(m(fn(images[idx])), (masks[idx] > 127).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


@torch.no_grad()
def fcn_score(judge: Segmenter, images: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """Pixel accuracy and mean IoU (land, water) of the judge's labels of ``images`` against ``masks``."""
    pred = torch.cat([judge(judge.view(images[i:i + 64])) > 0 for i in range(0, images.shape[0], 64)])
    true = masks > 127
    acc = (pred == true).float().mean().item()
    ious = []
    for cls in (True, False):
        p, t = pred == cls, true == cls
        union = (p | t).sum().item()
        if union:
            ious.append((p & t).sum().item() / union)
    return {"fcn_acc": acc, "fcn_miou": sum(ious) / len(ious)}


def receptive_radius(judge: Segmenter) -> int:
    """How far (px) the judge's label of a pixel looks: its convolutions' reach, plus the texture view's 5×5."""
    r = sum(m.dilation[0] * (m.kernel_size[0] // 2) for m in judge.net if isinstance(m, nn.Conv2d))
    return r + (2 if getattr(judge, "view", _unit) is _texture else 0)


def interior(masks: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Interior land and interior water (bool N×1×H×W) of uint8 masks: pixels with no pixel of the other class
    within ``radius`` px (Chebyshev distance, inside the tile: the judge sees nothing beyond it)."""
    land = (masks > 127).float()
    k = 2 * radius + 1
    any_land = F.max_pool2d(land, k, 1, radius)
    any_water = F.max_pool2d(1 - land, k, 1, radius)
    return any_water == 0, any_land == 0


@torch.no_grad()
def fcn_interior(judge: Segmenter, images: torch.Tensor, masks: torch.Tensor, radius: int) -> dict[str, float]:
    """The judge's labels scored on interior pixels only (see :func:`interior`): the fractions of interior land
    and water labelled right and their mean (balanced accuracy). The judge sees the whole tile."""
    pred = torch.cat([judge(judge.view(images[i:i + 64])) > 0 for i in range(0, images.shape[0], 64)])
    land, water = interior(masks, radius)
    nl, nw = int(land.sum()), int(water.sum())
    rl = (pred & land).sum().item() / nl if nl else float("nan")
    rw = (~pred & water).sum().item() / nw if nw else float("nan")
    return {"int_land": rl, "int_water": rw, "int_bacc": (rl + rw) / 2}


@torch.no_grad()
def highpass_rms(images: torch.Tensor, masks: torch.Tensor, radius: int) -> dict[str, float]:
    """RMS of the texture view (÷ 4: gray minus its 5×5 mean, on [-1, 1]) over interior land and interior water:
    how much texture an image has where the label leaves no coastline in the judge's sight."""
    t = _texture(images) / 4
    land, water = interior(masks, radius)
    sq = t.pow(2)
    return {"hp_land": sq[land].mean().sqrt().item() if land.any() else float("nan"),
            "hp_water": sq[water].mean().sqrt().item() if water.any() else float("nan")}


@torch.no_grad()
def judge_features(judge: Segmenter, images: torch.Tensor) -> torch.Tensor:
    """Per-image texture statistics from the judge's last hidden layer: channel means and std devs (48-d).

    The images go through the judge's own view (colour or texture)."""
    trunk = judge.net[:-1]
    view = getattr(judge, "view", _unit)
    out = []
    for i in range(0, images.shape[0], 64):
        f = trunk(view(images[i:i + 64]))
        out.append(torch.cat([f.mean((2, 3)), f.std((2, 3))], 1))
    return torch.cat(out).double()


def frechet(fa: torch.Tensor, fb: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID's formula, on the judge's features)."""
    import numpy as np
    from scipy import linalg

    mu_a, mu_b = fa.mean(0).numpy(), fb.mean(0).numpy()
    ca, cb = np.cov(fa.numpy(), rowvar=False), np.cov(fb.numpy(), rowvar=False)
    covmean = linalg.sqrtm(ca @ cb)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * covmean))


def crop_center(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return x[..., y0:y0 + size, x0:x0 + size]


def aligned_masks(data: TranslationData, labels: TranslationData) -> tuple[torch.Tensor, torch.Tensor]:
    """The land/water masks (train, held-out) of ``data``'s tiles, taken from ``labels`` (labels2satellite cut
    at the same size and seed: the same tile positions, so its B, the day image, must equal ``data``'s A).

    Raises:
        ValueError: the two tasks' day tiles differ (the tiles were not cut at the same places).
    """
    for a, b in ((labels.train_b, data.train_a), (labels.test_b, data.test_a)):
        if a.shape != b.shape or not torch.equal(a, b):
            raise ValueError("the labels2satellite tiles are not cut where the day2night tiles are")
    return labels.train_a, labels.test_a


def majority_score(masks: torch.Tensor) -> dict[str, float]:
    """The FCN-score of a judge that labels every pixel the masks' majority class (the chance level)."""
    land = (masks > 127).float().mean().item()
    top = max(land, 1 - land)
    return {"fcn_acc": top, "fcn_miou": top / 2}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="labels2satellite", choices=("labels2satellite", "day2night"),
                    help="day2night: the judges are trained on real NIGHT tiles against the tiles' land masks")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--arms", default="l1+cgan,l1,cgan", help='comma-separated; "" scores the judges only')
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam LR of G and D (short budgets: 5x the papers' 2e-4)")
    ap.add_argument("--precision", default="32-true", help="32-true, or bf16-mixed (native-bf16 CPUs)")
    ap.add_argument("--interior", type=int, default=-1,
                    help="px from the other class for the interior score (-1: the texture judge's receptive radius)")
    ap.add_argument("--reuse", action="store_true",
                    help="score the checkpoints an earlier run left in --out (ARM-sSEED/last.safetensors), no training")
    ap.add_argument("--out", default="/tmp/pictorch-bench-translate-ablation")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    torch.set_num_threads(args.threads)

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.translate import api
    from pictorch.tasks.translate.data import load_translation_data
    from pictorch.tasks.translate.reports import image_scores, translate_batches

    data = load_translation_data(args.task, size=args.size)
    if args.task == "labels2satellite":
        m_train, m_test = data.train_a, data.test_a
    else:  # the land masks of the same tiles: labels2satellite cuts them at the same places (same size and seed)
        m_train, m_test = aligned_masks(data, load_translation_data("labels2satellite", size=args.size))
    t0 = time.perf_counter()
    judge = train_segmenter(crop_center(data.train_b, args.size), crop_center(m_train, args.size))
    ceiling = fcn_score(judge, data.test_b, m_test)
    real_train_feats = judge_features(judge, crop_center(data.train_b, args.size)[:1000])
    real_test_feats = judge_features(judge, data.test_b)
    ceiling["fd"] = frechet(real_test_feats, real_train_feats)
    tex_judge = train_segmenter(crop_center(data.train_b, args.size), crop_center(m_train, args.size),
                                steps=400, view="texture")
    tex_ceiling = fcn_score(tex_judge, data.test_b, m_test)
    blur_c, blur_t = (fcn_score(j, blurred(data.test_b), m_test) for j in (judge, tex_judge))
    radius = receptive_radius(tex_judge) if args.interior < 0 else args.interior
    int_land, int_water = interior(m_test, radius)
    int_ceiling = fcn_interior(tex_judge, data.test_b, m_test, radius)
    int_blur = fcn_interior(tex_judge, blurred(data.test_b), m_test, radius)
    hp_real, hp_blur = (highpass_rms(x, m_test, radius) for x in (data.test_b, blurred(data.test_b)))
    tex_train_feats = judge_features(tex_judge, crop_center(data.train_b, args.size)[:1000])
    tex_fd_floor = frechet(judge_features(tex_judge, data.test_b), tex_train_feats)
    print(header())
    print(f"{args.task} {args.size}px: {data.train_a.shape[0]} train tiles, {data.test_a.shape[0]} held-out "
          f"tiles (bands {data.info['held_out_longitude_bands']}); judge trained in {time.perf_counter() - t0:.0f}s")
    chance = majority_score(m_test)
    print(f"ceiling (judge on real held-out tiles): acc {ceiling['fcn_acc']:.3f}, mIoU {ceiling['fcn_miou']:.3f}; "
          f"FD(real held-out, real train) {ceiling['fd']:.3f} (the floor of fd); chance (every pixel the majority "
          f"class): acc {chance['fcn_acc']:.3f}, mIoU {chance['fcn_miou']:.3f}")
    print(f"texture judge on real held-out tiles: acc {tex_ceiling['fcn_acc']:.3f}, mIoU {tex_ceiling['fcn_miou']:.3f}"
          f"; on the same tiles blurred: colour judge acc {blur_c['fcn_acc']:.3f} mIoU {blur_c['fcn_miou']:.3f}, "
          f"texture judge acc {blur_t['fcn_acc']:.3f} mIoU {blur_t['fcn_miou']:.3f}", flush=True)
    print(f"interior (no other class within {radius} px): {int_land.float().mean():.3f} of held-out pixels land, "
          f"{int_water.float().mean():.3f} water; texture judge there on real held-out tiles: land "
          f"{int_ceiling['int_land']:.3f}, water {int_ceiling['int_water']:.3f}, bacc {int_ceiling['int_bacc']:.3f}; "
          f"blurred: land {int_blur['int_land']:.3f}, water {int_blur['int_water']:.3f}, bacc {int_blur['int_bacc']:.3f}; "
          f"tex_fd(real held-out, real train) {tex_fd_floor:.3f} (its floor); high-pass RMS on interior land / water: real "
          f"{hp_real['hp_land']:.3f} / {hp_real['hp_water']:.3f}, blurred {hp_blur['hp_land']:.3f} / "
          f"{hp_blur['hp_water']:.3f}", flush=True)
    rows: dict[str, list[dict[str, float]]] = {}
    for arm in [a for a in args.arms.split(",") if a]:  # --arms "": the judges' lines only
        for seed in [int(s) for s in args.seeds.split(",")]:
            cfg = api.TranslateConfig(model="pix2pix", data=args.task, size=args.size, ngf=args.ngf,
                                      ndf=args.ngf, **ARMS[arm])
            tcfg = TrainConfig(out_dir=f"{args.out}/{arm}-s{seed}", steps=args.steps, batch_size=args.batch, lr=args.lr,
                               seed=seed, precision=args.precision, accelerator="cpu", progress=False, log_every=50)
            torch.manual_seed(seed)
            ckpt = Path(tcfg.out_dir) / "last.safetensors"
            if args.reuse and ckpt.is_file():
                res = {"checkpoint": str(ckpt), "seconds": float("nan")}
            else:
                res = api.train(cfg, tcfg)
            g = api.load_translator(res["checkpoint"])
            pred = translate_batches(g, data.test_a)
            tex = {f"tex_{k.split('_')[1]}": v for k, v in fcn_score(tex_judge, pred, m_test).items()}
            s = {**image_scores(pred, data.test_b), **fcn_score(judge, pred, m_test), **tex,
                 "fd": frechet(judge_features(judge, pred), real_train_feats),
                 "fd_held": frechet(judge_features(judge, pred), real_test_feats),
                 **fcn_interior(tex_judge, pred, m_test, radius), **highpass_rms(pred, m_test, radius),
                 "tex_fd": frechet(judge_features(tex_judge, pred), tex_train_feats), "seconds": res["seconds"]}
            rows.setdefault(arm, []).append(s)
            print(f"  {arm:8s} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in s.items()), flush=True)
    print(f"mean ± sd over seeds ({args.steps} steps, batch {args.batch}, lr {args.lr:g}, ngf=ndf={args.ngf}, "
          f"{args.precision}; "
          f"load average now {os.getloadavg()[0]:.2f}):")
    for arm, rs in rows.items():
        parts = []
        for k in ("l1", "psnr", "ssim", "fcn_acc", "fcn_miou", "tex_acc", "tex_miou", "fd", "fd_held", "int_land",
                  "int_water", "int_bacc", "hp_land", "hp_water", "tex_fd"):
            v = [r[k] for r in rs]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            parts.append(f"{k} {statistics.mean(v):.3f}±{sd:.3f}")
        print(f"  {arm:8s} " + ", ".join(parts))


if __name__ == "__main__":
    main()
