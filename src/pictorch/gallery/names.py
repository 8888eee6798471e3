"""What can name a person in a gallery: :func:`check_person_name`, which both gallery backends call at enroll,
rename and merge, before any work."""

from __future__ import annotations

from pictorch.errors import PictorchError
from pictorch.gallery.schema import UNKNOWN

#: Longest person name accepted (a name is a label on pictures and a URL segment, not a document).
MAX_NAME_CHARS = 200
#: Formatting characters that belong in names (ZWNJ/ZWJ join letters in Persian, Indic scripts and emoji).
_NAME_JOINERS = {"\u200c", "\u200d"}


def check_person_name(name: object) -> str:
    """``name`` stripped, or :class:`PictorchError` with one line saying why it cannot name a person (see
    :meth:`GalleryDb._check_name`); both gallery backends call this at enroll and rename/merge."""
    import unicodedata

    text = str(name)
    stripped = text.strip()
    if not stripped:
        raise PictorchError("a person's name cannot be empty or only spaces" if text else
                            "a person's name cannot be empty")
    for ch in stripped:
        cat = unicodedata.category(ch)
        if cat == "Cs":
            shown = stripped.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise PictorchError(f"person name '{shown}' is not valid UTF-8 text (a name typed in another "
                                "encoding?); type it as UTF-8")
        if cat in ("Cc", "Zl", "Zp", "Co") or (cat == "Cf" and ch not in _NAME_JOINERS):
            raise PictorchError(f"person name {stripped!r} contains the control character U+{ord(ch):04X}; "
                                "names are printed and drawn on photos: use letters, digits, spaces and punctuation")
    for ch in "/\\":
        if ch in stripped:
            raise PictorchError(f"person name {stripped!r} contains {ch!r}, which cannot be part of a name (names "
                                "are path segments of the HTTP API and file names in exports); use another "
                                "separator, e.g. '-'")
    if stripped in (".", ".."):
        raise PictorchError(f"{stripped!r} cannot name a person; choose another name")
    if len(stripped) > MAX_NAME_CHARS:
        raise PictorchError(f"a person's name is at most {MAX_NAME_CHARS} characters, this one has {len(stripped)}")
    if stripped.lower() == UNKNOWN:
        raise PictorchError(f"{stripped!r} is reserved for people not in the gallery; choose another name")
    return stripped
