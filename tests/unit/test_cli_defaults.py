"""Every CLI default equals its dataclass default: a flag means one thing, typed or not, CLI or Python API.

Walks the Typer apps of every capability, finds the options whose name is a field of the dataclass the command
fills, and compares defaults (the CLI value converted by the dataclass, so ``"5m"`` and ``300.0`` agree).
TrainConfig fields are left out on purpose: each train command sets its own steps/lr/out_dir (the command's
default sits between the dataclass default and the YAML, see ``engine.config.resolve_config``).
"""

from __future__ import annotations

import dataclasses
import importlib

import pytest

# (capability, command) -> the dataclass its options fill
COMMANDS = {
    ("classify", "train"): "pictorch.tasks.classify.steps:ClassifyConfig",
    ("autoencode", "train"): "pictorch.tasks.autoencode.steps:AutoencodeConfig",
    ("segment", "train"): "pictorch.tasks.segment.steps:SegmentConfig",
    ("identify", "train"): "pictorch.tasks.identify.steps:IdentifyConfig",
    ("translate", "train"): "pictorch.tasks.translate.config:TranslateConfig",
    ("stylize", "train"): "pictorch.tasks.stylize.fast:FastStyleConfig",
    ("stylize", "gatys"): "pictorch.tasks.stylize.gatys:GatysConfig",
    ("gan", "train"): "pictorch.tasks.generate.tricks:GANConfig",
    ("see", "maximize"): "pictorch.tasks.see.maximize:MaximizeConfig",
    ("see", "dream"): "pictorch.tasks.see.dream:DreamConfig",
}


def _commands():
    import typer

    from pictorch.cli import CAPABILITIES

    for name, module, _help, _aliases in CAPABILITIES:
        group = typer.main.get_command(importlib.import_module(module).app)
        for cmd_name, cmd in getattr(group, "commands", {}).items():
            yield name, cmd_name, cmd


def _dataclass(path: str):
    mod, cls = path.split(":")
    return getattr(importlib.import_module(mod), cls)


def _field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def test_every_mapped_command_exists():
    found = {(cap, cmd) for cap, cmd, _ in _commands()}
    assert set(COMMANDS) <= found, set(COMMANDS) - found


@pytest.mark.parametrize("cap,command", sorted(COMMANDS))
def test_cli_defaults_match_the_dataclass(cap, command):
    cls = _dataclass(COMMANDS[(cap, command)])
    cmd = next(c for a, n, c in _commands() if (a, n) == (cap, command))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    mismatches, compared = [], 0
    for p in cmd.params:
        if p.name not in fields or p.required or p.param_type_name == "argument":
            continue  # a positional is the input (an image, a style), not a setting with a default
        want = _field_default(fields[p.name])
        if want is dataclasses.MISSING:
            continue
        compared += 1
        got = p.default
        if isinstance(want, tuple | list) and isinstance(got, str):  # a comma list on the command line
            got = type(want)(v.strip() for v in got.split(",") if v.strip())
        if got != want:
            try:  # the CLI text the dataclass converts (a duration, a number as text)
                got = getattr(cls(**{p.name: got}), p.name)
            except Exception:  # noqa: BLE001 - a value the dataclass refuses is a mismatch too
                pass
        if got != want:
            mismatches.append(f"--{p.name.replace('_', '-')}: CLI {p.default!r} vs {cls.__name__} {want!r}")
    assert compared >= 2, f"{cap} {command}: no option matched a {cls.__name__} field"
    assert not mismatches, mismatches
