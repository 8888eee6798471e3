"""Start-up of one face `who` on one photo: `pictorch identify who PHOTO -g G.db --json` wall time, interleaved
with `python -c pass` (the interpreter's floor) and face_recognition's own CLI on the same photo.

    PYTHONPATH=src nice python bench/faces_startup.py [--orl ../shared/data/att_faces] [--rounds 7]

Each round runs the three commands one after another (rotating which goes first), so a change of load on the
shared machine hits all three alike; the medians and ranges are printed with the CPU, threads and load.
face_recognition's CLI (`face_recognition KNOWN_DIR PHOTO`) has no gallery: it describes the known photos at
every start, so it is given one known photo, as the pictorch gallery holds one person's one photo. Its models
package needs `pkg_resources` (gone from setuptools >= 81): the same one-function shim as bench/faces_orl.py is
set before its `main` runs. pictorch's `who` is also run once with `-X importtime`, to list what it imports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faces_orl import DEFAULT_ORL, cpu_model, load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

FR_CLI = """
import importlib.util, sys, types
from pathlib import Path
try:
    import pkg_resources
except ImportError:
    shim = types.ModuleType("pkg_resources")
    shim.resource_filename = lambda pkg, name: str(Path(importlib.util.find_spec(pkg).origin).parent / name)
    sys.modules["pkg_resources"] = shim
from face_recognition.face_recognition_cli import main
sys.argv = ["face_recognition", *sys.argv[1:]]
main()
"""


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[:6])} failed: {r.stderr.strip().splitlines()[-1:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orl", default=str(DEFAULT_ORL if DEFAULT_ORL.is_dir() else "/work/shared/data/att_faces"))
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    orl = Path(args.orl)
    if not orl.is_dir():
        sys.exit(f"error: ORL faces not found at {orl} (s1..s40/*.pgm)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    known, query = orl / "s1" / "1.pgm", orl / "s1" / "5.pgm"
    with tempfile.TemporaryDirectory() as tmp:
        g = str(Path(tmp) / "g.db")
        kdir = Path(tmp) / "known"
        kdir.mkdir()
        (kdir / "s1.pgm").write_bytes(known.read_bytes())
        subprocess.run([sys.executable, "-m", "pictorch", "identify", "enroll", "s1", str(known), "-g", g,
                        "--model", "dlib-face"], env=env, check=True, capture_output=True)
        cmds = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "pictorch identify who": [sys.executable, "-m", "pictorch", "identify", "who", str(query), "-g", g,
                                      "--json"],
            "face_recognition CLI": [sys.executable, "-c", FR_CLI, str(kdir), str(query)],
        }
        for c in cmds.values():  # warm the page cache and pictorch's detector cache once
            wall(c, env)
        print(f"CPU {cpu_model()}, {os.cpu_count()} cores, one process each (dlib single-threaded), "
              f"load {load()}")
        times: dict[str, list[float]] = {k: [] for k in cmds}
        names = list(cmds)
        for r in range(args.rounds):
            for k in names[r % 3:] + names[:r % 3]:
                times[k].append(wall(cmds[k], env))
        print(f"one photo (ORL 92x112, one face), {args.rounds} interleaved rounds; load {load()}")
        print(f"  {'':24s}{'median s':>10s}{'min':>8s}{'max':>8s}")
        for k, v in times.items():
            print(f"  {k:24s}{statistics.median(v):>10.2f}{min(v):>8.2f}{max(v):>8.2f}")
        pt, fr = statistics.median(times["pictorch identify who"]), statistics.median(times["face_recognition CLI"])
        print(f"  pictorch / face_recognition: {pt / fr:.2f}")
        r = subprocess.run([sys.executable, "-X", "importtime", *cmds["pictorch identify who"][1:]], env=env,
                           capture_output=True, text=True)
        top = [ln.split("|") for ln in r.stderr.splitlines() if ln.startswith("import time:") and "|" in ln]
        heavy = sorted(((int(c.strip()), n.strip()) for _, c, n in top if not n.startswith("    ")
                        and c.strip().isdigit()), reverse=True)[:6]
        print("  pictorch who's biggest imports (ms, cumulative, two levels): "
              + ", ".join(f"{n} {us / 1000:.0f}" for us, n in heavy))


if __name__ == "__main__":
    main()
