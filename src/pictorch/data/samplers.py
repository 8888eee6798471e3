"""Batch samplers: :class:`PKSampler` for metric learning (P identities × K images per batch)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from pictorch.errors import DataError


class PKSampler:
    """Yield index lists of ``p`` distinct identities × ``k`` images each (a ``batch_sampler``).

    Identities are drawn uniformly without replacement within a batch. Inside an identity, ``k`` images are
    drawn without replacement; an identity with fewer than ``k`` images contributes all of them and the rest
    is filled by drawing from them again (with replacement).

    Identities with a single image cannot form a positive pair, so they are never drawn as one of the P
    identities (their image would just be repeated K times). They stay in the dataset (e.g. as gallery
    distractors at evaluation time) but never appear in PK batches.

    Args:
        labels: Identity label of every item (int tensor or sequence), indexed like the dataset.
        p: Identities per batch.
        k: Images per identity (>= 2 for positives to exist).
        seed: Base seed; batches of epoch ``e`` depend only on ``(seed, e)``.
        batches_per_epoch: Batches per epoch; default ``len(usable items) // (p * k)`` (at least 1).

    Raises:
        DataError: If fewer than 2 identities have two or more images, or fewer than ``p`` do.
    """

    def __init__(
        self,
        labels: torch.Tensor | Sequence[int],
        p: int,
        k: int,
        seed: int = 0,
        batches_per_epoch: int | None = None,
    ):
        labels_t = torch.as_tensor(labels).flatten().to(torch.int64).cpu()
        if p < 1 or k < 1:
            raise DataError(f"PKSampler needs p >= 1 and k >= 1, got p={p}, k={k}")
        uniq, counts = torch.unique(labels_t, return_counts=True)
        usable = uniq[counts >= 2]
        if len(usable) < 2:
            raise DataError(
                f"PK sampling needs at least 2 identities with 2 or more images each; found {len(usable)} "
                f"(of {len(uniq)} identities). Add more images per identity."
            )
        if len(usable) < p:
            raise DataError(
                f"PK sampling with P={p} identities per batch, but only {len(usable)} identities have 2 or "
                f"more images; lower P to at most {len(usable)}"
            )
        order = torch.argsort(labels_t, stable=True)
        sorted_labels = labels_t[order]
        self._members: list[torch.Tensor] = []
        for c in usable.tolist():
            lo = int(torch.searchsorted(sorted_labels, c))
            hi = int(torch.searchsorted(sorted_labels, c, right=True))
            self._members.append(order[lo:hi])
        self.labels = labels_t
        self.p, self.k, self.seed = int(p), int(k), int(seed)
        self.num_identities = len(self._members)
        usable_items = sum(len(m) for m in self._members)
        self.batches_per_epoch = int(batches_per_epoch or max(1, usable_items // (self.p * self.k)))
        self.epoch = 0

    @property
    def batch_size(self) -> int:
        """Items per batch, ``p * k``."""
        return self.p * self.k

    def set_epoch(self, epoch: int) -> None:
        """Select the (reproducible) batches of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % (2**63))
        for _ in range(self.batches_per_epoch):
            ids = torch.randperm(self.num_identities, generator=g)[: self.p].tolist()
            batch: list[int] = []
            for i in ids:
                members = self._members[i]
                m = len(members)
                if m >= self.k:
                    pick = members[torch.randperm(m, generator=g)[: self.k]]
                else:
                    extra = torch.randint(m, (self.k - m,), generator=g)
                    pick = torch.cat([members[torch.randperm(m, generator=g)], members[extra]])
                batch.extend(pick.tolist())
            yield batch
