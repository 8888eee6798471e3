"""The one slerp (nn/latent.py) that `gan interpolate` and `autoencode interpolate` share, against a brute-force
rotation in the plane of the two vectors."""

from __future__ import annotations

import math

import pytest
import torch

from pictorch.nn.latent import lerp, slerp

TORCH_THREADS = 1


def _reference(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Rotate â towards b̂ by t·Ω inside their plane (Gram–Schmidt basis), with the norm moved linearly."""
    a, b = a.double(), b.double()
    ua = a / a.norm()
    ub = b / b.norm()
    perp = ub - (ua @ ub) * ua
    omega = math.atan2(float(perp.norm()), float(ua @ ub))
    perp = perp / perp.norm()
    direction = math.cos(t * omega) * ua + math.sin(t * omega) * perp
    return direction * ((1 - t) * a.norm() + t * b.norm())


@pytest.mark.parametrize("dim", [2, 3, 100])
def test_slerp_matches_a_brute_force_rotation(dim):
    g = torch.Generator().manual_seed(dim)
    a, b = torch.randn(dim, generator=g), 2.5 * torch.randn(dim, generator=g)
    ts = torch.linspace(0, 1, 7)
    path = slerp(a, b, ts)
    assert path.shape == (7, dim)
    for i, t in enumerate(ts.tolist()):
        torch.testing.assert_close(path[i].double(), _reference(a, b, t), atol=2e-5, rtol=2e-5)
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)


def test_equal_norms_give_shoemakes_slerp_and_degenerate_cases_fall_back_to_lerp():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    t = torch.tensor([0.25])
    om = math.pi / 2
    shoemake = math.sin((1 - 0.25) * om) / math.sin(om) * a + math.sin(0.25 * om) / math.sin(om) * b
    torch.testing.assert_close(slerp(a, b, t)[0], shoemake)
    torch.testing.assert_close(slerp(a, 3 * a, t), lerp(a, 3 * a, t))  # parallel
    torch.testing.assert_close(slerp(a, -a, t), lerp(a, -a, t))  # opposite: no unique great circle
    # latents of any shape are flattened; the GAN and the autoencoder use this same function
    from pictorch.tasks.autoencode import api as ae_api
    from pictorch.tasks.generate import api as gan_api

    assert ae_api.slerp is slerp and gan_api.slerp is slerp
