"""Issue 14's smaller defects, each fed through the CLI exactly as the tester typed it: a small folder trains with
a lowered batch size, one metrics.csv row and one progress line per step (also after --resume), `gan` logs as
`[gan]`, pictures go into the run folder and never over earlier ones (--force to replace), `identify train`
fills pictures/, `verify` decides with the model's threshold, "1 person", and atomically written files keep the
usual permissions."""

from __future__ import annotations

import csv
import os
import stat

import numpy as np
import pytest
from cli_run import cli as _cli
from cli_run import error_line as _error_line
from PIL import Image

TORCH_THREADS = 1


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    """6 gray 28×28 photos of 2 "people" (3 each): smaller than every default batch size."""
    root = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(0)
    for c in ("ann", "bob"):
        (root / c).mkdir()
        base = rng.integers(0, 255, (28, 28))
        for i in range(3):
            img = np.clip(base + rng.normal(0, 20, (28, 28)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


def _rows(run) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ae_small_folder_lowers_batch_one_row_per_step_and_resume(tmp_path, small_folder, capsys):
    run = tmp_path / "ae"
    base = ["ae", "train", "--data", str(small_folder), "--image-size", "16", "--widths", "4,8", "--code-size", "4",
            "--precision", "32-true", "--log-every", "1", "--out", str(run)]
    code, out, err = _cli(capsys, *base, "--steps", "2")
    assert code == 0, err
    assert "note: only 6 training images: --batch-size lowered from 128 to 6" in err
    steps = [r["step"] for r in _rows(run)]
    assert steps == ["1", "2"], steps  # the final row was written twice (before and after validation)
    assert "val_psnr" in _rows(run)[-1] and _rows(run)[-1]["val_psnr"]
    assert sum(ln.startswith("[autoencode] step 2/2") for ln in err.splitlines()) == 1, err
    code, out, err = _cli(capsys, *base, "--steps", "3", "--resume")
    assert code == 0, err
    assert [r["step"] for r in _rows(run)] == ["1", "2", "3"]
    code, out, err = _cli(capsys, *base, "--steps", "3", "--resume")  # a finished run resumed: no new row
    assert code == 0, err
    assert [r["step"] for r in _rows(run)] == ["1", "2", "3"]


def test_gan_small_folder_logs_as_gan_and_writes_into_its_run(tmp_path, small_folder, capsys, monkeypatch):
    run = tmp_path / "gan"
    code, out, err = _cli(capsys, "gan", "train", "--data", str(small_folder), "--steps", "2", "--ngf", "8", "--ndf",
                          "8", "--z-dim", "8", "--precision", "32-true", "--log-every", "1", "--out", str(run))
    assert code == 0, err
    assert "note: only 6 training images per discriminator step: --batch-size lowered from 64 to 6" in err
    assert "[gan] step 2/2" in err and "[generate]" not in err

    monkeypatch.chdir(tmp_path)  # a bare `gan sample RUN` must not write into the current folder
    code, out, err = _cli(capsys, "gan", "sample", str(run), "--n", "4")
    assert code == 0 and (run / "samples.png").exists() and not (tmp_path / "samples.png").exists(), out + err
    code, out, err = _cli(capsys, "gan", "sample", str(run), "--n", "4", "--seed", "1")
    assert code == 0 and (run / "samples-1.png").exists(), out + err  # never over the first
    code, out, err = _cli(capsys, "gan", "sample", str(run), "--n", "2", "--out", "mine.png")
    assert code == 0 and (tmp_path / "mine.png").exists()
    before = (tmp_path / "mine.png").read_bytes()
    line = _error_line(*_cli(capsys, "gan", "sample", str(run), "--n", "4", "--out", "mine.png"))
    assert "already exists" in line and "--force" in line
    assert (tmp_path / "mine.png").read_bytes() == before
    code, out, err = _cli(capsys, "gan", "sample", str(run), "--n", "4", "--out", "mine.png", "--force")
    assert code == 0 and (tmp_path / "mine.png").read_bytes() != before
    line = _error_line(*_cli(capsys, "gan", "interpolate", str(run), "--steps", "100000"))
    assert "at most 1000" in line  # it used to run for minutes towards a 100000-frame strip
    # what --help says it writes is what it writes
    code, out, err = _cli(capsys, "gan", "sample", "--help")
    assert "samples.png" in out and "grid.png" not in out
    # files written atomically are readable like any other (mkstemp made them 0600)
    mode = stat.S_IMODE(os.stat(run / "samples.png").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask, oct(mode)


def test_ae_folder_outputs_refuse_a_folder_with_files(tmp_path, small_folder, capsys, monkeypatch):
    run = tmp_path / "ae"
    code, out, err = _cli(capsys, "ae", "train", "--data", str(small_folder), "--image-size", "16", "--widths",
                          "4,8", "--code-size", "4", "--precision", "32-true", "--steps", "1", "--out", str(run))
    assert code == 0, err
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capsys, "ae", "denoise", str(run), str(small_folder / "ann"))
    assert code == 0 and (run / "denoised").is_dir() and not (tmp_path / "denoised").exists(), out + err
    # --out onto the inputs' own folder would have replaced the photos with their denoised versions
    line = _error_line(*_cli(capsys, "ae", "denoise", str(run), str(small_folder / "ann"), "--out",
                             str(small_folder / "ann")))
    assert "already holds files" in line and "--force" in line
    code, out, err = _cli(capsys, "ae", "encode", str(run), str(small_folder))
    assert code == 0 and (run / "codes.npz").exists(), out + err
    line = _error_line(*_cli(capsys, "ae", "interpolate", str(run), str(small_folder / "ann" / "0.png"),
                             str(small_folder / "bob" / "0.png"), "--steps", "100000"))
    assert "at most 1000" in line


def test_identify_train_pictures_verify_threshold_and_one_person(tmp_path, capsys):
    from pictorch.data.synthetic import toy_identities

    photos = tmp_path / "people"
    ds = toy_identities(4, 6, size=28, channels=1, seed=0)
    for i, (img, lab) in enumerate(zip(ds.images, ds.labels, strict=True)):
        d = photos / f"p{int(lab)}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0].numpy()).save(d / f"{i:02d}.png")
    run = tmp_path / "id"
    code, out, err = _cli(capsys, "identify", "train", "--data", "toy-identities:8x8", "--steps", "3",
                          "--batch-size", "16", "--precision", "32-true", "--no-progress", "--out", str(run))
    assert code == 0, err
    assert list((run / "pictures").glob("*.png")), "identify train left pictures/ empty"

    a, b = sorted((photos / "p0").glob("*.png"))[:2]
    c = sorted((photos / "p1").glob("*.png"))[0]
    code, out, err = _cli(capsys, "identify", "verify", str(a), str(c), "--model", str(run))
    assert code == 0, err
    # without --threshold or a calibrated gallery: the equal-error point measured when training, and a note
    assert out.startswith(("same person:", "different people:")), out
    assert "equal-error point" in err
    code, out, err = _cli(capsys, "identify", "verify", str(a), str(b), "--model", str(run), "--threshold", "0.5")
    assert code == 0 and "threshold 0.5000" in out

    g = tmp_path / "g.db"
    code, out, err = _cli(capsys, "identify", "enroll", "ann", str(photos / "p0"), "--gallery", str(g), "--model",
                          str(run))
    assert code == 0, err
    code, out, err = _cli(capsys, "identify", "check", "--gallery", str(g))
    assert code == 0 and "1 person," in out and "1 people" not in out, out
    line = _error_line(*_cli(capsys, "identify", "who", str(a), "--gallery", str(g), "--top-k", "0"))
    assert "--top-k" in line

    # rename and merge, through the CLI: one person under two names becomes one entry with every photo
    code, out, err = _cli(capsys, "identify", "enroll", "annie", str(photos / "p0"), "--gallery", str(g))
    assert code == 0 or "already enrolled" in err  # the same photos: refused as copies, so enrol others
    code, out, err = _cli(capsys, "identify", "enroll", "annie", *map(str, sorted((photos / "p2").glob("*.png"))),
                          "--gallery", str(g))
    assert code == 0, err
    code, out, err = _cli(capsys, "identify", "rename", "ann", "anna", "--gallery", str(g))
    assert code == 0 and "renamed ann into anna" in out, out + err
    line = _error_line(*_cli(capsys, "identify", "rename", "annie", "anna", "--gallery", str(g)))
    assert "--merge" in line
    line = _error_line(*_cli(capsys, "identify", "merge", "annie", "nobody", "--gallery", str(g)))
    assert "not enrolled" in line and "rename" in line
    code, out, err = _cli(capsys, "identify", "merge", "annie", "anna", "--gallery", str(g))
    assert code == 0 and "merged annie into anna" in out, out + err
    code, out, err = _cli(capsys, "identify", "list", "--gallery", str(g), "--json")
    import json

    assert json.loads(out)["people"] == {"anna": 12}


def test_classify_init_conversion_note_and_evaluate_into_the_run(tmp_path, small_folder, capsys, monkeypatch):
    run = tmp_path / "gray"
    code, out, err = _cli(capsys, "classify", "train", "--data", str(small_folder), "--image-size", "16", "--steps",
                          "1", "--precision", "32-true", "--no-progress", "--threads", "1", "--out", str(run))
    assert code == 0, err
    rgb = tmp_path / "rgb"
    rng = np.random.default_rng(1)
    for c in ("x", "y"):
        (rgb / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3)).astype(np.uint8)).save(rgb / c / f"{i}.png")
    code, out, err = _cli(capsys, "classify", "train", "--data", str(rgb), "--init", str(run), "--regime", "head",
                          "--steps", "1", "--precision", "32-true", "--no-progress", "--threads", "1", "--out",
                          str(tmp_path / "head"))
    assert code == 0, err
    assert "note: images converted to the --init checkpoint's input (RGB 40×40 -> L 16×16)" in err

    monkeypatch.chdir(tmp_path)
    for expected in ("evaluation", "evaluation-1"):  # a second evaluation never replaces the first's report
        code, out, err = _cli(capsys, "classify", "evaluate", str(run), str(small_folder))
        assert code == 0 and (run / expected / "report.json").exists(), out + err
    assert not (tmp_path / "evaluation").exists()


def test_unwritable_out_is_one_line(tmp_path, small_folder, capsys):
    run = tmp_path / "ae"
    code, out, err = _cli(capsys, "ae", "train", "--data", str(small_folder), "--image-size", "16", "--widths",
                          "4,8", "--code-size", "4", "--precision", "32-true", "--steps", "1", "--out", str(run))
    assert code == 0, err
    a_file = small_folder / "ann" / "0.png"
    line = _error_line(*_cli(capsys, "ae", "reconstruct", str(run), str(small_folder), "--out",
                             str(a_file / "rec.png")))
    assert "is a file where a folder is needed" in line
    line = _error_line(*_cli(capsys, "ae", "reconstruct", str(run), str(small_folder), "--out",
                             str(tmp_path / ("x" * 300 + ".png"))))
    assert "too long" in line
