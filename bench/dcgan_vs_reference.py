"""``gan train --model dcgan`` against a pytorch/examples-style DCGAN loop: 64×64 Fashion-MNIST, fp32.

The reference is written here after the structure of pytorch/examples ``dcgan/main.py`` (not copied): the
same generator (ConvTranspose 100 → 8·ngf at 4×4, three ×2 stages with BatchNorm + ReLU, tanh to 64×64) and
discriminator (four strided 4×4 convolutions with BatchNorm + LeakyReLU(0.2), a 4×4 conv to one sigmoid
output), N(0, 0.02) weights, Adam(2e-4, β1 0.5), BCELoss, a ``DataLoader`` whose dataset resizes each PIL
image to 64 px and normalizes it per item, ``netD.zero_grad()``, D on real then on ``fake.detach()``, G through
D on the same fakes, and ``.item()`` on the five logged values every step. ``num_workers=0``: on this shared
2-core machine worker processes would take the cores the step uses (the example's default is 2).

pictorch runs ``GANTask.training_step`` (what ``gan train --model dcgan --image-size 64 -b 128`` trains: in-memory
uint8 images resized once, channels-last, its default tricks, metrics kept on the device) with the same
thread count, one step per call (its ``training_step`` with a minimal Fabric stand-in; the Trainer around it
adds a few dict updates a step). Steps alternate, A B then B A, in one process, so both sides see the same load
step by step; after ``--warmup`` pairs, the speed-up is the median of the per-pair ratios.

Each side's model FLOPs per image are counted once (``FlopCounterMode`` over one real step of it: the convolutions
and their gradients) and shown against the fp32 matmul peak measured in the same process (best of before and
after), with the ceiling that peak puts on pictorch's img/s: a speed-up above ``peak / pictorch's FLOPs per
image / reference img/s`` would need fewer FLOPs, not faster kernels.

    PYTHONPATH=src nice -n 5 python bench/dcgan_vs_reference.py --steps 8 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import env_line, load, matmul_peak
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


class Reference:
    """The example-style loop, one step per call (its DataLoader restarts at the end of an epoch)."""

    def __init__(self, images: torch.Tensor, batch: int, size: int):
        torch.manual_seed(0)
        self.g, self.d = reference_nets()
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.crit = nn.BCELoss()
        self.loader = torch.utils.data.DataLoader(ResizeDataset(images, size), batch_size=batch, shuffle=True,
                                                  drop_last=True, num_workers=0)
        self.it = iter(self.loader)

    def step(self) -> int:
        try:
            real = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            real = next(self.it)
        g, d, crit = self.g, self.d, self.crit
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
        self.opt_d.step()
        g.zero_grad()
        label.fill_(1.0)
        out = d(fake).view(-1)
        err_g = crit(out, label)
        err_g.backward()
        d_g2 = out.mean().item()
        self.opt_g.step()
        _ = ((err_real + err_fake).item(), err_g.item(), d_x, d_g1, d_g2)
        return b


class _Fabric:
    """What GANTask's step needs of Fabric on one CPU process in fp32: the device and backward."""

    device = torch.device("cpu")

    @staticmethod
    def backward(loss: torch.Tensor, **kw: object) -> None:
        loss.backward(**kw)


class Pictorch:
    """``gan train --model dcgan``'s step (GANTask.training_step, its defaults, channels-last, in-memory uint8
    batches from its loader, metrics summed on the device as the Trainer does), one step per call."""

    def __init__(self, batch: int, size: int, limit: int, tmp: Path):
        from pictorch.engine.config import TrainConfig
        from pictorch.engine.trainer import StepContext
        from pictorch.tasks.generate.data import load_training_images, make_loader
        from pictorch.tasks.generate.steps import GANTask
        from pictorch.tasks.generate.tricks import GANConfig

        cfg = GANConfig(model="dcgan", image_size=size, channels=1)
        ds = load_training_images("fashion-mnist", size, 1, limit=limit)
        tcfg = TrainConfig(out_dir=str(tmp), steps=10**6, batch_size=batch, lr=2e-4, precision="32-true",
                           accelerator="cpu", progress=False)
        torch.manual_seed(0)
        self.task = GANTask(cfg, tuple(ds.images.shape[1:]), total_steps=10**6)
        mods = self.task.build()
        opts = self.task.configure_optimizers(mods)
        self.ctx = StepContext(fabric=_Fabric(), cfg=tcfg, run_dir=tmp, modules=mods, optimizers=opts,
                               total_steps=10**6)
        self.task.on_fit_start(self.ctx)
        self.loader = make_loader(ds.images, None, batch)
        self.it = iter(self.loader)
        self.sums: dict[str, torch.Tensor] = {}

    def step(self) -> int:
        try:
            batch = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            batch = next(self.it)
        out = self.task.training_step(self.ctx, batch)
        for k, v in out.items():  # the Trainer's on-device sums (synced once per log interval)
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.ctx.step += 1
        return int(batch["image"].shape[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--limit", type=int, default=4096)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from pictorch.data.fashion_mnist import load_fashion_mnist

    images = load_fashion_mnist("train").images[:args.limit]
    print(env_line(), flush=True)
    print(f"DCGAN {args.image_size}² b{args.batch_size} fp32, {args.threads} thread(s), {args.steps} timed step "
          f"pairs after {args.warmup} untimed", flush=True)
    from torch.utils.flop_counter import FlopCounterMode

    peak = matmul_peak(torch.float32, 2048, 2.0)
    print(f"fp32 matmul 2048³ peak {peak / 1e9:.1f} GFLOP/s ({load()})", flush=True)
    ratios, ref_all, pt_all = [], [], []
    flops: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"ref": Reference(images, args.batch_size, args.image_size),
                 "pt": Pictorch(args.batch_size, args.image_size, args.limit, Path(tmp))}
        for name, side in sides.items():  # one untimed, counted step each (also a warm-up step)
            with FlopCounterMode(display=False) as counter:
                n = side.step()
            flops[name] = counter.get_total_flops() / n
        for r in range(args.warmup + args.steps):
            # one step each, alternating which goes first: both see the same load, step by step
            times = {}
            for name in (("ref", "pt") if r % 2 == 0 else ("pt", "ref")):
                t = time.perf_counter()
                n = sides[name].step()
                times[name] = n / (time.perf_counter() - t)
            if r < args.warmup:
                continue
            ref_all.append(times["ref"])
            pt_all.append(times["pt"])
            ratios.append(times["pt"] / times["ref"])
            print(f"step {r + 1}: reference {times['ref']:.1f} img/s, pictorch {times['pt']:.1f} img/s, "
                  f"{ratios[-1]:.2f}× ({load()})", flush=True)
    peak = max(peak, matmul_peak(torch.float32, 2048, 2.0))
    ref, pt = statistics.median(ref_all), statistics.median(pt_all)
    print(f"reference (pytorch/examples-style) {ref:.1f} img/s; pictorch gan train step "
          f"{pt:.1f} img/s; speed-up median of step pairs {statistics.median(ratios):.2f}× "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} pairs); end {load()}")
    for name, label, ips in (("ref", "reference", ref), ("pt", "pictorch", pt)):
        print(f"{label}: {flops[name] / 1e9:.3f} GFLOP/img, {ips * flops[name] / 1e9:.1f} GFLOP/s = "
              f"{100 * ips * flops[name] / peak:.0f}% of the {peak / 1e9:.1f} GFLOP/s fp32 peak")
    ceiling = peak / flops["pt"]
    print(f"ceiling at the peak: pictorch ≤ {ceiling:.1f} img/s = {ceiling / ref:.2f}× this reference "
          f"(2× would need {2 * ref * flops['pt'] / 1e9:.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
