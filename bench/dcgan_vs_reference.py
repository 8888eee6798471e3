"""``gan train --model dcgan`` against a pytorch/examples-style DCGAN loop: 64×64 Fashion-MNIST, fp32.

The reference is written here after the structure of pytorch/examples ``dcgan/main.py`` (not copied): the
same generator (ConvTranspose 100 → 8·ngf at 4×4, three ×2 stages with BatchNorm + ReLU, tanh to 64×64) and
discriminator (four strided 4×4 convolutions with BatchNorm + LeakyReLU(0.2), a 4×4 conv to one sigmoid
output), N(0, 0.02) weights, Adam(2e-4, β1 0.5), BCELoss, a ``DataLoader`` whose dataset resizes each PIL
image to 64 px and normalizes it per item, ``netD.zero_grad()``, D on real then on ``fake.detach()``, G through
D on the same fakes, and ``.item()`` on the five logged values every step. ``num_workers=0``: on this shared
2-core machine worker processes would take the cores the step uses (the example's default is 2).

pictorch runs ``api.train`` (what ``gan train --model dcgan --image-size 64 -b 128`` runs: in-memory uint8
images resized once, channels-last, its default tricks, metrics synced once per log interval) with the same
thread count. Rounds alternate the order (A B, B A, ...); each side's img/s is the median over timed steps
after ``--warmup``; the speed-up is the median of per-round ratios.

    PYTHONPATH=src nice -n 5 python bench/dcgan_vs_reference.py --steps 8 --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import env_line, load
from PIL import Image
from torch import nn


class ResizeDataset(torch.utils.data.Dataset):
    """Example-script data path: per item, PIL resize to ``size``, to float [0, 1], normalize to [-1, 1]."""

    def __init__(self, images: torch.Tensor, size: int):
        self.arrays = [im[0].numpy() for im in images]
        self.size = size

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = Image.fromarray(self.arrays[i], mode="L").resize((self.size, self.size), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None]
        return (x - 0.5) / 0.5


def reference_nets(nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 1) -> tuple[nn.Module, nn.Module]:
    """The 64×64 DCGAN generator and discriminator of the example's architecture."""
    def up(i: int, o: int) -> list[nn.Module]:
        return [nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]

    def down(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.2, True)]

    g = nn.Sequential(nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
                      *up(ngf * 8, ngf * 4), *up(ngf * 4, ngf * 2), *up(ngf * 2, ngf),
                      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
                      *down(ndf, ndf * 2), *down(ndf * 2, ndf * 4), *down(ndf * 4, ndf * 8),
                      nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    for m in [*g.modules(), *d.modules()]:
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return g, d


def reference_run(images: torch.Tensor, steps: int, warmup: int, batch: int, size: int) -> list[float]:
    """img/s of each timed step of the example-style loop."""
    torch.manual_seed(0)
    g, d = reference_nets()
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    crit = nn.BCELoss()
    loader = torch.utils.data.DataLoader(ResizeDataset(images, size), batch_size=batch, shuffle=True,
                                         drop_last=True, num_workers=0)
    rates: list[float] = []
    step, t = 0, time.perf_counter()
    while step < steps:
        for real in loader:
            b = real.shape[0]
            d.zero_grad()
            label = torch.full((b,), 1.0)
            out = d(real).view(-1)
            err_real = crit(out, label)
            err_real.backward()
            d_x = out.mean().item()
            fake = g(torch.randn(b, 100, 1, 1))
            label.fill_(0.0)
            out = d(fake.detach()).view(-1)
            err_fake = crit(out, label)
            err_fake.backward()
            d_g1 = out.mean().item()
            opt_d.step()
            g.zero_grad()
            label.fill_(1.0)
            out = d(fake).view(-1)
            err_g = crit(out, label)
            err_g.backward()
            d_g2 = out.mean().item()
            opt_g.step()
            _ = ((err_real + err_fake).item(), err_g.item(), d_x, d_g1, d_g2)
            step += 1
            now = time.perf_counter()
            if step > warmup:
                rates.append(b / (now - t))
            t = now
            if step >= steps:
                break
    return rates


class _StepTimes:
    """Trainer hook: img/s of each step after ``warmup``."""

    def __init__(self, warmup: int):
        self.warmup, self.rates, self._t = warmup, [], 0.0

    def on_fit_start(self, ctx: object) -> None:
        self._t = time.perf_counter()

    def on_step(self, ctx: object, n: int) -> None:
        now = time.perf_counter()
        if ctx.step > self.warmup:  # type: ignore[attr-defined]
            self.rates.append(n / (now - self._t))
        self._t = now


def pictorch_run(images: torch.Tensor, steps: int, warmup: int, batch: int, size: int, compile_mode: str,
                 out: Path) -> list[float]:
    """img/s of each timed step of ``gan train --model dcgan``'s Trainer + GANTask on the same images."""
    from pictorch.engine.config import TrainConfig
    from pictorch.engine.trainer import Trainer
    from pictorch.tasks.generate.data import load_training_images, make_loader
    from pictorch.tasks.generate.steps import GANTask
    from pictorch.tasks.generate.tricks import GANConfig

    cfg = GANConfig(model="dcgan", image_size=size, channels=1)
    ds = load_training_images("fashion-mnist", size, 1, limit=len(images))
    tcfg = TrainConfig(out_dir=str(out), steps=steps, batch_size=batch, lr=2e-4, precision="32-true",
                       accelerator="cpu", progress=False, log_every=10**6, picture_every=0, compile=compile_mode)
    timer = _StepTimes(warmup)
    task = GANTask(cfg, tuple(ds.images.shape[1:]), total_steps=steps)
    Trainer(tcfg, hooks=[timer]).fit(task, make_loader(ds.images, None, batch))
    return timer.rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--limit", type=int, default=4096)
    ap.add_argument("--compile", default="off", help="pictorch's --compile (off: eager against eager)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from pictorch.data.fashion_mnist import load_fashion_mnist

    images = load_fashion_mnist("train").images[:args.limit]
    print(env_line(), flush=True)
    print(f"DCGAN {args.image_size}² b{args.batch_size} fp32, {args.threads} thread(s), {args.steps} steps per "
          f"side per round ({args.warmup} untimed); pictorch --compile {args.compile}", flush=True)
    ratios, ref_all, pt_all = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            sides = ("ref", "pt") if r % 2 == 0 else ("pt", "ref")
            got = {}
            for side in sides:
                if side == "ref":
                    got[side] = reference_run(images, args.steps, args.warmup, args.batch_size, args.image_size)
                else:
                    got[side] = pictorch_run(images, args.steps, args.warmup, args.batch_size, args.image_size,
                                             args.compile, Path(tmp) / f"r{r}")
            ref, pt = statistics.median(got["ref"]), statistics.median(got["pt"])
            ratios.append(pt / ref)
            ref_all += got["ref"]
            pt_all += got["pt"]
            print(f"round {r + 1} ({'→'.join(sides)}): reference {ref:.1f} img/s, pictorch {pt:.1f} img/s, "
                  f"{pt / ref:.2f}× ({load()})", flush=True)
    print(f"reference (pytorch/examples-style) {statistics.median(ref_all):.1f} img/s; pictorch gan train "
          f"{statistics.median(pt_all):.1f} img/s; speed-up median of rounds {statistics.median(ratios):.2f}× "
          f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}); end {load()}")


if __name__ == "__main__":
    main()
