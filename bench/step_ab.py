"""Interleaved A/B of one classifier training step: which knob makes the CPU step faster, on a shared machine.

Two (or more) copies of the same seeded model are trained side by side in one process on the same uint8
batches; each round runs one step of every variant, in a rotating order, so all of them see the same load
step by step (on a CPU shared with other jobs, whole-run figures taken one after the other differ by 2× and
more; the per-round ratio does not). The figure is the median over rounds of each variant's step time over
the first variant's (``--variants``' first entry is the baseline), beside img/s and the fraction of the fp32
matmul peak measured in the same process (``_common.matmul_peak``, best of before and after).

A variant is a ``+``-joined set of knobs:

* ``cl`` — channels-last model and input (the oneDNN kernels' native layout on CPUs);
* ``tailnchw`` — with ``cl``: the last feature stage stays NCHW (its input is made contiguous): where the
  activations are a few pixels and the weights large (ResNet-18's 512×512×3×3 at 2×2 px), channels-last
  costs two permuting copies of every weight gradient in the backward pass;
* ``compile`` — ``torch.compile`` the whole model (inductor; its compilation falls in the untimed warm-up);
* ``compile-bnact`` — compile only each conv block's BatchNorm + activation (the convolution stays eager);
* ``fused`` — the fused SGD kernel (``torch.optim.SGD(fused=True)``) instead of the foreach one;
* ``keepnone`` — ``zero_grad(set_to_none=False)`` (gradients zeroed in place rather than dropped);
* ``outplace`` — activations not in place;
* ``bf16`` — bf16-mixed (``torch.autocast("cpu", torch.bfloat16)``, what ``--precision bf16-mixed`` runs);
* ``convonly`` — not a real variant but a bound: BatchNorm and ReLU replaced by identities, so the step is the
  convolutions, pooling, the head and the optimizer; its %fp32pk is what perfect fusion of the element-wise
  work could reach.

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 PYTHONPATH=src nice -n 5 python bench/step_ab.py \
        --model small_cnn --variants "contig,cl,cl+compile-bnact" --rounds 12 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from _common import env_line, load, matmul_peak
from torch import nn

# name -> (registry arch, in_chans, size, batch, extra kwargs); the same presets as train_throughput.py
PRESETS: dict[str, tuple[str, int, int, int, dict[str, Any]]] = {
    "small_cnn": ("small_cnn", 1, 28, 256, {}),
    "resnet18": ("resnet18", 3, 64, 64, {}),
}
KNOBS = ("contig", "cl", "tailnchw", "convonly", "bf16", "compile", "compile-bnact", "fused", "keepnone", "outplace")


def step_flops(name: str) -> int:
    """Model FLOPs of one training step (fp32 forward + backward of one batch; convs and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    from pictorch.registry import create_model

    arch, c, size, batch, kw = PRESETS[name]
    model = create_model(arch, in_chans=c, num_classes=10, **kw).train()
    with FlopCounterMode(display=False) as counter:
        nn.functional.cross_entropy(model(torch.randn(batch, c, size, size)),
                                    torch.randint(0, 10, (batch,))).backward()
    return int(counter.get_total_flops())


def _compile_bnact(model: nn.Module) -> None:
    """Compile BatchNorm + activation of every ``ConvBnAct`` (conv stays an eager oneDNN call)."""
    from pictorch.nn.blocks import ConvBnAct

    for m in model.modules():
        if isinstance(m, ConvBnAct) and isinstance(getattr(m, "bn", None), nn.BatchNorm2d):
            tail = nn.Sequential(m.bn, m.act)
            ctail = torch.compile(tail)

            def fwd(x: torch.Tensor, m: nn.Module = m, ctail: Any = ctail) -> torch.Tensor:
                return ctail(m.conv(x))

            m.forward = fwd  # type: ignore[method-assign]


def _strip_bn_act(model: nn.Module) -> None:
    """BatchNorm2d and ReLU children replaced by identities (the ``convonly`` bound)."""
    for parent in list(model.modules()):
        for cname, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d | nn.ReLU):
                setattr(parent, cname, nn.Identity())


def _tail_nchw(model: nn.Module) -> None:
    """The last feature stage back in NCHW, fed a contiguous input (the rest stays channels-last)."""
    tail = model.feature_stages()[-1]
    tail.to(memory_format=torch.contiguous_format)
    tail.register_forward_pre_hook(lambda m, args: (args[0].contiguous(),))


class Variant:
    """One model + optimizer trained by the classify step with a set of knobs."""

    def __init__(self, name: str, spec: str, lr: float = 0.01):
        from pictorch.engine.optim import decay_groups
        from pictorch.registry import create_model

        self.spec = spec
        knobs = set(spec.split("+"))
        bad = knobs - set(KNOBS)
        if bad:
            raise SystemExit(f"unknown knob(s) {sorted(bad)}; known: {', '.join(KNOBS)}")
        arch, c, _, _, kw = PRESETS[name]
        torch.manual_seed(0)
        model = create_model(arch, in_chans=c, num_classes=10, **kw).train()
        if "convonly" in knobs:
            _strip_bn_act(model)
        if "outplace" in knobs:
            for m in model.modules():
                if hasattr(m, "inplace"):
                    m.inplace = False
        self.cl = "cl" in knobs
        if self.cl:
            model = model.to(memory_format=torch.channels_last)
            if "tailnchw" in knobs:
                _tail_nchw(model)
        self.mean, self.std = model.default_cfg["mean"], model.default_cfg["std"]
        groups = decay_groups(model.parameters(), 5e-4)
        extra = {"fused": True} if "fused" in knobs else {}
        self.opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4, **extra)
        if "compile-bnact" in knobs:
            _compile_bnact(model)
        self.model = torch.compile(model) if "compile" in knobs else model
        self.set_to_none = "keepnone" not in knobs
        self.bf16 = "bf16" in knobs
        self.times: list[float] = []

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        from pictorch.data.loader import to_float

        t = time.perf_counter()
        x = to_float(images, self.mean, self.std)
        if self.cl:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", torch.bfloat16, enabled=self.bf16):
            loss = nn.functional.cross_entropy(self.model(x).float(), labels)
        self.opt.zero_grad(set_to_none=self.set_to_none)
        loss.backward()
        self.opt.step()
        dt = time.perf_counter() - t
        return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=list(PRESETS), default="small_cnn")
    ap.add_argument("--variants", default="contig,cl", help="comma-separated; the first is the baseline")
    ap.add_argument("--rounds", type=int, default=10, help="timed rounds (one step of every variant each)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed rounds first (kernel selection, compilation)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--matmul-seconds", type=float, default=2.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(env_line(), flush=True)
    arch, c, size, batch, _ = PRESETS[args.model]
    flops = step_flops(args.model)
    peak = matmul_peak(torch.float32, 2048, args.matmul_seconds)
    print(f"{args.model} {c}×{size}² b{batch} fp32, {flops / 1e9:.2f} GFLOP/step; fp32 matmul 2048³ peak "
          f"{peak / 1e9:.1f} GFLOP/s ({load()})", flush=True)
    variants = [Variant(args.model, v.strip()) for v in args.variants.split(",") if v.strip()]
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randint(0, 256, (batch, c, size, size), dtype=torch.uint8, generator=g),
                torch.randint(0, 10, (batch,), generator=g)) for _ in range(4)]
    t_warm = time.perf_counter()
    for r in range(args.warmup + args.rounds):
        images, labels = batches[r % len(batches)]
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:  # rotate who goes first
            dt = v.step(images, labels)
            if r >= args.warmup:
                v.times.append(dt)
        if r == args.warmup - 1:
            print(f"warm-up {time.perf_counter() - t_warm:.1f} s ({load()})", flush=True)
    peak = max(peak, matmul_peak(torch.float32, 2048, args.matmul_seconds))
    base = variants[0].times
    print(f"peak used {peak / 1e9:.1f} GFLOP/s; {args.rounds} rounds, {args.threads} thread(s); end {load()}")
    print(f"{'variant':<28} {'img/s':>8} {'%fp32pk':>8} {'× base (median of rounds, min-max)':>36}")
    for v in variants:
        med = statistics.median(v.times)
        ratios = [b / t for b, t in zip(base, v.times, strict=True)]
        ips = batch / med
        print(f"{v.spec:<28} {ips:>8.1f} {100 * flops * ips / batch / peak:>7.1f}% "
              f"{statistics.median(ratios):>10.3f}× ({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
