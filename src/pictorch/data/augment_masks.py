"""Joint image + mask augmentation, batched on tensors: flips, 90° turns, rotation, scale, crop, elastic.

Every geometric change is one sampling grid per image, applied to the image with bilinear interpolation
and to its mask with **nearest** sampling only (a mask is never blended: class 3 next to class 1 must not
become class 2), so the pair stays aligned pixel for pixel. Areas pulled in from outside the image are
mirrored (``reflection`` padding) in both, which keeps every mask value a real class. Flips and 90° turns
are exact index shuffles, not resampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import ConfigError


class JointAugment(nn.Module):
    """Random geometric augmentation of (image, mask) batches; identity in eval mode.

    Args:
        hflip: Probability of a horizontal flip.
        vflip: Probability of a vertical flip.
        rot90: Probability of a random quarter turn (square inputs only; skipped otherwise).
        rotate: Largest rotation in degrees (uniform in ±rotate).
        scale: Zoom range: a factor uniform in ``[1 - scale, 1 + scale]``.
        crop: Smallest kept area share of a random crop resized back to full size (0: off; e.g. 0.5).
        elastic: Elastic deformation strength in pixels (0: off; Simard et al.'s smooth random field).
        elastic_cells: Coarseness of the elastic field: control points per side.
    """

    def __init__(self, hflip: float = 0.5, vflip: float = 0.0, rot90: float = 0.0, rotate: float = 0.0,
                 scale: float = 0.0, crop: float = 0.0, elastic: float = 0.0, elastic_cells: int = 4):
        super().__init__()
        for name, p in (("hflip", hflip), ("vflip", vflip), ("rot90", rot90)):
            if not 0 <= p <= 1:
                raise ConfigError(f"augment {name} is a probability in [0, 1], got {p}")
        if not 0 <= scale < 1:
            raise ConfigError(f"augment scale must be in [0, 1), got {scale}")
        if not (crop == 0 or 0 < crop <= 1):
            raise ConfigError(f"augment crop is the smallest kept area share in (0, 1], got {crop}")
        if rotate < 0 or elastic < 0 or elastic_cells < 2:
            raise ConfigError("augment rotate and elastic must be >= 0, elastic_cells >= 2")
        self.hflip, self.vflip, self.rot90 = float(hflip), float(vflip), float(rot90)
        self.rotate, self.scale, self.crop = float(rotate), float(scale), float(crop)
        self.elastic, self.elastic_cells = float(elastic), int(elastic_cells)

    @property
    def resamples(self) -> bool:
        """Whether a sampling grid is needed (anything beyond flips and quarter turns)."""
        return bool(self.rotate or self.scale or self.crop or self.elastic)

    def forward(self, images: torch.Tensor, masks: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment a batch.

        Args:
            images: Float B×C×H×W.
            masks: Integer B×H×W (class indices; any ignore value is carried along like a class).
            generator: Random source (default: torch's global one).

        Returns:
            The augmented ``(images, masks)``, same shapes and dtypes.
        """
        if not self.training:
            return images, masks
        if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
            raise ConfigError(f"images {tuple(images.shape)} and masks {tuple(masks.shape)} do not match")
        b, _, h, w = images.shape
        dev = images.device

        def coin(p: float) -> torch.Tensor:
            return torch.rand(b, generator=generator).to(dev) < p

        if self.hflip:
            sel = coin(self.hflip)
            images = torch.where(sel.view(b, 1, 1, 1), images.flip(-1), images)
            masks = torch.where(sel.view(b, 1, 1), masks.flip(-1), masks)
        if self.vflip:
            sel = coin(self.vflip)
            images = torch.where(sel.view(b, 1, 1, 1), images.flip(-2), images)
            masks = torch.where(sel.view(b, 1, 1), masks.flip(-2), masks)
        if self.rot90 and h == w:
            turns = torch.randint(0, 4, (b,), generator=generator).tolist()
            do = (torch.rand(b, generator=generator) < self.rot90).tolist()
            images = torch.stack([torch.rot90(im, t, (-2, -1)) if d else im
                                  for im, t, d in zip(images, turns, do, strict=True)])
            masks = torch.stack([torch.rot90(m, t, (-2, -1)) if d else m
                                 for m, t, d in zip(masks, turns, do, strict=True)])
        if not self.resamples:
            return images, masks
        grid = self.sampling_grid(b, h, w, generator).to(dev)
        out = F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="reflection",
                            align_corners=False)
        m = F.grid_sample(masks.unsqueeze(1).float(), grid.float(), mode="nearest", padding_mode="reflection",
                          align_corners=False)
        return out, m[:, 0].round().to(masks.dtype)

    def sampling_grid(self, b: int, h: int, w: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """B×H×W×2 sampling positions in [-1, 1] (``grid_sample``'s convention)."""
        def uniform(lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(b, generator=generator)

        angle = uniform(-self.rotate, self.rotate) * math.pi / 180
        zoom = uniform(1 - self.scale, 1 + self.scale) if self.scale else torch.ones(b)
        side = torch.ones(b)
        tx, ty = torch.zeros(b), torch.zeros(b)
        if self.crop:
            side = uniform(self.crop, 1.0).sqrt()  # the crop's side as a share of the image's
            tx, ty = uniform(-1, 1) * (1 - side), uniform(-1, 1) * (1 - side)
        s = side / zoom
        cos, sin = torch.cos(angle) * s, torch.sin(angle) * s
        # rotation in pixel space (aspect-correct): x' = cos·x - sin·(h/w)·y, y' = sin·(w/h)·x + cos·y
        theta = torch.stack([torch.stack([cos, -sin * h / w, tx], 1), torch.stack([sin * w / h, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
        if self.elastic:
            c = self.elastic_cells
            field = torch.randn(b, 2, c, c, generator=generator)
            field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=False)
            # pixels -> normalized units: 2/w across, 2/h down
            field = field * self.elastic * torch.tensor([2 / w, 2 / h]).view(1, 2, 1, 1)
            grid = grid + field.permute(0, 2, 3, 1)
        return grid


def parse_joint_augment(spec: str | None) -> dict[str, float]:
    """A preset (``none``, ``light``, ``medium``, ``strong``) or ``key=value,...`` -> JointAugment kwargs."""
    presets = {
        "none": {"hflip": 0.0},
        "light": {"hflip": 0.5, "vflip": 0.5},
        "medium": {"hflip": 0.5, "vflip": 0.5, "rot90": 0.5, "rotate": 15.0, "scale": 0.15},
        "strong": {"hflip": 0.5, "vflip": 0.5, "rot90": 0.5, "rotate": 30.0, "scale": 0.25, "crop": 0.5,
                   "elastic": 4.0},
    }
    from pictorch.data.augment import parse_augment_spec

    known = {"hflip", "vflip", "rot90", "rotate", "scale", "crop", "elastic", "elastic_cells"}
    return parse_augment_spec(spec, presets, known, int_keys=("elastic_cells",))
