"""`pictorch serve` over HTTP (FastAPI's TestClient) on a fake embedder: people, photos, who, verify,
calibrate, keys and scopes, upload limits, JSON errors, rate limit, audit log, deletion, CLI == HTTP."""

from __future__ import annotations

import base64
import io
import json
import sqlite3

import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import serve_fake as F  # noqa: E402  (tests/integration is on the path)
from fastapi.testclient import TestClient  # noqa: E402

from pictorch.serve.app import Settings, create_app  # noqa: E402
from pictorch.serve.keys import KeyStore  # noqa: E402

PEOPLE = {"ann": 1, "bob": 2, "cy": 3, "dee": 4}


@pytest.fixture
def server(tmp_path, monkeypatch):
    from pictorch.tasks.identify import service

    monkeypatch.setattr(service, "load_embedder", lambda spec: F.FakeEmbedder())
    g = str(tmp_path / "people.gallery")
    ks = KeyStore(tmp_path / "keys.json")
    _, read = ks.create("read")
    _, write = ks.create("write")
    settings = Settings(g, model="fake", keys=str(tmp_path / "keys.json"), rate=1e6)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.R, c.W, c.gallery = {"X-API-Key": read}, {"X-API-Key": write}, g
        c.app_ = app
        yield c
    app.state.worker.close()


def _files(name, js):
    return [("files", (f"{name}_{j}.png", F.person_png(PEOPLE[name], j), "image/png")) for j in js]


def _enrol(c, name, js):
    return c.post(f"/api/people/{name}/photos", files=_files(name, js), headers=c.W)


def test_people_photos_who_verify_calibrate(server, tmp_path):
    c = server
    assert c.get("/api/health").json()["people"] == 0
    r = c.post("/api/people", data={"name": "ann"}, files=_files("ann", range(3)), headers=c.W)
    assert r.status_code == 201, r.text
    assert r.json()["enrolled"] == 3 and r.json()["created"] is True
    photos64 = [{"name": "b.png", "data": base64.b64encode(F.person_png(2, j)).decode()} for j in range(3)]
    r = c.post("/api/people/bob/photos/base64", json={"photos": photos64}, headers=c.W)
    assert r.status_code == 201 and r.json()["enrolled"] == 3
    assert "people.gallery" == r.json()["gallery"]  # the server's folders are not shown
    r = c.get("/api/people", params={"limit": 1}, headers=c.R).json()
    assert r["total"] == 2 and r["people"] == [{"name": "ann", "photos": 3}]
    assert c.get("/api/people", params={"offset": 1}, headers=c.R).json()["people"] == [{"name": "bob", "photos": 3}]
    ph = c.get("/api/people/ann/photos", headers=c.R).json()["photos"]
    assert len(ph) == 3 and len(ph[0]["sha256"]) == 64

    # who: every answer carries the threshold and says it is not calibrated
    r = c.post("/api/who", files=_files("ann", [5]) + _files("cy", [0]), params={"top_k": 2}, headers=c.R).json()
    assert [p["photo"] for p in r["photos"]] == ["ann_5.png", "cy_0.png"]
    f = r["photos"][0]["faces"][0]
    assert f["name"] == "ann" and f["topk"][0][0] == "ann" and len(f["topk"]) == 2
    assert r["calibrated"] is False and any("calibrate" in n for n in r["notes"])
    assert "threshold" in r

    r = c.post("/api/verify", files={"a": ("a.png", F.person_png(2, 7)), "b": ("b.png", F.person_png(2, 8))},
               params={"threshold": 0.9}, headers=c.R)
    assert r.status_code == 200, r.text
    assert r.json()["same"] is True and r.json()["a"] == "a.png"

    cal = [{"person": n, "name": f"{n}{j}.png", "data": base64.b64encode(F.person_png(s, j)).decode()}
           for n, s in PEOPLE.items() for j in range(10, 14 if n in ("ann", "bob") else 24)]
    r = c.post("/api/calibrate", json={"photos": cal, "target_far": 0.0}, headers=c.W)
    assert r.status_code == 200, r.text
    assert r.json()["far"] == 0.0 and r.json()["strangers"] == 28
    r = c.post("/api/who", files=_files("cy", [1]) + _files("bob", [6]), headers=c.R).json()
    assert [p["faces"][0]["name"] for p in r["photos"]] == ["unknown", "bob"]
    assert r["calibrated"] is True and not any("calibrate" in n for n in r["notes"])
    assert c.get("/api/gallery", headers=c.R).json()["calibrated"] is True

    r = c.patch("/api/people/bob", json={"name": "rob"}, headers=c.W)
    assert r.status_code == 200 and r.json()["new"] == "rob"
    audit = [json.loads(x) for x in open(c.gallery + ".audit.jsonl")]
    assert [a["action"] for a in audit] == ["enrol", "enrol", "calibrate", "rename"]
    assert all(a["key"] and a["time"] for a in audit)
    assert "openapi" in c.get("/openapi.json").json()
    assert "<html" in c.get("/").text.lower()


def test_delete_removes_embeddings_and_hashes(server):
    c = server
    _enrol(c, "ann", range(3))
    _enrol(c, "bob", range(2))
    hashes = {p["sha256"] for p in c.get("/api/people/ann/photos", headers=c.R).json()["photos"]}
    # one photo of bob goes: his embedding and hash with it; who still works (index rebuilt)
    bob = c.get("/api/people/bob/photos", headers=c.R).json()["photos"]
    r = c.delete(f"/api/people/bob/photos/{bob[0]['id']}", headers=c.W)
    assert r.status_code == 200 and r.json()["removed"] == 1
    assert c.delete(f"/api/people/ann/photos/{bob[1]['id']}", headers=c.W).status_code == 404  # not ann's
    assert c.get("/api/people", headers=c.R).json()["people"] == [{"name": "ann", "photos": 3}, {"name": "bob",
                                                                                                  "photos": 1}]
    r = c.post("/api/who", files=_files("bob", [7]), headers=c.R).json()
    assert r["photos"][0]["faces"][0]["name"] == "bob"
    r = c.delete("/api/people/ann", headers=c.W)
    assert r.status_code == 200 and r.json()["removed"] == 3
    c.app_.state.worker.close()  # let go of the file, then look inside it
    con = sqlite3.connect(c.gallery)
    stored = {h for (h,) in con.execute("SELECT sha256 FROM sources")}
    assert not hashes & stored and bob[0]["sha256"] not in stored and len(stored) == 1
    assert con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM people WHERE name='ann'").fetchone()[0] == 0
    con.close()
    audit = open(c.gallery + ".audit.jsonl").read()
    assert not any(h in audit for h in hashes)
    import os
    assert os.listdir(c.gallery + ".uploads") == []  # no photo stays behind


def test_keys_scopes_and_json_errors(server):
    c = server
    assert c.get("/api/health").status_code == 200
    r = c.get("/api/people")
    assert r.status_code == 401 and r.json() == {"error": r.json()["error"]} and "API key" in r.json()["error"]
    assert c.get("/api/people", headers={"X-API-Key": "ptk_nope"}).status_code == 401
    assert c.get("/api/people", headers={"Authorization": "Bearer " + c.R["X-API-Key"]}).status_code == 200
    r = _enrol(c, "ann", range(2)) and c.post("/api/people/ann/photos", files=_files("ann", [9]), headers=c.R)
    assert r.status_code == 403 and "write key" in r.json()["error"]
    assert c.delete("/api/people/ann", headers=c.R).status_code == 403

    # uploads: by content, not by name; size and pixel caps; every error one JSON message
    r = c.post("/api/who", files=[("files", ("x.png", b"not an image at all", "image/png"))], headers=c.R)
    assert r.status_code == 415 and "not an image" in r.json()["error"]
    big = b"\x89PNG" + b"0" * (5 * 1024 * 1024 + 10)
    r = c.post("/api/who", files=[("files", ("big.png", big, "image/png"))], headers=c.R)
    assert r.status_code == 413
    buf = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buf, "PNG")  # 48 MP, a few KB: a decompression bomb
    r = c.post("/api/who", files=[("files", ("bomb.png", buf.getvalue(), "image/png"))], headers=c.R)
    assert r.status_code == 413 and "pixel limit" in r.json()["error"]
    r = c.post("/api/who/base64", json={"photos": [{"data": "!!!"}]}, headers=c.R)
    assert r.status_code == 422 and "base64" in r.json()["error"]
    r = c.post("/api/who/base64", json={"photos": []}, headers=c.R)
    assert r.status_code == 422 and set(r.json()) == {"error"}
    r = c.post("/api/who", files=_files("ann", [5]), params={"top_k": 0}, headers=c.R)
    assert r.status_code == 422 and "top_k" in r.json()["error"]
    r = c.delete("/api/people/anne", headers=c.W)
    assert r.status_code == 404 and "Did you mean ann" in r.json()["error"]
    assert "/" not in r.json()["error"].split("in ")[1].split(".")[0]  # gallery by name, not by path
    r = _enrol(c, "ann", [0])  # already enrolled: one message, not a 500
    assert r.status_code == 400 and "already" in r.json()["error"]
    assert "Traceback" not in r.text


def test_rate_limit(tmp_path, monkeypatch):
    from pictorch.tasks.identify import service

    monkeypatch.setattr(service, "load_embedder", lambda spec: F.FakeEmbedder())
    ks = KeyStore(tmp_path / "k.json")
    _, read = ks.create("read")
    app = create_app(Settings(str(tmp_path / "g.gallery"), model="fake", keys=str(tmp_path / "k.json"), rate=3))
    with TestClient(app) as c:
        codes = [c.get("/api/people", headers={"X-API-Key": read}).status_code for _ in range(5)]
        assert codes[:3] == [200] * 3 and codes[3] == 429
        r = c.get("/api/people", headers={"X-API-Key": read})
        assert "rate limit" in r.json()["error"] and int(r.headers["retry-after"]) >= 1
    app.state.worker.close()


def test_request_cap(tmp_path, monkeypatch):
    from pictorch.tasks.identify import service

    monkeypatch.setattr(service, "load_embedder", lambda spec: F.FakeEmbedder())
    _, read = KeyStore(tmp_path / "k.json").create("read")
    app = create_app(Settings(str(tmp_path / "g.gallery"), keys=str(tmp_path / "k.json"), max_request_bytes=2000))
    with TestClient(app) as c:
        r = c.post("/api/who", files=[("files", ("a.png", b"x" * 3000, "image/png"))], headers={"X-API-Key": read})
        assert r.status_code == 413 and "byte limit" in r.json()["error"]


def test_keys_store_only_hashes(tmp_path):
    ks = KeyStore(tmp_path / "k.json")
    key, secret = ks.create("read")
    text = (tmp_path / "k.json").read_text()
    assert secret not in text and key.sha256 in text
    assert (tmp_path / "k.json").stat().st_mode & 0o077 == 0
    assert KeyStore(tmp_path / "k.json").check(secret).scope == "read"
    assert KeyStore(tmp_path / "k.json").check(secret + "x") is None


def test_cli_and_http_give_the_same_answer(server, tmp_path, capsys):
    import typer

    import pictorch.cli as root
    from pictorch.tasks.identify import gallery_cli

    c = server
    _enrol(c, "ann", range(3))
    _enrol(c, "bob", range(3))
    photo = tmp_path / "query.png"
    photo.write_bytes(F.person_png(1, 7))
    http = c.post("/api/who", files=[("files", ("query.png", photo.read_bytes(), "image/png"))],
                  params={"top_k": 2}, headers=c.R).json()

    app = typer.Typer()
    gallery_cli.register(app)
    top = typer.Typer()
    top.add_typer(app, name="identify")
    try:
        top(args=["identify", "who", str(photo), "--gallery", c.gallery, "--json", "-k", "2"], prog_name="pictorch",
            standalone_mode=False)
    except SystemExit as e:  # pragma: no cover - a failure shows in the assert below
        assert e.code == 0
    except Exception as e:  # noqa: BLE001
        root._handle(e, False)
    cli = json.loads(capsys.readouterr().out)
    assert http["photos"][0]["faces"] == cli["photos"][0]["faces"]
    assert http["photos"][0]["faces"][0]["name"] == "ann"
    # (the CLI, a second process on the file, may also note that it rebuilt the index the server holds in memory)
    cli_notes = [n for n in cli["notes"] if not n.startswith("index rebuilt")]
    assert (http["threshold"], http["calibrated"], http["notes"]) == (cli["threshold"], cli["calibrated"], cli_notes)
