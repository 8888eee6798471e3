"""Where a classifier training step's CPU time goes: torch.profiler over real fp32 steps, grouped by kind.

The step is the one ``classify train`` and ``bench/train_throughput.py`` run (uint8 batch -> normalized
float, optional channels-last, forward, cross-entropy, backward, optimizer step), on a registered model. After
``--warmup`` steps (oneDNN primitive creation, allocator), ``--steps`` steps are profiled with
``record_shapes``; the self CPU time of every op is summed into groups (conv forward, conv backward, batch norm,
activations, pooling/linear, optimizer, data path, the rest) and the top ops are listed with their shapes.
Emulate an AVX2-only CPU with ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``.

    PYTHONPATH=src nice -n 5 python bench/profile_train.py --model small_cnn --threads 1
    ONEDNN_VERBOSE=1 ... shows the oneDNN implementation (jit:avx2, brgconv, gemm...) of each convolution
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from _common import env_line, load
from torch import nn

PRESETS = {"small_cnn": ("small_cnn", 1, 28, 256, {}), "resnet18": ("resnet18", 3, 64, 64, {})}

GROUPS = [
    ("conv bwd", ("convolution_backward",)),
    ("conv fwd", ("mkldnn_convolution", "_convolution", "aten::convolution", "conv2d", "_mkldnn_conv")),
    ("batch norm", ("batch_norm", "native_batch_norm", "_batch_norm")),
    ("activation", ("relu", "threshold", "gelu", "silu", "sigmoid", "hardswish", "leaky")),
    ("pool/linear/loss", ("pool", "addmm", "mm", "linear", "cross_entropy", "log_softmax", "nll_loss",
                          "_log_softmax")),
    ("optimizer", ("_foreach", "_fused", "sgd", "adam", "Optimizer.step")),
    ("data path", ("to_float", "aten::to", "_to_copy", "aten::div", "aten::sub", "copy_")),
    ("grad zero/accum", ("zero_", "fill_", "add_", "aten::add")),
]


def group_of(name: str) -> str:
    low = name.lower()
    for g, keys in GROUPS:
        if any(k.lower() in low for k in keys):
            return g
    return "other"


def build(name: str, channels_last: bool, optimizer: str) -> tuple[nn.Module, torch.optim.Optimizer, dict]:
    from pictorch.engine.optim import adamw, sgd
    from pictorch.registry import create_model

    arch, c, _, _, kw = PRESETS[name]
    torch.manual_seed(0)
    model = create_model(arch, in_chans=c, num_classes=10, **kw).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = (adamw(model.parameters(), lr=1e-3, weight_decay=0.05) if optimizer == "adamw"
           else sgd(model.parameters(), lr=0.01, weight_decay=5e-4))
    return model, opt, model.default_cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=list(PRESETS), default="small_cnn")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    ap.add_argument("--contiguous", action="store_true", help="NCHW instead of channels-last")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from pictorch.data.loader import to_float

    arch, c, size, batch, _ = PRESETS[args.model]
    cl = not args.contiguous
    model, opt, dcfg = build(args.model, cl, args.optimizer)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, c, size, size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (batch,), generator=g)

    def step() -> torch.Tensor:
        with torch.profiler.record_function("to_float"):
            x = to_float(images, dcfg["mean"], dcfg["std"])
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)
        loss = nn.functional.cross_entropy(model(x), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.profiler.record_function("Optimizer.step"):
            opt.step()
        return loss.detach()

    print(env_line(), flush=True)
    for _ in range(args.warmup):
        step()
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    plain = (time.perf_counter() - t) / args.steps
    acts = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=acts, record_shapes=True) as prof:
        for _ in range(args.steps):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    groups: dict[str, float] = defaultdict(float)
    for e in events:
        groups[group_of(e.key)] += e.self_cpu_time_total
    print(f"{args.model} {c}×{size}² b{batch} fp32 {'channels_last' if cl else 'contiguous'} {args.optimizer}, "
          f"{args.threads} thread(s): {plain * 1e3:.1f} ms/step unprofiled = {batch / plain:.0f} img/s; "
          f"profiled self CPU {total / 1e3 / args.steps:.1f} ms/step ({load()})")
    for gname, us in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {gname:<18} {us / 1e3 / args.steps:8.2f} ms/step  {100 * us / max(total, 1):5.1f}%")
    print(f"top {args.top} ops by self CPU time (with input shapes):")
    shaped = prof.key_averages(group_by_input_shape=True)
    for e in sorted(shaped, key=lambda e: -e.self_cpu_time_total)[:args.top]:
        shapes = str(e.input_shapes)[:90]
        print(f"  {e.self_cpu_time_total / 1e3 / args.steps:7.2f} ms  x{e.count // args.steps:<4} {e.key:<36} "
              f"{shapes}")
    n_ops = sum(e.count for e in events) // args.steps
    print(f"ops per step: {n_ops}; end {load()}")


if __name__ == "__main__":
    main()
