"""Paired and unpaired translation data: user folders, built-in real offline tasks, joint augmentation.

Layouts a user brings (``--data``, optionally ``--data-b``):
    - a folder of A|B side-by-side files (the anchor's "aligned" format; each file is split at half its width);
    - a folder with ``A/`` and ``B/`` (or ``trainA/``+``trainB/``, ``train/A``+``train/B``) subfolders, or two
      folders: paired by file name for pix2pix, two independent collections for CycleGAN.

Built-in tasks (:mod:`pictorch.tasks.translate.builtin`: real photos shipped with installed packages, cut into
crops; no source photo or longitude band is in both train and test):
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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pictorch.data.loader import TensorLoader
from pictorch.errors import DataError

__all__ = ["BUILTIN_TASKS", "TranslationData", "UnpairedLoader", "flat_share", "joint_crop_flip",
           "load_translation_data", "make_loader"]



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


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luminance of uint8 RGB (…×3×H×W) as uint8 …×1×H×W."""
    w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    return (rgb.float() * w).sum(-3, keepdim=True).round().clamp(0, 255).to(torch.uint8)


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
            b = luma(b)
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


# the built-in tasks register themselves in the pairs domain; re-exported for the older imports
from pictorch.tasks.translate.builtin import (  # noqa: E402,F401
    BUILTIN_TASKS,
    EARTH_TEST_BANDS,
    TEST_PHOTOS,
    XPLANET_DIR,
    land_mask,
    photo_sources,
)
