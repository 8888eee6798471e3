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

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from pictorch.errors import CheckpointError, ConfigError, DataError
from pictorch.tasks.classify.steps import REGIMES, TASK, ClassifyConfig
from pictorch.utils import resolve_device

TTA_MODES = ("none", "hflip")

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
    keep = parse_classes(cfg.classes, list(ds.classes))
    if keep is not None:
        ds = ds.filter_classes(keep)
    if split == "train":
        ds = take_per_class(ds, cfg.per_class, seed)
        if cfg.limit and len(ds) > cfg.limit:
            g = torch.Generator().manual_seed(seed)
            ds = ds.subset(torch.randperm(len(ds), generator=g)[: cfg.limit].sort().values)
    return ds, note


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
                   "train": describe(train_set), "val_images": len(val_set) if val_set is not None else 0})
    bs = min(int(train_cfg.batch_size), len(train_set))
    loader = TensorLoader(train_set.images, train_set.labels, batch_size=bs, shuffle=True, drop_last=True,
                          seed=train_cfg.seed)
    task.extra_meta = dict(extra_meta or {})
    hooks = list(hooks or [])
    tuner = None
    if tune_threads:
        from pictorch.engine.threads import CpuThreadTuner

        tuner = CpuThreadTuner()
        hooks.append(tuner)
    if max_seconds > 0:
        from pictorch.engine.hooks import TimeBudget

        hooks.append(TimeBudget(max_seconds))
    before = torch.get_num_threads()
    try:
        result = Trainer(replace(train_cfg, batch_size=bs), hooks=hooks).fit(task, loader)
    finally:  # the tuner restores the count at the end; also after an error
        torch.set_num_threads(before)
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


# -- a trained classifier ------------------------------------------------------------------------------------


@dataclass
class TrainedClassifier:
    """A trained classifier with its checkpoint metadata; takes uint8 images of any size/mode.

    Attributes:
        model: The network (eval mode).
        meta: Checkpoint metadata (classes, normalization, image_size, mode, arch, regime, metrics).
        path: Checkpoint path.
        tta: Test-time augmentation: "none" or "hflip" (average the logits of each image and its mirror
            image; sound when the training augmentation flipped images).
    """

    model: Any
    meta: dict[str, Any]
    path: Path | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 256
    tta: str = "none"

    def __post_init__(self) -> None:
        if self.tta not in TTA_MODES:
            raise ConfigError(f"unknown --tta {self.tta!r}; known: {', '.join(TTA_MODES)}")

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None, tta: str = "none") -> TrainedClassifier:
        """Load a classify checkpoint (file or run folder).

        Raises:
            CheckpointError: Missing, corrupt, or a checkpoint of another task.
        """
        from pictorch.engine.checkpoint import load_task_model

        dev = resolve_device(device)
        model, p = load_task_model(path, TASK, ("model",), dev)  # with --ema, load_model gives the average
        return cls(model=model, meta=dict(model.pictorch_meta), path=p, device=dev, tta=tta)

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.meta["image_size"])  # type: ignore[return-value]

    @property
    def mode(self) -> str:
        return self.meta.get("mode", "RGB")

    @property
    def mean(self) -> list[float]:
        return list(self.meta["normalization"]["mean"])

    @property
    def std(self) -> list[float]:
        return list(self.meta["normalization"]["std"])

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 N×C×H×W (any size, 1 or 3 channels) -> normalized float at the model's size and mode."""
        from pictorch.data.loader import to_float
        from pictorch.tasks.classify.data import convert_images

        if images.ndim == 3:
            images = images.unsqueeze(0)
        if images.dtype != torch.uint8:
            raise ConfigError("TrainedClassifier takes uint8 images (0..255)")
        x = convert_images(images, self.image_size, self.mode)
        return to_float(x.to(self.device), self.mean, self.std)

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Raw scores N×K (float32, CPU); with ``tta="hflip"`` the mean over each image and its mirror."""
        def scores(x: torch.Tensor) -> torch.Tensor:
            out = self.model(x).float()
            if self.tta == "hflip":
                out = (out + self.model(x.flip(-1)).float()) / 2
            return out.cpu()

        from pictorch.engine.inference import ensure_finite

        out = [scores(self.prepare(images[i:i + self.batch_size])) for i in range(0, len(images), self.batch_size)]
        return ensure_finite(torch.cat(out) if out else torch.zeros(0, len(self.classes)), "the classifier",
                             self.path)

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities N×K."""
        return self.logits(images).softmax(1)

    def evaluate_set(self, ds: Any) -> dict[str, Any]:
        """Classification report (see :func:`pictorch.metrics.classification.classification_report`) on a
        labelled ImageSet whose classes are this model's (same order)."""
        from pictorch.metrics.classification import classification_report

        probs = self.predict_proba(ds.images)
        rep = classification_report(ds.labels, probs, classes=self.classes)
        rep["_probs"] = probs
        return rep


def load(path: str | os.PathLike, device: str | None = None, tta: str = "none") -> TrainedClassifier:
    """Load a trained classifier (checkpoint file or run folder); see :class:`TrainedClassifier`."""
    return TrainedClassifier.load(path, device=device, tta=tta)


def _clf(ckpt: str | os.PathLike | TrainedClassifier, device: str | None = None,
         tta: str = "none") -> TrainedClassifier:
    if isinstance(ckpt, TrainedClassifier):
        return replace(ckpt, tta=tta) if tta != "none" else ckpt
    return TrainedClassifier.load(ckpt, device=device, tta=tta)


# -- evaluate -----------------------------------------------------------------------------------------------


def load_eval_set(clf: TrainedClassifier, data: str, data_dir: str | None = None, split: str = "test",
                  limit: int = 0, seed: int = 0) -> tuple[Any, str | None]:
    """Labelled images for ``clf``: its classes in its order, at its size and mode.

    A folder must have exactly the model's class folders; built-in sets are filtered to the model's classes
    by name.
    """
    from pictorch.tasks.classify.data import is_builtin, load_dataset, load_folder

    if is_builtin(data):
        ds, note = load_dataset(data, split=split, data_dir=data_dir, image_size=clf.image_size[0], mode=clf.mode,
                                seed=seed)
        missing = [c for c in clf.classes if c not in ds.classes]
        if missing:
            raise DataError(f"{data} has no classes {', '.join(missing[:5])} of this model "
                            f"({', '.join(clf.classes[:5])}...)")
        ds = ds.filter_classes([ds.classes.index(c) for c in clf.classes])
    else:
        ds, note = load_folder(data, image_size=clf.image_size[0] if clf.image_size[0] == clf.image_size[1]
                               else None, mode=clf.mode, classes=clf.classes)
    if limit and len(ds) > limit:
        g = torch.Generator().manual_seed(seed)
        ds = ds.subset(torch.randperm(len(ds), generator=g)[:limit].sort().values)
    return ds, note


def evaluate(ckpt: str | os.PathLike | TrainedClassifier, data: str, out_dir: str | os.PathLike = "evaluation",
             data_dir: str | None = None, split: str = "test", limit: int = 0, mistakes: int = 32,
             device: str | None = None, tta: str = "none") -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, confusion matrix PNG, most-confident-mistakes grid, JSON report.

    Args:
        ckpt: Classify checkpoint or run folder.
        data: A folder with the model's class subfolders, or fashion-mnist/synthetic (``split`` of it).
        out_dir: Where ``report.json``, ``confusion.png`` and ``mistakes.png`` go.
        limit: Score at most this many images (0: all).
        mistakes: Tiles in the mistakes grid.
        tta: Test-time augmentation ("none" or "hflip"; "none" keeps a TrainedClassifier's own setting).

    Returns:
        The report (``accuracy``, ``top_k``, ``macro``, ``weighted``, ``per_class``, ``confusion``, ``count``)
        plus ``files`` (paths written) and ``note``.
    """
    from pictorch.utils import atomic_write
    from pictorch.viz.grid import save_image_grid
    from pictorch.viz.plots import plot_matrix

    clf = _clf(ckpt, device, tta)
    ds, note = load_eval_set(clf, data, data_dir=data_dir, split=split, limit=limit)
    rep = clf.evaluate_set(ds)
    probs = rep.pop("_probs")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"confusion": plot_matrix(rep["confusion"], clf.classes, out / "confusion.png",
                                      title=f"confusion matrix (accuracy {rep['accuracy']:.3f})")}
    conf, pred = probs.max(1)
    wrong = (pred != ds.labels).nonzero().flatten()
    if len(wrong):
        order = wrong[conf[wrong].argsort(descending=True)][:mistakes]
        labels = [f"{clf.classes[int(ds.labels[i])][:10]}→{clf.classes[int(pred[i])][:10]} {float(conf[i]):.2f}"
                  for i in order]
        files["mistakes"] = save_image_grid(ds.images[order], out / "mistakes.png", nrow=8, labels=labels,
                                            title="most confident mistakes (true→predicted, confidence)")
        rep["mistakes"] = [{"index": int(i), "path": ds.paths[int(i)] if ds.paths else None,
                            "true": clf.classes[int(ds.labels[i])], "predicted": clf.classes[int(pred[i])],
                            "confidence": float(conf[i])} for i in order]
    else:
        rep["mistakes"] = []
    rep["checkpoint"] = str(clf.path)
    rep["data"] = data
    rep["classes"] = clf.classes
    rep["tta"] = clf.tta
    with atomic_write(out / "report.json", "w") as f:
        json.dump(rep, f, indent=2)
    files["report"] = out / "report.json"
    rep["files"] = files
    rep["note"] = note
    return rep


# -- predict ------------------------------------------------------------------------------------------------


def collect_files(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files from files and folders (folders searched recursively, hidden entries skipped)."""
    from pictorch.data.files import walk_images

    files: list[Path] = []
    for item in inputs:
        p = Path(item).expanduser()
        if not p.exists():
            raise DataError(f"{p} does not exist")
        if p.is_dir():
            found = list(walk_images(p))
            if not found:
                raise DataError(f"no image files in {p}")
            files += found
        else:
            files.append(p)
    return files


def predict(ckpt: str | os.PathLike | TrainedClassifier, inputs: Sequence[str | os.PathLike], top_k: int = 3,
            device: str | None = None, tta: str = "none") -> list[dict[str, Any]]:
    """Top-k labels with probabilities for each image file (folders are searched).

    Returns:
        ``[{"path", "top": [{"label", "prob"}]}]``; unreadable files are skipped with a warning.
    """
    from pictorch.data.decode import load_images

    if top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {top_k}")
    clf = _clf(ckpt, device, tta)
    files = collect_files(inputs)
    images, ok, _bad = load_images(files, mode=clf.mode, size=clf.image_size, resize="fit")
    probs = clf.predict_proba(images)
    k = min(top_k, probs.shape[1])
    p, idx = probs.topk(k, dim=1)
    return [{"path": path, "top": [{"label": clf.classes[int(j)], "prob": float(q)}
                                   for q, j in zip(p[i], idx[i], strict=True)]}
            for i, path in enumerate(ok)]


# -- export -------------------------------------------------------------------------------------------------


class _Exported(torch.nn.Module):
    """The network with its input normalization: float N×C×H×W in [0, 1] -> logits."""

    def __init__(self, model: torch.nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def export(ckpt: str | os.PathLike | TrainedClassifier, fmt: str = "onnx", out: str | os.PathLike | None = None,
           opset: int = 17) -> dict[str, Any]:
    """Export for deployment: ONNX (onnxruntime) or TorchScript.

    The exported graph takes float32 N×C×H×W images scaled to [0, 1] at the model's size and returns logits;
    normalization is inside. A JSON sidecar (``<out>.json``) holds classes, input size and mode.

    Returns:
        ``{"path", "sidecar", "input_shape", "format"}``.
    """
    from pictorch.utils import atomic_write

    if fmt not in ("onnx", "torchscript"):
        raise ConfigError(f"unknown --format {fmt!r}; use onnx or torchscript")
    clf = _clf(ckpt, "cpu")
    c = len(clf.mean)
    h, w = clf.image_size
    wrapped = _Exported(clf.model.float().eval(), clf.mean, clf.std).eval()
    example = torch.rand(2, c, h, w)
    path = Path(out) if out else Path(str(clf.path)).with_suffix(".onnx" if fmt == "onnx" else ".pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise ConfigError("ONNX export needs the onnx package: pip install onnx onnxruntime") from None
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapped, (example,), str(path), input_names=["image"], output_names=["logits"],
                              dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
                              dynamo=False)
    else:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(wrapped, example)
            traced.save(str(path))
    sidecar = path.with_name(path.name + ".json")
    info = {"format": fmt, "classes": clf.classes, "input": "float32 N×C×H×W in [0, 1]",
            "input_shape": [None, c, h, w], "mode": clf.mode, "output": "logits (softmax for probabilities)",
            "normalization": clf.meta["normalization"], "arch": clf.meta.get("arch")}
    with atomic_write(sidecar, "w") as f:
        json.dump(info, f, indent=2)
    return {"path": path, "sidecar": sidecar, "input_shape": [c, h, w], "format": fmt}


# -- compare regimes ----------------------------------------------------------------------------------------


def _format_table(rows: list[dict[str, Any]], title: str) -> str:
    best = max((r["test_acc"] for r in rows), default=0.0)
    lines = [title, "", "| regime | test accuracy | trainable params | train time (s) | steps |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        mark = " **best**" if r["test_acc"] == best else ""
        lines.append(f"| {r['regime']} | {r['test_acc']:.4f}{mark} | {r['trainable_params']:,} | "
                     f"{r['seconds']:.1f} | {r['steps']} |")
    return "\n".join(lines)


def compare(cfg: ClassifyConfig, train_cfg: Any, regimes: Sequence[str] = ("head", "last-k", "full", "scratch"),
            out_dir: str | os.PathLike = "runs/compare", test_split: float = 0.2, test_limit: int = 0,
            steps: dict[str, int] | None = None, title: str | None = None,
            tune_threads: bool = True) -> dict[str, Any]:
    """Train each regime on the same split and score it on the same test images.

    ``cfg`` gives the data and the trained weights to start from (``init``/``pretrained``/``weights``; the
    ``scratch`` regime builds the same architecture from random weights). Built-in datasets are tested on
    their test split; a folder is split once (stratified, ``test_split``).

    Writes ``compare.csv`` and ``compare.md``; returns ``{"rows", "table", "csv", "markdown", "winner"}``.
    """
    from pictorch.tasks.classify.data import is_builtin
    from pictorch.utils import atomic_write

    bad = [r for r in regimes if r not in REGIMES]
    if bad:
        raise ConfigError(f"unknown regime(s) {', '.join(bad)}; known: {', '.join(REGIMES)}")
    if not regimes:
        raise ConfigError("give at least one regime")
    if any(r != "scratch" for r in regimes) and not (cfg.init or cfg.pretrained or cfg.weights):
        raise ConfigError("compare needs trained weights to transfer from: --init CKPT, --pretrained imagenet or "
                          "--weights FILE (or compare only --regimes scratch)")
    seed = train_cfg.seed
    init = read_init(cfg.init) if cfg.init else None
    base = replace(cfg, regime="scratch", init=None, pretrained=None, weights=None)
    if init is not None:  # scratch uses the same architecture and input format as the transferred model
        base = replace(base, arch=init.arch, model_kwargs={**init.model_kwargs, **cfg.model_kwargs},
                       image_size=cfg.image_size or (init.image_size[0] if init.image_size else None),
                       mode=cfg.mode or init.mode)
    data, note = load_training_data(cfg, seed=seed, init=init)
    if is_builtin(cfg.data):
        test, _ = load_training_data(replace(cfg, per_class=0, limit=0), seed=seed, split="test", init=init)
        train_set = data
    else:
        train_set, test = data.split(test_split, seed=seed)
    if test_limit and len(test) > test_limit:
        g = torch.Generator().manual_seed(seed)
        test = test.subset(torch.randperm(len(test), generator=g)[:test_limit].sort().values)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for regime in regimes:
        rcfg = replace(base, regime="scratch") if regime == "scratch" else replace(cfg, regime=regime)
        n_steps = (steps or {}).get(regime, train_cfg.steps)
        tcfg = replace(train_cfg, out_dir=str(out / regime), steps=n_steps, resume=False)
        t0 = time.perf_counter()
        res = train(rcfg, tcfg, data=train_set, tune_threads=tune_threads)
        seconds = time.perf_counter() - t0
        clf = TrainedClassifier.load(res["checkpoint"])
        rep = clf.evaluate_set(test)
        rows.append({"regime": regime, "test_acc": rep["accuracy"], "macro_f1": rep["macro"]["f1"],
                     "trainable_params": res["trainable_params"], "total_params": res["total_params"],
                     "seconds": seconds, "steps": res["step"], "train_images": res["train_images"],
                     "test_images": len(test), "checkpoint": str(res["checkpoint"])})
    title = title or (f"{cfg.data}: {len(train_set)} training images, {len(test)} test images, "
                      f"{len(train_set.classes)} classes")
    table = _format_table(rows, title)
    with atomic_write(out / "compare.md", "w") as f:
        f.write(table + "\n")
    with atomic_write(out / "compare.csv", "w") as f:
        f.write("regime,test_acc,macro_f1,trainable_params,total_params,seconds,steps,train_images,test_images\n")
        for r in rows:
            f.write(f"{r['regime']},{r['test_acc']:.4f},{r['macro_f1']:.4f},{r['trainable_params']},"
                    f"{r['total_params']},{r['seconds']:.2f},{r['steps']},{r['train_images']},{r['test_images']}\n")
    ranked = sorted(rows, key=lambda r: -r["test_acc"])
    winner = ranked[0]
    summary = f"best: {winner['regime']} ({winner['test_acc']:.4f})"
    if len(ranked) > 1:
        summary += f", {100 * (winner['test_acc'] - ranked[1]['test_acc']):+.1f} points over {ranked[1]['regime']}"
        scratch = next((r for r in rows if r["regime"] == "scratch"), None)
        if scratch is not None and scratch is not winner:
            summary += f", {100 * (winner['test_acc'] - scratch['test_acc']):+.1f} over scratch"
    return {"rows": rows, "table": table, "summary": summary, "winner": winner["regime"], "csv": out / "compare.csv",
            "markdown": out / "compare.md", "note": note}


# -- transfer demo ------------------------------------------------------------------------------------------


def transfer_demo(out_dir: str | os.PathLike = "runs/transfer-demo", data_dir: str | None = None,
                  pretrain_steps: int = 500, steps: int = 150, per_class: int = 50, arch: str = "small_cnn",
                  model_kwargs: dict[str, Any] | None = None, batch_size: int = 64, lr: float = 3e-3,
                  test_limit: int = 2000, seed: int = 0, progress: bool = True, source: str = "0-4",
                  target: str = "5-9", data: str = "fashion-mnist", tune_threads: bool = True) -> dict[str, Any]:
    """The lecture's transfer experiment on real data.

    Pretrains ``arch`` from scratch on Fashion-MNIST classes ``source`` (0–4: T-shirt, trouser, pullover, dress,
    coat: the stand-in for ImageNet), then learns classes ``target`` (5–9: sandal, shirt, sneaker, bag, ankle
    boot) from ``per_class`` images each with every regime (head, last-k, full, scratch), all scored on the same
    test images. Writes the pretrained run, one run per regime, ``compare.md`` and ``compare.csv``.
    """
    from pictorch.engine.config import TrainConfig

    out = Path(out_dir)
    base_train = TrainConfig(out_dir=str(out / "pretrain"), steps=pretrain_steps, batch_size=128, lr=lr,
                             seed=seed, progress=progress, log_every=50, precision="auto")
    pre_cfg = ClassifyConfig(data=data, data_dir=data_dir, classes=source, arch=arch,
                             model_kwargs=dict(model_kwargs or {}), regime="scratch", augment="light",
                             val_split=0.0, label_smoothing=0.1)
    t0 = time.perf_counter()
    pre = train(pre_cfg, base_train, tune_threads=tune_threads)
    pre_seconds = time.perf_counter() - t0
    cfg = ClassifyConfig(data=data, data_dir=data_dir, classes=target, per_class=per_class, init=str(pre["checkpoint"]),
                         regime="full", k=2, augment="light", val_split=0.0, label_smoothing=0.1)
    tcfg = TrainConfig(out_dir=str(out), steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress,
                       log_every=50, precision="auto")
    res = compare(cfg, tcfg, out_dir=out, test_limit=test_limit, tune_threads=tune_threads,
                  title=(f"Transfer: pretrained on {data} classes {source} ({pre['train_images']} images, "
                         f"{pre['step']} steps, {pre_seconds:.0f}s), then classes {target} from {per_class} images "
                         "per class"))
    res["pretrain"] = {"checkpoint": str(pre["checkpoint"]), "seconds": pre_seconds, "steps": pre["step"],
                       "train_acc": pre["metrics"].get("acc")}
    return res


__all__ = ["TrainedClassifier", "collect_files", "compare", "evaluate", "export", "load", "load_eval_set", "predict",
           "read_init", "train", "transfer_demo"]
