"""identify through the CLI: train -> checkpoint -> resume -> evaluate -> load/embed; bad inputs exit 2 with
one ``error:`` line; the demo end to end on tiny Fashion-MNIST-format files."""

from __future__ import annotations

import gzip
import json
import struct

import pytest
import torch
from cli_run import cli as _cli

import pictorch
from pictorch.data.synthetic import toy_identities

FAST = ["--precision", "32-true", "--accelerator", "cpu", "--no-progress", "--backbone-args", "width=8",
        "--embed-dim", "16"]


TORCH_THREADS = 1  # one intra-op thread (see tests/conftest.py)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("people")
    ds = toy_identities(4, 6, size=32, channels=3, seed=0)
    for i, (im, lab) in enumerate(zip(ds.images, ds.labels, strict=True)):
        d = root / f"person{int(lab)}"
        d.mkdir(exist_ok=True)
        Image.fromarray(im.permute(1, 2, 0).numpy()).save(d / f"{i:03d}.png")
    (root / "person0" / "broken.jpg").write_text("not a photo")
    return root


def _write_idx(folder, n_per_class=30, seed=0):
    """Tiny Fashion-MNIST-format files: 10 classes of blob patterns at class-specific places."""
    g = torch.Generator().manual_seed(seed)
    for split in ("train", "t10k"):
        labels = torch.arange(10).repeat_interleave(n_per_class)
        imgs = torch.rand(len(labels), 28, 28, generator=g) * 60
        for i, c in enumerate(labels.tolist()):
            r, col = divmod(c, 4)
            imgs[i, 2 + 8 * r:8 + 8 * r, 2 + 6 * col:8 + 6 * col] += 180
        imgs = imgs.clamp(0, 255).to(torch.uint8)
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, len(labels), 28, 28) + imgs.numpy().tobytes())
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, len(labels)) + labels.to(torch.uint8).numpy().tobytes())
    return folder


def test_train_resume_evaluate_load_roundtrip(tmp_path, photo_folder, capsys, caplog):
    run = tmp_path / "run"
    common = ["identify", "train", "--data", str(photo_folder), "--mode", "RGB", "--image-size", "32",
              "--p", "4", "--k", "2", "--out", str(run), *FAST]
    code, out, err = _cli(capsys, *common, "--steps", "2")
    assert code == 0, err
    assert "checkpoint:" in out and (run / "last.safetensors").exists()
    assert "broken.jpg" in caplog.text  # the unreadable photo is reported and skipped, training goes on
    code, out, err = _cli(capsys, *common, "--steps", "3", "--resume")
    assert code == 0, err
    model = pictorch.load(run)
    assert model.pictorch_meta["step"] == 3 and model.pictorch_meta["task"] == "identify"
    assert model.pictorch_meta["mode"] == "RGB"
    code, out, err = _cli(capsys, "identify", "evaluate", str(run), "--data", str(photo_folder), "--n-pairs", "40")
    assert code == 0, err
    rep = json.loads((run / "eval" / "report.json").read_text())
    assert 0.0 <= rep["verification"]["auc"] <= 1.0 and "map@r" in rep["retrieval"]
    assert "rank1" in rep["closed_set"] and "dir@far=0.01" in rep["open_set"]
    for pic in ("roc.png", "scores.png", "worst_mistakes.png"):
        assert (run / "eval" / pic).stat().st_size > 0
    assert "Recall@1" in out
    # verification from an LFW-format pairs file (LFW layout: <name>/<name>_<n:04d>.jpg)
    from PIL import Image

    lfw = tmp_path / "lfw"
    for person in ("Ann", "Bob"):
        (lfw / person).mkdir(parents=True)
        for n, src in enumerate(sorted(photo_folder.glob(f"person{0 if person == 'Ann' else 1}/*.png"))[:3], 1):
            Image.open(src).convert("RGB").save(lfw / person / f"{person}_{n:04d}.jpg")
    (tmp_path / "pairs.txt").write_text("2\t2\nAnn\t1\t2\nBob\t1\t3\nAnn\t1\tBob\t2\nAnn\t3\tBob\t1\n"
                                        "Ann\t2\t3\nBob\t2\t3\nAnn\t2\tBob\t3\nAnn\t3\tBob\t3\n"
                                        "Ann\t1\t3\nBob\t1\t2\nAnn\t1\tBob\t1\n")
    code, out, err = _cli(capsys, "identify", "evaluate", str(run), "--pairs", str(tmp_path / "pairs.txt"),
                          "--pairs-root", str(lfw), "--data", str(lfw), "--out", str(tmp_path / "ev2"))
    assert code == 0, err
    rep = json.loads((tmp_path / "ev2" / "report.json").read_text())
    assert rep["verification"]["genuine_pairs"] == 6 and rep["verification"]["impostor_pairs"] == 5
    # embedding files: the broken photo is listed as skipped, the good one embedded
    good = next(photo_folder.glob("person1/*.png"))
    code, out, err = _cli(capsys, "identify", "embed", str(run), str(good), str(photo_folder / "person0" / "broken.jpg"),
                          "-o", str(tmp_path / "e.npz"))
    assert code == 0 and "skipped" in err and "1 embeddings (32-d)" in out  # pooled width-8 small_cnn features


def test_train_on_idx_files_with_classes(tmp_path, capsys):
    data = _write_idx(tmp_path)
    code, out, err = _cli(capsys, "identify", "train", "--data", "fashion-mnist", "--data-dir", str(data),
                          "--classes", "0-2", "--loss", "arcface", "--steps", "2", "--out", str(tmp_path / "r"), *FAST)
    assert code == 0, err
    meta = pictorch.load(tmp_path / "r").pictorch_meta
    assert meta["classes"] == ["T-shirt/top", "Trouser", "Pullover"] and meta["loss"] == "arcface"


@pytest.mark.parametrize("case", ["other_task", "missing_ckpt", "bad_data", "all_unreadable", "bad_loss"])
def test_bad_inputs_exit_2_one_line(tmp_path, capsys, case):
    if case == "other_task":
        from pictorch.engine.checkpoint import save_checkpoint
        from pictorch.registry import create_model

        save_checkpoint(tmp_path / "c.safetensors", create_model("small_cnn", in_chans=1, num_classes=2),
                        {"task": "classify"})
        args = ["identify", "evaluate", str(tmp_path / "c.safetensors"), "--data", "fashion-mnist"]
        want = "not an 'identify' one"
    elif case == "missing_ckpt":
        args = ["identify", "evaluate", str(tmp_path / "nope.safetensors")]
        want = "no such checkpoint"
    elif case == "bad_data":
        args = ["identify", "train", "--data", str(tmp_path / "no-such-folder"), "--steps", "1", *FAST]
        want = "no such data folder"
    elif case == "all_unreadable":
        for i in range(2):
            (tmp_path / "ppl" / f"p{i}").mkdir(parents=True)
            (tmp_path / "ppl" / f"p{i}" / "x.jpg").write_bytes(b"\x00garbage")
        args = ["identify", "train", "--data", str(tmp_path / "ppl"), "--steps", "1", *FAST]
        want = "could be read"
    else:
        args = ["identify", "train", "--loss", "contrastive", "--steps", "1", *FAST]
        want = "unknown --loss 'contrastive'"
    code, out, err = _cli(capsys, *args)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and want in lines[0], err
    assert "Traceback" not in err


def test_demo_quick_end_to_end(tmp_path, capsys):
    pytest.importorskip("pictorch.gallery.store")
    from pictorch.tasks.identify.demo import run_demo

    data = _write_idx(tmp_path, n_per_class=60)
    rep = run_demo(out_dir=str(tmp_path / "demo"), quick=True, data_dir=str(data), steps=3)
    out = capsys.readouterr().out
    assert "open-set report" in out and "sample answers" in out and " -> " in out
    assert set(rep["members"]) == {"T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal"}
    assert 0.0 <= rep["member_identified"] <= 1.0 and 0.0 <= rep["stranger_rejected"] <= 1.0
    for pic in rep["pictures"].values():
        assert (tmp_path / "demo" / pic.split("/")[-1]).exists()
    assert (tmp_path / "demo" / "report.json").exists()
