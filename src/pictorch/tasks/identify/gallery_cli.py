"""Gallery commands of ``pictorch identify``: enroll, who, verify, list, remove, export, calibrate.

``register(app)`` adds them to the identify Typer app. Only typer/stdlib at module level; the gallery,
the embedder and face detection are imported inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}

GALLERY_OPT = typer.Option(..., "--gallery", "-g", help="The gallery file (SQLite; created on first enroll).")


def load_embedder(spec: str) -> Any:
    """The embedder for ``spec``: ``"dlib-face"`` or a trained identify checkpoint (path or run folder)."""
    if spec == "dlib-face":
        from pictorch.tasks.identify.faces import DlibFaceEmbedder

        return DlibFaceEmbedder()
    try:
        from pictorch.tasks.identify import api
    except ModuleNotFoundError as e:  # the trained-embedder API not installed in this build
        if e.name and e.name.startswith("pictorch.tasks.identify"):
            from pictorch.errors import PictorchError

            raise PictorchError(
                f"cannot load model {spec!r}: this build only has the pretrained 'dlib-face' model"
            ) from None
        raise
    return api.load_embedder(spec)


def _model_spec(spec: str) -> str:
    """What the gallery records to load the model again: 'dlib-face' or an absolute checkpoint path."""
    return spec if spec == "dlib-face" else str(Path(spec).expanduser().resolve())


def _expand(photos: list[Path]) -> list[str]:
    """Files as given, folders expanded to the images inside them (sorted)."""
    from pictorch.errors import PictorchError

    out: list[str] = []
    for p in photos:
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise PictorchError(f"folder {p} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            out.extend(found)
        else:
            out.append(str(p))
    return out


def embed_paths(embedder: Any, paths: list[str], faces: bool, detector: str = "hog",
                largest: bool = True) -> tuple[Any, list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Load (and with ``faces``, detect + align) photos at the model's input size and embed them.

    Returns:
        ``(embeddings N×D, ok_paths, bad: [(path, reason)], notes: [(path, note)])``.
    """
    from pictorch.tasks.identify.faces import extract_faces, load_photos

    size = tuple(getattr(embedder, "input_size", (150, 150)))
    mode = getattr(embedder, "mode", "RGB")
    if faces:
        got = extract_faces(paths, size=size, mode=mode, detector=detector, largest=largest)
    else:
        got = load_photos(paths, size, mode)
    crops, ok, bad = got
    emb = embedder.embed_images(crops) if len(ok) else None
    return emb, ok, bad, got.notes


def _warn(msg: str) -> None:
    typer.echo(f"warning: {msg}", err=True)


def _report_files(bad: list[tuple[str, str]], notes: list[tuple[str, str]]) -> None:
    for p, reason in bad:
        _warn(f"{p}: {reason}; skipped")
    for p, note in notes:
        typer.echo(f"note: {p}: {note}", err=True)


def _none_usable(what: str, bad: list[tuple[str, str]]) -> Exception:
    from pictorch.errors import PictorchError

    shown = "; ".join(f"{Path(p).name}: {r}" for p, r in bad[:3])
    more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
    return PictorchError(f"no usable photo {what}: {shown}{more}")


def _open_with_model(gallery: Path, model: str | None) -> tuple[Any, Any]:
    """Open a gallery and the embedder it was built with (or ``model``, which must match it)."""
    from pictorch.errors import PictorchError
    from pictorch.gallery import Gallery

    g = Gallery.open(gallery)
    try:
        spec = model or g.model
        if not spec:
            raise PictorchError(f"gallery {gallery} does not record its model; pass --model")
        embedder = load_embedder(spec)
        g.check_model(embedder.fingerprint, embedder.dim)
    except BaseException:
        g.close()
        raise
    return g, embedder


def _faces_default(g: Any, embedder: Any, faces: bool | None) -> bool:
    if faces is not None:
        return faces
    stored = g.settings.get("faces") if g is not None else None
    if stored is not None:
        return bool(stored)
    return getattr(embedder, "name", None) == "dlib-face"


# ---------------------------------------------------------------------------------------------- commands
def enroll(
    name: str = typer.Argument(..., help="The person's name."),
    photos: list[Path] = typer.Argument(..., help="Photos of that person (files or folders)."),
    gallery: Path = GALLERY_OPT,
    model: str = typer.Option(None, "--model", "-m",
                              help="Identify checkpoint or 'dlib-face' (needed when creating the gallery)."),
    faces: bool = typer.Option(None, "--faces/--no-faces",
                               help="Detect and align faces first (default: on for dlib-face, else as the "
                                    "gallery was built)."),
    detector: str = typer.Option("hog", help="Face detector: hog, cnn or haar."),
    largest_face: bool = typer.Option(True, "--largest-face/--one-face-only",
                                      help="With several faces in a photo use the largest (else skip it)."),
    index: str = typer.Option("flat", help="Index kind for a new gallery: flat (exact), hnsw or ivf."),
    scoring: str = typer.Option("centroid", help="For a new gallery: score a person by the mean of their "
                                                 "embeddings (centroid) or by their nearest one (nearest)."),
) -> None:
    """Enrol a person from several photos (creates the gallery on first use)."""
    from pictorch.errors import PictorchError
    from pictorch.gallery import Gallery
    from pictorch.gallery.store import sha256_file

    paths = _expand(photos)
    created = False
    if gallery.exists():
        g, embedder = _open_with_model(gallery, model)
    else:
        if not model:
            raise PictorchError(f"gallery {gallery} does not exist yet; pass --model (a checkpoint or dlib-face) "
                                "to create it")
        embedder = load_embedder(model)
        g = Gallery.create(gallery, embedder.fingerprint, int(embedder.dim), index=index, scoring=scoring,
                           model=_model_spec(model), threshold=getattr(embedder, "default_threshold", None))
        created = True
    with g:
        use_faces = _faces_default(g if not created else None, embedder, faces)
        if created:
            g.update_settings(faces=use_faces, detector=detector)
        elif g.settings.get("faces") is not None and bool(g.settings["faces"]) != use_faces:
            _warn(f"gallery {gallery} was built with faces={g.settings['faces']}; mixing preprocessing hurts "
                  "accuracy")
        emb, ok, bad, notes = embed_paths(embedder, paths, use_faces, detector, largest_face)
        _report_files(bad, notes)
        if not ok:
            raise _none_usable(f"of {name}", bad)
        hashes = [sha256_file(p) for p in ok]
        n = g.enroll(name, emb, ok, hashes, fingerprint=embedder.fingerprint)
        for src, reason in g.skipped:
            _warn(f"{src}: {reason}; skipped")
        people = g.people()
        if n == 0:
            raise PictorchError(f"nothing enrolled for {name}: every photo is already in gallery {gallery}")
        typer.echo(f"enrolled {n} photo(s) of {name} ({people.get(name, 0)} in all); gallery {gallery} holds "
                   f"{len(people)} people" + (" (new gallery)" if created else ""))


def who(
    photos: list[Path] = typer.Argument(..., help="Photos to identify (files or folders)."),
    gallery: Path = GALLERY_OPT,
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, help="Candidates to list per photo."),
    threshold: float = typer.Option(None, help="Accept threshold (default: the gallery's calibrated one)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    faces: bool = typer.Option(None, "--faces/--no-faces", help="Override the gallery's face detection setting."),
    detector: str = typer.Option(None, help="Face detector (default: the one used at enrolment)."),
) -> None:
    """Who is in these photos? The best match and score, or 'unknown' below the threshold."""
    paths = _expand(photos)
    g, embedder = _open_with_model(gallery, None)
    with g:
        use_faces = _faces_default(g, embedder, faces)
        det = detector or g.settings.get("detector", "hog")
        emb, ok, bad, notes = embed_paths(embedder, paths, use_faces, det, True)
        if not ok:
            raise _none_usable("to identify", bad)
        matches = g.identify(emb, k=top_k, threshold=threshold)
        t = g.threshold if threshold is None else threshold
    if as_json:
        doc = {
            "gallery": str(gallery), "threshold": t,
            "results": [{"photo": p, **m.to_dict()} for p, m in zip(ok, matches, strict=True)],
            "errors": [{"photo": p, "reason": r} for p, r in bad],
        }
        typer.echo(json.dumps(doc, indent=1))
        return
    _report_files(bad, notes)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"who ({gallery.name}, threshold {'none' if t is None else f'{t:.3f}'})")
    for col in ("photo", "name", "score", f"top-{top_k}"):
        table.add_column(col)
    for p, m in zip(ok, matches, strict=True):
        table.add_row(Path(p).name, m.name, f"{m.score:.3f}", ", ".join(f"{n} {s:.3f}" for n, s in m.topk))
    Console(width=max(100, Console().width)).print(table)
    if t is None:
        _warn("the gallery has no threshold, so nobody is called unknown; run pictorch identify calibrate")


def verify(
    photo_a: Path = typer.Argument(..., help="First photo."),
    photo_b: Path = typer.Argument(..., help="Second photo."),
    model: str = typer.Option(None, "--model", "-m", help="Identify checkpoint or 'dlib-face'."),
    gallery: Path = typer.Option(None, "--gallery", "-g", help="Take the model and threshold from a gallery."),
    threshold: float = typer.Option(None, help="Same-person threshold on the cosine score."),
    faces: bool = typer.Option(None, "--faces/--no-faces", help="Detect and align faces first."),
    detector: str = typer.Option("hog", help="Face detector: hog, cnn or haar."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Are these two photos of the same person? Prints same/different and the cosine score."""
    from pictorch.errors import PictorchError

    g = None
    if gallery is not None:
        g, embedder = _open_with_model(gallery, model)
    elif model:
        embedder = load_embedder(model)
    else:
        raise PictorchError("verify needs --model (a checkpoint or dlib-face) or --gallery")
    try:
        use_faces = _faces_default(g, embedder, faces)
        emb, ok, bad, notes = embed_paths(embedder, [str(photo_a), str(photo_b)], use_faces, detector, True)
        if bad:
            p, r = bad[0]
            raise PictorchError(f"{p}: {r}")
        t = threshold
        if t is None and g is not None:
            t = g.threshold
        if t is None:
            t = getattr(embedder, "default_threshold", None)
    finally:
        if g is not None:
            g.close()
    import numpy as np

    e = np.asarray(emb.detach().cpu().numpy() if hasattr(emb, "detach") else emb, np.float32)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    score = float(e[0] @ e[1])
    same = None if t is None else score >= t
    if as_json:
        typer.echo(json.dumps({"a": str(photo_a), "b": str(photo_b), "score": score, "threshold": t, "same": same}))
        return
    _report_files([], notes)
    if same is None:
        typer.echo(f"score {score:.4f} (no threshold: pass --threshold or --gallery to decide)")
    else:
        verdict = "same person" if same else "different people"
        typer.echo(f"{verdict}: score {score:.4f} {'>=' if same else '<'} threshold {t:.4f}")


def list_people(
    gallery: Path = GALLERY_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List enrolled people, photo counts, the model and the threshold."""
    from pictorch.gallery import Gallery

    with Gallery.open(gallery) as g:
        people, model, t, cal, n = g.people(), g.model, g.threshold, g.calibration, len(g)
        fp, kind, scoring = g.fingerprint, g.index_kind, g.scoring
    if as_json:
        typer.echo(json.dumps({"gallery": str(gallery), "model": model, "fingerprint": fp, "index": kind,
                               "scoring": scoring,
                               "threshold": t, "calibration": cal, "people": people, "embeddings": n}, indent=1))
        return
    typer.echo(f"gallery {gallery}: {len(people)} people, {n} embeddings; model {model}; index {kind}; "
               f"{scoring} scoring; "
               f"threshold {'none' if t is None else f'{t:.4f}'}"
               + (f" (calibrated: TAR {cal['tar']:.3f} at FAR {cal['far']:.3f})" if cal else ""))
    for name, count in people.items():
        typer.echo(f"  {name}\t{count}")


def remove(
    name: str = typer.Argument(..., help="The person to remove."),
    gallery: Path = GALLERY_OPT,
) -> None:
    """Remove a person and all their photos from the gallery."""
    from pictorch.gallery import Gallery

    with Gallery.open(gallery) as g:
        n = g.remove(name)
        left = len(g.people())
    typer.echo(f"removed {name} ({n} embeddings); {left} people left")


def export(
    out: Path = typer.Argument(..., help="Output file: .npz, or .json (+ .npy beside it)."),
    gallery: Path = GALLERY_OPT,
) -> None:
    """Export names, sources and embeddings."""
    from pictorch.gallery import Gallery

    with Gallery.open(gallery) as g:
        path = g.export(out)
        n = len(g)
    typer.echo(f"exported {n} embeddings to {path}")


def calibrate(
    folder: Path = typer.Argument(..., help="Labelled photos: one subfolder per person (non-members = strangers)."),
    gallery: Path = GALLERY_OPT,
    target_far: float = typer.Option(0.01, "--target-far", help="Wanted false-accept rate."),
    scoring: str = typer.Option(None, help="Switch the gallery's scoring (centroid or nearest) before "
                                           "calibrating (default: keep it)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Choose the threshold giving the target false-accept rate; report the true-accept rate."""
    from pictorch.errors import PictorchError
    from pictorch.gallery.store import sha256_file

    if not folder.is_dir():
        raise PictorchError(f"{folder} is not a folder (expected one subfolder of photos per person)")
    labelled: list[tuple[str, str]] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(sub.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                labelled.append((str(f), sub.name))
    if not labelled:
        raise PictorchError(f"{folder} has no subfolders with photos (expected FOLDER/<person>/<photo>)")
    g, embedder = _open_with_model(gallery, None)
    with g:
        if scoring is not None:
            g.scoring = scoring
        enrolled = g.enrolled_hashes()
        kept = [(p, n) for p, n in labelled if sha256_file(p) not in enrolled]
        reused = len(labelled) - len(kept)
        if reused:
            _warn(f"{reused} photo(s) are enrolled in the gallery and were left out (they would score 1.0)")
        if not kept:
            raise PictorchError(f"every photo in {folder} is enrolled; calibrate with photos not used to enrol")
        use_faces = _faces_default(g, embedder, None)
        emb, ok, bad, notes = embed_paths(embedder, [p for p, _ in kept], use_faces,
                                          g.settings.get("detector", "hog"), True)
        if not as_json:
            _report_files(bad, notes)
        if not ok:
            raise _none_usable(f"in {folder}", bad)
        label = dict(kept)
        report = g.calibrate(emb, [label[p] for p in ok], target_far=target_far)
    report["skipped_photos"] = len(bad)
    report["enrolled_photos_left_out"] = reused
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    typer.echo(
        f"threshold {report['threshold']:.4f}: TAR {report['tar']:.3f} (members named correctly and accepted) "
        f"at FAR {report['far']:.4f} (target {target_far}); {report['members']} member and "
        f"{report['strangers']} stranger photos, rank-1 accuracy {report['rank1_accuracy']:.3f} "
        f"({report['scoring']} scoring); stored in "
        f"{gallery}"
    )


def register(app: typer.Typer) -> None:
    """Add the gallery commands to the ``identify`` Typer app."""
    app.command("enroll")(enroll)
    app.command("who")(who)
    app.command("verify")(verify)
    app.command("list")(list_people)
    app.command("remove")(remove)
    app.command("export")(export)
    app.command("calibrate")(calibrate)


if __name__ == "__main__":  # pragma: no cover - manual use before the identify app mounts these
    _app = typer.Typer(no_args_is_help=True)
    register(_app)
    sys.exit(_app())
