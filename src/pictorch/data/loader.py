"""In-memory batching of uint8 image tensors, with reproducible shuffling, sharding and exact resume.

No worker processes and no per-image Python work: a batch is one ``index_select`` on the stored tensors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from pictorch.errors import DataError

Stat = float | Sequence[float] | torch.Tensor


class TensorLoader:
    """Iterate dict batches over tensors held in memory.

    Each batch is ``{"image": uint8 B×C×H×W, "label": int64 B (if labels), "index": int64 B, **extras}``
    where ``index`` is the dataset index of each item and every extra tensor is indexed the same way.

    Shuffling uses a ``torch.Generator`` seeded from ``(seed, epoch)``, so an epoch's order depends only on
    those two numbers. After a full pass the loader moves to the next epoch by itself; :meth:`set_epoch`
    jumps to any epoch. :meth:`state_dict` records ``{epoch, position}`` (batches already yielded this epoch)
    and :meth:`load_state_dict` resumes at exactly the next batch.

    Args:
        images: uint8 tensor N×C×H×W, or an :class:`~pictorch.data.ImageSet` (its labels are used when
            ``labels`` is None).
        labels: int64 tensor N, or None.
        batch_size: Items per batch (ignored with ``batch_sampler``).
        shuffle: Draw a new permutation each epoch (ignored with ``batch_sampler``).
        drop_last: Drop the last incomplete batch.
        seed: Base seed of the shuffling.
        batch_sampler: Iterable of index lists (e.g. :class:`~pictorch.data.samplers.PKSampler`) that replaces
            batching and shuffling; its ``set_epoch`` is called each epoch when it has one.
        extras: More tensors with first dimension N to batch alongside (masks, targets, ...).

    Raises:
        DataError: On size mismatches, or when ``drop_last`` leaves no batch at all.
    """

    def __init__(
        self,
        images: Any,
        labels: torch.Tensor | None = None,
        batch_size: int = 64,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        batch_sampler: Any = None,
        extras: Mapping[str, torch.Tensor] | None = None,
    ):
        if not isinstance(images, torch.Tensor) and hasattr(images, "images"):
            if labels is None:
                labels = images.labels
            images = images.images
        if not isinstance(images, torch.Tensor) or images.dim() < 1:
            raise DataError("TensorLoader needs an image tensor N×C×H×W or an ImageSet")
        n = images.shape[0]
        if labels is not None:
            labels = torch.as_tensor(labels)
            if labels.shape[0] != n:
                raise DataError(f"TensorLoader: {n} images but {labels.shape[0]} labels")
            labels = labels.to(torch.int64)
        self.extras: dict[str, torch.Tensor] = {}
        for key, t in (extras or {}).items():
            if key in ("image", "label", "index"):
                raise DataError(f"TensorLoader extra {key!r} clashes with a built-in batch key")
            if t.shape[0] != n:
                raise DataError(f"TensorLoader extra {key!r} has {t.shape[0]} rows, expected {n}")
            self.extras[key] = t
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        self.images = images
        self.labels = labels
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.batch_sampler = batch_sampler
        self.rank, self.world = 0, 1
        self.epoch = 0
        self.position = 0
        self._check_nonempty()

    def __len__(self) -> int:
        """Batches per epoch (for this shard)."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler) // self.world
        m = self._items_per_shard()
        return m // self.batch_size if self.drop_last else math.ceil(m / self.batch_size)

    @property
    def num_items(self) -> int:
        """Number of stored items N."""
        return int(self.images.shape[0])

    def _items_per_shard(self) -> int:
        return self.num_items // self.world

    def _check_nonempty(self) -> None:
        if len(self) == 0:
            m = self._items_per_shard()
            if self.batch_sampler is not None:
                raise DataError("the batch sampler yields no batches for this shard")
            raise DataError(
                f"{m} images per {'shard' if self.world > 1 else 'epoch'} is fewer than batch_size="
                f"{self.batch_size}, so no full batch can be made; lower the batch size or add images"
            )

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first batch (its order depends only on seed and epoch)."""
        self.epoch = int(epoch)
        self.position = 0

    def shard(self, rank: int, world: int) -> TensorLoader:
        """Restrict this loader to rank ``rank`` of ``world`` (in place; returns self).

        Each epoch, the ranks get disjoint, equal-size slices of the same permutation (the last
        ``N % world`` items of the permutation are left out that epoch). With a batch sampler, ranks take
        disjoint batches (``i % world == rank``).
        """
        if world < 1 or not 0 <= rank < world:
            raise DataError(f"invalid shard rank={rank} world={world}")
        self.rank, self.world = int(rank), int(world)
        self._check_nonempty()
        return self

    def to(self, device: torch.device | str) -> TensorLoader:
        """Move the stored tensors to ``device`` once, so batches are sliced on-device (returns self)."""
        self.images = self.images.to(device)
        if self.labels is not None:
            self.labels = self.labels.to(device)
        self.extras = {k: v.to(device) for k, v in self.extras.items()}
        return self

    @property
    def device(self) -> torch.device:
        """Device of the stored tensors."""
        return self.images.device

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "position"}``: enough to resume at exactly the next batch."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Resume from :meth:`state_dict`: the next batch is the one that followed the saved point."""
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])

    def epoch_batches(self, epoch: int) -> list[torch.Tensor]:
        """Index tensors (CPU int64) of all batches of ``epoch`` for this shard."""
        if self.batch_sampler is not None:
            if hasattr(self.batch_sampler, "set_epoch"):
                self.batch_sampler.set_epoch(epoch)
            batches = [torch.as_tensor(list(b), dtype=torch.int64) for b in self.batch_sampler]
            usable = (len(batches) // self.world) * self.world
            return batches[:usable][self.rank :: self.world]
        n = self.num_items
        if self.shuffle:
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % (2**63))
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        m = self._items_per_shard()
        if self.world > 1:
            order = order[: m * self.world][self.rank :: self.world]
        bs = self.batch_size
        stop = (m // bs) * bs if self.drop_last else m
        return [order[i : min(i + bs, m)] for i in range(0, stop, bs)]

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The batch dict for dataset indices ``idx``."""
        idx = idx.to(self.images.device)
        out = {"image": self.images.index_select(0, idx), "index": idx}
        if self.labels is not None:
            out["label"] = self.labels.index_select(0, idx)
        for k, v in self.extras.items():
            out[k] = v.index_select(0, idx)
        return out

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        batches = self.epoch_batches(self.epoch)
        while self.position < len(batches):
            idx = batches[self.position]
            self.position += 1
            yield self.batch(idx)
        self.epoch += 1
        self.position = 0


def _stat(v: Stat, x: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(v, dtype=torch.float32, device=x.device).flatten()
    if t.numel() not in (1, x.shape[-3]):
        raise DataError(f"mean/std have {t.numel()} values but the images have {x.shape[-3]} channels")
    return t.view(-1, 1, 1)


def to_float(x: torch.Tensor, mean: Stat = 0.0, std: Stat = 1.0) -> torch.Tensor:
    """uint8 images (…×C×H×W) -> float32 ``(x / 255 - mean) / std``.

    Args:
        x: uint8 tensor; a floating tensor is taken to be in [0, 1] already.
        mean: Per-channel means (a scalar or C values) in [0, 1] units.
        std: Per-channel standard deviations (a scalar or C values).
    """
    xf = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return (xf - _stat(mean, xf)) / _stat(std, xf)


def denormalize(x: torch.Tensor, mean: Stat = 0.0, std: Stat = 1.0) -> torch.Tensor:
    """Undo :func:`to_float`: float ``x * std + mean`` clamped to [0, 1]."""
    return (x.float() * _stat(std, x) + _stat(mean, x)).clamp(0, 1)


def to_uint8(x: torch.Tensor, mean: Stat = 0.0, std: Stat = 1.0) -> torch.Tensor:
    """Undo :func:`to_float` all the way to uint8 (rounded), e.g. to save pictures."""
    return (denormalize(x, mean, std) * 255).round().to(torch.uint8)
