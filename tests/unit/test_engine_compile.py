"""``--compile``: the option's values, the ``auto`` table, and compiled training equal to eager training."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from pictorch.engine import compile as ec
from pictorch.engine.config import TrainConfig
from pictorch.errors import ConfigError

TORCH_THREADS = 1


def test_modes_and_bad_value():
    assert TrainConfig().compile == "auto"
    assert TrainConfig(compile="ON").compile == "on"
    with pytest.raises(ConfigError, match="--compile takes off, on or auto"):
        TrainConfig(compile="yes please")


def test_auto_uses_only_measured_wins_that_pay_back(monkeypatch):
    monkeypatch.setattr(ec, "compiler_available", lambda: None)
    assert not ec.should_compile("auto", "small_cnn", 10**6, kind="avx2")  # not measured: eager
    assert not ec.should_compile("off", "small_cnn", 10**6, kind="avx2")
    win = ec.CompileWin(speedup=1.25, compile_s=20.0, eager_step_s=0.5)  # saves 0.1 s a step: pays after 200
    assert win.pays_after() == pytest.approx(200.0)
    monkeypatch.setitem(ec.COMPILE_WINS, ("small_cnn", "avx2"), win)
    assert ec.should_compile("auto", "small_cnn", 401, kind="avx2")
    assert not ec.should_compile("auto", "small_cnn", 399, kind="avx2")  # too short to pay back twice
    assert not ec.should_compile("auto", "small_cnn", 10**6, kind="avx512-bf16")  # another CPU kind
    assert ec.CompileWin(0.9, 20.0, 0.5).pays_after() == float("inf")


def test_on_without_compiler_is_one_line(monkeypatch):
    monkeypatch.setattr(ec, "compiler_available", lambda: "no C++ compiler")
    with pytest.raises(ConfigError, match="--compile on: no C\\+\\+ compiler; use --compile off"):
        ec.should_compile("on", None, 10)
    assert not ec.should_compile("auto", "small_cnn", 10**9, kind="avx2")


class _TinyTask:
    """Conv-BN-ReLU-pool-linear on 8×8 images, SGD; records the loss of every step."""

    task_name = "tiny"

    def __init__(self) -> None:
        self.losses: list[float] = []

    def build(self) -> dict[str, nn.Module]:
        torch.manual_seed(0)
        return {"model": nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                       nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))}

    def configure_optimizers(self, modules: dict[str, nn.Module]) -> dict[str, Any]:
        return {"opt": torch.optim.SGD(modules["model"].parameters(), lr=0.1, momentum=0.9)}

    def configure_schedulers(self, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        return {}

    def training_step(self, ctx: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"].float() / 255.0
        loss = nn.functional.cross_entropy(ctx.modules["model"](x), batch["label"])
        opt = ctx.optimizers["opt"]
        opt.zero_grad(set_to_none=True)
        ctx.backward(loss)
        opt.step()
        self.losses.append(float(loss.detach()))  # a test: the per-step sync is wanted here
        return {"loss": loss.detach()}

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"task": "tiny"}

    def config_dict(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def on_fit_start(self, ctx: Any) -> None: ...
    def on_picture(self, ctx: Any, path: Any) -> None: ...
    def validate(self, ctx: Any) -> dict[str, float]:
        return {}

    def on_train_end(self, ctx: Any) -> None: ...
    def check_health(self, ctx: Any, metrics: dict[str, float]) -> None: ...


def _run(tmp_path, mode: str) -> tuple[list[float], dict]:
    from pictorch.data.loader import TensorLoader
    from pictorch.engine.trainer import Trainer

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 1, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 3, (32,), generator=g)
    cfg = TrainConfig(out_dir=str(tmp_path / mode), steps=6, batch_size=16, accelerator="cpu", precision="32-true",
                      progress=False, compile=mode, log_every=3)
    task = _TinyTask()
    res = Trainer(cfg).fit(task, TensorLoader(images, labels, batch_size=16, shuffle=True, seed=0))
    return task.losses, res


def test_compiled_training_follows_eager(tmp_path):
    why = ec.compiler_available()
    if why:
        pytest.skip(why)
    eager, _ = _run(tmp_path, "off")
    try:
        compiled, res = _run(tmp_path, "on")
    except Exception as e:  # an inductor that cannot build here (old gcc, no Python headers): not our bug
        if "Inductor" in type(e).__name__ or "CppCompile" in str(e) or "BackendCompilerFailed" in type(e).__name__:
            pytest.skip(f"inductor cannot compile here: {type(e).__name__}")
        raise
    assert ec.summary(res["modules"]) == ["model"]
    assert len(compiled) == len(eager) == 6
    # fused kernels sum in another order: equal to float rounding, not bit for bit
    assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-5)
    # the checkpoint holds the plain module's keys (no _orig_mod prefix)
    from safetensors.torch import load_file

    keys = load_file(str(res["checkpoint"])).keys()
    assert keys and not any("_orig_mod" in k for k in keys)
