"""Python API of the classify capability.

::

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.classify import api
    from pictorch.tasks.classify.steps import ClassifyConfig

    res = api.train(ClassifyConfig(data="photos/", arch="resnet18", pretrained="imagenet", regime="head"),
                    TrainConfig(out_dir="runs/cls", steps=500))
    clf = api.load("runs/cls")
    probs = clf.predict_proba(images_uint8)                 # N×K
    api.evaluate("runs/cls", "photos_test/", out_dir="eval/")  # report.json, confusion.png, mistakes.png
    api.predict("runs/cls", ["a.jpg", "more/"], top_k=3)
    api.export("runs/cls", "onnx", "model.onnx")
    api.compare(ClassifyConfig(data="photos/", init="runs/base"), TrainConfig(steps=200), out_dir="cmp/")
    api.transfer_demo(out_dir="runs/transfer-demo")
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from pictorch.errors import CheckpointError, DataError
from pictorch.tasks.classify.inference import (  # noqa: F401 - the façade re-exports them
    TTA_MODES,
    TrainedClassifier,
    _clf,
    _Exported,
    collect_files,
    export,
    load,
    predict,
)
from pictorch.tasks.classify.steps import TASK, ClassifyConfig

# -- data for training --------------------------------------------------------------------------------------


@dataclass
class InitInfo:
    """What a ``--init`` checkpoint provides: architecture, its kwargs, weights, input format."""

    arch: str
    model_kwargs: dict[str, Any]
    state: dict[str, torch.Tensor]
    mean: list[float]
    std: list[float]
    image_size: list[int]
    mode: str
    classes: list[str]


def read_init(path: str) -> InitInfo:
    """Read a classify checkpoint to start from (``--init``)."""
    from pictorch.engine.checkpoint import load_checkpoint

    ck = load_checkpoint(path, task=TASK)
    meta = ck.meta
    if "model" not in ck.state_dicts or "arch" not in meta:
        raise CheckpointError(f"{ck.path}: not a complete classify checkpoint (no model/arch)")
    # trained with --ema: start from the weight average, the module the checkpoint deploys
    state = ck.state_dicts.get(meta.get("deployed_module"), ck.state_dicts["model"])
    kw = {k: v for k, v in (meta.get("model_kwargs") or {}).items()
          if k not in ("in_chans", "num_classes", "drop_rate")}
    norm = meta.get("normalization") or {}
    return InitInfo(arch=meta["arch"], model_kwargs=kw, state=state,
                    mean=list(norm.get("mean", [0.0])), std=list(norm.get("std", [1.0])),
                    image_size=list(meta.get("image_size") or []), mode=meta.get("mode", "RGB"),
                    classes=list(meta.get("classes") or []))


def load_training_data(cfg: ClassifyConfig, seed: int = 0, split: str = "train",
                       init: InitInfo | None = None) -> tuple[Any, str | None]:
    """The configured dataset (class subset, per-class cap, limit applied) and a normalization note."""
    from pictorch.tasks.classify.data import load_dataset, parse_classes, take_per_class

    image_size = cfg.image_size or (init.image_size[0] if init and init.image_size else None)
    mode = cfg.mode or (init.mode if init else None)
    ds, note = load_dataset(cfg.data, split=split, data_dir=cfg.data_dir, image_size=image_size, mode=mode,
                            seed=seed)
    if init is not None and not (cfg.image_size and cfg.mode):
        changed = _init_conversion(cfg.data, image_size if not cfg.image_size else None,
                                   mode if not cfg.mode else None)
        if changed:  # RGB photos silently became the checkpoint's 28-px gray
            msg = f"images converted to the --init checkpoint's input ({changed}); --image-size/--mode override"
            note = f"{note}; {msg}" if note else msg
    keep = parse_classes(cfg.classes, list(ds.classes))
    if keep is not None:
        ds = ds.filter_classes(keep)
    if split == "train":
        ds = take_per_class(ds, cfg.per_class, seed)
        if cfg.limit and len(ds) > cfg.limit:
            g = torch.Generator().manual_seed(seed)
            ds = ds.subset(torch.randperm(len(ds), generator=g)[: cfg.limit].sort().values)
    return ds, note


def _init_conversion(data: str, size: int | None, mode: str | None) -> str | None:
    """What converting a folder's photos to an ``--init`` checkpoint's input changes, judged on its first photo
    (``"RGB 40×40 -> L 28×28"``); None when nothing changes or ``data`` is no folder."""
    from PIL import Image

    from pictorch.data.decode import is_image_file

    folder = Path(data)
    if not folder.is_dir():
        return None
    first = next((f for f in sorted(folder.rglob("*")) if f.is_file() and is_image_file(f)), None)
    if first is None:
        return None
    try:
        with Image.open(first) as im:
            w, h, src_mode = im.width, im.height, "L" if im.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB"
    except Exception:  # an unreadable first photo: the loader reports it
        return None
    new_mode = mode or src_mode
    new_w, new_h = (size, size) if size else (w, h)
    if (new_mode, new_w, new_h) == (src_mode, w, h):
        return None
    return f"{src_mode} {w}×{h} -> {new_mode} {new_w}×{new_h}"


def train(cfg: ClassifyConfig, train_cfg: Any, data: Any = None, test: Any = None,
          tune_threads: bool = True, max_seconds: float = 0.0, hooks: list[Any] | None = None,
          extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train a classifier through the shared Trainer.

    Args:
        cfg: Classifier options.
        train_cfg: Shared :class:`~pictorch.engine.config.TrainConfig`.
        data: An already loaded training ImageSet (skips loading ``cfg.data``).
        test: An optional ImageSet scored after training (``result["test"]``).
        tune_threads: On a CPU, choose the thread count by timing real steps, re-checking as the machine's
            load changes (:class:`~pictorch.engine.threads.CpuThreadTuner`); False keeps
            ``torch.get_num_threads()`` as it is (e.g. fixed by ``--threads N``).
        max_seconds: A training time budget (0: none); the run's length and its LR schedule follow it.
        hooks: More trainer hooks.
        extra_meta: More checkpoint metadata (e.g. who trained it).

    Returns:
        The Trainer's result plus ``note`` (data normalization), ``regime``, ``trainable_params``,
        ``total_params``, ``train_images`` and, with ``test``, ``test`` (accuracy report).
    """
    from pictorch.data.loader import TensorLoader
    from pictorch.engine.trainer import Trainer
    from pictorch.nn.backbones.base import IMAGENET_MEAN, IMAGENET_STD, channel_stats
    from pictorch.tasks.classify.data import channel_mean_std, check_training_set, describe
    from pictorch.tasks.classify.steps import ClassifyTask

    if train_cfg.resume:
        cfg = saved_task_config(Path(train_cfg.out_dir)) or cfg
    init = read_init(cfg.init) if cfg.init else None
    note = None
    if data is None:
        data, note = load_training_data(cfg, seed=train_cfg.seed, init=init)
    where = cfg.data if not cfg.classes else f"{cfg.data} (classes {cfg.classes})"
    check_training_set(data, where)
    train_set, val_set = data, None
    k = len(data.classes)
    if cfg.val_split > 0 and len(data) >= 4 * k:
        train_set, val_set = data.split(cfg.val_split, seed=train_cfg.seed)
    c, h, w = train_set.images.shape[1:]
    if init is not None:
        if len(init.mean) != c:
            raise DataError(f"{cfg.data}: {c}-channel images but the --init checkpoint {cfg.init} takes "
                            f"{len(init.mean)} channels; pass --mode {init.mode}")
        mean, std = init.mean, init.std
    elif cfg.pretrained or cfg.weights:
        mean, std = list(channel_stats(IMAGENET_MEAN, c)), list(channel_stats(IMAGENET_STD, c))
    else:
        mean, std = channel_mean_std(train_set.images)
    counts = torch.bincount(train_set.labels, minlength=k).tolist()
    task = ClassifyTask(
        cfg, classes=list(data.classes), in_chans=c, image_size=(h, w), mean=mean, std=std,
        val=(val_set.images, val_set.labels) if val_set is not None and len(val_set) else None,
        class_counts=counts, init_state=init.state if init else None,
        arch=init.arch if init else cfg.arch,
        model_kwargs={**(init.model_kwargs if init else {}), **cfg.model_kwargs},
        lr=train_cfg.lr, weight_decay=train_cfg.weight_decay,
        data_info={"data": cfg.data, "classes": cfg.classes, "per_class": cfg.per_class,
                   "train": describe(train_set), "val_images": len(val_set) if val_set is not None else 0},
        extra_meta=extra_meta)
    bs = min(int(train_cfg.batch_size), len(train_set))
    loader = TensorLoader(train_set.images, train_set.labels, batch_size=bs, shuffle=True, drop_last=True,
                          seed=train_cfg.seed)
    hooks = list(hooks or [])
    if max_seconds > 0:
        from pictorch.engine.hooks import TimeBudget

        hooks.append(TimeBudget(max_seconds))
    from pictorch.engine.threads import cpu_threads

    # the one thread policy: tune on real steps, or keep today's count; the caller's count comes back after
    with cpu_threads("auto" if tune_threads else torch.get_num_threads()) as tuner:
        result = Trainer(replace(train_cfg, batch_size=bs), hooks=[*hooks, *([tuner] if tuner else [])]).fit(
            task, loader)
    model = result["modules"]["model"]
    result.update(note=note, regime=cfg.regime, trainable_params=task.trainable_params,
                  total_params=sum(p.numel() for p in model.parameters()), train_images=len(train_set),
                  frozen=list(task.plan.frozen), trainable=list(task.plan.trainable),
                  stopped_early=task.stopped_early, best_step=task.best["step"],
                  cpu_threads=tuner.summary() if tuner else None)
    if test is not None:
        clf = TrainedClassifier.load(result["checkpoint"])
        result["test"] = clf.evaluate_set(test)
    return result


def saved_task_config(run_dir: Path) -> ClassifyConfig | None:
    """The classify config saved in a run folder's config.yaml (None when absent)."""
    from pictorch.engine.config import saved_section

    return saved_section(run_dir, ClassifyConfig)




# reports (evaluate, compare, ...) import this module's train(): reached lazily, so either imports first
_REPORTS = ('_format_table', 'compare', 'evaluate', 'load_eval_set', 'transfer_demo')


def __getattr__(name: str):
    if name in _REPORTS:
        from pictorch.tasks.classify import reports

        return getattr(reports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TrainedClassifier", "collect_files", "compare", "evaluate", "export", "load", "load_eval_set", "predict",  # noqa: F822
           "read_init", "train", "transfer_demo"]
