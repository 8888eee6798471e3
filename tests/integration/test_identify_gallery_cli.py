"""`pictorch identify` gallery verbs end to end (a fake embedder on synthetic 'people', plus dlib-face once)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from identify_invoke import invoke as _invoke
from PIL import Image


class FakeEmbedder:
    """Centered pixels of an 8×8 thumbnail: photos of one synthetic 'person' share a colour pattern."""

    name = "fake"
    dim = 192
    mode = "RGB"
    input_size = (8, 8)

    def __init__(self, fingerprint: str = "fake-v1"):
        self.fingerprint = fingerprint

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().flatten(1) - 127.5
        return torch.nn.functional.normalize(x, dim=1)


def _person(root, name, seed, n, noise=12):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(8, 8, 3))
    paths = []
    (root / name).mkdir(parents=True, exist_ok=True)
    for j in range(n):
        img = np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)
        p = root / name / f"{name}_{j}.png"
        Image.fromarray(img).resize((32, 32), Image.NEAREST).save(p)
        paths.append(str(p))
    return paths




def _answers(out):
    """The first answer of each photo of `who --json` (whole photos: one each)."""
    return [p["faces"][0] for p in json.loads(out)["photos"]]


@pytest.fixture
def fake(monkeypatch):
    made = {}

    def load(spec):
        made[spec] = FakeEmbedder("fake-v2" if spec == "other" else "fake-v1")
        return made[spec]

    from pictorch.tasks.identify import service

    monkeypatch.setattr(service, "load_embedder", load)
    return made


def test_enroll_who_calibrate_list_remove_export(tmp_path, capsys, fake):
    g = str(tmp_path / "people.gallery")
    photos = {n: _person(tmp_path / "photos", n, s, 6) for n, s in (("ann", 1), ("bob", 2), ("cy", 3))}
    for n in ("ann", "bob"):
        code, out, err = _invoke(["enroll", n, *photos[n][:3], "--gallery", g, "--model", "fake"], capsys)
        assert code == 0, err
        assert f"enrolled 3 photo(s) of {n}" in out
    # the same file again: skipped and reported; nothing new -> exit 2 with one error line
    code, out, err = _invoke(["enroll", "ann", photos["ann"][0], "--gallery", g], capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: nothing enrolled")
    assert "already enrolled" in err

    code, out, err = _invoke(["who", photos["ann"][4], photos["cy"][0], "--gallery", g, "--json", "-k", "2"],
                             capsys)
    assert code == 0, err
    res = _answers(out)
    assert res[0]["name"] == "ann" and res[0]["topk"][0][0] == "ann" and len(res[0]["topk"]) == 2
    assert res[0]["score"] > res[1]["score"]

    # labelled folder: ann, bob members (unused photos), cy a stranger
    cal = tmp_path / "cal"
    for n in photos:
        (cal / n).mkdir(parents=True)
        for p in photos[n][3:] if n != "cy" else photos[n]:
            (cal / n / (p.rsplit("/", 1)[1])).write_bytes(open(p, "rb").read())
    code, out, err = _invoke(["calibrate", str(cal), "--gallery", g, "--target-far", "0.0", "--json"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["far"] == 0.0 and rep["tar"] == 1.0 and rep["strangers"] == 6 and rep["members"] == 6

    code, out, err = _invoke(["who", photos["cy"][1], photos["bob"][5], "--gallery", g, "--json"], capsys)
    names = [r["name"] for r in _answers(out)]
    assert names == ["unknown", "bob"]
    code, out, _ = _invoke(["who", photos["bob"][5], "--gallery", g], capsys)
    assert code == 0 and "bob" in out

    code, out, _ = _invoke(["list", "--gallery", g, "--json"], capsys)
    listing = json.loads(out)
    assert listing["people"] == {"ann": 3, "bob": 3} and listing["threshold"] == pytest.approx(rep["threshold"])

    code, out, err = _invoke(["remove", "anne", "--gallery", g], capsys)
    assert code == 2 and "Did you mean ann" in err and len(err.strip().splitlines()) == 1
    code, out, _ = _invoke(["remove", "ann", "--gallery", g], capsys)
    assert code == 0 and "removed ann (3 embeddings)" in out
    code, out, _ = _invoke(["export", str(tmp_path / "out.npz"), "--gallery", g], capsys)
    assert code == 0 and list(np.load(tmp_path / "out.npz")["names"]) == ["bob"] * 3

    code, out, _ = _invoke(["verify", photos["bob"][0], photos["bob"][1], "--gallery", g], capsys)
    assert code == 0 and out.startswith("same person")
    code, out, _ = _invoke(["verify", photos["bob"][0], photos["ann"][1], "--model", "fake", "--threshold", "0.9"],
                           capsys)
    assert code == 0 and out.startswith("different people")


def test_user_mistakes_give_one_error_line(tmp_path, capsys, fake):
    g = tmp_path / "g.gallery"
    ann = _person(tmp_path, "ann", 1, 2)
    cases = [
        (["who", ann[0], "--gallery", str(g)], "no gallery at"),
        (["enroll", "ann", ann[0], "--gallery", str(g)], "pass --model"),
        (["enroll", "ann", str(tmp_path / "nope.png"), "--gallery", str(g), "--model", "fake"], "no usable photo"),
    ]
    for args, msg in cases:
        code, _, err = _invoke(args, capsys)
        assert code == 2 and err.strip().splitlines()[-1].startswith("error:") and msg in err, (args, err)
    assert _invoke(["enroll", "ann", *ann, "--gallery", str(g), "--model", "fake"], capsys)[0] == 0
    code, _, err = _invoke(["enroll", "bob", ann[0], "--gallery", str(g), "--model", "other"], capsys)
    assert code == 2 and "another model" in err
    bad = tmp_path / "corrupt.gallery"
    bad.write_bytes(b"\x00" * 5000)
    code, _, err = _invoke(["list", "--gallery", str(bad)], capsys)
    assert code == 2 and "not a pictorch gallery" in err and bad.read_bytes() == b"\x00" * 5000
    unreadable = tmp_path / "text.png"
    unreadable.write_text("hello")
    code, _, err = _invoke(["who", str(unreadable), "--gallery", str(g)], capsys)
    assert code == 2 and "not an image" in err


def test_dlib_face_end_to_end(tmp_path, capsys):
    pytest.importorskip("dlib")
    import matplotlib.cbook as cbook
    import skimage.data as sd

    astro = Image.fromarray(sd.astronaut())
    astro.save(tmp_path / "astro.png")
    astro.transpose(Image.FLIP_LEFT_RIGHT).save(tmp_path / "astro_flip.jpg")
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        (tmp_path / "grace.jpg").write_bytes(f.read())
    Image.fromarray(sd.chelsea()).save(tmp_path / "cat.png")
    g = str(tmp_path / "faces.gallery")
    code, out, err = _invoke(["enroll", "eileen", str(tmp_path / "astro.png"), str(tmp_path / "cat.png"),
                              "--gallery", g, "--model", "dlib-face"], capsys)
    assert code == 0 and "enrolled 1 photo(s) of eileen" in out and "cat.png: no face found" in err
    code, out, err = _invoke(["who", str(tmp_path / "astro_flip.jpg"), str(tmp_path / "grace.jpg"), "--gallery", g,
                              "--json"], capsys)
    assert code == 0, err
    assert [r["name"] for r in _answers(out)] == ["eileen", "unknown"]


def test_verify_pairs_lfw_format_in_one_process(tmp_path, capsys, fake):
    root = tmp_path / "lfw"
    for name, seed in (("Ann", 1), ("Bob", 2)):
        for j, p in enumerate(_person(tmp_path / "src", name, seed, 3), 1):
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.open(p).convert("RGB").save(root / name / f"{name}_{j:04d}.jpg", quality=95)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t4\nAnn\t1\t2\nBob\t1\t3\nAnn\t1\tBob\t2\nAnn\t3\tBob\t9\n")
    code, out, err = _invoke(["verify", "--pairs", str(pairs), "--pairs-root", str(root), "--model", "fake",
                              "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["pairs"] == 4 and doc["skipped"] == 1 and doc["rows"][3]["skipped"].startswith("Bob_0009.jpg")
    assert doc["verification"]["auc"] == 1.0 and doc["threshold"] is None and doc["accuracy"] is None
    code, out, err = _invoke(["verify", "--pairs", str(pairs), "--pairs-root", str(root), "--model", "fake",
                              "--threshold", "0.5"], capsys)
    assert code == 0 and "3 of 4 pairs verified: ROC AUC 1.0000" in out and "accuracy 1.0000" in out
    code, _, err = _invoke(["verify", "--pairs", str(tmp_path / "nope.txt"), "--model", "fake"], capsys)
    assert code == 2 and "not found" in err
