"""Python API of the autoencoder capability.

::

    from pictorch.tasks.autoencode import api
    result = api.train(AutoencodeConfig(model="conv", code_size=32), TrainConfig(out_dir="runs/ae", steps=2000))
    ae = api.load("runs/ae")
    codes = ae.encode(images_uint8)            # N×code_size
    recon = ae.decode(codes)                   # N×C×H×W in [0, 1]
    api.encode_files("runs/ae", ["imgs/"], "codes.npz")
    api.search("runs/ae", ["query.png"], index_from="fashion-mnist", top_k=8, out="search.png")
    api.compress_report(["runs/ae32", "runs/ae64"], data="fashion-mnist", out_dir="report/")
    api.interpolate("runs/vae", "a.png", "b.png", steps=10, out_dir="morph/")
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from pictorch.tasks.autoencode.inference import (  # noqa: F401 - the façade re-exports them
    TrainedAutoencoder,
    _load,
    _quality,
    _read_images,
    decode_codes,
    denoise_files,
    encode_files,
    interpolate,
    load,
    psnr_db,
    read_codes,
    reconstruct_files,
    slerp,
)
from pictorch.tasks.autoencode.steps import AutoencodeConfig

# -- training ---------------------------------------------------------------------------------------------


def train(cfg: AutoencodeConfig, train_cfg: Any) -> dict[str, Any]:
    """Train an autoencoder through the shared Trainer.

    With ``train_cfg.resume`` the run folder's saved task config is used (the model must match its weights).

    Returns:
        The Trainer's result (``step``, ``metrics``, ``checkpoint``, ``run_dir``, ...).
    """
    from pictorch.engine.trainer import Trainer
    from pictorch.tasks.autoencode.data import load_dataset, make_loader
    from pictorch.tasks.autoencode.steps import AutoencodeTask

    if train_cfg.resume:
        cfg = saved_task_config(Path(train_cfg.out_dir)) or cfg
    ds = load_dataset(cfg.data, split="train", data_dir=cfg.data_dir, image_size=cfg.image_size, mode=cfg.mode,
                      limit=cfg.limit, seed=train_cfg.seed)
    images = ds.images
    val = None
    if cfg.val_images > 0:
        if cfg.data in ("fashion-mnist", "fashion_mnist", "fmnist", "synthetic"):
            val = load_dataset(cfg.data, split="test", data_dir=cfg.data_dir, image_size=cfg.image_size,
                               mode=cfg.mode, limit=cfg.val_images, seed=train_cfg.seed).images
        elif len(images) >= 40:  # a folder: hold out a random 5% (at most val_images)
            g = torch.Generator().manual_seed(train_cfg.seed)
            perm = torch.randperm(len(images), generator=g)
            n_val = min(cfg.val_images, max(1, len(images) // 20))
            val, images = images[perm[:n_val]], images[perm[n_val:]]
        else:
            val = images[: cfg.val_images]
    c, h, w = images.shape[1:]
    task = AutoencodeTask(cfg, in_chans=c, image_size=(h, w), val_images=val, classes=list(ds.classes or []),
                          data_info={"data": cfg.data, "train_images": len(images)}, lr=train_cfg.lr,
                          weight_decay=train_cfg.weight_decay)
    from pictorch.utils import fit_batch_size

    bs = fit_batch_size(train_cfg.batch_size, len(images), minimum=2)
    train_cfg = replace(train_cfg, batch_size=bs) if bs != train_cfg.batch_size else train_cfg
    loader = make_loader(images, train_cfg.batch_size, train_cfg.seed)
    return Trainer(train_cfg).fit(task, loader)


def saved_task_config(run_dir: Path) -> AutoencodeConfig | None:
    """The autoencoder config saved in a run folder's config.yaml (None when absent)."""
    from pictorch.engine.config import saved_section

    return saved_section(run_dir, AutoencodeConfig)




# reports (evaluate, compare, ...) import this module's train(): reached lazily, so either imports first
_REPORTS = ('_index_search', '_index_set', '_plot_compression', 'compress_report', 'nearest_neighbours', 'pca_reconstruct', 'recall_at_1', 'search')


def __getattr__(name: str):
    if name in _REPORTS:
        from pictorch.tasks.autoencode import reports

        return getattr(reports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TrainedAutoencoder", "compress_report", "decode_codes", "denoise_files", "encode_files",  # noqa: F822
           "interpolate", "load", "nearest_neighbours", "pca_reconstruct", "recall_at_1", "reconstruct_files",
           "search", "slerp", "train"]
