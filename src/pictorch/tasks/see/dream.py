"""DeepDream (Mordvintsev et al., 2015): gradient ascent on a layer's activations, starting from a photo.

Per octave, from the smallest to the full size: the photo at that size plus the detail dreamed so far,
``steps`` ascent steps on the mean squared activation of the chosen layer(s), each on a randomly shifted
(rolled) copy so no pixel grid is favoured, with the gradient blurred (smooth, larger at coarse scales)
and normalised by its mean magnitude so the step size is in grey levels whatever the layer. The detail
(dream minus photo) is carried up to the next octave. Frames for a zoom video repeat a short dream on a
slightly zoomed copy of the previous frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pictorch.engine.config import check_fields
from pictorch.errors import ConfigError
from pictorch.tasks.see.maximize import gaussian_blur


def octave_sizes(h: int, w: int, octaves: int, scale: float, min_side: int = 1) -> list[tuple[int, int]]:
    """Image sizes of the octaves, smallest first, the last being (h, w); too small ones are dropped.

    ``octave_sizes(300, 400, 3, 2.0) == [(75, 100), (150, 200), (300, 400)]``.
    """
    if octaves < 1 or scale <= 1.0:
        raise ConfigError(f"--octaves must be >= 1 and --octave-scale > 1, got {octaves} and {scale}")
    sizes = [(max(1, round(h / scale**k)), max(1, round(w / scale**k))) for k in range(octaves - 1, -1, -1)]
    return [s for s in sizes if min(s) >= min_side] or [(h, w)]


@dataclass
class DreamConfig:
    """Settings of :func:`dream` (CLI options of ``pictorch see dream``)."""

    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10
    lr: float = 0.01
    jitter: int = 32
    smooth: float = 1.0
    frames: int = 0
    zoom: float = 1.05
    frame_steps: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        from pictorch.engine.config import check_fields

        # --octaves 1e11 overflowed in scale**k and --octave-scale nan crashed in round(): one line each
        check_fields(self, {"octaves": (1, 32), "octave_scale": "(1, 10]", "steps": (1, 100_000), "lr": "(0, 100]",
                            "jitter": (0, 4096), "smooth": (0.0, 100.0), "frames": (0, 100_000), "zoom": "(0, 10]",
                            "frame_steps": (1, 100_000), "seed": (0, None)})


def _ascent(net, layers: Sequence[str], img: torch.Tensor, steps: int, lr: float, jitter: int, sigma: float,
            gen: torch.Generator) -> torch.Tensor:
    x = img.clone()
    for _ in range(steps):
        dy, dx = (torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist() if jitter else (0, 0))
        shifted = torch.roll(x, (dy, dx), (2, 3)).requires_grad_(True)
        feats = net(shifted)
        obj = sum(feats[n].pow(2).mean() for n in layers)
        (g,) = torch.autograd.grad(obj, shifted)
        g = torch.roll(g, (-dy, -dx), (2, 3))
        g = gaussian_blur(g, sigma) if sigma > 0 else g
        scale = g.abs().mean()
        if scale == 0:
            raise ConfigError(f"the activations of {', '.join(layers)} have no gradient on this image (all zero): "
                              "choose another layer")
        with torch.no_grad():
            x = (x + lr * g / scale).clamp(0, 1)
    return x


def dream(model: torch.nn.Module, image: torch.Tensor, layers: Sequence[str], cfg: DreamConfig | None = None,
          progress: bool = True) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """DeepDream a ``[0, 1]`` 1×C×H×W photo on ``layers`` of ``model``.

    Returns:
        (the dreamed picture, the zoom-video frames — empty unless ``cfg.frames``).
    """
    from pictorch.nn.features import FeatureNet
    from pictorch.tasks.see.imageio import StepBar

    cfg = cfg or DreamConfig()
    check_fields(cfg, {"steps": ">= 1", "lr": "> 0", "zoom": ">= 1"})
    net = FeatureNet(model, list(layers), frozen=True)
    dcfg = getattr(model, "default_cfg", None) or {}
    min_side = int(dcfg.get("min_input_size") or 8)
    h, w = image.shape[-2:]
    sizes = octave_sizes(h, w, cfg.octaves, cfg.octave_scale, min_side=max(min_side, 8))
    gen = torch.Generator().manual_seed(cfg.seed)
    total = len(sizes) * cfg.steps + cfg.frames * cfg.frame_steps
    detail = torch.zeros_like(F.interpolate(image, size=sizes[0], mode="bilinear", antialias=True))
    done = 0
    with StepBar(total, "dream", enabled=progress, log_every=cfg.steps) as bar:
        out = image
        for i, size in enumerate(sizes):
            base = F.interpolate(image, size=size, mode="bilinear", antialias=True) if size != (h, w) else image
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            # coarse octaves get a wider gradient blur: each octave adds detail at its own scale
            sigma = cfg.smooth * (1 + (len(sizes) - 1 - i) * 0.5)
            jitter = max(1, min(cfg.jitter, min(size) // 4))
            out = _ascent(net, layers, (base + detail).clamp(0, 1), cfg.steps, cfg.lr, jitter, sigma, gen)
            detail = out - base
            done += cfg.steps
            bar.update(done, {"octave": i + 1})
        frames = [out]
        cur = out
        for _ in range(cfg.frames):
            ch, cw = max(1, round(h / cfg.zoom)), max(1, round(w / cfg.zoom))
            y0, x0 = (h - ch) // 2, (w - cw) // 2
            cur = F.interpolate(cur[..., y0:y0 + ch, x0:x0 + cw], size=(h, w), mode="bilinear", align_corners=False)
            cur = _ascent(net, layers, cur, cfg.frame_steps, cfg.lr, min(cfg.jitter, min(h, w) // 4), cfg.smooth, gen)
            frames.append(cur)
            done += cfg.frame_steps
            bar.update(done)
    net.remove()
    return out, frames[1:] if cfg.frames else []
