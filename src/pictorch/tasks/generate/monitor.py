"""Training monitor: warns when D wins too early or samples lose diversity, and plots the curves.

Works on the metrics the trainer syncs once per log interval (no per-step host syncs): ``d_loss``,
``g_loss``, ``d_real`` (D(x)), ``d_fake`` (D(G(z))) and ``diversity`` (mean pairwise distance of a generated
batch divided by that of a real batch).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class GANMonitor:
    """Stateful health checks over successive log intervals.

    Args:
        probabilistic: D outputs probabilities (cross-entropy losses); the "D wins" check needs them.
        diversity_floor: Warn about mode collapse when ``diversity`` stays below this.
        patience: Consecutive bad log intervals before a warning.
        d_fake_floor: D(G(z)) below this counts as "D rejects every sample".
        d_real_ceiling: ... while D(x) above this (D separates real from fake perfectly).
        warmup: Steps before any judgement (a freshly initialised G is neither diverse nor convincing).
        stream: Where warnings are printed (stderr).
    """

    probabilistic: bool = True
    diversity_floor: float = 0.3
    patience: int = 3
    d_fake_floor: float = 0.03
    d_real_ceiling: float = 0.7
    warmup: int = 0
    stream: Any = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    _d_wins: int = 0
    _collapse: int = 0
    _warned: set[str] = field(default_factory=set)

    def update(self, step: int, metrics: dict[str, float]) -> list[str]:
        """Feed one log interval's metrics; returns the warnings raised now (each kind at most once)."""
        out: list[str] = []
        if step < self.warmup:
            return out
        if self.probabilistic and "d_fake" in metrics and "d_real" in metrics:
            # with label smoothing/flips D's loss cannot reach 0, so judge its outputs: it rejects every
            # sample while still accepting the data
            bad = metrics["d_fake"] < self.d_fake_floor and metrics["d_real"] > self.d_real_ceiling
            self._d_wins = self._d_wins + 1 if bad else 0
            if self._d_wins >= self.patience and "d_wins" not in self._warned:
                out.append(self._warn("d_wins", step,
                                      f"the discriminator wins too early (D(G(z)) = {metrics['d_fake']:.3g}, D(x) = "
                                      f"{metrics['d_real']:.3g}, D loss {metrics.get('d_loss', float('nan')):.3g} "
                                      f"for {self._d_wins} log intervals): the generator "
                                      "gets no gradient and training stalls; try --label-smoothing 0.9, "
                                      "--instance-noise 0.1, --g-loss non-saturating, a lower --lr-d or "
                                      "--spectral-norm"))
        if "diversity" in metrics:
            bad = metrics["diversity"] < self.diversity_floor
            self._collapse = self._collapse + 1 if bad else 0
            if self._collapse >= self.patience and "mode_collapse" not in self._warned:
                out.append(self._warn("mode_collapse", step,
                                      f"samples lose diversity (mean pairwise distance {metrics['diversity']:.2f}× "
                                      f"the real data's for {self._collapse} log intervals): mode collapse; try "
                                      "--g-loss wgan-gp or hinge with --spectral-norm, --label-flip 0.05, or a "
                                      "lower --lr-g"))
        return out

    def _warn(self, kind: str, step: int, message: str) -> str:
        self._warned.add(kind)
        self.warnings.append({"kind": kind, "step": step, "message": message})
        print(f"warning: step {step}: {message}", file=self.stream or sys.stderr, flush=True)
        return message

    def save(self, path: str | Path) -> Path:
        """Write the warnings raised so far as JSON."""
        from pictorch.utils import atomic_write

        with atomic_write(path, "w") as f:
            json.dump({"warnings": self.warnings}, f, indent=2)
        return Path(path)


CURVE_GROUPS = [["d_loss", "g_loss"], ["d_real", "d_fake"], ["diversity"], ["gp"], ["aux_real", "aux_fake"]]


def plot_training_curves(run_dir: str | Path, path: str | Path | None = None) -> Path | None:
    """Plot losses, D(x)/D(G(z)) and diversity from ``<run>/metrics.csv``; None when there is no log yet."""
    from pictorch.engine.hooks import read_metrics_csv
    from pictorch.viz.plots import plot_curves

    csv_path = Path(run_dir) / "metrics.csv"
    if not csv_path.exists():
        return None
    series = read_metrics_csv(csv_path)
    if not series:
        return None
    return plot_curves(series, path or Path(run_dir) / "curves.png", title="GAN training",
                       groups=[g for g in CURVE_GROUPS if any(k in series for k in g)])
