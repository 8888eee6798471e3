"""Segmentation networks: feature_info, any input size, SegNet's unpooling, U-Net learning shapes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pictorch import create_model
from pictorch.nn.decoders import SegNetDecoder, UNetDecoder, crop_to, pad_to_multiple
from pictorch.registry import MODELS

TORCH_THREADS = 1


@pytest.mark.parametrize("name", ["resnet18", "small_cnn", "vgg11_bn", "efficientnet_b0", "googlenet"])
def test_feature_info_matches_the_stages(name):
    kw = {"hidden": 32} if name.startswith("vgg") else {}
    m = create_model(name, in_chans=3, num_classes=0, **kw).eval()
    info = m.feature_info
    assert [f.index for f in info] == list(range(len(m.feature_stages())))
    with torch.no_grad():
        feats = m.forward_intermediates(torch.zeros(1, 3, 128, 128))
    assert [f.num_chs for f in info] == [int(t.shape[1]) for t in feats]
    assert [f.reduction for f in info] == [128 // t.shape[-1] for t in feats]
    assert m.training is False and m.feature_info is info  # cached; the probe left the mode alone
    m.train()
    m.__dict__.pop("_feature_info")
    _ = m.feature_info
    assert m.training


def test_feature_info_resnet18_published_layout():
    info = create_model("resnet18", num_classes=0).feature_info
    assert [(f.num_chs, f.reduction) for f in info] == [(64, 4), (64, 4), (128, 8), (256, 16), (512, 32)]


@pytest.mark.parametrize("h,w", [(33, 47), (8, 8), (5, 3), (64, 31)])
def test_pad_to_multiple_and_crop_back(h, w):
    x = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)
    xp, size = pad_to_multiple(x, 16)
    assert xp.shape[-2] % 16 == 0 and xp.shape[-1] % 16 == 0 and size == (h, w)
    assert torch.equal(crop_to(xp, size), x)
    m = torch.zeros(1, h, w, dtype=torch.uint8)
    mp, _ = pad_to_multiple(m, 16, mode="constant")
    assert mp.dtype == torch.uint8


SMALL = [
    ("segment.unet", {"width": 4, "depth": 3}),
    ("segment.unet", {"encoder": "small_cnn", "encoder_kwargs": {"width": 4}}),
    ("segment.unet", {"encoder": "resnet18"}),
    ("segment.segnet", {"width_mult": 0.0625}),
    ("segment.fcn", {"encoder": "small_cnn", "encoder_kwargs": {"width": 4}}),
    ("segment.fcn", {"encoder": "resnet18", "skips": 0}),
]


@pytest.mark.parametrize("name,kw", SMALL, ids=[f"{n}-{'-'.join(map(str, k.values()))}" for n, k in SMALL])
def test_any_input_size_gives_the_input_size_back(name, kw):
    torch.manual_seed(0)
    model = create_model(name, in_chans=1, num_classes=3, **kw).eval()
    assert model.pictorch_spec["arch"] == name
    with torch.no_grad():
        for h, w in [(37, 53), (5, 7), (64, 64)]:
            y = model(torch.randn(2, 1, h, w))
            assert y.shape == (2, 3, h, w)
            assert torch.isfinite(y).all()


def test_segment_models_are_registered():
    assert {"segment.unet", "segment.segnet", "segment.fcn"} <= set(MODELS.names("segment"))


def test_segnet_unpooling_puts_values_exactly_at_the_saved_argmax():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 10)
    pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    dec = SegNetDecoder([[3]])
    dec.stages = torch.nn.ModuleList([torch.nn.Identity()])  # look at the unpooling alone
    out = dec(pooled, [idx], [(8, 10)])
    assert out.shape == x.shape
    flat_out, flat_x = out.flatten(2), x.flatten(2)
    # every pooled value sits at its argmax, with the input's value there; every other position is zero
    assert torch.equal(flat_out.gather(2, idx.flatten(2)), pooled.flatten(2))
    assert torch.equal(flat_x.gather(2, idx.flatten(2)), pooled.flatten(2))
    hit = torch.zeros_like(flat_out, dtype=torch.bool).scatter_(2, idx.flatten(2), True)
    assert (flat_out[~hit] == 0).all()
    assert int(hit.sum()) == pooled.numel()


def test_segnet_decoder_has_no_learned_upsampling_and_odd_sizes_work():
    model = create_model("segment.segnet", in_chans=3, num_classes=2, width_mult=0.0625)
    kinds = {type(m).__name__ for m in model.decoder.modules()}
    assert not kinds & {"ConvTranspose2d", "Upsample"}
    state = model.encode(torch.randn(1, 3, 64, 96))
    _, indices, sizes = state
    assert len(indices) == 5 and sizes[0] == (64, 96)
    assert all(i.dtype == torch.int64 for i in indices)


def test_segnet_encoder_keys_follow_torchvision_vgg16_bn_and_its_weights_load(tmp_path):
    vgg = create_model("vgg16_bn", num_classes=10, hidden=32)  # pictorch's vgg keeps torchvision's keys
    sd = vgg.state_dict()
    seg = create_model("segment.segnet", in_chans=3, num_classes=2)
    own = seg.encoder.state_dict()
    assert set(own) == {k for k in sd if k.startswith("features.")}
    path = tmp_path / "vgg16_bn.pth"
    torch.save(sd, path)
    loaded = create_model("segment.segnet", in_chans=3, num_classes=2, weights=str(path))
    for k, v in loaded.encoder.state_dict().items():
        assert torch.equal(v, sd[k]), k
    shallow = create_model("segment.segnet", in_chans=3, num_classes=2, depth=3, weights=str(path))
    assert torch.equal(shallow.encoder.features[0].weight, sd["features.0.weight"])


def test_unet_decoder_rejects_inconsistent_layouts():
    from pictorch.errors import ConfigError

    with pytest.raises(ConfigError):
        UNetDecoder([8, 16], [2, 2])
    with pytest.raises(ConfigError):
        UNetDecoder([8, 16], [1, 2], decoder_channels=[4, 4, 4])


def test_paper_unet_layout():
    m = create_model("segment.unet", in_chans=1, num_classes=2)
    assert m.encoder.channels == [64, 128, 256, 512, 1024] and m.multiple == 16
    assert [b.conv2.out_channels for b in m.decoder.blocks] == [512, 256, 128, 64]
    assert isinstance(m.decoder.blocks[0].up, torch.nn.ConvTranspose2d)


def test_tiny_unet_learns_synthetic_shapes():
    from pictorch.data.synthetic import synthetic_shapes
    from pictorch.losses.segmentation import build_loss
    from pictorch.metrics.segmentation import get_stats, iou_score

    torch.manual_seed(0)
    train = synthetic_shapes(64, size=32, channels=1, seed=1)
    test = synthetic_shapes(32, size=32, channels=1, seed=2)
    x = train.images.float() / 255
    y = (train.masks > 0).long()
    model = create_model("segment.unet", in_chans=1, num_classes=1, width=8, depth=2)
    loss_fn = build_loss("bce+dice")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        idx = torch.randint(0, len(x), (16,), generator=g)
        loss = loss_fn(model(x[idx]), y[idx])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = (model(test.images.float() / 255)[:, 0] > 0).long()
    target = (test.masks > 0).long()
    iou = float(iou_score(*get_stats(pred, target, "binary"), reduction="micro"))
    trivial = float(iou_score(*get_stats(torch.ones_like(target), target, "binary"), reduction="micro"))
    assert trivial < 0.35
    print(f"iou {iou:.3f} trivial {trivial:.3f}")
    assert iou > 0.75, (iou, trivial)
