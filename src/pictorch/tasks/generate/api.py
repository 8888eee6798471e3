"""Python API of the GAN task: train, load, sample, interpolate, latent arithmetic, evaluate.

A façade: training is here; the loaded model and its drawing verbs live in :mod:`.inference`, evaluation and
the domain feature network in :mod:`.reports`.

Example::

    from pictorch.tasks.generate import api
    result = api.train(api.GANConfig(model="cdcgan"), TrainConfig(out_dir="runs/cgan", steps=2000, lr=2e-4))
    gan = api.load_gan("runs/cgan")
    images = gan.sample(16, labels="Sneaker")          # float [-1, 1], 16×1×28×28
    api.interpolate("runs/cgan", seeds=[1, 2], steps=10, mode="slerp", out="strip.png")
    report = api.evaluate("runs/cgan", feature_net="runs/featnet", n=2000)
    api.train(api.GANConfig(model="lapgan", levels=3), TrainConfig(out_dir="runs/lap"))    # 28 → 14 → 7
    api.train(api.GANConfig(model="stackgan", condition="attrs.csv"), TrainConfig(out_dir="runs/stack"))
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pictorch.errors import ConfigError, DataError
from pictorch.nn.latent import lerp, slerp
from pictorch.tasks.generate.inference import GAN, arithmetic, interpolate, load_gan, sample
from pictorch.tasks.generate.reports import (
    _consistency,
    default_feature_net,
    evaluate,
    feature_net_cache_dir,
    format_report,
    train_feature_net,
)
from pictorch.tasks.generate.tricks import GANConfig

__all__ = ["GAN", "GANConfig", "arithmetic", "default_feature_net", "evaluate", "feature_net_cache_dir",
           "format_report", "interpolate", "lerp", "load_gan", "sample", "slerp", "train", "train_feature_net"]
_ = _consistency  # tests reach it here


# -- training --------------------------------------------------------------------------------------------
def train(cfg: GANConfig, train_cfg: Any, data_dir: str | None = None, limit: int = 0,
          max_seconds: float = 0.0, threads: int | str = "auto") -> dict[str, Any]:
    """Train a GAN on ``cfg.data``; returns the trainer result (checkpoint, metrics, run folder).

    Args:
        cfg: Model, loss and trick switches.
        train_cfg: The shared :class:`~pictorch.engine.config.TrainConfig`.
        data_dir: Folder with dataset files (Fashion-MNIST IDX).
        limit: Use only this many training images (0: all).
        max_seconds: Stop after this much training time (0: run all steps); a fixed-budget run.
        threads: CPU threads: "auto" times real steps with 1 and all cores and keeps the faster, re-checking
            as the machine's load changes (:class:`~pictorch.engine.threads.CpuThreadTuner`); a number fixes it.
    """
    from pictorch.engine.hooks import TimeBudget
    from pictorch.engine.trainer import Trainer
    from pictorch.tasks.generate.data import load_condition_csv, load_training_images, make_loader
    from pictorch.tasks.generate.steps import GANTask

    if cfg.model == "stackgan" and (train_cfg.devices > 1 or train_cfg.num_nodes > 1):
        # each step trains one stage, so DDP would wait for gradients of the other stage's parameters
        raise ConfigError("stackgan trains one stage at a time and does not run on several devices (DDP) yet; "
                          "use --devices 1")
    channels = cfg.channels
    ds = load_training_images(cfg.data, cfg.image_size, channels, data_dir=data_dir, limit=limit)
    vector_cond = cfg.model == "stackgan" and cfg.condition != "class"
    cond, cond_names = load_condition_csv(cfg.condition, ds) if vector_cond else (None, [])
    if cfg.conditional and not vector_cond and (ds.labels is None or len(ds.classes) < 2):
        raise DataError(f"{cfg.data}: a conditional GAN needs labelled images of at least 2 classes (class "
                        "sub-folders); use --model gan or dcgan for unlabelled data"
                        + (", or --condition FILE.csv for StackGAN" if cfg.model == "stackgan" else ""))
    labelled = cfg.conditional and not vector_cond
    cfg = replace(cfg, channels=int(ds.images.shape[1]), classes=list(ds.classes) if labelled else [])
    shape = tuple(int(s) for s in ds.images.shape[1:])
    from pictorch.utils import fit_batch_size

    # a step draws batch × d_steps real samples; batch norm needs at least 2
    bs = fit_batch_size(train_cfg.batch_size, int(ds.images.shape[0]) // cfg.d_steps, "training images per "
                        "discriminator step", minimum=2)
    train_cfg = replace(train_cfg, batch_size=bs)
    loader = make_loader(ds.images, ds.labels if labelled else None, train_cfg.batch_size * cfg.d_steps,
                         seed=train_cfg.seed, extras={"cond": cond} if cond is not None else None)
    common: dict[str, Any] = {"num_classes": len(ds.classes) if labelled else 0, "total_steps": train_cfg.steps,
                              "lr": train_cfg.lr, "extra_meta": {"data": cfg.data, "data_dir": data_dir}}
    if cfg.model == "lapgan":
        from pictorch.tasks.generate.steps_multiscale import LapGANTask

        task: GANTask = LapGANTask(cfg, shape, **common)
    elif cfg.model == "stackgan":
        from pictorch.tasks.generate.steps_multiscale import StackGANTask

        task = StackGANTask(cfg, shape, cond_dim=cond.shape[1] if cond is not None else len(ds.classes),
                            one_hot=cond is None, condition_names=cond_names, fixed_conditions=cond, **common)
    else:
        task = GANTask(cfg, shape, **common)
    hooks: list[Any] = [TimeBudget(max_seconds)] if max_seconds > 0 else []
    from pictorch.engine.threads import cpu_threads

    with cpu_threads(threads) as tuner:
        if tuner is not None:
            hooks.append(tuner)
        result = Trainer(train_cfg, hooks=hooks).fit(task, loader)
    result["warnings"] = task.monitor.warnings
    if tuner is not None and tuner.enabled:
        result["cpu_threads"] = tuner.summary()
    return result
