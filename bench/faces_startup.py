"""Start-up of one face `who` on one photo: `pictorch identify who PHOTO -g G.db --json` wall time, interleaved
with `python -c pass` (the interpreter's floor) and face_recognition's own CLI on the same photo.

    PYTHONPATH=src nice python bench/faces_startup.py [--orl ../shared/data/att_faces] [--rounds 7]

Each round runs the three commands one after another (rotating which goes first), so a change of load on the
shared machine hits all three alike; the medians and ranges are printed with the CPU, threads and load.
Two photos: one ORL face (92x112) and a 1280x800 group photo of six. face_recognition's CLI (`face_recognition
KNOWN_DIR PHOTO`) has no gallery: it describes the known photos at every start (six here, one per person; the
pictorch gallery holds the same six photos). Its models
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


def make_group(orl: Path, people: list[str], out: str) -> None:
    """A 1280x800 photo of six ORL faces (each person's 5th photo, 1.2-2x) on a noisy grey background."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    canvas = Image.fromarray(rng.integers(70, 140, (800, 1280, 3), dtype=np.uint8))
    for j, name in enumerate(people):
        sc = 1.2 + 0.15 * j
        face = Image.open(orl / name / "5.pgm").convert("RGB")
        face = face.resize((int(92 * sc), int(112 * sc)), Image.Resampling.BICUBIC)
        canvas.paste(face, ((j % 3) * 420 + 60, (j // 3) * 400 + 60))
    canvas.save(out, quality=92)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orl", default=str(DEFAULT_ORL if DEFAULT_ORL.is_dir() else "/work/shared/data/att_faces"))
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    orl = Path(args.orl)
    if not orl.is_dir():
        sys.exit(f"error: ORL faces not found at {orl} (s1..s40/*.pgm)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    people = [f"s{i}" for i in range(1, 7)]
    with tempfile.TemporaryDirectory() as tmp:
        g = str(Path(tmp) / "g.db")
        kdir = Path(tmp) / "known"
        kdir.mkdir()
        for name in people:  # one known photo per person for both; the group photo shows each person's 5th
            (kdir / f"{name}.pgm").write_bytes((orl / name / "1.pgm").read_bytes())
            subprocess.run([sys.executable, "-m", "pictorch", "identify", "enroll", name, str(orl / name / "1.pgm"),
                            "-g", g, "--model", "dlib-face"], env=env, check=True, capture_output=True)
        group = str(Path(tmp) / "group.jpg")
        make_group(orl, people, group)
        one = str(orl / "s1" / "5.pgm")
        cmds = {"python -c pass": [sys.executable, "-c", "pass"]}
        for label, photo in (("one face (92x112)", one), ("group (1280x800, 6)", group)):
            cmds[f"pictorch who, {label}"] = [sys.executable, "-m", "pictorch", "identify", "who", photo, "-g", g,
                                             "--json"]
            cmds[f"face_recognition, {label}"] = [sys.executable, "-c", FR_CLI, str(kdir), photo]
        for c in cmds.values():  # warm the page cache and pictorch's detector cache once
            wall(c, env)
        print(f"CPU {cpu_model()}, {os.cpu_count()} cores, one process each (dlib single-threaded), "
              f"load {load()}")
        times: dict[str, list[float]] = {k: [] for k in cmds}
        names = list(cmds)
        for r in range(args.rounds):
            for k in names[r % len(names):] + names[:r % len(names)]:
                times[k].append(wall(cmds[k], env))
        print(f"one photo per process, {args.rounds} interleaved rounds; 6 people known; load {load()}")
        print(f"  {'':36s}{'median s':>10s}{'min':>8s}{'max':>8s}")
        for k, v in times.items():
            print(f"  {k:36s}{statistics.median(v):>10.2f}{min(v):>8.2f}{max(v):>8.2f}")
        for label in ("one face (92x112)", "group (1280x800, 6)"):
            pt = statistics.median(times[f"pictorch who, {label}"])
            fr = statistics.median(times[f"face_recognition, {label}"])
            print(f"  {label}: face_recognition / pictorch {fr / pt:.2f}x")
        r = subprocess.run([sys.executable, "-X", "importtime", *cmds["pictorch who, one face (92x112)"][1:]], env=env,
                           capture_output=True, text=True)
        top = [ln.split("|") for ln in r.stderr.splitlines() if ln.startswith("import time:") and "|" in ln]
        heavy = sorted(((int(c.strip()), n.strip()) for _, c, n in top if not n.startswith("    ")
                        and c.strip().isdigit()), reverse=True)[:6]
        print("  pictorch who's biggest imports (ms, cumulative, two levels): "
              + ", ".join(f"{n} {us / 1000:.0f}" for us, n in heavy))


if __name__ == "__main__":
    main()
