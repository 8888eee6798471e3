"""The segment task through the API: multi-class training, encoder freezing, the unchanged caller config."""

from __future__ import annotations

import dataclasses

import torch

from pictorch import create_model
from pictorch.engine.config import TrainConfig
from pictorch.tasks.segment import api
from pictorch.tasks.segment.steps import SegmentConfig, freeze_encoder, param_groups

TORCH_THREADS = 1


def test_multiclass_training_round_trip(tmp_path):
    cfg = SegmentConfig(data="synthetic-multi", arch="unet", model_kwargs={"width": 4, "depth": 2},
                        loss="ce+dice", class_weights="balanced", augment="medium")
    tcfg = TrainConfig(out_dir=str(tmp_path / "run"), steps=4, batch_size=4, progress=False, precision="32-true",
                       log_every=2)
    before = dataclasses.asdict(tcfg)
    res = api.train(cfg, tcfg)
    assert dataclasses.asdict(tcfg) == before  # the caller's config is not written to
    assert res["classes"][0] == "background" and len(res["classes"]) == 5
    assert len(res["val"]["per_class"]) == 5 and 0 <= res["val"]["miou"] <= 1
    seg = api.load(tmp_path / "run", device="cpu")
    mask = seg.predict(torch.zeros(1, 21, 35, dtype=torch.uint8))
    assert mask.shape == (21, 35) and int(mask.max()) < 5
    assert seg.model.head.out_channels == 5


def test_freeze_encoder_whole_and_partial():
    model = create_model("segment.unet", in_chans=3, num_classes=1, encoder="resnet18")
    n_stages = len(model.encoder_stages())
    norms = freeze_encoder(model, 2)
    frozen = {id(p) for s in model.encoder_stages()[:2] for p in s.parameters()}
    assert norms and all(not p.requires_grad for p in model.parameters() if id(p) in frozen)
    assert all(p.requires_grad for p in model.decoder.parameters())
    assert any(p.requires_grad for p in model.encoder_stages()[-1].parameters())
    model2 = create_model("segment.unet", in_chans=3, num_classes=1, encoder="resnet18")
    freeze_encoder(model2, -1)
    assert not any(p.requires_grad for s in model2.encoder_stages() for p in s.parameters())
    assert len(model2.encoder_stages()) == n_stages
    groups = param_groups(model2, 1e-4)
    assert all(p.ndim >= 2 for p in groups[0]["params"]) and groups[1]["weight_decay"] == 0.0
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in model2.parameters() if p.requires_grad)
