"""Exponential moving average of a model's weights (Polyak averaging), the copy that gets evaluated and deployed.

The averaged copy is an ordinary module with frozen parameters: a task returns it from ``build()`` beside the
trained module, so the checkpoint saves it, ``--resume`` restores it, and the trainer moves it to the device
without wrapping it for DDP (it is never differentiated).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_copy(model: nn.Module) -> nn.Module:
    """A frozen deep copy of ``model`` (eval mode) to hold the average; starts equal to ``model``."""
    from pictorch.engine.checkpoint import unwrap

    ema = copy.deepcopy(unwrap(model)).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def ema_decay_at(decay: float, step: int, warmup: bool = True) -> float:
    """The decay used at ``step`` (1-based): ``min(decay, (1 + step) / (10 + step))`` with warm-up, so the
    average is not dominated by the random initial weights early in training."""
    return min(decay, (1 + step) / (10 + step)) if warmup else decay


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema ← decay·ema + (1 − decay)·model`` for floating parameters and buffers; other buffers (BatchNorm's
    ``num_batches_tracked``) are copied. Both modules must have the same structure."""
    from pictorch.engine.checkpoint import unwrap

    src = unwrap(model).state_dict()
    dst = ema.state_dict()
    avg_dst, avg_src = [], []
    for name, t in dst.items():
        s = src[name]
        if t.is_floating_point():
            avg_dst.append(t)
            avg_src.append(s.detach().to(t.dtype))
        else:
            t.copy_(s)
    if avg_dst:
        torch._foreach_lerp_(avg_dst, avg_src, 1.0 - decay)
