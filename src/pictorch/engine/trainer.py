"""A thin training loop on Lightning Fabric; each task owns its ``training_step``.

Fabric supplies the device (cuda/mps/cpu), precision (bf16-mixed by default where supported), DDP and
distributed-safe I/O. The loop adds what every run needs: seeding, exact resume, progress with ETA, a CSV
log, periodic pictures and validation, atomic checkpoints (every N steps, at the end, on Ctrl-C) and a
NaN/Inf guard that stops the run without overwriting the last good checkpoint.

Metrics returned by ``training_step`` stay on the device and are summed there; the host reads them once
per ``log_every`` steps (one sync), never per step.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pictorch.engine.checkpoint import load_checkpoint, save_checkpoint
from pictorch.engine.config import TrainConfig, config_to_dict, save_config
from pictorch.engine.hooks import CSVLogHook, ProgressHook
from pictorch.errors import CheckpointError, DataError, PictorchError, TrainingDiverged
from pictorch.utils import auto_precision, precision_is_emulated, seed_everything


class Interrupted(PictorchError):
    """Ctrl-C during training: the checkpoint was saved; ``--resume`` continues."""

    exit_code = 130


class TrainTask:
    """Base class for a task's training logic. Subclasses implement at least ``build``,
    ``configure_optimizers`` and ``training_step``."""

    task_name: str = "task"
    log_name: str | None = None  # the progress lines' label when it differs from task_name (the command name)

    def build(self) -> dict[str, nn.Module]:
        """Create the modules to train, e.g. ``{"model": m}`` or ``{"G": g, "D": d}``."""
        raise NotImplementedError

    def configure_optimizers(self, modules: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        """Optimizers by name over the (Fabric-wrapped) modules."""
        raise NotImplementedError

    def configure_schedulers(self, optimizers: dict[str, Any], total_steps: RunLength) -> dict[str, Any]:
        """Optional LR schedulers by name; stepped once per training step.

        ``total_steps`` is the planned length as an int, and calling it, ``total_steps()``, gives the run's live
        length (``ctx.total_steps``, which a time budget refits): an LR lambda that reads ``total_steps()``
        follows the refit without the task mirroring the context.
        """
        return {}

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimization step: forward, ``ctx.backward(loss)``, optimizer steps; return detached scalars."""
        raise NotImplementedError

    def checkpoint_meta(self) -> dict[str, Any]:
        """What the checkpoint must say about the model (task, normalization, classes, ...)."""
        return {"task": self.task_name}

    def state_dict(self) -> dict[str, Any]:
        """Task state ``--resume`` needs besides weights and optimizers (best weights, patience counters)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (called on resume, after ``build``)."""

    def on_train_end(self, ctx: StepContext) -> dict[str, float] | None:
        """After the final validation, before the final picture and checkpoint (e.g. restore best weights).

        Returns metrics that replace the last ones in the checkpoint (e.g. the restored weights' ``val_acc``).
        """
        return None

    def config_dict(self) -> dict[str, Any]:
        """The task's resolved configuration, saved into the run folder."""
        return {}

    def on_fit_start(self, ctx: StepContext) -> None:
        """Called once after setup (and after a resume), before the first step."""

    def on_picture(self, ctx: StepContext, path: Path) -> None:
        """Write a picture (PNG) showing progress, if the task has one."""

    def validate(self, ctx: StepContext) -> dict[str, float]:
        """Validation metrics (prefix keys with ``val_``)."""
        return {}

    def check_health(self, ctx: StepContext, metrics: dict[str, float]) -> None:
        """Inspect synced metrics; raise :class:`TrainingDiverged` for a task-specific failure (collapse...)."""

    def divergence_hint(self) -> str:
        """Advice printed when the loss becomes NaN/Inf."""
        return "try a lower --lr, --precision 32-true, or gradient clipping"


@dataclass
class StepContext:
    """What a training step can see and use."""

    fabric: Any
    cfg: TrainConfig
    run_dir: Path
    modules: dict[str, nn.Module] = field(default_factory=dict)
    optimizers: dict[str, Any] = field(default_factory=dict)
    schedulers: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    start_step: int = 0
    total_steps: int = 0  # the run's length; hooks (time budgets) may refit it, nothing writes cfg
    epoch: int = 0
    should_stop: bool = False  # a task sets it (e.g. early stopping in validate) to end the run after this step

    @property
    def device(self) -> torch.device:
        return self.fabric.device

    def backward(self, loss: torch.Tensor, **kw: Any) -> None:
        """Backward through Fabric (handles precision scaling and DDP)."""
        self.fabric.backward(loss, **kw)

    def clip_gradients(self, module: nn.Module, optimizer: Any, max_norm: float) -> Any:
        """Clip gradient norm (precision-aware)."""
        return self.fabric.clip_gradients(module, optimizer, max_norm=max_norm)


class RunLength(int):
    """The run's planned step count (an int, for schedules fixed at the start) that, called, reads the live one.

    A :class:`~pictorch.engine.hooks.TimeBudget` refits ``ctx.total_steps`` from the measured speed; an LR
    lambda built from ``total_steps()`` follows it, one built from the int keeps the plan.
    """

    _ctx: StepContext

    def __new__(cls, ctx: StepContext) -> RunLength:
        obj = super().__new__(cls, ctx.total_steps)
        obj._ctx = ctx
        return obj

    def __call__(self) -> int:
        return int(self._ctx.total_steps)


def make_fabric(cfg: TrainConfig) -> Any:
    """A Fabric for the config: resolves precision "auto" and picks gloo DDP for multi-process CPU runs."""
    from lightning.fabric import Fabric

    precision = auto_precision(cfg.accelerator) if cfg.precision == "auto" else cfg.precision
    if precision == "32":
        precision = "32-true"
    if precision_is_emulated(precision, cfg.accelerator):
        import sys

        print(f"note: --precision {precision} on a CPU without native bf16 (no AVX512-BF16/AMX): bf16 is emulated "
              "here and trained 9-14x slower than 32-true on such a CPU (measured on an AVX2 AMD EPYC); "
              "--precision auto picks 32-true", file=sys.stderr)
    strategy = cfg.strategy
    if strategy == "auto" and (cfg.devices > 1 or cfg.num_nodes > 1):
        strategy = "ddp"
    return Fabric(accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes,
                  strategy=strategy, precision=precision)


def _rng_state() -> dict[str, Any]:
    import numpy as np

    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


class Trainer:
    """Runs a :class:`TrainTask` for ``cfg.steps`` steps.

    Args:
        cfg: Shared training options.
        hooks: Extra hook objects (see :mod:`pictorch.engine.hooks`).
        fabric: An existing Fabric (tests); default built from ``cfg``.
    """

    def __init__(self, cfg: TrainConfig, hooks: list[Any] | None = None, fabric: Any = None):
        self.cfg = cfg
        self.extra_hooks = list(hooks or [])
        self.fabric = fabric
        self.run_dir = Path(cfg.out_dir)
        self.ckpt_path = self.run_dir / "last.safetensors"
        self.last_metrics: dict[str, float] = {}
        self.history_best: dict[str, float] = {}

    # -- public -----------------------------------------------------------------------------------
    def fit(self, task: TrainTask, loader: Any) -> dict[str, Any]:
        """Train; returns ``{"step", "metrics", "checkpoint", "run_dir", "seconds", "images_per_s"}``."""
        cfg = self.cfg
        loader_restored = False  # resumed: the loader already sits at the next batch (maybe mid-epoch)
        fabric = self.fabric or make_fabric(cfg)
        self.fabric = fabric
        if cfg.devices > 1 or cfg.num_nodes > 1:
            fabric.launch()
        seed_everything(cfg.seed, cfg.deterministic)

        resume_ckpt = None
        if cfg.resume:
            if not self.ckpt_path.exists():
                raise CheckpointError(f"{self.ckpt_path}: nothing to resume (no checkpoint in {self.run_dir}); "
                                      "drop --resume to start a new run")
            resume_ckpt = load_checkpoint(self.ckpt_path, task=task.task_name)
        elif fabric.is_global_zero and self.ckpt_path.exists():
            # a new run into a folder holding a checkpoint: keep the old one rather than clobber it silently
            backup = self.ckpt_path.with_name(f"previous-{int(time.time())}.safetensors")
            self.ckpt_path.rename(backup)
            state = self.ckpt_path.with_suffix(".state.pt")
            if state.exists():
                state.rename(backup.with_suffix(".state.pt"))

        modules = task.build()
        if resume_ckpt is not None:
            for name, mod in modules.items():
                if name not in resume_ckpt.state_dicts:
                    raise CheckpointError(f"{self.ckpt_path}: has no weights for module {name!r}")
                mod.load_state_dict(resume_ckpt.state_dicts[name])
        from pictorch.engine.compile import compile_modules

        modules = compile_modules(modules, cfg.compile, cfg.steps, fabric.device.type)
        # a module with no trainable parameter (a weight average, a fixed feature net) is only moved: DDP
        # refuses to wrap it and nothing differentiates through it
        wrapped = {name: fabric.setup_module(m) if any(p.requires_grad for p in m.parameters())
                   else m.to(fabric.device) for name, m in modules.items()}
        optimizers = task.configure_optimizers(wrapped)
        optimizers = {name: fabric.setup_optimizers(o) for name, o in optimizers.items()}
        ctx = StepContext(fabric=fabric, cfg=cfg, run_dir=self.run_dir, modules=wrapped, optimizers=optimizers,
                          total_steps=cfg.steps)
        schedulers = task.configure_schedulers(optimizers, RunLength(ctx))
        ctx.schedulers = schedulers
        hooks = [ProgressHook(cfg.steps, getattr(task, "log_name", None) or task.task_name, enabled=cfg.progress), CSVLogHook(self.run_dir),
                 *self.extra_hooks]

        if hasattr(loader, "shard") and fabric.world_size > 1:
            loader.shard(fabric.global_rank, fabric.world_size)
        if hasattr(loader, "to"):
            loader.to(fabric.device)

        if resume_ckpt is not None:
            state = resume_ckpt.train_state()
            ctx.step = int(resume_ckpt.meta.get("step", 0))
            ctx.epoch = int(resume_ckpt.meta.get("epoch", 0))
            if state is not None:
                for name, opt in optimizers.items():
                    if name in state.get("optimizers", {}):
                        opt.load_state_dict(state["optimizers"][name])
                for name, sch in schedulers.items():
                    if name in state.get("schedulers", {}):
                        sch.load_state_dict(state["schedulers"][name])
                if "loader" in state and hasattr(loader, "load_state_dict"):
                    loader.load_state_dict(state["loader"])
                    loader_restored = True
                if "rng" in state and fabric.world_size == 1:
                    _set_rng_state(state["rng"])
                if "task" in state:
                    task.load_state_dict(state["task"])
                for key, h in _stateful(hooks).items():
                    if key in state.get("hooks", {}):
                        h.load_state_dict(state["hooks"][key])
            self.last_metrics = dict(resume_ckpt.meta.get("metrics", {}))
        else:
            seed_everything(cfg.seed + fabric.global_rank, cfg.deterministic)
        ctx.start_step = ctx.step

        if fabric.is_global_zero:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.run_dir / "config.yaml", train=cfg, task=task.config_dict())
        self._hooks = hooks
        for h in hooks:
            if hasattr(h, "on_fit_start"):
                h.on_fit_start(ctx)
        task.on_fit_start(ctx)

        result = self._loop(task, loader, ctx, hooks, loader_restored)
        for h in hooks:
            if hasattr(h, "on_fit_end"):
                h.on_fit_end(ctx, result)
        return result

    # -- internals --------------------------------------------------------------------------------
    def _loop(self, task: TrainTask, loader: Any, ctx: StepContext, hooks: list[Any],
              loader_restored: bool = False) -> dict[str, Any]:
        cfg, fabric = self.cfg, ctx.fabric
        sums: dict[str, torch.Tensor] = {}
        count = 0
        images = 0
        t0 = time.perf_counter()
        t_log = t0
        images_since_log = 0
        if hasattr(loader, "set_epoch") and not loader_restored:
            loader.set_epoch(ctx.epoch)
        it = iter(loader)
        empty_epochs = 0

        def flush() -> dict[str, float]:
            nonlocal sums, count, t_log, images_since_log
            if count == 0:
                return self.last_metrics
            keys = list(sums)
            stacked = torch.stack([sums[k] for k in keys]) / count
            if fabric.world_size > 1:
                stacked = fabric.all_reduce(stacked, reduce_op="mean")
            values = stacked.float().cpu().tolist()  # the one host sync per log interval
            metrics = dict(zip(keys, values, strict=True))
            bad = [k for k, v in metrics.items() if v != v or v in (float("inf"), float("-inf"))]
            if bad:
                kept = f"the last good checkpoint {self.ckpt_path} is kept" if self.ckpt_path.exists() else \
                    "no checkpoint was written"
                raise TrainingDiverged(f"{', '.join(bad)} became NaN/Inf by step {ctx.step}; stopped, {kept}. "
                                       f"{task.divergence_hint()}")
            now = time.perf_counter()
            metrics["img_per_s"] = images_since_log * fabric.world_size / max(now - t_log, 1e-9)
            for name, opt in ctx.optimizers.items():
                metrics[f"lr_{name}" if len(ctx.optimizers) > 1 else "lr"] = float(opt.param_groups[0]["lr"])
            t_log, images_since_log = now, 0
            sums, count = {}, 0
            self.last_metrics = {**{k: v for k, v in self.last_metrics.items() if k.startswith("val_")}, **metrics}
            task.check_health(ctx, metrics)
            for h in hooks:
                if hasattr(h, "on_log"):
                    h.on_log(ctx, self.last_metrics)
            return metrics

        try:
            while ctx.step < ctx.total_steps and not ctx.should_stop:
                try:
                    batch = next(it)
                except StopIteration:
                    empty_epochs += 1
                    if empty_epochs > 1:
                        raise DataError("the data loader yields no batches (fewer images than one batch? "
                                        "lower --batch-size)") from None
                    ctx.epoch += 1
                    if hasattr(loader, "set_epoch"):
                        loader.set_epoch(ctx.epoch)
                    it = iter(loader)
                    continue
                empty_epochs = 0
                batch = fabric.to_device(batch)
                out = task.training_step(ctx, batch)
                for sch in ctx.schedulers.values():
                    sch.step()
                ctx.step += 1
                n = _batch_size(batch)
                images += n
                images_since_log += n
                for k, v in out.items():
                    v = v.detach().float()
                    sums[k] = sums[k] + v if k in sums else v
                count += 1
                for h in hooks:
                    if hasattr(h, "on_step"):
                        h.on_step(ctx, n)
                last = ctx.step >= ctx.total_steps or ctx.should_stop
                if ctx.step % cfg.log_every == 0 or last:
                    flush()
                if cfg.val_every and ctx.step % cfg.val_every == 0 and not last:
                    self._validate(task, ctx, hooks)
                    last = ctx.should_stop
                if cfg.picture_every and ctx.step % cfg.picture_every == 0 and not last:
                    self._picture(task, ctx)
                if cfg.ckpt_every and ctx.step % cfg.ckpt_every == 0 and not last:
                    flush()
                    self._save(task, ctx, loader)
        except KeyboardInterrupt:
            flush()
            self._save(task, ctx, loader)
            raise Interrupted(f"interrupted at step {ctx.step}; checkpoint saved to {self.ckpt_path}; "
                              "continue with --resume") from None
        flush()
        self._validate(task, ctx, hooks)
        self.last_metrics.update(task.on_train_end(ctx) or {})
        self._picture(task, ctx)
        self._save(task, ctx, loader)
        seconds = time.perf_counter() - t0
        return {"step": ctx.step, "metrics": dict(self.last_metrics), "checkpoint": self.ckpt_path,
                "run_dir": self.run_dir, "seconds": seconds,
                "images_per_s": images * fabric.world_size / max(seconds, 1e-9),
                "modules": {k: v for k, v in ctx.modules.items()}}

    def _validate(self, task: TrainTask, ctx: StepContext, hooks: list[Any]) -> None:
        for m in ctx.modules.values():
            m.eval()
        with torch.no_grad():
            val = task.validate(ctx) or {}
        for m in ctx.modules.values():
            m.train()
        if val:
            self.last_metrics.update({k: float(v) for k, v in val.items()})
            for h in hooks:
                if hasattr(h, "on_log"):
                    h.on_log(ctx, self.last_metrics)

    def _picture(self, task: TrainTask, ctx: StepContext) -> None:
        if not ctx.fabric.is_global_zero:
            return
        path = self.run_dir / "pictures" / f"step_{ctx.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        for m in ctx.modules.values():
            m.eval()
        with torch.no_grad():
            task.on_picture(ctx, path)
        for m in ctx.modules.values():
            m.train()

    def _save(self, task: TrainTask, ctx: StepContext, loader: Any) -> None:
        fabric = ctx.fabric
        if fabric.is_global_zero:
            meta = {**task.checkpoint_meta(), "step": ctx.step, "epoch": ctx.epoch,
                    "metrics": self.last_metrics, "train_config": config_to_dict(self.cfg)}
            meta.setdefault("task", task.task_name)
            state = {
                "optimizers": {k: o.state_dict() for k, o in ctx.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in ctx.schedulers.items()},
                "rng": _rng_state(),
            }
            if hasattr(loader, "state_dict"):
                state["loader"] = loader.state_dict()
            task_state = task.state_dict()
            if task_state:
                state["task"] = task_state
            state["hooks"] = {key: h.state_dict() for key, h in _stateful(getattr(self, "_hooks", [])).items()}
            save_checkpoint(self.ckpt_path, ctx.modules, meta, train_state=state)
        if fabric.world_size > 1:
            fabric.barrier()


def _stateful(hooks: list[Any]) -> dict[str, Any]:
    """Hooks with state, keyed by class name (numbered when a class appears twice)."""
    out: dict[str, Any] = {}
    for h in hooks:
        if not hasattr(h, "state_dict"):
            continue
        key = type(h).__name__
        n = sum(1 for k in out if k == key or k.startswith(key + "#"))
        out[f"{key}#{n}" if n else key] = h
    return out


def _batch_size(batch: Any) -> int:
    if isinstance(batch, dict):
        for v in batch.values():
            if isinstance(v, torch.Tensor) and v.ndim > 0:
                return int(v.shape[0])
    if isinstance(batch, list | tuple) and batch and isinstance(batch[0], torch.Tensor):
        return int(batch[0].shape[0])
    return 0
