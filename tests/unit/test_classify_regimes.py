"""The fine-tuning regimes: exact frozen/trainable parameter sets, frozen weights bit-identical after training,
BatchNorm of the frozen part in eval mode, LR groups; and a tiny classifier that learns synthetic shapes."""

from __future__ import annotations

import pytest
import torch

from pictorch import create_model
from pictorch.engine.config import TrainConfig
from pictorch.errors import ConfigError
from pictorch.tasks.classify.steps import ClassifyConfig, apply_regime, frozen_norm_layers

TORCH_THREADS = 1  # one intra-op thread (see tests/conftest.py)


def _small():
    return create_model("small_cnn", in_chans=1, num_classes=3, width=8)


def _block(i: int, j: int) -> list[str]:
    return [f"blocks.{i}.{j}.conv.weight", f"blocks.{i}.{j}.bn.weight", f"blocks.{i}.{j}.bn.bias"]


ALL_SMALL = [*_block(0, 0), *_block(0, 1), *_block(1, 0), *_block(1, 1), *_block(2, 0), "fc.weight", "fc.bias"]


def _trainable(m):
    return [n for n, p in m.named_parameters() if p.requires_grad]


def test_head_regime_trains_only_the_output_layer():
    m = _small()
    plan = apply_regime(m, "head")
    assert plan.trainable == ["fc.weight", "fc.bias"] == _trainable(m)
    assert plan.frozen == ALL_SMALL[:-2]
    assert len(frozen_norm_layers(m, plan)) == 5  # every BN of the backbone


def test_last_k_regime_trains_the_last_k_stages():
    m = _small()
    plan = apply_regime(m, "last-k", k=2)  # stages: blocks.0, blocks.1, blocks.2, fc
    assert plan.trainable == [*_block(2, 0), "fc.weight", "fc.bias"] == _trainable(m)
    plan = apply_regime(m, "last-k", k=3)
    assert plan.trainable == [*_block(1, 0), *_block(1, 1), *_block(2, 0), "fc.weight", "fc.bias"]
    assert plan.frozen == [*_block(0, 0), *_block(0, 1)]
    with pytest.raises(ConfigError, match="more than the 4 stages"):
        apply_regime(m, "last-k", k=5)


def test_last_k_on_resnet_and_vgg_heads():
    r = create_model("resnet18", in_chans=1, num_classes=3)
    plan = apply_regime(r, "last-k", k=2)
    assert plan.trainable == [n for n, _ in r.named_parameters() if n.startswith(("layer4.", "fc."))]
    v = create_model("vgg11_bn", in_chans=1, num_classes=3, hidden=32)
    assert apply_regime(v, "head").trainable == ["classifier.6.weight", "classifier.6.bias"]
    # k=1 is the whole head stage: VGG's hidden FC layers too
    assert apply_regime(v, "last-k", k=1).trainable == [f"classifier.{i}.{s}" for i in (0, 3, 6)
                                                        for s in ("weight", "bias")]


@pytest.mark.parametrize("regime", ["full", "scratch"])
def test_full_and_scratch_train_everything(regime):
    m = _small()
    plan = apply_regime(m, regime)
    assert plan.trainable == ALL_SMALL and plan.frozen == []


def test_config_checks():
    with pytest.raises(ConfigError, match="reuses trained weights"):
        ClassifyConfig(regime="head")
    with pytest.raises(ConfigError, match="random weights"):
        ClassifyConfig(regime="scratch", init="x")
    with pytest.raises(ConfigError, match="unknown --regime"):
        ClassifyConfig(regime="partial")
    assert ClassifyConfig().regime == "scratch" and ClassifyConfig(init="x").regime == "full"
    with pytest.raises(ConfigError, match="unknown --augment"):
        ClassifyConfig(augment="blur=1")


@pytest.fixture(scope="module")
def base_ckpt(tmp_path_factory):
    """A tiny small_cnn trained from scratch on synthetic shapes (also the 'learns' check)."""
    from pictorch.tasks.classify import api

    out = tmp_path_factory.mktemp("base")
    cfg = ClassifyConfig(data="synthetic", arch="small_cnn", model_kwargs={"width": 8}, augment="none",
                         val_split=0.1, label_smoothing=0.05)
    tcfg = TrainConfig(out_dir=str(out), steps=120, batch_size=32, lr=5e-3, progress=False, log_every=40,
                       precision="32-true", seed=0)
    res = api.train(cfg, tcfg)
    return res


@pytest.mark.learns
def test_tiny_model_learns_synthetic_shapes(base_ckpt):
    from pictorch.data.synthetic import synthetic_shapes
    from pictorch.tasks.classify import api

    clf = api.load(base_ckpt["checkpoint"])
    test = synthetic_shapes(200, size=32, channels=1, num_classes=4, seed=77)
    acc = clf.evaluate_set(test)["accuracy"]
    assert acc > 0.7, acc  # chance is 0.25
    meta = clf.meta
    assert meta["task"] == "classify" and meta["classes"] == ["circle", "square", "triangle", "cross"]
    assert meta["arch"] == "small_cnn" and meta["regime"] == "scratch" and len(meta["normalization"]["mean"]) == 1


@pytest.mark.parametrize("regime,k", [("head", 2), ("last-k", 2), ("full", 2)])
def test_frozen_weights_bit_identical_after_training(base_ckpt, tmp_path, regime, k):
    from pictorch.engine.checkpoint import load_checkpoint
    from pictorch.tasks.classify import api

    before = load_checkpoint(base_ckpt["checkpoint"]).state_dicts["model"]
    cfg = ClassifyConfig(data="synthetic", init=str(base_ckpt["checkpoint"]), regime=regime, k=k,
                         augment="light", val_split=0.0, classes="0-2")
    res = api.train(cfg, TrainConfig(out_dir=str(tmp_path), steps=6, batch_size=16, lr=1e-2, progress=False,
                                     precision="32-true"))
    after = load_checkpoint(res["checkpoint"]).state_dicts["model"]
    assert load_checkpoint(res["checkpoint"]).meta["classes"] == ["circle", "square", "triangle"]
    assert after["fc.weight"].shape == (3, 32)  # a new 3-class head
    frozen_params = set(res["frozen"])
    for key, v in before.items():
        if key.startswith("fc."):
            continue
        module = key.rsplit(".", 1)[0]
        frozen = f"{module}.weight" in frozen_params or key in frozen_params
        same = torch.equal(v, after[key])
        if frozen:  # weights and BN running statistics of the frozen part
            assert same, f"{regime}: frozen {key} changed"
        elif key.endswith(("weight", "bias")):
            assert not same, f"{regime}: trainable {key} did not change"
    if regime == "full":
        assert not frozen_params


def test_param_groups_use_backbone_lr_mult(base_ckpt):
    from pictorch.tasks.classify.steps import ClassifyTask

    cfg = ClassifyConfig(data="synthetic", init=str(base_ckpt["checkpoint"]), regime="full", backbone_lr_mult=0.1)
    from pictorch.tasks.classify.api import read_init

    init = read_init(cfg.init)
    task = ClassifyTask(cfg, ["a", "b"], 1, (32, 32), [0.5], [0.5], init_state=init.state, arch=init.arch,
                        model_kwargs=init.model_kwargs, lr=0.01)
    model = task.build()["model"]
    opt = task.configure_optimizers({"model": model})["opt"]
    lrs = {g["name"]: (g["lr"], sum(p.numel() for p in g["params"])) for g in opt.param_groups}
    assert lrs["head"] == (0.01, 32 * 2 + 2)
    assert lrs["backbone"][0] == pytest.approx(0.001)
    assert lrs["head"][1] + lrs["backbone"][1] == sum(p.numel() for p in model.parameters())
    # head regime: the frozen BN layers stay in eval mode during training steps
    task2 = ClassifyTask(ClassifyConfig(data="synthetic", init=cfg.init, regime="head"), ["a", "b"], 1, (32, 32),
                         [0.5], [0.5], init_state=init.state, arch=init.arch, model_kwargs=init.model_kwargs)
    m2 = task2.build()["model"]
    task2.set_train_mode(m2)
    bns = [m for m in m2.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(b.training for b in bns) and m2.training


def test_early_stopping_keeps_best_and_stops(tmp_path):
    from pictorch.tasks.classify import api

    # a vanishing lr: validation accuracy plateaus (only BN statistics move), so patience 2 stops the run two
    # validations after the best one, long before 500 steps
    cfg = ClassifyConfig(data="synthetic", arch="small_cnn", model_kwargs={"width": 4}, augment="none",
                         val_split=0.2, patience=2, schedule="constant")
    res = api.train(cfg, TrainConfig(out_dir=str(tmp_path), steps=500, batch_size=16, lr=1e-12, progress=False,
                                     precision="32-true", val_every=5, log_every=5))
    assert res["stopped_early"] and res["step"] < 500 and res["step"] == res["best_step"] + 10
    meta = api.load(res["checkpoint"]).meta
    assert meta["stopped_early"] and meta["best_step"] == res["best_step"] and meta["step"] == res["step"]


def test_balanced_class_weights_and_label_smoothing():
    from pictorch.tasks.classify.steps import ClassifyTask

    cfg = ClassifyConfig(data="synthetic", class_weights="balanced", label_smoothing=0.1)
    task = ClassifyTask(cfg, ["a", "b"], 1, (8, 8), [0.5], [0.5], class_counts=[10, 30])
    torch.testing.assert_close(task.class_weight, torch.tensor([2.0, 2 / 3]))
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    ref = torch.nn.functional.cross_entropy(logits, y, weight=torch.tensor([2.0, 2 / 3]), label_smoothing=0.1)
    torch.testing.assert_close(task.loss_fn(logits, y), ref)


def test_weights_file_is_passed_through_to_create_model(tmp_path):
    from pictorch.engine.checkpoint import load_checkpoint
    from pictorch.tasks.classify import api

    torch.manual_seed(3)
    src = create_model("small_cnn", in_chans=1, num_classes=7, width=4)
    torch.save(src.state_dict(), tmp_path / "backbone.pth")
    cfg = ClassifyConfig(data="synthetic", arch="small_cnn", model_kwargs={"width": 4}, weights=str(tmp_path /
                         "backbone.pth"), regime="head", augment="none", val_split=0.0, channels_last=True)
    assert cfg.regime == "head"
    res = api.train(cfg, TrainConfig(out_dir=str(tmp_path / "run"), steps=3, batch_size=16, progress=False,
                                     precision="32-true"))
    ck = load_checkpoint(res["checkpoint"])
    after = ck.state_dicts["model"]
    for k, v in src.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(v, after[k]), k
    assert after["fc.weight"].shape == (4, 16) and ck.meta["regime"] == "head"
    assert ck.meta["models"]["model"]["kwargs"].get("weights") is None  # the checkpoint carries the weights
