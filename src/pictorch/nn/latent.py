"""Paths through latent spaces: the one ``slerp`` (and ``lerp``) that GAN and autoencoder interpolation share.

Two copies disagreed before (issue 12): the GAN's mixed the raw vectors with Shoemake's weights (its norm sags
between unequal endpoints), the autoencoder's moved the direction along the great circle and the norm linearly.
This is the second: the path's direction is the geodesic between the endpoint directions, its length interpolates
the endpoint norms linearly, so every point has a norm between the endpoints' (a Gaussian latent stays on its
shell) and the endpoints are reproduced. For equal norms it is Shoemake's slerp exactly.
"""

from __future__ import annotations

import torch

__all__ = ["lerp", "slerp"]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``a`` to ``b`` (any shape, flattened to D) at fractions ``t`` (T,) → T×D.

    Direction: ``sin((1−t)Ω)/sin Ω · â + sin(tΩ)/sin Ω · b̂`` with Ω the angle between them; norm:
    ``(1−t)|a| + t|b|``. Falls back to :func:`lerp` when the directions are (nearly) parallel or opposite, where
    the great circle is not unique (Ω < 1e-4 or π − Ω < 1e-4).
    """
    a, b = a.flatten().float(), b.flatten().float()
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1)
    na, nb = a.norm(), b.norm()
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum().clamp(-1.0, 1.0))
    if float(omega) < 1e-4 or float(torch.pi - omega) < 1e-4 or float(na) < 1e-12 or float(nb) < 1e-12:
        return lerp(a, b, t.flatten())
    so = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) / so) * ua + (torch.sin(t * omega) / so) * ub
    return direction * ((1 - t) * na + t * nb)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation from ``a`` to ``b`` (flattened to D) at fractions ``t`` (T,) → T×D."""
    a, b = a.flatten().float(), b.flatten().float()
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1)
    return (1 - t) * a + t * b
