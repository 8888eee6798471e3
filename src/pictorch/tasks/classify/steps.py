"""The classifier's training task: config, the fine-tuning regimes, one optimization step, validation with
early stopping.

Regimes (the lecture's three ways to reuse a trained network, plus training from scratch):

* ``head``: freeze everything, replace the output layer, train only it. The frozen part's BatchNorm layers
  stay in eval mode (their running statistics are not updated either), so frozen weights are bit-identical
  after training.
* ``last-k``: replace the output layer and train the last ``k`` groups of ``model.stages()`` (the last group
  is the head, so ``k=1`` trains the head group and ``k=2`` also the last feature stage); the rest is frozen
  as in ``head``.
* ``full``: fine-tune everything; the backbone (all but the output layer) at ``lr * backbone_lr_mult``.
* ``scratch``: a freshly initialised network, everything trained at ``lr``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pictorch.engine.config import MAX_IMAGE_SIDE
from pictorch.engine.trainer import StepContext, TrainTask
from pictorch.errors import ConfigError
from pictorch.tasks.classify.regimes import (  # noqa: F401 - the regimes moved there; re-exported
    REGIMES,
    RegimePlan,
    apply_regime,
    classifier_module,
    count_params,
    frozen_norm_layers,
    param_names,
)

TASK = "classify"
EMA_MODULE = "model_ema"  # the weight average's name among the checkpoint's modules (its deployed one)
SCHEDULES = ("onecycle", "cosine", "constant")
AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    "none": {"hflip": 0.0},
    "light": {"hflip": 0.5, "shift": 0.1},
    "medium": {"hflip": 0.5, "rotate": 10.0, "shift": 0.1, "scale": 0.1, "erase": 0.25},
    "strong": {"hflip": 0.5, "rotate": 15.0, "shift": 0.1, "scale": 0.15, "crop": 0.7, "erase": 0.5},
}


@dataclass
class ClassifyConfig:
    """Options of ``pictorch classify train`` beside the shared :class:`~pictorch.engine.config.TrainConfig`.

    Attributes:
        data: An image folder (one subfolder per class), "fashion-mnist" or "synthetic" (shapes, for tests).
        data_dir: Folder with the Fashion-MNIST IDX files.
        classes: Subset of the dataset's classes: indices/ranges "0-4", "1,3,5", or folder names "cat,dog".
        per_class: Keep at most this many training images per class (0: all), to make small datasets.
        image_size: Resize images to this side (default: native size; mixed-size folders: the most common).
        mode: "L" or "RGB" (default: from the data).
        arch: Registered model name (``pictorch.list_models()``), e.g. small_cnn, resnet18, vgg11_bn,
            classify.scalable_cnn, efficientnet_b0.
        model_kwargs: Extra constructor arguments of the architecture (e.g. {"stem": "cifar"}).
        pretrained: "imagenet" (or another tag known to the backbone) for pretrained weights.
        weights: A weights file for the backbone.
        init: A previous classify checkpoint to start from (its backbone; a new head for the new classes).
        regime: head, last-k, full or scratch (default: full with pretrained/init weights, else scratch).
        k: Groups of ``model.stages()`` trained by ``last-k`` (counted from the head).
        backbone_lr_mult: LR factor of the non-head trainable parameters in ``full`` and ``last-k``.
        drop_rate: Dropout before the classifier.
        label_smoothing: Cross-entropy label smoothing.
        schedule: onecycle, cosine (with a short warm-up) or constant.
        optimizer: adamw or sgd (Nesterov momentum 0.9).
        augment: A preset (none, light, medium, strong) or "key=value,..." for
            :class:`~pictorch.data.augment.Augment` (hflip, vflip, rotate, shift, scale, crop, erase, ...).
        class_weights: "none" or "balanced" (weights n / (K * count) in the loss, for imbalanced folders).
        val_split: Share of the training images held out for validation / early stopping (0: none).
        patience: Stop after this many validations without a better validation accuracy (0: never); the best
            weights are kept.
        limit: Use at most this many training images (0: all).
        channels_last: Train in the channels-last memory format (on by default: oneDNN's native layout; the
            small CNN trained 1.19× faster than NCHW, ResNet-18 at 64 px 1.08× (``bench/step_ab.py``,
            emulated AVX2, interleaved in one process); the checkpoint is stored in the standard layout either
            way, and the loss follows the same trajectory to float rounding).
        ema: Keep an exponential moving average of the weights with this decay (0: off; e.g. 0.999). The
            average is what validation, early stopping, the checkpoint's deployed model and ``--init`` use;
            the raw weights are saved beside it for ``--resume``.
    """

    data: str = "fashion-mnist"
    data_dir: str | None = None
    classes: str | None = None
    per_class: int = 0
    image_size: int | None = None
    mode: str | None = None
    arch: str = "small_cnn"
    model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    pretrained: str | None = None
    weights: str | None = None
    init: str | None = None
    regime: str | None = None
    k: int = 2
    backbone_lr_mult: float = 0.1
    drop_rate: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "onecycle"
    optimizer: str = "adamw"
    augment: str = "light"
    class_weights: str = "none"
    val_split: float = 0.1
    patience: int = 0
    limit: int = 0
    channels_last: bool = True
    ema: float = 0.0

    def __post_init__(self) -> None:
        from pictorch.engine.config import check_fields

        if self.regime is None:
            self.regime = "full" if (self.pretrained or self.weights or self.init) else "scratch"
        check_fields(self, {"per_class": (0, None), "image_size": (4, MAX_IMAGE_SIDE), "k": (1, 1000),
                            "backbone_lr_mult": (0, 100), "drop_rate": (0, 0.99), "label_smoothing": (0, 0.99),
                            "val_split": (0, 0.9), "patience": (0, None), "limit": (0, None), "ema": "[0, 1)"},
                     choices={"regime": REGIMES, "schedule": SCHEDULES, "optimizer": ("adamw", "sgd"),
                              "class_weights": ("none", "balanced"), "mode": ("L", "RGB")},
                     notes={"ema": "a decay; 0: off, e.g. 0.999"})
        if self.regime != "scratch" and not (self.pretrained or self.weights or self.init):
            raise ConfigError(f"--regime {self.regime} reuses trained weights: give --init CKPT, --pretrained "
                              "imagenet or --weights FILE (or use --regime scratch)")
        if self.regime == "scratch" and (self.init or self.pretrained or self.weights):
            raise ConfigError("--regime scratch starts from random weights; drop --init/--pretrained/--weights "
                              "or pick head, last-k or full")
        if self.init and (self.pretrained or self.weights):
            raise ConfigError("--init takes the backbone from a classify checkpoint; do not combine it with "
                              "--pretrained/--weights")
        parse_augment(self.augment)


def parse_augment(spec: str | None) -> dict[str, Any]:
    """A preset name or "key=value,..." -> Augment keyword arguments (validated by Augment itself)."""
    from pictorch.data.augment import parse_augment_spec

    known = {"hflip", "vflip", "rotate", "shift", "scale", "crop", "color_jitter", "noise", "erase"}
    return parse_augment_spec(spec, AUGMENT_PRESETS, known)


def lr_factor(schedule: str, total: int | Any, warmup_frac: float = 0.3) -> Any:
    """Multiplier of each parameter group's base LR at a given step.

    ``onecycle``: linear warm-up from 1/25 over ``warmup_frac`` of the steps, then cosine to ~0 (Smith's
    one-cycle without momentum cycling). ``cosine``: a short warm-up (5%, at most 200 steps) then cosine to 1%.
    ``total`` may be a callable: the run's live length (a time budget refits it).
    """
    def n() -> int:
        return max(1, int(total() if callable(total) else total))

    if schedule == "constant":
        return lambda step: 1.0
    if schedule == "onecycle":
        def onecycle(step: int) -> float:
            t_all = n()
            warm = max(1, int(t_all * warmup_frac))
            if step < warm:
                return 1 / 25 + (1 - 1 / 25) * step / warm
            t = min(1.0, (step - warm) / max(1, t_all - warm))
            return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * t))

        return onecycle

    def cosine(step: int) -> float:
        t_all = n()
        warm = max(1, min(200, t_all // 20))
        if step < warm:
            return (step + 1) / warm
        t = min(1.0, (step - warm) / max(1, t_all - warm))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))

    return cosine


# -- the task ---------------------------------------------------------------------------------------------


class ClassifyTask(TrainTask):
    """Trains a classifier on uint8 images (``batch["image"]``, ``batch["label"]``).

    Args:
        cfg: Classifier options.
        classes: Class names (label order).
        in_chans: Image channels.
        image_size: (H, W) of the training images.
        mean, std: Per-channel normalization of x/255 (stored in the checkpoint).
        val: (images uint8, labels) held out for validation / early stopping, or None.
        class_counts: Training images per class (for balanced class weights).
        init_state: Backbone state dict of ``cfg.init`` (loaded, with a new head).
        model_kwargs: Constructor kwargs of the architecture (``in_chans``/``num_classes`` added here).
        lr, weight_decay: Optimizer settings.
        data_info: Where the data came from (checkpoint meta).
        extra_meta: More checkpoint metadata (e.g. who trained it).
    """

    task_name = TASK

    def __init__(self, cfg: ClassifyConfig, classes: list[str], in_chans: int, image_size: tuple[int, int],
                 mean: list[float], std: list[float], val: tuple[torch.Tensor, torch.Tensor] | None = None,
                 class_counts: list[int] | None = None, init_state: dict[str, torch.Tensor] | None = None,
                 arch: str | None = None, model_kwargs: dict[str, Any] | None = None, lr: float = 1e-3,
                 weight_decay: float = 0.0, data_info: dict[str, Any] | None = None,
                 extra_meta: dict[str, Any] | None = None):
        from pictorch.data.augment import Augment

        self.cfg = cfg
        self.extra_meta = dict(extra_meta or {})  # more checkpoint metadata (e.g. who trained it)
        self.classes = list(classes)
        self.in_chans = int(in_chans)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]
        self.val = val
        self.init_state = init_state
        self.arch = arch or cfg.arch
        self.model_kwargs = {**(model_kwargs if model_kwargs is not None else cfg.model_kwargs),
                             "in_chans": self.in_chans, "num_classes": len(self.classes)}
        if cfg.drop_rate:
            self.model_kwargs["drop_rate"] = cfg.drop_rate
        self.lr, self.weight_decay = lr, weight_decay
        self.data_info = dict(data_info or {})
        weight = None
        if cfg.class_weights == "balanced" and class_counts:
            counts = torch.tensor(class_counts, dtype=torch.float32).clamp_min(1)
            weight = counts.sum() / (len(counts) * counts)
        self.class_weight = weight
        self.augment = Augment(**parse_augment(cfg.augment), mean=self.mean, std=self.std)
        self.plan: RegimePlan | None = None
        self.trainable_params = 0
        self._frozen_norms: list[nn.Module] = []
        self.best: dict[str, Any] = {"acc": -1.0, "step": 0, "state": None, "bad": 0}
        self.stopped_early = False

    # -- model ------------------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        """The network with its weights (pretrained / init) and the regime applied."""
        from pictorch.registry import create_with_weights

        model = create_with_weights(self.arch, self.cfg.pretrained, self.cfg.weights, **self.model_kwargs)
        if self.init_state is not None:
            from pictorch.weights import load_pretrained

            load_pretrained(model, self.init_state)
        if self.cfg.regime != "scratch":
            # a new output layer for the new classes (also when the counts happen to match)
            spec = getattr(model, "pictorch_spec", None)
            model.reset_classifier(len(self.classes))
            if spec is not None:
                model.pictorch_spec = spec
        self.plan = apply_regime(model, self.cfg.regime, self.cfg.k)
        self.trainable_params = count_params(model, trainable_only=True)
        self._frozen_norms = frozen_norm_layers(model, self.plan)
        if self.cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def set_train_mode(self, model: nn.Module) -> None:
        """Train mode except the frozen part's normalization layers."""
        model.train()
        for m in self._frozen_norms:
            m.eval()

    # -- TrainTask --------------------------------------------------------------------------------------
    def build(self) -> dict[str, nn.Module]:
        model = self.build_model()
        if not self.cfg.ema:
            return {"model": model}
        from pictorch.engine.ema import ema_copy

        return {"model": model, EMA_MODULE: ema_copy(model)}

    @staticmethod
    def eval_module(ctx: StepContext) -> nn.Module:
        """The weights that are validated and deployed: the moving average when kept, else the model."""
        return ctx.modules.get(EMA_MODULE, ctx.modules["model"])

    def configure_optimizers(self, modules: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        model = modules["model"]
        assert self.plan is not None
        head = set(self.plan.head)
        mult = 1.0 if self.cfg.regime == "scratch" else self.cfg.backbone_lr_mult
        groups: list[dict[str, Any]] = []
        head_params, body_params = [], []
        for n, p in _named_params(model):
            if not p.requires_grad:
                continue
            (head_params if n in head else body_params).append(p)
        if head_params:
            groups.append({"params": head_params, "lr": self.lr, "name": "head"})
        if body_params and mult > 0:
            groups.append({"params": body_params, "lr": self.lr * mult, "name": "backbone"})
        elif body_params:
            for p in body_params:  # lr multiplier 0: effectively frozen
                p.requires_grad_(False)
        from pictorch.engine.optim import adamw, sgd

        make = sgd if self.cfg.optimizer == "sgd" else adamw
        opt = make(groups, lr=self.lr, weight_decay=self.weight_decay)
        return {"opt": opt}

    def configure_schedulers(self, optimizers: dict[str, Any], total_steps: Any) -> dict[str, Any]:
        # total_steps() is the live length: a time budget refits the run and the schedule follows it
        return {"opt": torch.optim.lr_scheduler.LambdaLR(optimizers["opt"], lr_factor(self.cfg.schedule,
                                                                                      total_steps))}

    def on_fit_start(self, ctx: StepContext) -> None:
        self.augment.to(ctx.device)
        if self.class_weight is not None:
            self.class_weight = self.class_weight.to(ctx.device)

    def prepare(self, images: torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
        from pictorch.data.loader import to_float

        x = images if device is None else images.to(device)
        return to_float(x, self.mean, self.std)

    def loss_fn(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), labels, weight=self.class_weight,
                                           label_smoothing=self.cfg.label_smoothing)

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        model = ctx.modules["model"]
        opt = ctx.optimizers["opt"]
        self.set_train_mode(model)
        self.augment.train()
        x = self.augment(self.prepare(batch["image"]))
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = batch["label"]
        logits = model(x)
        loss = self.loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        ctx.backward(loss)
        opt.step()
        if EMA_MODULE in ctx.modules:
            from pictorch.engine.ema import ema_decay_at, ema_update

            ema_update(ctx.modules[EMA_MODULE], model, ema_decay_at(self.cfg.ema, ctx.step + 1))
        acc = (logits.detach().argmax(1) == y).float().mean()
        return {"loss": loss.detach(), "acc": acc}

    @torch.no_grad()
    def predict_logits(self, model: nn.Module, images: torch.Tensor, device: torch.device,
                       batch_size: int = 256) -> torch.Tensor:
        out = [model(self.prepare(images[i:i + batch_size], device)).float()
               for i in range(0, len(images), batch_size)]
        return torch.cat(out) if out else torch.zeros(0, len(self.classes), device=device)

    def validate(self, ctx: StepContext) -> dict[str, float]:
        if self.val is None or len(self.val[0]) == 0:
            return {}
        model = self.eval_module(ctx)
        images, labels = self.val
        labels = labels.to(ctx.device)
        logits = self.predict_logits(model, images, ctx.device)
        acc = float((logits.argmax(1) == labels).float().mean())
        loss = float(nn.functional.cross_entropy(logits, labels))
        out = {"val_acc": acc, "val_loss": loss}
        final = ctx.step >= ctx.total_steps or self.stopped_early
        if acc > self.best["acc"]:
            inner = _unwrap(model)
            self.best.update(acc=acc, step=ctx.step, bad=0,
                             state={k: v.detach().clone() for k, v in inner.state_dict().items()})
        else:
            self.best["bad"] += 1
            if self.cfg.patience and self.best["bad"] >= self.cfg.patience and not final:
                self.stopped_early = True
                ctx.should_stop = True
        out["best_step"] = float(self.best["step"])
        return out

    def on_train_end(self, ctx: StepContext) -> dict[str, float] | None:
        """Deploy the best validated weights, not the last ones (validation itself changes no weights)."""
        if self.best["state"] is not None and self.best["step"] != ctx.step:
            _unwrap(self.eval_module(ctx)).load_state_dict(self.best["state"])
            return {"val_acc": self.best["acc"]}
        return None

    def state_dict(self) -> dict[str, Any]:
        """Best weights so far and the early-stopping counter: ``--resume`` continues both."""
        return {"best": dict(self.best), "stopped_early": self.stopped_early}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "best" in state:
            self.best = dict(state["best"])
        self.stopped_early = bool(state.get("stopped_early", False))

    def on_picture(self, ctx: StepContext, path: Path) -> None:
        if self.val is None or len(self.val[0]) == 0:
            return
        from pictorch.viz.grid import save_image_grid

        images, labels = self.val[0][:16], self.val[1][:16]
        probs = self.predict_logits(self.eval_module(ctx), images, ctx.device).softmax(1).cpu()
        conf, pred = probs.max(1)
        names = [f"{'✓' if p == t else '✗'} {self.classes[p]} {c:.2f}"
                 for p, t, c in zip(pred.tolist(), labels.tolist(), conf.tolist(), strict=True)]
        save_image_grid(images, path, nrow=8, labels=names)

    def checkpoint_meta(self) -> dict[str, Any]:
        assert self.plan is not None
        return {
            "task": TASK,
            "classes": self.classes,
            "num_classes": len(self.classes),
            "image_size": list(self.image_size),
            "in_chans": self.in_chans,
            "mode": "L" if self.in_chans == 1 else "RGB",
            "normalization": {"mean": self.mean, "std": self.std, "scale": "x/255"},
            "arch": self.arch,
            "model_kwargs": self.model_kwargs,
            "regime": self.cfg.regime,
            "k": self.cfg.k if self.cfg.regime == "last-k" else None,
            "trainable_params": self.trainable_params,
            "init": self.cfg.init,
            "pretrained": self.cfg.pretrained,
            "best_step": self.best["step"],
            "stopped_early": self.stopped_early,
            "ema": self.cfg.ema,
            **({"deployed_module": EMA_MODULE} if self.cfg.ema else {}),
            "data": self.data_info,
            **self.extra_meta,
        }

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.cfg)

    def divergence_hint(self) -> str:
        return "try a lower --lr, --precision 32-true, or --schedule cosine"


def _unwrap(model: nn.Module) -> nn.Module:
    from pictorch.engine.checkpoint import unwrap

    return unwrap(model)


def _named_params(model: nn.Module):
    return _unwrap(model).named_parameters()
