"""GAN training throughput: pictorch's trainer vs a straightforward fp32 example-script loop, same DCGAN.

The reference is what typical example scripts do: a Dataset whose ``__getitem__`` applies per-image
transforms (PIL image -> float tensor -> normalize), a ``DataLoader``, fp32, and ``.item()`` calls every
step for logging. pictorch trains the same generator/discriminator through ``Trainer`` + ``GANTask``:
in-memory uint8 tensors, channels-last, the generator forward reused for the G step, metrics synced once
per log interval, and the precision ``gan train`` uses by default on CPUs (fp32: bf16-mixed autocast measured
3-7× slower for these convolutions on this project's CPU; pass ``--precision bf16-mixed`` to see it).

Rounds alternate reference and pictorch so both see the same machine load; img/s is taken per log interval
after the first (warm-up) interval; the median over intervals is reported. Prints both figures and the ratio.

    PYTHONPATH=src python bench/gan_throughput.py --steps 60 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


class PerImageDataset(torch.utils.data.Dataset):
    """Example-script style: one PIL image at a time through ToTensor + Normalize equivalents."""

    def __init__(self, images: torch.Tensor):
        self.arrays = [im[0].numpy() for im in images]  # N × (28×28 uint8)

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = Image.fromarray(self.arrays[i], mode="L")
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None]  # ToTensor
        return (x - 0.5) / 0.5  # Normalize((0.5,), (0.5,))


def reference_loop(images: torch.Tensor, steps: int, log_every: int, batch_size: int, ngf: int, ndf: int) -> list[float]:
    """The fp32 example loop; returns img/s per log interval."""
    from pictorch.tasks.generate.models import dcgan_d, dcgan_g

    torch.manual_seed(0)
    g, d = dcgan_g(z_dim=100, image_size=28, ngf=ngf), dcgan_d(image_size=28, ndf=ndf)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    crit = torch.nn.BCEWithLogitsLoss()
    loader = torch.utils.data.DataLoader(PerImageDataset(images), batch_size=batch_size, shuffle=True,
                                         drop_last=True, num_workers=0)
    rates, step, t = [], 0, time.perf_counter()
    while step < steps:
        for real in loader:
            b = real.shape[0]
            ones, zeros = torch.ones(b), torch.zeros(b)
            d.zero_grad()
            out = d(real)
            err_real = crit(out, ones)
            err_real.backward()
            d_x = torch.sigmoid(out).mean().item()
            fake = g(torch.randn(b, 100))
            out = d(fake.detach())
            err_fake = crit(out, zeros)
            err_fake.backward()
            d_gz1 = torch.sigmoid(out).mean().item()
            opt_d.step()
            g.zero_grad()
            out = d(fake)
            err_g = crit(out, ones)
            err_g.backward()
            d_gz2 = torch.sigmoid(out).mean().item()
            opt_g.step()
            _log = (err_real.item() + err_fake.item(), err_g.item(), d_x, d_gz1, d_gz2)
            step += 1
            if step % log_every == 0:
                now = time.perf_counter()
                rates.append(log_every * batch_size / (now - t))
                t = now
            if step >= steps:
                break
    return rates[1:] if len(rates) > 1 else rates


def pictorch_run(limit: int, steps: int, log_every: int, batch_size: int, ngf: int, ndf: int, precision: str,
                 channels_last: bool, threads: str, out: Path) -> tuple[list[float], dict]:
    """``gan train``'s path (``api.train``: Trainer + GANTask + its hooks) on the same DCGAN and images.

    Returns img/s per log interval (from metrics.csv) and the run result.
    """
    from pictorch.engine.config import TrainConfig
    from pictorch.engine.hooks import read_metrics_csv
    from pictorch.tasks.generate import api
    from pictorch.tasks.generate.tricks import GANConfig

    cfg = GANConfig(model="dcgan", ngf=ngf, ndf=ndf, channels_last=channels_last)
    tcfg = TrainConfig(out_dir=str(out), steps=steps, batch_size=batch_size, lr=2e-4, precision=precision,
                       accelerator="cpu", progress=False, log_every=log_every, picture_every=0)
    res = api.train(cfg, tcfg, limit=limit, threads=threads)
    rates = read_metrics_csv(out / "metrics.csv")["img_per_s"][1]
    return (rates[1:] if len(rates) > 1 else rates), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--ndf", type=int, default=64)
    ap.add_argument("--precision", default="auto", help="pictorch precision (default auto, as gan train: bf16-mixed on bf16 CPUs)")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--limit", type=int, default=12000)
    ap.add_argument("--threads", default="auto", help="pictorch --threads (auto: timed choice, as gan train)")
    ap.add_argument("--reference-threads", type=int, default=0,
                    help="threads of the reference loop (0: torch's default, as an example script runs); with "
                    "--threads N too, compares the step code alone")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)

    from pictorch.data.fashion_mnist import load_fashion_mnist
    from pictorch.utils import auto_precision

    ds = load_fashion_mnist("train")
    # the same subset `api.train(limit=...)` draws
    idx = torch.randperm(len(ds.images), generator=torch.Generator().manual_seed(0))[:args.limit]
    images = ds.images[idx]
    precision = auto_precision("cpu") if args.precision == "auto" else args.precision
    print(f"DCGAN 28×28 ngf={args.ngf} ndf={args.ndf} batch {args.batch_size}, {args.reference_threads or torch.get_num_threads()} "
          f"threads (reference); pictorch precision {precision}, channels_last={not args.no_channels_last}, threads "
          f"{args.threads}; load average {os.getloadavg()[0]:.2f}")
    ref_all, pt_all, ratios, whole = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            first_ref = r % 2 == 0  # alternate the order so neither side always runs first
            for side in ("ref", "pt") if first_ref else ("pt", "ref"):
                if side == "ref":
                    before = torch.get_num_threads()
                    if args.reference_threads:
                        torch.set_num_threads(args.reference_threads)
                    t = time.perf_counter()
                    ref = reference_loop(images, args.steps, args.log_every, args.batch_size, args.ngf, args.ndf)
                    ref_whole = args.steps * args.batch_size / (time.perf_counter() - t)
                    torch.set_num_threads(before)
                else:
                    pt, res = pictorch_run(args.limit, args.steps, args.log_every, args.batch_size, args.ngf,
                                           args.ndf, precision, not args.no_channels_last, args.threads,
                                           Path(tmp) / f"r{r}")
                    pt_whole = res["images_per_s"]
                    chosen = res.get("cpu_threads", {}).get("probes", [])
            ratio = statistics.median(pt) / statistics.median(ref)
            ratios.append(ratio)
            whole.append(pt_whole / ref_whole)
            print(f"round {r + 1}: reference {statistics.median(ref):.1f} img/s, pictorch "
                  f"{statistics.median(pt):.1f} img/s, ratio {ratio:.2f}× (whole runs incl. warm-up "
                  f"{pt_whole / ref_whole:.2f}×); threads chosen {[p['threads'] for p in chosen]}; load "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
            ref_all += ref
            pt_all += pt
    ref_m, pt_m = statistics.median(ref_all), statistics.median(pt_all)
    print(f"reference fp32 DataLoader loop: {ref_m:.1f} img/s (median of {len(ref_all)} intervals)")
    print(f"pictorch gan train ({precision}): {pt_m:.1f} img/s (median of {len(pt_all)} intervals)")
    print(f"speed-up: {pt_m / ref_m:.2f}× (per-round ratios {', '.join(f'{x:.2f}' for x in ratios)}; median "
          f"{statistics.median(ratios):.2f}×; whole runs median {statistics.median(whole):.2f}×)")


if __name__ == "__main__":
    main()
