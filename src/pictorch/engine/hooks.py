"""Trainer hooks: progress bar with ETA and live metrics, CSV (+TensorBoard) logging, time budgets.

Everything periodic or stateful around the training loop is a :class:`Hook` (detectron2's ``HookBase``):
``on_fit_start(ctx)``, ``on_step(ctx, images)``, ``on_log(ctx, metrics)``, ``on_fit_end(ctx, result)``, and a
``state_dict``/``load_state_dict`` pair that the trainer saves with the resume state, so ``--resume`` continues a
hook where it stopped (a time budget's spent seconds, a tuner's choice). Hooks never write ``ctx.cfg``: a hook
that shortens or lengthens a run changes ``ctx.total_steps``.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path
from typing import Any


def format_metrics(metrics: dict[str, float], limit: int = 6) -> str:
    """Short 'k=v' text for a progress line."""
    parts = []
    for k, v in list(metrics.items())[:limit]:
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)


class Hook:
    """Base of trainer hooks; every method is optional (the defaults do nothing)."""

    def on_fit_start(self, ctx: Any) -> None:
        """Once after setup and any resume, before the first step."""

    def on_step(self, ctx: Any, images: int) -> None:
        """After every optimizer step (``ctx.step`` already counts it)."""

    def on_log(self, ctx: Any, metrics: dict[str, float]) -> None:
        """After each metric sync (every ``log_every`` steps, and after validations)."""

    def on_fit_end(self, ctx: Any, result: dict[str, Any]) -> None:
        """Once after the last checkpoint was written."""

    def state_dict(self) -> dict[str, Any]:
        """What ``--resume`` needs to continue this hook (saved in the checkpoint's ``.state.pt``)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; called before :meth:`on_fit_start` on resume."""


class TimeBudget(Hook):
    """Ends a run after ``seconds`` of training, and refits its length so schedules anneal on time.

    Every ``refit_every`` steps the remaining budget is turned into a step count from the speed of the last
    ~100 steps (a slow start, such as a busy CPU at launch, must not cut a run short for good); the count moves
    both ways but never beyond ``--steps``. Learning-rate schedules and annealed tricks read the live
    ``ctx.total_steps``. Seconds spent before a ``--resume`` count against the budget.

    Args:
        seconds: The training budget (0: none).
        refit: Refit ``ctx.total_steps`` from the measured speed (False: only stop at the budget).
        refit_every: Steps between refits.
    """

    def __init__(self, seconds: float, refit: bool = True, refit_every: int = 10):
        self.seconds = float(seconds)
        self.refit = refit
        self.refit_every = max(1, int(refit_every))
        self.spent_before = 0.0
        self._t0 = 0.0
        self._step0 = 0
        self._marks: list[tuple[int, float]] = []

    def elapsed(self) -> float:
        """Training seconds so far, counting those before a resume."""
        return self.spent_before + (time.perf_counter() - self._t0)

    def on_fit_start(self, ctx: Any) -> None:
        self._t0 = time.perf_counter()
        self._step0 = ctx.step
        self._marks = []

    def on_step(self, ctx: Any, images: int) -> None:
        if self.seconds <= 0:
            return
        left = self.seconds - self.elapsed()
        if left <= 0:
            ctx.total_steps = min(ctx.total_steps, ctx.step)  # the loop ends after this step
            return
        done = ctx.step - self._step0
        if not self.refit or done < 5 or done % self.refit_every:
            return
        now = time.perf_counter()
        self._marks = [*self._marks[-10:], (ctx.step, now)]
        s0, t0 = self._marks[0] if len(self._marks) > 1 else (self._step0, self._t0)
        per_step = (now - t0) / max(ctx.step - s0, 1)
        fit = ctx.step + round(left / max(per_step, 1e-9))
        ctx.total_steps = max(ctx.step + 1, min(ctx.cfg.steps, fit))

    def state_dict(self) -> dict[str, Any]:
        return {"spent": self.elapsed() if self._t0 else self.spent_before}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.spent_before = float(state.get("spent", 0.0))


class ProgressHook(Hook):
    """A rich progress bar (step/total, elapsed, ETA, live metrics) on a terminal; log lines otherwise."""

    def __init__(self, total: int, description: str = "train", enabled: bool = True):
        self.total = total
        self.description = description
        # `pictorch --quiet` silences the training lines too
        self.enabled = enabled and os.environ.get("PICTORCH_QUIET", "") in ("", "0")
        self._progress = None
        self._task = None
        self._t0 = time.perf_counter()
        self._interactive = sys.stderr.isatty()
        self._printed_step = -1

    def on_fit_start(self, ctx: Any) -> None:
        if not (self.enabled and ctx.fabric.is_global_zero):
            return
        self._t0 = time.perf_counter()
        if self._interactive:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[m]}"),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, completed=ctx.step, m="")

    def on_step(self, ctx: Any, images: int) -> None:
        self.total = getattr(ctx, "total_steps", self.total)  # a time budget may refit the run's length
        if self._progress is not None:
            self._progress.update(self._task, completed=ctx.step, total=self.total)

    def on_log(self, ctx: Any, metrics: dict[str, float]) -> None:
        if not (self.enabled and ctx.fabric.is_global_zero):
            return
        text = format_metrics(metrics)
        if self._progress is not None:
            self._progress.update(self._task, completed=ctx.step, m=text)
        elif ctx.step != self._printed_step:  # the end-of-run validation logs the last step again: one line
            self._printed_step = ctx.step
            elapsed = time.perf_counter() - self._t0
            done = max(ctx.step - ctx.start_step, 1)
            eta = elapsed / done * (self.total - ctx.step)
            print(f"[{self.description}] step {ctx.step}/{self.total} elapsed {elapsed:.0f}s eta {eta:.0f}s {text}",
                  file=sys.stderr, flush=True)

    def on_fit_end(self, ctx: Any, result: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=ctx.step)
            self._progress.stop()
            self._progress = None


class CSVLogHook(Hook):
    """Appends one row per log interval to ``<run>/metrics.csv`` (and TensorBoard when installed)."""

    def __init__(self, run_dir: Path, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.csv"
        self._fields: list[str] | None = None
        self._last_step: int | None = None
        self._tb = None
        self._want_tb = tensorboard

    def on_fit_start(self, ctx: Any) -> None:
        if not ctx.fabric.is_global_zero:
            return
        if self.path.exists() and ctx.start_step > 0:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f), None)
            self._fields = header
            self._last_step = _last_step_of(self.path)
        elif self.path.exists():
            self.path.unlink()
        if self._want_tb:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.path.parent / "tb"))
            except Exception:  # tensorboard not installed: CSV only
                self._tb = None

    def on_log(self, ctx: Any, metrics: dict[str, float]) -> None:
        if not ctx.fabric.is_global_zero:
            return
        row = {"step": ctx.step, "epoch": ctx.epoch, **metrics}
        if self._fields is None:
            self._fields = list(row)
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self._fields)
        extra = [k for k in row if k not in self._fields]
        if ctx.step == self._last_step:
            # the same step logged again (the end-of-run validation, a --resume of a finished run): one row per
            # step, the later values win (metrics.csv held every final row twice and one more per resume)
            self._rewrite_with(self._fields + extra, replace_last=row)
        else:
            if extra:  # a metric appeared later (e.g. validation): rewrite the header once
                self._rewrite_with(self._fields + extra)
            with open(self.path, "a", newline="") as f:
                csv.writer(f).writerow([row.get(k, "") for k in self._fields])
        self._last_step = ctx.step
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, int | float):
                    self._tb.add_scalar(k, v, ctx.step)

    def _rewrite_with(self, fields: list[str], replace_last: dict[str, Any] | None = None) -> None:
        rows = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
        if replace_last is not None:
            last = rows.pop() if rows else {}
            rows.append({**last, **{k: v for k, v in replace_last.items() if k in fields}})
        self._fields = fields
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    def on_fit_end(self, ctx: Any, result: dict[str, Any]) -> None:
        if self._tb is not None:
            self._tb.close()


def _last_step_of(path: Path) -> int | None:
    """The step of a metrics.csv's last row (None: no rows)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return int(float(rows[-1]["step"])) if rows else None
    except (KeyError, TypeError, ValueError):
        return None


def read_metrics_csv(path: str | Path) -> dict[str, tuple[list[float], list[float]]]:
    """Each metric of a metrics.csv as (steps, values), empty cells skipped, for plotting curves."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = float(row.get("step") or 0)
            for k, v in row.items():
                if k in ("step", "epoch") or v in ("", None):
                    continue
                try:
                    val = float(v)
                except ValueError:
                    continue
                steps, vals = out.setdefault(k, ([], []))
                steps.append(step)
                vals.append(val)
    return out
