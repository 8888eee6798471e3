"""CLI round trip on tiny synthetic folders: train -> evaluate -> predict -> export (ONNX/TorchScript checked
against PyTorch) -> transfer with --init -> compare -> scale; bad input -> exit 2 with one `error:` line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pictorch import cli

TORCH_THREADS = 1  # one intra-op thread (see tests/conftest.py)


def main(args: list[str]) -> None:
    if not any(g.name == "classify" for g in cli.app.registered_groups):
        cli._mount()
    try:
        cli.app(args=args, prog_name="pictorch", standalone_mode=False)
    except Exception as e:  # noqa: BLE001 - same translation to exit codes as the console entry point
        cli._handle(e, False)


def _fails(capsys, *args: str, match: str) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main([*args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert match in err[0], err[0]
    return err[0]


def _write_folder(root, n_per_class=24, classes=(0, 1, 2), size=24, seed=0, rgb=False):
    from pictorch.data.synthetic import synthetic_shapes

    ds = synthetic_shapes(n_per_class * 4 * 2, size=size, channels=3 if rgb else 1, num_classes=4, seed=seed)
    for c in classes:
        d = root / ds.classes[c]
        d.mkdir(parents=True, exist_ok=True)
        idx = (ds.labels == c).nonzero().flatten()[:n_per_class]
        for i in idx.tolist():
            arr = ds.images[i].permute(1, 2, 0).numpy()
            Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(d / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("cls")
    return {"train": _write_folder(base / "train", seed=0), "test": _write_folder(base / "test", 8, seed=5),
            "base": base}


@pytest.fixture(scope="module")
def trained(folders):
    run = folders["base"] / "run"
    main(["classify", "train", "--data", str(folders["train"]), "--arch", "small_cnn", "--model-kw", '{"width": 8}',
          "--steps", "60", "--batch-size", "24", "--lr", "5e-3", "--out", str(run), "--no-progress",
          "--precision", "32-true", "--val-every", "20", "--augment", "none", "--label-smoothing", "0.05",
          "--log-every", "20"])
    return run


def test_train_evaluate_predict(trained, folders, tmp_path, capsys):
    import pictorch

    model = pictorch.load(str(trained))
    meta = model.pictorch_meta
    assert meta["task"] == "classify" and meta["classes"] == ["circle", "square", "triangle"]
    assert meta["arch"] == "small_cnn" and meta["regime"] == "scratch" and meta["image_size"] == [24, 24]
    assert meta["mode"] == "L" and "val_acc" in meta["metrics"] and meta["step"] == 60

    capsys.readouterr()
    main(["classify", "evaluate", str(trained), str(folders["test"]), "--out", str(tmp_path / "ev")])
    out = capsys.readouterr().out
    assert "accuracy" in out and "circle" in out
    rep = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert rep["accuracy"] > 0.5 and len(rep["per_class"]) == 3 and np.array(rep["confusion"]).sum() == 24
    assert (tmp_path / "ev" / "confusion.png").stat().st_size > 0
    assert rep["mistakes"] == [] or (tmp_path / "ev" / "mistakes.png").exists()
    assert rep["tta"] == "none"
    main(["classify", "evaluate", str(trained), str(folders["test"]), "--out", str(tmp_path / "ev2"),
          "--tta", "hflip"])
    rep2 = json.loads((tmp_path / "ev2" / "report.json").read_text())
    assert rep2["tta"] == "hflip" and np.array(rep2["confusion"]).sum() == 24
    capsys.readouterr()

    main(["classify", "predict", str(trained), str(folders["test"] / "circle"), "--top-k", "2", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 8 and all(len(r["top"]) == 2 for r in rows)
    assert all(abs(sum(t["prob"] for t in r["top"])) <= 1.0 + 1e-6 for r in rows)
    assert sum(r["top"][0]["label"] == "circle" for r in rows) >= 4


def test_export_matches_pytorch(trained, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    from pictorch.tasks.classify.api import load

    clf = load(trained)
    x = torch.rand(5, 1, 24, 24)
    with torch.no_grad():
        ref = clf.model((x - torch.tensor(clf.mean).view(1, -1, 1, 1)) / torch.tensor(clf.std).view(1, -1, 1, 1))
    main(["classify", "export", str(trained), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})[0]
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-4)
    side = json.loads((tmp_path / "m.onnx.json").read_text())
    assert side["classes"] == ["circle", "square", "triangle"]
    main(["classify", "export", str(trained), "--format", "torchscript", "--out", str(tmp_path / "m.pt")])
    ts = torch.jit.load(str(tmp_path / "m.pt"))
    np.testing.assert_allclose(ts(x).detach().numpy(), ref.numpy(), atol=1e-4)


def test_transfer_with_init_and_compare(trained, folders, tmp_path, capsys):
    import pictorch

    # new classes: the 4th shape only exists in the new folder
    new = _write_folder(tmp_path / "new", 12, classes=(2, 3), seed=9)
    main(["classify", "train", "--data", str(new), "--init", str(trained), "--regime", "head", "--steps", "5",
          "--batch-size", "8", "--out", str(tmp_path / "head"), "--no-progress", "--precision", "32-true"])
    out = capsys.readouterr().out
    assert "regime head: 66 of" in out  # 32 features × 2 classes + 2 biases
    m = pictorch.load(str(tmp_path / "head"))
    assert m.pictorch_meta["classes"] == ["cross", "triangle"] and m.pictorch_meta["init"] == str(trained)

    main(["classify", "compare", "--data", str(new), "--init", str(trained), "--regimes", "head,last-k,full,scratch",
          "--steps", "4", "--batch-size", "8", "--out", str(tmp_path / "cmp"), "--no-progress",
          "--precision", "32-true"])
    out = capsys.readouterr().out
    assert "| head |" in out and "| scratch |" in out and "best:" in out
    csv = (tmp_path / "cmp" / "compare.csv").read_text().strip().splitlines()
    assert csv[0].startswith("regime,test_acc") and len(csv) == 5
    params = {line.split(",")[0]: int(line.split(",")[3]) for line in csv[1:]}
    assert params["head"] == 66 < params["last-k"] < params["full"] == params["scratch"]


def test_scale_search(folders, tmp_path, capsys):
    main(["classify", "scale", "--data", str(folders["train"]), "--model-kw", '{"widths": [8, 16], "depths": [1, 1]}',
          "--max-candidates", "2", "--family", "3", "--steps", "3", "--batch-size", "16", "--train-images", "48",
          "--val-images", "24", "--out", str(tmp_path / "sc"), "--precision", "32-true", "--augment", "none"])
    out = capsys.readouterr().out
    assert "**best**" in out and "| B3 |" in out
    res = json.loads((tmp_path / "sc" / "scale.json").read_text())
    for c in res["candidates"]:
        assert abs(c["alpha"] * c["beta"] ** 2 * c["gamma"] ** 2 - 2) <= 0.1 + 1e-9
        assert c["alpha"] >= 1 and c["beta"] >= 1 and c["gamma"] >= 1
    fam = res["family"]
    assert [f["name"] for f in fam] == ["B0", "B1", "B2", "B3"]
    assert all(a["flops"] < b["flops"] for a, b in zip(fam, fam[1:], strict=False))


def test_bad_inputs(trained, folders, tmp_path, capsys):
    # evaluation folder with other classes than the model's
    other = _write_folder(tmp_path / "other", 2, classes=(0, 3), seed=1)
    _fails(capsys, "classify", "evaluate", str(trained), str(other), "--out", str(tmp_path / "e"),
           match="do not match the expected classes")
    # a folder with a single class
    single = _write_folder(tmp_path / "single", 4, classes=(1,), seed=2)
    _fails(capsys, "classify", "train", "--data", str(single), "--steps", "2", "--out", str(tmp_path / "s"),
           "--no-progress", match="only one class")
    # a checkpoint of another task
    from pictorch import create_model
    from pictorch.engine.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "ae.safetensors", create_model("small_cnn", in_chans=1, num_classes=2, width=8),
                    {"task": "autoencode"})
    _fails(capsys, "classify", "evaluate", str(tmp_path / "ae.safetensors"), str(folders["test"]),
           match="not a 'classify' one")
    _fails(capsys, "classify", "train", "--data", str(folders["train"]), "--init", str(tmp_path / "ae.safetensors"),
           "--out", str(tmp_path / "x"), "--no-progress", match="not a 'classify' one")
    # missing paths
    _fails(capsys, "classify", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "y"),
           "--no-progress", match="does not exist")
    _fails(capsys, "classify", "predict", str(trained), str(tmp_path / "nope.png"), match="does not exist")
    _fails(capsys, "classify", "evaluate", str(tmp_path / "nope"), str(folders["test"]), match="no such checkpoint")
    # flags
    _fails(capsys, "classify", "evaluate", str(trained), str(folders["test"]), "--tta", "vflip",
           match="unknown --tta 'vflip'")
    _fails(capsys, "classify", "train", "--data", "synthetic", "--ema", "1.5", "--out", str(tmp_path / "z"),
           match="--ema must be in [0, 1), got 1.5 (a decay")
    _fails(capsys, "classify", "train", "--data", "synthetic", "--regime", "head", "--out", str(tmp_path / "z"),
           match="reuses trained weights")


def test_mixed_sizes_and_modes_are_normalized_with_a_note(tmp_path, capsys):
    mixed = _write_folder(tmp_path / "mixed", 6, classes=(0, 1), size=24, seed=3)
    # add odd ones out: a bigger RGB image in each class
    for c in ("circle", "square"):
        Image.fromarray(np.full((32, 40, 3), 200, np.uint8)).save(mixed / c / "big_rgb.png")
    capsys.readouterr()
    main(["classify", "train", "--data", str(mixed), "--model-kw", '{"width": 8}', "--steps", "2", "--batch-size",
          "8", "--out", str(tmp_path / "run"), "--no-progress", "--precision", "32-true"])
    err = capsys.readouterr().err
    assert "mixed sizes" in err and "resized to 24×24" in err and "converted to RGB" in err
    import pictorch

    meta = pictorch.load(str(tmp_path / "run")).pictorch_meta
    assert meta["image_size"] == [24, 24] and meta["mode"] == "RGB"


def test_predict_and_evaluate_report_progress(trained, folders, tmp_path, capsys, monkeypatch):
    """Issue 14: a progress bar on every long non-training verb (drawn only on a terminal; recorded here)."""
    from progress_spy import finished, spy_progress

    seen = spy_progress(monkeypatch)
    main(["classify", "predict", str(trained), str(folders["test"])])
    main(["classify", "evaluate", str(trained), str(folders["test"]), "--out", str(tmp_path / "ev")])
    capsys.readouterr()
    assert finished(seen["classifying"]) and seen["classifying"][-1] == (48, 48)  # 24 decoded + 24 classified
    assert finished(seen["evaluating"]) and seen["evaluating"][-1] == (24, 24)
