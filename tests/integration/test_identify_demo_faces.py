"""`pictorch demo --faces [DIR]`: the open-set story on real faces (ORL when present), and the fallback to the
Fashion-MNIST demo when there are no face photos (offline, no DIR)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import cli as _cli

ORL = Path("/work/shared/data/att_faces")
TORCH_THREADS = 1


@pytest.mark.skipif(not ORL.is_dir(), reason="AT&T/ORL faces not present")
def test_faces_demo_on_a_small_orl_folder(tmp_path, capsys):
    pytest.importorskip("dlib")
    from pictorch.tasks.identify.demo_faces import run_faces_demo

    src = tmp_path / "people"
    for s in range(1, 7):
        (src / f"s{s}").mkdir(parents=True)
        for i in range(1, 7):
            (src / f"s{s}" / f"{i}.pgm").write_bytes((ORL / f"s{s}" / f"{i}.pgm").read_bytes())
    rep = run_faces_demo(src, out_dir=tmp_path / "demo", n_enrol=3)
    out = capsys.readouterr().out
    assert "open-set report" in out and "strangers rejected" in out
    assert len(rep["members"]) == 3 and rep["queries"]["members"] == 3 and rep["queries"]["strangers"] == 6
    assert 0.0 <= rep["member_identified"] <= 1.0 and 0.0 <= rep["stranger_rejected"] <= 1.0
    assert Path(rep["pictures"]["contact_sheet"]).is_file() and Path(rep["report_path"]).is_file()
    rep2 = run_faces_demo(src, out_dir=tmp_path / "demo", n_enrol=3, quiet=True)  # never over the first run
    assert rep2["report_path"] != rep["report_path"]
    assert json.loads(Path(rep2["report_path"]).read_text())["members"] == rep["members"]


def test_no_face_photos_falls_back_to_fashion_mnist(tmp_path, capsys, monkeypatch):
    pytest.importorskip("pictorch.gallery.store")
    from test_identify_cli import _write_idx

    from pictorch.errors import DataError
    from pictorch.tasks.identify import demo, demo_faces

    def offline(out):
        raise DataError("the Olivetti faces could not be fetched (URLError: offline)")

    monkeypatch.setattr(demo_faces, "olivetti_folder", offline)
    real = demo.run_demo
    monkeypatch.setattr(demo, "run_demo", lambda **kw: real(**{**kw, "steps": 3}))
    data = _write_idx(tmp_path, n_per_class=60)
    code, out, err = _cli(capsys, "demo", "--faces", "--quick", "--data-dir", str(data), "--out-dir",
                          str(tmp_path / "d"))
    assert code == 0, err
    assert "running the Fashion-MNIST demo instead" in err and "open-set report" in out
    code, out, err = _cli(capsys, "demo", str(tmp_path))
    assert code == 2 and "goes with --faces" in err
