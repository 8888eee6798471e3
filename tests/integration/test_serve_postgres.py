"""Two `pictorch serve` replicas over one PostgreSQL gallery: what one enrols or deletes the other answers with at
once, concurrent enrolments through both all land, and neither shows the URL's password."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import serve_fake as F  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from pictorch.serve.app import Settings, create_app  # noqa: E402
from pictorch.serve.keys import KeyStore  # noqa: E402


def test_two_replicas_share_one_gallery(pg_url, tmp_path, monkeypatch):
    from pictorch.tasks.identify import service

    monkeypatch.setattr(service, "load_embedder", lambda spec: F.FakeEmbedder())
    url = pg_url.replace("postgresql://postgres:@", "postgresql://postgres:hunter2@")  # trust auth ignores it
    ks = KeyStore(tmp_path / "keys.json")
    _, secret = ks.create("write")
    key = {"X-API-Key": secret}
    apps = [create_app(Settings(url, model="fake", keys=str(tmp_path / "keys.json"), rate=1e9,
                                audit=str(tmp_path / f"audit{i}.jsonl"), spool=str(tmp_path / f"spool{i}")))
            for i in range(2)]
    try:
        with TestClient(apps[0], raise_server_exceptions=False) as a, \
                TestClient(apps[1], raise_server_exceptions=False) as b:
            r = a.post("/api/people/ann/photos", headers=key,
                       files=[("files", (f"a{j}.png", F.person_png(1, j), "image/png")) for j in range(2)])
            assert r.status_code == 201, r.text
            r = b.post("/api/who", headers=key, files=[("files", ("q.png", F.person_png(1, 7), "image/png"))])
            assert r.status_code == 200 and r.json()["photos"][0]["faces"][0]["topk"][0][0] == "ann"
            assert "hunter2" not in r.text and "hunter2" not in json.dumps(b.get("/api/health").json())

            def enrol(args):
                client, k = args
                return client.post(f"/api/people/p{k}/photos", headers=key,
                                   files=[("files", (f"p{k}.png", F.person_png(10 + k, 0), "image/png"))]).status_code

            with ThreadPoolExecutor(4) as pool:
                codes = list(pool.map(enrol, [(a if k % 2 else b, k) for k in range(12)]))
            assert codes == [201] * 12
            assert a.get("/api/people", params={"limit": 100}, headers=key).json()["total"] == 13
            assert b.delete("/api/people/ann", headers=key).status_code == 200
            r = a.post("/api/who", headers=key, files=[("files", ("q.png", F.person_png(1, 7), "image/png"))]).json()
            assert all(n != "ann" for n, _ in r["photos"][0]["faces"][0]["topk"])
            bad = b.post("/api/people/zed/verify", headers=key, files={"photo": ("z.png", F.person_png(3, 0))})
            assert bad.status_code == 404 and "hunter2" not in bad.text
    finally:
        for app in apps:
            app.state.worker.close()
