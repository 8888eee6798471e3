"""Training throughput of pictorch's pix2pix step against a plain eager fp32 loop over the same networks.

Both sides train the same U-Net generator and 70×70-style PatchGAN (widths and depth below) on the same uint8
batches in the same process, alternating rounds so load changes hit both alike. The plain loop is what a
straightforward port of the anchor's ``optimize_parameters`` does: NCHW tensors, default Adam, ``requires_grad``
toggled by hand, at torch's default thread count. pictorch's step uses fused Adam, on-device joint augmentation and
its thread policy (``--threads auto``: time real steps with 1 and all cores, keep the faster); the same-thread
ratio is printed too, so the two effects are apart. pictorch's step also trains the same layers with faster CPU
kernels (``tasks/translate/fastlayers.py``); the ``nofast`` variant turns them off to show their part.

Each round times every variant for ``--steps`` steps, in turn, and the ratio is taken within the round and then
the median over rounds. Two clocks: the process's CPU time (``time.process_time``: what the step costs the CPU,
nearly blind to the other jobs of a shared machine, which only stretch the wall clock) and the wall clock.
``--profile`` prints torch.profiler's top operators of both loops; ``--compile`` also times ``torch.compile`` of
G and D (compile time and steady speed). ``--layers`` only times every convolution of G and D (fwd + bwd) on the
usual kernel and on its fastlayers GEMM road, per thread count (``--threads 1,2``; ``--bf16`` under autocast), and
says which one the rule takes on this CPU: the way to re-measure ``fastlayers.use_im2col`` on another CPU kind or
on a quiet machine at 2 threads.
Also times 256×256 single-image inference of the full-size U-Net-256 (54.4 M parameters), eval mode.

Emulate an AVX2-only CPU without bf16 with ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
MKL_ENABLE_INSTRUCTIONS=AVX2`` (the last caps the BLAS that runs the im2col GEMMs). Which layers the fast variants
run as GEMMs depends on the CPU kind and the precision (``fastlayers.use_im2col``), so quote a figure with both.

At 2 threads on a 2-core machine that other jobs share, a figure measures the other jobs more than the step: each
parallel region waits for the second thread's time slice (measured at load 5: a layer that takes 2 ms on one
thread took 95 ms on two, and both loops ran 4-25× slower than on one thread), so compare 2-thread ratios only
from a quiet machine and say the load: ``--quiet 0.05`` keeps only the rounds during which the other jobs used
at most 5 % of all cores (from /proc/stat), waiting for such moments (``--quiet-wait`` seconds).

Figures (README's translate "Speed" table, 64 px, batch 4, ngf=ndf=32, CPU clock): emulated AVX2, 1 thread, load
4-5: fp32 1.25× (without fastlayers 1.09×); AVX-512 + native bf16, 1 thread, load 5.6: fp32 1.28× (1.19×), bf16
1.67×; 2 threads, ``--quiet 0.05`` (5 kept rounds, load 1.5-2.1): fp32 1.25× (1.15×), bf16 1.62×.

Run: ``nice python bench/translate_throughput.py [--size 64] [--batch 4] [--ngf 32] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F
from _common import cpu_model  # bench/ is on sys.path when a bench runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per round and variant")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", default="", help="Thread counts to time (default: 1, n/2, n)")
    ap.add_argument("--profile", action="store_true", help="Print torch.profiler's top ops of both loops.")
    ap.add_argument("--compile", action="store_true", help="Also time torch.compile of G and D.")
    ap.add_argument("--bf16", action="store_true", help="Time bf16 variants even where bf16 is emulated.")
    ap.add_argument("--quiet", type=float, default=0.0,
                    help="Keep only rounds during which the other jobs used at most this share of all cores (e.g. "
                         "0.05; /proc/stat), waiting for such moments up to --quiet-wait seconds: 2-thread figures "
                         "on a shared 2-core machine mean something only then.")
    ap.add_argument("--quiet-wait", type=float, default=1800.0)
    ap.add_argument("--no-inference", action="store_true", help="Skip the U-Net-256 inference timing.")
    ap.add_argument("--layers", action="store_true",
                    help="Only time every conv of G and D (fwd + bwd) on the usual kernel and on its GEMM road, per "
                         "thread count, and say which one fastlayers' rule picks here (then exit).")
    args = ap.parse_args()
    if args.layers:
        layer_table(args)
        return
    from _common import env_line, load  # CPU model, ISA (and env caps), threads, load

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
    def make_ours(precision: str, channels_last: bool, fast: bool = True, compiled: bool = False):  # noqa: ANN202
        c = TranslateConfig(ngf=args.ngf, ndf=args.ngf, flip=False, channels_last=channels_last, fast_layers=fast)
        tc = TrainConfig(out_dir="/tmp/pictorch-bench-translate", steps=10**6, batch_size=args.batch,
                         precision=precision, accelerator="cpu", progress=False)
        task = Pix2PixTask(c, data, lr=2e-4)
        mods = task.build()
        if compiled:
            mods = {k: torch.compile(m) for k, m in mods.items()}
        fabric = make_fabric(tc)
        wrapped = {k: fabric.setup_module(m) for k, m in mods.items()}
        opts = {k: fabric.setup_optimizers(o) for k, o in task.configure_optimizers(wrapped).items()}
        ctx = StepContext(fabric=fabric, cfg=tc, run_dir=tc.out_dir, modules=wrapped, optimizers=opts)
        task.total_steps = tc.steps
        return task, ctx

    from pictorch.utils import cpu_supports_bf16

    names = ["32-true", "32-true nofast"] + (["bf16-mixed", "bf16-mixed+cl"] if cpu_supports_bf16() or args.bf16
                                               else []) + ["32-true+cl"]
    variants = {v: make_ours(v.split("+")[0].split()[0], v.endswith("+cl"), "nofast" not in v) for v in names}
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

    def timed(step, k: int) -> tuple[float, float]:  # noqa: ANN001
        """(CPU seconds, wall seconds) of ``k`` steps."""
        c, t = time.process_time(), time.perf_counter()
        for ab, bb in batches(k):
            step(ab, bb)
        return time.process_time() - c, time.perf_counter() - t

    def ours_step(variant: str):  # noqa: ANN202
        task, ctx = variants[variant]
        return lambda ab, bb: task.training_step(ctx, {"image": ab, "target": bb})

    def time_ours(variant: str, k: int) -> tuple[float, float]:
        return timed(ours_step(variant), k)

    def time_plain(k: int) -> tuple[float, float]:
        return timed(plain_step, k)

    for v in variants:
        time_ours(v, 3)
    time_plain(3)  # warm-up (allocator, oneDNN primitive caches)
    import statistics

    from pictorch.engine.threads import thread_candidates

    # img/s per round as (cpu clock, wall clock); ratios within a round, then the median over rounds
    ours: dict[tuple[str, int], list[tuple[float, float]]] = {}
    plain: dict[int, list[tuple[float, float]]] = {}
    cands = [int(t) for t in args.threads.split(",")] if args.threads else thread_candidates(default_threads)

    def ips(c_w: tuple[float, float]) -> tuple[float, float]:
        return args.steps * args.batch / c_w[0], args.steps * args.batch / c_w[1]

    kept, tried, deadline = 0, 0, time.time() + args.quiet_wait
    while kept < args.rounds:  # interleaved: plain, then every variant, per thread count, per round
        if args.quiet and time.time() > deadline:
            break
        if args.quiet and others_share() > 2 * args.quiet:  # someone is running: wait
            continue
        tried += 1
        start = cpu_snapshot()
        r_plain: dict[int, tuple[float, float]] = {}
        r_ours: dict[tuple[str, int], tuple[float, float]] = {}
        for t in cands:
            torch.set_num_threads(t)
            r_plain[t] = ips(time_plain(args.steps))
            for v in variants:
                r_ours[(v, t)] = ips(time_ours(v, args.steps))
        if args.quiet and others_share(start) > args.quiet:
            continue
        kept += 1
        for t, x in r_plain.items():
            plain.setdefault(t, []).append(x)
        for k, x in r_ours.items():
            ours.setdefault(k, []).append(x)
    torch.set_num_threads(default_threads)
    if args.quiet:
        print(f"kept {kept} rounds of {tried} timed: those in which the other jobs used at most {args.quiet:.0%} of "
              "all cores", flush=True)
    if not kept:
        return

    def ratio(v: str, t: int, clock: int) -> float:
        return statistics.median(o[clock] / p[clock] for o, p in zip(ours[(v, t)], plain[t], strict=True))

    print(f"cpu: {cpu_model()}; {os.cpu_count()} cores, torch default threads {default_threads}; torch "
          f"{torch.__version__}; load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"pix2pix training, {s}×{s}, batch {args.batch}, ngf=ndf={args.ngf}, U-Net depth {g_kw['num_downs']}, "
          f"PatchGAN {d_kw['n_layers']} layers, {kept} rounds of {args.steps} steps; img/s per round by the "
          "CPU clock (wall clock); ratio = median over rounds of the in-round ratio to the plain fp32 loop at the "
          "same thread count (+cl = channels-last; nofast = without fastlayers)")
    for t in cands:
        print(f"  {t} thread(s): plain fp32 loop " + ", ".join(f"{c:.1f} ({w:.1f})" for c, w in plain[t]))
        for v in variants:
            r = ours[(v, t)]
            print(f"    pictorch {v:15s} " + ", ".join(f"{c:.1f} ({w:.1f})" for c, w in r)
                  + f"; ratio {ratio(v, t, 0):.2f}x CPU clock, {ratio(v, t, 1):.2f}x wall clock")
    best_v, t_ours = max(ours, key=lambda k: statistics.median(w for _, w in ours[k]))
    best_o = statistics.median(w for _, w in ours[(best_v, t_ours)])
    if default_threads in plain:
        best_p = statistics.median(w for _, w in plain[default_threads])
        print(f"  pictorch best by wall clock ({best_v}, {t_ours} thread(s)) {best_o:.1f} img/s vs plain loop at "
              f"torch's default {default_threads} thread(s) {best_p:.1f} img/s: {best_o / best_p:.2f}x (medians; "
              f"{load()})", flush=True)

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        torch.set_num_threads(cands[0])
        for name, step in (("plain fp32 loop", plain_step), ("pictorch 32-true", ours_step("32-true"))):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                timed(step, 3)
            print(f"profile, {name}, 3 steps, {cands[0]} thread(s):")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        torch.set_num_threads(default_threads)

    if args.compile:
        torch.set_num_threads(cands[0])
        t0 = time.perf_counter()
        variants["compiled"] = make_ours("32-true", False, True, compiled=True)
        timed(ours_step("compiled"), 2)  # compiles G and D (forward and backward graphs)
        compile_s = time.perf_counter() - t0
        rc, re_ = [], []
        for _ in range(max(3, args.rounds // 2)):
            rc.append(ips(time_ours("compiled", args.steps))[0])
            re_.append(ips(time_ours("32-true", args.steps))[0])
        sc, se = statistics.median(rc), statistics.median(re_)
        pays = (f"; pays back after {compile_s / (args.batch / se - args.batch / sc):.0f} steps" if sc > se
                else "; never pays back")
        print(f"torch.compile of G and D: {compile_s:.0f} s to compile (wall, {load()}); then {sc:.1f} img/s against "
              f"eager {se:.1f} (CPU clock, {cands[0]} thread(s)): {sc / se:.2f}x{pays}", flush=True)
        torch.set_num_threads(default_threads)

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


def cpu_snapshot() -> tuple[int, int, float]:
    """(busy jiffies of all cores, all jiffies, this process's CPU seconds) now, from /proc/stat."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    t = os.times()
    return sum(v) - v[3] - v[4], sum(v), t.user + t.system


def others_share(start: tuple[int, int, float] | None = None, sleep: float = 1.0) -> float:
    """The share of all cores that other processes used since ``start`` (or over the next ``sleep`` seconds)."""
    if start is None:
        start = cpu_snapshot()
        time.sleep(sleep)
    end = cpu_snapshot()
    hz = os.sysconf("SC_CLK_TCK")
    total = (end[1] - start[1]) / hz
    return ((end[0] - start[0]) / hz - (end[2] - start[2])) / total if total > 0 else 0.0


def layer_table(args: argparse.Namespace) -> None:
    """Per layer: the usual kernel against fastlayers' GEMM road, forced (what ``use_im2col`` is measured on)."""
    import copy
    import statistics

    from _common import env_line, load

    import pictorch.tasks.translate.steps  # noqa: F401 - registers the translation models
    from pictorch.registry import create_model
    from pictorch.tasks.translate import fastlayers
    from pictorch.tasks.translate.config import TranslateConfig

    print(env_line(), flush=True)
    cfg = TranslateConfig(ngf=args.ngf, ndf=args.ngf)
    s = args.size
    (gn, gk), (dn, dk) = cfg.generator_spec(1, 3, s), cfg.discriminator_spec(4, s)
    seen: list[tuple[torch.nn.Module, tuple[int, ...]]] = []
    for net, batch in ((create_model(gn, **gk), args.batch), (create_model(dn, **dk), 2 * args.batch)):
        hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, tuple(i[0].shape))))
                 for m in net.modules() if type(m) in (torch.nn.Conv2d, torch.nn.ConvTranspose2d)]
        with torch.no_grad():
            net(torch.randn(batch, getattr(net, "in_chans", 4), s, s))  # the U-Net has in_chans; D takes A and B
        for h in hooks:
            h.remove()
    bf16 = args.bf16
    rule = fastlayers.use_im2col
    cands = [int(t) for t in args.threads.split(",")] if args.threads else [1, torch.get_num_threads()]

    def fwd_bwd(m: torch.nn.Module, x: torch.Tensor, g: torch.Tensor) -> None:
        m.zero_grad(set_to_none=True)
        x.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = m(x)
        y.float().backward(g)

    print(f"{s} px, batch {args.batch} (D: {2 * args.batch}, real and fake in one forward), ngf=ndf={args.ngf}, "
          f"{'bf16 autocast' if bf16 else 'fp32'}; ms per fwd+bwd, median CPU clock of {args.rounds} rounds "
          "(min wall clock), the GEMM road forced")
    for m, shape in seen:
        fast = fastlayers.small_map_convs(copy.deepcopy(m))
        x = torch.randn(*shape, requires_grad=True)
        with torch.no_grad():
            y = m(x)
        g = torch.randn(y.shape)
        tr = isinstance(m, torch.nn.ConvTranspose2d)
        pos = shape[2] * shape[3] if tr else y.shape[2] * y.shape[3]
        picks = rule(pos, tr, batch=shape[0], weight_numel=m.weight.numel(), bf16=bf16)
        road = ("taps" if not tr and m.out_channels == 1 else "bmm" if tr and m.out_channels * 16 <= 48 and not picks
                else "im2col")
        if road == "im2col" and pos > 64:
            continue
        cells = []
        for t in cands:
            torch.set_num_threads(t)
            res: dict[str, list[tuple[float, float]]] = {"usual": [], road: []}
            forced = road == "im2col"  # (the bmm road is the one taken where im2col is not)
            fastlayers.use_im2col = lambda *a, forced=forced, **k: forced  # noqa: E731 - the road on every call
            try:
                for _ in range(2):
                    fwd_bwd(m, x, g)
                    fwd_bwd(fast, x, g)
                for _ in range(args.rounds):
                    for name, mod in (("usual", m), (road, fast)):
                        c, w = time.process_time(), time.perf_counter()
                        for _ in range(3):
                            fwd_bwd(mod, x, g)
                        res[name].append(((time.process_time() - c) / 3, (time.perf_counter() - w) / 3))
            finally:
                fastlayers.use_im2col = rule
            u = statistics.median(c for c, _ in res["usual"])
            f = statistics.median(c for c, _ in res[road])
            cells.append(f"{t} thr: {u * 1e3:.3f} ({min(w for _, w in res['usual']) * 1e3:.3f}) vs {f * 1e3:.3f} "
                         f"({min(w for _, w in res[road]) * 1e3:.3f}) = {u / f:.2f}x")
        kind = "T" if tr else " "
        took = "usual" if road == "im2col" and not picks else road
        print(f"  {kind} {m.in_channels:4d}->{m.out_channels:4d} in {tuple(shape)} ({pos} pos.; {road}, rule takes "
              f"{took}): " + " | ".join(cells), flush=True)
    torch.set_num_threads(cands[-1])
    print(load())


if __name__ == "__main__":
    main()
