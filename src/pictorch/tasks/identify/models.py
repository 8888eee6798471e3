"""The identification model: any registered backbone + an embedding head, L2-normalized output.

``forward(x)`` returns the embedding (B×embed_dim, unit length). With ``num_classes > 0`` the module also
holds a classifier over the training identities, used only while training: a linear layer on the raw
embedding for the DeepFace-style softmax (the embedding is then the penultimate layer), or a cosine
classifier (normalized weights) for ArcFace/CosFace. ``forward(x, with_logits=True)`` returns both, so the
training step runs through one forward call (and Fabric's precision context).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import ConfigError
from pictorch.registry import MODELS, create_model

# dlib's face descriptor is a backbone too (`--backbone dlib-face`): declared, imported on first lookup
MODELS.add_modules("pictorch.tasks.identify.faces")


class EmbeddingNet(nn.Module):
    """Backbone -> (dropout) -> Linear(feature_dim, embed_dim) -> (BatchNorm1d) -> L2 normalization.

    Args:
        backbone: A registered backbone name (``small_cnn``, ``resnet18``, ...).
        embed_dim: Embedding width.
        num_classes: Training identities for the softmax-style heads (0: none, e.g. for triplet loss).
        head: ``"linear"`` (softmax) or ``"cosine"`` (ArcFace/CosFace) classifier.
        bn: Batch-normalize the embedding before L2 normalization.
        in_chans: Input channels.
        pretrained: Pretrained backbone weights (``"imagenet"``) — not stored in the rebuild spec.
        weights: A local weights file for the backbone — not stored in the rebuild spec.
        drop_rate: Dropout on the pooled backbone features.
        backbone_kwargs: Extra arguments for the backbone (``stem="cifar"``, ``width=16``, ...).
        pool: 1 = global average pooling of the last feature map (position-invariant); ``n`` > 1 = average
            pooling to an n×n grid, flattened, so the embedding keeps *where* things are. For aligned images
            (faces after alignment, centred products) that layout is identity information; DeepFace, too,
            kept it (locally connected layers, no global pooling).
        output: What ``forward(x)`` returns as the embedding: ``"head"`` = the L2-normalized output of the
            embedding layer the loss trains; ``"backbone"`` = the L2-normalized pooled backbone features under
            it, the embedding layer then acting as a training-only projection head (as in SimCLR). The
            backbone features transfer much better to identities never seen in training (see
            bench/identify_unseen.py); the head is more compact and specialised to the training identities.
    """

    def __init__(self, backbone: str = "small_cnn", embed_dim: int = 128, num_classes: int = 0,
                 head: str = "linear", bn: bool = True, in_chans: int = 1, pretrained: Any = None,
                 weights: str | Path | None = None, drop_rate: float = 0.0,
                 backbone_kwargs: dict[str, Any] | None = None, pool: int = 1, output: str = "head"):
        super().__init__()
        if embed_dim < 1:
            raise ConfigError(f"embed_dim must be >= 1, got {embed_dim}")
        if head not in ("linear", "cosine"):
            raise ConfigError(f"head must be 'linear' or 'cosine', got {head!r}")
        if backbone.startswith("identify."):
            raise ConfigError(f"{backbone!r} is not a backbone; pick one of the registered backbones")
        self.backbone = create_model(backbone, in_chans=in_chans, num_classes=0, pretrained=pretrained,
                                     weights=weights, **(backbone_kwargs or {}))
        feat = int(getattr(self.backbone, "feature_dim", 0))
        if feat <= 0:
            raise ConfigError(f"{backbone!r} does not expose feature_dim; it cannot serve as a backbone")
        if pool < 1:
            raise ConfigError(f"pool must be >= 1, got {pool}")
        if output not in ("head", "backbone"):
            raise ConfigError(f"output must be 'head' or 'backbone', got {output!r}")
        self.output = output
        self.pool = int(pool)
        feat = feat * self.pool * self.pool
        self.embed_dim = int(embed_dim)
        self.out_dim = self.embed_dim if output == "head" else feat
        self.head_type = head
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.neck = nn.Linear(feat, embed_dim)
        self.neck_bn = nn.BatchNorm1d(embed_dim) if bn else nn.Identity()
        self.num_classes = int(num_classes)
        if num_classes > 0:
            self.classifier = nn.Linear(embed_dim, num_classes, bias=head == "linear")
        else:
            self.classifier = None
        cfg = getattr(self.backbone, "default_cfg", {}) or {}
        self.default_cfg = {"mean": tuple(cfg.get("mean", (0.5,) * in_chans)),
                            "std": tuple(cfg.get("std", (0.5,) * in_chans)),
                            "input_size": tuple(cfg.get("input_size", (in_chans, 28, 28)))}

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features (B×feature_dim, or B×C·pool² with a pooling grid)."""
        b = self.backbone
        if self.pool == 1:
            return b.forward_head(b.forward_features(x), pre_logits=True)
        return F.adaptive_avg_pool2d(b.forward_features(x), self.pool).flatten(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Raw (unnormalized) output of the embedding layer."""
        return self.neck_bn(self.neck(self.drop(self.pooled(x))))

    def logits(self, feat: torch.Tensor) -> torch.Tensor:
        """Classifier output on raw features: linear logits, or cosines for the cosine head."""
        if self.classifier is None:
            raise ConfigError("this embedder has no classifier (built with num_classes=0)")
        if self.head_type == "cosine":
            return F.normalize(feat, dim=1) @ F.normalize(self.classifier.weight, dim=1).T
        return self.classifier(feat)

    def forward(self, x: torch.Tensor, with_logits: bool = False) -> Any:
        """The embedding (see ``output``); with ``with_logits`` (training) the head's normalized embedding and
        the classifier's logits (None without a classifier)."""
        if with_logits:
            feat = self.features(x)
            logits = self.logits(feat) if self.classifier is not None else None
            return F.normalize(feat.float(), dim=1), logits
        if self.output == "backbone":
            return F.normalize(self.pooled(x).float(), dim=1)
        return F.normalize(self.features(x).float(), dim=1)

    def backbone_stages(self) -> list[nn.Module]:
        """The backbone's ordered parameter groups without its (empty) classifier."""
        st = getattr(self.backbone, "stages", None)
        groups = list(st()) if st else [self.backbone]
        return [g for g in groups if any(True for _ in g.parameters())]

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters of the new layers (neck, BN, classifier): what ``--freeze`` trains."""
        mods = [self.neck, self.neck_bn] + ([self.classifier] if self.classifier is not None else [])
        return [p for m in mods for p in m.parameters()]


@MODELS.register("identify.embedder", tags=("identify",))
def identify_embedder(**kw: Any) -> EmbeddingNet:
    """Backbone + embedding head for identification (see :class:`EmbeddingNet`)."""
    return EmbeddingNet(**kw)


__all__ = ["EmbeddingNet", "identify_embedder"]
