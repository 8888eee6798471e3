"""Segmentation pictures and reports: mask PNGs, overlays, the confusion-matrix picture, memory profiles.

Masks are written as palette PNGs: the pixel values are the class indices (so the file is a valid training
mask again) and the palette shows each class in its colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pictorch.utils import free_path  # noqa: F401 - re-exported: segment's pictures are numbered as every verb's


def colorize(mask: torch.Tensor, colors: Sequence[Sequence[int]]) -> np.ndarray:
    """uint8 H×W class map → H×W×3 colour picture (255, "not scored", in grey)."""
    lut = np.full((256, 3), 128, dtype=np.uint8)
    for i, c in enumerate(colors[:255]):
        lut[i] = c[:3]
    return lut[mask.cpu().numpy().astype(np.uint8)]


def overlay(image: torch.Tensor, mask: torch.Tensor, colors: Sequence[Sequence[int]], alpha: float = 0.45
            ) -> np.ndarray:
    """The photo with non-background classes tinted in their colours (H×W×3 uint8)."""
    img = image.cpu()
    rgb = (img.expand(3, -1, -1) if img.shape[0] == 1 else img[:3]).permute(1, 2, 0).numpy().astype(np.float32)
    col = colorize(mask, colors).astype(np.float32)
    fg = (mask.cpu().numpy() > 0)[..., None]
    out = np.where(fg, (1 - alpha) * rgb + alpha * col, rgb)
    return out.round().clip(0, 255).astype(np.uint8)


def save_mask_png(mask: torch.Tensor, colors: Sequence[Sequence[int]], path: Path) -> Path:
    """Write a palette PNG whose pixel values are the class indices."""
    from PIL import Image

    from pictorch.utils import atomic_save

    im = Image.fromarray(mask.cpu().numpy().astype(np.uint8), mode="P")
    pal = [128] * 768
    for i, c in enumerate(colors[:255]):
        pal[3 * i:3 * i + 3] = [int(v) for v in c[:3]]
    im.putpalette(pal)
    atomic_save(path, lambda tmp: im.save(tmp, format="PNG"))
    return path


def save_rgb(arr: np.ndarray, path: Path) -> Path:
    from PIL import Image

    from pictorch.utils import atomic_save

    im = Image.fromarray(arr)
    atomic_save(path, lambda tmp: im.save(tmp, format="PNG"))
    return path


def save_overlay_grid(images: Sequence[torch.Tensor], masks: Sequence[torch.Tensor],
                      preds: Sequence[torch.Tensor], colors: Sequence[Sequence[int]], path: Path) -> Path:
    """Rows of (photo, true mask, predicted mask, prediction overlay); images of any sizes (padded)."""
    rows = []
    for im, m, p in zip(images, masks, preds, strict=True):
        photo = overlay(im, torch.zeros_like(p), colors, 0.0)
        rows.append(np.concatenate([photo, colorize(m, colors), colorize(p, colors), overlay(im, p, colors)], 1))
    width = max(r.shape[1] for r in rows)
    pad = 4
    canvas = np.full((sum(r.shape[0] + pad for r in rows), width, 3), 255, dtype=np.uint8)
    y = 0
    for r in rows:
        canvas[y:y + r.shape[0], : r.shape[1]] = r
        y += r.shape[0] + pad
    return save_rgb(canvas, path)


def save_confusion_png(cm: Sequence[Sequence[int]], classes: Sequence[str], path: Path) -> Path:
    """Row-normalized confusion matrix (rows: true class) with the counts written in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pictorch.utils import atomic_save

    m = np.asarray(cm, dtype=np.float64)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * k, 1.0 + 0.6 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), [c[:12] for c in classes], rotation=45, ha="right")
    ax.set_yticks(range(k), [c[:12] for c in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path


def memory_profile(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Bytes a training forward keeps for backward, split encoder / decoder, and the encoder → decoder
    hand-off (U-Net: skip feature maps; SegNet: pooling indices). Counted with autograd's saved-tensor hooks,
    each storage once, so the figures are exact and the same on any machine (peak RSS is neither).

    Args:
        model: A segmentation model (``encode``/``decode``), in train mode.
        x: A normalized input batch.
    """
    from pictorch.nn.decoders import pad_to_multiple

    seen: set[int] = set()
    bucket = {"encoder": 0, "decoder": 0}
    part = ["encoder"]

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        key = st.data_ptr()
        if key not in seen:
            seen.add(key)
            bucket[part[0]] += st.nbytes()
        return t

    def handoff_bytes(state: Any) -> int:
        if isinstance(state, torch.Tensor):
            return state.untyped_storage().nbytes()
        if isinstance(state, list | tuple):
            return sum(handoff_bytes(s) for s in state)
        return 0

    xp, _ = pad_to_multiple(x, model.multiple, min_size=getattr(model, "min_size", 0))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        state = model.encode(xp)
        part[0] = "decoder"
        out = model.decode(state, tuple(xp.shape[-2:]))
    # the hand-off without the deepest map (SegNet's pooled output, U-Net's bottleneck), which both decoders
    # start from: what remains is what each design keeps extra for its decoder
    if isinstance(state, tuple):  # SegNet: (pooled, indices, sizes)
        extra = handoff_bytes(state[1])
    else:
        extra = handoff_bytes(state[:-1])
    del out
    return {"saved_total": bucket["encoder"] + bucket["decoder"], "saved_encoder": bucket["encoder"],
            "saved_decoder": bucket["decoder"], "handoff": extra}


def count_params(model: nn.Module) -> dict[str, int]:
    enc = sum(p.numel() for p in model.encoder.parameters()) if hasattr(model, "encoder") else 0
    total = sum(p.numel() for p in model.parameters())
    return {"params": total, "encoder_params": enc, "decoder_params": total - enc}
