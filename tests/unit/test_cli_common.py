"""train_and_task_config: a train command's options split between TrainConfig and the task's config, one YAML
holding keys of both, CLI values over YAML over defaults, unknown keys refused."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pictorch.cli_common import train_and_task_config
from pictorch.errors import ConfigError


@dataclass
class _TaskCfg:
    data: str = "fashion-mnist"
    width: int = 8
    ema: float = 0.0


def test_options_go_to_their_dataclass_and_yaml_may_hold_both(tmp_path):
    yml = tmp_path / "c.yaml"
    yml.write_text("steps: 77\nwidth: 16\nema: 0.5\nbatch-size: 12\n")
    params = {"steps": 1000, "batch_size": 64, "lr": 3e-3, "data": "synthetic", "width": 8, "ema": 0.0,
              "config": str(yml), "threads": 2, "no_progress": True}
    train, task = train_and_task_config(_TaskCfg, params, str(yml), no_progress=True, width=32)
    # CLI values that differ from the defaults win; otherwise the YAML; threads/config belong to neither
    assert (train.steps, train.batch_size, train.lr, train.progress) == (77, 12, 3e-3, False)
    assert (task.data, task.width, task.ema) == ("synthetic", 32, 0.5)


def test_unknown_yaml_key_is_refused(tmp_path):
    yml = tmp_path / "c.yaml"
    yml.write_text("stepz: 5\n")
    with pytest.raises(ConfigError, match="unknown option 'stepz'"):
        train_and_task_config(_TaskCfg, {"steps": 10}, str(yml))


class _Captured(Exception):
    pass


def _train_configs(monkeypatch, module: str, api_name: str, args: list[str]):
    """Run ``pictorch <args>`` up to the task's train call and return the configs it was given."""
    import importlib

    from pictorch import cli

    seen = {}

    def capture(*a, **kw):
        seen["args"] = a
        raise _Captured

    monkeypatch.setattr(importlib.import_module(module), api_name, capture)
    cli._mount()
    with pytest.raises(_Captured):
        cli.app(args=args, prog_name="pictorch", standalone_mode=False)
    return seen["args"]


def test_yaml_beats_command_defaults_and_typed_values_beat_yaml(tmp_path, monkeypatch):
    """`classify train --config c.yaml`: YAML-only values reach the config (they used to lose to the command's
    own defaults for lr and out_dir); a typed value equal to the default still beats the YAML."""
    yml = tmp_path / "c.yaml"
    yml.write_text(f"lr: 0.005\nout_dir: {tmp_path / 'from-yaml'}\nsteps: 7\nlabel_smoothing: 0.2\n")
    task, train = _train_configs(monkeypatch, "pictorch.tasks.classify.api", "train",
                                 ["classify", "train", "--data", "synthetic", "--config", str(yml), "--threads", "1"])[:2]
    assert (train.lr, train.out_dir, train.steps) == (0.005, str(tmp_path / "from-yaml"), 7)
    assert task.label_smoothing == 0.2 and task.data == "synthetic"
    task, train = _train_configs(monkeypatch, "pictorch.tasks.classify.api", "train",
                                 ["classify", "train", "--data", "synthetic", "--config", str(yml), "--lr", "0.001",
                                  "--steps", "1000", "--threads", "1"])[:2]
    assert (train.lr, train.steps, train.out_dir) == (0.001, 1000, str(tmp_path / "from-yaml"))


def test_a_runs_own_config_yaml_feeds_back(tmp_path):
    """The resolved config a run saves (sections train/task) is a valid --config, and unknown keys list both."""
    from pictorch.engine.config import TrainConfig, save_config

    saved = save_config(tmp_path / "config.yaml", train=TrainConfig(steps=42, lr=0.02), task=_TaskCfg(width=5))
    train, task = train_and_task_config(_TaskCfg, {}, str(saved))
    assert (train.steps, train.lr, task.width) == (42, 0.02, 5)
    bad = tmp_path / "bad.yaml"
    bad.write_text("widht: 3\n")
    with pytest.raises(ConfigError, match=r"did you mean width.*known: .*batch_size.*width"):
        train_and_task_config(_TaskCfg, {}, str(bad))


def test_a_binary_config_file_is_one_clear_error(tmp_path):
    blob = tmp_path / "weights.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match="not a text file"):
        train_and_task_config(_TaskCfg, {}, str(blob))


def test_time_budget_has_one_meaning():
    """Seconds, or a unit suffix, in every verb (gan train used to read minutes, identify seconds)."""
    from pictorch.cli_common import parse_duration

    assert [parse_duration(v) for v in ("90", "90s", "5m", "1.5h", "0", None)] == [90, 90, 300, 5400, 0, 0]
    for bad in ("-5", "nan", "5 minutes", "1e12", "inf"):
        with pytest.raises(ConfigError, match="--time-budget"):
            parse_duration(bad)
