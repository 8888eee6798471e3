"""Python API of the segment capability.

::

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.segment import api
    from pictorch.tasks.segment.steps import SegmentConfig

    res = api.train(SegmentConfig(data="nuclei", fold=0, arch="unet", model_kwargs={"width": 16}),
                    TrainConfig(out_dir="runs/seg", steps=300, batch_size=8))
    seg = api.load("runs/seg")                        # Segmenter: .predict(uint8 C×H×W) -> uint8 H×W
    api.predict("runs/seg", ["a.png", "more/"], out_dir="masks/", tile="auto")
    api.evaluate("runs/seg", "nuclei", fold=0, out_dir="eval/")   # report.json, confusion.png, overlays.png
    api.compare(SegmentConfig(data="nuclei", fold=0), TrainConfig(steps=300), out_dir="cmp/")
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from pictorch.errors import DataError
from pictorch.tasks.segment.inference import AUTO_OVERLAP, Segmenter
from pictorch.tasks.segment.steps import TASK, SegmentConfig

DEFAULT_CROP = 256


def training_data(cfg: SegmentConfig, seed: int = 0) -> tuple[Any, Any]:
    """(train, validation-or-None) SegSets for ``cfg``: the fold split, or the folder and ``val_data``."""
    from pictorch.tasks.segment.data import load_segset, quadrant_folds

    classes = [c.strip() for c in cfg.classes.split(",")] if cfg.classes else None
    ds = load_segset(cfg.data, mode=cfg.mode, classes=classes, limit=cfg.limit, seed=seed)
    fold = cfg.fold if cfg.fold is not None else (0 if cfg.data.strip() == "nuclei" else None)
    val = None
    if fold is not None:
        ds, val = quadrant_folds(ds, fold)
    elif cfg.data.strip().startswith("synthetic") or cfg.data.strip() == "fashion-clutter":
        val = load_segset(cfg.data, seed=seed, split="test")  # a held-out draw of the same generator
    if cfg.val_data:
        val = load_segset(cfg.val_data, mode=cfg.mode, classes=classes or ds.classes, seed=seed, split="test")
        if val.classes != ds.classes:
            raise DataError(f"{cfg.val_data}: classes {val.classes} differ from the training set's {ds.classes}")
    return ds, val


def channel_stats(images: Sequence[torch.Tensor]) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of x/255 over every pixel of the set."""
    c = int(images[0].shape[0])
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    n = 0
    for im in images:
        x = im.reshape(c, -1).double() / 255
        s += x.sum(1)
        s2 += (x * x).sum(1)
        n += x.shape[1]
    mean = s / n
    std = (s2 / n - mean**2).clamp_min(1e-12).sqrt().clamp_min(1e-3)
    return [round(float(v), 5) for v in mean], [round(float(v), 5) for v in std]


def saved_task_config(run_dir: Path) -> SegmentConfig | None:
    """The task config a run was started with (for ``--resume``)."""
    from pictorch.engine.config import saved_section

    return saved_section(run_dir, SegmentConfig)


def train(cfg: SegmentConfig, train_cfg: Any, data: Any = None, val: Any = None, tune_threads: bool = False
          ) -> dict[str, Any]:
    """Train a segmentation network through the shared Trainer.

    Args:
        cfg: Segmentation options.
        train_cfg: Shared :class:`~pictorch.engine.config.TrainConfig` (not modified).
        data, val: Already loaded SegSets (skip loading ``cfg.data``).
        tune_threads: Choose the CPU thread count by timing real steps.

    Returns:
        The Trainer's result plus ``classes``, ``train_images``, ``trainable_params``, ``total_params`` and,
        with a validation set, ``val`` (its segmentation report).
    """
    from pictorch.engine.trainer import Trainer
    from pictorch.nn.backbones.base import IMAGENET_MEAN, IMAGENET_STD
    from pictorch.nn.backbones.base import channel_stats as imagenet_stats
    from pictorch.tasks.segment.data import CropLoader
    from pictorch.tasks.segment.steps import SegmentTask, parse_class_weights

    if train_cfg.resume:
        cfg = saved_task_config(Path(train_cfg.out_dir)) or cfg
    if data is None:
        data, loaded_val = training_data(cfg, seed=train_cfg.seed)
        val = val if val is not None else loaded_val
    if len(data) == 0:
        raise DataError(f"{cfg.data}: no training images")
    c = data.num_channels
    if cfg.pretrained or cfg.weights:
        mean, std = list(imagenet_stats(IMAGENET_MEAN, c)), list(imagenet_stats(IMAGENET_STD, c))
    else:
        mean, std = channel_stats(data.images)
    counts = data.pixel_counts()
    weights = parse_class_weights(cfg.class_weights, counts)
    crop = cfg.crop or min(DEFAULT_CROP, max(max(int(s) for s in im.shape[-2:]) for im in data.images))
    task = SegmentTask(cfg, data.classes, data.colors, c, mean, std, class_weights=weights, val=val,
                       lr=train_cfg.lr, weight_decay=train_cfg.weight_decay,
                       data_info={"data": cfg.data, "fold": cfg.fold, "train": data.describe(),
                                  "val_images": len(val) if val is not None else 0, "crop": crop})
    loader = CropLoader(data, crop, train_cfg.batch_size, seed=train_cfg.seed)
    from pictorch.engine.threads import cpu_threads

    # the one thread policy: tune on real steps, or keep the count the command set; restored afterwards
    with cpu_threads("auto" if tune_threads else torch.get_num_threads()) as tuner:
        result = Trainer(replace(train_cfg), hooks=[tuner] if tuner is not None else []).fit(task, loader)
    result.update(classes=data.classes, train_images=len(data), trainable_params=task.trainable_params,
                  total_params=task.total_params, crop=crop, mask_format=data.mask_format)
    if val is not None and len(val):
        from pictorch.metrics.segmentation import segmentation_report
        from pictorch.tasks.segment.inference import predict_masks

        model = result["modules"]["model"]
        preds = predict_masks(model, val.images, mean, std, task.binary, cfg.threshold,
                              next(model.parameters()).device)
        result["val"] = segmentation_report(preds, val.masks, data.classes, ignore_index=255)
    return result


def load(path: str | Path, device: str = "auto") -> Segmenter:
    """A :class:`~pictorch.tasks.segment.inference.Segmenter` from a checkpoint or run folder."""
    return Segmenter.load(path, device)


def predict(ckpt: str | Path, inputs: Sequence[str], out_dir: str | Path = "segmentation",
            tile: int | str | None = "auto", overlap: int = AUTO_OVERLAP, device: str = "auto",
            progress: Any = None) -> dict[str, Any]:
    """Segment image files/folders: ``<name>_mask.png`` (palette PNG of class indices) and
    ``<name>_overlay.png`` per image in ``out_dir`` (never replacing earlier files), and a summary.

    Returns:
        ``{"results": [{"path", "mask", "overlay", "size", "class_pixels"}], "skipped": [(path, why)]}``.
    """
    from pictorch.data.decode import is_image_file, load_image
    from pictorch.errors import BadImageError
    from pictorch.tasks.segment.reports import free_path, overlay, save_mask_png, save_rgb

    seg = load(ckpt, device)
    files: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                            and is_image_file(f))
        elif p.exists():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    if not files:
        raise DataError(f"no images in {', '.join(inputs)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, skipped = [], []
    from pictorch.viz.progress import track

    for f in track(files, progress):
        try:
            im = load_image(f, mode=seg.mode)
        except BadImageError as e:
            skipped.append((str(f), str(e)))
            continue
        mask = seg.predict(im, tile=tile, overlap=overlap)
        mp = save_mask_png(mask, seg.colors, free_path(out / f"{f.stem}_mask.png"))
        op = save_rgb(overlay(im, mask, seg.colors), free_path(out / f"{f.stem}_overlay.png"))
        counts = torch.bincount(mask.reshape(-1).long(), minlength=len(seg.classes)).tolist()
        results.append({"path": str(f), "mask": str(mp), "overlay": str(op), "size": list(mask.shape),
                        "class_pixels": dict(zip(seg.classes, counts, strict=False))})
    if not results:
        raise DataError(f"none of the {len(files)} inputs could be read (first: {skipped[0][1]})")
    return {"results": results, "skipped": skipped}


def evaluate(ckpt: str | Path, data: str, out_dir: str | Path = "evaluation", fold: int | None = None,
             tile: int | str | None = "auto", overlap: int = AUTO_OVERLAP, device: str = "auto",
             limit: int = 0, progress: Any = None) -> dict[str, Any]:
    """Score a checkpoint on a mask folder (or ``nuclei`` with its test quadrant ``fold``, default 0):
    writes ``report.json``, ``confusion.png`` and ``overlays.png`` (first 4 images) into a fresh ``out_dir``;
    ``progress(done, total)`` after each image (:mod:`pictorch.viz.progress`).
    """
    from pictorch.metrics.segmentation import segmentation_report
    from pictorch.tasks.segment.data import load_segset, quadrant_folds
    from pictorch.tasks.segment.reports import free_path, save_confusion_png, save_overlay_grid
    from pictorch.viz.progress import track

    seg = load(ckpt, device)
    ds = load_segset(data, mode=seg.mode, classes=seg.classes, limit=limit, split="test")
    if data.strip() == "nuclei" or fold is not None:
        _, ds = quadrant_folds(ds, 0 if fold is None else fold)
    if ds.classes != seg.classes:
        raise DataError(f"{data}: classes {ds.classes} differ from the model's {seg.classes}")
    t0 = time.perf_counter()
    preds = [seg.predict(im, tile=tile, overlap=overlap) for im in track(ds.images, progress)]
    seconds = time.perf_counter() - t0
    rep = segmentation_report(preds, ds.masks, seg.classes, ignore_index=255)
    rep["images_per_s"] = len(ds) / max(seconds, 1e-9)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"report": free_path(out / "report.json"), "confusion": free_path(out / "confusion.png"),
             "overlays": free_path(out / "overlays.png")}
    save_confusion_png(rep["confusion"], seg.classes, files["confusion"])
    save_overlay_grid(ds.images[:4], ds.masks[:4], preds[:4], seg.colors, files["overlays"])
    rep["files"] = {k: str(v) for k, v in files.items()}
    files["report"].write_text(json.dumps(rep, indent=2))
    return rep


#: CPU-sized defaults of ``compare`` (each ~0.1-2 M parameters; the paper sizes are 31 M U-Net, 29 M SegNet).
COMPARE_DEFAULTS: dict[str, dict[str, Any]] = {
    "unet": {"width": 16, "depth": 4},
    "segnet": {"width_mult": 0.25, "depth": 4},
    "fcn": {"encoder": "resnet18"},
}


def compare(cfg: SegmentConfig, train_cfg: Any, archs: Sequence[str] = ("unet", "segnet", "fcn"),
            arch_kwargs: dict[str, dict[str, Any]] | None = None, out_dir: str | Path = "runs/segment-compare"
            ) -> dict[str, Any]:
    """Train each architecture on the same split and budget; report IoU/Dice, parameters, memory, speed.

    Memory is what a training forward keeps for backward (:func:`~pictorch.tasks.segment.reports.memory_profile`,
    on one batch at the training crop), split encoder/decoder, plus the encoder → decoder hand-off.

    Returns:
        ``{"rows": [...], "report": path}``; ``report.json`` is written into ``out_dir``.
    """
    from pictorch import create_model
    from pictorch.tasks.segment.reports import count_params, free_path, memory_profile

    data, val = training_data(cfg, seed=train_cfg.seed)
    if val is None:
        raise DataError("compare scores every network on held-out images: use --fold (nuclei) or --val-data")
    out = Path(out_dir)
    rows = []
    for arch in archs:
        kw = {**COMPARE_DEFAULTS.get(arch, {}), **((arch_kwargs or {}).get(arch, {}))}
        encoder = kw.pop("encoder", None)
        acfg = replace(cfg, arch=arch, model_kwargs=kw, encoder=encoder)
        res = train(acfg, replace(train_cfg, out_dir=str(out / arch)), data=data, val=val)
        model = create_model(acfg.registry_name, in_chans=data.num_channels,
                             num_classes=1 if data.binary else len(data.classes),
                             **{**kw, **({"encoder": acfg.encoder} if acfg.encoder else {})}).train()
        x = torch.randn(train_cfg.batch_size, data.num_channels, res["crop"], res["crop"])
        mem = memory_profile(model, x)
        rep = res["val"]
        fg = rep.get("foreground", {})
        rows.append({"arch": arch, "kwargs": kw, **count_params(model), "iou": fg.get("iou", rep["miou"]),
                     "dice": fg.get("dice", rep["mdice"]), "miou": rep["miou"],
                     "pixel_accuracy": rep["pixel_accuracy"], "train_img_per_s": res["images_per_s"],
                     "seconds": res["seconds"], "steps": res["step"], "memory": mem,
                     "checkpoint": str(res["checkpoint"])})
    out.mkdir(parents=True, exist_ok=True)
    path = free_path(out / "report.json")
    path.write_text(json.dumps({"rows": rows, "data": cfg.data, "fold": cfg.fold}, indent=2))
    return {"rows": rows, "report": str(path)}


__all__ = ["TASK", "compare", "evaluate", "load", "predict", "train", "training_data"]
