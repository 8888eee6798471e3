"""Gallery commands of ``pictorch identify``: enroll, who, verify, list, remove, rename, export, calibrate,
check, backup.

``register(app)`` adds them to the identify Typer app. Each command parses options, calls one use case of
:mod:`pictorch.tasks.identify.service` and renders its dataclass (a table or lines, or ``--json``). Only
typer/stdlib at module level.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import typer

from pictorch.utils import plural

JSON_OPT = typer.Option(False, "--json", help="Print JSON.")
GALLERY_OPT = typer.Option(..., "--gallery", "-g", help="The gallery: a SQLite file, or a postgresql://user@host/db (#name) URL for a PostgreSQL + pgvector gallery shared by several machines; created on first enroll.")
FACES_HELP = ("Detect and align faces first (default: on for face models such as dlib-face, else as the "
              "gallery was built); --no-faces for photos that already are aligned face crops.")


def _warn(msg: str) -> None:
    typer.echo(f"warning: {msg}", err=True)


def _note(msg: str) -> None:
    typer.echo(f"note: {msg}", err=True)


def _files(bad: list[tuple[str, str]], notes: list[tuple[str, str]]) -> None:
    for p, reason in bad:
        _warn(f"{p}: {reason}; skipped")
    for p, note in notes:
        _note(f"{p}: {note}")


def _fmt(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def _bar(label: str) -> Any:
    """The shared progress bar (:func:`pictorch.viz.progress.progress_bar`)."""
    from pictorch.viz.progress import progress_bar

    return progress_bar(label)


def _lookup(name: str) -> str:
    """A typed name to look up: bytes that are not UTF-8 (lone surrogates from the shell) crashed the query
    ("surrogates not allowed"); no enrolled name has them, so they are kept visible and are "not enrolled"."""
    from pictorch.gallery.db import storable_text

    return storable_text(name)


def _shown(gallery: str) -> str:
    """The gallery as messages show it (a PostgreSQL URL without its password)."""
    from pictorch.gallery.backends import display_name

    return display_name(gallery)


def _short(gallery: str) -> str:
    from pictorch.gallery.backends import short_name

    return short_name(gallery)


def _echo_json(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=1, default=float))


def _as_json(res: Any, as_json: bool) -> bool:
    """``--json``: print the use case's result as JSON and say so (the command then prints nothing else)."""
    if as_json:
        _echo_json(res.to_dict())
    return as_json


# ---------------------------------------------------------------------------------------------- commands
def enroll(
    name: str = typer.Argument(..., help="The person's name."),
    photos: list[Path] = typer.Argument(..., help="Photos of that person (files or folders)."),
    gallery: str = GALLERY_OPT,
    model: str = typer.Option(None, "--model", "-m",
                              help="Identify checkpoint or 'dlib-face' (needed when creating the gallery)."),
    faces: bool = typer.Option(None, "--faces/--no-faces", help=FACES_HELP),
    detector: str = typer.Option("hog", help="Face detector: hog, cnn or haar."),
    largest_face: bool = typer.Option(True, "--largest-face/--one-face-only",
                                      help="With several faces in a photo use the largest (else skip it)."),
    index: str = typer.Option(None, help="Index kind for a new gallery: flat (exact; default), hnsw or ivf. "
                                         "An existing gallery's: change it with `identify migrate --index`."),
    scoring: str = typer.Option(None, help="For a new gallery: score a person by the mean of their embeddings "
                                           "(centroid; default) or by their nearest one (nearest)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Enrol a person from several photos, one face each (creates the gallery on first use)."""
    from pictorch.tasks.identify import service

    with _bar(f"enrolling {name}") as progress:
        res = service.enroll(gallery, name, [str(p) for p in photos], model=model, faces=faces, detector=detector,
                             largest_face=largest_face, index=index, scoring=scoring, progress=progress)
    if _as_json(res, as_json):
        return
    _files(res.skipped, res.notes)
    typer.echo(f"enrolled {res.enrolled} photo(s) of {name} ({res.photos_of_person} in all); gallery {_shown(gallery)} "
               f"holds {res.people} {'person' if res.people == 1 else 'people'}"
               + (" (new gallery)" if res.created else ""))


def who(
    photos: list[Path] = typer.Argument(..., help="Photos to identify (files or folders)."),
    gallery: str = GALLERY_OPT,
    top_k: int = typer.Option(3, "--top-k", "-k", help="Candidates to list per face."),
    threshold: float = typer.Option(None, help="Accept threshold (cosine score; L2 distance for dlib-face; "
                                               "default: the gallery's)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (boxes, per-face answers, every note)."),
    faces: bool = typer.Option(None, "--faces/--no-faces", help=FACES_HELP),
    detector: str = typer.Option(None, help="Face detector (default: the one used at enrolment)."),
    largest_face: bool = typer.Option(False, "--largest-face", help="Answer for the largest face of each "
                                                                    "photo only (default: every face)."),
    annotate: Path = typer.Option(None, "--annotate", help="Folder for the photos with boxes and names drawn "
                                                           "(and a contact sheet); never overwrites."),
) -> None:
    """Who is on these photos? Every face: its box, the best match and score, or 'unknown'."""
    from pictorch.tasks.identify import service

    with _bar("reading photos") as progress:
        res = service.who(gallery, [str(p) for p in photos], top_k=top_k, threshold=threshold, faces=faces,
                          detector=detector, largest_face=largest_face, annotate=annotate, progress=progress)
    if _as_json(res, as_json):
        return
    for p, r in res.errors:
        _warn(f"{p}: {r}; skipped")
    from rich.console import Console
    from rich.table import Table

    t = res.threshold
    table = Table(title=f"who ({_short(gallery)}, {res.unit} threshold {_fmt(t)}"
                        f"{'' if res.calibrated else ', not calibrated'})")
    for col in ("photo", "face", "name", res.unit, f"top-{top_k}"):
        table.add_column(col)
    for pa in res.photos:
        for i, f in enumerate(pa.faces):
            where = "photo" if f.box is None else f"{i + 1}: {f.box[0]},{f.box[1]} {f.box[2] - f.box[0]}×{f.box[3] - f.box[1]}"
            table.add_row(Path(pa.photo).name, where, f.name, _fmt(f.score),
                          ", ".join(f"{n} {_fmt(s)}" for n, s in f.topk))
    Console(width=max(100, Console().width)).print(table)
    for pa in res.photos:
        for n in pa.notes:
            _note(f"{pa.photo}: {n}")
        if pa.annotated:
            typer.echo(f"annotated: {pa.annotated}")
    if res.contact_sheet:
        typer.echo(f"contact sheet: {res.contact_sheet}")
    for n in res.notes:
        _warn(n)


def verify(
    photo_a: Path = typer.Argument(None, help="First photo."),
    photo_b: Path = typer.Argument(None, help="Second photo."),
    model: str = typer.Option(None, "--model", "-m", help="Identify checkpoint or 'dlib-face'."),
    gallery: str = typer.Option(None, "--gallery", "-g", help="Take the model and threshold from a gallery."),
    person: str = typer.Option(None, "--person", "-p", help="Verify ONE photo against this enrolled person "
                                                            "of --gallery (scored as who scores them)."),
    threshold: float = typer.Option(None, help="Same-person threshold (cosine score; L2 distance for dlib-face)."),
    faces: bool = typer.Option(None, "--faces/--no-faces", help=FACES_HELP),
    detector: str = typer.Option("hog", help="Face detector: hog, cnn or haar."),
    pairs: Path = typer.Option(None, "--pairs", help="Verify every pair of a file in one process: LFW "
                                                     "pairs.txt, or a CSV of path_a,path_b[,same]."),
    pairs_root: Path = typer.Option(None, "--pairs-root", help="Folder the pairs' photos are under "
                                                               "(default: the pairs file's folder)."),
    out: Path = typer.Option(None, "--out", "-o", help="With --pairs: folder for scores.csv, report.json, "
                                                       "roc.png."),
    as_json: bool = JSON_OPT,
) -> None:
    """Are two photos of the same person? (or every pair of --pairs: ROC AUC, EER, accuracy; or one photo
    against an enrolled person: PHOTO --person NAME --gallery G)

    Says same/different when a threshold is known (typed, the gallery's, or the model's default), and the score.
    """
    from pictorch.errors import PictorchError
    from pictorch.tasks.identify import service

    if pairs is not None:
        if photo_a is not None:
            raise PictorchError("give either two photos or --pairs FILE, not both")
        with _bar("verifying pairs") as progress:
            res = service.verify_pairs(pairs, pairs_root, model=model, gallery=gallery, threshold=threshold,
                                       faces=faces, detector=detector, out_dir=out, progress=progress)
        if _as_json(res, as_json):
            return
        _files([], res.notes)
        for a, b, _, _, reason in res.rows:
            if reason:
                _warn(f"pair {Path(a).name} / {Path(b).name} skipped: {reason}")
        v = res.verification
        line = f"{res.pairs - res.skipped} of {res.pairs} pairs verified"
        if v:
            line += (f": ROC AUC {v['auc']:.4f}, EER {v['eer']:.4f}, 10-fold accuracy "
                     f"{v.get('accuracy_10fold', float('nan')):.4f}")
        if res.accuracy is not None:
            line += f"; accuracy {res.accuracy:.4f} at {res.unit} threshold {res.threshold:.4f}"
        typer.echo(line)
        for k, p in res.files.items():
            typer.echo(f"{k}: {p}")
        return
    if person is not None:
        if photo_a is None or photo_b is not None or gallery is None:
            raise PictorchError("verify --person NAME takes one photo and --gallery (the gallery NAME is in)")
        res = service.verify_person(photo_a, _lookup(person), gallery, threshold=threshold, faces=faces,
                                    detector=None if detector == "hog" else detector)
        if _as_json(res, as_json):
            return
        for where, note in res.notes:  # the gallery's own note (threshold not calibrated) as who prints it
            if where == _shown(gallery):
                _warn(note)
            else:
                _note(f"{where}: {note}")
        verdict = "no threshold" if res.same is None else person if res.same else f"not {person}"
        typer.echo(f"{verdict}: {res.unit} {res.score:.4f} against {person}'s {res.photos_of_person} photo(s) "
                   f"({res.scoring} scoring), threshold {_fmt(res.threshold)}")
        return
    if photo_a is None or photo_b is None:
        raise PictorchError("verify needs two photos (or --pairs FILE, or one photo and --person NAME)")
    res = service.verify(photo_a, photo_b, model=model, gallery=gallery, threshold=threshold, faces=faces,
                         detector=detector)
    if _as_json(res, as_json):
        return
    _files([], res.notes)
    if res.same is None:
        typer.echo(f"{res.unit} {res.score:.4f} (no threshold: pass --threshold or --gallery to decide)")
    else:
        verdict = "same person" if res.same else "different people"
        cmp = ("<=" if res.same else ">") if res.unit == "distance" else (">=" if res.same else "<")
        typer.echo(f"{verdict}: {res.unit} {res.score:.4f} {cmp} threshold {res.threshold:.4f}")


def list_people(
    gallery: str = GALLERY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """List enrolled people, photo counts, the model and the threshold."""
    from pictorch.tasks.identify import service

    res = service.info(gallery)
    if _as_json(res, as_json):
        return
    cal = res.calibration
    n = len(res.people)
    typer.echo(f"gallery {_shown(gallery)}: {n} {'person' if n == 1 else 'people'}, {res.embeddings} embeddings; model "
               f"{res.model}; index {res.index}; {res.scoring} scoring; {res.unit} threshold {_fmt(res.threshold)}"
               + (f" (calibrated: TAR {cal['tar']:.3f} at FAR {cal['far']:.3f})" if cal else " (not calibrated)"))
    for name, count in res.people.items():
        typer.echo(f"  {name}\t{count}")


def remove(
    name: str = typer.Argument(..., help="The person to remove."),
    gallery: str = GALLERY_OPT,
) -> None:
    """Remove a person and all their photos from the gallery."""
    from pictorch.tasks.identify import service

    name = _lookup(name)
    res = service.remove(gallery, name)
    typer.echo(f"removed {name} ({res.removed} embeddings); {res.people_left} "
               f"{'person' if res.people_left == 1 else 'people'} left")


def rename(
    old: str = typer.Argument(..., help="The enrolled name."),
    new: str = typer.Argument(..., help="The new name."),
    gallery: str = GALLERY_OPT,
    merge: bool = typer.Option(False, "--merge", help="If NEW is enrolled too, join OLD's photos to NEW."),
) -> None:
    """Rename a person (or merge two entries of one person)."""
    from pictorch.tasks.identify import service

    old = _lookup(old)
    res = service.rename(gallery, old, new, merge=merge)
    typer.echo(f"{'merged' if res.merged else 'renamed'} {old} into {new} ({res.embeddings} embeddings)")


def merge(
    source: str = typer.Argument(..., help="The entry to fold in (it disappears)."),
    into: str = typer.Argument(..., help="The entry that keeps every photo."),
    gallery: str = GALLERY_OPT,  # a str: a Path turned postgresql://host/db into postgresql:/host/db
) -> None:
    """Merge two entries of one person: SOURCE's photos join INTO (one transaction), SOURCE is gone."""
    from pictorch.errors import PictorchError
    from pictorch.gallery.db import check_person_name
    from pictorch.tasks.identify import service

    into = check_person_name(into)  # a name that cannot be one is said so, not "not enrolled"
    source = _lookup(source)
    if source == into:
        raise PictorchError(f"merge needs two different names, got {source!r} twice")
    if into not in service.info(gallery).people:
        raise PictorchError(f"{into!r} is not enrolled in {_shown(gallery)}; to give {source!r} a new name use "
                            f"`pictorch identify rename {source} {into}`")
    res = service.rename(gallery, source, into, merge=True)
    typer.echo(f"merged {source} into {into} ({res.embeddings} embeddings)")


def export(
    out: Path = typer.Argument(..., help="Output file: .npz, or .json (+ .npy beside it)."),
    gallery: str = GALLERY_OPT,
) -> None:
    """Export names, sources and embeddings."""
    from pictorch.gallery.backends import open_gallery

    with open_gallery(gallery) as g:
        path = g.export(out)
        n = len(g)
    typer.echo(f"exported {n} embeddings to {path}")


def calibrate(
    folder: Path = typer.Argument(..., help="Labelled photos: one subfolder per person (non-members = strangers)."),
    gallery: str = GALLERY_OPT,
    target_far: float = typer.Option(0.01, "--target-far", help="Wanted false-accept rate."),
    scoring: str = typer.Option(None, help="Switch the gallery's scoring (centroid or nearest) before "
                                           "calibrating (default: keep it)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Choose the threshold giving the target false-accept rate; report TAR and the FAR's interval.

    Warns when there are too few stranger trials for the target FAR (fewer than ~10/FAR).
    """
    from pictorch.tasks.identify import service

    with _bar("calibrating") as progress:
        res = service.calibrate(gallery, folder, target_far=target_far, scoring=scoring, progress=progress)
    if _as_json(res, as_json):
        return
    _files(res.skipped, [])
    for w in res.warnings:
        _warn(w)
    lo, hi = res.far_ci
    typer.echo(
        f"{res.unit} threshold {res.threshold:.4f}: TAR {res.tar:.3f} (members named correctly and accepted) "
        f"at FAR {res.far:.4f} (95% interval {lo:.4f}-{hi:.4f}; target {target_far:g}) over "
        f"{res.impostor_trials} impostor trials; {res.members} member and {res.strangers} stranger photos, "
        f"rank-1 accuracy {res.rank1_accuracy:.3f} ({res.scoring} scoring); stored in {_shown(gallery)}"
    )


def check(
    gallery: str = GALLERY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Check a gallery file thoroughly (SQLite integrity, every embedding, the index); exit 2 if damaged."""
    from pictorch.errors import PictorchError
    from pictorch.tasks.identify import service

    res = service.check(gallery)
    _as_json(res, as_json)
    if not res.ok:
        raise PictorchError(f"gallery {_shown(gallery)} is damaged: {'; '.join(res.problems)}; restore a backup "
                            "(pictorch identify backup makes one) or enrol the photos again into a new gallery")
    if not as_json:
        typer.echo(f"gallery {_shown(gallery)} is fine: {plural(res.people, 'person', 'people')}, {plural(res.embeddings, 'embedding')}; index {res.index}")


def backup(
    dest: Path = typer.Argument(..., help="The backup file to write (must not exist)."),
    gallery: str = GALLERY_OPT,
) -> None:
    """Copy the gallery with SQLite's online backup API (consistent even while others enrol)."""
    from pictorch.tasks.identify import service

    typer.echo(f"backed up {_shown(gallery)} to {service.backup(gallery, dest)}")


def migrate(
    src: str = typer.Argument(..., help="The gallery to copy: a SQLite file or a postgresql://... URL."),
    dst: str = typer.Argument(..., help="Where the copy goes (the other backend, or another place)."),
    force: bool = typer.Option(False, "--force", help="Replace a destination that already holds people."),
    index: str = typer.Option(None, "--index", help="The copy's index: flat, hnsw or ivf (default: the source's); "
                                                    "how a gallery's index is changed."),
    as_json: bool = JSON_OPT,
) -> None:
    """Copy a gallery between SQLite and PostgreSQL (either way) or to another place with another --index:
    resumable, verified by row counts and SHA-256 checksums, put in place in one step; never over a gallery
    with people unless --force."""
    from pictorch.tasks.identify import service

    with _bar("migrating") as bar:
        res = service.migrate(src, dst, force=force, index=index,
                              progress=None if bar is None else (lambda _t, done, total: bar(done, total)))
    if _as_json(res, as_json):
        return
    for n in res.notes:
        _note(n)
    typer.echo(f"{'resumed and ' if res.resumed else ''}copied {res.people} people, {res.embeddings} embeddings "
               f"({res.sources} photos) from {res.src} to {res.dst} ({res.backend}, index {res.index}); counts and "
               f"checksums verified (embeddings sha256 {res.sha256['embeddings'][:16]})")


# the gallery verbs in the order `pictorch identify --help` lists them
COMMANDS = {"enroll": enroll, "who": who, "verify": verify, "list": list_people, "remove": remove, "rename": rename,
            "merge": merge, "export": export, "calibrate": calibrate, "check": check, "backup": backup,
            "migrate": migrate}


def register(app: typer.Typer) -> None:
    """Add the gallery commands to the ``identify`` Typer app."""
    for name, command in COMMANDS.items():
        app.command(name)(command)


if __name__ == "__main__":  # pragma: no cover - manual use before the identify app mounts these
    _app = typer.Typer(no_args_is_help=True)
    register(_app)
    sys.exit(_app())
