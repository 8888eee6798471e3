"""Verification use cases: one pair (:func:`verify`) or a whole pairs file in one process
(:func:`verify_pairs`: LFW ``pairs.txt`` or a CSV), with ROC AUC, EER and accuracy."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pictorch.errors import DataError, PictorchError
from pictorch.tasks.identify import scores as S
from pictorch.tasks.identify import service
from pictorch.tasks.identify.results import PairsResult, VerifyResult
from pictorch.tasks.identify.service import GalleryService, Progress, _check_detector, _finite, none_usable


def _model_for(model: str | None, gallery: str | os.PathLike | None) -> tuple[Any, Any]:
    """(embedder, open gallery or None) for verify."""
    if gallery is not None:
        svc = GalleryService.open(gallery, model)
        return svc.embedder, svc
    if model:
        return service._loader()(model), None
    raise PictorchError("verify needs --model (a checkpoint or dlib-face) or --gallery")


def _settings(model: str | None, gallery: str | os.PathLike | None, faces: bool | None,
              threshold: float | None) -> tuple[Any, str, bool, float | None, bool, str | None]:
    """The embedder, its metric, whether to detect faces, the threshold, whether that threshold is the
    gallery's, and the gallery's note on it (not calibrated), from the model or the gallery."""
    from pictorch.tasks.identify.preprocess import faces_default

    embedder, svc = _model_for(model, gallery)
    try:
        metric = svc.metric if svc is not None else S.metric_of(embedder)
        use_faces = svc.faces(faces) if svc is not None else faces_default(embedder, faces)
        from_gallery = svc is not None and svc.gallery.threshold is not None
        note = svc.threshold_note() if svc is not None and threshold is None else None
        return embedder, metric, use_faces, _verify_threshold(embedder, svc, threshold), from_gallery, note
    finally:
        if svc is not None:
            svc.close()


def _verify_threshold(embedder: Any, svc: GalleryService | None, threshold: float | None) -> float | None:
    """The score threshold: typed, else the gallery's, else the model's default."""
    metric = svc.metric if svc is not None else S.metric_of(embedder)
    if threshold is not None:
        return S.from_user(threshold, metric)
    if svc is not None and svc.gallery.threshold is not None:
        return svc.gallery.threshold
    default = getattr(embedder, "default_threshold", None)
    if default is None and metric == "cosine":
        default = _trained_threshold(embedder)
    return default


def _trained_threshold(embedder: Any) -> float | None:
    """The equal-error threshold that ``identify train`` measured on its held-out images (None: none)."""
    import math

    t = ((getattr(embedder, "meta", None) or {}).get("metrics") or {}).get("val_eer_threshold")
    return float(t) if isinstance(t, int | float) and math.isfinite(t) else None


def verify(a: str | os.PathLike, b: str | os.PathLike, model: str | None = None,
           gallery: str | os.PathLike | None = None, threshold: float | None = None, faces: bool | None = None,
           detector: str = "hog") -> VerifyResult:
    """Are two photos of the same person? (the largest face of each, for face models)."""
    from pictorch.tasks.identify.preprocess import prepare

    _check_detector(detector)
    _finite(threshold, "--threshold")
    embedder, metric, use_faces, t, from_gallery, gallery_note = _settings(model, gallery, faces, threshold)
    prep = prepare([str(a), str(b)], embedder.input_size, embedder.mode, faces=use_faces, detector=detector)
    if prep.bad:
        p, r = prep.bad[0]
        raise DataError(f"{p}: {r}")
    e = embedder.embed_images(prep.images)
    score = float(S.pair_scores(e[:1], e[1:2], metric)[0])
    same = None if t is None else score >= t
    notes = list(prep.notes)
    if gallery_note:  # in --json too, as verify --person and who carry it
        notes.append((str(gallery), gallery_note))
    if threshold is None and not from_gallery and t is not None:
        where = ("the model's equal-error point on its training's held-out images"
                 if t == _trained_threshold(embedder) else "the model's default")
        notes.append(("verify", f"threshold {S.to_user(t, metric):.4f} is {where}; calibrate a gallery "
                                   "(identify calibrate) or pass --threshold for a chosen false-accept rate"))
    return VerifyResult(str(a), str(b), S.to_user(score, metric), S.to_user(t, metric), same, S.unit(metric),
                        notes)


def verify_person(photo: str | os.PathLike, person: str, gallery: str | os.PathLike, threshold: float | None = None,
                  faces: bool | None = None, detector: str | None = None) -> VerifyResult:
    """Is this photo (its largest face, for face models) of the enrolled ``person``? Scored as ``who`` scores
    that person (the gallery's scoring); decided at the typed threshold, else the gallery's."""
    _finite(threshold, "--threshold")
    with GalleryService.open(gallery) as svc:
        return verify_person_with(svc, photo, person, threshold, faces, detector)


def verify_person_with(svc: GalleryService, photo: str | os.PathLike, person: str, threshold: float | None = None,
                       faces: bool | None = None, detector: str | None = None) -> VerifyResult:
    """:func:`verify_person` on an open service (the HTTP layer's worker keeps one)."""
    _finite(threshold, "--threshold")
    g = svc.gallery
    if person not in g:
        g.person_vectors(person)  # raises the not-enrolled message
    prep = svc._prepare([str(photo)], faces, detector, "largest")
    if not len(prep):
        p, r = prep.bad[0]
        raise DataError(f"{p}: {r}")
    e = svc.embedder.embed_images(prep.images)
    scores, n = g.person_score(e, person)
    score = float(scores[0])
    t = S.from_user(threshold, svc.metric) if threshold is not None else g.threshold
    notes = list(prep.notes)
    if threshold is None and (note := svc.threshold_note()):
        notes.append((str(g.path), note))
    return VerifyResult(str(photo), person, S.to_user(score, svc.metric), S.to_user(t, svc.metric),
                        None if t is None else score >= t, S.unit(svc.metric), notes, person=person,
                        photos_of_person=n, scoring=g.scoring, calibrated=bool(g.calibration))


def read_pairs(pairs_file: str | os.PathLike, root: str | os.PathLike | None = None
               ) -> list[tuple[str, str, bool | None]]:
    """Pairs from an LFW ``pairs.txt`` (``name n1 n2`` / ``name1 n1 name2 n2``, images under
    ``root/<name>/<name>_<n:04d>.jpg``) or a CSV of ``path_a,path_b[,same]`` (relative paths are under
    ``root``, default: the file's folder; ``same`` is 1/0, true/false, same/different)."""
    import csv

    p = Path(pairs_file)
    if not p.is_file():
        raise DataError(f"pairs file {p} not found")
    base = Path(root) if root is not None else p.parent
    text = p.read_text(errors="replace")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if "," in first or p.suffix.lower() == ".csv":
        out: list[tuple[str, str, bool | None]] = []
        truth = {"1": True, "0": False, "true": True, "false": False, "same": True, "different": False,
                 "yes": True, "no": False}
        for i, row in enumerate(csv.reader(text.splitlines())):
            row = [c.strip() for c in row]
            if not row or not any(row) or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise DataError(f"{p}:{i + 1}: expected path_a,path_b[,same], got {','.join(row)!r}")
            if i == 0 and len(row) >= 2 and not (base / row[0]).exists() and not Path(row[0]).exists() \
                    and row[0].lower() in ("a", "path_a", "photo_a", "image_a", "left", "first"):
                continue  # a header
            same: bool | None = None
            if len(row) >= 3 and row[2]:
                if row[2].lower() not in truth:
                    raise DataError(f"{p}:{i + 1}: the third column must be 1/0 (same person or not), "
                                    f"got {row[2]!r}")
                same = truth[row[2].lower()]
            out.append((str(base / row[0]), str(base / row[1]), same))
        if not out:
            raise DataError(f"{p}: no pairs found")
        return out
    from pictorch.metrics.verification import read_lfw_pairs

    pairs = read_lfw_pairs(p)
    res = []
    for pr in pairs:
        fa, fb = pr.paths(base)
        res.append((str(fa), str(fb), bool(pr.same)))
    return res


def verify_pairs(pairs_file: str | os.PathLike, root: str | os.PathLike | None = None, model: str | None = None,
                 gallery: str | os.PathLike | None = None, threshold: float | None = None,
                 faces: bool | None = None, detector: str = "hog", out_dir: str | os.PathLike | None = None,
                 progress: Progress | None = None) -> PairsResult:
    """Verify every pair of a pairs file in one process: each photo embedded once; ROC AUC, EER, 10-fold
    accuracy and the accuracy at the threshold when the pairs are labelled. ``out_dir`` gets ``scores.csv``,
    ``report.json`` and ``roc.png``."""
    import numpy as np

    from pictorch.tasks.identify.preprocess import prepare

    _check_detector(detector)
    _finite(threshold, "--threshold")
    pairs = read_pairs(pairs_file, root)
    embedder, metric, use_faces, t, _, _ = _settings(model, gallery, faces, threshold)
    uniq = list(dict.fromkeys(f for a, b, _ in pairs for f in (a, b)))
    prep = prepare(uniq, embedder.input_size, embedder.mode, faces=use_faces, detector=detector,
                   progress=progress)
    if not len(prep):
        raise none_usable("in the pairs file", prep.bad)
    row_of = {p: i for i, p in enumerate(prep.paths)}
    why = dict(prep.bad)
    e = embedder.embed_images(prep.images)
    keep = [i for i, (a, b, _) in enumerate(pairs) if a in row_of and b in row_of]
    sc = np.full(len(pairs), np.nan)
    if keep:
        ia = [row_of[pairs[i][0]] for i in keep]
        ib = [row_of[pairs[i][1]] for i in keep]
        sc[keep] = S.pair_scores(e[ia], e[ib], metric)
    rows = []
    for i, (a, b, same) in enumerate(pairs):
        reason = None if i in set(keep) else "; ".join(f"{Path(f).name}: {why.get(f, '?')}" for f in (a, b)
                                                        if f not in row_of)
        rows.append((a, b, same, None if np.isnan(sc[i]) else S.to_user(float(sc[i]), metric), reason))
    labelled = [i for i in keep if pairs[i][2] is not None]
    ver: dict[str, float] = {}
    acc = None
    if labelled:
        y = np.array([int(bool(pairs[i][2])) for i in labelled])
        s = sc[labelled]
        if 0 < y.sum() < len(y):
            from pictorch.metrics.verification import verification_report

            ver = verification_report(s, y)
            for key in list(ver):
                if key.startswith("threshold") or key == "eer_threshold":
                    ver[key] = S.to_user(ver[key], metric)  # type: ignore[assignment]
        if t is not None:
            acc = float(((s >= t) == (y == 1)).mean())
    res = PairsResult(len(pairs), len(pairs) - len(keep), S.unit(metric), S.to_user(t, metric), acc, ver, rows,
                      list(prep.notes))
    if out_dir is not None:
        res.files = _write_pairs(Path(out_dir), res, sc, pairs, labelled)
    return res


def _write_pairs(out: Path, res: PairsResult, sc: Any, pairs: list, labelled: list[int]) -> dict[str, str]:
    import csv
    import io
    import json

    import numpy as np

    from pictorch.utils import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["a", "b", "same", res.unit, "skipped"])
    for a, b, same, score, reason in res.rows:
        w.writerow([a, b, "" if same is None else int(same), "" if score is None else f"{score:.6f}", reason or ""])
    with atomic_write(out / "scores.csv", "w") as f:
        f.write(buf.getvalue())
    files["scores"] = str(out / "scores.csv")
    if res.verification:
        from pictorch.metrics.verification import roc
        from pictorch.viz.plots import plot_xy

        y = np.array([int(bool(pairs[i][2])) for i in labelled])
        fpr, tpr, _ = roc(sc[labelled], y)
        files["roc"] = str(plot_xy({f"AUC {res.verification['auc']:.4f}": (fpr, tpr)}, out / "roc.png",
                                   "false accept rate", "true accept rate", title="Verification ROC",
                                   diagonal=True))
    files["report"] = str(out / "report.json")
    doc = {k: v for k, v in res.to_dict().items() if k != "rows"}
    doc["files"] = files
    with atomic_write(out / "report.json", "w") as f:
        json.dump(doc, f, indent=1, default=float)
    return files


__all__ = ["read_pairs", "verify", "verify_pairs"]
