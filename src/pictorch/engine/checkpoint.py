"""Self-describing checkpoints: safetensors weights + JSON metadata, written atomically.

A checkpoint is one ``.safetensors`` file. Its tensors are the state dicts of one or more named modules,
flattened as ``"<module name>.<state key>"``; its header metadata holds one JSON document (key
``"pictorch"``) describing the run: task, how to rebuild each module (registry name + constructor kwargs +
the module that registers it), input normalization, class names, pictorch version, step and metrics.
Optimizer/RNG state for ``--resume`` lives beside it in ``<name>.state.pt`` (also written atomically);
both files carry the step so a mismatched pair is detected.

Weights are always taken from the *unwrapped* module (Fabric wrappers, ``torch.compile``'s ``_orig_mod``
and DDP's ``module`` are peeled off), so keys never depend on how training ran.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pictorch import __version__
from pictorch.errors import CheckpointError
from pictorch.utils import atomic_save

FORMAT = "pictorch-checkpoint/1"
CANDIDATE_NAMES = ("last.safetensors", "model.safetensors", "best.safetensors")


def unwrap(module: nn.Module) -> nn.Module:
    """Peel Fabric, DDP and torch.compile wrappers off a module."""
    seen = 0
    while seen < 8:
        seen += 1
        if hasattr(module, "_orig_mod"):
            module = module._orig_mod
        elif hasattr(module, "_forward_module") and isinstance(module._forward_module, nn.Module):
            module = module._forward_module
        elif isinstance(module, nn.parallel.DistributedDataParallel | nn.DataParallel):
            module = module.module
        else:
            break
    return module


def module_spec(module: nn.Module) -> dict[str, Any] | None:
    """How to rebuild ``module``: the spec recorded by the registry when it was created, if any."""
    return getattr(unwrap(module), "pictorch_spec", None)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_json_default))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple | set):
        return list(obj)
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


def save_checkpoint(
    path: str | Path,
    modules: Mapping[str, nn.Module] | nn.Module,
    meta: Mapping[str, Any],
    train_state: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: Target ``.safetensors`` file.
        modules: One module (stored as ``"model"``) or a name -> module mapping.
        meta: Task description: at least ``task``; ``normalization``, ``classes``, ``step``, ``metrics`` and
            task-specific fields are recommended. ``models`` (rebuild specs) is filled in from the modules'
            registry specs when not given; ``input`` (the one input record every loaded model reads:
            :func:`pictorch.engine.inference.input_record`) is completed from the older fields.
        train_state: Optimizer/scheduler/RNG/loader state for resuming; saved to ``<path>.state.pt``.

    Returns:
        The checkpoint path.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if isinstance(modules, nn.Module):
        modules = {"model": modules}
    tensors: dict[str, torch.Tensor] = {}
    specs: dict[str, Any] = dict(meta.get("models", {}))
    for name, mod in modules.items():
        mod = unwrap(mod)
        for key, value in mod.state_dict().items():
            # clone: safetensors refuses tensors that share storage (tied weights)
            tensors[f"{name}.{key}"] = value.detach().to("cpu").contiguous().clone()
        if name not in specs:
            spec = module_spec(mod)
            if spec is not None:
                specs[name] = spec
    from pictorch.engine.inference import input_record
    from pictorch.utils import tensors_sha256

    full_meta = {
        "content_sha256": tensors_sha256(tensors),  # verified on load: damaged weights never answer
        "format": FORMAT,
        "pictorch_version": __version__,
        "torch_version": torch.__version__,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **meta,
        "input": input_record(meta),  # one record every Predictor reads (derived from older fields if absent)
        "models": specs,
        "module_names": list(modules),
    }
    header = {"pictorch": json.dumps(_jsonable(full_meta))}
    if train_state is not None:
        state = dict(train_state)
        state["step"] = full_meta.get("step")
        atomic_save(path.with_suffix(".state.pt"), lambda tmp: torch.save(state, tmp))
    atomic_save(path, lambda tmp: _write_safetensors(tensors, tmp, header, save_file))
    return path


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _write_safetensors(tensors: dict[str, torch.Tensor], tmp: str, header: dict[str, str], save_file: Any) -> None:
    """safetensors' own writer takes UTF-8 paths only ("Path ... is not valid UTF-8" for a Latin-1 folder
    name); there the bytes it would write are written by Python, which takes any path."""
    if _utf8(tmp):
        save_file(tensors, tmp, metadata=header)
        return
    from safetensors.torch import save

    with open(tmp, "wb") as f:
        f.write(save(tensors, metadata=header))


def _read_safetensors(p: Path, map_location: str) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """(header metadata, tensors) of a safetensors file, at any path (see :func:`_write_safetensors`)."""
    from safetensors import safe_open

    if _utf8(str(p)):
        with safe_open(str(p), framework="pt", device=map_location) as f:
            return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}
    from safetensors.torch import load

    data = p.read_bytes()
    n = int.from_bytes(data[:8], "little")
    head = json.loads(data[8:8 + n]) if 0 < n <= len(data) - 8 else {}
    tensors = {k: v.to(map_location) for k, v in load(data).items()}
    return dict(head.get("__metadata__") or {}), tensors


@dataclass
class Checkpoint:
    """A loaded checkpoint: metadata and per-module state dicts."""

    path: Path
    meta: dict[str, Any]
    state_dicts: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    @property
    def task(self) -> str | None:
        return self.meta.get("task")

    def train_state(self) -> dict[str, Any] | None:
        """The resume state saved beside the weights, or None; fails if it belongs to another step."""
        sp = self.path.with_suffix(".state.pt")
        if not sp.exists():
            return None
        try:
            state = torch.load(sp, map_location="cpu", weights_only=False)
        except Exception as e:  # corrupt resume state is a user-facing problem, not a crash
            raise CheckpointError(f"{sp}: resume state is unreadable ({e.__class__.__name__}); delete it to "
                                  "start from the weights only") from e
        if state.get("step") != self.meta.get("step"):
            raise CheckpointError(f"{sp}: resume state is from step {state.get('step')} but the weights are "
                                  f"from step {self.meta.get('step')}; delete the .state.pt file to resume "
                                  "from the weights only")
        return state


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file, or the checkpoint inside a run folder."""
    p = Path(path)
    if p.is_dir():
        for name in CANDIDATE_NAMES:
            if (p / name).is_file():
                return p / name
            if (p / "checkpoints" / name).is_file():
                return p / "checkpoints" / name
        raise CheckpointError(f"{p}: no checkpoint in this folder (looked for {', '.join(CANDIDATE_NAMES)})")
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint file")
    return p


# the command of each task name (the generate task is `pictorch gan`)
TASK_COMMANDS = {"generate": "gan"}


def load_checkpoint(path: str | Path, task: str | None = None, map_location: str = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: missing, corrupt, not a pictorch checkpoint, or (with ``task``) of another task.
    """
    p = resolve_checkpoint_path(path)
    try:
        header, tensors = _read_safetensors(p, map_location)
    except Exception as e:
        raise CheckpointError(f"{p}: not a readable checkpoint (corrupt, truncated or another format: "
                              f"{str(e).splitlines()[0][:120]})") from e
    if "pictorch" not in header:
        raise CheckpointError(f"{p}: a safetensors file without pictorch metadata; not a pictorch checkpoint")
    try:
        meta = json.loads(header["pictorch"])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{p}: checkpoint metadata is corrupt") from e
    if task is not None and meta.get("task") != task:
        cmd = TASK_COMMANDS.get(meta.get("task"), meta.get("task"))
        from pictorch.utils import article

        raise CheckpointError(f"{p}: this is {article(repr(meta.get('task')))} checkpoint, not "
                              f"{article(repr(task))} one; use `pictorch {cmd} ...` with it or pass "
                              f"{article(task)} checkpoint")
    if meta.get("content_sha256"):
        from pictorch.utils import tensors_sha256

        if tensors_sha256(tensors) != meta["content_sha256"]:
            raise CheckpointError(f"{p}: the weights do not match the checksum recorded when they were saved "
                                  "(the file is damaged); restore it from a backup or retrain")
    names = meta.get("module_names") or sorted({k.split(".", 1)[0] for k in tensors})
    state_dicts: dict[str, dict[str, torch.Tensor]] = {n: {} for n in names}
    for k, v in tensors.items():
        n, key = k.split(".", 1)
        state_dicts.setdefault(n, {})[key] = v
    return Checkpoint(path=p, meta=meta, state_dicts=state_dicts)


def build_module(spec: Mapping[str, Any]) -> nn.Module:
    """Instantiate a module from a registry spec ({"arch", "kwargs", "module"})."""
    from pictorch.registry import MODELS

    if spec.get("module"):
        try:
            importlib.import_module(spec["module"])
        except ImportError as e:
            raise CheckpointError(f"checkpoint needs module {spec['module']!r}, which cannot be imported: {e}") from e
    return MODELS.create(spec["arch"], **spec.get("kwargs", {}))


def load_model(path: str | Path, task: str | None = None, map_location: str = "cpu") -> Any:
    """Rebuild the module(s) of a checkpoint and load their weights; eval mode.

    Returns a single module when the checkpoint holds one, or when its metadata names the module that is
    deployed (``deployed_module``, e.g. a classifier's weight average beside its raw weights, which only
    ``--resume`` needs); else a dict name -> module. Each module gets a ``pictorch_meta`` attribute with the
    checkpoint metadata.
    """
    ckpt = load_checkpoint(path, task=task, map_location=map_location)
    specs = ckpt.meta.get("models", {})
    states = ckpt.state_dicts
    deployed = ckpt.meta.get("deployed_module")
    if deployed in states:
        states = {deployed: states[deployed]}
    out: dict[str, nn.Module] = {}
    for name, sd in states.items():
        if name not in specs:
            raise CheckpointError(f"{ckpt.path}: module {name!r} has no rebuild spec in the metadata")
        mod = build_module(specs[name])
        try:
            mod.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"{ckpt.path}: weights do not fit {specs[name]['arch']}: "
                                  f"{str(e).splitlines()[0][:200]}") from e
        mod.to(map_location).eval()
        mod.pictorch_meta = ckpt.meta
        out[name] = mod
    if deployed in out:
        return out[deployed]
    return out["model"] if list(out) == ["model"] else out


def load_task_model(path: str | Path, task: str, names: tuple[str, ...] = ("model",),
                    device: str | torch.device = "cpu") -> tuple[nn.Module, Path]:
    """The first module of ``names`` found in a ``task`` checkpoint (file or run folder), on ``device`` in eval
    mode, and the checkpoint's path.

    Raises:
        CheckpointError: Missing, corrupt, another task's, or holding none of ``names``.
    """
    p = resolve_checkpoint_path(path)
    model = load_model(p, task=task)
    if isinstance(model, dict):
        found = next((n for n in names if n in model), None)
        if found is None:
            raise CheckpointError(f"{p}: no {' or '.join(map(repr, names))} module in this {task} checkpoint "
                                  f"(it holds {', '.join(sorted(model))})")
        model = model[found]
    return model.to(device).eval(), p
