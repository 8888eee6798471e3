"""`pictorch serve` speed and steadiness on loopback, each figure beside its baseline from the same process.

* ``who`` latency p50/p95 over HTTP for galleries of 100, 1,000 and 10,000 people (one embedding each, the flat
  index), excluding face detection: a stand-in 192-d embedder on whole 32×32 photos, so the figure is the
  service's own cost (upload check, temp file, decode, index search, JSON). Baseline: the same ``who`` called
  in-process on :class:`GalleryService` (no HTTP).
* the first request after start against the steady-state median (models and index load at start);
* 8 concurrent clients × N mixed who/enrol requests (1 in 4 an enrolment): 5xx count, lost enrolments, and the
  server process's RSS growth after warm-up.

With ``--backend postgresql`` the galleries are PostgreSQL + pgvector ones (a throwaway pgserver on a Unix
socket; each SQLite gallery built as usual, then migrated), served and measured the same way.

Run: ``nice PYTHONPATH=src python bench/serve_who.py [--sizes 100,1000,10000] [--requests 200]
[--backend sqlite|postgresql]``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch


class StandIn:
    """A fixed random projection of an 8×8 thumbnail: deterministic, microseconds per photo."""

    name, dim, mode, input_size, fingerprint = "standin", 192, "RGB", (8, 8), "standin-v1"

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(images.float().flatten(1) - 127.5, dim=1)


def png(seed: int) -> bytes:
    from PIL import Image

    img = np.random.default_rng(seed).integers(0, 256, size=(8, 8, 3)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).resize((32, 32), Image.NEAREST).save(buf, "PNG")
    return buf.getvalue()


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(path: Path, people: int) -> None:
    from pictorch.gallery import Gallery

    rng = np.random.default_rng(people)
    with Gallery.create(path, StandIn.fingerprint, StandIn.dim, model="standin", scoring="nearest",
                        settings={"faces": False}) as g:
        for i in range(people):
            v = rng.normal(size=(1, StandIn.dim)).astype(np.float32)
            g.enroll(f"p{i:05d}", v / np.linalg.norm(v), [f"p{i}.png"], [f"{people}-{i:064d}"[-64:]])


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--requests", type=int, default=200, help="per client in the load run")
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    torch.set_num_threads(1)

    import httpx

    from pictorch.serve.app import Settings, create_app
    from pictorch.serve.keys import KeyStore
    from pictorch.tasks.identify import service

    service.load_embedder = lambda spec: StandIn()
    sys_line = (f"cpu: {platform.processor() or platform.machine()} "
                f"({open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}), "
                f"torch threads 1, load {os.getloadavg()}")
    print(sys_line + f", backend {args.backend}")
    tmp = Path(tempfile.mkdtemp())
    specs: dict[int, str] = {}
    pg_url = None
    if args.backend == "postgresql":
        from pictorch.gallery.pg import start_pgserver

        pg_server, pg_url = start_pgserver(tmp / "pg")
    _, secret = KeyStore(tmp / "k.json").create("write")
    key = {"X-API-Key": secret}
    photos = [png(10_000 + i) for i in range(args.queries)]
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
    from serve_fake import live_server  # the tests' loopback uvicorn-in-a-thread helper

    for n in [int(s) for s in args.sizes.split(",")]:
        g = tmp / f"g{n}.gallery"
        t0 = time.perf_counter()
        build(g, n)
        built = time.perf_counter() - t0
        specs[n] = str(g)
        if pg_url is not None:
            from pictorch.gallery.migrate import migrate

            specs[n] = f"{pg_url}#g{n}"
            migrate(str(g), specs[n])
        # baseline: in-process, no HTTP
        qdir = tmp / f"q{n}"
        qdir.mkdir()
        for i, b in enumerate(photos):
            (qdir / f"{i}.png").write_bytes(b)
        with service.GalleryService.open(specs[n]) as svc:
            svc.who([str(qdir / "0.png")])
            direct = []
            for i in range(len(photos)):
                t = time.perf_counter()
                svc.who([str(qdir / f"{i}.png")])
                direct.append(time.perf_counter() - t)
        app = create_app(Settings(specs[n], keys=str(tmp / "k.json"), audit=str(tmp / "audit.jsonl"),
                                  spool=str(tmp / "spool"), rate=1e9))
        with live_server(app) as url, httpx.Client(base_url=url, headers=key, timeout=60) as c:
            c.get("/api/health")  # the client's connection (not the service's start-up) out of the first figure
            lat = []
            for b in photos:
                t = time.perf_counter()
                r = c.post("/api/who", files=[("files", ("q.png", b, "image/png"))])
                lat.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
        app.state.worker.close()
        steady = statistics.median(lat[5:])
        print(f"gallery {n:>6} people (built in {built:.1f} s): who over HTTP p50 {pct(lat[1:], 50):.1f} ms, "
              f"p95 {pct(lat[1:], 95):.1f} ms; first request {lat[0] * 1000:.1f} ms = {lat[0] / steady:.2f}x steady"
              f" | baseline in-process who p50 {pct(direct, 50):.1f} ms, p95 {pct(direct, 95):.1f} ms"
              f" | load {os.getloadavg()[0]:.2f}")

    # 8 clients x requests, mixed, on the 1000-people gallery (or the first size)
    n = 1000 if "1000" in args.sizes.split(",") else int(args.sizes.split(",")[0])
    app = create_app(Settings(specs[n], keys=str(tmp / "k.json"), audit=str(tmp / "audit.jsonl"),
                                  spool=str(tmp / "spool"), rate=1e9))
    with live_server(app) as url:
        def client(k: int, count: int, tag: str) -> tuple[list[int], list[str]]:
            codes, acked = [], []
            with httpx.Client(base_url=url, headers=key, timeout=120) as c:
                for i in range(count):
                    if i % 4 == 0:
                        name = f"{tag}{k}_{i}"
                        r = c.post(f"/api/people/{name}/photos",
                                   files=[("files", ("e.png", png(hash((tag, k, i)) % 10**9), "image/png"))])
                        if r.status_code == 201:
                            acked.append(name)
                    else:
                        r = c.post("/api/who", files=[("files", ("q.png", photos[i % len(photos)], "image/png"))])
                    codes.append(r.status_code)
            return codes, acked

        with ThreadPoolExecutor(8) as pool:  # warm-up
            list(pool.map(lambda k: client(k, 20, "w"), range(8)))
        before = rss_mb()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            res = list(pool.map(lambda k: client(k, args.requests, "c"), range(8)))
        wall = time.perf_counter() - t0
        after = rss_mb()
        codes = [c for cs, _ in res for c in cs]
        acked = [a for _, a in res for a in a]
        with httpx.Client(base_url=url, headers=key) as c:
            people: set[str] = set()
            while True:  # every page
                page = c.get("/api/people", params={"limit": 1000, "offset": len(people)}).json()
                people |= {p["name"] for p in page["people"]}
                if not page["people"]:
                    break
    app.state.worker.close()
    print(f"load: 8 clients x {args.requests} mixed requests on {n} people in {wall:.1f} s "
          f"({len(codes) / wall:.0f} req/s): 5xx {sum(c >= 500 for c in codes)}, other non-2xx "
          f"{sum(c >= 300 and c < 500 for c in codes)}, enrolments acknowledged {len(acked)}, lost "
          f"{len(set(acked) - people)}; RSS {before:.0f} -> {after:.0f} MB ({(after / before - 1) * 100:+.1f}% after "
          f"warm-up; process holds client and server) | load {os.getloadavg()}")


if __name__ == "__main__":
    main()
