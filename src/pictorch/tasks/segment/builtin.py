"""The built-in segmentation sets, registered in the ``masks`` domain of ``DATASETS`` (``--data nuclei``,
``earth``, ``fashion-clutter``, ``synthetic``, ``synthetic-multi``): the real DSB 2018 nuclei image of the
stardist wheel, NASA's Earth with the GLOBE land mask, and synthetic scenes. SegSet is imported inside each
loader (as in :mod:`pictorch.tasks.segment.clutter`) because :mod:`pictorch.tasks.segment.data` imports this
module to register them."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pictorch.data.resolve import dataset
from pictorch.errors import DataError

if TYPE_CHECKING:
    from pictorch.tasks.segment.data import SegSet


def stardist_files() -> tuple[Path, Path]:
    """``img2d.tif`` and ``mask2d.tif`` inside the installed stardist wheel (found, not imported: the package
    would pull TensorFlow).

    Raises:
        DataError: stardist is not installed.
    """
    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the DSB 2018 nuclei image ships in the stardist wheel: pip install --no-deps stardist")
    d = Path(next(iter(spec.submodule_search_locations))) / "data" / "images"
    img, mask = d / "img2d.tif", d / "mask2d.tif"
    if not img.is_file() or not mask.is_file():
        raise DataError(f"{d}: img2d.tif/mask2d.tif missing from this stardist install; reinstall it")
    return img, mask


def load_nuclei() -> SegSet:
    """The real DSB 2018 fluorescence-nuclei image (512×512, 1 channel) with its hand-drawn instance masks
    (125 nuclei), as a binary mask: nucleus (any instance id > 0) or background."""
    from PIL import Image

    from pictorch.tasks.segment.data import SegSet

    img_path, mask_path = stardist_files()
    img = np.array(Image.open(img_path)).astype(np.float64)
    inst = np.array(Image.open(mask_path))
    # 16-bit container, values 0..235 in the shipped file: scaled by the maximum only when it exceeds 8 bits
    top = img.max()
    img8 = (img if top <= 255 else img * 255.0 / top).round().clip(0, 255).astype(np.uint8)
    image = torch.from_numpy(img8)[None]
    mask = torch.from_numpy((inst > 0).astype(np.uint8))
    return SegSet([image], [mask], ["background", "nucleus"], [str(img_path)], mask_format="instances > 0")


EARTH_IMAGE = Path("/usr/share/xplanet/images/earth.jpg")


def load_earth() -> SegSet:
    """NASA's Blue Marble Earth (xplanet-images' ``earth.jpg``, 2048×1024, equirectangular) with the exact
    land/water mask of the ``global-land-mask`` wheel (the GLOBE 1 km grid, sampled at each pixel's centre):
    class 1 land, 0 water. The mask file is read by path (``numpy.load``, ~1 GB decompressed, ~3 s).

    Raises:
        DataError: ``apt-get install xplanet-images`` or ``pip install global-land-mask`` missing.
    """
    from pictorch.data.decode import load_image
    from pictorch.tasks.segment.data import SegSet

    img_path = Path(os.environ.get("PICTORCH_EARTH_IMAGE", EARTH_IMAGE))
    if not img_path.is_file():
        raise DataError(f"{img_path}: the NASA Earth image comes with Debian's xplanet-images "
                        "(apt-get install xplanet-images)")
    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the land/water mask comes with the global-land-mask wheel: pip install global-land-mask")
    npz = Path(next(iter(spec.submodule_search_locations))) / "globe_combined_mask_compressed.npz"
    image = load_image(img_path, mode="RGB")
    h, w = int(image.shape[-2]), int(image.shape[-1])
    with np.load(npz) as z:
        lat, lon = z["lat"], z["lon"]
        lats = 90.0 - (np.arange(h) + 0.5) * 180.0 / h
        lons = -180.0 + (np.arange(w) + 0.5) * 360.0 / w
        iy = np.clip(np.round((lats - lat[0]) / (lat[1] - lat[0])), 0, len(lat) - 1).astype(np.int64)
        ix = np.clip(np.round((lons - lon[0]) / (lon[1] - lon[0])), 0, len(lon) - 1).astype(np.int64)
        land = ~z["mask"][np.ix_(iy, ix)]  # the file marks ocean (its is_land() is the negation)
    return SegSet([image], [torch.from_numpy(land.astype(np.uint8))], ["water", "land"], [str(img_path)],
                  colors=[(20, 60, 200), (40, 170, 60)], mask_format="global-land-mask")


def synthetic_segset(n: int = 64, size: int = 32, channels: int = 1, seed: int = 0, multiclass: bool = False
                     ) -> SegSet:
    """Shapes on noise (:func:`~pictorch.data.synthetic.synthetic_shapes`): binary foreground, or 5 classes
    (background + 4 shapes)."""
    from pictorch.data.synthetic import synthetic_shapes
    from pictorch.tasks.segment.data import SegSet

    s = synthetic_shapes(n, size=size, channels=channels, num_classes=4, seed=seed)
    masks = s.masks if multiclass else (s.masks > 0).to(torch.uint8)
    classes = ["background", *s.classes] if multiclass else ["background", "shape"]
    return SegSet(list(s.images), list(masks), classes, [f"synthetic {i}" for i in range(n)],
                  mask_format="synthetic")


def _fashion_clutter(limit: int = 0, seed: int = 0, split: str = "train", **_: Any) -> SegSet:
    from pictorch.tasks.segment.clutter import fashion_clutter

    return fashion_clutter((limit or 2000) if split == "train" else 500, split=split, seed=seed)


def _synthetic(seed: int = 0, split: str = "train", multiclass: bool = False, **_: Any) -> SegSet:
    return synthetic_segset(64 if split == "train" else 32, seed=seed + (0 if split == "train" else 1000),
                            multiclass=multiclass)


dataset("nuclei", domain="masks")(lambda **_: load_nuclei())
dataset("earth", domain="masks")(lambda **_: load_earth())
dataset("fashion-clutter", domain="masks")(_fashion_clutter)
dataset("synthetic", domain="masks")(_synthetic)
dataset("synthetic-multi", domain="masks")(lambda **kw: _synthetic(**kw, multiclass=True))
