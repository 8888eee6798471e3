"""Trainer hooks: progress bar with ETA and live metrics, CSV (+TensorBoard) logging.

A hook is any object with some of ``on_fit_start(ctx)``, ``on_step(ctx, images)``,
``on_log(ctx, metrics)`` and ``on_fit_end(ctx, result)``; the trainer calls whichever exist.
"""

from __future__ import annotations

import csv
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


class ProgressHook:
    """A rich progress bar (step/total, elapsed, ETA, live metrics) on a terminal; log lines otherwise."""

    def __init__(self, total: int, description: str = "train", enabled: bool = True):
        self.total = total
        self.description = description
        self.enabled = enabled
        self._progress = None
        self._task = None
        self._t0 = time.perf_counter()
        self._interactive = sys.stderr.isatty()

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
        if self._progress is not None:
            self._progress.update(self._task, completed=ctx.step)

    def on_log(self, ctx: Any, metrics: dict[str, float]) -> None:
        if not (self.enabled and ctx.fabric.is_global_zero):
            return
        text = format_metrics(metrics)
        if self._progress is not None:
            self._progress.update(self._task, completed=ctx.step, m=text)
        else:
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


class CSVLogHook:
    """Appends one row per log interval to ``<run>/metrics.csv`` (and TensorBoard when installed)."""

    def __init__(self, run_dir: Path, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.csv"
        self._fields: list[str] | None = None
        self._tb = None
        self._want_tb = tensorboard

    def on_fit_start(self, ctx: Any) -> None:
        if not ctx.fabric.is_global_zero:
            return
        if self.path.exists() and ctx.start_step > 0:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f), None)
            self._fields = header
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
        if extra:  # a metric appeared later (e.g. validation): rewrite the header once
            self._rewrite_with(self._fields + extra)
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in self._fields])
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, int | float):
                    self._tb.add_scalar(k, v, ctx.step)

    def _rewrite_with(self, fields: list[str]) -> None:
        rows = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
        self._fields = fields
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    def on_fit_end(self, ctx: Any, result: dict[str, Any]) -> None:
        if self._tb is not None:
            self._tb.close()


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
