"""Weight moving average (engine.ema, classify --ema) against a brute-force reference, its place in checkpoints,
loading, --init and --resume; flip test-time augmentation against logits computed by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pictorch.engine.config import TrainConfig
from pictorch.engine.ema import ema_copy, ema_decay_at, ema_update
from pictorch.errors import ConfigError
from pictorch.tasks.classify.steps import ClassifyConfig

TORCH_THREADS = 1  # one intra-op thread (see tests/conftest.py)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.LazyLinear(2))


def test_ema_update_matches_reference_and_copies_integer_buffers():
    model = _net()
    model(torch.randn(4, 1, 6, 6))  # materialize the lazy layer and move BN statistics
    ema = ema_copy(model)
    assert all(not p.requires_grad for p in ema.parameters()) and not ema.training
    old = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    model(torch.randn(4, 1, 6, 6))  # BN running stats and num_batches_tracked change
    ema_update(ema, model, 0.9)
    new = model.state_dict()
    for k, v in ema.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.9 * old[k] + 0.1 * new[k])
        else:
            assert torch.equal(v, new[k]), k  # num_batches_tracked: copied, not averaged
    assert ema_decay_at(0.999, 1) == pytest.approx(2 / 11) and ema_decay_at(0.999, 10**6) == 0.999
    assert ema_decay_at(0.5, 1, warmup=False) == 0.5


def test_ema_config_checked():
    with pytest.raises(ConfigError, match="--ema"):
        ClassifyConfig(data="synthetic", ema=1.0)
    with pytest.raises(ConfigError, match="--ema"):
        ClassifyConfig(data="synthetic", ema=-0.1)


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    from pictorch.tasks.classify import api

    out = tmp_path_factory.mktemp("ema")
    cfg = ClassifyConfig(data="synthetic", arch="small_cnn", model_kwargs={"width": 8}, augment="none",
                         val_split=0.1, ema=0.9)
    tcfg = TrainConfig(out_dir=str(out), steps=80, batch_size=32, lr=5e-3, progress=False, log_every=40,
                       precision="32-true", seed=0, ckpt_every=40)
    return api.train(cfg, tcfg), cfg, tcfg


def test_ema_checkpoint_holds_both_and_the_average_is_deployed(ema_run):
    from pictorch.data.synthetic import synthetic_shapes
    from pictorch.engine.checkpoint import load_checkpoint
    from pictorch.tasks.classify import api

    res, _, _ = ema_run
    ck = load_checkpoint(res["checkpoint"], task="classify")
    assert set(ck.state_dicts) == {"model", "model_ema"} and ck.meta["ema"] == 0.9
    raw, avg = ck.state_dicts["model"], ck.state_dicts["model_ema"]
    assert not torch.equal(raw["fc.weight"], avg["fc.weight"])
    clf = api.load(res["checkpoint"])
    for k, v in clf.model.state_dict().items():
        assert torch.equal(v, avg[k]), k
    test = synthetic_shapes(200, size=32, channels=1, num_classes=4, seed=77)
    assert clf.evaluate_set(test)["accuracy"] > 0.6  # the average of a learning model learns too (chance 0.25)
    init = api.read_init(str(res["checkpoint"]))
    assert torch.equal(init.state["fc.weight"], avg["fc.weight"])


def test_ema_survives_resume(tmp_path, monkeypatch):
    """80 steps in one go == the step-40 checkpoint resumed to 80: the average is part of the saved state."""
    import dataclasses
    import shutil

    from pictorch.engine.checkpoint import load_checkpoint
    from pictorch.engine.trainer import Trainer
    from pictorch.tasks.classify import api

    cfg = ClassifyConfig(data="synthetic", arch="small_cnn", model_kwargs={"width": 4}, augment="none",
                         val_split=0.0, ema=0.9, limit=256)
    run = TrainConfig(out_dir=str(tmp_path / "full"), steps=80, batch_size=32, lr=5e-3, progress=False,
                      log_every=40, precision="32-true", seed=0, ckpt_every=40)
    save = Trainer._save

    def save_and_snapshot(self, task, ctx, loader):
        save(self, task, ctx, loader)
        if ctx.step == 40:
            shutil.copytree(self.run_dir, tmp_path / "resumed")

    monkeypatch.setattr(Trainer, "_save", save_and_snapshot)
    res = api.train(cfg, run)
    assert load_checkpoint(tmp_path / "resumed" / "last.safetensors").meta["step"] == 40
    res2 = api.train(cfg, dataclasses.replace(run, out_dir=str(tmp_path / "resumed"), resume=True))
    a = load_checkpoint(res["checkpoint"]).state_dicts
    b = load_checkpoint(res2["checkpoint"]).state_dicts
    assert a.keys() == b.keys() == {"model", "model_ema"}
    for k in a["model_ema"]:
        torch.testing.assert_close(a["model_ema"][k], b["model_ema"][k], rtol=1e-4, atol=1e-5)
    assert not torch.equal(a["model_ema"]["fc.weight"], a["model"]["fc.weight"])


def test_hflip_tta_averages_image_and_mirror(ema_run):
    from pictorch.data.synthetic import synthetic_shapes
    from pictorch.tasks.classify import api

    res, _, _ = ema_run
    images = synthetic_shapes(12, size=32, channels=1, num_classes=4, seed=3).images
    plain = api.load(res["checkpoint"])
    flipped = api.load(res["checkpoint"], tta="hflip")
    with torch.no_grad():
        x = plain.prepare(images)
        ref = (plain.model(x) + plain.model(x.flip(-1))) / 2
    torch.testing.assert_close(flipped.logits(images), ref)
    assert not torch.allclose(plain.logits(images), ref)
    with pytest.raises(ConfigError, match="--tta"):
        api.load(res["checkpoint"], tta="vflip")


def test_ema_checkpoint_loads_as_one_model_everywhere(ema_run):
    """pictorch.load, --weights FILE and the GAN feature-net loader all get the deployed average."""
    import pictorch
    from pictorch import create_model
    from pictorch.engine.checkpoint import load_checkpoint
    from pictorch.metrics.fid import load_feature_net

    res, _, _ = ema_run
    avg = load_checkpoint(res["checkpoint"]).state_dicts["model_ema"]
    net = pictorch.load(str(res["checkpoint"]))
    assert isinstance(net, nn.Module) and torch.equal(net.state_dict()["fc.weight"], avg["fc.weight"])
    fresh = create_model("small_cnn", in_chans=1, num_classes=4, width=8, weights=str(res["checkpoint"]))
    assert torch.equal(fresh.state_dict()["fc.weight"], avg["fc.weight"])
    feat = load_feature_net(str(res["checkpoint"]), "cpu")
    assert torch.equal(feat.model.state_dict()["fc.weight"], avg["fc.weight"])  # the average, not the raw weights


def test_tta_argument_applies_to_a_loaded_classifier(ema_run):
    from pictorch.tasks.classify import api

    res, _, _ = ema_run
    clf = api.load(res["checkpoint"])
    assert api._clf(clf, tta="hflip").tta == "hflip" and api._clf(clf).tta == "none"
    assert api._clf(api.load(res["checkpoint"], tta="hflip")).tta == "hflip"
