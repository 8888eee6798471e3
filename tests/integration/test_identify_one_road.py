"""One photo, one vector: `identify embed`, `enroll`/`who`/`verify`, `evaluate`-style loading and the Python API
(`Gallery.identify(embed_files(...))`) all preprocess through `tasks/identify/preprocess.prepare`.

Before the shared road, `embed`/`evaluate` letterboxed (bicubic) while `enroll`/`who` stretched (Lanczos): on a
40×90 photo the same model gave vectors with cosine 0.963, and `who` scored 0.8377 where the API said 0.8306.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_run import cli as _cli
from PIL import Image

TORCH_THREADS = 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny RGB embedder trained for 2 steps on synthetic people (32×32), and odd-shaped photos."""
    from pictorch.data.synthetic import toy_identities
    from pictorch.tasks.identify.api import train

    root = tmp_path_factory.mktemp("road")
    people = root / "people"
    ds = toy_identities(3, 4, size=32, channels=3, seed=0)
    for i, (im, lab) in enumerate(zip(ds.images, ds.labels, strict=True)):
        (people / f"p{int(lab)}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(im.permute(1, 2, 0).numpy()).save(people / f"p{int(lab)}" / f"{i}.png")
    run = root / "run"
    train(out_dir=str(run), data=str(people), steps=2, batch_size=6, p=3, k=2, precision="32-true",
          accelerator="cpu", progress=False, mode="RGB", image_size=32, backbone_args="width=8", embed_dim=16,
          val_images=0)
    rng = np.random.default_rng(1)
    odd = root / "odd"
    odd.mkdir()
    for name, (h, w) in {"tall.png": (90, 40), "wide.jpg": (37, 101)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(odd / name)
    return run, odd


def test_embed_cli_api_and_who_give_one_vector(trained, tmp_path, capsys):
    from pictorch.gallery import Gallery
    from pictorch.tasks.identify.api import load_embedder

    run, odd = trained
    photo = odd / "tall.png"
    code, out, err = _cli(capsys, "identify", "embed", str(run), str(odd), "-o", str(tmp_path / "e.npz"))
    assert code == 0, err
    npz = np.load(tmp_path / "e.npz")
    assert list(npz["paths"]) == [str(odd / "tall.png"), str(odd / "wide.jpg")]  # a folder is expanded
    emb = load_embedder(run)
    api_vecs, ok, bad = emb.embed_files([photo, odd / "wide.jpg"])
    assert not bad
    np.testing.assert_array_equal(npz["embeddings"], api_vecs.numpy())  # CLI embed == API, bit for bit

    g = str(tmp_path / "g.db")
    code, out, err = _cli(capsys, "identify", "enroll", "tall", str(photo), "-g", g, "--model", str(run))
    assert code == 0, err
    code, out, err = _cli(capsys, "identify", "who", str(photo), "-g", g, "--json")
    assert code == 0, err
    cli_score = json.loads(out)["photos"][0]["faces"][0]["score"]
    with Gallery.open(g) as gal:
        api_score = gal.identify(api_vecs[:1], k=1)[0].score
        stored = gal.export(tmp_path / "x.npz")
    # enroll == API (to float rounding: a batch of 1 vs 2 sums in another order)
    np.testing.assert_allclose(np.load(stored)["embeddings"][0], api_vecs[0].numpy(), atol=1e-6, rtol=0)
    assert cli_score == pytest.approx(api_score, abs=1e-6) and cli_score == pytest.approx(1.0, abs=1e-5)

    code, out, err = _cli(capsys, "identify", "verify", str(photo), str(photo), "--model", str(run), "--json")
    assert code == 0, err
    assert json.loads(out)["score"] == pytest.approx(1.0, abs=1e-5)


def test_evaluate_road_matches_embed(trained):
    """A folder loaded the way training/evaluate load it gives the same input as the road."""
    from pictorch.data.sources import load_image_folder
    from pictorch.tasks.identify.preprocess import prepare

    _, odd = trained
    (odd.parent / "odd_set" / "x").mkdir(parents=True, exist_ok=True)
    for f in odd.iterdir():
        (odd.parent / "odd_set" / "x" / f.name).write_bytes(f.read_bytes())
    ds = load_image_folder(odd.parent / "odd_set", size=(32, 32), mode="RGB")
    calls = []
    prep = prepare(ds.paths, (32, 32), "RGB", progress=lambda done, total: calls.append((done, total)))
    torch.testing.assert_close(prep.images, ds.images, rtol=0, atol=0)
    assert calls[-1] == (2, 2)  # long jobs can show a progress bar


def test_face_models_detect_by_default_and_no_faces_opts_out():
    from pictorch.tasks.identify.preprocess import faces_default, is_face_model

    class Dlib:
        face_model = True

    class Trained:
        meta = {"models": {"model": {"kwargs": {"backbone": "dlib-face"}}}}

    class Plain:
        meta = {"models": {"model": {"kwargs": {"backbone": "small_cnn"}}}}

    assert is_face_model(Dlib()) and is_face_model(Trained()) and not is_face_model(Plain())
    assert faces_default(Dlib(), None) and not faces_default(Dlib(), False) and faces_default(Plain(), True)
    assert not faces_default(Dlib(), None, stored=False)  # what the gallery was built with beats the kind


def test_evaluate_never_writes_over_an_earlier_report(trained, capsys):
    run, _ = trained
    for _ in range(2):
        code, out, err = _cli(capsys, "identify", "evaluate", str(run), "--data", str(run.parent / "people"),
                              "--n-pairs", "20", "--gallery-per-class", "2")
        assert code == 0, err
    assert (run / "eval" / "report.json").is_file() and (run / "eval-1" / "report.json").is_file()
