"""Annotated pictures for ``who --annotate DIR``: each photo with its faces boxed and named, plus a contact
sheet of every annotated photo. Files are never written over: an existing name gets ``-1``, ``-2``, ..."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_MEMBER = (40, 200, 80)
_UNKNOWN = (230, 60, 50)
_THUMB = 256


def unique_path(path: Path) -> Path:
    """``path``, or ``stem-1.suffix``, ``stem-2.suffix``, ... whichever does not exist yet."""
    from pictorch.utils import free_path

    return free_path(path)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


_MIN_SIDE = 384  # smaller photos (ORL's are 92×112) are enlarged first so labels stay legible


def draw_answers(image: Any, faces: Sequence[Any], unit: str = "score") -> Any:
    """Draw each face's box and ``name score`` on a copy of a Pillow RGB image (enlarged when small)."""
    import math

    from PIL import Image, ImageDraw

    im = image.convert("RGB")
    k = max(1, math.ceil(_MIN_SIDE / max(im.size)))
    im = im.resize((im.size[0] * k, im.size[1] * k), Image.Resampling.LANCZOS) if k > 1 else im.copy()
    draw = ImageDraw.Draw(im)
    w, h = im.size
    line = max(2, round(min(w, h) / 150))
    font = _font(max(11, round(min(w, h) / 28)))
    for f in faces:
        box = tuple(v * k for v in f.box) if f.box else (0, 0, w - 1, h - 1)
        colour = _UNKNOWN if f.name == "unknown" else _MEMBER
        draw.rectangle(box, outline=colour, width=line)
        text = f.name if f.score is None else f"{f.name} {f.score:.2f}"
        tb = draw.textbbox((0, 0), text, font=font)
        tw, th = tb[2] - tb[0], tb[3] - tb[1]
        x = max(0, min(box[0], w - tw - 4))
        y = box[3] + 2 if box[3] + th + 6 < h else max(0, box[1] - th - 6)
        draw.rectangle((x, y, x + tw + 4, y + th + 4), fill=colour)
        draw.text((x + 2, y + 2 - tb[1]), text, fill=(255, 255, 255), font=font)
    return im


def annotate_photos(answers: Sequence[Any], out_dir: str | os.PathLike, unit: str = "score"
                    ) -> tuple[list[str | None], str | None]:
    """Write each photo with its answers drawn into ``out_dir`` (PNG), and ``contact_sheet.png`` for several.

    Args:
        answers: :class:`~pictorch.tasks.identify.service.PhotoAnswer` objects.
        out_dir: Folder (created).
        unit: ``score`` or ``distance`` (only for the labels' meaning).

    Returns:
        ``(written path per answer or None when the photo could not be read again, contact sheet or None)``.
    """
    from PIL import Image

    from pictorch.data.decode import load_image
    from pictorch.errors import BadImageError

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str | None] = []
    thumbs = []
    for pa in answers:
        try:
            arr = load_image(pa.photo, "RGB").permute(1, 2, 0).numpy()
        except BadImageError:
            written.append(None)
            continue
        im = draw_answers(Image.fromarray(arr), pa.faces, unit)
        dest = unique_path(out / f"{Path(pa.photo).stem}.png")
        im.save(dest)
        written.append(str(dest))
        th = im.copy()
        th.thumbnail((_THUMB, _THUMB), Image.Resampling.LANCZOS)
        thumbs.append(th)
    sheet = None
    if len(thumbs) > 1:
        cols = min(6, len(thumbs))
        rows = (len(thumbs) + cols - 1) // cols
        canvas = Image.new("RGB", (cols * (_THUMB + 4) + 4, rows * (_THUMB + 4) + 4), (255, 255, 255))
        for i, th in enumerate(thumbs):
            r, c = divmod(i, cols)
            x = 4 + c * (_THUMB + 4) + (_THUMB - th.size[0]) // 2
            y = 4 + r * (_THUMB + 4) + (_THUMB - th.size[1]) // 2
            canvas.paste(th, (x, y))
        dest = unique_path(out / "contact_sheet.png")
        canvas.save(dest)
        sheet = str(dest)
    return written, sheet


__all__ = ["annotate_photos", "draw_answers", "unique_path"]
