"""Autoencoder quality on Fashion-MNIST test images, each figure beside its baseline from the same process.

* conv AE at code 32 vs PCA-32: PSNR and the dB gap (target: >= +2 dB);
* one-layer linear AE vs PCA at the same code size: dB gap (target: within 0.2 dB);
* denoising conv AE at Gaussian sigma=0.3: PSNR gain over the noisy input (target: >= 8 dB);
* similar-image search by code: leave-one-out Recall@1 (same class) beside pixel-space kNN.

Each model trains for a wall-clock budget (``--seconds``) through the real Trainer; the step count comes from
a short timing probe so the LR schedule completes. Run: ``PYTHONPATH=src python bench/autoencode_quality.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def _steps_for(seconds: float, cfg, batch_size: int, images: torch.Tensor, probe: int = 8) -> int:
    """How many steps of this model fit in ``seconds`` (timed on a few real steps)."""
    from pictorch.tasks.autoencode.steps import AutoencodeTask

    task = AutoencodeTask(cfg, in_chans=1, image_size=(28, 28))
    model = task.build()["model"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = images[:batch_size].float() / 255
    for i in range(probe + 2):
        if i == 2:
            t0 = time.perf_counter()
        res = task.compute_losses(model, x)
        opt.zero_grad()
        res["loss"].backward()
        opt.step()
    per_step = (time.perf_counter() - t0) / probe
    return max(50, int(seconds / per_step))


def _train(name: str, cfg, seconds: float, batch_size: int, lr: float, train_images: torch.Tensor, out_root: Path,
           precision: str) -> Path:
    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.autoencode import api

    steps = _steps_for(seconds, cfg, batch_size, train_images)
    tc = TrainConfig(out_dir=str(out_root / name), steps=steps, batch_size=batch_size, lr=lr, precision=precision,
                     accelerator="cpu", progress=False, log_every=max(1, steps // 5), seed=0)
    t0 = time.perf_counter()
    res = api.train(cfg, tc)
    print(f"  trained {name}: {steps} steps in {time.perf_counter() - t0:.0f}s "
          f"({res['images_per_s']:.0f} img/s), final train psnr {res['metrics'].get('psnr', float('nan')):.2f} dB",
          flush=True)
    return Path(res["checkpoint"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=150, help="training budget per model (wall clock)")
    ap.add_argument("--linear-seconds", type=float, default=60, help="budget of the (cheap) linear AE")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 on a shared machine)")
    ap.add_argument("--precision", default="32-true", help="32-true or bf16-mixed (faster only with AMX/bf16)")
    ap.add_argument("--test-images", type=int, default=10000)
    ap.add_argument("--pca-train", type=int, default=20000, help="training images PCA is fitted on")
    ap.add_argument("--code-size", type=int, default=32)
    ap.add_argument("--widths", default="16,32", help="conv encoder widths (the machine is shared: keep it small)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--only", default="linear,conv,denoise,search")
    ap.add_argument("--out", default=None, help="run folder root (default: a temp dir)")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from pictorch.data.fashion_mnist import load_fashion_mnist
    from pictorch.metrics.image_quality import psnr, ssim
    from pictorch.tasks.autoencode import api
    from pictorch.tasks.autoencode.corruption import corrupt
    from pictorch.tasks.autoencode.steps import AutoencodeConfig
    from pictorch.utils import cpu_supports_bf16

    only = set(args.only.split(","))
    train = load_fashion_mnist("train")
    test = load_fashion_mnist("test")
    x_test = test.images[: args.test_images].float() / 255
    k = args.code_size
    out_root = Path(args.out or tempfile.mkdtemp(prefix="ae_bench_"))
    print(f"Fashion-MNIST: {len(train)} train / {len(x_test)} test images; code size {k}; "
          f"{args.seconds:.0f}s per model, {args.threads} thread(s), precision {args.precision} "
          f"(cpu bf16: {cpu_supports_bf16()})", flush=True)

    t0 = time.perf_counter()
    pca = api.pca_reconstruct(train.images[: args.pca_train].float().flatten(1) / 255, x_test.flatten(1), [k])[k]
    pca = pca.view_as(x_test).clamp(0, 1)
    pca_psnr, pca_ssim = float(psnr(pca, x_test)), float(ssim(pca, x_test))
    print(f"PCA-{k} (fit on {args.pca_train} train images, {time.perf_counter() - t0:.1f}s): "
          f"PSNR {pca_psnr:.2f} dB, SSIM {pca_ssim:.4f}", flush=True)

    results: dict[str, str] = {}
    if "linear" in only:
        cfg = AutoencodeConfig(data="fashion-mnist", model="linear", code_size=k, val_images=0)
        ck = _train("linear", cfg, args.linear_seconds, 256, 3e-3, train.images, out_root, args.precision)
        r = api.load(ck).reconstruct(x_test)
        lin = float(psnr(r, x_test))
        gap = lin - pca_psnr
        print(f"linear AE-{k}: PSNR {lin:.2f} dB vs PCA-{k} {pca_psnr:.2f} dB -> gap {gap:+.2f} dB "
              f"(target |gap| <= 0.2: {'MET' if abs(gap) <= 0.2 else 'NOT met'})", flush=True)
        results["linear"] = f"{gap:+.2f} dB"

    conv_ck = None
    if "conv" in only or "search" in only:
        cfg = AutoencodeConfig(data="fashion-mnist", model="conv", code_size=k, widths=args.widths,
                               upsample="nearest", val_images=0)
        conv_ck = _train("conv", cfg, args.seconds, args.batch_size, args.lr, train.images, out_root, args.precision)
        ae = api.load(conv_ck)
        r = ae.reconstruct(x_test)
        cp, cs = float(psnr(r, x_test)), float(ssim(r, x_test))
        gap = cp - pca_psnr
        print(f"conv AE-{k}: PSNR {cp:.2f} dB, SSIM {cs:.4f} vs PCA-{k} {pca_psnr:.2f} dB / {pca_ssim:.4f} -> "
              f"{gap:+.2f} dB (target >= +2 dB: {'MET' if gap >= 2 else 'NOT met'})", flush=True)
        results["conv"] = f"{gap:+.2f} dB"

    if "denoise" in only:
        cfg = AutoencodeConfig(data="fashion-mnist", model="conv", code_size=128, widths=args.widths,
                               upsample="nearest", noise="gaussian:0.3", val_images=0)
        ck = _train("denoise", cfg, args.seconds, args.batch_size, args.lr, train.images, out_root, args.precision)
        noisy = corrupt(x_test, "gaussian", 0.3, torch.Generator().manual_seed(0))
        den = api.load(ck).denoise(noisy)
        n_psnr, d_psnr = float(psnr(noisy, x_test)), float(psnr(den, x_test))
        gain = d_psnr - n_psnr
        print(f"denoising AE (sigma 0.3, code 128): noisy {n_psnr:.2f} dB -> denoised {d_psnr:.2f} dB, gain "
              f"{gain:+.2f} dB (target >= 8 dB: {'MET' if gain >= 8 else 'NOT met'}); SSIM "
              f"{float(ssim(noisy, x_test)):.3f} -> {float(ssim(den, x_test)):.3f}", flush=True)
        results["denoise"] = f"{gain:+.2f} dB"

    if "search" in only and conv_ck is not None:
        labels = test.labels[: len(x_test)].numpy()
        t0 = time.perf_counter()
        codes = api.load(conv_ck).encode(x_test)
        r_code_l2 = api.recall_at_1(codes, labels, metric="l2")
        r_code_cos = api.recall_at_1(codes, labels, metric="cosine")
        t_code = time.perf_counter() - t0
        t0 = time.perf_counter()
        r_pix = api.recall_at_1(x_test.flatten(1), labels, metric="l2")
        t_pix = time.perf_counter() - t0
        print(f"search Recall@1 (same class, leave-one-out over {len(x_test)} test images): codes-{k} "
              f"L2 {r_code_l2:.4f} / cosine {r_code_cos:.4f} ({t_code:.1f}s incl. encoding) vs pixel kNN-784 "
              f"{r_pix:.4f} ({t_pix:.1f}s); ratio {r_code_l2 / r_pix:.3f}", flush=True)
        results["search"] = f"{r_code_l2:.4f} vs {r_pix:.4f}"
    print("summary:", results)


if __name__ == "__main__":
    main()
