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


@pytest.fixture(autouse=True)
def _one_thread():
    # batch-2 forwards of small images: thread hand-offs cost more than the maths on a shared 2-core machine
    # (EfficientNet's ~300 small depthwise/SE ops ran 10-50x slower with 2 threads under load)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
