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
