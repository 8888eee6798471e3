"""Classify verbs that write reports: evaluate (report.json, confusion.png, mistakes.png), compare regimes, the transfer demo."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from pictorch.errors import ConfigError, DataError
from pictorch.tasks.classify.api import load_training_data, read_init, train
from pictorch.tasks.classify.inference import TrainedClassifier, _clf
from pictorch.tasks.classify.steps import REGIMES, ClassifyConfig

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
             device: str | None = None, tta: str = "none", progress: Any = None) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, confusion matrix PNG, most-confident-mistakes grid, JSON report.

    Args:
        ckpt: Classify checkpoint or run folder.
        data: A folder with the model's class subfolders, or fashion-mnist/synthetic (``split`` of it).
        out_dir: Where ``report.json``, ``confusion.png`` and ``mistakes.png`` go.
        limit: Score at most this many images (0: all).
        mistakes: Tiles in the mistakes grid.
        tta: Test-time augmentation ("none" or "hflip"; "none" keeps a TrainedClassifier's own setting).
        progress: ``progress(done, total)`` over the images scored (:mod:`pictorch.viz.progress`).

    Returns:
        The report (``accuracy``, ``top_k``, ``macro``, ``weighted``, ``per_class``, ``confusion``, ``count``)
        plus ``files`` (paths written) and ``note``.
    """
    from pictorch.utils import atomic_write
    from pictorch.viz.grid import save_image_grid
    from pictorch.viz.plots import plot_matrix

    clf = _clf(ckpt, device, tta)
    ds, note = load_eval_set(clf, data, data_dir=data_dir, split=split, limit=limit)
    rep = clf.evaluate_set(ds, progress)
    probs = rep.pop("_probs")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"confusion": plot_matrix(rep["confusion"], clf.classes, out / "confusion.png",
                                      title=f"confusion matrix (accuracy {rep['accuracy']:.3f})")}
    conf, pred = probs.max(1)
    wrong = (pred != ds.labels).nonzero().flatten()
    if len(wrong):
        order = wrong[conf[wrong].argsort(descending=True)][:mistakes]
        labels = [f"{clf.classes[int(ds.labels[i])]}→{clf.classes[int(pred[i])]} {float(conf[i]):.2f}"
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

