"""The shared image pyramids (nn/pyramid.py): d halves, u doubles, the Laplacian round trip is exact."""

from __future__ import annotations

import pytest
import torch

from pictorch.errors import ConfigError
from pictorch.nn.pyramid import down, gaussian_pyramid, laplacian_pyramid, level_sizes, reconstruct, up

TORCH_THREADS = 1


def _dyadic_image(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """8-bit pictures on a dyadic grid (uint8 / 128 - 1): where the round trip must be bit-exact."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).float() / 128 - 1


@pytest.mark.parametrize(("shape", "levels"), [((2, 1, 28, 28), 3), ((2, 3, 64, 64), 4), ((1, 3, 32, 48), 3),
                                               ((2, 1, 16, 16), 1)])
def test_round_trip_is_exact(shape, levels):
    x = _dyadic_image(shape)
    lap = laplacian_pyramid(x, levels)
    assert len(lap) == levels
    assert torch.equal(reconstruct(lap), x)


def test_round_trip_on_arbitrary_floats_to_rounding():
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert (reconstruct(laplacian_pyramid(x, 4)) - x).abs().max() < 1e-6
    x64 = x.double()
    assert (reconstruct(laplacian_pyramid(x64, 4)) - x64).abs().max() < 1e-14


def test_d_halves_and_u_doubles():
    x = _dyadic_image((2, 3, 28, 28))
    g = gaussian_pyramid(x, 3)
    assert [t.shape[-1] for t in g] == [28, 14, 7]
    assert down(x).shape == (2, 3, 14, 14) and up(down(x)).shape == x.shape
    # d is the 2×2 block mean; u of a constant is the constant (bilinear weights sum to 1)
    assert torch.allclose(down(x)[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    c = torch.full((1, 1, 5, 5), 0.25)
    assert torch.equal(up(c), torch.full((1, 1, 10, 10), 0.25))
    # the coarsest Laplacian level is the coarsest Gaussian image
    lap = laplacian_pyramid(x, 3)
    assert torch.equal(lap[-1], g[-1])


def test_levels_that_do_not_fit_are_refused_in_one_line():
    assert level_sizes(28, 3) == [28, 14, 7]
    assert level_sizes(64, 4) == [64, 32, 16, 8]
    with pytest.raises(ConfigError, match="cannot halve 7") as e:
        level_sizes(28, 4)
    assert "\n" not in str(e.value) and "--levels 1, 2, 3" in str(e.value)
    with pytest.raises(ConfigError, match="--levels must be >= 1"):
        level_sizes(28, 0)
    with pytest.raises(ConfigError, match="odd side"):
        down(torch.zeros(1, 1, 7, 7))
    with pytest.raises(ConfigError, match="N×C×H×W"):
        laplacian_pyramid(torch.zeros(7, 7), 2)
    with pytest.raises(ConfigError, match="doubles the side"):
        reconstruct([torch.zeros(1, 1, 10, 10), torch.zeros(1, 1, 4, 4)])
