"""First-layer filters as pictures: the one layer whose weights are directly images."""

from __future__ import annotations

import torch
from torch import nn

from pictorch.errors import ConfigError


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The input convolution (``default_cfg["first_conv"]``, else the first Conv2d)."""
    cfg = getattr(model, "default_cfg", None) or {}
    name = cfg.get("first_conv")
    if name:
        try:
            m = model.get_submodule(name)
            if isinstance(m, nn.Conv2d):
                return name, m
        except AttributeError:
            pass
    for n, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return n, m
    raise ConfigError(f"{cfg.get('arch', type(model).__name__)} has no convolution to show")


def filter_images(model: nn.Module) -> tuple[str, torch.Tensor]:
    """The first conv's kernels as ``[0, 1]`` O×C×k×k pictures (C = 3 shown as RGB, else gray).

    One scale for all kernels, symmetric around 0 (grey = 0), so their relative strengths stay visible.
    A BGR network's kernels are flipped to RGB.
    """
    name, conv = first_conv(model)
    w = conv.weight.detach().float().cpu()
    if w.shape[1] != 3:
        w = w.mean(1, keepdim=True)
    elif ((getattr(model, "default_cfg", None) or {}).get("channel_order") == "BGR"):
        w = w.flip(1)
    m = w.abs().max().clamp_min(1e-12)
    return name, (w / (2 * m) + 0.5).clamp(0, 1)
