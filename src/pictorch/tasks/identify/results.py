"""What the identify use cases (:mod:`pictorch.tasks.identify.service`) return: plain dataclasses with
``to_dict()`` for JSON, scores in user units (cosine similarity, or L2 distance for dlib-face)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FaceAnswer:
    """One face (or one whole photo) and who it is.

    Attributes:
        box: ``(left, top, right, bottom)`` in the photo, or ``None`` for a whole photo.
        name: The best match, or ``"unknown"`` when it does not pass the threshold.
        score: The best match's score in user units (cosine similarity, or L2 distance).
        topk: Candidates, best first, as ``(name, score)`` in user units.
    """

    box: tuple[int, int, int, int] | None
    name: str
    score: float | None
    topk: list[tuple[str, float | None]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"box": list(self.box) if self.box else None, "name": self.name, "score": self.score,
                "topk": [[n, s] for n, s in self.topk]}


@dataclass
class PhotoAnswer:
    """Every face of one photo. ``notes`` holds remarks (several faces, the largest used, ...)."""

    photo: str
    faces: list[FaceAnswer]
    notes: list[str] = field(default_factory=list)
    annotated: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"photo": self.photo, "faces": [f.to_dict() for f in self.faces], "notes": self.notes,
                "annotated": self.annotated}


@dataclass
class WhoResult:
    """The answer to ``who``.

    Attributes:
        threshold: In user units (``None``: no threshold, the best match is always named).
        calibrated: Whether ``calibrate`` ran for this gallery (else the threshold is a default).
        unit: ``score`` (cosine, higher = same) or ``distance`` (L2, lower = same).
        errors: ``(photo, reason)`` for photos that gave no answer (unreadable, no face found).
        notes: Remarks for the whole call (threshold not calibrated, index rebuilt, ...).
        contact_sheet: The contact sheet written with ``annotate`` (several photos).
    """

    gallery: str
    threshold: float | None
    calibrated: bool
    unit: str
    photos: list[PhotoAnswer]
    errors: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    contact_sheet: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"gallery": self.gallery, "threshold": self.threshold, "calibrated": self.calibrated,
                "unit": self.unit, "photos": [p.to_dict() for p in self.photos],
                "errors": [{"photo": p, "reason": r} for p, r in self.errors], "notes": self.notes,
                "contact_sheet": self.contact_sheet}


@dataclass
class EnrollResult:
    """The answer to ``enroll``; ``skipped``: ``(photo, reason)`` not stored; ``notes``: remarks on kept ones."""

    gallery: str
    name: str
    enrolled: int
    photos_of_person: int
    people: int
    created: bool
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass
class VerifyResult:
    """Same person or not (``same`` is ``None`` without a threshold); scores in user units.

    Against an enrolled person (``verify PHOTO --person NAME``): ``b`` and ``person`` are the name,
    ``photos_of_person`` how many photos they have, ``scoring`` how they were scored (as ``who`` scores them)
    and ``calibrated`` whether the gallery's threshold was calibrated (``notes`` says so when not).
    """

    a: str
    b: str
    score: float | None
    threshold: float | None
    same: bool | None
    unit: str
    notes: list[tuple[str, str]] = field(default_factory=list)
    person: str | None = None
    photos_of_person: int | None = None
    scoring: str | None = None
    calibrated: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass
class PairsResult:
    """``verify --pairs``: one score per pair and, with labels, ROC AUC, EER and accuracies.

    Attributes:
        rows: ``(a, b, same or None, score in user units or None, reason when the pair was skipped)``.
        verification: AUC, EER, 10-fold accuracy, TAR@FAR (``{}`` without labels of both kinds).
        accuracy: Accuracy at ``threshold`` (``None`` without labels or threshold).
    """

    pairs: int
    skipped: int
    unit: str
    threshold: float | None
    accuracy: float | None
    verification: dict[str, float]
    rows: list[tuple[str, str, bool | None, float | None, str | None]]
    notes: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (rows as objects)."""
        d = asdict(self)
        d["rows"] = [{"a": a, "b": b, "same": s, "score": sc, "skipped": r} for a, b, s, sc, r in self.rows]
        return d


@dataclass
class CalibrationResult:
    """The threshold chosen for the target false-accept rate, and what it achieves.

    Attributes:
        threshold: In user units.
        far_ci: 95% Clopper-Pearson interval of the achieved FAR over ``impostor_trials`` trials.
        warnings: E.g. too few stranger trials for the target FAR to mean anything.
    """

    gallery: str
    threshold: float
    unit: str
    tar: float
    far: float
    far_ci: tuple[float, float]
    target_far: float
    members: int
    strangers: int
    impostor_trials: int
    rank1_accuracy: float
    scoring: str
    warnings: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    enrolled_photos_left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass
class GalleryInfo:
    """What ``list`` shows."""

    gallery: str
    model: str | None
    fingerprint: str
    index: str
    scoring: str
    metric: str
    unit: str
    threshold: float | None
    calibrated: bool
    calibration: dict[str, Any] | None
    people: dict[str, int]
    embeddings: int
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass
class RemoveResult:
    """``remove``: how many embeddings went, who is left."""

    name: str
    removed: int
    people_left: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass
class RenameResult:
    """``rename``: ``merged`` when the new name already existed (the two people became one)."""

    old: str
    new: str
    embeddings: int
    merged: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass
class MigrateResult:
    """``migrate``: what was copied where, with each table's row count and SHA-256 (equal on both sides)."""

    src: str
    dst: str
    backend: str
    people: int
    sources: int
    embeddings: int
    sha256: dict[str, str]
    resumed: bool
    index: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass
class CheckResult:
    """``check``: ``ok`` and the problems found (empty when fine)."""

    gallery: str
    ok: bool
    problems: list[str]
    people: int
    embeddings: int
    index: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)
