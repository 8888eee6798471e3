"""Cluttered Fashion-MNIST: garments pasted on crops of real photos and textures, with exact 11-class masks.

Each 64×64 grayscale scene is a random crop (random scale) of a real photograph or texture with one to
three Fashion-MNIST items pasted on it at random sizes and places; later items occlude earlier ones. An
item's pixels are its resized picture wherever its own intensity exceeds :data:`ALPHA` (hard alpha), and
exactly those pixels are its class in the mask (1 + the Fashion-MNIST label; 0 is background), so the masks
are exact by construction. Backgrounds come from the photos that ship inside the scikit-image wheel
(read by path, not imported) and, when present, Debian's xplanet-images; training and test scenes use
disjoint photos and disjoint Fashion-MNIST splits, so the test measures generalization to new backgrounds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

from pictorch.errors import DataError

ALPHA = 40  # of 255: below it a Fashion-MNIST pixel is the item's black surround, not the item
TRAIN_PHOTOS = ("astronaut.png", "coffee.png", "brick.png", "grass.png", "motorcycle_left.png", "camera.png",
                "hubble_deep_field.jpg", "retina.jpg", "earth.jpg")
TEST_PHOTOS = ("chelsea.png", "rocket.jpg", "gravel.png", "night.jpg")


def photo_dirs() -> list[Path]:
    """Folders with the background photos: scikit-image's bundled data and xplanet-images."""
    out = []
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.submodule_search_locations:
        out.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    out.append(Path("/usr/share/xplanet/images"))
    return [d for d in out if d.is_dir()]


def load_backgrounds(names: tuple[str, ...]) -> list[torch.Tensor]:
    """The named photos as uint8 1×H×W tensors (those found)."""
    from pictorch.data.decode import load_image

    found = []
    for d in photo_dirs():
        for n in names:
            if (d / n).is_file():
                found.append(load_image(d / n, mode="L"))
    if not found:
        raise DataError("cluttered Fashion-MNIST needs background photos: pip install scikit-image (its wheel "
                        "ships them) or apt-get install xplanet-images")
    return found


def fashion_clutter(n: int, split: str = "train", size: int = 64, max_items: int = 3, seed: int = 0,
                    data_dir: str | None = None):
    """``n`` cluttered scenes as a :class:`~pictorch.tasks.segment.data.SegSet` (11 classes).

    Args:
        n: Scenes.
        split: ``train`` (Fashion-MNIST train images, training photos) or ``test`` (test images, test photos).
        size: Scene side.
        max_items: Items per scene: 1..max_items.
        seed: Random seed (same arguments, same scenes).
        data_dir: Fashion-MNIST folder (default: the usual search).
    """
    from pictorch.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
    from pictorch.tasks.segment.data import SegSet

    fm = load_fashion_mnist("train" if split == "train" else "test", data_dir=data_dir)
    bgs = load_backgrounds(TRAIN_PHOTOS if split == "train" else TEST_PHOTOS)
    g = torch.Generator().manual_seed(int(seed) * 7919 + (0 if split == "train" else 1))
    images, masks = [], []
    for _ in range(n):
        bg = bgs[int(torch.randint(len(bgs), (1,), generator=g))]
        h, w = int(bg.shape[-2]), int(bg.shape[-1])
        side = int(torch.randint(min(size, h, w), max(min(size, h, w) + 1, min(h, w) // 2), (1,), generator=g))
        y = int(torch.randint(0, h - side + 1, (1,), generator=g))
        x = int(torch.randint(0, w - side + 1, (1,), generator=g))
        crop = bg[:, y:y + side, x:x + side].float().unsqueeze(0)
        scene = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
        mask = torch.zeros(size, size, dtype=torch.uint8)
        for _ in range(int(torch.randint(1, max_items + 1, (1,), generator=g))):
            i = int(torch.randint(len(fm), (1,), generator=g))
            s = int(torch.randint(22, 45, (1,), generator=g))
            item = F.interpolate(fm.images[i:i + 1].float(), size=(s, s), mode="bilinear", align_corners=False)[0]
            oy = int(torch.randint(-s // 4, size - 3 * s // 4, (1,), generator=g))
            ox = int(torch.randint(-s // 4, size - 3 * s // 4, (1,), generator=g))
            ys, xs = slice(max(oy, 0), min(oy + s, size)), slice(max(ox, 0), min(ox + s, size))
            part = item[:, ys.start - oy:ys.stop - oy, xs.start - ox:xs.stop - ox]
            on = part[0] > ALPHA
            scene[:, ys, xs] = torch.where(on, part, scene[:, ys, xs])
            mask[ys, xs] = torch.where(on, torch.tensor(int(fm.labels[i]) + 1, dtype=torch.uint8), mask[ys, xs])
        images.append(scene.round().clamp(0, 255).to(torch.uint8))
        masks.append(mask)
    return SegSet(images, masks, ["background", *FASHION_MNIST_CLASSES], [f"clutter {split} {k}" for k in range(n)],
                  mask_format="fashion-clutter (exact)")
