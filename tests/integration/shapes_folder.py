"""Class-per-subfolder PNG folders of pictorch's synthetic shapes, for the CLI tests that train on a folder."""

from __future__ import annotations

from pathlib import Path


def write_shapes(root: Path, n: int) -> Path:
    """``n`` 28-px gray shapes of 3 classes as ``root/<class>/NNN.png`` (seed 0); returns ``root``."""
    from PIL import Image

    from pictorch.data.synthetic import synthetic_shapes

    ds = synthetic_shapes(n, size=28, channels=1, num_classes=3, seed=0)
    for i, (img, lab) in enumerate(zip(ds.images, ds.labels, strict=True)):
        d = root / ds.classes[int(lab)]
        d.mkdir(exist_ok=True)
        Image.fromarray(img[0].numpy()).save(d / f"{i:03d}.png")
    return root
