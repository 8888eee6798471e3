"""The in-memory dataset type every pictorch source returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from pictorch.errors import DataError


@dataclass
class ImageSet:
    """Images held in memory as one uint8 tensor, with optional labels, paths and per-pixel masks.

    Attributes:
        images: uint8 tensor N×C×H×W.
        labels: int64 tensor N with values in ``[0, len(classes))``, or None for unlabelled data.
        classes: Class names; ``classes[label]`` names a label. Empty for unlabelled data.
        paths: Source file of each image (same order), or None for generated data.
        masks: uint8 tensor N×H×W (0 = background, ``c + 1`` = pixel of class ``c``), or None.

    Raises:
        DataError: On a dtype or shape mismatch between the fields.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    classes: list[str] = field(default_factory=list)
    paths: list[str] | None = None
    masks: torch.Tensor | None = None

    def __post_init__(self) -> None:
        imgs = self.images
        if not isinstance(imgs, torch.Tensor) or imgs.dtype != torch.uint8 or imgs.dim() != 4:
            got = f"{imgs.dtype} {tuple(imgs.shape)}" if isinstance(imgs, torch.Tensor) else type(imgs).__name__
            raise DataError(f"ImageSet.images must be a uint8 tensor N×C×H×W, got {got}")
        n = imgs.shape[0]
        self.classes = list(self.classes)
        if self.labels is not None:
            lab = self.labels
            if not isinstance(lab, torch.Tensor) or lab.dtype != torch.int64 or lab.dim() != 1:
                got = f"{lab.dtype} {tuple(lab.shape)}" if isinstance(lab, torch.Tensor) else type(lab).__name__
                raise DataError(f"ImageSet.labels must be an int64 tensor of shape (N,), got {got}")
            if lab.shape[0] != n:
                raise DataError(f"ImageSet has {n} images but {lab.shape[0]} labels")
            if n and self.classes:
                lo, hi = int(lab.min()), int(lab.max())
                if lo < 0 or hi >= len(self.classes):
                    raise DataError(
                        f"ImageSet labels span [{lo}, {hi}] but there are {len(self.classes)} classes"
                    )
        if self.paths is not None:
            self.paths = [str(p) for p in self.paths]
            if len(self.paths) != n:
                raise DataError(f"ImageSet has {n} images but {len(self.paths)} paths")
        if self.masks is not None:
            m = self.masks
            if not isinstance(m, torch.Tensor) or m.dtype != torch.uint8 or m.dim() != 3:
                got = f"{m.dtype} {tuple(m.shape)}" if isinstance(m, torch.Tensor) else type(m).__name__
                raise DataError(f"ImageSet.masks must be a uint8 tensor N×H×W, got {got}")
            if tuple(m.shape) != (n, *imgs.shape[2:]):
                raise DataError(
                    f"ImageSet.masks shape {tuple(m.shape)} does not match images {tuple(imgs.shape)}"
                )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_channels(self) -> int:
        """Number of channels C (1 = grayscale, 3 = RGB)."""
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """Image height and width (H, W)."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    @property
    def num_classes(self) -> int:
        """Number of class names."""
        return len(self.classes)

    def subset(self, idx: torch.Tensor | Sequence[int]) -> ImageSet:
        """A new ImageSet with the items at ``idx`` (indices or a boolean mask), in that order."""
        idx_t = torch.as_tensor(idx)
        if idx_t.dtype == torch.bool:
            idx_t = idx_t.nonzero().flatten()
        idx_t = idx_t.to(torch.int64).flatten()
        return ImageSet(
            images=self.images[idx_t],
            labels=None if self.labels is None else self.labels[idx_t],
            classes=list(self.classes),
            paths=None if self.paths is None else [self.paths[i] for i in idx_t.tolist()],
            masks=None if self.masks is None else self.masks[idx_t],
        )

    def filter_classes(self, keep: Sequence[int], relabel: bool = True) -> ImageSet:
        """Keep only the items whose label is in ``keep``.

        Args:
            keep: Class indices to keep.
            relabel: If True, labels become ``0..len(keep)-1`` in the order of ``keep`` and ``classes``
                shrinks to the kept names; if False, labels and classes are unchanged.

        Raises:
            DataError: If the set has no labels or ``keep`` names an unknown class.
        """
        if self.labels is None:
            raise DataError("filter_classes needs a labelled ImageSet")
        keep = [int(k) for k in keep]
        bad = [k for k in keep if not 0 <= k < len(self.classes)]
        if bad:
            raise DataError(f"filter_classes: unknown class indices {bad} (there are {len(self.classes)})")
        keep_t = torch.tensor(keep, dtype=torch.int64)
        sel = torch.isin(self.labels, keep_t)
        out = self.subset(sel)
        if relabel:
            table = torch.full((max(len(self.classes), 1),), -1, dtype=torch.int64)
            table[keep_t] = torch.arange(len(keep), dtype=torch.int64)
            out.labels = table[out.labels]
            out.classes = [self.classes[k] for k in keep]
            if out.masks is not None:
                mtable = torch.zeros(len(self.classes) + 1, dtype=torch.uint8)
                mtable[keep_t + 1] = torch.arange(1, len(keep) + 1, dtype=torch.uint8)
                out.masks = mtable[out.masks.long()]
        return out

    def split(self, fraction: float = 0.1, seed: int = 0) -> tuple[ImageSet, ImageSet]:
        """Split into (rest, held_out) with about ``fraction`` of the items held out.

        With labels the split is stratified: each class contributes ``round(fraction * count)`` items
        (at least one when the class has two or more), so small classes are represented on both sides.

        Args:
            fraction: Share of items in the second (held-out) set, in (0, 1).
            seed: Seed of the random assignment; the same seed gives the same split.

        Raises:
            DataError: If ``fraction`` is not in (0, 1).
        """
        if not 0.0 < fraction < 1.0:
            raise DataError(f"split fraction must be between 0 and 1, got {fraction}")
        g = torch.Generator().manual_seed(int(seed))
        n = len(self)
        if self.labels is None:
            perm = torch.randperm(n, generator=g)
            n_out = min(max(int(round(fraction * n)), 1 if n > 1 else 0), max(n - 1, 0))
            held, rest = perm[:n_out], perm[n_out:]
        else:
            held_parts, rest_parts = [], []
            for c in torch.unique(self.labels).tolist():
                members = (self.labels == c).nonzero().flatten()
                members = members[torch.randperm(len(members), generator=g)]
                m = len(members)
                n_out = int(round(fraction * m))
                if m >= 2:
                    n_out = min(max(n_out, 1), m - 1)
                else:
                    n_out = 0
                held_parts.append(members[:n_out])
                rest_parts.append(members[n_out:])
            held = torch.cat(held_parts).sort().values if held_parts else torch.zeros(0, dtype=torch.int64)
            rest = torch.cat(rest_parts).sort().values if rest_parts else torch.zeros(0, dtype=torch.int64)
        return self.subset(rest), self.subset(held)

    def __repr__(self) -> str:
        lab = "unlabelled" if self.labels is None else f"{len(self.classes)} classes"
        extra = ", masks" if self.masks is not None else ""
        return f"ImageSet({len(self)} images, {self.num_channels}×{self.image_size[0]}×{self.image_size[1]}, {lab}{extra})"
