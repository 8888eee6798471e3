"""The built-in real, offline translation tasks (registered in the ``pairs`` domain of
:data:`pictorch.data.resolve.DATASETS`): photo crops for ``edges2photo`` / ``gray2color``, NASA's Earth tiles for
``day2night`` / ``labels2satellite``, Fashion-MNIST for ``sneaker2boot``. No source photo or longitude band is in
both train and test. :class:`~pictorch.tasks.translate.data.TranslationData` is imported inside each builder
because :mod:`pictorch.tasks.translate.data` imports this module (and re-exports its public names).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pictorch.data.resolve import dataset
from pictorch.errors import DataError

if TYPE_CHECKING:
    from pictorch.tasks.translate.data import TranslationData

__all__ = ["BUILTIN_TASKS", "EARTH_TEST_BANDS", "TEST_PHOTOS", "XPLANET_DIR", "land_mask", "photo_sources"]

XPLANET_DIR = Path("/usr/share/xplanet/images")


# -- photo and Earth tasks ----------------------------------------------------------------------------------
def photo_sources() -> list[tuple[str, Path]]:
    """Real colour photos installed with the toolkit's dependencies (always) and two Debian packages (if present).

    scikit-image ships 5 usable colour photos, scikit-learn 2, matplotlib 1; Debian's ``darknet`` adds 6 and
    ``opencv-doc`` 12 (``dpkg -L`` shows where).
    """
    import importlib.util

    import matplotlib
    import sklearn.datasets

    out: list[tuple[str, Path]] = []
    spec = importlib.util.find_spec("skimage")  # optional (pip install pictorch[translate]); found without import
    if spec is not None and spec.origin:
        sk = Path(spec.origin).parent / "data"
        for n in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"):
            out.append((f"skimage/{n}", sk / n))
    skl = Path(sklearn.datasets.__file__).parent / "images"
    out += [("sklearn/china.jpg", skl / "china.jpg"), ("sklearn/flower.jpg", skl / "flower.jpg")]
    out.append(("matplotlib/grace_hopper.jpg", Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    dk = Path("/usr/share/darknet/data")
    out += [(f"darknet/{n}", dk / n) for n in ("dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg",
                                                "person.jpg")]
    cv = Path("/usr/share/doc/opencv-doc/examples/data")
    out += [(f"opencv/{n}", cv / n) for n in ("baboon.jpg", "fruits.jpg", "building.jpg", "home.jpg", "messi5.jpg",
                                              "orange.jpg", "butterfly.jpg", "apple.jpg", "aero1.jpg", "leuvenA.jpg",
                                              "smarties.png", "squirrel_cls.jpg")]
    return [(n, p) for n, p in out if p.is_file()]


# held out for testing (never cropped for training): one photo from each source family present
TEST_PHOTOS = ("skimage/coffee.png", "matplotlib/grace_hopper.jpg", "darknet/dog.jpg", "opencv/fruits.jpg",
               "opencv/home.jpg")


def _read_photo(path: Path, short_side: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        s = short_side / min(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BICUBIC)
        return np.asarray(im)


def _edges(rgb: np.ndarray) -> np.ndarray:
    """Canny edges (σ=1.5) as black lines on white, uint8 H×W."""
    try:
        from skimage.feature import canny
    except ImportError:
        raise DataError("edges2photo needs scikit-image for its Canny edges: pip install scikit-image "
                        "(or pictorch[translate])") from None

    gray = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    return np.where(canny(gray, sigma=1.5), 0, 255).astype(np.uint8)


def _crops(arrays: list[np.ndarray], n: int, side: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` random side×side windows at the same positions in each aligned H×W(×C) array."""
    h, w = arrays[0].shape[:2]
    if h < side or w < side:
        return [np.zeros((0, side, side, *a.shape[2:]), a.dtype) for a in arrays]
    ys = rng.integers(0, h - side + 1, n)
    xs = rng.integers(0, w - side + 1, n)
    return [np.stack([a[y:y + side, x:x + side] for y, x in zip(ys, xs, strict=True)]) for a in arrays]


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x))
    return (t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)).contiguous()


def _photo_task(kind: str, size: int, per_photo: int, test_per_photo: int, seed: int) -> TranslationData:
    from pictorch.tasks.translate.data import TranslationData, luma  # here: data.py imports this module

    photos = photo_sources()
    if len(photos) < 2:
        raise DataError("the built-in photo tasks need scikit-image's and scikit-learn's sample photos "
                        "(pip install scikit-image scikit-learn)")
    load = size + size // 8  # stored larger than the crop so training sees random windows (anchor: 286→256)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[list[np.ndarray]]] = {"train": [[], []], "test": [[], []]}
    used = {"train": [], "test": []}
    for name, path in photos:
        split = "test" if name in TEST_PHOTOS else "train"
        # photos scaled so a crop covers about a quarter of the short side: objects, not texture, at any size
        rgb = _read_photo(path, 4 * size)
        src = _edges(rgb) if kind == "edges" else luma(torch.from_numpy(rgb.copy()).permute(2, 0, 1))[0].numpy()
        side = load if split == "train" else size
        ca, cb = _crops([src, rgb], per_photo if split == "train" else test_per_photo, side, rng)
        parts[split][0].append(ca)
        parts[split][1].append(cb)
        used[split].append(name)
    if not used["test"] or not used["train"]:
        raise DataError("not enough sample photos found to hold some out for testing")
    cat = {s: [_to_tensor(np.concatenate(p)) for p in parts[s]] for s in parts}
    return TranslationData(cat["train"][0], cat["train"][1], cat["test"][0], cat["test"][1], paired=True,
                           name=f"{kind}2{'photo' if kind == 'edges' else 'color'}", crop=size,
                           info={"train_photos": used["train"], "test_photos": used["test"], "size": size})


def land_mask(width: int, height: int) -> np.ndarray:
    """Land (True) / water of an equirectangular width×height grid aligned with xplanet's ``earth.jpg``
    (longitude -180° at the left edge, latitude 90° at the top), from the ``global-land-mask`` wheel.

    The wheel decompresses a 21600×43200 mask on import (7.8 s, 0.9 GB here), so the grid is cached in
    ``$PICTORCH_HOME/translate/`` (default ``~/.cache/pictorch``) after the first call.
    """
    import os

    home = Path(os.environ.get("PICTORCH_HOME") or "~/.cache/pictorch").expanduser() / "translate"
    path = home / f"land_mask_{width}x{height}.npy"
    if path.is_file():
        return np.load(path)
    try:
        from global_land_mask import globe
    except ImportError:
        raise DataError("labels2satellite needs the global-land-mask wheel: pip install global-land-mask "
                        "(or pictorch[translate])") from None
    lat = 90.0 - (np.arange(height) + 0.5) * 180.0 / height
    lon = -180.0 + (np.arange(width) + 0.5) * 360.0 / width
    grid_lon, grid_lat = np.meshgrid(lon, lat)
    mask = np.asarray(globe.is_land(grid_lat, grid_lon), dtype=bool)
    try:
        home.mkdir(parents=True, exist_ok=True)
        from pictorch.utils import atomic_save

        atomic_save(path, lambda tmp: np.save(open(tmp, "wb"), mask))
    except OSError:
        pass  # a read-only home only costs the 8 s next time
    return mask


# two held-out longitude bands of 54° (over Africa/Europe and over the Americas): test tiles are cut only inside
# them, training tiles only where they do not touch them
EARTH_TEST_BANDS = ((0.5, 0.65), (0.2, 0.35))


def _earth_task(kind: str, size: int, n_train: int, n_test: int, seed: int, width: int = 1024,
                coast: float = 0.0) -> TranslationData:
    """day2night (day → night) or labels2satellite (land/water mask → day) tiles of NASA's Earth images.

    ``coast``: the share of training tiles drawn to show both land and water (by the land mask); 0 takes tiles as
    they fall (at 32 px 49 % are open water and 8 % all land). The held-out tiles are the same either way.
    """
    from pictorch.tasks.translate.data import TranslationData  # here: data.py imports this module

    day, night = XPLANET_DIR / "earth.jpg", XPLANET_DIR / "night.jpg"
    if not (day.is_file() and night.is_file()):
        raise DataError(f"{kind} needs NASA's Earth images in {XPLANET_DIR} (earth.jpg, night.jpg): "
                        "apt-get install xplanet-images")
    from PIL import Image

    def read(p: Path) -> np.ndarray:
        with Image.open(p) as im:
            return np.asarray(im.convert("RGB").resize((width, width // 2), Image.BICUBIC))

    d = read(day)
    land = land_mask(width, width // 2) if kind == "labels2satellite" else None
    if coast > 0 and land is None:
        try:
            land = land_mask(width, width // 2)
        except DataError:
            coast = 0.0  # day2night without the global-land-mask wheel: tiles as they fall, as before
    if kind == "labels2satellite":
        src = np.where(land, 255, 0).astype(np.uint8)
        src_b = d
    else:
        src, src_b = d, read(night)
    h, w = d.shape[:2]
    load = size + size // 8
    bands = EARTH_TEST_BANDS
    rng = np.random.default_rng(seed)

    def tiles(n: int, side: int, inside: bool, rng: np.random.Generator = rng,
              coast: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        out_a, out_b = [], []
        tries = 0
        want_coast = coast > 0 and rng.random() < coast
        while len(out_a) < n and tries < 100 * n:
            tries += 1
            x = int(rng.integers(0, w - side + 1))
            y = int(rng.integers(h // 8, h - h // 8 - side + 1))  # skip the stretched polar rows
            lo, hi = x / w, (x + side) / w
            in_band = any(lo >= a and hi <= b for a, b in bands)
            touches = any(lo < b and hi > a for a, b in bands)
            if want_coast and land is not None and land[y:y + side, x:x + side].min() == \
                    land[y:y + side, x:x + side].max():
                continue
            if (inside and in_band) or (not inside and not touches):
                out_a.append(src[y:y + side, x:x + side])
                out_b.append(src_b[y:y + side, x:x + side])
                want_coast = coast > 0 and rng.random() < coast
        if not out_a:
            raise DataError(f"{kind}: tiles of {side} px do not fit the held-out bands at width {width}")
        return np.stack(out_a), np.stack(out_b)

    tr_a, tr_b = tiles(n_train, load, False)
    te_a, te_b = tiles(n_test, size, True)
    if coast > 0:  # drawn after the held-out tiles, from a generator of their own: the test set does not move
        tr_a, tr_b = tiles(n_train, load, False, np.random.default_rng([seed, 1]), coast)
    return TranslationData(_to_tensor(tr_a), _to_tensor(tr_b), _to_tensor(te_a), _to_tensor(te_b), paired=True,
                           name=kind, crop=size,
                           info={"source": str(XPLANET_DIR), "held_out_longitude_bands": [list(b) for b in bands],
                                 "width": width, "size": size, **({"coast": coast} if coast > 0 else {})})


def _sneaker_boot(data_dir: str | None, limit: int) -> TranslationData:
    from pictorch.data.fashion_mnist import load_fashion_mnist
    from pictorch.tasks.translate.data import TranslationData  # here: data.py imports this module

    tr = load_fashion_mnist("train", data_dir=data_dir)
    te = load_fashion_mnist("test", data_dir=data_dir)
    sneaker, boot = 7, 9

    def pick(ds: Any, c: int, n: int) -> torch.Tensor:
        x = ds.images[ds.labels == c]
        return x[:n] if n else x

    return TranslationData(pick(tr, sneaker, limit), pick(tr, boot, limit), pick(te, sneaker, 500),
                           pick(te, boot, 500), paired=False, name="sneaker2boot", crop=0,
                           info={"classes": ["Sneaker", "Ankle boot"], "source": "fashion-mnist"})


BUILTIN_TASKS: Mapping[str, str] = {
    "edges2photo": "Canny edges → photo, crops of real photos (paired)",
    "gray2color": "luminance → colour photo, crops of real photos (paired)",
    "day2night": "NASA Earth by day → at night, held-out longitude bands (paired; apt-get install xplanet-images)",
    "labels2satellite": "land/water mask (global-land-mask wheel) → NASA Earth by day, held-out bands (paired)",
    "sneaker2boot": "Fashion-MNIST sneakers ↔ ankle boots (unpaired)",
}


@dataset("edges2photo", domain="pairs")
def _edges2photo(size: int = 0, limit: int = 0, seed: int = 0, **_: Any) -> TranslationData:
    return _photo(True, size, limit, seed)


@dataset("gray2color", domain="pairs")
def _gray2color(size: int = 0, limit: int = 0, seed: int = 0, **_: Any) -> TranslationData:
    return _photo(False, size, limit, seed)


def _photo(edges: bool, size: int, limit: int, seed: int) -> TranslationData:
    s = size or 32
    per = limit or max(16, math.ceil(4096 / 13 * (32 / s) ** 2 / 4))
    return _photo_task("edges" if edges else "gray", s, per, max(8, per // 4), seed)


@dataset("day2night", domain="pairs")
def _day2night(size: int = 0, limit: int = 0, seed: int = 0, coast: float = 0.0, **_: Any) -> TranslationData:
    return _earth_task("day2night", size or 64, limit or 2000, 200, seed, coast=coast)


@dataset("labels2satellite", domain="pairs")
def _labels2satellite(size: int = 0, limit: int = 0, seed: int = 0, coast: float = 0.0,
                      **_: Any) -> TranslationData:
    return _earth_task("labels2satellite", size or 64, limit or 2000, 200, seed, coast=coast)


@dataset("sneaker2boot", domain="pairs")
def _sneaker2boot(limit: int = 0, data_dir: str | None = None, **_: Any) -> TranslationData:
    return _sneaker_boot(data_dir, limit)
