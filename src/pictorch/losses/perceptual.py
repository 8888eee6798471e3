"""Perceptual losses on a frozen network's features: content, Gram-matrix style, total variation.

Conventions (those of Gatys et al. and of the ``pastiche`` implementation, so figures compare directly):

* content term of a layer: the mean squared difference of its feature maps;
* style term of a layer: the mean squared difference of Gram matrices ``G = F Fᵀ / (H·W)`` (``F``: C×HW),
  scaled by ``1/C²`` when ``channel_norm`` is on (keeps layers of 64 and 512 channels comparable);
* total variation: the mean absolute difference of neighbouring pixels, averaged over both directions.

:class:`PerceptualLoss` combines them and returns the named terms (``content``, ``style``, ``tv``, ``loss``);
the same object serves Gatys optimisation (fixed content and style targets), fast style transfer training
(per-batch content targets) and a plain perceptual distance between two batches (:meth:`distance`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import ConfigError


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``F Fᵀ / (H·W)`` of a B×C×H×W batch → B×C×C."""
    if features.ndim != 4:
        raise ConfigError(f"gram_matrix wants B×C×H×W features, got shape {tuple(features.shape)}")
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean |x[i+1]-x[i]| over rows and over columns, averaged (a 0-dim tensor)."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    return 0.5 * (dx + dy)


def content_loss(feats: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                 weights: Mapping[str, float]) -> torch.Tensor:
    """Σ_l w_l · MSE(feats[l], targets[l]) (targets broadcast over the batch)."""
    total = None
    for name, w in weights.items():
        f, t = feats[name], targets[name]
        term = w * F.mse_loss(f, t.expand_as(f))
        total = term if total is None else total + term
    if total is None:
        raise ConfigError("content_loss needs at least one layer")
    return total


def style_loss(feats: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
               weights: Mapping[str, float], channel_norm: bool = True) -> torch.Tensor:
    """Σ_l w_l · MSE(Gram(feats[l]), target_grams[l]) (· 1/C_l² with ``channel_norm``)."""
    total = None
    for name, w in weights.items():
        g = gram_matrix(feats[name])
        t = target_grams[name]
        scale = w / (g.shape[-1] ** 2) if channel_norm else w
        term = scale * F.mse_loss(g, t.expand_as(g))
        total = term if total is None else total + term
    if total is None:
        raise ConfigError("style_loss needs at least one layer")
    return total


def _as_weights(layers: Sequence[str] | Mapping[str, float] | None) -> dict[str, float]:
    if layers is None:
        return {}
    if isinstance(layers, Mapping):
        return {str(k): float(v) for k, v in layers.items()}
    return {str(n): 1.0 for n in layers}


class PerceptualLoss(nn.Module):
    """Content + style + TV loss over a frozen :class:`~pictorch.nn.features.FeatureNet`.

    Args:
        net: A ``FeatureNet`` tapping (at least) every content and style layer.
        content_layers: Layer names, or ``{name: weight}``.
        style_layers: Layer names, or ``{name: weight}``.
        content_weight: Factor of the content term.
        style_weight: Factor of the style term.
        tv_weight: Factor of the TV term (computed on the tensor given as ``tv_input`` or on ``x``).
        channel_norm: Divide each style layer's term by C² (see :func:`style_loss`).
    """

    def __init__(self, net: nn.Module, content_layers: Sequence[str] | Mapping[str, float] | None = None,
                 style_layers: Sequence[str] | Mapping[str, float] | None = None, *,
                 content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 0.0,
                 channel_norm: bool = True):
        super().__init__()
        self.net = net
        self.content_weights = _as_weights(content_layers)
        self.style_weights = _as_weights(style_layers)
        tapped = set(getattr(net, "names", []))
        missing = [n for n in [*self.content_weights, *self.style_weights] if tapped and n not in tapped]
        if missing:
            raise ConfigError(f"PerceptualLoss: the feature net does not tap {missing}")
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.channel_norm = channel_norm
        self.content_targets: dict[str, torch.Tensor] = {}
        self.style_grams: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def content_features(self, images: torch.Tensor, normalized: bool = False) -> dict[str, torch.Tensor]:
        """The content layers' features of a batch (detached), usable as targets."""
        feats = self.net(images, normalized=normalized)
        return {n: feats[n].detach() for n in self.content_weights}

    def set_content(self, image: torch.Tensor, normalized: bool = False) -> None:
        """Fix the content target (a 1×C×H×W image)."""
        self.content_targets = self.content_features(image, normalized)

    @torch.no_grad()
    def set_style(self, images: Sequence[torch.Tensor] | torch.Tensor, blend: Sequence[float] | None = None,
                  normalized: bool = False) -> None:
        """Fix the style targets: the blend-weighted mean of each style image's Gram matrices.

        Args:
            images: One 1×C×H×W tensor per style image (sizes may differ) or a batch.
            blend: Weight per style image (default equal); normalised to sum to 1.
        """
        imgs = list(images.split(1)) if isinstance(images, torch.Tensor) else list(images)
        if not imgs:
            raise ConfigError("set_style needs at least one style image")
        w = [1.0] * len(imgs) if blend is None else [float(v) for v in blend]
        if len(w) != len(imgs) or any(v < 0 for v in w) or sum(w) <= 0:
            raise ConfigError(f"style blend weights {list(w)} must be {len(imgs)} non-negative numbers, not all 0")
        s = sum(w)
        grams: dict[str, torch.Tensor] = {}
        for img, wi in zip(imgs, w, strict=True):
            feats = self.net(img, normalized=normalized)
            for n in self.style_weights:
                g = gram_matrix(feats[n]).mean(0, keepdim=True) * (wi / s)
                grams[n] = g if n not in grams else grams[n] + g
        self.style_grams = grams

    def forward(self, x: torch.Tensor, *, normalized: bool = False,
                content: Mapping[str, torch.Tensor] | None = None,
                tv_input: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The loss terms for a batch ``x``.

        Args:
            x: Images (``[0, 1]``, or model space with ``normalized=True``).
            content: Content targets (from :meth:`content_features`); default: those of :meth:`set_content`.
            tv_input: Tensor the TV term is computed on (default ``x``).

        Returns:
            ``{"content", "style", "tv", "loss"}`` 0-dim tensors (terms already weighted; absent terms 0).
        """
        feats = self.net(x, normalized=normalized)
        zero = x.new_zeros(())
        out = {"content": zero, "style": zero, "tv": zero}
        if self.content_weights and self.content_weight:
            targets = content if content is not None else self.content_targets
            if not targets:
                raise ConfigError("PerceptualLoss: no content target (call set_content or pass content=)")
            out["content"] = self.content_weight * content_loss(feats, targets, self.content_weights)
        if self.style_weights and self.style_weight:
            if not self.style_grams:
                raise ConfigError("PerceptualLoss: no style target (call set_style first)")
            out["style"] = self.style_weight * style_loss(feats, self.style_grams, self.style_weights,
                                                          self.channel_norm)
        if self.tv_weight:
            out["tv"] = self.tv_weight * tv_loss(x if tv_input is None else tv_input)
        out["loss"] = out["content"] + out["style"] + out["tv"]
        return out

    def distance(self, x: torch.Tensor, y: torch.Tensor, normalized: bool = False) -> torch.Tensor:
        """A perceptual distance between two batches: the content term with ``y``'s features as target
        (for autoencoder/translation losses; gradients flow into ``x`` only)."""
        targets = self.content_features(y, normalized)
        feats = self.net(x, normalized=normalized)
        return content_loss(feats, targets, self.content_weights)
