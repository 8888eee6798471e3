"""`pictorch translate` through the CLI: train → apply (any size) → evaluate → pictorch.load; bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pictorch.cli import main

TORCH_THREADS = 1


@pytest.fixture(scope="module")
def aligned_dir(tmp_path_factory):
    """Aligned A|B files: A gray-ish RGB blobs, B their inversion."""
    root = tmp_path_factory.mktemp("aligned")
    rng = np.random.default_rng(0)
    for i in range(12):
        low = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
        a = np.asarray(Image.fromarray(low).resize((16, 16), Image.BILINEAR))
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / f"{i:02d}.png")
    return root


TINY = ["--preset", "tiny", "--batch-size", "4", "--log-every", "2", "--no-progress", "--accelerator", "cpu",
        "--picture-every", "3"]


@pytest.fixture(scope="module")
def trained(aligned_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    try:
        main(["translate", "train", "--data", str(aligned_dir), "--steps", "4", "--out", str(run_dir), *TINY])
    except SystemExit as e:
        assert not e.code
    return run_dir


def test_train_writes_checkpoint_pictures_and_curves(trained):
    assert (trained / "last.safetensors").exists() and (trained / "curves.png").exists()
    assert sorted(p.name for p in (trained / "pictures").iterdir())  # the fixed A→B grid
    import pictorch

    g = pictorch.load(trained)
    meta = g.pictorch_meta
    assert meta["task"] == "translate" and meta["model"] == "pix2pix" and meta["step"] == 4
    assert meta["input"]["mode"] == "RGB" and meta["deployed_module"] == "G"


def test_apply_keeps_non_square_size_and_never_overwrites(run, trained, tmp_path):
    img = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (19, 37, 3), dtype=np.uint8)).save(img)
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((9, 5), 128, np.uint8)).save(gray)  # converted to the checkpoint's RGB
    out = tmp_path / "out"
    code, text = run("translate", "apply", str(trained), str(img), str(gray), "--out", str(out))
    assert code == 0, text
    assert Image.open(out / "wide.png").size == (37, 19) and Image.open(out / "gray.png").size == (5, 9)
    code, text = run("translate", "apply", str(trained), str(img), "--out", str(out), "--mode", "paper")
    assert code == 0, text
    assert (out / "wide-1.png").exists()  # the earlier result is kept


def test_a_one_pixel_file_translates_without_a_layout_guess(run, trained, tmp_path):
    import warnings

    one = tmp_path / "one.png"  # 1×3×1×1 decoded: as a bare array it could also read as N×H×W×C
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(one)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, text = run("translate", "apply", str(trained), str(one), "--out", str(tmp_path / "o1"))
    assert code == 0, text
    assert Image.open(tmp_path / "o1" / "one.png").size == (1, 1)
    assert not [w for w in caught if "was read as" in str(w.message)]  # a decoded file's layout is known


def test_cli_apply_equals_the_python_api(run, trained, tmp_path):
    import pictorch

    img = tmp_path / "x.png"
    arr = np.random.default_rng(2).integers(0, 255, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(arr).save(img)
    code, text = run("translate", "apply", str(trained), str(img), "--out", str(tmp_path / "o"))
    assert code == 0, text
    cli = np.asarray(Image.open(tmp_path / "o" / "x.png"))
    g = pictorch.load(trained)
    api = g(torch.from_numpy(arr).permute(2, 0, 1)).permute(1, 2, 0).numpy()
    assert np.array_equal(cli, api)
    assert np.array_equal(np.asarray(g(Image.fromarray(arr))), api)  # PIL in, PIL out


def test_evaluate_reports_scores_and_the_identity_baseline(run, trained, aligned_dir, tmp_path):
    code, text = run("translate", "evaluate", str(trained), "--out", str(tmp_path / "ev"))
    assert code == 0, text
    rep = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert {"l1", "psnr", "ssim", "identity_l1"} <= set(rep) and rep["n"] == 12
    assert all(np.isfinite(rep[k]) for k in ("l1", "psnr", "ssim"))
    assert (tmp_path / "ev" / "samples.png").exists()


def test_evaluate_scores_fid_and_kid_on_a_domain_feature_net(run, trained, tmp_path):
    from pictorch.metrics.fid import FeatureNet
    from pictorch.registry import create_model
    from pictorch.tasks.translate import api
    from pictorch.tasks.translate.reports import distribution_scores

    torch.manual_seed(0)
    net = FeatureNet(create_model("small_cnn", in_chans=3, num_classes=2).eval(), (16, 16), 3, (0.5,) * 3,
                     (0.5,) * 3, name="toy domain net")
    rep = api.evaluate(trained, feature_net=net)
    assert rep["feature_net"] == "toy domain net" and rep["n_fid"] == 12
    assert np.isfinite(rep["fid"]) and rep["fid"] >= 0 and np.isfinite(rep["kid"])
    real = torch.randint(0, 256, (10, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    same = distribution_scores(net, real, real, reference=real)
    far = distribution_scores(net, torch.zeros_like(real), real)
    # unbiased KID of a set against itself is not exactly 0 (the cross term keeps k(x, x)); it is far below
    assert same["fid"] < 1e-6 and same["fid_floor"] < 1e-6 and far["fid"] > 1e-3 and abs(same["kid"]) < far["kid"]
    # a feature net that is not a file: one line
    _one_line_error(*run("translate", "evaluate", str(trained), "--feature-net", str(tmp_path / "none.safetensors")))


def test_channels_last_option_reaches_the_config(run, aligned_dir, tmp_path):
    code, text = run("translate", "train", "--data", str(aligned_dir), "--steps", "2", "--out", str(tmp_path),
                     "--channels-last", *TINY)
    assert code == 0, text
    assert "channels_last: true" in (tmp_path / "config.yaml").read_text()


def test_resume_continues_to_the_new_step_count(run, aligned_dir, tmp_path):
    code, text = run("translate", "train", "--data", str(aligned_dir), "--steps", "2", "--out", str(tmp_path), *TINY)
    assert code == 0, text
    code, text = run("translate", "train", "--data", str(aligned_dir), "--steps", "3", "--out", str(tmp_path),
                     "--resume", *TINY)
    assert code == 0, text
    import pictorch

    assert pictorch.load(tmp_path).pictorch_meta["step"] == 3


def test_cyclegan_round_trip_with_reverse(run, aligned_dir, tmp_path):
    run_dir = tmp_path / "cyc"
    code, text = run("translate", "train", "--model", "cyclegan", "--data", str(aligned_dir), "--steps", "2",
                     "--out", str(run_dir), *TINY)
    assert code == 0, text
    img = tmp_path / "y.png"
    Image.fromarray(np.zeros((11, 13, 3), np.uint8)).save(img)
    code, text = run("translate", "apply", str(run_dir), str(img), "--reverse", "--out", str(tmp_path / "r"))
    assert code == 0, text
    assert Image.open(tmp_path / "r" / "y.png").size == (13, 11)
    code, text = run("translate", "evaluate", str(run_dir))
    assert code == 0 and "cycle_l1_a" in text, text


def _one_line_error(code: int, text: str, *needles: str) -> None:
    assert code == 2, text
    lines = [ln for ln in text.strip().splitlines() if ln]
    assert lines[-1].startswith("error: ") and "Traceback" not in text, text
    for n in needles:
        assert n in lines[-1], text


def test_bad_input_is_one_clear_line(run, trained, tmp_path):
    # unpaired folders given to pix2pix
    (tmp_path / "u" / "A").mkdir(parents=True)
    (tmp_path / "u" / "B").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "u" / "A" / "p.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "u" / "B" / "q.png")
    _one_line_error(*run("translate", "train", "--data", str(tmp_path / "u"), "--out", str(tmp_path / "r1"), *TINY),
                    "no image pairs")
    # an empty domain (CycleGAN)
    (tmp_path / "e" / "A").mkdir(parents=True)
    (tmp_path / "e" / "B").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "e" / "B" / "q.png")
    _one_line_error(*run("translate", "train", "--model", "cyclegan", "--data", str(tmp_path / "e"), "--out",
                         str(tmp_path / "r2"), *TINY))
    # a checkpoint of another task
    from pictorch.engine.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "other.safetensors", torch.nn.Linear(2, 2), {"task": "classify"})
    _one_line_error(*run("translate", "apply", str(tmp_path / "other.safetensors"), str(tmp_path / "u" / "A"),
                         "--out", str(tmp_path / "o")), "'classify' checkpoint")
    # --reverse on pix2pix, a missing image, an unknown preset, a file that is not an image
    _one_line_error(*run("translate", "apply", str(trained), str(tmp_path / "u" / "A"), "--reverse", "--out",
                         str(tmp_path / "o")), "CycleGAN")
    _one_line_error(*run("translate", "apply", str(trained), str(tmp_path / "nope.png"), "--out", str(tmp_path / "o")),
                    "no such image")
    _one_line_error(*run("translate", "train", "--preset", "huge", "--out", str(tmp_path / "r3")), "preset")
    (tmp_path / "bad.png").write_text("not an image")
    _one_line_error(*run("translate", "apply", str(trained), str(tmp_path / "bad.png"), "--out", str(tmp_path / "o")))


def test_yaml_beats_the_preset_and_typed_options_beat_the_yaml(run, aligned_dir, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: 2\nngf: 4\nbatch_size: 2\n")
    code, text = run("translate", "train", "--data", str(aligned_dir), "--config", str(cfg), "--ndf", "4",
                     "--out", str(tmp_path / "r"), "--preset", "tiny", "--no-progress", "--accelerator", "cpu")
    assert code == 0, text
    import pictorch

    meta = pictorch.load(tmp_path / "r").pictorch_meta
    assert meta["step"] == 2 and meta["models"]["G"]["kwargs"]["ngf"] == 4
    assert meta["models"]["D"]["kwargs"]["ndf"] == 4 and meta["train_config"]["batch_size"] == 2


def test_evaluate_reports_progress(run, trained, tmp_path, monkeypatch):
    """Issue 14: a progress bar on every long non-training verb (drawn only on a terminal; recorded here)."""
    from progress_spy import finished, spy_progress

    seen = spy_progress(monkeypatch)
    code, text = run("translate", "evaluate", str(trained), "--out", str(tmp_path / "ev"))
    assert code == 0, text
    assert finished(seen["evaluating"]) and seen["evaluating"][-1] == (12, 12)


def test_loaded_translator_takes_numpy_and_torch_arrays(trained):
    """Issue 14: `pictorch.load(translator)(ndarray)` was refused; arrays in data/convert.py's layouts work and
    come back as arrays of the same layout and kind."""
    import warnings

    import pictorch

    g = pictorch.load(trained)
    arr = np.random.default_rng(3).integers(0, 255, (20, 24, 3), dtype=np.uint8)
    want = g(torch.from_numpy(arr).permute(2, 0, 1)).permute(1, 2, 0).numpy()  # the native C×H×W road
    hwc = g(arr)
    assert isinstance(hwc, np.ndarray) and hwc.dtype == np.uint8 and np.array_equal(hwc, want)
    nhwc = g(np.stack([arr, arr]))
    assert nhwc.shape == (2, 20, 24, 3) and np.array_equal(nhwc[1], want)
    nchw = g(np.ascontiguousarray(arr.transpose(2, 0, 1))[None])
    assert nchw.shape == (1, 3, 20, 24) and np.array_equal(nchw[0].transpose(1, 2, 0), want)
    f = g(arr.astype(np.float32) / 255)
    assert f.dtype == np.float32 and f.shape == (20, 24, 3) and np.allclose(f * 255, want, atol=0.51)
    assert np.array_equal(g(torch.from_numpy(arr)).numpy(), want)  # a uint8 H×W×C tensor: the same
    gray = g(np.full((9, 5), 128, np.uint8))  # gray H×W into an RGB translator: H×W×3 out
    assert gray.shape == (9, 5, 3) and gray.dtype == np.uint8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pictorch.errors import ConfigError

        with pytest.raises(ConfigError, match="in \\[0, 1\\]"):
            g(np.full((8, 8, 3), 2.0, np.float32))
        with pytest.raises(ConfigError, match="NaN"):
            g(np.full((8, 8, 3), np.nan, np.float32))
        with pytest.raises(ConfigError, match="dtype"):
            g(np.zeros((8, 8, 3), np.complex64))


def test_pix2pix_on_unpaired_data_or_with_no_loss_is_one_line(run, trained, monkeypatch):
    import pictorch.tasks.translate.data as tdata
    from pictorch.tasks.translate.data import TranslationData

    x = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    unpaired = TranslationData(x, x, x, x, paired=False, name="two-domains", crop=0)
    monkeypatch.setattr(tdata, "load_translation_data", lambda *a, **k: unpaired)
    code, text = run("translate", "evaluate", str(trained), "--data", "two-domains")
    assert code != 0 and "unpaired domains give pix2pix no true B" in text and "Traceback" not in text
    code, text = run("translate", "train", "--data", "two-domains", "--steps", "1", *TINY)  # an unpaired task
    assert code != 0 and "pix2pix needs paired data" in text and "use --model cyclegan" in text
    code, text = run("translate", "train", "--data", "edges2photo", "--gan-weight", "0", "--lambda-l1", "0",
                     "--steps", "1", *TINY)
    assert code != 0 and "no loss to train on" in text and "Traceback" not in text
