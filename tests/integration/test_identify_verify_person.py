"""Verify a photo against an enrolled person (``identify verify PHOTO --person NAME -g G`` and
``POST /api/people/{name}/verify``) on both gallery backends: the score is the one ``who`` gives that person,
and the HTTP service runs over a PostgreSQL gallery as over a SQLite file."""

from __future__ import annotations

import json

import pytest
import serve_fake as F
from identify_invoke import invoke as _invoke

from pictorch.tasks.identify import service

PEOPLE = {"ann": 1, "bob": 2, "cy": 3}




@pytest.fixture(params=["sqlite", "postgresql"])
def enrolled(request, tmp_path, monkeypatch):
    """A gallery (each backend) with ann and bob enrolled from 3 photos each; returns (gallery, photo dir)."""
    monkeypatch.setattr(service, "load_embedder", lambda spec: F.FakeEmbedder())
    g = str(tmp_path / "g.gallery") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    for name in ("ann", "bob"):
        paths = []
        for j in range(3):
            p = tmp_path / f"{name}_{j}.png"
            p.write_bytes(F.person_png(PEOPLE[name], j))
            paths.append(str(p))
        service.enroll(g, name, paths, model="fake")
    for name, seed in PEOPLE.items():
        (tmp_path / f"{name}_new.png").write_bytes(F.person_png(seed, 9))
    return g, tmp_path


def test_verify_person_cli(enrolled, capsys):
    g, d = enrolled
    code, out, err = _invoke(["verify", str(d / "ann_new.png"), "--person", "ann", "-g", g, "--threshold", "0.9",
                              "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["same"] is True and doc["person"] == "ann" and doc["photos_of_person"] == 3
    assert doc["scoring"] == "centroid" and doc["unit"] == "score" and doc["calibrated"] is False
    who = service.who(g, [str(d / "ann_new.png")], top_k=2)
    assert doc["score"] == pytest.approx(dict(who.photos[0].faces[0].topk)["ann"], abs=1e-5)
    code, out, _ = _invoke(["verify", str(d / "cy_new.png"), "--person", "ann", "-g", g, "--threshold", "0.9"],
                           capsys)
    assert code == 0 and out.startswith("not ann")
    code, out, err = _invoke(["verify", str(d / "ann_new.png"), "--person", "ann", "-g", g], capsys)
    assert code == 0 and "calibrate" in err  # no calibrated threshold: it says so
    code, _, err = _invoke(["verify", str(d / "ann_new.png"), "--person", "anne", "-g", g], capsys)
    assert code == 2 and "not enrolled" in err and len(err.strip().splitlines()) == 1
    code, _, err = _invoke(["verify", str(d / "ann_new.png"), str(d / "cy_new.png"), "--person", "ann", "-g", g],
                           capsys)
    assert code == 2 and "one photo" in err


def test_verify_person_http_on_both_backends(enrolled, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from pictorch.serve.app import Settings, create_app
    from pictorch.serve.keys import KeyStore

    g, d = enrolled
    ks = KeyStore(tmp_path / "keys.json")
    _, read = ks.create("read")
    _, write = ks.create("write")
    app = create_app(Settings(g, model="fake", keys=str(tmp_path / "keys.json"),
                              audit=str(tmp_path / "audit.jsonl"), spool=str(tmp_path / "spool"), rate=1e6))
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.post("/api/people/bob/verify", files={"photo": ("mine.png", F.person_png(2, 9))},
                       params={"threshold": 0.9}, headers={"X-API-Key": read})
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["same"] is True and doc["a"] == "mine.png" and doc["b"] == "bob" == doc["person"]
            r = c.post("/api/people/zed/verify", files={"photo": ("x.png", F.person_png(2, 9))},
                       headers={"X-API-Key": read})
            assert r.status_code == 404 and "not enrolled" in r.json()["error"]
            assert c.post("/api/people/bob/verify", files={"photo": ("x.png", F.person_png(2, 9))}).status_code == 401
            # the rest of the service over this backend: enrol, who, delete
            r = c.post("/api/people/cy/photos", files=[("files", ("c.png", F.person_png(3, 0), "image/png"))],
                       headers={"X-API-Key": write})
            assert r.status_code == 201, r.text
            r = c.post("/api/who", files=[("files", ("q.png", F.person_png(3, 5), "image/png"))],
                       headers={"X-API-Key": read}).json()
            assert r["photos"][0]["faces"][0]["topk"][0][0] == "cy"
            assert "password" not in json.dumps(r) and r["gallery"] == c.get("/api/health").json()["gallery"]
            assert c.delete("/api/people/cy", headers={"X-API-Key": write}).status_code == 200
            assert c.get("/api/health").json()["people"] == 2
    finally:
        app.state.worker.close()


def test_verify_two_photos_json_carries_the_gallery_note(enrolled, capsys):
    """`verify A B -g G --json` on an uncalibrated gallery says so in its notes, as `verify --person` does."""
    g, d = enrolled
    code, out, err = _invoke(["verify", str(d / "ann_new.png"), str(d / "ann_0.png"), "-g", g, "--json"], capsys)
    assert code == 0, err
    notes = " ".join(str(n) for n in json.loads(out)["notes"])
    assert "not calibrated" in notes or "no threshold" in notes, out
    code, out, err = _invoke(["verify", str(d / "ann_new.png"), str(d / "ann_0.png"), "-g", g, "--threshold", "0.5",
                              "--json"], capsys)
    assert code == 0, err
    assert "calibrat" not in " ".join(str(n) for n in json.loads(out)["notes"]), out  # a typed threshold: no note
