"""Real faces over HTTP (dlib-face on AT&T/ORL photos): the service and the CLI give the same answer for the
same photo, face box included. Skips when dlib or the photos are absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("dlib")
ORL = Path("/work/shared/data/att_faces")
if not ORL.is_dir():
    pytest.skip("AT&T/ORL faces not present", allow_module_level=True)

from fastapi.testclient import TestClient  # noqa: E402

from pictorch.cli import main  # noqa: E402
from pictorch.serve.app import Settings, create_app  # noqa: E402
from pictorch.serve.keys import KeyStore  # noqa: E402


def test_real_faces_cli_and_http_agree(tmp_path, capsys):
    g = str(tmp_path / "orl.gallery")
    _, secret = KeyStore(tmp_path / "k.json").create("write")
    key = {"X-API-Key": secret}
    app = create_app(Settings(g, model="dlib-face", keys=str(tmp_path / "k.json")))
    with TestClient(app) as c:
        for s in ("s1", "s2"):
            files = [("files", (f"{i}.pgm", (ORL / s / f"{i}.pgm").read_bytes(), "image/x-portable-graymap"))
                     for i in (1, 2)]
            r = c.post(f"/api/people/{s}/photos", files=files, headers=key)
            assert r.status_code == 201 and r.json()["enrolled"] == 2, r.text
        q = ORL / "s2" / "9.pgm"
        http = c.post("/api/who", files=[("files", ("9.pgm", q.read_bytes(), "image/x-portable-graymap"))],
                      headers=key).json()
    app.state.worker.close()
    try:
        main(["identify", "who", str(q), "-g", g, "--json"])
    except SystemExit as e:
        assert not e.code
    cli = json.loads(capsys.readouterr().out)
    face = http["photos"][0]["faces"][0]
    assert face["name"] == "s2" and face["box"] is not None and http["unit"] == "distance"
    assert face == cli["photos"][0]["faces"][0]
    assert not http["calibrated"] and any("not calibrated" in n for n in http["notes"])
