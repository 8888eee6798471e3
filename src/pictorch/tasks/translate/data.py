"""Paired and unpaired translation data: user folders, built-in real offline tasks, joint augmentation.

Layouts a user brings (``--data``, optionally ``--data-b``):
    - a folder of A|B side-by-side files (the anchor's "aligned" format; each file is split at half its width);
    - a folder with ``A/`` and ``B/`` (or ``trainA/``+``trainB/``, ``train/A``+``train/B``) subfolders, or two
      folders: paired by file name for pix2pix, two independent collections for CycleGAN.

Built-in tasks (real photos shipped with installed packages, cut into crops; no source photo or longitude band
is in both train and test):
    - ``edges2photo``: Canny edges (1 channel, black on white) → the photo (RGB);
    - ``gray2color``: luminance (1 channel) → the photo (RGB);
    - ``day2night``: NASA's Earth by day → the same place at night (Debian ``xplanet-images``), with
      longitude bands held out;
    - ``labels2satellite``: the exact land/water mask of the ``global-land-mask`` wheel → the day image;
    - ``sneaker2boot``: unpaired Fashion-MNIST sneakers → ankle boots (CycleGAN).

Batches are ``{"image": A uint8, "target": B uint8}``; :func:`joint_crop_flip` cuts the same random window
(and applies the same flip) to both, on the device, in one gather.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pictorch.data.loader import TensorLoader
from pictorch.data.resolve import dataset
from pictorch.errors import DataError

__all__ = ["BUILTIN_TASKS", "TranslationData", "UnpairedLoader", "flat_share", "joint_crop_flip",
           "load_translation_data", "make_loader"]

XPLANET_DIR = Path("/usr/share/xplanet/images")


@dataclass
class TranslationData:
    """Train (and optionally test) images of two domains.

    Attributes:
        train_a, train_b: uint8 N×Ca×H×W and M×Cb×H×W (N == M and row-aligned when ``paired``).
        test_a, test_b: Held-out images (paired when ``paired``), or None.
        paired: Whether ``train_a[i]`` and ``train_b[i]`` show the same scene.
        name: The data spec (built-in name or folder).
        crop: Side of the random training crop (0: train on whole images).
        info: Where the data came from (sources, held-out photos or bands), saved in the checkpoint.
    """

    train_a: torch.Tensor
    train_b: torch.Tensor
    test_a: torch.Tensor | None = None
    test_b: torch.Tensor | None = None
    paired: bool = True
    name: str = ""
    crop: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def in_chans(self) -> int:
        return int(self.train_a.shape[1])

    @property
    def out_chans(self) -> int:
        return int(self.train_b.shape[1])

    def swapped(self) -> TranslationData:
        """The same data with A and B exchanged (``--direction BtoA``)."""
        return TranslationData(self.train_b, self.train_a, self.test_b, self.test_a, self.paired, self.name,
                               self.crop, {**self.info, "direction": "BtoA"})


def flat_share(images: torch.Tensor, tol: float = 1.0) -> float:
    """The share of uint8 N×C×H×W ``images`` that are flat: every channel's standard deviation under ``tol``
    grey levels (a one-class mask tile, open ocean at night); 0 for no images. Measured over at most 4096."""
    if images.shape[0] == 0:
        return 0.0
    x = images[:4096].float()
    return float((x.flatten(2).std(-1).amax(1) < tol).float().mean())


# -- joint augmentation ------------------------------------------------------------------------------------
def joint_crop_flip(a: torch.Tensor, b: torch.Tensor, crop: int = 0, flip: bool = True,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random ``crop``×``crop`` window and horizontal flip for each A/B pair of a batch.

    Args:
        a: B×Ca×H×W.
        b: B×Cb×H×W with the same H, W (channels may differ).
        crop: Window side (0 or >= the image: no crop).
        flip: Flip each pair left-right with probability 0.5.
        generator: CPU RNG for offsets and flips (tests).

    Returns:
        The cropped/flipped ``(a, b)``; one gather per tensor, on their device.
    """
    if a.shape[0] != b.shape[0] or a.shape[-2:] != b.shape[-2:]:
        raise DataError(f"A and B batches differ in size: {tuple(a.shape)} and {tuple(b.shape)}")
    n, h, w = a.shape[0], a.shape[-2], a.shape[-1]
    ch, cw = (min(crop, h), min(crop, w)) if crop > 0 else (h, w)
    oy = torch.randint(0, h - ch + 1, (n,), generator=generator)
    ox = torch.randint(0, w - cw + 1, (n,), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    if ch == h and cw == w and not flips.any():
        return a, b
    ar_h, ar_w = torch.arange(ch), torch.arange(cw)
    rows = oy[:, None] + ar_h[None, :]
    cols = ox[:, None] + torch.where(flips[:, None], cw - 1 - ar_w[None, :], ar_w[None, :])
    dev = a.device
    rows, cols = rows.to(dev), cols.to(dev)

    def gather(t: torch.Tensor) -> torch.Tensor:
        bi = torch.arange(n, device=dev)[:, None, None, None]
        ci = torch.arange(t.shape[1], device=dev)[None, :, None, None]
        return t[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]

    return gather(a), gather(b)


# -- loaders ----------------------------------------------------------------------------------------------
class UnpairedLoader(TensorLoader):
    """A :class:`TensorLoader` over domain A whose batches also carry ``"target"``: B images drawn independently.

    B indices come from a generator seeded by (seed, epoch, position), so a resumed run sees the same B batches
    as an uninterrupted one.
    """

    def __init__(self, images_a: torch.Tensor, images_b: torch.Tensor, batch_size: int = 1, seed: int = 0):
        super().__init__(images_a, batch_size=batch_size, shuffle=True, drop_last=True, seed=seed)
        if images_b.shape[0] == 0:
            raise DataError("domain B is empty")
        self.images_b = images_b

    def to(self, device: torch.device | str) -> UnpairedLoader:
        super().to(device)
        self.images_b = self.images_b.to(device)
        return self

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().batch(idx)
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch * 100_003 + self.position) % (2 ** 63))
        jb = torch.randint(0, self.images_b.shape[0], (idx.shape[0],), generator=g).to(self.images_b.device)
        out["target"] = self.images_b.index_select(0, jb)
        return out


def make_loader(data: TranslationData, batch_size: int, seed: int = 0, paired: bool | None = None) -> TensorLoader:
    """The training loader: pairs row by row when paired, else independent A and B batches."""
    paired = data.paired if paired is None else paired
    if paired:
        if data.train_a.shape[0] < batch_size:
            raise DataError(f"{data.name}: {data.train_a.shape[0]} training pairs, fewer than one batch of "
                            f"{batch_size}; lower --batch-size")
        return TensorLoader(data.train_a, batch_size=batch_size, seed=seed, extras={"target": data.train_b})
    return UnpairedLoader(data.train_a, data.train_b, batch_size=batch_size, seed=seed)


# -- user folders -----------------------------------------------------------------------------------------
def _mode(channels: int) -> str | None:
    return {1: "L", 3: "RGB"}.get(channels) if channels else None


def _has_ab(root: Path) -> bool:
    return any((root / a).is_dir() and (root / b).is_dir()
               for a, b in (("A", "B"), ("a", "b"), ("trainA", "trainB"), ("train/A", "train/B")))


def load_aligned(folder: str | Path, size: int = 0, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """A|B side-by-side files: each image's left half is A, its right half B (the anchor's aligned format)."""
    from pictorch.data.sources import load_flat_folder

    mode = _mode(channels) or "RGB"
    load_size = None if not size else (size, 2 * size)
    ds = load_flat_folder(folder, size=load_size, mode=mode, resize="stretch")  # type: ignore[arg-type]
    w = ds.images.shape[-1]
    if w % 2:
        raise DataError(f"{folder}: aligned A|B images need an even width (got {w}); each file holds A on the left "
                        "half and B on the right")
    return ds.images[..., : w // 2].contiguous(), ds.images[..., w // 2:].contiguous()


def load_folders(data: str, data_b: str | None, paired: bool, size: int = 0, channels_a: int = 3,
                 channels_b: int = 3) -> TranslationData:
    """User data: aligned files, an A/B dataset folder, or two folders (see the module docstring)."""
    from pictorch.data.sources import load_paired, load_unpaired

    root = Path(data).expanduser()
    if not root.exists():
        raise DataError(f"--data {data}: no such built-in task or folder (built-in: {', '.join(BUILTIN_TASKS)})")
    # with --size N, images load at N + N/8 and training cuts random N×N windows (the anchor: 286 → 256)
    load = size + size // 8 if size else 0
    sz = load or None
    if data_b is None and not _has_ab(root):
        a, b = load_aligned(root, load, channels_a)
        if channels_b == 1 and b.shape[1] == 3:
            b = _luma(b)
        return TranslationData(a, b, paired=True, name=str(root), crop=size, info={"layout": "aligned", "size": size})
    if paired:
        sa, sb = load_paired(root, data_b, size=sz, mode=_mode(channels_a), resize="stretch")  # type: ignore[arg-type]
        if channels_b != channels_a:
            sb = load_paired(root, data_b, size=sz, mode=_mode(channels_b), resize="stretch")[1]  # type: ignore[arg-type]
        if sa.images.shape[-2:] != sb.images.shape[-2:]:
            raise DataError(f"{data}: A images are {tuple(sa.images.shape[-2:])} but B images are "
                            f"{tuple(sb.images.shape[-2:])}; pairs must have the same size (pass --load-size N)")
        return TranslationData(sa.images, sb.images, paired=True, name=str(root), crop=size,
                               info={"layout": "paired", "size": size})
    sa, sb = load_unpaired(root, data_b, size=sz, mode=_mode(channels_a), resize="stretch")  # type: ignore[arg-type]
    if channels_b != channels_a:
        sb = load_unpaired(root, data_b, size=sz, mode=_mode(channels_b), resize="stretch")[1]  # type: ignore[arg-type]
    if len(sa) == 0 or len(sb) == 0:
        raise DataError(f"{data}: domain {'A' if len(sa) == 0 else 'B'} is empty")
    return TranslationData(sa.images, sb.images, paired=False, name=str(root), crop=size,
                           info={"layout": "unpaired", "size": size})


# -- built-in real tasks ----------------------------------------------------------------------------------
def _luma(rgb: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luminance of uint8 RGB (…×3×H×W) as uint8 …×1×H×W."""
    w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    return (rgb.float() * w).sum(-3, keepdim=True).round().clamp(0, 255).to(torch.uint8)


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
        src = _edges(rgb) if kind == "edges" else _luma(torch.from_numpy(rgb.copy()).permute(2, 0, 1))[0].numpy()
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


def load_translation_data(data: str, data_b: str | None = None, *, paired: bool = True, size: int = 0,
                          channels_a: int = 0, channels_b: int = 0, limit: int = 0, seed: int = 0,
                          data_dir: str | None = None, coast: float = 0.0) -> TranslationData:
    """Resolve ``--data`` (a built-in task or folders) into :class:`TranslationData`.

    Args:
        data: A name of :data:`BUILTIN_TASKS` or a folder.
        data_b: Folder of domain B (then ``data`` is folder A).
        paired: What the model needs: True for pix2pix (folders are matched by file name), False for CycleGAN.
        size: Built-in tasks: crop side (default 32; day2night 64); folders: resize every image to size×size.
        channels_a, channels_b: Folders: 1 (gray) or 3 (RGB); 0: RGB.
        limit: Built-in tasks: crops per training photo (photo tasks) or training tiles/images (others).
        seed: Seed of the crop positions.
        data_dir: Fashion-MNIST folder.
        coast: Built-in Earth tasks: the share of training tiles drawn to show both land and water.
    """
    from pictorch.data.resolve import resolve

    ca, cb = channels_a or 3, channels_b or channels_a or 3
    if data_b:  # two folders: --data is folder A, never a built-in name
        return load_folders(data, data_b, paired, size, ca, cb)
    # the one --data road (data/resolve.py): built-in names live in DATASETS["pairs/..."] (case, - and _ do not
    # matter); anything else must be an existing folder; a typo is one line with the close matches
    return resolve(data, domain="pairs", folder=lambda path, **_: load_folders(path, None, paired, size, ca, cb),
                   size=size, limit=limit, seed=seed, data_dir=data_dir, coast=coast)


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
