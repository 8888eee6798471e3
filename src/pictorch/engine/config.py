"""Typed configuration: dataclasses, CLI flags, optional YAML; the resolved config is saved with the run."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from pictorch.errors import ConfigError

T = TypeVar("T")


# The largest image side a config accepts: images are held in memory as uint8 tensors, and a 100000-px side
# (a typo) ran for minutes before running out of memory; 4096² RGB is 48 MiB an image.
MAX_IMAGE_SIDE = 4096


# The one declarative validator of the config dataclasses: every __post_init__ used to restate its fields in
# a ranges dict and again in an if/raise list (35 such lines in 8 files, some bounds given twice, differently).
_INTERVAL = re.compile(r"^([\[(])\s*([^,\s]+)\s*,\s*([^\])\s]+)\s*([\])])$")
_ONE_SIDED = re.compile(r"^(>=|>|<=|<)\s*(\S+)$")
Bounds = tuple[float | None, bool, float | None, bool]  # low, low is open, high, high is open


@functools.lru_cache(maxsize=256)
def _parse_interval(spec: str) -> Bounds:
    s = spec.strip()
    m = _INTERVAL.match(s)
    if m:
        return float(m[2]), m[1] == "(", float(m[3]), m[4] == ")"
    m = _ONE_SIDED.match(s)
    if m:
        v = float(m[2])
        return (v, m[1] == ">", None, False) if m[1].startswith(">") else (None, False, v, m[1] == "<")
    raise ValueError(f"not an interval: {spec!r} (write '[0, 1)', '(0.5, 1]', '>= 1' or '> 0')")


def _outside(v: float, spec: str | tuple[float | None, float | None]) -> str | None:
    """Why ``v`` is outside ``spec`` (the text after "must be"), or None when it is inside."""
    if isinstance(spec, str):
        lo, lo_open, hi, hi_open = _parse_interval(spec)
        bad = (lo is not None and (v <= lo if lo_open else v < lo)) or (
            hi is not None and (v >= hi if hi_open else v > hi))
        if not bad:
            return None
        return spec if spec.strip()[0] in "<>" else f"in {spec}"
    lo, hi = spec
    if lo is not None and v < lo:
        return f">= {lo:g}"
    if hi is not None and v > hi:
        return f"<= {hi:g}"
    return None


def check_fields(cfg: Any, ranges: dict[str, str | tuple[float | None, float | None]] | None = None, *,
                 choices: dict[str, Sequence[str]] | None = None, notes: dict[str, str] | None = None) -> None:
    """Validate a config dataclass declaratively: one call per ``__post_init__``, one message style.

    Every float field must be finite (``--lr nan`` used to crash four trainers with an "unexpected" error). A
    field named in ``ranges`` must lie in its interval: a ``(low, high)`` pair (inclusive; None: unbounded) or
    the interval in math notation, ``"[0, 1)"``, ``"(0.5, 1]"``, ``">= 1"``, ``"> 0"``. A field named in
    ``choices`` must be one of its values. ``None`` values (options left to a default) pass. Messages name the
    command-line option: ``--label-flip must be in [0, 0.5), got 0.7``; ``unknown --regime 'ful'; use
    scratch, head, last-k, full (did you mean full?)``; ``notes`` adds a reason per field in parentheses.

    Raises:
        ConfigError: The first offending value.
    """
    ranges, choices, notes = ranges or {}, choices or {}, notes or {}
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        opt = "--" + f.name.replace("_", "-")
        note = f" ({notes[f.name]})" if f.name in notes else ""
        if f.name in choices and v is not None and v not in choices[f.name]:
            known = [str(c) for c in choices[f.name]]
            close = difflib.get_close_matches(str(v), known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown {opt} {v!r}; use {', '.join(known)}{hint}{note}")
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{opt} must be a finite number, got {v}{note}")
        why = _outside(v, ranges[f.name]) if f.name in ranges else None
        if why:
            raise ConfigError(f"{opt} must be {why}, got {v:g}{note}")


def parse_duration(text: str | float | None) -> float:
    """``--time-budget``, one meaning in every verb: a plain number is seconds; ``s``, ``m``, ``h`` suffixes.

    Raises:
        ConfigError: Not a duration, negative, not finite, or over a week.
    """
    raw = "0" if text is None else str(text).strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(raw[-1:], None)
    number = raw[:-1] if scale else raw
    try:
        value = float(number) * (scale or 1.0)
    except ValueError:
        raise ConfigError(f"--time-budget takes seconds or a duration like 90s, 5m, 1.5h; got {text!r}") from None
    if not math.isfinite(value) or not 0 <= value <= 7 * 86400:
        raise ConfigError(f"--time-budget must be between 0 and a week, got {text!r}")
    return value


# "32" and "bf16-true"/"64-true" are Fabric's spellings, accepted for YAML files written for it.
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "32", "bf16-true", "64-true")


@dataclass
class TrainConfig:
    """Options every training run shares (the task adds its own dataclass beside it).

    Attributes:
        out_dir: Run folder (config, metrics.csv, checkpoints, pictures).
        steps: Optimizer steps to train for (in total, counting steps done before a resume).
        batch_size: Images per step (per device).
        lr: Base learning rate.
        weight_decay: AdamW weight decay.
        precision: "auto" (bf16-mixed on bf16 GPUs and CPUs with native bf16; else 32-true), "32-true",
            "bf16-mixed", "16-mixed".
        accelerator: "auto", "cpu", "cuda", "mps".
        devices: Devices (processes) per node; >1 runs DDP.
        num_nodes: Nodes for multi-node DDP.
        strategy: Fabric strategy ("auto", "ddp", ...).
        seed: Random seed.
        deterministic: Ask torch for deterministic kernels.
        log_every: Steps between metric syncs (CSV row, progress refresh, NaN check).
        ckpt_every: Steps between checkpoints (0: only at the end and on Ctrl-C).
        picture_every: Steps between pictures (0: only at the end).
        val_every: Steps between validations (0: only at the end).
        resume: Continue from the run folder's last checkpoint.
        progress: Show a progress bar.
        compile: ``torch.compile`` the trained modules: "off", "on", or "auto" (only for a model and CPU kind
            where a bench measured a win that the run is long enough to pay back; see
            :mod:`pictorch.engine.compile`).
    """

    out_dir: str = "runs/run"
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    precision: str = "auto"
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    seed: int = 0
    deterministic: bool = False
    log_every: int = 50
    ckpt_every: int = 0
    picture_every: int = 0
    val_every: int = 0
    resume: bool = False
    progress: bool = True
    compile: str = "auto"

    def __post_init__(self) -> None:
        check_fields(self, {"steps": (1, 10**9), "batch_size": (1, 65536), "lr": "(0, 10]", "weight_decay": (0, 10.0),
                            "devices": (1, 1024), "num_nodes": (1, 1024), "seed": (0, 2**63 - 1),
                            "log_every": (1, None), "ckpt_every": (0, None), "picture_every": (0, None),
                            "val_every": (0, None)}, choices={"precision": PRECISIONS})
        from pictorch.engine.compile import check_mode

        self.compile = check_mode(self.compile)


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping; errors name the file.

    A run folder's own ``config.yaml`` (sections ``train:`` and ``task:``) reads as one flat mapping, so a run's
    resolved config can be fed back with ``--config``.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file; --config takes a YAML file of option: value lines") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of option: value at the top level")
    if data and set(data) <= {"train", "task"} and all(isinstance(v, dict) for v in data.values()):
        flat: dict[str, Any] = {}
        for section in data.values():
            flat.update(section)
        return flat
    return data


def _yaml_value(value: Any, f: dataclasses.Field, path: Any) -> Any:
    """A YAML value as its field's declared type (``int``, ``float``, ``str``, ``bool``, ``X | None``).

    YAML hands over what it parsed: ``steps: [1, 2]`` gave a list and ``steps: abc`` a string, and both crashed
    later ("unexpected TypeError/ValueError"); PyYAML also reads ``lr: 1e-3`` (no dot) as the string "1e-3".
    """
    ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    kinds = {a.strip() for a in ann.split("|")}
    opt = "--" + f.name.replace("_", "-")
    if value is None:
        if "None" in kinds:
            return None
        raise ConfigError(f"{path}: {f.name} needs a value ({opt}), got an empty one")
    if kinds - {"None"} == {"bool"}:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: {f.name} must be true or false, got {value!r}")
    number = kinds & {"int", "float"}
    if number and not kinds - {"int", "float", "None"}:
        if isinstance(value, bool) or isinstance(value, list | dict):
            raise ConfigError(f"{path}: {f.name} must be a number ({opt}), got {value!r}")
        try:
            x = float(value) if isinstance(value, str) else value
        except ValueError:
            raise ConfigError(f"{path}: {f.name} must be a number ({opt}), got {value!r}") from None
        if "float" in number:
            return float(x)
        if not (isinstance(x, int) or (math.isfinite(x) and float(x).is_integer())):
            raise ConfigError(f"{path}: {f.name} must be a whole number ({opt}), got {value!r}")
        return int(x)
    if kinds - {"None"} == {"str"}:
        if isinstance(value, list | dict):
            raise ConfigError(f"{path}: {f.name} takes text as {opt} does, got {value!r}")
        return value if isinstance(value, str) else str(value)
    return value


def resolve_config(cls: type[T], yaml_path: str | os.PathLike | None = None, given: set[str] | None = None,
                   siblings: set[str] = frozenset(), **cli_values: Any) -> T:  # type: ignore[assignment]
    """Build a config dataclass from CLI values and an optional YAML file.

    Precedence (lowest first): the dataclass default, the command's own default, the YAML value, a value the
    user typed (or set through the environment). ``given`` names the options the user typed (from click's
    ``get_parameter_source``); when it is None (Python callers) a value that differs from the field's default
    counts as typed. Unknown YAML keys fail (typos must not be silently ignored); keys of ``siblings`` (the
    fields of the other config dataclass of the same command) are skipped. Keys may use dashes or underscores;
    CLI values of ``None`` count as not given.
    """
    names = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    if yaml_path:
        raw = load_yaml(yaml_path)
        for k, v in raw.items():
            key = str(k).replace("-", "_")
            if key not in names:
                if key in siblings or key in cli_values:  # a key belonging to a sibling config dataclass
                    continue
                known = sorted(set(names) | set(siblings))
                close = difflib.get_close_matches(key, known, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ConfigError(f"{yaml_path}: unknown option {k!r}{hint}; known: {', '.join(known)}")
            values[key] = _yaml_value(v, names[key], yaml_path)
    for k, v in cli_values.items():
        if k not in names or v is None:
            continue
        if given is not None:
            if k in given or k not in values:
                values[k] = v
            continue
        f = names[k]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        if k not in values or v != default:
            values[k] = v
    try:
        return cls(**values)
    except TypeError as e:
        raise ConfigError(str(e)) from e


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass (or dict) as plain data."""
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg)


def save_config(path: str | os.PathLike, **sections: Any) -> Path:
    """Write the resolved config (one mapping per section, e.g. train=..., task=...) as YAML, atomically."""
    import yaml

    from pictorch.utils import atomic_write

    data = {name: config_to_dict(c) for name, c in sections.items() if c is not None}
    with atomic_write(path, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return Path(path)


def saved_section(run_dir: str | os.PathLike, cls: type[T], section: str = "task") -> T | None:
    """One section of the ``config.yaml`` a run folder holds, rebuilt as ``cls`` (None when there is none).

    Keys ``cls`` does not know are ignored (a config written by another pictorch version still resumes).
    """
    import yaml

    p = Path(run_dir) / "config.yaml"
    if not p.is_file():
        return None
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML; cannot resume ({e.__class__.__name__})") from e
    values = data.get(section) or {}
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})


__all__ = ["TrainConfig", "check_fields", "config_to_dict", "field", "load_yaml", "resolve_config", "save_config", "saved_section"]
