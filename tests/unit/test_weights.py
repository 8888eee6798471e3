"""Pretrained weights: resolution order, hash checks, offline errors, and loading into adapted models.

Nothing here touches the network: ``pictorch.weights._fetch`` is replaced in every test.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
from pathlib import Path

import pytest
import torch

from pictorch import weights as W
from pictorch.errors import WeightsError
from pictorch.registry import create_model

R18_FILE = "resnet18-f37072fd.pth"
R18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Caches in tmp folders; any download attempt fails the test unless a test installs its own fetch."""
    monkeypatch.setenv("PICTORCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("PICTORCH_OFFLINE", raising=False)

    def no_network(url, fh):
        raise AssertionError(f"test tried to download {url}")

    monkeypatch.setattr(W, "_fetch", no_network)


TORCH_THREADS = 1  # one intra-op thread (see tests/conftest.py)


@pytest.fixture(scope="module")
def r18_state() -> dict[str, torch.Tensor]:
    """A resnet18 state dict in torchvision's layout, different from any fresh init."""
    torch.manual_seed(123)
    sd = create_model("resnet18").state_dict()
    return {k: (v + torch.randn_like(v) if v.is_floating_point() else v + 3) for k, v in sd.items()}


@pytest.fixture
def r18_file(tmp_path, r18_state) -> Path:
    path = tmp_path / "files" / R18_FILE
    path.parent.mkdir()
    torch.save(r18_state, path)
    return path


def _assert_loaded(model, sd, skip=()):
    own = model.state_dict()
    for k, v in sd.items():
        if k in skip:
            continue
        assert torch.equal(own[k], v), k


def test_explicit_file_loads_exactly(r18_file, r18_state):
    model = create_model("resnet18", weights=r18_file)
    _assert_loaded(model, r18_state)
    assert "weights" not in model.pictorch_spec["kwargs"]


def test_in_chans_1_sums_rgb_filters(r18_file, r18_state):
    model = create_model("resnet18", in_chans=1, weights=r18_file)
    expected = r18_state["conv1.weight"].sum(dim=1, keepdim=True)
    assert model.conv1.weight.shape == (64, 1, 7, 7)
    assert torch.allclose(model.conv1.weight, expected)
    _assert_loaded(model, r18_state, skip={"conv1.weight"})


def test_adapt_input_conv_other_counts():
    w = torch.randn(4, 3, 3, 3)
    five = W.adapt_input_conv(5, w)
    assert five.shape == (4, 5, 3, 3)
    assert torch.allclose(five[:, 3], w[:, 0] * 3 / 5) and torch.allclose(five[:, 4], w[:, 1] * 3 / 5)
    assert W.adapt_input_conv(3, w) is w


def test_other_num_classes_skips_classifier(r18_file, r18_state, caplog):
    torch.manual_seed(0)
    with caplog.at_level(logging.INFO, logger="pictorch.weights"):
        model = create_model("resnet18", num_classes=10, weights=r18_file)
    assert model.fc.weight.shape == (10, 512)
    assert "classifier fc skipped" in caplog.text
    _assert_loaded(model, r18_state, skip={"fc.weight", "fc.bias"})
    headless = create_model("resnet18", num_classes=0, weights=r18_file)
    _assert_loaded(headless, r18_state, skip={"fc.weight", "fc.bias"})


def test_cifar_stem_keeps_the_rest(r18_file, r18_state, caplog):
    with caplog.at_level(logging.WARNING, logger="pictorch.weights"):
        model = create_model("resnet18", stem="cifar", num_classes=10, weights=r18_file)
    assert "conv1.weight" in caplog.text
    _assert_loaded(model, r18_state, skip={"conv1.weight", "fc.weight", "fc.bias"})


def test_containers_prefixes_and_safetensors(tmp_path, r18_state):
    from safetensors.torch import save_file

    wrapped = tmp_path / "wrapped.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in r18_state.items()}}, wrapped)
    _assert_loaded(create_model("resnet18", weights=wrapped), r18_state)
    st = tmp_path / "r18.safetensors"
    save_file({k: v.contiguous() for k, v in r18_state.items()}, str(st))
    _assert_loaded(create_model("resnet18", weights=st), r18_state)
    nested = tmp_path / "nested.pth"
    torch.save({"model": r18_state}, nested)
    _assert_loaded(create_model("resnet18", weights=nested), r18_state)


def test_vgg_layout_with_adapted_first_conv(tmp_path):
    torch.manual_seed(1)
    src = create_model("vgg11_bn", hidden=64)
    sd = {k: v + 1 if v.is_floating_point() else v for k, v in src.state_dict().items()}
    path = tmp_path / "vgg11_bn.pth"
    torch.save(sd, path)
    model = create_model("vgg11_bn", in_chans=1, num_classes=10, hidden=64, weights=path)
    assert torch.allclose(model.features[0].weight, sd["features.0.weight"].sum(1, keepdim=True))
    _assert_loaded(model, sd, skip={"features.0.weight", "classifier.6.weight", "classifier.6.bias"})


def test_wrong_architecture_is_a_weights_error(tmp_path, r18_file):
    with pytest.raises(WeightsError, match="do not fit resnet34"):
        create_model("resnet34", weights=r18_file)
    with pytest.raises(WeightsError, match="shape mismatch"):
        create_model("resnet50", weights=r18_file)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(WeightsError, match="not a readable weights file"):
        create_model("resnet18", weights=junk)
    with pytest.raises(WeightsError, match="no such weights file"):
        create_model("resnet18", weights=tmp_path / "missing.pth")


def test_cache_hit_pictorch_home(tmp_path, r18_state, r18_file):
    cached = tmp_path / "home" / "weights" / R18_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(r18_file.read_bytes())
    assert W.resolve_weights("resnet18", pretrained="imagenet") == cached
    model = create_model("resnet18", pretrained="imagenet")
    _assert_loaded(model, r18_state)
    assert "pretrained" not in model.pictorch_spec["kwargs"]


def test_cache_hit_torch_hub(tmp_path, r18_file):
    hub = tmp_path / "torch" / "hub" / "checkpoints" / R18_FILE
    hub.parent.mkdir(parents=True)
    hub.write_bytes(r18_file.read_bytes())
    assert W.resolve_weights("resnet18", pretrained=True) == hub


def test_download_verifies_hash_and_writes_atomically(tmp_path, monkeypatch, r18_file):
    payload = r18_file.read_bytes()
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    calls = []

    def fake_fetch(url, fh):
        calls.append(url)
        fh.write(payload)

    monkeypatch.setattr(W, "_fetch", fake_fetch)
    cfg = {"arch": "resnet18", "url": f"https://example.invalid/resnet18-{prefix}.pth",
           "filename": f"resnet18-{prefix}.pth", "sha256": prefix}
    path = W.resolve_weights(cfg, pretrained="imagenet")
    assert path == tmp_path / "home" / "weights" / f"resnet18-{prefix}.pth"
    assert path.read_bytes() == payload
    assert calls == [cfg["url"]]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    W.resolve_weights(cfg, pretrained="imagenet")  # second time: cache hit, no download
    assert len(calls) == 1


def test_hash_mismatch_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(W, "_fetch", lambda url, fh: fh.write(b"corrupted download"))
    with pytest.raises(WeightsError, match="SHA-256"):
        create_model("resnet18", pretrained="imagenet")
    folder = tmp_path / "home" / "weights"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_offline_miss_says_what_and_where(tmp_path, monkeypatch):
    def offline(url, fh):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(W, "_fetch", offline)
    with pytest.raises(WeightsError) as e:
        create_model("resnet18", pretrained="imagenet", num_classes=10)
    msg = str(e.value)
    assert R18_FILE in msg and R18_URL in msg
    assert str(tmp_path / "home" / "weights") in msg
    assert "name resolution" in msg


def test_offline_env_skips_download(monkeypatch, tmp_path):
    monkeypatch.setenv("PICTORCH_OFFLINE", "1")
    with pytest.raises(WeightsError, match="vgg16-397923af.pth") as e:
        W.resolve_weights("vgg16", pretrained="imagenet")
    assert str(tmp_path / "home" / "weights") in str(e.value)


def test_no_official_weights_or_unknown_tag():
    with pytest.raises(WeightsError, match="small_cnn has no official"):
        create_model("small_cnn", pretrained="imagenet")
    with pytest.raises(WeightsError, match="unknown pretrained"):
        create_model("resnet18", pretrained="coco")


def test_official_urls_and_hash_prefixes():
    cfg = create_model("vgg19_bn", hidden=8).default_cfg
    assert cfg["url"] == "https://download.pytorch.org/models/vgg19_bn-c79401a0.pth"
    assert cfg["sha256"] == "c79401a0"
    assert W.pretrained_cfg("resnet50")["filename"] == "resnet50-0676ba61.pth"
    assert len(W.TORCHVISION_FILES) == 18


# -- EfficientNet / GoogLeNet files in torchvision's layout ----------------------------------------------


def _bn(prefix: str, c: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": torch.rand(c, generator=g) + 0.5, f"{prefix}.bias": torch.randn(c, generator=g),
            f"{prefix}.running_mean": torch.randn(c, generator=g),
            f"{prefix}.running_var": torch.rand(c, generator=g) + 0.5,
            f"{prefix}.num_batches_tracked": torch.tensor(7)}


def _torchvision_efficientnet_b0_state(num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """A state dict with exactly the keys/shapes of torchvision's efficientnet_b0 file, written out from
    the paper's B0 table (independently of pictorch's model code)."""
    g = torch.Generator().manual_seed(5)
    sd: dict[str, torch.Tensor] = {"features.0.0.weight": torch.randn(32, 3, 3, 3, generator=g)}
    sd.update(_bn("features.0.1", 32, g))
    table = [(1, 3, 32, 16, 1), (6, 3, 16, 24, 2), (6, 5, 24, 40, 2), (6, 3, 40, 80, 3), (6, 5, 80, 112, 3),
             (6, 5, 112, 192, 4), (6, 3, 192, 320, 1)]
    for i, (expand, k, cin, cout, n) in enumerate(table, start=1):
        for j in range(n):
            c_in = cin if j == 0 else cout
            hid, p, idx = c_in * expand, f"features.{i}.{j}.block", 0
            if expand != 1:
                sd[f"{p}.0.0.weight"] = torch.randn(hid, c_in, 1, 1, generator=g)
                sd.update(_bn(f"{p}.0.1", hid, g))
                idx = 1
            sd[f"{p}.{idx}.0.weight"] = torch.randn(hid, 1, k, k, generator=g)
            sd.update(_bn(f"{p}.{idx}.1", hid, g))
            sq = c_in // 4
            sd[f"{p}.{idx + 1}.fc1.weight"] = torch.randn(sq, hid, 1, 1, generator=g)
            sd[f"{p}.{idx + 1}.fc1.bias"] = torch.randn(sq, generator=g)
            sd[f"{p}.{idx + 1}.fc2.weight"] = torch.randn(hid, sq, 1, 1, generator=g)
            sd[f"{p}.{idx + 1}.fc2.bias"] = torch.randn(hid, generator=g)
            sd[f"{p}.{idx + 2}.0.weight"] = torch.randn(cout, hid, 1, 1, generator=g)
            sd.update(_bn(f"{p}.{idx + 2}.1", cout, g))
    sd["features.8.0.weight"] = torch.randn(1280, 320, 1, 1, generator=g)
    sd.update(_bn("features.8.1", 1280, g))
    sd["classifier.1.weight"] = torch.randn(num_classes, 1280, generator=g)
    sd["classifier.1.bias"] = torch.randn(num_classes, generator=g)
    return sd


def test_efficientnet_b0_official_layout_loads(tmp_path):
    sd = _torchvision_efficientnet_b0_state()
    assert sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k) == 5_288_548
    cached = tmp_path / "home" / "weights" / "efficientnet_b0_rwightman-7f5810bc.pth"
    cached.parent.mkdir(parents=True)
    torch.save(sd, cached)
    model = create_model("efficientnet_b0", pretrained="imagenet")  # cache hit under the official name
    assert set(model.state_dict()) == set(sd)
    _assert_loaded(model, sd)
    gray = create_model("efficientnet_b0", in_chans=1, num_classes=10, weights=cached)
    assert torch.allclose(gray.features[0][0].weight, sd["features.0.0.weight"].sum(1, keepdim=True))
    assert gray.classifier[1].weight.shape == (10, 1280)
    _assert_loaded(gray, sd, skip={"features.0.0.weight", "classifier.1.weight", "classifier.1.bias"})
    # a B0 file does not fit B1 (more blocks): a clear error, not a silent partial load
    with pytest.raises(WeightsError, match="do not fit efficientnet_b1"):
        create_model("efficientnet_b1", weights=cached)


def _googlenet_official_state() -> dict[str, torch.Tensor]:
    """torchvision's googlenet file holds the aux heads (it is saved from a model built with aux_logits)."""
    torch.manual_seed(11)
    sd = create_model("googlenet", aux_logits=True).state_dict()
    return {k: (v + torch.randn_like(v) if v.is_floating_point() else v + 2) for k, v in sd.items()}


def test_googlenet_file_with_aux_keys_loads_with_aux_off(tmp_path, caplog):
    sd = _googlenet_official_state()
    assert any(k.startswith("aux1.") for k in sd) and "inception3a.branch1.conv.weight" in sd
    path = tmp_path / "googlenet-1378be20.pth"
    torch.save(sd, path)
    model = create_model("googlenet", weights=path)
    assert model.aux1 is None
    _assert_loaded(model, {k: v for k, v in sd.items() if not k.startswith("aux")})
    with_aux = create_model("googlenet", aux_logits=True, in_chans=1, num_classes=10, weights=path)
    assert with_aux.aux1.fc2.weight.shape == (10, 1024)
    _assert_loaded(with_aux, sd, skip={"conv1.conv.weight", "fc.weight", "fc.bias", "aux1.fc2.weight",
                                       "aux1.fc2.bias", "aux2.fc2.weight", "aux2.fc2.bias"})
    # optional keys are the aux heads only: any other stray key is still an error
    torch.save({**sd, "inception9z.weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="unexpected"):
        create_model("googlenet", weights=path)


def test_new_official_urls():
    assert W.pretrained_cfg("googlenet")["url"] == "https://download.pytorch.org/models/googlenet-1378be20.pth"
    for i in range(8):
        cfg = W.pretrained_cfg(f"efficientnet_b{i}")
        assert cfg["url"].startswith("https://download.pytorch.org/models/efficientnet_b")
        assert cfg["sha256"] and len(cfg["sha256"]) == 8
    assert W.pretrained_cfg("efficientnet_b7")["filename"] == "efficientnet_b7_lukemelas-c5b4e57e.pth"
    assert create_model("inception_small").default_cfg["url"] is None
    with pytest.raises(WeightsError, match="efficientnet has no official"):
        create_model("efficientnet", width_mult=0.5, depth_mult=0.5, pretrained="imagenet")
