"""`pictorch gan` through the CLI: train → resume → sample → interpolate → arithmetic → evaluate; bad input."""

from __future__ import annotations

import json

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    from shapes_folder import write_shapes

    return write_shapes(tmp_path_factory.mktemp("shapes"), 96)


TINY = ["--ngf", "8", "--ndf", "8", "--z-dim", "8", "--batch-size", "16", "--log-every", "2", "--no-progress",
        "--precision", "32-true", "--accelerator", "cpu"]


def test_round_trip(run, shapes_dir, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    code, out = run("gan", "train", "--data", str(shapes_dir), "--model", "cdcgan", "--steps", "3", "--out",
                    str(run_dir), "--picture-every", "2", *TINY)
    assert code == 0, out
    assert (run_dir / "last.safetensors").exists() and (run_dir / "pictures").is_dir()
    code, out = run("gan", "train", "--data", str(shapes_dir), "--model", "cdcgan", "--steps", "5", "--out",
                    str(run_dir), "--resume", *TINY)
    assert code == 0, out
    import pictorch

    g = pictorch.load(run_dir)  # the deployed generator, like every other task's pictorch.load
    assert g.__class__.__name__ == "DCGANGenerator"
    meta = g.pictorch_meta
    assert meta["step"] == 5 and meta["classes"] == ["circle", "square", "triangle"] and meta["task"] == "generate"
    assert meta["normalization"]["range"] == [-1.0, 1.0] and meta["z_dim"] == 8
    assert (run_dir / "curves.png").exists() and (run_dir / "metrics.csv").exists()

    code, out = run("gan", "sample", str(run_dir), "--n", "4", "--per-class", "--out", str(tmp_path / "pc.png"))
    assert code == 0 and (tmp_path / "pc.png").exists(), out
    code, out = run("gan", "sample", str(run_dir), "--n", "3", "--class", "square", "--out", str(tmp_path / "sq"))
    assert code == 0, out
    files = sorted(p.name for p in (tmp_path / "sq").iterdir())
    assert files == ["sample_00000_square.png", "sample_00001_square.png", "sample_00002_square.png"]
    assert Image.open(tmp_path / "sq" / files[0]).size == (28, 28)

    code, out = run("gan", "interpolate", str(run_dir), "--seeds", "1,2,3", "--steps", "5", "--mode", "slerp",
                    "--out", str(tmp_path / "interp.png"))
    assert code == 0, out
    assert (tmp_path / "interp.png").exists() and (tmp_path / "interp.gif").exists()
    code, out = run("gan", "arithmetic", str(run_dir), "--a", "1,2", "--b", "3", "--c", "4,5,6", "--class", "1",
                    "--out", str(tmp_path / "arith.png"))
    assert code == 0 and (tmp_path / "arith.png").exists(), out

    feat = tmp_path / "feat"
    code, out = run(
        "gan", "feature-net", "train", "--data", str(shapes_dir), "--steps", "4", "--batch-size", "16", "--width",
        "8", "--out", str(feat), "--no-progress", "--precision", "32-true", "--accelerator", "cpu")
    assert code == 0, out
    # a checkpoint labelled "classify" loads through classify's own loader (it used to end in KeyError)
    one = next((shapes_dir / "circle").iterdir())
    code, out = run("classify", "predict", str(feat), str(one))
    assert code == 0 and one.name in out, out
    from progress_spy import finished, spy_progress

    seen = spy_progress(monkeypatch)  # issue 14: a progress bar on every long non-training verb
    code, out = run("gan", "evaluate", str(run_dir), "--feature-net", str(feat), "--n", "40", "--out",
                    str(tmp_path / "eval.json"))
    assert code == 0, out
    assert finished(seen["evaluating"]) and seen["evaluating"][-1] == (120, 120)  # 3 feature passes of 40
    rep = json.loads((tmp_path / "eval.json").read_text())
    assert rep["n"] == 40 and rep["fid"] >= 0 and rep["fid_floor_real_vs_real"] >= 0
    assert 0 <= rep["precision"] <= 1 and 0 <= rep["recall"] <= 1
    assert rep["kid_std"] > 0 and f"± {rep['kid_std']:.4f}" in out  # a real spread over subsets (was ± 0.0000)
    assert set(rep["conditional_consistency"]["per_class"]) == {"circle", "square", "triangle"}
    assert "FID floor (real vs real)" in out


def _one_error_line(code, out):
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    assert code == 2, out
    assert len([ln for ln in lines if ln.startswith("error:")]) == 1 and "Traceback" not in out, out
    return [ln for ln in lines if ln.startswith("error:")][0]


def test_bad_inputs(run, shapes_dir, tmp_path):
    line = _one_error_line(*run("gan", "train", "--data", str(shapes_dir), "--image-size", "30", "--out",
                                str(tmp_path / "x"), *TINY))
    assert "multiple of 4" in line and "28, 32" in line
    line = _one_error_line(*run("gan", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "x"),
                                *TINY))
    assert "not a folder" in line
    line = _one_error_line(*run("gan", "sample", str(tmp_path / "missing.safetensors")))
    assert "no such checkpoint" in line
    run_dir = tmp_path / "r"
    code, out = run("gan", "train", "--data", str(shapes_dir), "--model", "cgan", "--hidden", "32", "--steps", "1",
                    "--out", str(run_dir), *TINY)
    assert code == 0, out
    line = _one_error_line(*run("gan", "sample", str(run_dir), "--class", "hexagon", "--out",
                                str(tmp_path / "s.png")))
    assert "hexagon" in line and "circle" in line and "triangle" in line
    line = _one_error_line(*run("gan", "sample", str(run_dir), "--class", "7", "--out", str(tmp_path / "s.png")))
    assert "class 7" in line
    line = _one_error_line(*run("gan", "interpolate", str(run_dir), "--seeds", "1,x"))
    assert "--seeds" in line
    line = _one_error_line(*run("gan", "evaluate", str(run_dir), "--feature-net", str(run_dir), "--n", "20"))
    # a GAN checkpoint loads as its generator (deployed_module G), which is no classifier
    assert "single classifier" in line or "not a 'classify'" in line or "pass a classifier checkpoint" in line
