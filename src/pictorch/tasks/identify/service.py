"""Gallery use cases: open/create, enroll, who, verify (one pair or a pairs file), calibrate, list, remove,
rename, check, backup.

Each returns a dataclass (``to_dict()`` for JSON) and never prints: the CLI (``gallery_cli.py``) renders
them, and an HTTP layer can call the same functions. Models are loaded once per process
(:func:`load_embedder` caches them), so a long-lived server pays the start-up once.

Units: inside pictorch a *score* is higher for more similar faces; results carry user units
(:mod:`pictorch.tasks.identify.scores`): cosine similarity, or L2 distance for dlib-face.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pictorch.errors import ConfigError, PictorchError
from pictorch.tasks.identify import scores as S
from pictorch.tasks.identify.inputs import (  # noqa: F401 - re-exported: part of this API
    _check_detector,
    _finite,
    clopper_pearson,
    expand_photos,
    labelled_photos,
    none_usable,
)
from pictorch.tasks.identify.preprocess import embed_prepared

Progress = Callable[[int, int], None]
_EMBEDDERS: dict[str, Any] = {}
_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------- models
def load_embedder(spec: str) -> Any:
    """The embedder for ``spec`` (``"dlib-face"`` or an identify checkpoint), loaded once per process."""
    key = spec if spec == "dlib-face" else str(Path(spec).expanduser().resolve())
    with _LOCK:
        if key not in _EMBEDDERS:
            if spec == "dlib-face":
                from pictorch.tasks.identify.descriptor import DlibFaceEmbedder

                _EMBEDDERS[key] = DlibFaceEmbedder()
            else:
                from pictorch.tasks.identify.api import load_embedder as load_checkpoint_embedder

                _EMBEDDERS[key] = load_checkpoint_embedder(spec)
        return _EMBEDDERS[key]


def model_spec(spec: str) -> str:
    """What a gallery records to load the model again: ``dlib-face`` or an absolute checkpoint path."""
    return spec if spec == "dlib-face" else str(Path(spec).expanduser().resolve())


def _loader() -> Any:
    """The loader in use (the CLI module's, so tests can swap in a fake model there)."""
    return load_embedder


from pictorch.tasks.identify.results import (  # noqa: E402  (re-exported: results are part of this API)
    CalibrationResult,
    CheckResult,
    EnrollResult,
    FaceAnswer,
    GalleryInfo,
    MigrateResult,
    PairsResult,
    PhotoAnswer,
    RemoveResult,
    RenameResult,
    VerifyResult,
    WhoResult,
)


# ---------------------------------------------------------------------------------------------- the service
class GalleryService:
    """An open gallery and its model: the use cases that need both. Use as a context manager.

    Args:
        gallery: An open :class:`pictorch.gallery.Gallery`.
        embedder: The model it was built with.
    """

    def __init__(self, gallery: Any, embedder: Any):
        self.gallery = gallery
        self.embedder = embedder

    # -- opening
    @classmethod
    def open(cls, path: str | os.PathLike, model: str | None = None) -> GalleryService:
        """Open a gallery and load the model it records (or ``model``, which must be the same one)."""
        from pictorch.gallery.backends import open_gallery

        g = open_gallery(path)
        try:
            spec = model or g.model
            if not spec:
                raise PictorchError(f"gallery {g.path} does not record its model; pass --model")
            embedder = _loader()(spec)
            g.check_model(embedder.fingerprint, embedder.dim)
        except BaseException:
            g.close()
            raise
        return cls(g, embedder)

    def close(self) -> None:
        """Close the gallery."""
        self.gallery.close()

    def __enter__(self) -> GalleryService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def metric(self) -> str:
        """The gallery's metric (``cosine`` or ``l2``)."""
        return self.gallery.metric

    def faces(self, faces: bool | None) -> bool:
        """Detect faces? Explicit choice, else as the gallery was built, else the model's kind."""
        from pictorch.tasks.identify.preprocess import faces_default

        stored = self.gallery.settings.get("faces")
        return faces_default(self.embedder, faces, None if stored is None else bool(stored))

    def _prepare(self, paths: list[str], faces: bool | None, detector: str | None, which: str,
                 progress: Progress | None = None) -> Any:
        from pictorch.tasks.identify.preprocess import prepare

        _check_detector(detector)
        det = detector or self.gallery.settings.get("detector") or "hog"
        return prepare(paths, self.embedder.input_size, self.embedder.mode, faces=self.faces(faces),
                       detector=det, which=which, progress=progress)

    def threshold_note(self) -> str | None:
        """``"threshold not calibrated for this gallery"`` (with what to do) until ``calibrate`` ran."""
        if self.gallery.calibration:
            return None
        t = S.to_user(self.gallery.threshold, self.metric)
        if t is None:
            return ("the gallery has no threshold, so nobody is called unknown; run pictorch identify "
                    "calibrate")
        what = ("dlib's published L2 distance" if self.metric == "l2" else "the model's default")
        return (f"threshold not calibrated for this gallery (using {what} {t:.4f}); run pictorch identify "
                "calibrate with photos of members and strangers")

    # -- use cases
    def info(self) -> GalleryInfo:
        """Who is enrolled, the model, the threshold."""
        g = self.gallery
        return _info(g)

    def enroll(self, name: str, photos: Sequence[str | os.PathLike], faces: bool | None = None,
               detector: str | None = None, largest_face: bool = True, created: bool = False,
               progress: Progress | None = None) -> EnrollResult:
        """Enrol ``name`` from photos (one face per photo: the largest, noted when there are several)."""
        from pictorch.gallery.db import check_person_name

        name = check_person_name(name)  # before the photos are read and embedded
        paths = expand_photos(photos)
        prep = self._prepare(paths, faces, detector, "largest" if largest_face else "one", progress)
        if not len(prep):
            raise none_usable(f"of {name}", prep.bad)
        return self._store(name, prep, created)

    def _store(self, name: str, prep: Any, created: bool) -> EnrollResult:
        from pictorch.gallery.store import sha256_file

        emb = embed_prepared(self.embedder, prep)
        hashes = [sha256_file(p) for p in prep.paths]
        n = self.gallery.enroll(name, emb, prep.paths, hashes, fingerprint=self.embedder.fingerprint)
        skipped = list(prep.bad) + list(self.gallery.skipped)
        people = self.gallery.people()
        if n == 0:
            first = f" ({Path(skipped[0][0]).name}: {skipped[0][1]})" if skipped else ""
            raise PictorchError(f"nothing enrolled for {name}: every photo is already in gallery "
                                f"{self.gallery.path}{first}")
        return EnrollResult(str(self.gallery.path), name, n, people.get(name, 0), len(people), created,
                            skipped, list(prep.notes))

    def who(self, photos: Sequence[str | os.PathLike], top_k: int = 3, threshold: float | None = None,
            faces: bool | None = None, detector: str | None = None, largest_face: bool = False,
            annotate: str | os.PathLike | None = None, progress: Progress | None = None) -> WhoResult:
        """Who is on these photos: every face (or the largest), its best match and the top-k.

        Args:
            photos: Files or folders.
            top_k: Candidates per face.
            threshold: In user units (default: the gallery's).
            faces: Detect faces (default: as the gallery was built).
            detector: Face detector (default: the gallery's).
            largest_face: Only the largest face of each photo.
            annotate: A folder to write each photo with boxes and names (and a contact sheet).
            progress: Called as ``progress(done, total)`` while photos are read.
        """
        if int(top_k) < 1:
            raise ConfigError(f"--top-k must be at least 1, got {top_k}")
        _finite(threshold, "--threshold")
        paths = expand_photos(photos)
        use_faces = self.faces(faces)
        prep = self._prepare(paths, faces, detector, "largest" if largest_face else "all", progress)
        if not len(prep):
            raise none_usable("to identify", prep.bad)
        emb = embed_prepared(self.embedder, prep)
        t_score = S.from_user(threshold, self.metric)
        matches = self.gallery.identify(emb, k=top_k, threshold=t_score)
        notes: list[str] = []
        if threshold is None and (n := self.threshold_note()):
            notes.append(n)
        if self.gallery.index_note:
            notes.append(f"index rebuilt from the store: {self.gallery.index_note}")
        by_photo: dict[str, PhotoAnswer] = {}
        for item, m in zip(prep.items, matches, strict=True):
            pa = by_photo.setdefault(item.path, PhotoAnswer(item.path, []))
            pa.faces.append(FaceAnswer(item.box, m.name, S.to_user(m.score, self.metric),
                                       [(n_, S.to_user(s, self.metric)) for n_, s in m.topk]))
        for p, note in prep.notes:
            by_photo[p].notes.append(note)
        for pa in by_photo.values():
            if use_faces and len(pa.faces) > 1:
                pa.notes.append(f"{len(pa.faces)} faces")
        answers = [by_photo[p] for p in dict.fromkeys(prep.paths)]
        t_user = S.to_user(self.gallery.threshold if threshold is None else t_score, self.metric)
        result = WhoResult(str(self.gallery.path), t_user, bool(self.gallery.calibration), S.unit(self.metric),
                           answers, list(prep.bad), notes)
        if annotate is not None:
            from pictorch.tasks.identify.annotate import annotate_photos

            written, sheet = annotate_photos(answers, annotate, S.unit(self.metric))
            for pa, w in zip(answers, written, strict=True):
                pa.annotated = w
            result.contact_sheet = sheet
        return result

    def calibrate(self, labelled: Sequence[tuple[str, str]] | str | os.PathLike, target_far: float = 0.01,
                  scoring: str | None = None, progress: Progress | None = None) -> CalibrationResult:
        """Choose the threshold giving ``target_far`` false accepts on labelled photos (``(photo, person)``
        pairs or a folder of one subfolder per person; people not enrolled are strangers), and store it."""
        from pictorch.gallery.store import sha256_file

        _finite(target_far, "--target-far")
        if not 0.0 <= float(target_far) < 1.0:
            raise ConfigError(f"--target-far must be in [0, 1) (e.g. 0.01), got {target_far}")
        pairs = labelled_photos(labelled) if isinstance(labelled, (str, os.PathLike)) else list(labelled)
        g = self.gallery
        if scoring is not None:
            g.scoring = scoring
        enrolled = g.enrolled_hashes()
        kept = [(p, n) for p, n in pairs if sha256_file(p) not in enrolled]
        reused = len(pairs) - len(kept)
        if not kept:
            raise PictorchError("every calibration photo is enrolled; calibrate with photos not used to enrol")
        prep = self._prepare([p for p, _ in kept], None, None, "largest", progress)
        if not len(prep):
            raise none_usable("to calibrate with", prep.bad)
        label = dict(kept)
        emb = embed_prepared(self.embedder, prep)
        rep = g.calibrate(emb, [label[p] for p in prep.paths], target_far=float(target_far))
        n_imp = int(rep["impostor_trials"])
        k = int(round(rep["far"] * n_imp))
        ci = clopper_pearson(k, n_imp)
        warnings: list[str] = []
        need = int(math.ceil(10.0 / float(target_far))) if target_far > 0 else 0
        if n_imp < need:
            warnings.append(f"only {n_imp} impostor trials (strangers' and wrongly named members' best scores) "
                            f"for a target FAR of {target_far:g}: at least ~{need} are needed for it to mean "
                            f"much; the achieved FAR {rep['far']:.4f} could be anywhere in "
                            f"[{ci[0]:.4f}, {ci[1]:.4f}] (95%); add photos of more strangers")
        if reused:
            warnings.append(f"{reused} photo(s) are enrolled in the gallery and were left out (they would "
                            "score as a perfect match)")
        return CalibrationResult(str(g.path), float(S.to_user(rep["threshold"], self.metric)),
                                 S.unit(self.metric), rep["tar"], rep["far"], ci, rep["target_far"], rep["members"],
                                 rep["strangers"], n_imp, rep["rank1_accuracy"], rep["scoring"], warnings,
                                 list(prep.bad), reused)

    def remove(self, name: str) -> RemoveResult:
        """Remove a person and all their photos."""
        n = self.gallery.remove(name)
        return RemoveResult(name, n, len(self.gallery.people()))

    def rename(self, old: str, new: str, merge: bool = False) -> RenameResult:
        """Rename a person; with ``merge``, into someone already enrolled (their photos join)."""
        n, merged = self.gallery.rename(old, new, merge=merge)
        return RenameResult(old, new, n, merged)

    def photos(self, name: str) -> list[dict[str, Any]]:
        """A person's enrolled photos: ``id``, ``sha256`` and ``added_at`` (for the HTTP photo list).

        Raises:
            PictorchError: ``name`` is not enrolled.
        """
        return self.gallery.photos(name)

    def remove_photo(self, name: str, photo_id: int) -> RemoveResult:
        """Remove one enrolled photo of ``name`` (its embedding and its hash); the last one removes the person."""
        n = self.gallery.remove_photo(name, int(photo_id))
        return RemoveResult(name, n, len(self.gallery.people()))


def _info(g: Any) -> GalleryInfo:
    return GalleryInfo(str(g.path), g.model, g.fingerprint, g.index_kind, g.scoring, g.metric, S.unit(g.metric),
                       S.to_user(g.threshold, g.metric), bool(g.calibration), g.calibration, g.people(), len(g),
                       g.settings)


# ---------------------------------------------------------------------------------------------- one-shot use cases
def enroll(gallery: str | os.PathLike, name: str, photos: Sequence[str | os.PathLike], model: str | None = None,
           faces: bool | None = None, detector: str = "hog", largest_face: bool = True, index: str | None = None,
           scoring: str | None = None, progress: Progress | None = None) -> EnrollResult:
    """Enrol a person; creates the gallery (with ``model``) on first use.

    A new gallery is written only after the photos gave embeddings (a failed first enrolment leaves no
    file), and two first enrolments racing to create it both land (the loser opens the winner's file).

    ``index`` (default flat) and ``scoring`` (default centroid) are a new gallery's. Given for an existing
    gallery with other values they are refused with one line saying how to change them (``identify migrate
    --index`` builds a copy with the new index, as a FAISS user rebuilds an index; ``identify calibrate
    --scoring`` switches scoring) rather than silently ignored; the same values are no-ops.
    """
    from pictorch.gallery.backends import create_gallery, gallery_exists, open_gallery
    from pictorch.gallery.db import check_person_name
    from pictorch.gallery.store import GalleryExistsError
    from pictorch.tasks.identify.preprocess import faces_default, prepare

    _check_detector(detector)
    name = check_person_name(name)  # before any work: a bad name must not leave a new, empty gallery
    path = gallery  # a SQLite file or a postgresql:// URL (pictorch.gallery.backends)
    if gallery_exists(path):
        with GalleryService.open(path, model) as svc:
            _refuse_new_gallery_options(svc.gallery, index, scoring)
            res = svc.enroll(name, photos, faces, None if detector == "hog" else detector, largest_face,
                             progress=progress)
            built = svc.gallery.settings.get("faces")
            if faces is not None and built is not None and bool(built) != bool(faces):
                res.notes.append((str(svc.gallery.path), f"the gallery was built with faces={built}; mixing preprocessing "
                                             "hurts accuracy"))
            return res
    if not model:
        from pictorch.gallery.backends import display_name

        raise PictorchError(f"gallery {display_name(path)} does not exist yet; pass --model (a checkpoint or dlib-face) "
                            "to create it")
    embedder = _loader()(model)
    use_faces = faces_default(embedder, faces)
    paths = expand_photos(photos)
    prep = prepare(paths, embedder.input_size, embedder.mode, faces=use_faces, detector=detector,
                   which="largest" if largest_face else "one", progress=progress)
    if not len(prep):
        raise none_usable(f"of {name}", prep.bad)
    created = True
    try:
        g = create_gallery(path, embedder.fingerprint, int(embedder.dim), index=index or "flat",
                           scoring=scoring or "centroid",
                           metric=S.metric_of(embedder), model=model_spec(model),
                           threshold=getattr(embedder, "default_threshold", None),
                           settings={"faces": use_faces, "detector": detector})
    except GalleryExistsError:  # another process created it meanwhile: join it
        g = open_gallery(path)
        created = False
        try:
            g.check_model(embedder.fingerprint, embedder.dim)
        except BaseException:
            g.close()
            raise
    with GalleryService(g, embedder) as svc:
        return svc._store(name, prep, created)


def _refuse_new_gallery_options(g: Any, index: str | None, scoring: str | None) -> None:
    """One line when ``enroll --index/--scoring`` ask for something else than an existing gallery has."""
    from pictorch.gallery.backends import display_name
    from pictorch.gallery.db import _check_scoring
    from pictorch.gallery.index import KINDS

    if index is not None and index not in KINDS:
        raise PictorchError(f"unknown --index {index!r}; known: {', '.join(KINDS)}")
    if scoring is not None:
        _check_scoring(scoring)
    shown = display_name(g.path)
    if index is not None and index != g.index_kind:
        raise PictorchError(f"gallery {shown} already has a {g.index_kind} index; --index sets a new gallery's. To "
                            f"change it, copy the gallery with the new index (the vectors are reindexed, as with "
                            f"a new FAISS index): pictorch identify migrate {shown} NEW --index {index}")
    if scoring is not None and scoring != g.scoring:
        raise PictorchError(f"gallery {shown} scores by {g.scoring}; --scoring sets a new gallery's. To switch, "
                            f"recalibrate with it: pictorch identify calibrate -g {shown} LABELLED_FOLDER "
                            f"--scoring {scoring}")


def who(gallery: str | os.PathLike, photos: Sequence[str | os.PathLike], **kw: Any) -> WhoResult:
    """Open the gallery and answer :meth:`GalleryService.who`."""
    with GalleryService.open(gallery) as svc:
        return svc.who(photos, **kw)


def calibrate(gallery: str | os.PathLike, labelled: Any, target_far: float = 0.01,
              scoring: str | None = None, progress: Progress | None = None) -> CalibrationResult:
    """Open the gallery and run :meth:`GalleryService.calibrate`."""
    with GalleryService.open(gallery) as svc:
        return svc.calibrate(labelled, target_far, scoring, progress)


def info(gallery: str | os.PathLike) -> GalleryInfo:
    """What is in a gallery (does not load the model)."""
    from pictorch.gallery.backends import open_gallery

    with open_gallery(gallery) as g:
        return _info(g)


def remove(gallery: str | os.PathLike, name: str) -> RemoveResult:
    """Remove a person (does not load the model)."""
    from pictorch.gallery.backends import open_gallery

    with open_gallery(gallery) as g:
        n = g.remove(name)
        return RemoveResult(name, n, len(g.people()))


def rename(gallery: str | os.PathLike, old: str, new: str, merge: bool = False) -> RenameResult:
    """Rename (or with ``merge``, merge) a person (does not load the model)."""
    from pictorch.gallery.backends import open_gallery

    with open_gallery(gallery) as g:
        n, merged = g.rename(old, new, merge=merge)
        return RenameResult(old, new, n, merged)


def check(gallery: str | os.PathLike) -> CheckResult:
    """A full integrity check of a gallery (see :meth:`pictorch.gallery.Gallery.check`)."""
    from pictorch.gallery.backends import open_gallery

    with open_gallery(gallery) as g:
        r = g.check()
    return CheckResult(str(g.path), r["ok"], r["problems"], r["people"], r["embeddings"], r["index"])


def backup(gallery: str | os.PathLike, dest: str | os.PathLike) -> str:
    """Copy a gallery with SQLite's online backup API (safe while others enrol); returns the new file."""
    from pictorch.gallery.backends import open_gallery

    with open_gallery(gallery) as g:
        return str(g.backup(dest))


def migrate(src: str | os.PathLike, dst: str | os.PathLike, force: bool = False,
            progress: Callable[[str, int, int], None] | None = None, index: str | None = None) -> MigrateResult:
    """Copy a gallery between backends (SQLite file <-> postgresql:// URL), or to another place with another
    ``index`` kind, verified by counts and checksums; see :func:`pictorch.gallery.migrate.migrate`."""
    from pictorch.gallery.migrate import migrate as copy_gallery

    r = copy_gallery(src, dst, force=force, progress=progress, index=index)
    return MigrateResult(r["src"], r["dst"], r["backend"], r["people"], r["sources"], r["embeddings"], r["sha256"],
                         r["resumed"], r["index"], r["notes"])


# verification lives beside (it needs GalleryService); re-exported so callers use one module
from pictorch.tasks.identify.verification import (  # noqa: E402
    read_pairs,
    verify,
    verify_pairs,
    verify_person,
    verify_person_with,
)

__all__ = [
    "CalibrationResult", "CheckResult", "EnrollResult", "FaceAnswer", "GalleryInfo", "GalleryService", "MigrateResult",
    "PairsResult",
    "PhotoAnswer", "RemoveResult", "RenameResult", "VerifyResult", "WhoResult", "backup", "calibrate", "check",
    "clopper_pearson", "enroll", "expand_photos", "info", "labelled_photos", "load_embedder", "migrate", "model_spec",
    "read_pairs", "remove", "rename", "verify", "verify_pairs", "verify_person", "verify_person_with", "who",
]
