"""Optimizers every task builds the same way: parameter groups without weight decay on biases and norms,
and the fused kernels where this torch has them.

Weight decay pulls weights toward zero to regularise; on a bias or a normalisation scale/shift (parameters with
fewer than two dimensions) it only fights the normalisation, so, as nanoGPT's ``configure_optimizers`` does, they
go in a group of their own with ``weight_decay=0``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def decay_groups(groups: Iterable[dict[str, Any]] | Iterable[torch.nn.Parameter],
                 weight_decay: float) -> list[dict[str, Any]]:
    """Split parameter groups (or plain parameters) in two: ``dim >= 2`` with ``weight_decay``, others without.

    Each group keeps its other keys (``lr``, ``name``...); frozen parameters (``requires_grad=False``) are left
    out; empty groups are dropped.
    """
    items = list(groups)
    if items and not isinstance(items[0], dict):
        items = [{"params": items}]
    if not weight_decay:  # nothing to split: the groups stay as given (and resume states keep their layout)
        return [{**g, "params": [p for p in g["params"] if p.requires_grad], "weight_decay": 0.0} for g in items
                if any(p.requires_grad for p in g["params"])]
    out: list[dict[str, Any]] = []
    for g in items:
        params = [p for p in g["params"] if p.requires_grad]
        rest = {k: v for k, v in g.items() if k != "params"}
        decay = [p for p in params if p.dim() >= 2]
        plain = [p for p in params if p.dim() < 2]
        if decay:
            out.append({**rest, "params": decay, "weight_decay": weight_decay})
        if plain:
            out.append({**rest, "params": plain, "weight_decay": 0.0})
    return out


def _fused_ok(groups: list[dict[str, Any]]) -> bool:
    """Fused Adam/AdamW run on CUDA and, in recent torch, on CPU floating-point parameters."""
    params = [p for g in groups for p in g["params"]]
    return bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def adamw(groups: Iterable[dict[str, Any]] | Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
          betas: tuple[float, float] = (0.9, 0.999), fused: bool | None = None) -> torch.optim.Optimizer:
    """AdamW over :func:`decay_groups` of ``groups``; fused when the parameters allow it (``fused=None``)."""
    g = decay_groups(groups, weight_decay)
    use_fused = _fused_ok(g) if fused is None else fused
    try:
        return torch.optim.AdamW(g, lr=lr, betas=betas, weight_decay=weight_decay, fused=use_fused or None)
    except (RuntimeError, TypeError):  # a torch without fused kernels for this device or dtype
        return torch.optim.AdamW(g, lr=lr, betas=betas, weight_decay=weight_decay)


def sgd(groups: Iterable[dict[str, Any]] | Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
        momentum: float = 0.9, nesterov: bool = True) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum over :func:`decay_groups` of ``groups``."""
    return torch.optim.SGD(decay_groups(groups, weight_decay), lr=lr, momentum=momentum, nesterov=nesterov,
                           weight_decay=weight_decay)
