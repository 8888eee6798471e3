"""The service under load and faults, on loopback, bounded: 8 concurrent clients of mixed who/enrol requests
(zero 5xx, no lost enrolment, concurrent answers equal to one-by-one ones); the server killed mid-enrolment (every acknowledged enrolment is there after a
restart, nobody half-enrolled); a schemathesis fuzz of the OpenAPI schema (no 500s)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

import serve_fake as F  # noqa: E402

from pictorch.serve.app import Settings, create_app  # noqa: E402
from pictorch.serve.keys import KeyStore  # noqa: E402

CLIENTS, REQUESTS = 8, 24


@pytest.fixture
def fake(monkeypatch):
    from pictorch.tasks.identify import service

    monkeypatch.setattr(service, "load_embedder", lambda spec: F.FakeEmbedder())


def _app(tmp_path):
    _, secret = KeyStore(tmp_path / "k.json").create("write")
    app = create_app(Settings(str(tmp_path / "g.gallery"), model="fake", keys=str(tmp_path / "k.json"), rate=1e6))
    return app, {"X-API-Key": secret}


def _photos(seed, n=3, start=0):
    return [("files", (f"p{seed}_{j}.png", F.person_png(seed, j), "image/png")) for j in range(start, start + n)]


def test_concurrent_clients_no_5xx_no_lost_enrolment(tmp_path, fake):
    app, key = _app(tmp_path)
    with F.live_server(app) as url:
        with httpx.Client(base_url=url, headers=key, timeout=60) as c:  # someone to ask about first
            assert c.post("/api/people/seed/photos", files=_photos(999)).status_code == 201

        def client(k):
            acked, codes = [], []
            with httpx.Client(base_url=url, headers=key, timeout=60) as c:
                for i in range(REQUESTS):
                    if i % 3 == 0:  # a third enrolments (each a new person), the rest who
                        name, seed = f"c{k}_{i}", 10 + k * 100 + i
                        r = c.post(f"/api/people/{name}/photos", files=_photos(seed))
                        if r.status_code == 201:
                            acked.append((name, r.json()["enrolled"]))
                    else:
                        r = c.post("/api/who", files=_photos(999, 1, start=5 + i))
                    codes.append(r.status_code)
            return acked, codes

        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(client, range(CLIENTS)))
        codes = [c for _, cs in results for c in cs]
        acked = [a for ack, _ in results for a in ack]
        assert len(codes) == CLIENTS * REQUESTS and not [c for c in codes if c >= 500]
        assert set(codes) <= {200, 201}
        with httpx.Client(base_url=url, headers=key) as c:
            people = {p["name"]: p["photos"] for p in c.get("/api/people", params={"limit": 1000}).json()["people"]}
            queries = [_photos(10 + k * 100, 1, start=9) for k in range(CLIENTS)]  # one per enrolled client
            one_by_one = [c.post("/api/who", files=q, params={"top_k": 3}).json()["photos"] for q in queries]

        def ask_all(_):
            with httpx.Client(base_url=url, headers=key, timeout=60) as c:
                return [c.post("/api/who", files=q, params={"top_k": 3}).json()["photos"] for q in queries]

        with ThreadPoolExecutor(CLIENTS) as pool:
            together = list(pool.map(ask_all, range(CLIENTS)))
    assert all(t == one_by_one for t in together)  # concurrent answers are the one-by-one answers
    assert [p[0]["faces"][0]["name"] for p in one_by_one] == [f"c{k}_0" for k in range(CLIENTS)]
    assert len(acked) == CLIENTS * REQUESTS // 3
    assert all(people.get(n) == k == 3 for n, k in acked)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(g, keys, port):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("serve_fake.py")), g, keys, str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
        if proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"server did not start: {proc.stderr.read().decode()[-2000:]}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_mid_enrolment_keeps_every_acknowledged_one(tmp_path, request, monkeypatch, backend):
    from pictorch.gallery.backends import sidecar

    monkeypatch.setenv("PICTORCH_HOME", str(tmp_path / "home"))  # a PostgreSQL gallery's audit log and spool
    g = str(tmp_path / "g.gallery") if backend == "sqlite" else request.getfixturevalue("pg_url")
    keys, spool = str(tmp_path / "k.json"), sidecar(g, ".uploads")
    _, secret = KeyStore(keys).create("write")
    key = {"X-API-Key": secret}
    port = _free_port()
    proc = _start(g, keys, port)
    acked: list[str] = []
    stop = threading.Event()

    def enrol_forever(k):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=key, timeout=10) as c:
            i = 0
            while not stop.is_set():
                name = f"k{k}_{i}"
                try:
                    r = c.post(f"/api/people/{name}/photos", files=_photos(10 + k * 1000 + i, 4))
                except httpx.HTTPError:
                    return  # the server died under this request: not acknowledged
                if r.status_code == 201:
                    acked.append(name)
                i += 1

    threads = [threading.Thread(target=enrol_forever, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # mid-enrolment: requests are in flight
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acked) >= 12

    proc = _start(g, keys, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=key) as c:
            people = {p["name"]: p["photos"] for p in c.get("/api/people", params={"limit": 1000}).json()["people"]}
            assert c.post("/api/who", files=_photos(10, 1, start=7)).json()["photos"][0]["faces"][0]["name"] == "k0_0"
    finally:
        proc.terminate()
        proc.wait(10)
    assert set(acked) <= set(people)  # every acknowledged enrolment survived
    assert set(people.values()) == {4}  # nobody half-enrolled (an unacknowledged one is all there or not at all)
    assert os.listdir(spool) == []  # the killed server's temporary photos were cleared at restart


def test_openapi_fuzz_no_500(tmp_path, fake):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    app, key = _app(tmp_path)
    from fastapi.testclient import TestClient

    with TestClient(app) as c:  # someone enrolled, so every route has something to work on
        assert c.post("/api/people/ann/photos", files=_photos(1), headers=key).status_code == 201
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        failures, seen = [], []
        for op in schema.get_all_operations():
            operation = op.ok()

            @settings(max_examples=8, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def fuzz(case):
                r = case.call(headers=key)
                seen.append(r.status_code)
                if r.status_code >= 500:
                    failures.append((case.method, case.formatted_path, r.status_code, r.text[:200]))
                assert "Traceback" not in r.text

            fuzz()
        assert not failures, failures
        assert len(seen) > 40 and any(c < 300 for c in seen) and any(400 <= c < 500 for c in seen), seen
    app.state.worker.close()
