"""Embedder model, freezing, a tiny model that learns, the collapse monitor, Embedder API helpers."""

from __future__ import annotations

import pytest
import torch

import pictorch
from pictorch.data.synthetic import toy_identities
from pictorch.engine.checkpoint import save_checkpoint
from pictorch.engine.config import TrainConfig
from pictorch.engine.trainer import Trainer
from pictorch.errors import CheckpointError, TrainingDiverged
from pictorch.metrics.retrieval import recall_at_k
from pictorch.registry import create_model
from pictorch.tasks.identify.api import convert_images, load_embedder
from pictorch.tasks.identify.models import EmbeddingNet
from pictorch.tasks.identify.steps import IdentifyConfig, IdentifyTask, parse_classes, pk_loader

TORCH_THREADS = 1  # one intra-op thread (see tests/conftest.py)


def _tcfg(tmp_path, **kw):
    base = dict(out_dir=str(tmp_path / "run"), steps=3, log_every=1, precision="32-true", accelerator="cpu",
                progress=False, batch_size=32, lr=3e-3)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("head", ["linear", "cosine"])
def test_embedder_forward_and_rebuild(tmp_path, head):
    m = create_model("identify.embedder", backbone="small_cnn", in_chans=1, embed_dim=16, num_classes=5,
                     head=head, backbone_kwargs={"width": 8})
    m.eval()
    x = torch.rand(3, 1, 28, 28)
    emb, logits = m(x, with_logits=True)
    assert emb.shape == (3, 16) and logits.shape == (3, 5)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    if head == "cosine":
        assert logits.abs().max() <= 1.0 + 1e-5
    save_checkpoint(tmp_path / "m.safetensors", m, {"task": "identify", "embed_dim": 16, "mode": "L",
                                                    "input_size": [28, 28]})
    back = pictorch.load(tmp_path / "m.safetensors")
    assert isinstance(back, EmbeddingNet)
    torch.testing.assert_close(back(x), m(x))
    e1 = load_embedder(tmp_path / "m.safetensors")
    assert e1.dim == 16 and len(e1.fingerprint) == 64 and e1.input_size == (28, 28)
    # any size / channels are converted; output is unit length
    out = e1.embed_images(torch.randint(0, 255, (2, 3, 40, 30), dtype=torch.uint8))
    assert out.shape == (2, 16)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    # a different model has a different fingerprint
    m2 = create_model("identify.embedder", backbone="small_cnn", in_chans=1, embed_dim=16,
                      backbone_kwargs={"width": 8})
    save_checkpoint(tmp_path / "m2.safetensors", m2, {"task": "identify"})
    assert load_embedder(tmp_path / "m2.safetensors").fingerprint != e1.fingerprint


def test_backbone_output_with_pooling_grid():
    m = create_model("identify.embedder", backbone="small_cnn", in_chans=1, embed_dim=16, num_classes=3,
                     pool=2, output="backbone", backbone_kwargs={"width": 8}).eval()
    x = torch.rand(2, 1, 28, 28)
    assert m.out_dim == 32 * 4
    emb = m(x)
    assert emb.shape == (2, 128)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    head, logits = m(x, with_logits=True)  # training still goes through the 16-d head
    assert head.shape == (2, 16) and logits.shape == (2, 3)


def test_checkpoint_of_another_task_is_refused(tmp_path):
    m = create_model("small_cnn", in_chans=1, num_classes=3)
    save_checkpoint(tmp_path / "c.safetensors", m, {"task": "classify"})
    with pytest.raises(CheckpointError, match="'classify' checkpoint, not an 'identify'"):
        load_embedder(tmp_path / "c.safetensors")


def test_convert_images():
    rgb = torch.full((1, 3, 4, 4), 200, dtype=torch.uint8)
    gray = convert_images(rgb, "L", (4, 4))
    assert gray.shape == (1, 1, 4, 4) and int(gray[0, 0, 0, 0]) == 200
    assert convert_images(gray, "RGB", (8, 8)).shape == (1, 3, 8, 8)


def test_parse_classes():
    names = ["a", "b", "c", "d"]
    assert parse_classes("0-2", names) == [0, 1, 2]
    assert parse_classes("d,0", names) == [0, 3]
    assert parse_classes(None, names) is None
    with pytest.raises(Exception, match="unknown class"):
        parse_classes("zz", names)


def test_freeze_trains_only_the_head(tmp_path):
    ds = toy_identities(4, 6, size=32)
    task = IdentifyTask(IdentifyConfig(data="toy", freeze=True, backbone_args="width=8", augment=False), ds)
    model = task.build()["model"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("neck", "classifier")) for n in trainable)
    task2 = IdentifyTask(IdentifyConfig(data="toy", unfreeze_last=1, backbone_lr_mult=0.1,
                                        backbone_args="width=8", augment=False), ds, lr=1e-2)
    m2 = task2.build()["model"]
    opt = task2.configure_optimizers({"model": m2})["opt"]
    assert [g["lr"] for g in opt.param_groups] == [1e-2, pytest.approx(1e-3)]
    last = {id(p) for p in m2.backbone_stages()[-1].parameters()}
    assert {id(p) for p in opt.param_groups[1]["params"]} == last


@pytest.mark.parametrize("loss", ["triplet", "arcface"])
@pytest.mark.learns
def test_tiny_model_learns_toy_identities(tmp_path, loss):
    torch.manual_seed(0)
    ds = toy_identities(8, 16, size=32, seed=0, jitter=2.5)
    train, held = ds.split(0.25, seed=0)
    cfg = IdentifyConfig(data="toy", loss=loss, miner="semi-hard", backbone_args="width=8", embed_dim=32,
                         augment=False)
    task = IdentifyTask(cfg, train, lr=3e-3)
    before = task.build()["model"].eval()
    x = (held.images.float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        r0 = recall_at_k(before(x), held.labels, 1)
    res = Trainer(_tcfg(tmp_path, steps=60, log_every=20)).fit(task, pk_loader(train, 8, 4, 32))
    emb = load_embedder(res["run_dir"]).embed_images(held.images)
    r1 = recall_at_k(emb, held.labels, 1)
    assert r1 > 0.6 and r1 >= r0, (r0, r1)  # chance is 1/8


def test_collapse_is_detected(tmp_path):
    ds = toy_identities(4, 8, size=32)
    cfg = IdentifyConfig(data="toy", miner="hard", backbone_args="width=8", augment=False, collapse_spread=0.5)
    task = IdentifyTask(cfg, ds)

    class Ctx:
        step = 40

    with pytest.raises(TrainingDiverged, match=r"embeddings collapsed \(f\(x\)≈const\).*--miner semi-hard"):
        task.check_health(Ctx(), {"spread": 0.01})
    task.check_health(Ctx(), {"spread": 1.2})
    # wired through the trainer: an embedding squeezed to one point stops the run
    task = IdentifyTask(cfg, ds)
    orig = task.build

    def build():
        mods = orig()
        with torch.no_grad():
            mods["model"].neck.weight.zero_()
            mods["model"].neck_bn = torch.nn.Identity()
        return mods

    task.build = build
    with pytest.raises(TrainingDiverged, match="collapsed"):
        Trainer(_tcfg(tmp_path, steps=5, log_every=2)).fit(task, pk_loader(ds, 4, 4, 16))
