"""A face ``who`` starts light: one photo through the CLI imports neither torch nor the plotting/learning
libraries nor other capabilities; dlib's HOG detector comes from its binary copy in the cache (same boxes and
scores as dlib's built-in one); the numpy road gives the same vectors as the torch one. No timings: what is
imported is what decides the start-up (torch alone is ~1 s of it on an idle core)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pictorch.cli import main

pytest.importorskip("dlib")
SRC = str(Path(__file__).resolve().parents[2] / "src")
HEAVY = ("torch", "matplotlib", "sklearn", "scipy", "skimage", "pandas", "lightning", "pytorch_lightning",
         "pictorch.tasks.classify", "pictorch.tasks.generate", "pictorch.tasks.segment", "pictorch.tasks.translate",
         "pictorch.serve", "pictorch.tasks.identify.faces", "pictorch.tasks.identify.api")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    import skimage.data as sd

    d = tmp_path_factory.mktemp("who_photos")
    astro = Image.fromarray(sd.astronaut())
    astro.save(d / "astro.png")
    astro.transpose(Image.FLIP_LEFT_RIGHT).resize((400, 400)).save(d / "astro_flip.jpg", quality=85)
    return d


def _enroll(photos: Path, g: str) -> None:
    try:
        main(["identify", "enroll", "eileen", str(photos / "astro.png"), "-g", g, "--model", "dlib-face"])
    except SystemExit as e:
        assert not e.code


def test_one_who_imports_no_torch_nor_other_capabilities(photos, tmp_path, capsys):
    g = str(tmp_path / "g.db")
    _enroll(photos, g)
    capsys.readouterr()
    code = (
        "import sys, json\n"
        "from pictorch.cli import main\n"
        "try:\n"
        f"    main(['identify', 'who', {str(photos / 'astro_flip.jpg')!r}, '-g', {g!r}, '--json'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy\n"
        "                        or any(m.startswith(h + '.') for h in heavy))))\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC, "PICTORCH_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    *answer, loaded = r.stdout.strip().splitlines()
    doc = json.loads("\n".join(answer))
    assert doc["photos"][0]["faces"][0]["name"] == "eileen"  # it did the whole job...
    assert json.loads(loaded) == []  # ...without any of them
    assert (tmp_path / "home" / "faces").is_dir()  # and left the detector's fast copy for the next one


def test_cached_hog_detector_equals_dlibs_and_survives_damage(photos, tmp_path, monkeypatch):
    import dlib

    from pictorch.tasks.identify import detect as F

    monkeypatch.setenv("PICTORCH_HOME", str(tmp_path))
    img = np.asarray(Image.open(photos / "astro.png").convert("RGB"))
    builtin = dlib.get_frontal_face_detector()
    want = builtin.run(img, 1, 0.0)
    F._hog_detector.cache_clear()
    try:
        for _ in range(2):  # first: written to the cache; second: read from it
            got = F._hog_detector().run(img, 1, 0.0)
            F._hog_detector.cache_clear()
            assert [(r.left(), r.top(), r.right(), r.bottom()) for r in got[0]] == \
                   [(r.left(), r.top(), r.right(), r.bottom()) for r in want[0]]
            assert got[1] == pytest.approx(want[1], abs=1e-9)
            assert F.hog_cache_file().is_file()
        F.hog_cache_file().write_bytes(b"not a detector")
        assert len(F._hog_detector().run(img, 1, 0.0)[0]) == len(want[0])  # rebuilt, not an error
    finally:
        F._hog_detector.cache_clear()


def test_numpy_road_gives_the_torch_roads_vectors(photos):
    import torch

    from pictorch.tasks.identify.descriptor import DlibFaceEmbedder
    from pictorch.tasks.identify.preprocess import embed_prepared, prepare

    emb = DlibFaceEmbedder()
    prep = prepare([photos / "astro.png", photos / "astro_flip.jpg"], emb.input_size, faces=True, which="all")
    assert isinstance(prep.pixels, np.ndarray) and prep.pixels.dtype == np.uint8
    assert prep.images.data_ptr() == prep.pixels.ctypes.data  # the tensor is a view, not a copy
    a = embed_prepared(emb, prep)
    b = emb.embed_images(prep.images)
    assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor)
    np.testing.assert_array_equal(a, b.numpy())


def test_root_cli_mounts_only_the_capability_named():
    from pictorch import cli

    assert cli._wanted(["--debug", "identify", "who", "x.jpg"]) == "identify"
    assert cli._wanted(["ae", "train"]) == "autoencode"
    assert cli._wanted(["demo", "--faces"]) is None and cli._wanted([]) is None


def test_torch_engine_gives_dlibs_numbers_and_auto_picks_by_batch(photos, tmp_path):
    from pictorch.errors import PictorchError
    from pictorch.tasks.identify import dlib_resnet
    from pictorch.tasks.identify.descriptor import DlibFaceEmbedder
    from pictorch.tasks.identify.preprocess import prepare

    ref = DlibFaceEmbedder(engine="dlib")
    prep = prepare([photos / "astro.png", photos / "astro_flip.jpg"], ref.input_size, faces=True, which="all")
    chips = np.concatenate([prep.pixels, prep.pixels[:, :, ::-1].copy(), prep.pixels[:, :, :, ::-1].copy()])
    want = ref.embed_pixels(chips)
    got = DlibFaceEmbedder(engine="torch").embed_pixels(chips)
    np.testing.assert_allclose(got, want, atol=1e-5)  # measured 4e-7; norms are ~1.5
    auto = DlibFaceEmbedder()
    assert auto._use_torch(auto.TORCH_MIN_FACES)  # a batch worth torch's import
    assert DlibFaceEmbedder(num_jitters=1)._use_torch(1000) is False  # jitter: dlib's own
    with pytest.raises(PictorchError):
        DlibFaceEmbedder(engine="gpu")
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x01\x01\x01\x0dloss_metric_2" + bytes(64))
    with pytest.raises(PictorchError, match="not"):
        dlib_resnet.DlibResNet(bad)


def test_load_array_decodes_as_load_image(photos, tmp_path):
    from pictorch.data.decode import load_array, load_image
    from pictorch.errors import BadImageError

    for p in (photos / "astro.png", photos / "astro_flip.jpg"):
        for mode in ("RGB", "L"):
            np.testing.assert_array_equal(load_array(p, mode), load_image(p, mode).permute(1, 2, 0).numpy())
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(BadImageError, match="empty"):
        load_array(tmp_path / "empty.jpg")
