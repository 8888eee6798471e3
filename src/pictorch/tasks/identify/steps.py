"""Training embeddings: the task config, data loading (Fashion-MNIST classes or a person-per-folder tree),
P×K batches, the training step for every loss, and the embedding-spread (collapse) monitor."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from pictorch.engine.checkpoint import unwrap
from pictorch.engine.trainer import TrainTask
from pictorch.errors import ConfigError, DataError, TrainingDiverged
from pictorch.tasks.identify.losses import make_loss
from pictorch.tasks.identify.models import EmbeddingNet  # noqa: F401  (registers identify.embedder)


@dataclass
class IdentifyConfig:
    """Options of ``pictorch identify train`` beside the shared :class:`TrainConfig`.

    Attributes:
        data: ``fashion-mnist``, ``toy-identities`` (synthetic) or a folder with one subfolder per person.
        data_dir: Folder holding the Fashion-MNIST IDX files.
        classes: Training identities to keep, e.g. ``0-5`` or ``0,2,4`` (indices) or names; None = all.
        image_size: Resize folder images to this square size (0: the backbone's native input size).
        mode: ``L`` or ``RGB`` for folder images (Fashion-MNIST is ``L``).
        backbone: A registered backbone name.
        backbone_args: Extra backbone arguments as ``key=value,...`` (e.g. ``width=16`` or ``stem=cifar``).
        embed_dim: Embedding width.
        pool: Pooling grid before the embedding layer: 1 = global average pooling; n = n×n grid kept
            (position-aware; suits aligned images such as Fashion-MNIST or aligned faces).
        embedding: ``backbone`` = the pooled backbone features are the embedding and the embedding layer is a
            training-only projection head (transfers far better to unseen identities); ``head`` = the trained
            embedding layer's output (compact). ``--freeze`` implies ``head``.
        loss: ``triplet``, ``softmax``, ``arcface`` or ``cosface``.
        miner: For triplet loss: ``all``, ``hard`` or ``semi-hard``.
        margin: Loss margin (None: triplet 0.2, arcface 0.5, cosface 0.35).
        scale: Logit scale of ArcFace/CosFace.
        p: Identities per batch (0: min(16, identities)).
        k: Images per identity (0: batch_size // p, at least 2).
        pretrained: Pretrained backbone weights ("imagenet"), or None.
        weights: A local backbone weights file.
        freeze: Train only the new embedding head (a linear model on the backbone's embedding).
        unfreeze_last: With a frozen backbone, also train its last N stages (-1: train everything).
        backbone_lr_mult: Backbone learning rate = lr × this (fine-tuning uses a smaller one).
        augment: Random flips/shifts during training.
        val_images: Held-out images for the end-of-training Recall@1 / MAP@R (0: none).
        collapse_spread: Stop when the mean pairwise embedding distance falls below this.
        time_budget: Seconds of training (0: no limit). The step count is re-estimated from the measured
            speed as training goes, and the learning-rate schedule follows it, so the run ends on time with
            a fully decayed learning rate.
        faces: Detect and align the faces of folder photos first, through the same road as every identify verb
            (None: on for the ``dlib-face`` backbone, whose descriptor expects aligned chips); recorded in the
            checkpoint so the trained model is a face model everywhere.
    """

    data: str = "fashion-mnist"
    data_dir: str | None = None
    classes: str | None = None
    image_size: int = 0
    mode: str = "L"
    backbone: str = "small_cnn"
    backbone_args: str = ""
    embed_dim: int = 128
    pool: int = 1
    embedding: str = "backbone"
    loss: str = "triplet"
    miner: str = "semi-hard"
    margin: float | None = None
    scale: float = 30.0
    p: int = 0
    k: int = 0
    pretrained: str | None = None
    weights: str | None = None
    freeze: bool = False
    unfreeze_last: int = -1
    backbone_lr_mult: float = 1.0
    augment: bool = True
    val_images: int = 2000
    collapse_spread: float = 0.05
    time_budget: float | str = 0.0
    faces: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from pictorch.engine.config import check_fields, parse_duration
        from pictorch.tasks.identify.losses import LOSS_NAMES
        from pictorch.tasks.identify.miners import make_miner

        self.time_budget = parse_duration(self.time_budget)  # gan/translate's grammar: 90, 90s, 5m, 1.5h
        check_fields(self, {"p": ">= 0", "k": ">= 0", "backbone_lr_mult": ">= 0"},
                     choices={"loss": LOSS_NAMES, "mode": ("L", "RGB"), "embedding": ("backbone", "head")},
                     notes={"p": "0 picks a default", "k": "0 picks a default"})
        if self.k == 1:
            raise ConfigError("--k must be >= 2 images per identity (0 picks a default), got 1")
        make_miner(self.miner)
        if self.freeze and self.unfreeze_last < 0:
            self.unfreeze_last = 0
        if self.unfreeze_last == 0:
            self.embedding = "head"  # a frozen backbone's features are not what training changes


def parse_kv(text: str) -> dict[str, Any]:
    """``"width=16,stem=cifar"`` -> ``{"width": 16, "stem": "cifar"}`` (numbers and booleans converted)."""
    out: dict[str, Any] = {}
    for part in filter(None, (s.strip() for s in (text or "").split(","))):
        if "=" not in part:
            raise ConfigError(f"backbone argument {part!r} is not key=value")
        k, v = (s.strip() for s in part.split("=", 1))
        val: Any = v
        if v.lower() in ("true", "false"):
            val = v.lower() == "true"
        else:
            for conv in (int, float):
                try:
                    val = conv(v)
                    break
                except ValueError:
                    pass
        out[k.replace("-", "_")] = val
    return out


def parse_classes(spec: str | None, names: list[str]) -> list[int] | None:
    """``"0-5"`` / ``"0,2,7"`` / ``"Sneaker,Bag"`` -> class indices (ranges inclusive)."""
    if spec is None or str(spec).strip() in ("", "all"):
        return None
    out: list[int] = []
    for part in (s.strip() for s in str(spec).split(",")):
        if not part:
            continue
        if part in names:
            out.append(names.index(part))
        elif "-" in part and all(x.strip().isdigit() for x in part.split("-", 1)):
            lo, hi = (int(x) for x in part.split("-", 1))
            out += list(range(lo, hi + 1))
        elif part.isdigit():
            out.append(int(part))
        else:
            raise ConfigError(f"unknown class {part!r} in --classes; known: {', '.join(names)}")
    bad = [c for c in out if not 0 <= c < len(names)]
    if bad:
        raise ConfigError(f"--classes {spec!r}: indices {bad} out of range (there are {len(names)} classes)")
    return sorted(dict.fromkeys(out))


def load_identity_data(data: str, data_dir: str | None = None, classes: str | None = None, split: str = "train",
                       size: int | tuple[int, int] | None = None, mode: str = "L", seed: int = 0) -> Any:
    """Load a labelled :class:`~pictorch.data.ImageSet` of identities.

    Args:
        data: ``fashion-mnist``, ``toy-identities[:IDSxPER]`` or a class-per-subfolder folder.
        data_dir: Fashion-MNIST folder.
        classes: Which identities to keep (see :func:`parse_classes`); labels are renumbered from 0.
        split: ``train`` or ``test`` (Fashion-MNIST; the toy set uses another seed for ``test``).
        size: Folder images are resized to this (int or (H, W)).
        mode: ``L`` or ``RGB`` for folder images.
        seed: Seed of the toy set.
    """
    from pictorch.data.resolve import resolve

    def folder(path: str, **_: Any) -> Any:
        from pathlib import Path

        from pictorch.data.sources import load_image_folder

        if not Path(path).is_dir():
            raise DataError(f"{path}: expected a folder with one subfolder of photos per person")
        return load_image_folder(path, size=size or None, mode=mode)

    ds = resolve(data, folder=folder, split=split, data_dir=data_dir, seed=seed)
    keep = parse_classes(classes, list(ds.classes))
    if keep is not None:
        ds = ds.filter_classes(keep, relabel=True)
    if len(ds) == 0:
        raise DataError(f"{data}: no images left after selecting classes {classes!r}")
    return ds


def _lr_lambda(total: int | Any, warmup_frac: float = 0.05):
    """Linear warm-up then cosine decay; ``total`` may be a callable (a step count that changes)."""

    def f(step: int) -> float:
        n = total() if callable(total) else total
        warm = max(1, int(n * warmup_frac))
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, n - warm)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0))) * 0.98 + 0.02

    return f


def embedding_spread(emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean pairwise Euclidean distance and mean per-dimension std of a batch of embeddings (detached)."""
    e = emb.detach().float()
    n = e.shape[0]
    if n < 2:
        z = e.new_zeros(())
        return z, z
    from pictorch.tasks.identify.miners import pairwise_sq_dist

    d = pairwise_sq_dist(e).clamp_min(1e-12).sqrt()
    spread = (d.sum() - d.diagonal().sum()) / (n * (n - 1))
    return spread, e.std(0).mean()


class IdentifyTask(TrainTask):
    """Training of an embedder with any of the losses; see :class:`IdentifyConfig`."""

    task_name = "identify"

    def __init__(self, cfg: IdentifyConfig, train_set: Any, val_set: Any = None, lr: float = 1e-3,
                 weight_decay: float = 0.0) -> None:
        self.cfg = cfg
        self.train_set = train_set
        self.val_set = val_set
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss_fn = make_loss(self.cfg.loss, self.cfg.margin, self.cfg.miner, self.cfg.scale)
        self.num_ids = len(train_set.classes) or int(train_set.labels.max()) + 1
        self.in_chans = train_set.num_channels
        self.norm: dict[str, list[float]] = {}
        self.augment: nn.Module | None = None
        self.model_kwargs: dict[str, Any] = {}
        self._out_dim = cfg.embed_dim

    def build(self) -> dict[str, nn.Module]:
        from pictorch.registry import create_model

        needs_cls = getattr(self.loss_fn, "needs_logits", False)
        kwargs: dict[str, Any] = {
            "backbone": self.cfg.backbone, "embed_dim": self.cfg.embed_dim, "pool": self.cfg.pool,
            "output": self.cfg.embedding,
            "in_chans": self.in_chans,
            "num_classes": self.num_ids if needs_cls else 0,
            "head": getattr(self.loss_fn, "head", "linear"),
            "backbone_kwargs": parse_kv(self.cfg.backbone_args),
        }
        self.model_kwargs = kwargs
        model = create_model("identify.embedder", **kwargs, pretrained=self.cfg.pretrained, weights=self.cfg.weights)
        self._out_dim = model.out_dim
        dc = model.default_cfg
        self.norm = {"mean": list(dc["mean"]), "std": list(dc["std"])}
        if self.cfg.augment:
            from pictorch.data.augment import Augment

            self.augment = Augment(hflip=0.5, shift=0.08, mean=self.norm["mean"], std=self.norm["std"])
        self._set_trainable(model)
        return {"model": model}

    def _set_trainable(self, model: nn.Module) -> None:
        n = self.cfg.unfreeze_last
        if n < 0:
            return
        stages = model.backbone_stages()
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        for st in stages[len(stages) - n:] if n > 0 else []:
            for p in st.parameters():
                p.requires_grad_(True)

    def configure_optimizers(self, modules):
        model = unwrap(modules["model"])
        head = [p for p in model.head_parameters() if p.requires_grad]
        head_ids = {id(p) for p in model.head_parameters()}
        back = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
        groups = [{"params": head, "lr": self.lr}]
        if back and self.cfg.backbone_lr_mult > 0:
            groups.append({"params": back, "lr": self.lr * self.cfg.backbone_lr_mult})
        elif back:
            for p in back:
                p.requires_grad_(False)
        from pictorch.engine.optim import adamw

        return {"opt": adamw(groups, lr=self.lr, weight_decay=self.weight_decay)}

    def configure_schedulers(self, optimizers, total_steps):
        # total_steps() is the live length: a time budget refits the run and the schedule follows it
        return {"lr": torch.optim.lr_scheduler.LambdaLR(optimizers["opt"], _lr_lambda(total_steps))}

    def _to_input(self, images: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.norm["mean"], device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.norm["std"], device=images.device).view(1, -1, 1, 1)
        return (images.float() / 255.0 - mean) / std

    def training_step(self, ctx, batch):
        model = ctx.modules["model"]
        if self.cfg.unfreeze_last == 0:
            unwrap(model).backbone.eval()  # a frozen backbone keeps its BN statistics
        x = self._to_input(batch["image"])
        if self.augment is not None:
            self.augment.to(x.device).train()
            with torch.no_grad():
                x = self.augment(x)
        y = batch["label"]
        emb, logits = model(x, with_logits=True)
        out = self.loss_fn(emb, y, logits)
        opt = ctx.optimizers["opt"]
        opt.zero_grad(set_to_none=True)
        ctx.backward(out[self.loss_fn.term])
        opt.step()
        spread, std = embedding_spread(emb)
        return {**{k: v.detach() for k, v in out.items()}, "spread": spread, "emb_std": std}

    def check_health(self, ctx, metrics):
        spread = metrics.get("spread")
        if spread is not None and spread < self.cfg.collapse_spread:
            hint = "use --miner semi-hard or lower --lr" if self.cfg.loss == "triplet" else "lower --lr"
            raise TrainingDiverged(
                f"embeddings collapsed (f(x)≈const): mean pairwise distance {spread:.4f} < "
                f"{self.cfg.collapse_spread} by step {ctx.step}; {hint}")

    def divergence_hint(self) -> str:
        return "try a lower --lr or --precision 32-true"

    def validate(self, ctx):
        if self.val_set is None or len(self.val_set) < 4:
            return {}
        from pictorch.metrics.retrieval import map_at_r, recall_at_k

        model = ctx.modules["model"]
        embs = []
        for s in range(0, len(self.val_set), 512):
            xb = self._to_input(self.val_set.images[s:s + 512].to(ctx.device))
            embs.append(model(xb).float().cpu())
        emb = torch.cat(embs)
        labels = self.val_set.labels
        if int(torch.bincount(labels).max()) < 2:
            return {}  # a held-out set with one image per identity has no positives to retrieve
        out = {"val_recall@1": recall_at_k(emb, labels, 1), "val_map@r": map_at_r(emb, labels)}
        out.update(_eer_point(emb[:2000], labels[:2000]))
        return out

    def on_picture(self, ctx, path):
        """Nearest neighbours: up to 6 held-out images (training images when none are held out), each followed by
        its 5 closest others by embedding, marked ✓ when of the same identity (``pictures/`` stayed empty)."""
        ds = self.val_set if self.val_set is not None and len(self.val_set) >= 4 else self.train_set
        if ds is None or len(ds) < 2:
            return
        from pictorch.viz.grid import save_image_grid

        images, labels = ds.images[:512], ds.labels[:512]
        model = ctx.modules["model"]
        emb = torch.cat([model(self._to_input(images[s:s + 256].to(ctx.device))).float().cpu()
                         for s in range(0, len(images), 256)])
        emb = torch.nn.functional.normalize(emb, dim=1)
        sim = emb @ emb.T
        sim.fill_diagonal_(-float("inf"))
        k = min(5, len(images) - 1)
        names = list(getattr(ds, "classes", None) or [])

        def name(i: int) -> str:
            return names[i] if i < len(names) else str(i)

        tiles, text = [], []
        for q in range(min(6, len(images))):
            tiles.append(images[q:q + 1])
            text.append(f"query: {name(int(labels[q]))}")
            for j in sim[q].topk(k).indices.tolist():
                tiles.append(images[j:j + 1])
                text.append(f"{'✓' if int(labels[j]) == int(labels[q]) else '✗'} {name(int(labels[j]))} "
                            f"{float(sim[q, j]):.2f}")
        save_image_grid(torch.cat(tiles), path, nrow=k + 1, labels=text)

    def checkpoint_meta(self):
        h, w = self.train_set.image_size
        return {"task": "identify", "normalization": self.norm, "classes": list(self.train_set.classes),
                "input_size": [h, w], "mode": "L" if self.in_chans == 1 else "RGB",
                "embed_dim": int(self._out_dim), "loss": self.cfg.loss, "faces": bool(self.cfg.faces),
                "miner": self.cfg.miner if self.cfg.loss == "triplet" else None, "data": self.cfg.data}

    def config_dict(self):
        return dataclasses.asdict(self.cfg)


def _eer_point(emb: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """EER and its cosine threshold over every pair of held-out images: ``identify verify`` decides
    same/different with it when no threshold is typed and no gallery is calibrated."""
    from pictorch.metrics.verification import eer

    e = torch.nn.functional.normalize(emb.float(), dim=1)
    iu = torch.triu_indices(len(e), len(e), offset=1)
    scores = (e @ e.T)[iu[0], iu[1]]
    same = (labels[iu[0]] == labels[iu[1]]).long()
    if not 0 < int(same.sum()) < len(same):
        return {}
    rate, threshold = eer(scores.numpy(), same.numpy())
    return {"val_eer": rate, "val_eer_threshold": threshold}


def make_task(cfg: IdentifyConfig, train_set: Any, val_set: Any = None, lr: float = 1e-3,
              weight_decay: float = 0.0) -> IdentifyTask:
    """Build the TrainTask for ``cfg`` over ``train_set`` (an ImageSet)."""
    return IdentifyTask(cfg, train_set, val_set, lr, weight_decay)


def pk_loader(train_set: Any, p: int, k: int, batch_size: int, seed: int = 0) -> Any:
    """A :class:`~pictorch.data.loader.TensorLoader` yielding P identities × K images per batch."""
    from pictorch.data.loader import TensorLoader
    from pictorch.data.samplers import PKSampler

    counts = torch.bincount(train_set.labels)
    usable = int((counts >= 2).sum())
    if usable < 2:
        raise DataError("training embeddings needs at least 2 identities with 2 or more images each; "
                        f"found {usable}")
    if p == 0:
        p = min(16, usable)
    if k == 0:
        k = max(2, batch_size // p)
    return TensorLoader(train_set.images, train_set.labels, seed=seed, batch_sampler=PKSampler(
        train_set.labels, p, k, seed=seed))


__all__ = ["IdentifyConfig", "IdentifyTask", "embedding_spread", "load_identity_data", "make_task", "parse_classes", "parse_kv",
           "pk_loader"]
