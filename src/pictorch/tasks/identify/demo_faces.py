"""``pictorch demo --faces [DIR]``: the lecture's exercise on real faces.

"Recognize each member of our group on any photo, and say 'not from our group' for anyone else", with dlib's
pretrained face descriptor (``--model dlib-face``), through the same use cases as the CLI
(:mod:`pictorch.tasks.identify.service`):

1. half the people of ``DIR`` (a subfolder of photos per person; at most 20) are the group's members: a few
   photos of each are enrolled;
2. the threshold is calibrated on other photos of the members and on photos of half the strangers;
3. new photos of the members and of the *other* strangers (never seen in calibration) are queried;
4. the open-set report (members identified, named wrongly, rejected; strangers rejected; DIR at several FARs)
   and annotated pictures are written.

With no ``DIR``: the Olivetti faces (the AT&T/ORL set) that scikit-learn downloads, when online; without face
photos the caller falls back to the Fashion-MNIST demo.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from pictorch.errors import DataError

MAX_MEMBERS = 20


def _say(msg: str) -> None:
    print(msg, flush=True)


def olivetti_folder(out: Path) -> Path:
    """Write scikit-learn's Olivetti faces (downloaded on first use) as ``out/olivetti/sNN/K.png``.

    Raises:
        DataError: scikit-learn cannot get them (offline and not cached).
    """
    import numpy as np
    from PIL import Image

    try:
        from sklearn.datasets import fetch_olivetti_faces

        with warnings.catch_warnings():  # offline, sklearn warns about each retry before it gives up (~6 s)
            warnings.simplefilter("ignore")
            data = fetch_olivetti_faces(download_if_missing=True)
    except Exception as e:  # noqa: BLE001 - offline, blocked, or a broken cache: all mean "no faces"
        raise DataError(f"the Olivetti faces could not be fetched ({type(e).__name__}: {str(e)[:80]})") from None
    root = out / "olivetti"
    for i, (img, who) in enumerate(zip(data.images, data.target, strict=True)):
        d = root / f"s{int(who) + 1:02d}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{i % 10 + 1}.png"
        if not p.exists():
            Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)).save(p)
    return root


def split_people(folder: Path, n_enrol: int = 4, n_cal: int = 2, seed: int = 0) -> dict[str, Any]:
    """Members (half the people, at most 20, with enough photos) and two disjoint groups of strangers.

    Returns:
        ``{"members", "enrol": {name: [photo]}, "calibrate": [(photo, name)], "query": [(photo, name)]}``;
        strangers are labelled by their folder name (not enrolled, so they count as strangers).
    """
    import random

    from pictorch.tasks.identify.service import labelled_photos

    by_person: dict[str, list[str]] = {}
    for p, name in labelled_photos(folder):
        by_person.setdefault(name, []).append(p)
    rng = random.Random(seed)
    people = sorted(by_person)
    rng.shuffle(people)
    enough = [n for n in people if len(by_person[n]) >= n_enrol + n_cal + 1]
    if len(people) < 4 or len(enough) < 2:
        raise DataError(f"{folder}: the face demo needs at least 4 people, 2 of them with {n_enrol + n_cal + 1}+ "
                        f"photos (found {len(people)} people)")
    members = sorted(enough[: min(MAX_MEMBERS, len(people) // 2)])
    strangers = [n for n in people if n not in members]
    cal_strangers, query_strangers = strangers[::2], strangers[1::2]
    enrol, cal, query = {}, [], []
    for m in members:
        photos = list(by_person[m])
        rng.shuffle(photos)
        enrol[m] = sorted(photos[:n_enrol])
        cal += [(p, m) for p in photos[n_enrol:n_enrol + n_cal]]
        query += [(p, m) for p in photos[n_enrol + n_cal:]]
    cal += [(p, s) for s in cal_strangers for p in by_person[s]]
    query += [(p, s) for s in query_strangers for p in by_person[s]]
    return {"members": members, "strangers": strangers, "calibration_strangers": cal_strangers,
            "query_strangers": query_strangers, "enrol": enrol, "calibrate": cal, "query": query}


def run_faces_demo(folder: str | Path | None = None, out_dir: str | Path = "runs/demo-faces",
                   n_enrol: int = 4, target_far: float = 0.05, detector: str = "hog", seed: int = 0,
                   quiet: bool = False, model: str = "dlib-face") -> dict[str, Any]:
    """Run the real-face open-set demo and return its report (also ``out_dir/report.json``).

    Args:
        folder: One subfolder of photos per person (None: the Olivetti faces, downloaded).
        out_dir: Gallery, pictures and report; a run never overwrites an earlier one's pictures.
        n_enrol: Photos enrolled per member (3-5 is the lecture's "a few").
        target_far: False-accept rate the threshold is calibrated for.
        detector: Face detector.
        seed: Seed of the member/stranger split.
        quiet: Print nothing.
        model: The embedder (``dlib-face``, or a face model trained on top of it).
    """
    import numpy as np

    from pictorch.metrics.retrieval import dir_at_far
    from pictorch.tasks.identify import service
    from pictorch.tasks.identify.annotate import unique_path

    say = (lambda _m: None) if quiet else _say
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = "folder"
    if folder is None:
        folder = olivetti_folder(out)
        source = "olivetti"
    folder = Path(folder)
    split = split_people(folder, n_enrol=n_enrol, seed=seed)
    members = split["members"]
    say("pictorch demo --faces: recognize the members of a group from a few photos, and say 'not from our "
        f"group' for everyone else (dlib's face descriptor, photos from {folder})")
    say(f"  {len(members)} members, {len(split['strangers'])} strangers "
        f"({len(split['calibration_strangers'])} for calibration, {len(split['query_strangers'])} only in queries)")
    gallery = unique_path(out / "gallery.db")
    timings: dict[str, float] = {}

    say(f"\n[1/4] enrolling {n_enrol} photos of each member into {gallery}")
    t0 = time.perf_counter()
    n_photos = 0
    enrol_notes = []
    for m in members:
        res = service.enroll(gallery, m, split["enrol"][m], model=model, detector=detector)
        n_photos += len(split["enrol"][m])
        enrol_notes += [f"{Path(p).name}: {r}" for p, r in res.skipped]
    timings["enrol_photos_per_s"] = n_photos / (time.perf_counter() - t0)
    if enrol_notes:
        say(f"      skipped {len(enrol_notes)}: " + "; ".join(enrol_notes[:4]))

    with service.GalleryService.open(gallery) as svc:
        say(f"\n[2/4] calibrating the threshold for {target_far:.0%} false accepts on "
            f"{len(split['calibrate'])} photos (members' other photos and {len(split['calibration_strangers'])} "
            "strangers)")
        cal = svc.calibrate(split["calibrate"], target_far=target_far)
        for w in cal.warnings:
            say(f"      warning: {w}")
        what = ("L2 distance", " (dlib's published default 0.6)") if cal.unit == "distance" else ("cosine score", "")
        say(f"      threshold: {what[0]} {cal.threshold:.3f}{what[1]}; TAR {cal.tar:.3f} "
            f"at FAR {cal.far:.3f} (95% interval {cal.far_ci[0]:.3f}-{cal.far_ci[1]:.3f})")

        say(f"\n[3/4] asking who is on {len(split['query'])} new photos (members and unseen strangers)")
        t0 = time.perf_counter()
        qpaths = [p for p, _ in split["query"]]
        who = svc.who(qpaths, top_k=3, largest_face=True)
        timings["who_photos_per_s"] = len(qpaths) / (time.perf_counter() - t0)
        truth = dict(split["query"])
        answered = {pa.photo: pa.faces[0] for pa in who.photos}
        no_face = [p for p, _ in who.errors]
        member_set = set(members)
        rows = []
        for p, name in split["query"]:
            f = answered.get(p)
            rows.append((name in member_set, name, None if f is None else f.name,
                         None if f is None or f.score is None else f.score,
                         None if f is None or not f.topk else f.topk[0][0]))
        is_m = np.array([r[0] for r in rows])
        n_m, n_s = int(is_m.sum()), int((~is_m).sum())
        correct = np.array([r[0] and r[2] == r[1] for r in rows])
        rejected = np.array([r[2] in (None, "unknown") for r in rows])
        report: dict[str, Any] = {
            "source": source, "folder": str(folder), "members": members, "strangers": split["strangers"],
            "model": model, "enrolled_per_member": n_enrol, "threshold": cal.threshold, "unit": cal.unit,
            "calibration": cal.to_dict(),
            "queries": {"members": n_m, "strangers": n_s, "no_face_found": len(no_face)},
            "member_identified": float(correct.sum() / max(n_m, 1)),
            "member_wrong_name": int((is_m & ~rejected & ~correct).sum()),
            "member_rejected": int((is_m & rejected).sum()),
            "stranger_rejected": float((~is_m & rejected).sum() / max(n_s, 1)),
            "stranger_accepted": int((~is_m & ~rejected).sum()),
        }
        # DIR at other FARs: higher = more alike (distance negated; photos without a face: never accepted)
        sign = -1.0 if cal.unit == "distance" else 1.0
        score = np.array([sign * r[3] if r[3] is not None else -np.inf for r in rows])
        top_ok = np.array([r[0] and r[4] == r[1] for r in rows])
        report["dir_at_far"] = {f"{far:g}": dir_at_far(score, top_ok, is_m, far)["dir"] for far in (0.01, 0.05, 0.1)}
        report["timings"] = timings
    say("\n      open-set report (queries)")
    say(f"      members identified correctly (DIR) : {report['member_identified']:6.1%}  ({int(correct.sum())}/{n_m})")
    say(f"      members named wrongly              : {report['member_wrong_name']}")
    say(f"      members rejected as strangers      : {report['member_rejected']}")
    say(f"      strangers rejected ('not ours')    : {report['stranger_rejected']:6.1%}  "
        f"({int((~is_m & rejected).sum())}/{n_s})")
    say(f"      strangers accepted as a member     : {report['stranger_accepted']}")
    say(f"      photos where no face was found     : {len(no_face)}")
    say("      DIR at FAR on these queries        : "
        + ", ".join(f"{v:.1%} at {float(k):.0%}" for k, v in report["dir_at_far"].items()))

    say("\n[4/4] annotated pictures")
    from pictorch.tasks.identify.annotate import annotate_photos

    pick = [pa for pa in who.photos if truth[pa.photo] in member_set][:6] + \
           [pa for pa in who.photos if truth[pa.photo] not in member_set][:6]
    _, sheet = annotate_photos(pick, unique_path(out / "annotated"), who.unit)
    report["pictures"] = {"contact_sheet": sheet}
    report["seconds"] = time.perf_counter() - t_start
    from pictorch.utils import atomic_write

    rpath = unique_path(out / "report.json")
    with atomic_write(rpath, "w") as f:
        json.dump(report, f, indent=2, default=float)
    report["report_path"] = str(rpath)
    say(f"      contact sheet {sheet}\n      report        {rpath}")
    say(f"\ndone in {report['seconds']:.0f}s. Try: pictorch identify who PHOTO --gallery {gallery}")
    return report


__all__ = ["olivetti_folder", "run_faces_demo", "split_people"]
