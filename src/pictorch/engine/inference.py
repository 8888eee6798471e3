"""What every loaded model's answers share: NaN or Inf is never an answer.

A model whose weights were damaged, or whose training diverged before its last checkpoint, can answer NaN for
every input; printed as "coffee nan, rocket nan" with exit 0 it looks like a result. Each task's inference
passes its outputs through :func:`ensure_finite` before anyone sees them.
"""

from __future__ import annotations

from typing import Any

from pictorch.errors import CheckpointError


def ensure_finite(values: Any, what: str = "the model", source: Any = None) -> Any:
    """Return ``values`` (a tensor) unchanged when every element is finite; raise otherwise.

    Args:
        values: The model's outputs (scores, embeddings, images).
        what: What produced them, for the message.
        source: The checkpoint or file they came from, named in the message.

    Raises:
        CheckpointError: One line saying how many outputs were NaN/Inf and what to do.
    """
    import torch

    t = values if isinstance(values, torch.Tensor) else torch.as_tensor(values)
    if t.numel() == 0 or (t.is_floating_point() and bool(torch.isfinite(t).all())) or not t.is_floating_point():
        return values
    rows = t.reshape(t.shape[0], -1) if t.dim() > 1 else t.reshape(-1, 1)
    bad = int((~torch.isfinite(rows)).any(1).sum())
    where = f" ({source})" if source is not None else ""
    raise CheckpointError(f"{what}{where} answered NaN/Inf for {bad} of {rows.shape[0]} inputs: its weights are "
                          "damaged or its training diverged; restore the checkpoint or retrain")
