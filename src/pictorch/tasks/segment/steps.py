"""The segmentation training task: config, encoder freezing, one optimization step, validation.

Transfer regimes for a pretrained encoder: ``freeze_encoder=-1`` freezes the whole encoder (only decoder
and head learn; its BatchNorm layers stay in eval mode so their statistics do not drift either),
``freeze_encoder=N`` the first N encoder stages (input side), 0 trains everything.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pictorch.engine.trainer import StepContext, TrainTask
from pictorch.errors import ConfigError

TASK = "segment"
ARCHS = {"unet": "segment.unet", "segnet": "segment.segnet", "fcn": "segment.fcn"}


@dataclass
class SegmentConfig:
    """Options of ``pictorch segment train`` beside the shared TrainConfig.

    Attributes:
        data: A folder with ``images/`` and ``masks/``, ``nuclei`` (DSB 2018 image of the stardist wheel),
            ``synthetic`` or ``synthetic-multi`` (shapes, for tests and demos).
        fold: Quadrant split (0..3, the test quadrant; the other three train); default 0 for ``nuclei``,
            none for folders.
        val_data: A folder scored during training (``--val-every``) and at the end.
        mode: ``L`` or ``RGB`` (default: from the data).
        classes: Declared class names, comma-separated (bounds the mask values).
        limit: At most this many training images (0: all).
        arch: ``unet``, ``segnet``, ``fcn`` (or a registered ``segment.*`` name).
        encoder: A registered backbone for U-Net/FCN (``resnet18``, ``vgg11_bn``, ``efficientnet_b0``...);
            None: U-Net's own encoder (FCN: resnet18).
        model_kwargs: More constructor arguments (``width``, ``depth``, ``width_mult``, ``skips``...).
        pretrained: ``imagenet`` weights for the encoder.
        weights: An encoder weights file.
        freeze_encoder: -1: freeze the whole encoder; N > 0: its first N stages; 0: train everything.
        loss: ``name[:weight]`` terms joined by ``+`` (ce, bce, dice, jaccard, focal, tversky).
        class_weights: ``none``, ``balanced`` (n / (K·count) from the training pixels) or ``w0,w1,...``.
        augment: ``none``, ``light``, ``medium``, ``strong`` or ``key=value,...`` (hflip, vflip, rot90,
            rotate, scale, crop, elastic).
        crop: Training crop side (default: the largest image side, capped at 256).
        threshold: Foreground probability threshold of binary models.
        channels_last: Train in channels-last memory format (on by default: with bf16 autocast a width-16
            U-Net trained 2.1x faster than without it on this project's AVX512-BF16 CPU, SegNet the same
            speed either way; the checkpoint is stored in the standard layout).
    """

    data: str = "nuclei"
    fold: int | None = None
    val_data: str | None = None
    mode: str | None = None
    classes: str | None = None
    limit: int = 0
    arch: str = "unet"
    encoder: str | None = None
    model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    pretrained: str | None = None
    weights: str | None = None
    freeze_encoder: int = 0
    loss: str = "ce+dice"
    class_weights: str = "none"
    augment: str = "light"
    crop: int | None = None
    threshold: float = 0.5
    channels_last: bool = True

    def __post_init__(self) -> None:
        from pictorch.data.augment_masks import JointAugment, parse_joint_augment
        from pictorch.engine.config import check_fields
        from pictorch.losses.segmentation import build_loss

        if self.arch not in ARCHS and not self.arch.startswith("segment."):
            raise ConfigError(f"unknown --arch {self.arch!r}; known: {', '.join(ARCHS)}")
        check_fields(self, {"fold": (0, 3), "crop": ">= 8", "threshold": "(0, 1)", "limit": ">= 0"},
                     choices={"mode": ("L", "RGB")}, notes={"fold": "the test quadrant"})
        if self.freeze_encoder and not (self.pretrained or self.weights):
            raise ConfigError("--freeze-encoder keeps pretrained layers fixed: also give --pretrained imagenet or "
                              "--weights FILE")
        build_loss(self.loss)
        JointAugment(**parse_joint_augment(self.augment))
        parse_class_weights(self.class_weights, None)

    @property
    def registry_name(self) -> str:
        return ARCHS.get(self.arch, self.arch)


def parse_class_weights(spec: str, counts: list[int] | None) -> list[float] | None:
    """``none`` → None; ``balanced`` → n / (K·count) from pixel counts; ``1,2.5`` → those numbers."""
    s = (spec or "none").strip()
    if s == "none":
        return None
    if s == "balanced":
        if counts is None:
            return None
        total, k = sum(counts), len(counts)
        return [total / (k * max(c, 1)) for c in counts]
    try:
        vals = [float(v) for v in s.split(",")]
    except ValueError:
        raise ConfigError(f"--class-weights must be none, balanced or numbers like 1,3; got {spec!r}") from None
    if any(v < 0 for v in vals):
        raise ConfigError("--class-weights must be >= 0")
    if counts is not None and len(vals) != len(counts):
        raise ConfigError(f"--class-weights has {len(vals)} values for {len(counts)} classes")
    return vals


def cosine_with_warmup(total: int, warmup: float = 0.05):
    """LR factor: linear warm-up over ``warmup`` of the steps, then cosine to 1%."""
    total = max(1, int(total))
    warm = max(1, int(total * warmup))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = min(1.0, (step - warm) / max(1, total - warm))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))

    return f


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only, none on biases and norm parameters (``dim < 2``)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0})
            if g["params"]]


def freeze_encoder(model: nn.Module, n: int) -> list[nn.Module]:
    """Freeze the whole encoder (``n = -1``) or its first ``n`` stages; returns their norm layers (kept in
    eval mode while training)."""
    if n == 0:
        return []
    stages = model.encoder_stages()
    if n > len(stages):
        raise ConfigError(f"--freeze-encoder {n}: the encoder has {len(stages)} stages")
    frozen = stages if n < 0 else stages[:n]
    norms = []
    for s in frozen:
        for p in s.parameters():
            p.requires_grad_(False)
        norms += [m for m in s.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    return norms


class SegmentTask(TrainTask):
    """Trains a segmentation network on uint8 crops (``batch["image"]``, ``batch["mask"]``).

    Args:
        cfg: Segmentation options.
        classes: Class names (two: binary, one output channel).
        colors: A colour per class (overlays).
        in_chans: Image channels.
        mean, std: Per-channel normalization of x/255.
        class_weights: Loss class weights or None.
        val: A SegSet scored by :meth:`validate`, or None.
        lr, weight_decay: Optimizer settings.
        data_info: Where the data came from (checkpoint meta).
    """

    task_name = TASK

    def __init__(self, cfg: SegmentConfig, classes: list[str], colors: list, in_chans: int, mean: list[float],
                 std: list[float], class_weights: list[float] | None = None, val: Any = None, lr: float = 1e-3,
                 weight_decay: float = 1e-4, data_info: dict[str, Any] | None = None):
        from pictorch.data.augment_masks import JointAugment, parse_joint_augment
        from pictorch.losses.segmentation import build_loss

        self.cfg = cfg
        self.classes, self.colors = list(classes), [list(c) for c in colors]
        self.binary = len(self.classes) == 2
        self.in_chans = int(in_chans)
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]
        self.class_weights = class_weights
        self.val = val
        self.lr, self.weight_decay = lr, weight_decay
        self.data_info = dict(data_info or {})
        self.loss_fn = build_loss(cfg.loss, class_weights=class_weights)
        self.augment = JointAugment(**parse_joint_augment(cfg.augment))
        self.model_kwargs: dict[str, Any] = {**cfg.model_kwargs, "in_chans": self.in_chans,
                                             "num_classes": 1 if self.binary else len(self.classes)}
        if cfg.encoder:
            self.model_kwargs["encoder"] = cfg.encoder
        self._frozen_norms: list[nn.Module] = []
        self.trainable_params = 0
        self.total_params = 0
        self.multiple = 1

    def build_model(self) -> nn.Module:
        from pictorch.registry import create_with_weights

        model = create_with_weights(self.cfg.registry_name, self.cfg.pretrained, self.cfg.weights, **self.model_kwargs)
        self._frozen_norms = freeze_encoder(model, self.cfg.freeze_encoder)
        self.trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.total_params = sum(p.numel() for p in model.parameters())
        self.multiple = int(model.multiple)
        if self.cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def build(self) -> dict[str, nn.Module]:
        return {"model": self.build_model()}

    def configure_optimizers(self, modules: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {"opt": torch.optim.AdamW(param_groups(modules["model"], self.weight_decay), lr=self.lr)}

    def configure_schedulers(self, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        return {"opt": torch.optim.lr_scheduler.LambdaLR(optimizers["opt"], cosine_with_warmup(total_steps))}

    def on_fit_start(self, ctx: StepContext) -> None:
        self.augment.to(ctx.device)
        self.loss_fn.to(ctx.device)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        from pictorch.data.loader import to_float

        return to_float(images, self.mean, self.std)

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        model, opt = ctx.modules["model"], ctx.optimizers["opt"]
        model.train()
        for m in self._frozen_norms:
            m.eval()
        self.augment.train()
        x, y = self.augment(self.prepare(batch["image"]), batch["mask"].long())
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        terms = self.loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        ctx.backward(terms["loss"])
        opt.step()
        with torch.no_grad():
            pred = (logits[:, 0] > 0).long() if self.binary else logits.argmax(1)
            valid = y != 255
            if self.binary:
                inter = ((pred == 1) & (y == 1) & valid).sum()
                union = (((pred == 1) | (y == 1)) & valid).sum()
                score = inter.float() / union.clamp_min(1).float()
            else:
                score = ((pred == y) & valid).sum().float() / valid.sum().clamp_min(1).float()
        return {**{k: v.detach() for k, v in terms.items()}, ("iou" if self.binary else "pix_acc"): score}

    def validate(self, ctx: StepContext) -> dict[str, float]:
        if self.val is None or len(self.val) == 0:
            return {}
        from pictorch.metrics.segmentation import segmentation_report
        from pictorch.tasks.segment.inference import predict_masks

        model = ctx.modules["model"]
        preds = predict_masks(model, self.val.images, self.mean, self.std, self.binary, self.cfg.threshold,
                              ctx.device)
        rep = segmentation_report(preds, self.val.masks, self.classes, ignore_index=255)
        out = {"val_miou": rep["miou"], "val_pix_acc": rep["pixel_accuracy"]}
        if "foreground" in rep:
            out.update(val_iou=rep["foreground"]["iou"], val_dice=rep["foreground"]["dice"])
        return out

    def on_picture(self, ctx: StepContext, path: Path) -> None:
        if self.val is None or len(self.val) == 0:
            return
        from pictorch.tasks.segment.inference import predict_masks
        from pictorch.tasks.segment.reports import save_overlay_grid

        images, masks = self.val.images[:4], self.val.masks[:4]
        preds = predict_masks(ctx.modules["model"], images, self.mean, self.std, self.binary, self.cfg.threshold,
                              ctx.device)
        save_overlay_grid(images, masks, preds, self.colors, path)

    def checkpoint_meta(self) -> dict[str, Any]:
        mode = "L" if self.in_chans == 1 else "RGB"
        return {
            "task": TASK,
            "classes": self.classes,
            "colors": self.colors,
            "binary": self.binary,
            "threshold": self.cfg.threshold,
            "in_chans": self.in_chans,
            "mode": mode,
            "normalization": {"mean": self.mean, "std": self.std, "scale": "x/255"},
            "input": {"size": None, "mode": mode, "mean": self.mean, "std": self.std, "range": "x/255",
                      "resize": f"none: any size, padded to a multiple of {self.multiple} and cropped back"},
            "arch": self.cfg.registry_name,
            "model_kwargs": self.model_kwargs,
            "multiple": self.multiple,
            "loss": self.cfg.loss,
            "freeze_encoder": self.cfg.freeze_encoder,
            "pretrained": self.cfg.pretrained,
            "trainable_params": self.trainable_params,
            "data": self.data_info,
        }

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.cfg)
