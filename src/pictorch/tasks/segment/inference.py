"""A loaded segmenter: whole-image or overlap-tile inference on images of any size.

Whole-image inference pads to the network's multiple and crops back (inside the model). Images too large
for memory go through **overlap-tile** inference: windows of ``tile`` pixels stepping by ``tile - overlap``
(the last one flush with the edge), each window's class probabilities weighted by a ramp that falls
towards the window's borders (where the convolutions saw padding rather than context) and the weighted
sum divided by the summed weights. Where one window covers the whole image the result *is* whole-image
inference; for a network whose receptive field fits inside the overlap the two agree everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pictorch.engine.inference import Predictor
from pictorch.errors import ConfigError

#: Above this many pixels, ``tile="auto"`` switches from whole-image to tiled inference (a 2048² image
#: through a width-64 U-Net needs ~4 GB of float32 activations at its first level alone).
AUTO_TILE_PIXELS = 1536 * 1536
AUTO_TILE = 512
AUTO_OVERLAP = 64


def _positions(n: int, tile: int, step: int) -> list[int]:
    if n <= tile:
        return [0]
    pos = list(range(0, n - tile, step))
    pos.append(n - tile)
    return sorted(set(pos))


def ramp(n: int, overlap: int, device: torch.device | None = None) -> torch.Tensor:
    """1-D window weight: rises linearly over ``overlap`` pixels from each border, 1 in the middle; never 0
    (a pixel covered by one window only keeps that window's value)."""
    i = torch.arange(n, dtype=torch.float32, device=device)
    if overlap <= 0:
        return torch.ones(n, device=device)
    d = torch.minimum(i + 0.5, n - i - 0.5)
    return (d / (overlap / 2)).clamp(1e-3, 1.0)


@torch.no_grad()
def probabilities(model: nn.Module, x: torch.Tensor, binary: bool, tile: int | None = None,
                  overlap: int = AUTO_OVERLAP) -> torch.Tensor:
    """Class probabilities B×K×H×W (binary: K = 2, background and foreground) of a normalized batch.

    Args:
        model: A segmentation model (any input size).
        x: Float B×C×H×W, normalized as the model was trained.
        binary: The model has one sigmoid output.
        tile: Window side (None: the whole image in one pass).
        overlap: Pixels shared by neighbouring windows.
    """
    def run(inp: torch.Tensor) -> torch.Tensor:
        logits = model(inp).float()
        if binary:
            p = torch.sigmoid(logits[:, :1])
            return torch.cat([1 - p, p], 1)
        return logits.softmax(1)

    b, _, h, w = x.shape
    if tile is None or (h <= tile and w <= tile):
        return run(x)
    if overlap >= tile:
        raise ConfigError(f"--overlap {overlap} must be smaller than --tile {tile}")
    step = tile - overlap
    acc = None
    wsum = torch.zeros(1, 1, h, w, device=x.device)
    th, tw = min(tile, h), min(tile, w)
    weight = (ramp(th, overlap if h > tile else 0, x.device)[:, None]
              * ramp(tw, overlap if w > tile else 0, x.device)[None, :])[None, None]
    for y in _positions(h, tile, step):
        for x0 in _positions(w, tile, step):
            p = run(x[:, :, y:y + th, x0:x0 + tw])
            if acc is None:
                acc = torch.zeros(b, p.shape[1], h, w, device=x.device)
            acc[:, :, y:y + th, x0:x0 + tw] += p * weight
            wsum[:, :, y:y + th, x0:x0 + tw] += weight
    return acc / wsum


def resolve_tile(tile: int | str | None, h: int, w: int) -> int | None:
    """``"auto"``: whole image up to :data:`AUTO_TILE_PIXELS`, else :data:`AUTO_TILE`; 0/None: whole."""
    if tile in (None, 0, "0", "none"):
        return None
    if tile == "auto":
        return AUTO_TILE if h * w > AUTO_TILE_PIXELS else None
    t = int(tile)
    if t < 16:
        raise ConfigError(f"--tile must be at least 16 pixels (or auto / 0), got {tile}")
    return t


@torch.no_grad()
def predict_masks(model: nn.Module, images: Sequence[torch.Tensor], mean: Sequence[float], std: Sequence[float],
                  binary: bool, threshold: float = 0.5, device: torch.device | str = "cpu",
                  tile: int | str | None = "auto", overlap: int = AUTO_OVERLAP) -> list[torch.Tensor]:
    """Class maps (uint8 H×W, on the CPU) for uint8 C×H×W images of any sizes, one at a time."""
    from pictorch.data.loader import to_float

    was = model.training
    model.eval()
    out = []
    try:
        for im in images:
            x = to_float(im.unsqueeze(0).to(device), list(mean), list(std))
            t = resolve_tile(tile, int(im.shape[-2]), int(im.shape[-1]))
            p = probabilities(model, x, binary, t, overlap)
            pred = (p[0, 1] > threshold) if binary else p[0].argmax(0)
            out.append(pred.to(torch.uint8).cpu())
    finally:
        model.train(was)
    return out


class Segmenter(Predictor):
    """A trained segmentation model with its input record: ``predict`` on uint8 images of any size.

    A :class:`~pictorch.engine.inference.Predictor` whose record says "any size" (resize ``none``: the network
    pads to its multiple and crops back).

    Args:
        model: The network (eval mode).
        meta: Its checkpoint metadata.
        device: Where it runs.
        path: The checkpoint it came from.
    """

    task = "segment"

    def __init__(self, model: nn.Module, meta: dict[str, Any], device: torch.device | str = "cpu",
                 path: Any = None):
        super().__init__(model.to(device).eval(), meta, path, device)
        self.classes = list(meta.get("classes") or [])
        self.colors = [tuple(c) for c in meta.get("colors") or []]
        self.binary = bool(meta.get("binary", len(self.classes) == 2))
        self.threshold = float(meta.get("threshold", 0.5))

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Segmenter:
        """Load a ``segment`` checkpoint (file or run folder); another task's fails with a clear message."""
        model, meta, p, dev = cls.load_parts(path, device)
        return cls(model, meta, dev, p)

    def probabilities(self, image: torch.Tensor, tile: int | str | None = "auto",
                      overlap: int = AUTO_OVERLAP) -> torch.Tensor:
        """K×H×W class probabilities of one uint8 C×H×W image."""
        image = self._check(image)
        x = self.prepare(image.unsqueeze(0), "NCHW")
        p = probabilities(self.model, x, self.binary, resolve_tile(tile, *image.shape[-2:]), overlap)[0].cpu()
        return self.check(p, "the segmenter")

    def predict(self, image: torch.Tensor, tile: int | str | None = "auto", overlap: int = AUTO_OVERLAP
                ) -> torch.Tensor:
        """The uint8 H×W class map of one uint8 C×H×W image."""
        p = self.probabilities(image, tile, overlap)
        return ((p[1] > self.threshold) if self.binary else p.argmax(0)).to(torch.uint8)

    def _check(self, image: torch.Tensor) -> torch.Tensor:
        if image.ndim != 3:
            raise ConfigError(f"expected a C×H×W image, got shape {tuple(image.shape)}")
        return self.to_uint8(image.unsqueeze(0), "NCHW")[0]  # the one converter: channels to the model's mode
