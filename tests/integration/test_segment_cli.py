"""``pictorch segment`` end to end through the CLI: train, resume, predict, evaluate, compare, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pictorch.cli import main

TORCH_THREADS = 1
TINY = '{"width": 4, "depth": 2}'


class Result:
    def __init__(self, exit_code: int, output: str):
        self.exit_code, self.output = exit_code, output


def run(*args: str) -> Result:
    """`pictorch ...` in-process through the console entry point (exit code, stdout + stderr)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
    return Result(code, buf.getvalue())


def _folder(root, n=6, size=(24, 30), seed=0):
    """RGB images with a bright square; masks 0/255 (mixed sizes)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        h, w = size[0] + 2 * (i % 3), size[1] - (i % 2)
        img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        m = np.zeros((h, w), np.uint8)
        y, x = rng.integers(0, h - 10), rng.integers(0, w - 10)
        m[y:y + 8, x:x + 9] = 255
        img[m > 0] = 220
        Image.fromarray(img).save(root / "images" / f"im{i}.png")
        Image.fromarray(m).save(root / "masks" / f"im{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("seg")
    data = _folder(base / "data")
    val = _folder(base / "val", n=3, seed=1)
    out = base / "run"
    res = run("segment", "train", "--data", str(data), "--val-data", str(val), "--model-kw", TINY,
              "--steps", "12", "--batch-size", "4", "--crop", "16", "--out", str(out), "--no-progress",
              "--threads", "1", "--precision", "32-true", "--log-every", "6", "--ckpt-every", "6")
    assert res.exit_code == 0, res.output
    return {"base": base, "data": data, "val": val, "run": out, "output": res.output}


def test_train_writes_a_self_describing_checkpoint(trained):
    out = trained["output"]
    assert "checkpoint:" in out and "foreground IoU" in out and "binary (0/255) masks" in out
    import pictorch

    model = pictorch.load(str(trained["run"]))
    meta = model.pictorch_meta
    assert meta["task"] == "segment" and meta["classes"] == ["background", "foreground"]
    assert meta["input"]["mode"] == "RGB" and meta["binary"] is True
    y = model(torch.zeros(1, 3, 33, 41))
    assert y.shape == (1, 1, 33, 41)


def test_resume_continues_to_the_new_step_count(trained, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained["run"], run_dir)
    res = run("segment", "train", "--data", str(trained["data"]), "--steps", "16", "--out", str(run_dir),
              "--resume", "--no-progress", "--threads", "1", "--precision", "32-true", "--batch-size", "4")
    assert res.exit_code == 0, res.output
    assert "segment: 16 steps" in res.output


def test_predict_any_size_and_never_overwrites(trained, tmp_path):
    big = np.zeros((70, 90, 3), np.uint8)
    big[10:30, 20:50] = 220
    Image.fromarray(big).save(tmp_path / "big.png")
    out = tmp_path / "pred"
    res = run("segment", "predict", str(trained["run"]), str(tmp_path / "big.png"), str(trained["val"] / "images"),
              "--out", str(out), "--tile", "32", "--overlap", "8")
    assert res.exit_code == 0, res.output
    mask = Image.open(out / "big_mask.png")
    assert mask.mode == "P" and mask.size == (90, 70)
    assert (out / "big_overlay.png").is_file() and (out / "im0_mask.png").is_file()
    res = run("segment", "predict", str(trained["run"]), str(tmp_path / "big.png"), "--out", str(out))
    assert res.exit_code == 0 and (out / "big_mask-1.png").is_file()


def test_evaluate_writes_report_and_confusion(trained, tmp_path):
    out = tmp_path / "eval"
    res = run("segment", "evaluate", str(trained["run"]), str(trained["val"]), "--out", str(out))
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    assert rep["count"] == 3 and 0 <= rep["foreground"]["iou"] <= 1 and len(rep["confusion"]) == 2
    assert (out / "confusion.png").is_file() and (out / "overlays.png").is_file()
    assert "foreground IoU" in res.output


def test_compare_reports_three_architectures(tmp_path):
    res = run("segment", "compare", "--data", "synthetic", "--steps", "3", "--batch-size", "4", "--out",
              str(tmp_path / "cmp"), "--no-progress", "--threads", "1", "--precision", "32-true")
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "cmp" / "report.json").read_text())["rows"]
    assert [r["arch"] for r in rows] == ["unet", "segnet", "fcn"]
    seg, unet = rows[1], rows[0]
    assert seg["memory"]["handoff"] < unet["memory"]["handoff"]  # indices, not feature maps


def test_bad_input_is_one_line_and_nonzero(trained, tmp_path):
    from pictorch.engine.checkpoint import save_checkpoint

    other = tmp_path / "other.safetensors"
    save_checkpoint(other, {"model": torch.nn.Linear(2, 2)}, {"task": "classify"})
    cases = [
        ("segment", "predict", str(other), str(trained["val"] / "images")),
        ("segment", "train", "--data", str(tmp_path / "nowhere"), "--steps", "1"),
        ("segment", "train", "--data", "synthetic", "--loss", "dicey", "--steps", "1"),
        ("segment", "train", "--data", "synthetic", "--arch", "deeplab", "--steps", "1"),
        ("segment", "predict", str(trained["run"]), str(tmp_path / "missing.png")),
        ("segment", "train", "--data", "synthetic", "--freeze-encoder", "-1", "--steps", "1"),
    ]
    for args in cases:
        res = run(*args)
        assert res.exit_code == 2, (args, res.output)
        lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
        assert lines[-1].startswith("error: ") and "Traceback" not in res.output, res.output
    res = run("segment", "predict", str(other), str(trained["val"] / "images"))
    assert "'classify' checkpoint, not a 'segment' one" in res.output


def test_evaluate_reports_progress(trained, tmp_path, monkeypatch):
    """Issue 14: a progress bar on every long non-training verb (drawn only on a terminal; recorded here)."""
    from progress_spy import finished, spy_progress

    seen = spy_progress(monkeypatch)
    res = run("segment", "evaluate", str(trained["run"]), str(trained["val"]), "--out", str(tmp_path / "eval"))
    assert res.exit_code == 0, res.output
    assert finished(seen["evaluating"]) and seen["evaluating"][-1] == (3, 3)
