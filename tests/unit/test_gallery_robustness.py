"""Hostile gallery files and races (issue 14 items 3-4): a truncated file gives one line saying what to do in
every command, `check` finds damage `list` cannot see, `backup` copies online and never overwrites, and two
first enrolments racing to create a new gallery both land."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from cli_run import cli as _cli

from pictorch.gallery import Gallery

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def filled(tmp_path):
    path = tmp_path / "g.db"
    rng = np.random.default_rng(0)
    with Gallery.create(path, "fp", 8, model="dlib-face") as g:
        for i in range(150):
            g.enroll(f"p{i}", rng.normal(size=(3, 8)).astype(np.float32), [f"s{i}-{j}" for j in range(3)])
    return path


def test_truncated_gallery_is_one_line_for_every_command(filled, tmp_path, capsys):
    photo = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (20, 20)).save(photo)
    size = filled.stat().st_size
    with open(filled, "r+b") as f:
        f.truncate(size // 2)
    before = filled.read_bytes()
    for args in (["list"], ["who", str(photo)], ["enroll", "ann", str(photo)], ["check"], ["export",
                 str(tmp_path / "e.npz")], ["backup", str(tmp_path / "b.db")]):
        code, out, err = _cli(capsys, "identify", *args, "-g", str(filled))
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and "is damaged" in err and "backup" in err, (args, err)
    assert filled.read_bytes() == before  # left untouched


def test_check_finds_bad_vectors_and_backup_copies(filled, tmp_path, capsys):
    code, out, _ = _cli(capsys, "identify", "check", "-g", str(filled))
    assert code == 0 and "is fine: 150 people, 450 embeddings" in out
    dest = tmp_path / "b" / "copy.db"
    code, out, _ = _cli(capsys, "identify", "backup", str(dest), "-g", str(filled))
    assert code == 0 and dest.is_file()
    with Gallery.open(dest) as g, Gallery.open(filled) as orig:
        assert len(g) == 450 and g.store_id == orig.store_id
    code, _, err = _cli(capsys, "identify", "backup", str(dest), "-g", str(filled))
    assert code == 2 and "already exists" in err
    import sqlite3

    with sqlite3.connect(filled) as c:  # garbage inside vectors: the file's structure stays valid
        c.execute("UPDATE embeddings SET vector=? WHERE id=7", (np.full(8, np.nan, "<f4").tobytes(),))
        c.execute("UPDATE embeddings SET vector=? WHERE id=9", (b"\x01\x02",))
    code, out, err = _cli(capsys, "identify", "check", "-g", str(filled), "--json")
    assert code == 2 and "NaN" in err and "wrong size" in err
    assert json.loads(out)["ok"] is False


def test_two_first_enrolments_into_a_new_gallery_both_land(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {SRC!r})
        import torch
        from pictorch.tasks.identify import service

        class Fake:
            name, dim, mode, input_size, fingerprint = "fake", 12, "RGB", (2, 2), "fake-v1"
            def embed_images(self, x):
                return torch.nn.functional.normalize(x.float().flatten(1) + 1.0, dim=1)

        service.load_embedder = lambda spec: Fake()
        from pathlib import Path
        barrier = Path(sys.argv[3])
        (barrier / sys.argv[2]).touch()  # ready; go when both are (imports take seconds on a busy machine)
        while len(list(barrier.iterdir())) < 2:
            time.sleep(0.001)
        r = service.enroll(sys.argv[1], sys.argv[2], [sys.argv[4]], model="fake")
        print(r.created)
    """)
    from PIL import Image

    photos = []
    for i in range(2):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 8), (40 * i, 10, 200)).save(p)
        photos.append(str(p))
    g = str(tmp_path / "new.db")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", script, g, f"person{i}", str(barrier), photos[i]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": SRC}) for i in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(o[0].strip() for o in outs) == ["False", "True"]  # one created it, the other joined
    with Gallery.open(g) as gal:
        assert gal.people() == {"person0": 1, "person1": 1}
