"""`pictorch gan` with --model lapgan / stackgan through the CLI: train → save → sample with no flag retyped;
resume; vector conditions from a CSV; bad input in one line."""

from __future__ import annotations

import pytest
from PIL import Image

TORCH_THREADS = 1


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    from shapes_folder import write_shapes

    return write_shapes(tmp_path_factory.mktemp("shapes"), 48)


TINY = ["--ngf", "8", "--ndf", "8", "--z-dim", "8", "--batch-size", "16", "--log-every", "2", "--no-progress",
        "--precision", "32-true", "--accelerator", "cpu", "--picture-every", "2"]


def test_lapgan_train_resume_sample(run, shapes_dir, tmp_path):
    out = tmp_path / "lap"
    code, text = run("gan", "train", "--data", str(shapes_dir), "--model", "lapgan", "--levels", "3", "--steps", "2",
                     "--out", str(out), *TINY)
    assert code == 0, text
    assert "d_L0" in text and "d_L2" in text  # every level logs its own terms
    code, text = run("gan", "train", "--data", str(shapes_dir), "--model", "lapgan", "--levels", "3", "--steps", "3",
                     "--out", str(out), "--resume", *TINY)
    assert code == 0, text
    import pictorch

    meta = pictorch.load(out).pictorch_meta  # the deployed generator
    assert meta["model"] == "lapgan" and meta["levels"] == 3 and meta["level_sizes"] == [28, 14, 7]
    assert meta["step"] == 3
    code, text = run("gan", "sample", str(out), "--n", "4", "--out", str(tmp_path / "s.png"))
    assert code == 0, text
    with Image.open(tmp_path / "s.png") as im:
        assert im.size[0] > 28  # a grid of full-size (28 px) samples
    code, text = run("gan", "interpolate", str(out), "--steps", "3", "--out", str(tmp_path / "i.png"))
    assert code == 0, text


def test_stackgan_with_csv_vectors_and_bad_input(run, shapes_dir, tmp_path):
    # a multi-hot "attribute" vector per image: [is circle, is square, is triangle, is even-numbered]
    rows = ["file,circle,square,triangle,even"]
    classes = sorted(p.name for p in shapes_dir.iterdir())
    for c in classes:
        for f in sorted((shapes_dir / c).iterdir()):
            bits = [int(c == k) for k in classes] + [int(int(f.stem) % 2 == 0)]
            rows.append(f"{c}/{f.name}," + ",".join(map(str, bits)))
    csv = tmp_path / "attrs.csv"
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "stack"
    code, text = run("gan", "train", "--data", str(shapes_dir), "--model", "stackgan", "--condition", str(csv),
                     "--steps", "4", "--out", str(out), *TINY)
    assert code == 0, text
    assert "kl " in text and "stage 2" in text  # the KL term is logged as its own term; Stage II ran last
    code, text = run("gan", "sample", str(out), "--n", "3", "--condition", "1,0,0,1;0,1,0,0",
                     "--out", str(tmp_path / "s.png"))
    assert code == 0 and "wrote 6 samples" in text, text
    # a condition vector of the wrong width
    code, text = run("gan", "sample", str(out), "--condition", "1,0,0", "--out", str(tmp_path / "t.png"))
    assert code != 0 and text.startswith("error:") and "width 4" in text and "Traceback" not in text
    code, text = run("gan", "sample", str(out), "--class", "circle", "--out", str(tmp_path / "t.png"))
    assert code != 0 and "--condition" in text
    # a CSV with a ragged row
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows[:3]) + "\n" + rows[3].rsplit(",", 1)[0] + "\n")
    code, text = run("gan", "train", "--data", str(shapes_dir), "--model", "stackgan", "--condition", str(bad),
                     "--steps", "1", "--out", str(tmp_path / "bad"), *TINY)
    assert code != 0 and "error:" in text and "values where the first row has" in text


def test_class_stackgan_samples_per_class(run, shapes_dir, tmp_path):
    out = tmp_path / "cls"
    code, text = run("gan", "train", "--data", str(shapes_dir), "--model", "stackgan", "--kl-weight", "0.5",
                     "--steps", "2", "--out", str(out), *TINY)
    assert code == 0, text
    code, text = run("gan", "sample", str(out), "--n", "2", "--per-class", "--out", str(tmp_path / "p.png"))
    assert code == 0 and "wrote 6 samples" in text, text


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "lapgan", "--levels", "4"], "cannot halve 7"),
    (["--model", "stackgan", "--kl-weight", "-1"], "--kl-weight"),
    (["--model", "stackgan", "--stage1-fraction", "1.5"], "--stage1-fraction"),
])
def test_bad_multiscale_options_fail_in_one_line(run, shapes_dir, tmp_path, args, message):
    code, text = run("gan", "train", "--data", str(shapes_dir), "--steps", "1", "--out", str(tmp_path / "x"),
                     *args, *TINY)
    assert code != 0 and message in text and text.strip().startswith("error:") and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1


def test_evaluate_lapgan_and_vector_stackgan(run, shapes_dir, tmp_path, monkeypatch):
    """`gan evaluate` on the new kinds: LAPGAN (unconditional) and a CSV-conditioned StackGAN (no class consistency,
    said so); a stand-in feature net keeps it fast."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
    from test_gan_fid import _IntensityClassifier

    from pictorch.metrics import fid as fid_mod
    from pictorch.metrics.fid import FeatureNet

    fn = FeatureNet(_IntensityClassifier((0, 1, 2)), (28, 28), 1, (0.5,), (0.5,), ["a", "b", "c"], "intensity")
    monkeypatch.setattr(fid_mod, "load_feature_net", lambda spec, device="cpu": fn)
    lap = tmp_path / "lap"
    assert run("gan", "train", "--data", str(shapes_dir), "--model", "lapgan", "--steps", "1", "--out", str(lap),
               *TINY)[0] == 0
    code, text = run("gan", "evaluate", str(lap), "--feature-net", "x", "--n", "20")
    assert code == 0 and "FID" in text, text
    rows = ["file,a,b"] + [f"{p.parent.name}/{p.name},{i % 2},{1 - i % 2}"
                           for i, p in enumerate(sorted(shapes_dir.glob("*/*.png")))]
    csv = tmp_path / "c.csv"
    csv.write_text("\n".join(rows) + "\n")
    st = tmp_path / "st"
    assert run("gan", "train", "--data", str(shapes_dir), "--model", "stackgan", "--condition", str(csv), "--steps",
               "1", "--out", str(st), *TINY)[0] == 0
    code, text = run("gan", "evaluate", str(st), "--feature-net", "x", "--n", "20")
    assert code == 0 and "conditioned on vectors" in text, text
