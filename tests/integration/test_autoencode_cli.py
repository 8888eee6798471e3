"""CLI round trip on tiny synthetic data: train -> resume -> load -> encode/decode/reconstruct/denoise/search/
interpolate/compress-report, and bad input -> exit 2 with one `error:` line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import pictorch
from pictorch import cli

TORCH_THREADS = 1  # one intra-op thread (see tests/conftest.py)


def main(args: list[str]) -> None:
    """``pictorch.cli.main`` without re-mounting the capabilities on every call (each in-process call of main()
    adds the sub-apps again, so click's command tree and typer's per-call introspection grow with each call)."""
    if not any(g.name == "autoencode" for g in cli.app.registered_groups):
        cli._mount()
    try:
        cli.app(args=args, prog_name="pictorch", standalone_mode=False)
    except Exception as e:  # noqa: BLE001 - same translation to exit codes as the console entry point
        cli._handle(e, False)


def _run(*args: str) -> None:
    main([*args])


def _fails(capsys, *args: str, match: str) -> str:
    with pytest.raises(SystemExit) as e:
        main([*args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert match in err[0], err[0]
    return err[0]


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory):
    from PIL import Image

    from pictorch.tasks.autoencode.data import load_dataset

    d = tmp_path_factory.mktemp("imgs")
    ds = load_dataset("synthetic", split="test", image_size=16, mode="L", limit=12, seed=3)
    for i, img in enumerate(ds.images):
        Image.fromarray(img[0].numpy()).save(d / f"img{i:02d}.png")
    return d


def test_train_resume_and_use(tmp_path, images_dir, capsys):
    run = tmp_path / "run"
    common = ["autoencode", "train", "--data", "synthetic", "--image-size", "16", "--limit", "128", "--model", "conv",
              "--upsample", "max", "--widths", "8,16", "--code-size", "8", "--batch-size", "16", "--out", str(run),
              "--no-progress", "--log-every", "5", "--precision", "32-true", "--picture-every", "10"]
    _run(*common, "--steps", "20")
    assert (run / "last.safetensors").exists() and list((run / "pictures").glob("*.png"))
    model = pictorch.load(str(run))
    meta = model.pictorch_meta
    assert meta["task"] == "autoencode" and meta["step"] == 20 and meta["image_size"] == [16, 16]
    assert meta["model_name"] == "ae.conv" and meta["normalization"]["scale"] == "x/255"
    assert type(model).__name__ == "ConvAutoencoder" and model.upsample == "max"

    _run("ae", *common[1:], "--steps", "30", "--resume")
    assert pictorch.load(str(run)).pictorch_meta["step"] == 30
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,epoch,loss") and "val_psnr" in rows[0]
    capsys.readouterr()

    codes = tmp_path / "codes.npz"
    _run("ae", "encode", str(run), str(images_dir), "--out", str(codes))
    with np.load(codes) as z:
        assert z["codes"].shape == (12, 8) and len(z["paths"]) == 12
        assert json.loads(str(z["meta"]))["code_size"] == 8
    # a max-unpooling decoder has no indices without its encoder's pass: decoding codes alone is refused (it
    # used to write dark noise), saying which --upsample decodes
    _fails(capsys, "ae", "decode", str(run), str(codes), "--out", str(tmp_path / "dec"), match="--upsample nearest")
    _fails(capsys, "ae", "interpolate", str(run), str(images_dir / "img00.png"), str(images_dir / "img05.png"),
           match="max-unpooling")
    run_n = tmp_path / "run-nearest"
    _run("ae", *common[1:], "--steps", "10", "--upsample", "nearest", "--out", str(run_n))
    _run("ae", "encode", str(run_n), str(images_dir), "--out", str(codes), "--force")  # over the first codes
    _run("ae", "decode", str(run_n), str(codes), "--out", str(tmp_path / "dec"))
    assert len(list((tmp_path / "dec").glob("0*.png"))) == 12 and (tmp_path / "dec" / "grid.png").exists()

    _run("ae", "reconstruct", str(run), str(images_dir), "--out", str(tmp_path / "rec.png"))
    assert (tmp_path / "rec.png").exists() and "PSNR" in capsys.readouterr().out

    _run("ae", "denoise", str(run), str(images_dir / "img00.png"), str(images_dir / "img01.png"),
         "--out", str(tmp_path / "den"), "--add-noise", "gaussian:0.3")
    assert {p.name for p in (tmp_path / "den").glob("*.png")} == {"img00.png", "img01.png", "comparison.png"}

    _run("ae", "interpolate", str(run_n), str(images_dir / "img00.png"), str(images_dir / "img05.png"),
         "--steps", "6", "--out", str(tmp_path / "morph"))
    assert (tmp_path / "morph" / "strip.png").exists() and (tmp_path / "morph" / "morph.gif").exists()

    capsys.readouterr()
    _run("ae", "search", str(run), str(images_dir / "img03.png"), "--index-from", str(images_dir), "--top-k", "3",
         "--out", str(tmp_path / "search.png"))
    out = capsys.readouterr().out
    assert out.splitlines()[0].split(": ", 1)[1].startswith("img03.png")  # a query finds itself first
    assert (tmp_path / "search.png").exists()

    _run("ae", "compress-report", str(run), "--data", "synthetic", "--test-images", "64", "--pca-sizes", "2,8",
         "--out", str(tmp_path / "rep"))
    csv = (tmp_path / "rep" / "compression.csv").read_text().splitlines()
    assert len(csv) == 1 + 2 + 1 and (tmp_path / "rep" / "compression.png").exists()


@pytest.mark.learns
def test_api_reconstruction_improves_with_training(tmp_path):
    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.autoencode import api
    from pictorch.tasks.autoencode.data import load_dataset
    from pictorch.tasks.autoencode.steps import AutoencodeConfig

    cfg = AutoencodeConfig(data="synthetic", image_size=16, limit=256, model="conv-vae", widths="8,16", code_size=8,
                           noise="gaussian:0.1", val_images=64)
    tc = TrainConfig(out_dir=str(tmp_path / "vae"), steps=120, batch_size=32, lr=3e-3, precision="32-true",
                     progress=False, log_every=40)
    res = api.train(cfg, tc)
    assert "kl" in res["metrics"] and res["metrics"]["kl"] > 0
    ae = api.load(tmp_path / "vae")
    x = load_dataset("synthetic", split="test", image_size=16, limit=64).images
    clean = ae.prepare(x)
    mean_img = clean.mean(0, keepdim=True).expand_as(clean)
    assert api.psnr_db(ae.reconstruct(x), clean) > api.psnr_db(mean_img, clean) + 1.0
    # VAE encode returns the posterior mean: deterministic
    torch.testing.assert_close(ae.encode(x[:4]), ae.encode(x[:4]))


def test_bad_inputs_exit_2_with_one_line(tmp_path, images_dir, capsys):
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.tasks.autoencode.models import create_autoencoder

    other = tmp_path / "classify.safetensors"
    save_checkpoint(other, create_autoencoder("linear", image_size=16, code_size=4), {"task": "classify"})
    _fails(capsys, "ae", "encode", str(other), str(images_dir), match="'classify' checkpoint")
    ck = tmp_path / "ae.safetensors"
    save_checkpoint(ck, create_autoencoder("linear", image_size=16, code_size=4), {"task": "autoencode"})
    np.save(tmp_path / "wide.npy", np.zeros((2, 7), np.float32))
    _fails(capsys, "ae", "decode", str(ck), str(tmp_path / "wide.npy"), match="code size is 4")
    _fails(capsys, "ae", "encode", str(ck), str(tmp_path / "missing.png"), match="no such file")
    (tmp_path / "junk.png").write_text("not an image")
    _fails(capsys, "ae", "encode", str(ck), str(tmp_path / "junk.png"), match="could be read")
    _fails(capsys, "ae", "encode", str(tmp_path / "nope.safetensors"), str(images_dir), match="no such checkpoint")
    base = ["ae", "train", "--data", "synthetic", "--image-size", "16", "--limit", "32", "--steps", "2",
            "--batch-size", "8", "--out", str(tmp_path / "r"), "--no-progress", "--precision", "32-true"]
    _fails(capsys, *base, "--model", "mlp", "--code-size", "300", match="larger than the input")
    _fails(capsys, *base, "--noise", "speckle:0.1", match="unknown noise")
    _fails(capsys, *base, "--loss", "mse:1,perceptual:0.5", match="needs --perceptual-net")
    _fails(capsys, *base, "--model", "gan", match="unknown --model")
    _fails(capsys, *base, "--upsample", "bilinear", match="unknown --upsample")
    _fails(capsys, *base, "--sparse", "kl:abc", match="bad --sparse")
    _fails(capsys, "ae", "interpolate", str(ck), str(images_dir / "img00.png"), str(images_dir / "img01.png"),
           "--steps", "1", match="--steps must be >= 2")


def test_file_verbs_report_progress(tmp_path, images_dir, capsys, monkeypatch):
    """Issue 14: a progress bar on every long non-training verb (drawn only on a terminal; recorded here)."""
    from progress_spy import finished, spy_progress

    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.tasks.autoencode.models import create_autoencoder

    ck = tmp_path / "ae.safetensors"
    save_checkpoint(ck, create_autoencoder("mlp", image_size=16, code_size=4, hidden=(8,)),
                    {"task": "autoencode", "image_size": [16, 16], "mode": "L"})
    n = len(list(images_dir.glob("*.png")))
    seen = spy_progress(monkeypatch)
    _run("ae", "encode", str(ck), str(images_dir), "--out", str(tmp_path / "c.npz"))
    _run("ae", "decode", str(ck), str(tmp_path / "c.npz"), "--out", str(tmp_path / "dec"))
    _run("ae", "reconstruct", str(ck), str(images_dir), "--out", str(tmp_path / "r.png"))
    _run("ae", "denoise", str(ck), str(images_dir), "--out", str(tmp_path / "den"))
    capsys.readouterr()
    for label, phases in (("encoding", 2), ("decoding", 2), ("reconstructing", 2), ("denoising", 3)):
        assert finished(seen[label]) and seen[label][-1] == (phases * n, phases * n), (label, seen[label][-3:])
