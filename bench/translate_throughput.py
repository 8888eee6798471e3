"""Training throughput of pictorch's pix2pix step against a plain eager fp32 loop over the same networks.

Both sides train the same U-Net generator and 70×70-style PatchGAN (widths and depth below) on the same uint8
batches in the same process, alternating rounds so load changes hit both alike. The plain loop is what a
straightforward port of the anchor's ``optimize_parameters`` does: NCHW tensors, default Adam, ``requires_grad``
toggled by hand, at torch's default thread count. pictorch's step uses fused Adam, on-device joint augmentation and
its thread policy (``--threads auto``: time real steps with 1 and all cores, keep the faster); the same-thread
ratio is printed too, so the two effects are apart.
Also times 256×256 single-image inference of the full-size U-Net-256 (54.4 M parameters), eval mode.

Run: ``nice python bench/translate_throughput.py [--size 64] [--batch 4] [--ngf 32] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
import torch.nn.functional as F


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--steps", type=int, default=15, help="timed steps per round and side")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="Time bf16 variants even where bf16 is emulated.")
    ap.add_argument("--no-inference", action="store_true", help="Skip the U-Net-256 inference timing.")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    default_threads = torch.get_num_threads()

    from pictorch.engine.config import TrainConfig
    from pictorch.engine.trainer import StepContext, make_fabric
    from pictorch.registry import create_model
    from pictorch.tasks.translate.config import TranslateConfig
    from pictorch.tasks.translate.data import TranslationData
    from pictorch.tasks.translate.steps import Pix2PixTask

    n, s = 64, args.size
    g0 = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (n, 1, s, s), dtype=torch.uint8, generator=g0)
    b = torch.randint(0, 256, (n, 3, s, s), dtype=torch.uint8, generator=g0)
    data = TranslationData(a, b, paired=True, name="bench", crop=s)

    # pictorch's step, driven as the trainer drives it, in each precision / memory-format variant
    def make_ours(precision: str, channels_last: bool):  # noqa: ANN202
        c = TranslateConfig(ngf=args.ngf, ndf=args.ngf, flip=False, channels_last=channels_last)
        tc = TrainConfig(out_dir="/tmp/pictorch-bench-translate", steps=10**6, batch_size=args.batch,
                         precision=precision, accelerator="cpu", progress=False)
        task = Pix2PixTask(c, data, lr=2e-4)
        mods = task.build()
        fabric = make_fabric(tc)
        wrapped = {k: fabric.setup_module(m) for k, m in mods.items()}
        opts = {k: fabric.setup_optimizers(o) for k, o in task.configure_optimizers(wrapped).items()}
        ctx = StepContext(fabric=fabric, cfg=tc, run_dir=tc.out_dir, modules=wrapped, optimizers=opts)
        task.total_steps = tc.steps
        return task, ctx

    from pictorch.utils import cpu_supports_bf16

    names = ["32-true"] + (["bf16-mixed", "bf16-mixed+cl"] if cpu_supports_bf16() or args.bf16 else []) \
        + ["32-true+cl"]
    variants = {v: make_ours(v.split("+")[0], v.endswith("+cl")) for v in names}
    cfg = TranslateConfig(ngf=args.ngf, ndf=args.ngf, flip=False)

    # the plain loop over the same architectures (fresh copies, NCHW)
    g_name, g_kw = cfg.generator_spec(1, 3, s)
    d_name, d_kw = cfg.discriminator_spec(4, s)
    G, D = create_model(g_name, **g_kw), create_model(d_name, **d_kw)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()

    def plain_step(ab: torch.Tensor, bb: torch.Tensor) -> None:
        real_a = ab.float() / 127.5 - 1
        real_b = bb.float() / 127.5 - 1
        fake_b = G(real_a)
        for p in D.parameters():
            p.requires_grad = True
        opt_d.zero_grad()
        pf = D(torch.cat([real_a, fake_b.detach()], 1))
        pr = D(torch.cat([real_a, real_b], 1))
        loss_d = 0.5 * (bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr)))
        loss_d.backward()
        opt_d.step()
        for p in D.parameters():
            p.requires_grad = False
        opt_g.zero_grad()
        pf = D(torch.cat([real_a, fake_b], 1))
        loss_g = bce(pf, torch.ones_like(pf)) + 100 * F.l1_loss(fake_b, real_b)
        loss_g.backward()
        opt_g.step()

    def batches(k: int):
        for i in range(k):
            j = (i * args.batch) % (n - args.batch)
            yield a[j:j + args.batch], b[j:j + args.batch]

    def time_ours(variant: str, k: int) -> float:
        task, ctx = variants[variant]
        t = time.perf_counter()
        for ab, bb in batches(k):
            task.training_step(ctx, {"image": ab, "target": bb})
        return time.perf_counter() - t

    def time_plain(k: int) -> float:
        t = time.perf_counter()
        for ab, bb in batches(k):
            plain_step(ab, bb)
        return time.perf_counter() - t

    for v in variants:
        time_ours(v, 3)
    time_plain(3)  # warm-up (allocator, oneDNN primitive caches)
    from pictorch.engine.threads import thread_candidates

    ours: dict[tuple[str, int], list[float]] = {}
    plain: dict[int, list[float]] = {}
    cands = thread_candidates(default_threads)
    for _ in range(args.rounds):  # interleaved: plain, then every variant, per thread count, per round
        for t in cands:
            torch.set_num_threads(t)
            plain.setdefault(t, []).append(args.steps * args.batch / time_plain(args.steps))
            for v in variants:
                ours.setdefault((v, t), []).append(args.steps * args.batch / time_ours(v, args.steps))
    torch.set_num_threads(default_threads)
    # pictorch's thread policy keeps the faster count (the tuner re-probes during a run; here: the best measured)
    best_v, t_ours = max(ours, key=lambda k: max(ours[k]))
    best_o, best_p = max(ours[(best_v, t_ours)]), max(plain[default_threads])

    print(f"cpu: {cpu_model()}; {os.cpu_count()} cores, torch default threads {default_threads}; torch "
          f"{torch.__version__}; load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"pix2pix training, {s}×{s}, batch {args.batch}, ngf=ndf={args.ngf}, U-Net depth {g_kw['num_downs']}, "
          f"PatchGAN {d_kw['n_layers']} layers; img/s per round (best-of-rounds ratio to the plain fp32 loop at "
          "the same thread count; +cl = channels-last)")
    for t in cands:
        print(f"  {t} thread(s): plain fp32 loop {', '.join(f'{v:.1f}' for v in plain[t])}")
        for v in variants:
            r = ours[(v, t)]
            print(f"    pictorch {v:14s} {', '.join(f'{x:.1f}' for x in r)}; same-thread ratio "
                  f"{max(r) / max(plain[t]):.2f}x")
    print(f"  pictorch best ({best_v}, {t_ours} thread(s)) {best_o:.1f} img/s vs plain loop at torch's default "
          f"{default_threads} thread(s) {best_p:.1f} img/s: {best_o / best_p:.2f}x")

    # 256×256 single-image inference, the full-size U-Net-256 (pix2pix's default generator)
    if args.no_inference:
        return
    from pictorch.tasks.translate.models import UnetGenerator

    unet = UnetGenerator(3, 3, num_downs=8, ngf=64, norm="batch").eval()
    x = torch.randint(0, 256, (3, 256, 256), dtype=torch.uint8)
    infer: dict[int, float] = {}
    with torch.no_grad():
        for t in cands:
            torch.set_num_threads(t)
            unet(x)
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                unet(x)
                times.append(time.perf_counter() - t0)
            infer[t] = min(times)
    torch.set_num_threads(default_threads)

    print("U-Net-256 inference, one 256×256 image, eval (best of 3): "
          + ", ".join(f"{t} thread(s) {v * 1000:.0f} ms" for t, v in infer.items()))


if __name__ == "__main__":
    main()
