"""Options shared by every ``train`` command, declared once, and their conversion to TrainConfig.

A task's train command declares only its own options; :func:`train_options` adds the shared ones (with the
command's defaults) and hands the function the shared values it names after ``*``::

    @app.command()
    @train_options(steps=1000, lr=2e-3, out_dir="runs/x", without=("val_every",))
    def train(ctx: typer.Context, data: Data = "fashion-mnist", *, threads: str, config: str | None,
              no_progress: bool) -> None:
        cfg, task_cfg = train_and_task_config(TaskConfig, ctx, config, no_progress)

The Annotated aliases (``Steps``, ``LR``...) stay for commands that declare an option by hand.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pictorch.engine.config import parse_duration  # noqa: F401 - the --time-budget grammar, re-exported

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

# every shared option: its alias and, where TrainConfig has no field of that name, its default
_SHARED: dict[str, tuple[Any, Any]] = {
    "steps": (Steps, None), "batch_size": (BatchSize, None), "lr": (LR, None), "weight_decay": (WeightDecay, None),
    "out_dir": (OutDir, None), "precision": (Precision, None), "accelerator": (Accelerator, None),
    "devices": (Devices, None), "seed": (Seed, None), "log_every": (LogEvery, None), "ckpt_every": (CkptEvery, None),
    "picture_every": (PictureEvery, None), "val_every": (ValEvery, None), "resume": (Resume, None),
    "config": (ConfigFile, None), "no_progress": (NoProgress, False), "threads": (Threads, "auto"),
    "time_budget": (TimeBudget, "0"), "compile": (Compile, "auto"),
}
#: what a ``train`` command has unless it says otherwise (``--time-budget`` and ``--compile`` are opt-in: ``extra=``)
TRAIN_OPTIONS = tuple(n for n in _SHARED if n not in ("time_budget", "compile"))


def train_options(*, only: tuple[str, ...] | None = None, without: tuple[str, ...] = (), extra: tuple[str, ...] = (),
                  helps: dict[str, str] | None = None, **defaults: Any) -> Any:
    """Decorator adding the shared training options to a Typer command, declared once for every task.

    Args:
        only: The shared options this command has (default: :data:`TRAIN_OPTIONS`).
        without: Options of that set this command has not (e.g. ``("val_every",)`` for a task that never
            validates).
        extra: Opt-in options (``"time_budget"``).
        helps: Another help text for an option (``{"out_dir": "Folder for the runs and the table."}``).
        defaults: The command's defaults (``steps=1000, lr=2e-3, out_dir="runs/classify"``); TrainConfig's
            (or the option's own) default otherwise.

    The decorated function receives the shared values it names as keyword-only parameters (after ``*``);
    all of them are in ``ctx.params`` too, where :func:`train_and_task_config` reads them.
    """
    import copy
    import dataclasses
    import functools
    import inspect

    from pictorch.engine.config import TrainConfig

    names = [n for n in (only or TRAIN_OPTIONS) if n not in without] + list(extra)
    unknown = set(names + list(defaults) + list(helps or {})) - set(_SHARED)
    if unknown or not set(defaults) <= set(names):
        raise ValueError(f"train_options: unknown or undeclared options {sorted(unknown or set(defaults) - set(names))}")
    base = {f.name: f.default for f in dataclasses.fields(TrainConfig)}

    def option(name: str) -> inspect.Parameter:
        alias, own_default = _SHARED[name]
        if helps and name in helps:
            info = copy.copy(alias.__metadata__[0])
            info.help = helps[name]
            alias = Annotated[alias.__origin__, info]
        default = defaults[name] if name in defaults else base.get(name, own_default)
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=alias, default=default)

    def decorate(func: Any) -> Any:
        sig = inspect.signature(func, eval_str=True)
        wanted = {n for n, p in sig.parameters.items() if p.kind == p.KEYWORD_ONLY}
        if not wanted <= set(names):
            raise ValueError(f"{func.__name__}: keyword-only {sorted(wanted - set(names))} are not shared options")
        own = [p for p in sig.parameters.values() if p.kind != p.KEYWORD_ONLY]
        params = own + [option(n) for n in names]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            return func(**{k: v for k, v in kwargs.items() if k in sig.parameters})

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params} | {"return": sig.return_annotation}
        del command.__wrapped__  # Typer must read this signature, not the function's
        return command

    return decorate


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


# -- where verbs write: never into the current folder by surprise, never over earlier results --------------------
Force = Annotated[bool, typer.Option("--force", help="Write over the files an earlier run left at --out.")]
# where a loaded model runs (classify, autoencode and segment verbs)
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, mps.")]


def run_folder(model: str | None) -> Any:
    """The run folder a checkpoint belongs to (the folder itself, or a checkpoint file's folder); None for a
    name that is not a path (``dlib-face``, ``vgg19:caffe``)."""
    from pathlib import Path

    if not model:
        return None
    p = Path(model)
    if p.is_dir():
        return p
    if p.is_file():
        return p.parent
    return None


def output_path(out: str | None, default: str, model: str | None = None, force: bool = False,
                folder: bool = False) -> str:
    """Where a verb writes its picture, file or folder of files.

    Without ``--out``: ``default`` inside the model's run folder (``runs/`` for a model that is no folder), made
    unique (``samples-1.png``, ``decoded-2``...) so a second call never replaces the first's result. With
    ``--out``: that path; an existing file (or a non-empty folder, for a folder output) is refused with one line
    unless ``--force``, since the files there may be an earlier result or the very inputs.

    Args:
        out: The typed ``--out`` (None: not given).
        default: The file or folder name to use without ``--out`` (``samples.png``, ``decoded``).
        model: The checkpoint argument, whose run folder takes the default output.
        force: ``--force``.
        folder: The output is a folder of files (else one file; a GIF beside it counts with it).
    """
    from pathlib import Path

    from pictorch.errors import ConfigError

    if out is None:
        from pictorch.utils import reserve_free_path

        # claimed, not just looked up: two `gan sample` runs started together both chose samples-1.png and
        # the second replaced the first's picture
        return str(reserve_free_path((run_folder(model) or Path("runs")) / default, folder=folder))
    path = Path(out)
    if force or not path.exists():
        return str(path)
    if path.is_dir():
        if not folder:
            raise ConfigError(f"--out {out} is a folder; give a file name (e.g. {path / default})")
        if not any(path.iterdir()):
            return str(path)
        raise ConfigError(f"--out {out} already holds files; pass --force to write over them, or choose another "
                          "folder")
    raise ConfigError(f"--out {out} already exists; pass --force to replace it, or choose another name")
