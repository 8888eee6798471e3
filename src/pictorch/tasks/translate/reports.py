"""Scores of translated images: L1 / PSNR / SSIM against the true B, the identity baseline, cycle L1."""

from __future__ import annotations

from collections.abc import Callable

import torch

from pictorch.metrics.image_quality import psnr, ssim


def _unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 → float [0, 1]; a float tensor in [-1, 1] → [0, 1]."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else (x.float() + 1.0) / 2.0


@torch.no_grad()
def translate_batches(g: torch.nn.Module, a: torch.Tensor, batch_size: int = 32,
                      done: Callable[[int], None] | None = None) -> torch.Tensor:
    """``g`` over uint8 images ``a`` in batches; uint8 results on the CPU; ``done(k)`` after each batch of k
    (a :class:`pictorch.viz.progress.Tally`'s ``add``)."""
    out = []
    for i in range(0, a.shape[0], batch_size):
        out.append(g(a[i:i + batch_size]).cpu())
        if done is not None:
            done(int(out[-1].shape[0]))
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


def paired_scores(g: torch.nn.Module, a: torch.Tensor, b: torch.Tensor,
                  done: Callable[[int], None] | None = None) -> dict[str, float]:
    """Scores of ``g(a)`` against ``b`` (uint8 pairs), with the identity mapping's (``a`` itself) beside them."""
    pred = translate_batches(g, a, done=done)
    s = image_scores(pred, b)
    ident = image_scores(a, b)
    s.update({f"identity_{k}": v for k, v in ident.items()})
    s["n"] = float(a.shape[0])
    return s


@torch.no_grad()
def cycle_l1(g_ab: torch.nn.Module, g_ba: torch.nn.Module, a: torch.Tensor,
             done: Callable[[int], None] | None = None) -> float:
    """Mean |F(G(a)) - a| on [0, 1] pixels."""
    rec = translate_batches(g_ba, translate_batches(g_ab, a, done=done), done=done)
    return float((_unit(rec) - _unit(a)).abs().mean())


def distribution_scores(feature_net, fake: torch.Tensor, real: torch.Tensor,
                        reference: torch.Tensor | None = None) -> dict[str, float]:
    """FID and KID of translated images against real target-domain images, on a domain feature network.

    Args:
        feature_net: A :class:`pictorch.metrics.fid.FeatureNet` (a classifier checkpoint of the B domain, or
            ``inception:PATH`` for photos).
        fake: Translated images G(A) (uint8).
        real: Real B images of the same split (uint8).
        reference: Other real B images (e.g. the training split): FID/KID of ``real`` against them is the
            real-vs-real floor, the score "as good as the data" gets at this sample size.

    Returns:
        ``fid``, ``kid`` (unbiased MMD², one subset when the sets are small), ``fid_floor``/``kid_floor`` when
        ``reference`` is given, and ``n_fid`` (images per side).
    """
    from pictorch.errors import DataError
    from pictorch.metrics.fid import fid_from_features, kid

    n = min(int(fake.shape[0]), int(real.shape[0]))
    if n < 2:
        raise DataError(f"FID/KID need at least 2 translated and 2 real images, got {fake.shape[0]} and "
                        f"{real.shape[0]}")
    f_fake = feature_net.features(fake[:n], value_range=(0.0, 255.0))
    f_real = feature_net.features(real[:n], value_range=(0.0, 255.0))
    out = {"fid": fid_from_features(f_real, f_fake), "kid": kid(f_real, f_fake, subset_size=1000)[0],
           "n_fid": float(n)}
    if reference is not None and reference.shape[0] >= 2:
        f_ref = feature_net.features(reference[:n], value_range=(0.0, 255.0))
        out["fid_floor"] = fid_from_features(f_real, f_ref)
        out["kid_floor"] = kid(f_real, f_ref, subset_size=1000)[0]
    return out
