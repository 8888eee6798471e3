"""CpuThreadTuner: keeps the faster thread count measured on (simulated) steps, re-checks, restores."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from pictorch.engine import threads as th
from pictorch.engine.threads import CpuThreadTuner, thread_candidates


@pytest.fixture
def clock(monkeypatch):
    """A fake perf_counter; a step 'takes' cost[threads] seconds."""
    state = {"t": 0.0}
    monkeypatch.setattr(th.time, "perf_counter", lambda: state["t"])
    n0 = torch.get_num_threads()
    yield state
    torch.set_num_threads(n0)


def _ctx(deterministic=False, device="cpu"):
    return SimpleNamespace(cfg=SimpleNamespace(deterministic=deterministic), device=torch.device(device), step=0)


def _run(tuner, ctx, clock, cost, steps):
    used = []
    tuner.on_fit_start(ctx)
    for _ in range(steps):
        n = torch.get_num_threads()
        used.append(n)
        clock["t"] += cost(n, clock["t"])
        ctx.step += 1
        tuner.on_step(ctx, 8)
    return used


def test_candidates():
    assert thread_candidates(1) == [1] and thread_candidates(2) == [1, 2] and thread_candidates(16) == [1, 8, 16]


def test_picks_the_faster_count_and_restores(clock):
    torch.set_num_threads(2)
    tuner = CpuThreadTuner(recheck_s=1000)
    busy = {1: 0.2, 2: 2.0}  # loaded machine: one thread is 10x faster
    used = _run(tuner, _ctx(), clock, lambda n, t: busy[n], 30)
    assert tuner.summary()["threads"] == 1 and used[-1] == 1
    # the slow count was dropped after a single step
    assert used.count(2) <= 2 + 1
    tuner.on_fit_end(None, {})
    assert torch.get_num_threads() == 2


def test_rechecks_when_the_load_changes(clock):
    torch.set_num_threads(2)
    tuner = CpuThreadTuner(recheck_s=1000)

    def cost(n, t):  # busy for the first 20 s, then idle (2 threads faster)
        return {1: 0.2, 2: 2.0}[n] if t < 20 else {1: 0.15, 2: 0.09}[n]

    used = _run(tuner, _ctx(), clock, cost, 300)
    assert [p["threads"] for p in tuner.summary()["probes"]][:1] == [1]
    assert used[-1] == 2 and tuner.summary()["threads"] == 2


def test_off_for_deterministic_runs_and_single_thread(clock):
    torch.set_num_threads(2)
    tuner = CpuThreadTuner()
    used = _run(tuner, _ctx(deterministic=True), clock, lambda n, t: {1: 0.1, 2: 1.0}[n], 20)
    assert set(used) == {2} and not tuner.enabled
    torch.set_num_threads(1)
    tuner = CpuThreadTuner()
    _run(tuner, _ctx(), clock, lambda n, t: 0.1, 5)
    assert not tuner.enabled
