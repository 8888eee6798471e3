"""The one declarative validator of the config dataclasses (engine.config.check_fields)."""

from __future__ import annotations

import dataclasses
import importlib
import math

import pytest

from pictorch.engine.config import TrainConfig, check_fields
from pictorch.errors import ConfigError


@dataclasses.dataclass
class _Opts:
    rate: float = 0.5
    count: int = 1
    kind: str = "a"
    size: int | None = None


@pytest.mark.parametrize(("spec", "inside", "outside", "says"), [
    ("[0, 1)", [0.0, 0.99], [1.0, -0.1], "--rate must be in [0, 1), got"),
    ("(0.5, 1]", [0.51, 1.0], [0.5, 1.2], "--rate must be in (0.5, 1], got"),
    ("> 0", [1e-9], [0.0], "--rate must be > 0, got 0"),
    (">= 1", [1.0, 5.0], [0.5], "--rate must be >= 1, got 0.5"),
    ((0, 2), [0.0, 2.0], [2.5], "--rate must be <= 2, got 2.5"),
])
def test_intervals_open_closed_and_one_sided(spec, inside, outside, says):
    for v in inside:
        check_fields(_Opts(rate=v), {"rate": spec})
    for v in outside:
        with pytest.raises(ConfigError, match=f"^{__import__('re').escape(says)}"):
            check_fields(_Opts(rate=v), {"rate": spec})


def test_choices_nan_none_and_notes():
    with pytest.raises(ConfigError, match=r"^unknown --kind 'bb'; use a, b, c \(did you mean b\?\)"):
        check_fields(_Opts(kind="bb"), choices={"kind": ("a", "b", "c")})
    with pytest.raises(ConfigError, match="--rate must be a finite number, got nan"):
        check_fields(_Opts(rate=math.nan))
    with pytest.raises(ConfigError, match=r"--count must be >= 2, got 1 \(two or more\)"):
        check_fields(_Opts(), {"count": ">= 2"}, notes={"count": "two or more"})
    check_fields(_Opts(size=None), {"size": ">= 8"}, choices={"size": (8, 16)})  # None: left to a default
    with pytest.raises(ValueError, match="not an interval"):
        check_fields(_Opts(), {"rate": "0..1"})


CONFIGS = ["pictorch.engine.config:TrainConfig", "pictorch.tasks.classify.steps:ClassifyConfig",
           "pictorch.tasks.identify.steps:IdentifyConfig", "pictorch.tasks.autoencode.steps:AutoencodeConfig",
           "pictorch.tasks.generate.tricks:GANConfig", "pictorch.tasks.segment.steps:SegmentConfig",
           "pictorch.tasks.translate.config:TranslateConfig", "pictorch.tasks.stylize.fast:FastStyleConfig",
           "pictorch.tasks.see.maximize:MaximizeConfig"]


@pytest.mark.parametrize("where", CONFIGS)
def test_every_config_refuses_nan_in_each_float_option(where):
    """Before the fold, IdentifyConfig and MaximizeConfig took ``nan`` for any float (no finite check)."""
    module, name = where.split(":")
    cls = getattr(importlib.import_module(module), name)
    cls()  # the defaults are valid
    floats = [f.name for f in dataclasses.fields(cls) if f.type in ("float", float)]
    assert floats, name
    for field in floats:
        with pytest.raises(ConfigError, match=f"--{field.replace('_', '-')} must be a finite number"):
            cls(**{field: math.nan})


def test_trainconfig_messages_name_the_option():
    with pytest.raises(ConfigError, match=r"--lr must be in \(0, 10\], got 0"):
        TrainConfig(lr=0.0)
    with pytest.raises(ConfigError, match="unknown --precision 'bf16'; use auto"):
        TrainConfig(precision="bf16")
