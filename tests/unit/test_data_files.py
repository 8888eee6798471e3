"""The one folder walker: images only, sorted, hidden files and folders (AppleDouble ``._x.jpg``) skipped —
the same answer for every verb that takes a folder."""

from __future__ import annotations

import pytest
from PIL import Image

from pictorch.data.files import expand_inputs, labelled_images, walk_images
from pictorch.errors import DataError


@pytest.fixture
def tree(tmp_path):
    for person in ("bob", "alice", ".trash"):
        d = tmp_path / person
        d.mkdir()
        Image.new("RGB", (8, 8)).save(d / "b.jpg")
        Image.new("RGB", (8, 8)).save(d / "a.png")
        (d / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
        (d / "notes.txt").write_text("not an image")
    (tmp_path / "alice" / ".cache").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "alice" / ".cache" / "thumb.png")
    return tmp_path


def test_walker_skips_hidden_and_sorts(tree):
    names = [p.relative_to(tree).as_posix() for p in walk_images(tree)]
    assert names == ["alice/a.png", "alice/b.jpg", "bob/a.png", "bob/b.jpg"]
    assert [(p.name, c) for p, c in labelled_images(tree)] == [("a.png", "alice"), ("b.jpg", "alice"),
                                                               ("a.png", "bob"), ("b.jpg", "bob")]
    with pytest.raises(DataError, match="does not exist"):
        expand_inputs([tree / "nobody"])
    (tree / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        expand_inputs([tree / "empty"])


def test_every_folder_verb_sees_the_same_files(tree):
    from pictorch.tasks.autoencode.data import _image_files
    from pictorch.tasks.identify.service import expand_photos, labelled_photos

    expected = [str(p) for p in walk_images(tree)]
    assert expand_photos([tree]) == expected
    assert [str(p) for p in _image_files([tree])] == expected
    assert [p for p, _ in labelled_photos(tree)] == expected
