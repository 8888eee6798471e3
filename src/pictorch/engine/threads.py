"""CPU thread-count tuning on real training steps (a Trainer hook).

On a CPU shared with other jobs, more threads is not always faster: every parallel region of an op ends at a
barrier that waits for all of its OpenMP threads, so when the cores are busy with other processes one
descheduled thread stalls the others, and with 2 threads a BatchNorm or an element-wise op can take 10-50×
longer than with 1 (measured on this project's 2-core machine with two other busy processes). When the CPU
is idle, all cores are faster. The right count depends on the machine's load *now*, so it is measured:
:class:`CpuThreadTuner` times real training steps with each candidate count, keeps the fastest, and checks
again later (sooner when step times drift, i.e. when the load changed).

The choice only changes how ops are parallelized, not the computation; results may differ in the last bits
(summation order), so the tuner stays off for ``deterministic`` runs.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Iterator
from typing import Any


def parse_threads(spec: int | str | None) -> int | None:
    """``--threads``, one meaning in every verb: ``auto`` (or 0, or empty) -> None (tune on real steps),
    a number N -> N threads (1 .. 4 × the CPU count).

    Raises:
        ConfigError: Anything else, in one line.
    """
    from pictorch.errors import ConfigError

    text = "" if spec is None else str(spec).strip().lower()
    if text in ("", "auto", "0"):
        return None
    try:
        n = int(text)
    except ValueError:
        raise ConfigError(f"--threads takes auto or a number of threads, got {spec!r}") from None
    most = 4 * (os.cpu_count() or 1)
    if not 1 <= n <= most:
        raise ConfigError(f"--threads must be auto or 1..{most} (this machine has {os.cpu_count()} CPUs), got {n}")
    return n


@contextlib.contextmanager
def cpu_threads(spec: int | str | None) -> Iterator[CpuThreadTuner | None]:
    """The one CPU thread policy of every trainer and verb, for the duration of a block.

    Yields a :class:`CpuThreadTuner` hook for ``auto`` (add it to the Trainer's hooks), or None after fixing
    the count; the caller's global thread count is restored afterwards in both cases, also after an error.
    """
    import torch

    n = parse_threads(spec)
    before = torch.get_num_threads()
    try:
        if n is None:
            yield CpuThreadTuner()
        else:
            torch.set_num_threads(n)
            yield None
    finally:
        torch.set_num_threads(before)


def thread_candidates(n: int) -> list[int]:
    """Thread counts worth trying with ``n`` available: 1, n/2 and n (deduplicated, ascending)."""
    return sorted({1, max(1, n // 2), max(1, n)})


class CpuThreadTuner:
    """Trainer hook choosing ``torch.set_num_threads`` by timing real steps (CPU runs only).

    After ``warmup`` steps, each candidate runs ``probe_steps`` steps (fewest threads first); a candidate whose
    step takes longer than ``abort_ratio`` × the best median so far is dropped after one step, so probing a bad
    count under load costs one slow step. The fastest count is kept for ``recheck_s`` seconds, then probed
    again (the interval doubles up to ``max_recheck_s`` while the choice stays the same); a drift of the
    running median step time beyond ``drift`` × (or below 1/``drift`` ×) the probed one triggers an early
    re-check. The original count is restored at the end of the run.

    Args:
        candidates: Thread counts to try (default :func:`thread_candidates` of the current count).
        warmup: Steps before the first probe (allocator and kernel caches warm up).
        probe_steps: Timed steps per candidate.
        recheck_s: Seconds between probes (doubling while the choice is stable).
        max_recheck_s: Upper bound of the re-check interval.
        abort_ratio: Drop a candidate after one step this much slower than the best so far.
        drift: Running/probed step-time ratio that triggers an early re-check.
    """

    def __init__(self, candidates: list[int] | None = None, warmup: int = 2, probe_steps: int = 3,
                 recheck_s: float = 20.0, max_recheck_s: float = 300.0, abort_ratio: float = 1.3,
                 drift: float = 1.3):
        self.candidates = list(candidates) if candidates else None
        self.warmup, self.probe_steps = int(warmup), max(1, int(probe_steps))
        self.recheck_s, self.max_recheck_s = float(recheck_s), float(max_recheck_s)
        self.abort_ratio, self.drift = float(abort_ratio), float(drift)
        self.enabled = False
        self.original = 0
        self.current = 0
        self.history: list[dict[str, Any]] = []  # one entry per probe: step, medians, choice
        self._mode = "off"
        self._last_t: float | None = None
        self._count = 0
        self._queue: list[int] = []
        self._samples: list[float] = []
        self._medians: dict[int, float] = {}
        self._probe_step = 0
        self._chosen_median = 0.0
        self._recent: list[float] = []
        self._interval = self.recheck_s
        self._next_check = 0.0

    # -- hook interface ---------------------------------------------------------------------------
    def on_fit_start(self, ctx: Any) -> None:
        import torch

        self.original = torch.get_num_threads()
        self.current = self.original
        device = getattr(ctx, "device", None)
        on_cpu = device is None or getattr(device, "type", "cpu") == "cpu"
        cands = self.candidates or thread_candidates(self.original)
        self.enabled = on_cpu and not getattr(ctx.cfg, "deterministic", False) and len(cands) > 1
        self.candidates = cands
        self._mode = "warmup" if self.enabled else "off"
        self._count = 0
        self._last_t = None

    def on_step(self, ctx: Any, images: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        dt = None if self._last_t is None else now - self._last_t
        self._last_t = now
        self._count += 1
        if self._mode == "warmup":
            if self._count >= self.warmup:
                self._start_probe(ctx)
        elif self._mode == "probe" and dt is not None:
            self._probe(ctx, dt)
        elif self._mode == "run" and dt is not None:
            self._recent = (self._recent + [dt])[-5:]
            drifted = False
            if len(self._recent) == 5 and self._chosen_median > 0:
                r = statistics.median(self._recent) / self._chosen_median
                drifted = r > self.drift or r < 1 / self.drift
            if now >= self._next_check or drifted:
                if drifted:
                    self._interval = self.recheck_s
                self._start_probe(ctx)

    def on_fit_end(self, ctx: Any, result: Any) -> None:
        if self.enabled:
            self._set(self.original)
        self._mode = "off"

    # -- internals --------------------------------------------------------------------------------
    def _set(self, n: int) -> None:
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        self.current = n

    def _start_probe(self, ctx: Any) -> None:
        self._mode = "probe"
        self._queue = list(self.candidates)
        self._medians = {}
        self._probe_step = int(getattr(ctx, "step", 0))
        self._next_candidate()

    def _next_candidate(self) -> None:
        self._samples = []
        self._set(self._queue.pop(0))

    def _probe(self, ctx: Any, dt: float) -> None:
        self._samples.append(dt)
        best = min(self._medians.values()) if self._medians else None
        done = len(self._samples) >= self.probe_steps
        if best is not None and dt > self.abort_ratio * best:
            done = True  # clearly slower: don't spend more steps on it
        if not done:
            return
        self._medians[self.current] = statistics.median(self._samples)
        if self._queue:
            self._next_candidate()
            return
        choice = min(self._medians, key=self._medians.__getitem__)
        previous = self.history[-1]["threads"] if self.history else None
        self._interval = min(self._interval * 2, self.max_recheck_s) if choice == previous else self.recheck_s
        self.history.append({"step": self._probe_step, "threads": choice,
                             "step_s": {str(k): round(v, 4) for k, v in sorted(self._medians.items())}})
        self._set(choice)
        self._chosen_median = self._medians[choice]
        self._recent = []
        self._mode = "run"
        self._next_check = time.perf_counter() + self._interval

    def summary(self) -> dict[str, Any]:
        """What was chosen: the final count, the probes (step, median step seconds per count, choice)."""
        last = self.history[-1]["threads"] if self.history else self.original
        return {"enabled": self.enabled, "threads": last, "probes": list(self.history)}
