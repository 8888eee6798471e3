"""Translation networks: parameter counts equal the anchor's, any-size translation, the PatchGAN's field."""

from __future__ import annotations

import pytest
import torch

from pictorch.nn.discriminators import PatchDiscriminator, PixelDiscriminator, patch_receptive_field
from pictorch.tasks.translate.models import (
    ResnetGenerator,
    UnetGenerator,
    crop_to,
    pad_to_multiple,
    translate_any_size,
)

TORCH_THREADS = 1


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# junyanz/pytorch-CycleGAN-and-pix2pix prints these at its defaults (pix2pix: batch norm; CycleGAN: instance)
def test_unet_256_has_the_anchors_54_414_m_parameters():
    assert round(_count(UnetGenerator(3, 3, num_downs=8, ngf=64, norm="batch")) / 1e6, 3) == 54.414


def test_patchgan_on_the_pair_has_2_769_m_parameters():
    assert round(_count(PatchDiscriminator(6, 64, 3, norm="batch")) / 1e6, 3) == 2.769


def test_resnet_9_has_11_378_m_parameters():
    assert round(_count(ResnetGenerator(3, 3, n_blocks=9, ngf=64, norm="instance")) / 1e6, 3) == 11.378


def test_patchgan_3_channels_instance_norm_has_2_765_m_parameters():
    assert round(_count(PatchDiscriminator(3, 64, 3, norm="instance")) / 1e6, 3) == 2.765


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_patchgan_receptive_field_is_measured(n_layers):
    torch.manual_seed(0)
    d = PatchDiscriminator(1, ndf=4, n_layers=n_layers, norm="none").double()
    x = torch.randn(1, 1, 160, 160, dtype=torch.double, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[-2] // 2, out.shape[-1] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero().flatten()
    assert int(rows.max() - rows.min() + 1) == patch_receptive_field(n_layers)
    assert patch_receptive_field(3) == 70


def test_pixel_discriminator_scores_every_pixel():
    d = PixelDiscriminator(6, ndf=8)
    assert d(torch.randn(2, 6, 9, 11)).shape == (2, 1, 9, 11)


@pytest.mark.parametrize("size", [(13, 21), (16, 16), (1, 5), (33, 7)])
def test_any_size_keeps_the_input_size(size):
    torch.manual_seed(0)
    for g in (UnetGenerator(1, 3, num_downs=3, ngf=4, norm="instance"), ResnetGenerator(1, 3, n_blocks=1, ngf=4)):
        g.eval()
        y = translate_any_size(g, torch.randn(2, 1, *size))
        assert y.shape == (2, 3, *size)
        assert torch.isfinite(y).all() and y.abs().max() <= 1


def test_pad_then_crop_is_exact():
    x = torch.randn(1, 3, 10, 19)
    xp, hw = pad_to_multiple(x, 8)
    assert xp.shape[-2:] == (16, 24) and hw == (10, 19)
    assert torch.equal(crop_to(xp, hw), x)
    xs, _ = pad_to_multiple(torch.randn(1, 1, 3, 3), 256)  # pad larger than the side: replication
    assert xs.shape[-2:] == (256, 256)


def test_unet_skips_and_dropout_placement():
    g = UnetGenerator(3, 3, num_downs=8, ngf=2)
    drops = [i for i, blk in enumerate(g.up) if any(isinstance(m, torch.nn.Dropout) for m in blk)]
    assert drops == [4, 5, 6]  # the three repeated 8·ngf decoder blocks, as pix2pix
    small = UnetGenerator(3, 3, num_downs=4, ngf=2)
    assert [i for i, blk in enumerate(small.up) if any(isinstance(m, torch.nn.Dropout) for m in blk)] == [2]
    assert g(torch.randn(1, 3, 256, 256)).shape == (1, 3, 256, 256)


@pytest.mark.parametrize("crop", [5, 6, 7, 12, 16, 40])
def test_crops_below_the_patchgans_minimum_are_one_config_error_and_the_rest_judge(crop):
    from pictorch.errors import ConfigError
    from pictorch.tasks.translate.config import TranslateConfig

    cfg = TranslateConfig()
    if crop < 6:  # the smallest (1-layer) PatchGAN needs 6 px: 6 // 2 = 3, then two 4×4 stride-1 convs leave 1
        with pytest.raises(ConfigError, match="too small.*--size 6"):
            cfg.discriminator_spec(4, crop)
        return
    _, kw = cfg.discriminator_spec(4, crop)
    out = PatchDiscriminator(**kw)(torch.zeros(1, 4, crop, crop))
    assert out.shape[-1] >= 1 and out.shape[-2] >= 1
