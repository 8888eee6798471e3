"""JSON request bodies of the HTTP API (pydantic models; validation errors become one ``{"error"}`` line)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["Calibrate64", "Labelled64", "Photo64", "Photos64", "Rename", "Who64"]


class Photo64(BaseModel):
    """A base64 photo (a ``data:`` URL prefix is allowed)."""

    name: str = Field("photo", max_length=200)
    data: str


class Photos64(BaseModel):
    """Photos as base64."""

    photos: list[Photo64] = Field(min_length=1)


class Who64(Photos64):
    """``who`` on base64 photos."""

    top_k: int = Field(3, ge=1, le=100)
    threshold: float | None = Field(None, allow_inf_nan=False)
    largest_face: bool = False


class Labelled64(Photo64):
    """A calibration photo and who is on it (people not enrolled are strangers)."""

    person: str = Field(min_length=1, max_length=200)


class Calibrate64(BaseModel):
    """Calibration photos (not used to enrol) and the false-accept rate to aim at."""

    photos: list[Labelled64] = Field(min_length=1)
    target_far: float = Field(0.01, ge=0.0, lt=1.0, allow_inf_nan=False)


class Rename(BaseModel):
    """A new name; ``merge`` joins an enrolled person of that name."""

    name: str = Field(min_length=1, max_length=200)
    merge: bool = False
