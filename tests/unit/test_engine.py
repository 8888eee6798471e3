"""Engine: trainer learns, resumes exactly, guards NaN, checkpoints atomically, config resolution."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from pictorch.engine.checkpoint import load_checkpoint, load_model, save_checkpoint
from pictorch.engine.config import TrainConfig, resolve_config
from pictorch.engine.trainer import Trainer, TrainTask
from pictorch.errors import CheckpointError, ConfigError, TrainingDiverged
from pictorch.registry import MODELS, Registry


class _Linear(nn.Module):
    def __init__(self, dim: int = 4):
        super().__init__()
        self.lin = nn.Linear(dim, 1)

    def forward(self, x):
        return self.lin(x)


@pytest.fixture(autouse=True)
def _test_linear_registered():
    """"test.linear" exists in the global registry only while these tests run (not from import on)."""
    MODELS.register("test.linear")(_Linear)
    yield
    MODELS._entries.pop("test.linear", None)
    MODELS._tags.pop("test.linear", None)


class _Loader:
    """Deterministic regression batches y = x·w + 1, reproducible per epoch."""

    def __init__(self, n_batches=8, bs=16, dim=4):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n_batches * bs, dim, generator=g)
        self.y = self.x @ torch.arange(1.0, dim + 1) + 1.0
        self.bs, self.epoch, self.pos = bs, 0, 0

    def set_epoch(self, e):
        self.epoch = e

    def __iter__(self):
        perm = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(self.epoch))
        start = self.pos
        self.pos = 0
        for i in range(start, len(self.x) // self.bs):
            self.pos = i + 1
            idx = perm[i * self.bs:(i + 1) * self.bs]
            yield {"x": self.x[idx], "y": self.y[idx]}
        self.pos = 0

    def state_dict(self):
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, s):
        self.epoch, self.pos = s["epoch"], s["pos"]


class _Task(TrainTask):
    task_name = "testtask"

    def __init__(self, nan_at: int | None = None):
        self.nan_at = nan_at

    def build(self):
        return {"model": MODELS.create("test.linear", dim=4)}

    def configure_optimizers(self, modules):
        return {"opt": torch.optim.SGD(modules["model"].parameters(), lr=0.05)}

    def training_step(self, ctx, batch):
        pred = ctx.modules["model"](batch["x"]).squeeze(1)
        loss = nn.functional.mse_loss(pred.float(), batch["y"])
        if self.nan_at is not None and ctx.step >= self.nan_at:
            loss = loss * float("nan")
        ctx.optimizers["opt"].zero_grad()
        ctx.backward(loss)
        ctx.optimizers["opt"].step()
        return {"loss": loss.detach()}


def _cfg(tmp_path, **kw):
    base = dict(out_dir=str(tmp_path / "run"), steps=40, log_every=10, precision="32-true",
                accelerator="cpu", progress=False)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.learns
def test_trainer_learns_and_writes_run_folder(tmp_path):
    res = Trainer(_cfg(tmp_path)).fit(_Task(), _Loader())
    assert res["step"] == 40
    assert res["metrics"]["loss"] < 1.0  # started around 31 (sum of squares of 1..4 + 1)
    run = tmp_path / "run"
    assert (run / "config.yaml").exists() and (run / "metrics.csv").exists()
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,epoch,loss") and len(rows) == 5
    model = load_model(run)
    assert isinstance(model, _Linear) and model.pictorch_meta["step"] == 40
    assert model.pictorch_meta["task"] == "testtask"


def test_resume_matches_uninterrupted_run(tmp_path):
    Trainer(_cfg(tmp_path / "a", steps=30)).fit(_Task(), _Loader())
    Trainer(_cfg(tmp_path / "b", steps=13)).fit(_Task(), _Loader())
    resumed = Trainer(_cfg(tmp_path / "b", steps=30, resume=True)).fit(_Task(), _Loader())
    assert resumed["step"] == 30
    a = load_checkpoint(tmp_path / "a" / "run").state_dicts["model"]
    b = load_checkpoint(tmp_path / "b" / "run").state_dicts["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])


class _ImageTask(_Task):
    """_Task on TensorLoader batches ({"image", "y"})."""

    def training_step(self, ctx, batch):
        return super().training_step(ctx, {"x": batch["image"], "y": batch["y"]})


def test_resume_mid_epoch_with_tensor_loader_matches_uninterrupted_run(tmp_path):
    """The loader's saved position is honoured: a run resumed mid-epoch sees the same batches."""
    from pictorch.data.loader import TensorLoader

    def loader():
        src = _Loader()
        return TensorLoader(src.x, batch_size=16, seed=3, extras={"y": src.y})

    Trainer(_cfg(tmp_path / "a", steps=21)).fit(_ImageTask(), loader())
    Trainer(_cfg(tmp_path / "b", steps=13)).fit(_ImageTask(), loader())  # 8 batches an epoch: stops mid-epoch
    assert load_checkpoint(tmp_path / "b" / "run").train_state()["loader"] == {"epoch": 1, "position": 5}
    Trainer(_cfg(tmp_path / "b", steps=21, resume=True)).fit(_ImageTask(), loader())
    a = load_checkpoint(tmp_path / "a" / "run").state_dicts["model"]
    b = load_checkpoint(tmp_path / "b" / "run").state_dicts["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_resume_without_checkpoint_is_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        Trainer(_cfg(tmp_path, resume=True)).fit(_Task(), _Loader())


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    Trainer(_cfg(tmp_path, steps=20)).fit(_Task(), _Loader())
    good = load_checkpoint(tmp_path / "run")
    with pytest.raises(TrainingDiverged, match="NaN"):
        Trainer(_cfg(tmp_path, steps=60, resume=True, ckpt_every=10)).fit(_Task(nan_at=25), _Loader())
    after = load_checkpoint(tmp_path / "run")
    assert after.meta["step"] == 20  # step-30 state would contain NaN losses: never written
    for k, v in after.state_dicts["model"].items():
        assert torch.isfinite(v).all()
        torch.testing.assert_close(v, good.state_dicts["model"][k])


def test_atomic_checkpoint_survives_crash_during_write(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"
    m = _Linear()
    save_checkpoint(path, m, {"task": "testtask", "step": 1})
    before = path.read_bytes()

    import safetensors.torch as st

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(st, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, m, {"task": "testtask", "step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.safetensors"]  # no temp litter


def test_corrupt_and_wrong_task_checkpoints(tmp_path):
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, _Linear(), {"task": "testtask", "step": 0})
    with pytest.raises(CheckpointError, match="not a 'classify' one"):
        load_checkpoint(path, task="classify")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(CheckpointError, match="no checkpoint in this folder"):
        load_checkpoint(tmp_path / "empty_dir_does_not_exist_yet" if False else _mk(tmp_path / "e"))


def _mk(p):
    os.makedirs(p, exist_ok=True)
    return p


def test_unwrapped_keys_from_compiled_model(tmp_path):
    m = _Linear()
    wrapper = nn.Module()
    wrapper._orig_mod = m  # what torch.compile produces
    save_checkpoint(tmp_path / "c.safetensors", wrapper, {"task": "t"})
    assert set(load_checkpoint(tmp_path / "c.safetensors").state_dicts["model"]) == {"lin.weight", "lin.bias"}


def test_resolve_config_precedence(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("steps: 77\nbatch-size: 8\nlr: 0.5\n")
    cfg = resolve_config(TrainConfig, y, steps=1000, batch_size=32, lr=1e-3)
    assert (cfg.steps, cfg.batch_size, cfg.lr) == (77, 32, 0.5)  # CLI non-default wins, defaults yield
    y.write_text("stpes: 3\n")
    with pytest.raises(ConfigError, match="unknown option 'stpes'"):
        resolve_config(TrainConfig, y)
    with pytest.raises(ConfigError):
        TrainConfig(steps=0)


def test_registry_unknown_name_lists_known():
    reg = Registry("widget")

    @reg.register("alpha")
    def alpha():
        return 1

    with pytest.raises(ConfigError, match="unknown widget 'alpah'.*Did you mean alpha.*Known: alpha"):
        reg.get("alpah")
    assert reg.create("alpha") == 1 and reg.names() == ["alpha"]


class _InterruptingTask(_Task):
    def training_step(self, ctx, batch):
        if ctx.step == 7:
            raise KeyboardInterrupt
        return super().training_step(ctx, batch)


def test_ctrl_c_saves_checkpoint_and_resume_continues(tmp_path):
    from pictorch.engine.trainer import Interrupted

    with pytest.raises(Interrupted, match="interrupted at step 7.*--resume") as e:
        Trainer(_cfg(tmp_path, steps=20)).fit(_InterruptingTask(), _Loader())
    assert e.value.exit_code == 130
    assert load_checkpoint(tmp_path / "run").meta["step"] == 7
    res = Trainer(_cfg(tmp_path, steps=20, resume=True)).fit(_Task(), _Loader())
    assert res["step"] == 20 and load_checkpoint(tmp_path / "run").meta["step"] == 20


def test_bf16_mixed_precision_trains(tmp_path):
    res = Trainer(_cfg(tmp_path, precision="bf16-mixed", steps=60)).fit(_Task(), _Loader())
    assert res["metrics"]["loss"] < 2.0


def test_new_run_keeps_previous_checkpoint(tmp_path):
    Trainer(_cfg(tmp_path, steps=5)).fit(_Task(), _Loader())
    Trainer(_cfg(tmp_path, steps=5)).fit(_Task(), _Loader())
    names = sorted(p.name for p in (tmp_path / "run").glob("*.safetensors"))
    assert names[0] == "last.safetensors" and names[1].startswith("previous-")
