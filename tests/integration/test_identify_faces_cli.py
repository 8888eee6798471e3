"""Real faces through the CLI with dlib-face: every face of a group photo answered (boxes, names, notes in the
JSON), annotated pictures that never overwrite, the L2 threshold not yet calibrated, verify --pairs in one
process, calibrate's interval and too-few-strangers warning; ORL (AT&T) photos when they are present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import cli as _cli
from PIL import Image

pytest.importorskip("dlib")
ORL = Path(__file__).resolve().parents[3] / "shared" / "data" / "att_faces"
if not ORL.is_dir():
    ORL = Path("/work/shared/data/att_faces")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    import matplotlib.cbook as cbook
    import skimage.data as sd

    d = tmp_path_factory.mktemp("faces")
    astro = Image.fromarray(sd.astronaut())
    astro.save(d / "astro.png")
    astro.transpose(Image.FLIP_LEFT_RIGHT).resize((400, 400)).save(d / "astro_flip.jpg", quality=85)
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        grace = Image.open(f).convert("RGB")
    grace.save(d / "grace.jpg")
    group = Image.new("RGB", (1000, 560), (90, 90, 90))
    group.paste(astro.resize((400, 400)), (0, 80))
    group.paste(grace, (488, 0))
    group.save(d / "group.jpg")
    Image.fromarray(sd.chelsea()).save(d / "cat.png")
    return d


def test_who_answers_every_face_with_boxes_and_annotates(photos, tmp_path, capsys):
    g = str(tmp_path / "g.db")
    code, out, err = _cli(capsys, "identify", "enroll", "eileen", str(photos / "astro.png"), "-g", g,
                          "--model", "dlib-face")
    assert code == 0, err
    code, out, err = _cli(capsys, "identify", "who", str(photos / "group.jpg"), str(photos / "cat.png"), "-g", g,
                          "--json", "--annotate", str(tmp_path / "ann"))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["unit"] == "distance" and doc["threshold"] == pytest.approx(0.6) and not doc["calibrated"]
    assert any("threshold not calibrated" in n for n in doc["notes"])
    (group,) = doc["photos"]
    names = [f["name"] for f in group["faces"]]
    # every face answered, not only the largest (Grace Hopper's): dlib's default threshold, as face_recognition,
    # also keeps a weak third detection on the astronaut's suit (score 0.15), answered "unknown"
    assert names.count("eileen") == 1 and names[0] == "unknown" and len(names) >= 2
    assert all(len(f["box"]) == 4 for f in group["faces"]) and f"{len(names)} faces" in group["notes"]
    assert doc["errors"] == [{"photo": str(photos / "cat.png"), "reason": "no face found"}]
    assert Path(group["annotated"]).is_file()
    # a second run writes beside the first, never over it
    code, out, err = _cli(capsys, "identify", "who", str(photos / "group.jpg"), str(photos / "astro_flip.jpg"),
                          "-g", g, "--largest-face", "--json", "--annotate", str(tmp_path / "ann"))
    doc2 = json.loads(out)
    assert [len(p["faces"]) for p in doc2["photos"]] == [1, 1]
    assert doc2["photos"][0]["annotated"] != group["annotated"] and Path(doc2["contact_sheet"]).is_file()
    assert any("using the largest" in n for n in doc2["photos"][0]["notes"])
    code, out, err = _cli(capsys, "identify", "who", str(photos / "group.jpg"), "-g", g)
    assert code == 0 and "eileen" in out and "unknown" in out and "not calibrated" in err
    code, out, err = _cli(capsys, "identify", "who", str(photos / "group.jpg"), "-g", g, "--top-k", "0")
    assert code == 2 and err.strip().count("\n") == 0 and err.startswith("error:")


def test_verify_pairs_csv_and_one_pair(photos, tmp_path, capsys):
    csv = tmp_path / "pairs.csv"
    csv.write_text(f"a,b,same\n{photos}/astro.png,{photos}/astro_flip.jpg,1\n{photos}/astro.png,{photos}/grace.jpg,0\n"
                   f"{photos}/grace.jpg,{photos}/astro_flip.jpg,0\n{photos}/grace.jpg,{photos}/cat.png,0\n")
    code, out, err = _cli(capsys, "identify", "verify", "--pairs", str(csv), "--model", "dlib-face", "--json",
                          "--out", str(tmp_path / "v"))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["pairs"] == 4 and doc["skipped"] == 1 and doc["accuracy"] == 1.0
    assert doc["verification"]["auc"] == 1.0 and (tmp_path / "v" / "scores.csv").is_file()
    code, out, err = _cli(capsys, "identify", "verify", str(photos / "group.jpg"), str(photos / "astro.png"),
                          "--model", "dlib-face", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["same"] is False and any("using the largest" in n for _, n in doc["notes"])
    code, out, err = _cli(capsys, "identify", "verify", str(photos / "astro.png"), str(photos / "astro_flip.jpg"),
                          "--model", "dlib-face")
    assert code == 0 and out.startswith("same person: distance") and "<= threshold 0.6000" in out


def test_failed_first_enrolment_leaves_no_gallery_and_rename_merges(photos, tmp_path, capsys):
    g = tmp_path / "g.db"
    code, _, err = _cli(capsys, "identify", "enroll", "cat", str(photos / "cat.png"), "-g", str(g), "--model",
                        "dlib-face")
    assert code == 2 and "no face found" in err and not g.exists()
    assert _cli(capsys, "identify", "enroll", "ann", str(photos / "astro.png"), "-g", str(g), "--model",
                "dlib-face")[0] == 0
    assert _cli(capsys, "identify", "enroll", "eileen", str(photos / "astro_flip.jpg"), "-g", str(g))[0] == 0
    code, _, err = _cli(capsys, "identify", "rename", "ann", "eileen", "-g", str(g))
    assert code == 2 and "--merge" in err
    code, out, err = _cli(capsys, "identify", "rename", "ann", "eileen", "-g", str(g), "--merge")
    assert code == 0 and "merged ann into eileen (2 embeddings)" in out
    code, out, _ = _cli(capsys, "identify", "list", "-g", str(g), "--json")
    assert json.loads(out)["people"] == {"eileen": 2}
    code, out, _ = _cli(capsys, "identify", "who", str(photos / "astro.png"), "-g", str(g), "--json")
    assert json.loads(out)["photos"][0]["faces"][0]["name"] == "eileen"


@pytest.mark.skipif(not ORL.is_dir(), reason="AT&T/ORL faces not present")
def test_orl_detection_enrol_calibrate_warns_about_few_strangers(tmp_path, capsys):
    """ORL photos are 92×112 grey: detection must find faces there (upsampled, with fallbacks)."""
    g = str(tmp_path / "orl.db")
    for s in ("s1", "s2", "s3"):
        code, out, err = _cli(capsys, "identify", "enroll", s, *[str(ORL / s / f"{i}.pgm") for i in (1, 2, 3)],
                              "-g", g, "--model", "dlib-face")
        assert code == 0 and "enrolled 3 photo(s)" in out, err
    cal = tmp_path / "cal"
    for s in ("s1", "s2", "s3", "s4", "s5"):
        (cal / s).mkdir(parents=True)
        for i in (5, 6, 7):
            (cal / s / f"{i}.pgm").write_bytes((ORL / s / f"{i}.pgm").read_bytes())
    code, out, err = _cli(capsys, "identify", "calibrate", str(cal), "-g", g, "--target-far", "0.01", "--json")
    assert code == 0, err
    rep = json.loads(out)
    lo, hi = rep["far_ci"]
    assert rep["unit"] == "distance" and 0.0 <= lo <= rep["far"] <= hi <= 1.0 and hi > 0.05
    assert any("impostor trials" in w and "1000" in w for w in rep["warnings"])
    code, out, err = _cli(capsys, "identify", "who", str(ORL / "s2" / "9.pgm"), "-g", g, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["calibrated"] and doc["photos"][0]["faces"][0]["name"] == "s2"


@pytest.mark.skipif(not ORL.is_dir(), reason="AT&T/ORL faces not present")
def test_train_a_head_on_the_frozen_descriptor_makes_a_face_model(tmp_path):
    from pictorch.tasks.identify.api import load_embedder, train

    group = tmp_path / "group"
    for s in ("s1", "s2", "s3"):
        (group / s).mkdir(parents=True)
        for i in (1, 2):
            (group / s / f"{i}.pgm").write_bytes((ORL / s / f"{i}.pgm").read_bytes())
    res = train(out_dir=str(tmp_path / "run"), data=str(group), backbone="dlib-face", freeze=True, steps=1,
                batch_size=6, p=3, k=2, precision="32-true", accelerator="cpu", progress=False, val_images=0,
                embed_dim=16, augment=False)
    emb = load_embedder(res["run_dir"])
    assert emb.face_model and emb.meta["faces"] and emb.mode == "RGB" and tuple(emb.input_size) == (150, 150)
    vecs, ok, bad = emb.embed_files([ORL / "s4" / "1.pgm"])  # detects the face without being told
    assert vecs.shape == (1, 16) and not bad
