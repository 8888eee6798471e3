"""Options shared by every ``train`` command, as Annotated aliases, and their conversion to TrainConfig.

A task's train command declares::

    def train(ctx: typer.Context, ..., steps: Steps = 1000, batch_size: BatchSize = 64, lr: LR = 1e-3,
              out_dir: OutDir = "runs/x", precision: Precision = "auto", seed: Seed = 0, resume: Resume = False,
              config: ConfigFile = None, no_progress: NoProgress = False, ...):
        cfg, task_cfg = train_and_task_config(TaskConfig, ctx.params, config, no_progress)
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

Steps = Annotated[int, typer.Option("--steps", help="Optimizer steps in total.")]
BatchSize = Annotated[int, typer.Option("--batch-size", "-b", help="Images per step (per device).")]
LR = Annotated[float, typer.Option("--lr", help="Learning rate.")]
WeightDecay = Annotated[float, typer.Option("--weight-decay", help="AdamW weight decay.")]
OutDir = Annotated[str, typer.Option("--out", "-o", help="Run folder (checkpoint, config, log, pictures).")]
Precision = Annotated[str, typer.Option("--precision",
                                        help="auto (bf16-mixed on bf16 GPUs and bf16 CPUs), 32-true, bf16-mixed, 16-mixed.")]
Accelerator = Annotated[str, typer.Option("--accelerator", help="auto, cpu, cuda, mps.")]
Devices = Annotated[int, typer.Option("--devices", help="Devices/processes per node (>1 runs DDP).")]
NumNodes = Annotated[int, typer.Option("--num-nodes", help="Nodes for multi-node DDP.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Deterministic = Annotated[bool, typer.Option("--deterministic", help="Deterministic kernels (slower).")]
LogEvery = Annotated[int, typer.Option("--log-every", help="Steps between metric logs.")]
CkptEvery = Annotated[int, typer.Option("--ckpt-every", help="Steps between checkpoints (0: end only).")]
PictureEvery = Annotated[int, typer.Option("--picture-every", help="Steps between pictures (0: end only).")]
ValEvery = Annotated[int, typer.Option("--val-every", help="Steps between validations (0: end only).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No progress bar.")]
ConfigFile = Annotated[str | None, typer.Option("--config", help="YAML file with option values.")]
Threads = Annotated[str, typer.Option(
    "--threads", help="CPU threads: auto (time real steps with 1 and all cores, keep the faster, re-check as the "
    "load changes; a busy shared CPU is often faster with 1) or a number.")]

Compile = Annotated[str, typer.Option(
    "--compile", help="torch.compile the model: off, on, or auto (on only for a model and CPU kind where a bench "
    "measured a win that this run's length pays back; eager otherwise).")]

TimeBudget = Annotated[str, typer.Option(
    "--time-budget", help="Training time budget: seconds, or with a unit (90s, 5m, 1.5h); 0: run --steps.")]


def parse_duration(text: str | float | None) -> float:
    """``--time-budget``, one meaning in every verb: a plain number is seconds; ``s``, ``m``, ``h`` suffixes.

    Raises:
        ConfigError: Not a duration, negative, not finite, or over a week.
    """
    import math

    from pictorch.errors import ConfigError

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


def json_object(text: str | None, option: str = "--model-kw", example: str = '{"width": 16}') -> dict[str, Any]:
    """A JSON-object option (``--model-kw '{"width": 16}'``) as a dict; empty/None -> {}; else one error line."""
    import json

    from pictorch.errors import ConfigError

    if not text:
        return {}
    try:
        val = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{option} must be a JSON object like '{example}': {e.msg}") from None
    if not isinstance(val, dict):
        raise ConfigError(f"{option} must be a JSON object like '{example}'")
    return val


def set_threads(spec: str | int | None) -> bool:
    """``--threads`` for a whole command: a number fixes torch's CPU threads; True when it is ``auto`` (tune on
    real steps where the command trains, torch's default elsewhere). Bad values are one ``error:`` line."""
    from pictorch.engine.threads import parse_threads

    n = parse_threads(spec)
    if n is not None:
        import torch

        torch.set_num_threads(n)
    return n is None


DataDir = Annotated[str | None, typer.Option("--data-dir", help="Folder with the dataset files.")]


def typed_options(ctx: Any) -> set[str] | None:
    """Names of the options the user typed or set through the environment (None: not a click context)."""
    source = getattr(ctx, "get_parameter_source", None)
    if source is None:
        return None
    # by name: typer vendors its own click, whose ParameterSource enum is not click's
    typed = ("COMMANDLINE", "ENVIRONMENT", "PROMPT")
    return {name for name in ctx.params if getattr(source(name), "name", None) in typed}


def train_config(config: str | None = None, no_progress: bool = False, given: set[str] | None = None,
                 siblings: set[str] = frozenset(), **values: Any) -> Any:
    """Resolve a :class:`~pictorch.engine.config.TrainConfig` from CLI values and an optional YAML file."""
    from pictorch.engine.config import TrainConfig, resolve_config

    if no_progress:
        values["progress"] = False
        if given is not None:
            given = given | {"progress"}
    return resolve_config(TrainConfig, config, given=given, siblings=siblings, **values)


def train_and_task_config(task_cls: type, params: Any, config: str | None = None,
                          no_progress: bool = False, **overrides: Any) -> tuple[Any, Any]:
    """The shared TrainConfig and the task's config dataclass from a train command's option values.

    Args:
        task_cls: The task's config dataclass (e.g. ClassifyConfig).
        params: The command's ``typer.Context`` (typed options beat the YAML, the command's defaults do not),
            or its options by name (a dict: values that differ from the dataclass defaults count as typed). Each
            goes to the dataclass that has a field of that name; options neither has (``--config``,
            ``--threads``...) are left out.
        config: A YAML file; it may hold options of both dataclasses (a run's own config.yaml too).
        no_progress: ``--no-progress``.
        overrides: Values that replace or add to ``params`` (options that need converting, e.g. JSON text);
            None leaves the option out, any other value counts as typed.
    """
    from dataclasses import fields

    from pictorch.engine.config import TrainConfig, resolve_config

    given = typed_options(params)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if given is not None:
        given = given | set(overrides)
    values = {**(params.params if given is not None else params), **overrides}
    train_names = {f.name for f in fields(TrainConfig)}
    task_names = {f.name for f in fields(task_cls)}
    train_vals = {k: v for k, v in values.items() if k in train_names}
    task_vals = {k: v for k, v in values.items() if k in task_names}
    return (train_config(config, no_progress, given=given, siblings=task_names, **train_vals),
            resolve_config(task_cls, config, given=given, siblings=train_names, **task_vals))


def echo_result(result: dict[str, Any], what: str) -> None:
    """Print the usual end-of-training summary."""
    metrics = {k: v for k, v in result.get("metrics", {}).items() if k != "lr"}
    text = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float))
    typer.echo(f"{what}: {result['step']} steps in {result['seconds']:.1f}s "
               f"({result['images_per_s']:.0f} img/s); {text}")
    typer.echo(f"checkpoint: {result['checkpoint']}")
