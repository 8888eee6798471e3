"""One house for every capability: live run lengths, one --time-budget grammar, one thread policy."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from pictorch.engine.config import TrainConfig
from pictorch.engine.hooks import Hook
from pictorch.engine.trainer import RunLength, Trainer, TrainTask
from pictorch.errors import ConfigError

TORCH_THREADS = 1


def test_run_length_is_the_plan_and_reads_the_live_total():
    ctx = types.SimpleNamespace(total_steps=100)
    n = RunLength(ctx)
    assert n == 100 and n // 20 == 5 and int(n) == 100  # static schedules see the plan
    ctx.total_steps = 40
    assert n() == 40 and n == 100  # called: the live length


class _Linear(TrainTask):
    task_name = "housetest"

    def __init__(self):
        self.seen: list[int] = []

    def build(self):
        return {"model": nn.Linear(2, 1)}

    def configure_optimizers(self, modules):
        return {"opt": torch.optim.SGD(modules["model"].parameters(), lr=0.1)}

    def configure_schedulers(self, optimizers, total_steps):
        def factor(step: int) -> float:
            self.seen.append(total_steps())
            return 1.0

        return {"opt": torch.optim.lr_scheduler.LambdaLR(optimizers["opt"], factor)}

    def training_step(self, ctx, batch):
        loss = ctx.modules["model"](batch["x"]).pow(2).mean()
        ctx.optimizers["opt"].zero_grad()
        ctx.backward(loss)
        ctx.optimizers["opt"].step()
        return {"loss": loss.detach()}


class _Shorten(Hook):
    def on_step(self, ctx, images):
        if ctx.step == 3:
            ctx.total_steps = 6


def test_a_schedule_follows_a_refitted_run_without_mirroring(tmp_path):
    task = _Linear()
    cfg = TrainConfig(out_dir=str(tmp_path / "run"), steps=50, log_every=10, precision="32-true",
                      accelerator="cpu", progress=False)
    batches = [{"x": torch.randn(4, 2)} for _ in range(60)]
    res = Trainer(cfg, hooks=[_Shorten()]).fit(task, batches)
    assert res["step"] == 6
    assert task.seen[0] == 50 and task.seen[-1] == 6  # the lambda read the refit, no task attribute copied it


def test_identify_time_budget_takes_the_gan_grammar():
    from pictorch.tasks.identify.steps import IdentifyConfig

    assert IdentifyConfig(time_budget="5m").time_budget == 300.0
    assert IdentifyConfig(time_budget="90").time_budget == 90.0
    with pytest.raises(ConfigError):
        IdentifyConfig(time_budget="soon")


def test_classify_train_restores_the_callers_thread_count(monkeypatch):
    """classify.api.train runs inside engine.threads.cpu_threads: the count comes back, also after an error."""
    from pictorch.tasks.classify import api

    def boom(self, task, loader):
        torch.set_num_threads(1 if torch.get_num_threads() != 1 else 2)
        raise RuntimeError("stop")

    monkeypatch.setattr(Trainer, "fit", boom)
    from pictorch.data.synthetic import synthetic_shapes
    from pictorch.tasks.classify.steps import ClassifyConfig

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        api.train(ClassifyConfig(data="synthetic", val_split=0), TrainConfig(steps=2, progress=False),
                  data=synthetic_shapes(16, size=16, seed=0), tune_threads=False)
    assert torch.get_num_threads() == before
