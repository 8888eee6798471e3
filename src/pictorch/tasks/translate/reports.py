"""Scores of translated images: L1 / PSNR / SSIM against the true B, the identity baseline, cycle L1."""

from __future__ import annotations

import torch

from pictorch.metrics.image_quality import psnr, ssim


def _unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 → float [0, 1]; a float tensor in [-1, 1] → [0, 1]."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else (x.float() + 1.0) / 2.0


@torch.no_grad()
def translate_batches(g: torch.nn.Module, a: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """``g`` over uint8 images ``a`` in batches; uint8 results on the CPU."""
    out = []
    for i in range(0, a.shape[0], batch_size):
        out.append(g(a[i:i + batch_size]).cpu())
    return torch.cat(out) if out else a[:0]


def image_scores(pred: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    """Mean L1 (on [0, 1] pixels), PSNR (dB) and SSIM of predicted vs true images (uint8 or [-1, 1] floats)."""
    p, t = _unit(pred), _unit(true)
    if p.shape[1] != t.shape[1]:
        # gray vs colour (the identity baseline of gray2color, edges2photo): the gray image as the colour answer,
        # i.e. "no colour" (comparing in gray instead would score the luminance input as near perfect)
        if p.shape[1] == 1:
            p = p.expand(-1, t.shape[1], -1, -1)
        elif t.shape[1] == 1:
            t = t.expand(-1, p.shape[1], -1, -1)
        else:
            raise ValueError(f"cannot compare {p.shape[1]}-channel images with {t.shape[1]}-channel ones")
    win = 7 if min(p.shape[-2:]) >= 7 else None
    return {"l1": float((p - t).abs().mean()), "psnr": float(psnr(p, t, 1.0)),
            "ssim": float(ssim(p, t, 1.0, win_size=win)) if win else float("nan")}


def paired_scores(g: torch.nn.Module, a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Scores of ``g(a)`` against ``b`` (uint8 pairs), with the identity mapping's (``a`` itself) beside them."""
    pred = translate_batches(g, a)
    s = image_scores(pred, b)
    ident = image_scores(a, b)
    s.update({f"identity_{k}": v for k, v in ident.items()})
    s["n"] = float(a.shape[0])
    return s


@torch.no_grad()
def cycle_l1(g_ab: torch.nn.Module, g_ba: torch.nn.Module, a: torch.Tensor) -> float:
    """Mean |F(G(a)) - a| on [0, 1] pixels."""
    rec = translate_batches(g_ba, translate_batches(g_ab, a))
    return float((_unit(rec) - _unit(a)).abs().mean())
