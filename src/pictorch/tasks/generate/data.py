"""Training images for the GAN task: Fashion-MNIST or an image folder, in memory as uint8, sized once.

Reading, decoding and batching come from :mod:`pictorch.data`; this module only picks the source named by
``--data``, fits size/channels once, and maps pixels to the generator's [-1, 1] range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from pictorch.errors import DataError

FASHION_NAMES = ("fashion-mnist", "fashion_mnist", "fmnist")


@dataclass
class Images:
    """In-memory images (uint8 N×C×H×W), integer labels (or None) and class names."""

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def fit_images(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """Resize (antialiased bilinear) and adapt channels (1↔3) of a uint8 batch, once, in memory."""
    x = images
    if channels and x.shape[1] != channels:
        if channels == 3 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif channels == 1 and x.shape[1] in (3, 4):
            x = (x[:, :3].float() * torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
            x = x.round().clamp(0, 255).to(torch.uint8)
        else:
            raise DataError(f"cannot turn {x.shape[1]}-channel images into {channels} channels")
    if x.shape[-1] != size or x.shape[-2] != size:
        out = []
        for chunk in x.split(4096):
            out.append(F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True,
                                     align_corners=False).round().clamp(0, 255).to(torch.uint8))
        x = torch.cat(out)
    return x.contiguous()


def load_training_images(data: str, image_size: int, channels: int = 0, data_dir: str | None = None,
                         split: str = "train", limit: int = 0) -> Images:
    """The data named by ``--data`` (fashion-mnist or a folder), resized to ``image_size`` with ``channels``.

    A folder with class sub-folders gives labels; a flat folder of images gives an unlabelled set.
    """
    from pictorch.data.resolve import resolve

    def folder(path: str, **_: object) -> object:
        from pictorch.data.sources import load_flat_folder, load_image_folder

        root = Path(path)
        if not root.is_dir():
            raise DataError(f"{data}: not a folder and not a known dataset; use --data fashion-mnist or a folder "
                            "of images (class sub-folders for conditional GANs)")
        mode = "L" if channels == 1 else "RGB"
        has_sub = any(p.is_dir() for p in root.iterdir())
        return (load_image_folder(root, size=(image_size, image_size), mode=mode) if has_sub
                else load_flat_folder(root, size=(image_size, image_size), mode=mode))

    ds = resolve(data, folder=folder, split=split, data_dir=data_dir)  # fashion-mnist, synthetic, ... or a folder
    images, labels = ds.images, ds.labels
    if limit and limit < images.shape[0]:
        idx = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))[:limit]
        images, labels = images[idx], None if labels is None else labels[idx]
    classes = list(ds.classes) if labels is not None else []
    return Images(fit_images(images, image_size, channels), labels, classes)


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (what a tanh generator produces); floats pass through."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x.float()


def make_loader(images: torch.Tensor, labels: torch.Tensor | None, batch_size: int, seed: int = 0):
    """A shuffled in-memory :class:`~pictorch.data.loader.TensorLoader` with a GAN-specific size message."""
    from pictorch.data.loader import TensorLoader

    if images.shape[0] < batch_size:
        raise DataError(f"only {images.shape[0]} training samples for batches of {batch_size}; lower --batch-size "
                        "(a step draws --batch-size × --d-steps real samples)")
    return TensorLoader(images, labels, batch_size=batch_size, shuffle=True, drop_last=True, seed=seed)
