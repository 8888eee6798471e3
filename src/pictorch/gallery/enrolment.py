"""What both gallery backends do with an enrolment's input before any SQL: one row per photo, each photo's
identity (the SHA-256 of its file, else of its vector), and which photos are duplicates to skip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pictorch.errors import PictorchError
from pictorch.utils import sha256_file


def new_photos(sources: list[str], hashes: list[str], known: dict[str, str], name: str
               ) -> tuple[list[int], list[tuple[str, str]]]:
    """Which photos of an enrolment of ``name`` to store: (their indices, (source, why) for the others).

    A photo is skipped when its bytes' hash is already enrolled (``known``: hash -> person) or appears earlier
    in the same enrolment; an empty hash is never a duplicate. Both gallery backends decide this way.
    """
    keep: list[int] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for i, (src, h) in enumerate(zip(sources, hashes, strict=True)):
        if h and h in known:
            owner = known[h]
            skipped.append((src, f"already enrolled as {owner!r}" if owner != name
                            else f"already enrolled for {name!r}"))
        elif h and h in seen:
            first = seen[h]
            skipped.append((src, "listed twice in this enrolment" if first == src else
                            f"same bytes as {first} in this enrolment (a copy of one photo)"))
        else:
            keep.append(i)
            if h:
                seen[h] = src
    return keep, skipped


def source_hash(source: str, vector: np.ndarray) -> str:
    """A photo's identity for duplicate checks: the SHA-256 of its file when it is one, else of its vector."""
    import hashlib

    p = Path(source)
    try:
        if p.is_file():
            return sha256_file(p)
    except OSError:
        pass
    return "vector:" + hashlib.sha256(vector.astype("<f4").tobytes()).hexdigest()


def enrolment_rows(embeddings: Any, sources: Any, hashes: Any, dim: int) -> tuple[np.ndarray, list[str], list]:
    """An enrolment's (N×dim float32 embeddings, N sources, N hashes), checked to have one of each per photo;
    ``hashes=None`` hashes each source (:func:`source_hash`). Both gallery backends take their input this way."""
    from pictorch.gallery.index import as_float_matrix

    x = as_float_matrix(embeddings, dim, "embeddings")
    sources = [str(s) for s in sources]
    if len(sources) != len(x):
        raise PictorchError(f"got {len(x)} embeddings but {len(sources)} sources")
    if hashes is None:
        hashes = [source_hash(s, v) for s, v in zip(sources, x, strict=True)]
    elif len(hashes) != len(x):
        raise PictorchError(f"got {len(x)} embeddings but {len(hashes)} hashes")
    return x, [storable_text(s) for s in sources], list(hashes)


def storable_text(text: str) -> str:
    """``text`` as UTF-8 can store it: a file name that is not UTF-8 reaches Python as lone surrogates
    (``caf\\udce9.jpg`` for the Latin-1 byte 0xE9), which SQLite and PostgreSQL refuse ("surrogates not allowed",
    a crash of the enrolment); its bytes are kept visible as ``\\xe9`` instead."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
