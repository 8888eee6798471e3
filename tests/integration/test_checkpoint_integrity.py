"""A damaged checkpoint never answers: its checksum fails on load (one line, exit 2), and NaN outputs of a
model are refused instead of printed as scores."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from pictorch.engine.checkpoint import load_checkpoint, save_checkpoint
from pictorch.errors import CheckpointError

TORCH_THREADS = 1


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.classify import api
    from pictorch.tasks.classify.steps import ClassifyConfig

    out = tmp_path_factory.mktemp("cls")
    res = api.train(ClassifyConfig(data="synthetic", arch="small_cnn", model_kwargs={"width": 8}, augment="none",
                                   val_split=0.0, limit=64),
                    TrainConfig(out_dir=str(out / "run"), steps=3, batch_size=16, progress=False,
                                precision="32-true"), tune_threads=False)
    img = out / "img.png"
    from PIL import Image

    Image.new("L", (32, 32), 128).save(img)
    return res["checkpoint"], img


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "pictorch", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_overwritten_bytes_fail_the_checksum(classifier, tmp_path):
    ckpt, img = classifier
    bad = tmp_path / "last.safetensors"
    data = bytearray(ckpt.read_bytes())
    data[-2000:-1000] = b"\xff" * 1000  # inside the weights, not the header: the file still parses
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match the checksum"):
        load_checkpoint(bad)
    out = _cli("classify", "predict", bad, img)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "checksum" in out.stderr, out.stderr
    assert "nan" not in out.stdout.lower()


def test_nan_weights_with_a_valid_checksum_are_refused(classifier, tmp_path):
    """Weights that are NaN but consistently saved (training diverged) answer with an error, not 'nan'."""
    ckpt, img = classifier
    ck = load_checkpoint(ckpt)
    from pictorch.engine.checkpoint import load_model

    model = load_model(ckpt)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    meta = {k: v for k, v in ck.meta.items() if k not in ("content_sha256", "models", "module_names")}
    bad = save_checkpoint(tmp_path / "nan.safetensors", {"model": model}, meta)
    out = _cli("classify", "predict", bad, img)
    assert out.returncode == 2 and "answered NaN/Inf for 1 of 1 inputs" in out.stderr, out.stderr
    assert "nan" not in out.stdout.lower()


def test_wrong_task_hint_names_the_command(classifier):
    ckpt, _ = classifier
    ck = load_checkpoint(ckpt)
    from pictorch.engine.checkpoint import load_model

    meta = {**{k: v for k, v in ck.meta.items() if k not in ("content_sha256", "models", "module_names")},
            "task": "generate"}
    p = save_checkpoint(ckpt.parent / "gen.safetensors", {"model": load_model(ckpt)}, meta)
    with pytest.raises(CheckpointError, match=r"use `pictorch gan \.\.\.`"):
        load_checkpoint(p, task="classify")
