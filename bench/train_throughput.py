"""Classifier training throughput on the CPU: img/s and achieved FLOP/s against the measured matmul peak.

For each model the bench trains through pictorch's own path (``Trainer`` + a minimal classification
``TrainTask``: in-memory uint8 batches, Fabric precision, SGD-momentum or AdamW) in four variants: fp32 and
bf16-mixed (Fabric's ``bf16-mixed`` = ``torch.autocast("cpu", torch.bfloat16)``), each with contiguous (NCHW)
and channels_last tensors. A step is forward + backward + optimizer step; the first ``--warmup`` steps
(oneDNN kernel selection, allocator warm-up) are excluded; after them the run stops once ``--seconds`` of
training have been timed.

FLOPs per step are counted once per model with ``torch.utils.flop_counter.FlopCounterMode`` over a fp32
forward + backward of one batch (convolutions, matmuls, their gradients; element-wise ops, BN and the
optimizer update are not counted, as usual for "model FLOPs"). Achieved FLOP/s = FLOPs/step × steps/s,
shown as a fraction of the peak of a large square matmul (``--matmul-n``³, repeated) measured in the same
script with the same thread count, in fp32 and in bf16, before and after the runs (the best is used).

    PYTHONPATH=src python bench/train_throughput.py --seconds 8 --threads 1
    PYTHONPATH=src python bench/train_throughput.py --models small_cnn,resnet18_cifar --threads 2

Models (``--models``, comma-separated): ``small_cnn`` (Fashion-MNIST 1×28×28, batch 256), ``resnet18``
(3×64×64, ImageNet stem, batch 64), ``resnet18_cifar`` (3×32×32, 3×3 stem, batch 64), ``inception_small``
(1×28×28, batch 256), ``efficientnet_b0`` (3×64×64, batch 64). The machine is shared: note ``uptime``'s load
next to the numbers (printed at the start and the end).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import load, matmul_peak
from torch import nn

# name -> (registry arch, in_chans, size, batch, extra kwargs)
PRESETS: dict[str, tuple[str, int, int, int, dict[str, Any]]] = {
    "small_cnn": ("small_cnn", 1, 28, 256, {}),
    "resnet18": ("resnet18", 3, 64, 64, {}),
    "resnet18_cifar": ("resnet18", 3, 32, 64, {"stem": "cifar"}),
    "inception_small": ("inception_small", 1, 28, 256, {}),
    "efficientnet_b0": ("efficientnet_b0", 3, 64, 64, {}),
}
# --variants names -> (precision, channels_last, --compile)
VARIANTS_ALL = {"fp32": ("32-true", False, "off"), "fp32-cl": ("32-true", True, "off"),
                "bf16": ("bf16-mixed", False, "off"), "bf16-cl": ("bf16-mixed", True, "off"),
                "fp32-cl-compile": ("32-true", True, "on"), "fp32-compile": ("32-true", False, "on")}


def make_images(name: str, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST for 1-channel 28 px presets; random uint8 images (content does not change speed) else."""
    arch, c, size, batch, _ = PRESETS[name]
    n = max(limit, 4 * batch)
    if c == 1 and size == 28:
        from pictorch.data.fashion_mnist import load_fashion_mnist

        ds = load_fashion_mnist("train")
        return ds.images[:n], ds.labels[:n]
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,),
                                                                                                   generator=g)


class ClassifyBenchTask:
    """The minimal classification step: normalize, (channels_last), forward, cross-entropy, backward, step."""

    task_name = "bench"

    def __init__(self, name: str, channels_last: bool, optimizer: str, lr: float):
        self.name, self.channels_last, self.optimizer, self.lr = name, channels_last, optimizer, lr

    def build(self) -> dict[str, nn.Module]:
        from pictorch.registry import create_model

        arch, c, _, _, kw = PRESETS[self.name]
        torch.manual_seed(0)
        model = create_model(arch, in_chans=c, num_classes=10, **kw)
        self.mean, self.std = model.default_cfg["mean"], model.default_cfg["std"]
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return {"model": model}

    def configure_optimizers(self, modules: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        params = modules["model"].parameters()
        if self.optimizer == "adamw":
            return {"model": torch.optim.AdamW(params, lr=self.lr, weight_decay=0.05)}
        return {"model": torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=5e-4)}

    def configure_schedulers(self, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        return {}

    def training_step(self, ctx: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from pictorch.data.loader import to_float

        x = to_float(batch["image"], self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = nn.functional.cross_entropy(ctx.modules["model"](x), batch["label"])
        opt = ctx.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        ctx.backward(loss)
        opt.step()
        return {"loss": loss.detach()}

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"task": "bench"}

    def config_dict(self) -> dict[str, Any]:
        return {"model": self.name, "channels_last": self.channels_last, "optimizer": self.optimizer}

    # the rest of the TrainTask interface, unused here
    def on_fit_start(self, ctx: Any) -> None: ...
    def on_picture(self, ctx: Any, path: Path) -> None: ...
    def validate(self, ctx: Any) -> dict[str, float]:
        return {}

    def check_health(self, ctx: Any, metrics: dict[str, float]) -> None: ...
    def divergence_hint(self) -> str:
        return ""

    def on_train_end(self, ctx: Any) -> None: ...
    def state_dict(self) -> dict[str, Any]:
        return {}


class StepTimer:
    """Trainer hook: time each step after ``warmup``; end the run once ``seconds`` of steps are timed.

    Ending works by lowering ``ctx.total_steps`` to the current step (the loop checks it each step).
    CPU execution is synchronous, so per-step wall times are exact.
    """

    def __init__(self, warmup: int, seconds: float):
        self.warmup, self.seconds = warmup, seconds
        self.times: list[float] = []
        self.warm: list[float] = []  # the untimed first steps (they hold torch.compile's compilation)
        self._last = 0.0

    def on_fit_start(self, ctx: Any) -> None:
        self._last = time.perf_counter()

    def on_step(self, ctx: Any, n: int) -> None:
        now = time.perf_counter()
        if ctx.step > self.warmup:
            self.times.append(now - self._last)
        else:
            self.warm.append(now - self._last)
        self._last = now
        if sum(self.times) >= self.seconds:
            ctx.total_steps = ctx.step  # the loop runs to ctx.total_steps (it never writes cfg)


def step_flops(name: str) -> int:
    """Model FLOPs of one training step (fp32 forward + backward of one batch)."""
    from torch.utils.flop_counter import FlopCounterMode

    from pictorch.registry import create_model

    arch, c, size, batch, kw = PRESETS[name]
    model = create_model(arch, in_chans=c, num_classes=10, **kw).train()
    x = torch.randn(batch, c, size, size)
    y = torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        nn.functional.cross_entropy(model(x), y).backward()
    return int(counter.get_total_flops())


def run_variant(name: str, precision: str, channels_last: bool, args: argparse.Namespace,
                data: tuple[torch.Tensor, torch.Tensor], out: Path, compile_mode: str = "off"
                ) -> tuple[float, int, float]:
    """Median img/s over timed steps, the number of timed steps, and the warm-up steps' excess seconds over
    as many median steps (with ``--compile on``: the compilation time)."""
    from pictorch.data.loader import TensorLoader
    from pictorch.engine.config import TrainConfig
    from pictorch.engine.trainer import Trainer

    batch = PRESETS[name][3]
    timer = StepTimer(args.warmup, args.seconds)
    cfg = TrainConfig(out_dir=str(out), steps=10**9, batch_size=batch, lr=args.lr, precision=precision,
                      accelerator="cpu", progress=False, log_every=10**9, compile=compile_mode)
    loader = TensorLoader(data[0], data[1], batch_size=batch, shuffle=True, seed=0)
    task = ClassifyBenchTask(name, channels_last, args.optimizer, args.lr)
    Trainer(cfg, hooks=[timer]).fit(task, loader)  # type: ignore[arg-type]
    med = statistics.median(timer.times)
    return batch / med, len(timer.times), sum(timer.warm) - len(timer.warm) * med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="small_cnn,resnet18", help=f"comma-separated, from {', '.join(PRESETS)}")
    ap.add_argument("--seconds", type=float, default=8.0, help="timed training seconds per row (after warm-up)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each row")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--variants", default="fp32,fp32-cl,bf16,bf16-cl",
                    help=f"comma-separated, from {', '.join(VARIANTS_ALL)}")
    ap.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--matmul-n", type=int, default=2048)
    ap.add_argument("--matmul-seconds", type=float, default=3.0)
    ap.add_argument("--limit", type=int, default=4096, help="images held in memory per model")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if any(v not in VARIANTS_ALL for v in variants):
        ap.error(f"unknown variant in {args.variants!r}; known: {', '.join(VARIANTS_ALL)}")
    unknown = [m for m in names if m not in PRESETS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {', '.join(PRESETS)}")

    from pictorch.utils import cpu_kind

    # emulated bf16 multiplies at ~0.3 GFLOP/s: one 2048³ product would take a minute; 512³ shows the same rate
    n16 = args.matmul_n if cpu_kind()["bf16_native"] else min(args.matmul_n, 512)
    peak32 = matmul_peak(torch.float32, args.matmul_n, args.matmul_seconds)
    peak16 = matmul_peak(torch.bfloat16, n16, args.matmul_seconds)
    print(f"matmul peak: fp32 {args.matmul_n}³ {peak32 / 1e9:.1f} GFLOP/s, bf16 {n16}³ {peak16 / 1e9:.1f} GFLOP/s "
          f"({load()})", flush=True)

    rows: list[tuple[Any, ...]] = []
    header = (f"{'model':<16} {'input':<13} {'precision':<11} {'layout':<14} {'img/s':>8} {'steps':>6} "
              f"{'GFLOP/step':>10} {'GFLOP/s':>8} {'%fp32pk':>8} {'%bf16pk':>8} {'warm-up excess s':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            arch, c, size, batch, _ = PRESETS[name]
            flops = step_flops(name)
            data = make_images(name, args.limit)
            for i, vname in enumerate(variants):
                precision, cl, comp = VARIANTS_ALL[vname]
                ips, n, extra = run_variant(name, precision, cl, args, data, Path(tmp) / f"{name}-{i}", comp)
                achieved = flops * ips / batch
                layout = ("channels_last" if cl else "contiguous") + ("+compile" if comp == "on" else "")
                rows.append((name, f"{c}×{size}² b{batch}", "fp32" if precision == "32-true" else "bf16-mixed",
                             layout, ips, n, flops / 1e9, achieved / 1e9, extra))
                print("  " + " | ".join(str(v if not isinstance(v, float) else round(v, 2)) for v in rows[-1])
                      + f"  ({load()})", flush=True)
    # a busy machine time-slices the peak measurement too: measure it again after the runs, keep the best
    end32 = matmul_peak(torch.float32, args.matmul_n, args.matmul_seconds)
    end16 = matmul_peak(torch.bfloat16, n16, args.matmul_seconds)
    print(f"matmul peak again: fp32 {end32 / 1e9:.1f} GFLOP/s, bf16 {end16 / 1e9:.1f} GFLOP/s "
          f"({load()})")
    peak32, peak16 = max(peak32, end32), max(peak16, end16)
    print(f"\npeaks used: fp32 {peak32 / 1e9:.1f} GFLOP/s, bf16 {peak16 / 1e9:.1f} GFLOP/s")
    print(header)
    for r in rows:
        a = r[7] * 1e9
        print(f"{r[0]:<16} {r[1]:<13} {r[2]:<11} {r[3]:<14} {r[4]:>8.1f} {r[5]:>6d} {r[6]:>10.2f} {r[7]:>8.1f} "
              f"{100 * a / peak32:>7.1f}% {100 * a / peak16:>7.1f}% {r[8]:>16.1f}")
    print(f"\nend: {load()}; FLOPs = fwd+bwd conv/matmul FLOPs of one batch (FlopCounterMode); "
          "%fp32pk / %bf16pk = achieved FLOP/s over the fp32 / bf16 matmul peak; warm-up excess = the untimed "
          "first steps' seconds beyond as many median steps (with +compile: the compilation)")


if __name__ == "__main__":
    main()
