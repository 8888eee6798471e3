"""Forward test over every registered backbone, plus the registry/checkpoint contracts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.registry import MODELS, create_model

BACKBONES = MODELS.names("backbone")
CONFIGS = [(1, 32), (3, 64)]  # (in_chans, size)
NUM_CLASSES = 7


TORCH_THREADS = 1  # one intra-op thread (see tests/conftest.py)


def test_registry_has_the_contract_backbones():
    for name in ("small_cnn", "resnet18", "resnet34", "resnet50", "vgg11", "vgg16", "vgg19", "googlenet",
                 "inception_small", "efficientnet", *(f"efficientnet_b{i}" for i in range(8))):
        assert name in BACKBONES


@pytest.mark.parametrize("in_chans,size", CONFIGS, ids=[f"c{c}_{s}px" for c, s in CONFIGS])
@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_contract(name: str, in_chans: int, size: int):
    torch.manual_seed(0)
    # the full VGG head (a 25088×4096 Linear) is exercised in the 1-channel case; a narrow head keeps the
    # 3-channel case fast without changing what is checked
    kw = {"hidden": 256} if name.startswith("vgg") and in_chans == 3 else {}
    model = create_model(name, in_chans=in_chans, num_classes=NUM_CLASSES, **kw)
    assert model.pictorch_spec == {
        "arch": name,
        "kwargs": {"in_chans": in_chans, "num_classes": NUM_CLASSES, **kw},
        "module": model.pictorch_spec["module"],
    }
    model.eval()
    x = torch.randn(2, in_chans, size, size)
    with torch.inference_mode():
        inter = model.forward_intermediates(x)
        feats = inter[-1]
        logits = model(x)
        pre = model.forward_head(feats, pre_logits=True)
        first_two = model.forward_intermediates(x, [0, 1])
        assert torch.allclose(model.forward_head(feats), logits, atol=1e-5)
    assert feats.ndim == 4 and feats.shape[0] == 2
    assert logits.shape == (2, NUM_CLASSES)
    assert torch.isfinite(logits).all()
    assert pre.shape == (2, model.feature_dim)

    # stages: every parameter exactly once, the head last and holding the classifier
    stages = model.stages()
    assert len(stages) == len(model.feature_stages()) + 1
    ids = [id(p) for s in stages for p in s.parameters()]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    assert {id(p) for p in model.get_classifier().parameters()} <= {id(p) for p in stages[-1].parameters()}

    # intermediates: one map per feature stage, spatial size never growing
    assert len(inter) == len(model.feature_stages())
    assert all(t.ndim == 4 and t.shape[0] == 2 for t in inter)
    assert all(a.shape[-1] >= b.shape[-1] for a, b in zip(inter, inter[1:], strict=False))
    assert [t.shape for t in first_two] == [inter[0].shape, inter[1].shape]
    assert torch.allclose(first_two[1], inter[1], atol=1e-5)

    # reset_classifier: new width, then no classifier (the head returns pre-logits)
    model.reset_classifier(3)
    assert model.num_classes == 3
    with torch.inference_mode():
        assert model.forward_head(feats).shape == (2, 3)
        model.reset_classifier(0)
        assert isinstance(model.get_classifier(), nn.Identity)
        assert torch.allclose(model.forward_head(feats), pre, atol=1e-5)


def test_forward_intermediates_index_forms():
    model = create_model("small_cnn", in_chans=1, num_classes=3, width=4).eval()
    x = torch.randn(2, 1, 28, 28)
    full = model.forward_intermediates(x)
    assert [t.shape[1:] for t in full] == [(4, 14, 14), (8, 7, 7), (16, 7, 7)]
    assert [t.shape for t in model.forward_intermediates(x, 2)] == [t.shape for t in full[1:]]
    assert [t.shape for t in model.forward_intermediates(x, [-1, 0])] == [full[2].shape, full[0].shape]
    with pytest.raises(ConfigError, match="out of range"):
        model.forward_intermediates(x, [5])


def test_num_classes_zero_returns_pre_logits():
    model = create_model("small_cnn", in_chans=1, num_classes=0, width=8).eval()
    x = torch.randn(2, 1, 28, 28)
    assert model(x).shape == (2, model.feature_dim) == (2, 32)


def test_small_cnn_any_size_and_width():
    model = create_model("small_cnn", in_chans=2, num_classes=5, width=4).eval()
    for size in (16, 28, 45):
        assert model(torch.randn(1, 2, size, size)).shape == (1, 5)


def test_small_cnn_too_small_input_is_a_clear_error():
    model = create_model("small_cnn", in_chans=1, num_classes=5, width=4)
    with pytest.raises(ConfigError, match="at least 16"):
        model(torch.randn(1, 1, 8, 8))


def test_vgg_rejects_inputs_below_32_px():
    model = create_model("vgg11", in_chans=1, num_classes=10, hidden=64)
    with pytest.raises(ConfigError, match="at least 32"):
        model(torch.randn(1, 1, 28, 28))


def test_wrong_channel_count_is_a_clear_error():
    model = create_model("resnet18", in_chans=1, num_classes=10)
    with pytest.raises(ConfigError, match="in_chans=3"):
        model(torch.randn(1, 3, 32, 32))


def test_resnet_cifar_stem_keeps_resolution():
    model = create_model("resnet18", in_chans=3, num_classes=10, stem="cifar").eval()
    assert model.conv1.weight.shape == (64, 3, 3, 3)
    assert isinstance(model.maxpool, nn.Identity)
    feats = model.forward_features(torch.randn(1, 3, 32, 32))
    assert feats.shape == (1, 512, 4, 4)  # 32 / 8 instead of 32 / 32


def test_resnet_unknown_stem():
    with pytest.raises(ConfigError, match="stem"):
        create_model("resnet18", stem="tiny")


def test_drop_rate_applies_only_in_training():
    model = create_model("small_cnn", in_chans=1, num_classes=4, width=4, drop_rate=0.9)
    x = torch.randn(4, 1, 16, 16)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model(x)
    assert not torch.allclose(a, model(x))


def test_torchvision_key_names():
    r18 = create_model("resnet18").state_dict()
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.weight", "layer4.1.bn2.bias", "fc.weight", "fc.bias"):
        assert key in r18
    assert r18["fc.weight"].shape == (1000, 512)
    assert len(r18) == 122  # torchvision resnet18 incl. num_batches_tracked
    r50 = create_model("resnet50", num_classes=0).state_dict()
    assert "layer3.5.conv3.weight" in r50 and "fc.weight" not in r50
    vgg = create_model("vgg11_bn", num_classes=1000, hidden=64).state_dict()
    for key in ("features.0.weight", "features.1.running_var", "features.25.weight", "classifier.0.weight",
                "classifier.3.weight", "classifier.6.weight"):
        assert key in vgg


def test_unknown_model_lists_known_names():
    with pytest.raises(ConfigError) as e:
        create_model("resnet19")
    msg = str(e.value)
    assert "resnet19" in msg and "resnet18" in msg and "vgg16" in msg and "small_cnn" in msg


def test_checkpoint_round_trip(tmp_path):
    from pictorch.engine.checkpoint import load_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("resnet18", in_chans=1, num_classes=10, stem="cifar")
    model.train()
    model(torch.randn(4, 1, 32, 32))  # move BN running stats off their defaults
    model.eval()
    path = save_checkpoint(tmp_path / "m.safetensors", model, meta={"task": "classify", "step": 1})
    loaded = load_model(path)
    assert loaded.pictorch_spec["arch"] == "resnet18"
    assert loaded.pictorch_spec["kwargs"] == {"in_chans": 1, "num_classes": 10, "stem": "cifar"}
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


# -- EfficientNet ----------------------------------------------------------------------------------------

# torchvision's published parameter counts (1000 classes) and the width of features.8
EFFICIENTNET_PUBLISHED = {
    "efficientnet_b0": (5_288_548, 1280),
    "efficientnet_b1": (7_794_184, 1280),
    "efficientnet_b2": (9_109_994, 1408),
    "efficientnet_b3": (12_233_232, 1536),
    "efficientnet_b4": (19_341_616, 1792),
    "efficientnet_b5": (30_389_784, 2048),
    "efficientnet_b6": (43_040_704, 2304),
    "efficientnet_b7": (66_347_960, 2560),
}


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_efficientnet_b0_parameter_count_and_keys():
    model = create_model("efficientnet_b0", num_classes=1000)
    assert _n_params(model) == 5_288_548
    sd = model.state_dict()
    expected = {
        "features.0.0.weight": (32, 3, 3, 3),             # stem conv
        "features.0.1.running_var": (32,),                # stem BN
        "features.1.0.block.0.0.weight": (32, 1, 3, 3),   # stage 1 (expand 1): depthwise first
        "features.1.0.block.1.fc1.weight": (8, 32, 1, 1),  # SE squeeze to in/4
        "features.1.0.block.2.0.weight": (16, 32, 1, 1),  # projection
        "features.2.0.block.0.0.weight": (96, 16, 1, 1),  # expansion ×6
        "features.3.1.block.1.0.weight": (240, 1, 5, 5),  # 5×5 depthwise
        "features.6.3.block.2.fc2.bias": (1152,),
        "features.7.0.block.3.1.weight": (320,),
        "features.8.0.weight": (1280, 320, 1, 1),         # final 1×1 conv
        "features.8.1.num_batches_tracked": (),
        "classifier.1.weight": (1000, 1280),
        "classifier.1.bias": (1000,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert "features.1.0.block.3.0.weight" not in sd  # no expansion conv when expand_ratio == 1
    assert [len(model.features[i]) for i in range(1, 8)] == [1, 2, 2, 3, 3, 4, 1]
    assert model.default_cfg["input_size"] == (3, 224, 224)
    assert model.default_cfg["first_conv"] == "features.0.0"


@pytest.mark.parametrize("name", sorted(EFFICIENTNET_PUBLISHED))
def test_efficientnet_published_sizes(name: str):
    from pictorch.nn.backbones.efficientnet import VARIANTS

    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = create_model(name)
    params, width = EFFICIENTNET_PUBLISHED[name]
    assert _n_params(model) == params
    assert model.feature_dim == width == model.features[8][0].out_channels
    w, d, res, dropout = VARIANTS[name]
    assert model.default_cfg["input_size"] == (3, res, res)
    assert model.classifier[0].p == dropout == model.drop_rate
    bn = model.features[0][1]
    assert (bn.eps, bn.momentum) == ((1e-3, 0.01) if name[-1] in "567" else (1e-5, 0.1))


def test_efficientnet_rounding_follows_the_paper():
    from pictorch.nn.backbones.efficientnet import make_divisible, scale_depth, scale_width

    assert scale_width(32, 1.4) == 48 and scale_width(16, 1.1) == 16 and scale_width(320, 1.1) == 352
    assert make_divisible(13.0) == 16 and make_divisible(7) == 8 and make_divisible(100) == 104
    assert scale_depth(1, 1.1) == 2 and scale_depth(3, 1.0) == 3 and scale_depth(4, 3.1) == 13
    with torch.device("meta"):
        b7 = create_model("efficientnet_b7")
    assert [len(b7.features[i]) for i in range(1, 8)] == [4, 7, 7, 10, 10, 13, 4]
    assert b7.features[0][0].out_channels == 64


def test_compound_scaling():
    from pictorch.nn.backbones.efficientnet import compound_scaling

    assert compound_scaling(0) == (1.0, 1.0, 224)
    d, w, r = compound_scaling(1)
    assert (d, w, r) == (pytest.approx(1.2), pytest.approx(1.1), 258)
    d2, w2, r2 = compound_scaling(2)
    assert d2 == pytest.approx(1.44) and w2 == pytest.approx(1.21) and r2 == round(224 * 1.15**2)
    assert compound_scaling(1, base_resolution=32)[2] == 37
    # the constraint: each unit of phi about doubles the FLOPs (depth × width² × resolution²)
    alpha, beta, gamma = 1.2, 1.1, 1.15
    assert alpha * beta**2 * gamma**2 == pytest.approx(2.0, abs=0.1)
    assert d2 * w2**2 * (r2 / 224) ** 2 == pytest.approx((alpha * beta**2 * gamma**2) ** 2, rel=0.01)


def test_generic_efficientnet_matches_variants_and_records_spec():
    from pictorch.nn.backbones.efficientnet import compound_scaling

    torch.manual_seed(0)
    generic = create_model("efficientnet", width_mult=1.1, depth_mult=1.2, in_chans=1, num_classes=10)
    b2 = create_model("efficientnet_b2", in_chans=1, num_classes=10)
    assert {k: v.shape for k, v in generic.state_dict().items()} == {k: v.shape for k, v in b2.state_dict().items()}
    assert generic.default_cfg["input_size"] == (1, 260, 260)
    assert generic.pictorch_spec["kwargs"] == {"width_mult": 1.1, "depth_mult": 1.2, "in_chans": 1,
                                               "num_classes": 10}
    # phi = 1 gives B2's multipliers (whose published resolution, 260, wins); phi = 1.5 is no variant
    assert compound_scaling(1)[:2] == pytest.approx((1.2, 1.1))
    d, w, r = compound_scaling(1.5)
    scaled = create_model("efficientnet", width_mult=w, depth_mult=d, in_chans=3, num_classes=5)
    assert scaled.default_cfg["input_size"] == (3, r, r) == (3, 276, 276)
    assert scaled(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    small = create_model("efficientnet", width_mult=0.5, depth_mult=0.5, in_chans=1, num_classes=3).eval()
    assert small(torch.randn(1, 1, 28, 28)).shape == (1, 3)
    with pytest.raises(ConfigError, match="width_mult"):
        create_model("efficientnet", width_mult=0.0)


def test_efficientnet_stochastic_depth_schedule_and_modes():
    model = create_model("efficientnet", width_mult=0.25, depth_mult=0.5, in_chans=1, num_classes=3,
                         stochastic_depth=0.5)
    blocks = [b for stage in model.features[1:8] for b in stage]
    probs = [getattr(b.stochastic_depth, "p", 0.0) for b in blocks]
    n = len(blocks)
    assert probs == pytest.approx([0.5 * i / n for i in range(n)])
    assert any(b.use_res_connect for b in blocks) and not all(b.use_res_connect for b in blocks)
    x = torch.randn(4, 1, 32, 32)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model.forward_features(x)
    assert not torch.allclose(a, model.forward_features(x))


def test_efficientnet_checkpoint_round_trip(tmp_path):
    from pictorch.engine.checkpoint import load_model, save_checkpoint

    model = create_model("efficientnet", width_mult=0.5, depth_mult=0.5, in_chans=1, num_classes=4).eval()
    path = save_checkpoint(tmp_path / "e.safetensors", model, meta={"task": "classify"})
    loaded = load_model(path)
    assert loaded.pictorch_spec["kwargs"]["width_mult"] == 0.5
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


# -- GoogLeNet / inception ------------------------------------------------------------------------------


def test_googlenet_parameter_count_and_keys():
    model = create_model("googlenet")
    assert _n_params(model) == 6_624_904
    sd = model.state_dict()
    expected = {
        "conv1.conv.weight": (64, 3, 7, 7),
        "conv1.bn.running_mean": (64,),
        "conv3.conv.weight": (192, 64, 3, 3),
        "inception3a.branch1.conv.weight": (64, 192, 1, 1),
        "inception3a.branch2.0.conv.weight": (96, 192, 1, 1),
        "inception3a.branch2.1.conv.weight": (128, 96, 3, 3),
        "inception3a.branch3.1.conv.weight": (32, 16, 3, 3),  # torchvision's 3×3 in the "5×5" branch
        "inception3a.branch4.1.bn.weight": (32,),
        "inception5b.branch4.1.conv.weight": (128, 832, 1, 1),
        "fc.weight": (1000, 1024),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any(k.startswith("aux") for k in sd)
    assert model.conv1.bn.eps == 1e-3
    assert model.default_cfg["mean"] == (0.5, 0.5, 0.5)
    aux = create_model("googlenet", aux_logits=True)
    assert _n_params(aux) == 13_004_888  # torchvision's GoogLeNet with aux_logits=True
    assert tuple(aux.state_dict()["aux2.fc1.weight"].shape) == (1024, 2048)
    paper = create_model("googlenet", branch3_kernel=5)
    assert paper.inception4a.branch3[1].conv.kernel_size == (5, 5)
    assert paper.default_cfg["url"] is None  # the official file has 3×3 kernels there


def test_googlenet_aux_heads():
    torch.manual_seed(0)
    model = create_model("googlenet", in_chans=1, num_classes=5, aux_logits=True)
    x = torch.randn(2, 1, 64, 64)
    model.train()
    out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5)  # forward never returns a tuple
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == (2, 5) and [a.shape for a in aux] == [(2, 5), (2, 5)]
    loss = logits.logsumexp(1).mean() + 0.3 * sum(a.logsumexp(1).mean() for a in aux)
    loss.backward()
    assert model.aux1.fc2.weight.grad is not None
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model.forward_with_aux(x)[0], model(x), atol=1e-5)
    model.reset_classifier(3)
    assert model.aux1.fc2.out_features == 3 and model.fc.out_features == 3
    stage_ids = {id(p) for p in model.stages()[-1].parameters()}
    assert {id(p) for p in model.aux2.parameters()} <= stage_ids
    assert create_model("googlenet", num_classes=5).eval().forward_with_aux(torch.randn(1, 3, 32, 32))[1] == []


def test_googlenet_transform_input_equals_half_normalization():
    torch.manual_seed(0)
    a = create_model("googlenet", num_classes=4, transform_input=True).eval()
    b = create_model("googlenet", num_classes=4).eval()
    b.load_state_dict(a.state_dict())
    raw = torch.rand(2, 3, 40, 40)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(a((raw - mean) / std), b((raw - 0.5) / 0.5), atol=1e-4)
    assert a.default_cfg["mean"] == (0.485, 0.456, 0.406)
    with pytest.raises(ConfigError, match="in_chans=3"):
        create_model("googlenet", in_chans=1, transform_input=True)


def test_inception_small_fashion_mnist_sized_and_trains():
    torch.manual_seed(0)
    model = create_model("inception_small", in_chans=1, num_classes=10)
    assert 200_000 < _n_params(model) < 500_000
    assert model.stage1[0].branch3[1].conv.kernel_size == (5, 5)  # the paper's 5×5 branch
    feats = model.eval().forward_intermediates(torch.randn(2, 1, 28, 28))
    assert [tuple(t.shape[1:]) for t in feats] == [(64, 14, 14), (160, 14, 14), (256, 7, 7)]
    # a few SGD steps on a fixed batch lower the loss
    model.train()
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(8):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    half = create_model("inception_small", in_chans=3, num_classes=2, width=0.5)
    assert half.feature_dim == 128


@pytest.mark.parametrize("name", ["efficientnet", "googlenet", "inception_small"])
def test_new_backbones_build_and_count_flops_on_meta(name: str):
    # classify's `scale` verb builds family members on the meta device to count their FLOPs
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = create_model(name, in_chans=3, num_classes=10)
        with FlopCounterMode(display=False) as counter:
            model(torch.randn(1, 3, 224, 224))
    flops = counter.get_total_flops()
    if name == "efficientnet":
        assert flops == pytest.approx(2 * 0.39e9, rel=0.02)  # B0: the paper's 0.39 B multiply-adds
    elif name == "googlenet":
        assert flops == pytest.approx(2 * 1.5e9, rel=0.05)  # torchvision lists 1.5 GFLOPS (multiply-adds)
    assert flops > 0
