"""Faces: detection on real photos, per-file reasons, alignment, dlib-face descriptor and backbone."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from pictorch.errors import PictorchError

pytest.importorskip("dlib")
from pictorch.tasks.identify import faces  # noqa: E402


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    import matplotlib.cbook as cbook
    import skimage.data as sd

    d = tmp_path_factory.mktemp("photos")
    astro = Image.fromarray(sd.astronaut())
    astro.save(d / "astronaut.png")
    astro.transpose(Image.FLIP_LEFT_RIGHT).resize((420, 420)).save(d / "astronaut_flip.jpg", quality=80)
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        grace = Image.open(f).convert("RGB")
    grace.save(d / "grace.jpg")
    grace.rotate(6).save(d / "grace_rot.jpg")
    Image.fromarray(sd.coffee()).save(d / "coffee.png")
    both = Image.new("RGB", (1100, 600))
    both.paste(astro.resize((400, 400)), (0, 100))
    both.paste(grace, (480, 0))
    both.save(d / "both.jpg")
    (d / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return d


def test_extract_faces_reports_each_bad_file(photos):
    paths = [photos / n for n in ("astronaut.png", "coffee.png", "broken.jpg", "missing.png", "grace.jpg")]
    crops, ok, bad = faces.extract_faces(paths, size=(150, 150))
    assert crops.dtype == torch.uint8 and crops.shape == (2, 3, 150, 150)
    assert ok == [str(photos / "astronaut.png"), str(photos / "grace.jpg")]
    reasons = dict(bad)
    assert reasons[str(photos / "coffee.png")] == "no face found"
    assert "not an image" in reasons[str(photos / "broken.jpg")]
    assert reasons[str(photos / "missing.png")] == "file not found"


def test_several_faces_largest_or_error(photos):
    got = faces.extract_faces([photos / "both.jpg"], size=(64, 48), mode="L")
    crops, ok, bad = got
    assert crops.shape == (1, 1, 64, 48) and not bad
    assert got.notes == [(str(photos / "both.jpg"), "2 faces; using the largest")]
    crops, ok, bad = faces.extract_faces([photos / "both.jpg"], largest=False)
    assert not ok and "2 faces" in bad[0][1]


def test_haar_detector_finds_the_same_face(photos):
    crops, ok, bad = faces.extract_faces([photos / "astronaut.png", photos / "coffee.png"], detector="haar")
    assert len(ok) == 1 and bad == [(str(photos / "coffee.png"), "no face found")]
    with pytest.raises(PictorchError, match="unknown face detector"):
        faces.extract_faces([photos / "astronaut.png"], detector="yolo")


def test_dlib_embedder_separates_people(photos):
    emb = faces.DlibFaceEmbedder()
    assert emb.fingerprint.startswith("dlib-face-resnet-v1:") and len(emb.fingerprint) == 20 + 64
    names = ("astronaut.png", "astronaut_flip.jpg", "grace.jpg", "grace_rot.jpg")
    e, ok, bad = emb.embed_files([photos / n for n in names])
    assert e.shape == (4, 128) and e.dtype == torch.float32 and not bad
    assert emb.metric == "l2" and ((e.norm(dim=1) > 1.0) & (e.norm(dim=1) < 2.0)).all()  # raw descriptors
    d = torch.cdist(e, e)
    t = emb.default_distance
    assert -(t**2) == emb.default_threshold
    assert d[0, 1] < t and d[2, 3] < t  # same person, altered photo: accepted
    assert d[0, 2] > t and d[1, 3] > t  # different people: rejected


def test_lfw_crops_without_detection():
    import skimage.data as sd

    lfw = (sd.lfw_subset()[:6] * 255).astype(np.uint8)  # 25×25 gray faces: too small for HOG
    chips = torch.from_numpy(lfw)[:, None].repeat(1, 3, 1, 1)
    e = faces.DlibFaceEmbedder().embed_images(chips)
    assert e.shape == (6, 128) and torch.isfinite(e).all()
    assert (e[0] - e[1]).norm().item() > 1e-3  # different crops give different descriptors


def test_dlib_face_backbone_is_a_frozen_descriptor(photos):
    from pictorch.registry import create_model

    m = create_model("dlib-face", num_classes=0).eval()
    assert m.feature_dim == 128 and m.num_classes == 0 and not list(m.parameters())
    crops, _, _ = faces.extract_faces([photos / "grace.jpg"])
    x = crops.float() / 255.0
    pre = m.forward_head(m.forward_features(x), pre_logits=True)
    torch.testing.assert_close(pre, faces.DlibFaceEmbedder().embed_images(crops), atol=1e-4, rtol=0)
    torch.testing.assert_close(m(x), pre)
    m.reset_classifier(5)
    assert m(x).shape == (1, 5) and all(p.requires_grad for p in m.parameters())


def test_missing_dlib_says_how_to_install(monkeypatch, photos):
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(PictorchError, match=r"pip install 'pictorch\[faces\]'"):
        faces.extract_faces([photos / "astronaut.png"])


def test_small_faces_in_big_photos_are_found_without_upsampling_all_of_it():
    """A ~40 px face in a 1 MP photo: missed when scanned at its own scale, found like face_recognition's
    upsampled scan by the Haar-proposal + upsampled-crop pass."""
    pytest.importorskip("cv2")
    import skimage.data as sd

    canvas = Image.new("RGB", (1280, 800), (120, 120, 120))
    canvas.paste(Image.fromarray(sd.astronaut()).resize((220, 220)), (500, 300))
    img = np.asarray(canvas)
    assert len(faces._hog_detector().run(img, 0, 0.0)[0]) == 0
    assert len(faces._hog_detector().run(img, 1, 0.0)[0]) == 1  # face_recognition's default finds it
    (box, score), = faces.detect_faces_scored(img)
    assert 540 < (box[0] + box[2]) / 2 < 640 and 320 < (box[1] + box[3]) / 2 < 400 and score > 0
