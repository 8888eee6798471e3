"""Activation maximisation: the picture that most excites a unit, a channel or a class logit.

Gradient ascent on the input from noise works only with a few tricks (Olah et al., "Feature Visualization",
Distill 2017), all here:

* a parametrisation that prefers natural images: :class:`FourierImage` (the picture's 2-d spectrum, scaled by
  1/frequency so low frequencies move first) or :class:`PixelImage`; both map through the ImageNet colour
  decorrelation matrix and a sigmoid into ``[0, 1]``;
* robustness transforms each step (:func:`random_affine`): jitter, scale, rotate, so the result is not an
  adversarial pattern tied to one pixel grid;
* regularisers: total variation and an occasional blur of pixel parameters;
* for classes, ascent on the log-probability (the class must beat the others) rather than the raw logit:
  on a 28-px Fashion-MNIST CNN, 256 steps gave 9/10 classes at p >= 0.9 with it and 8/10 with the logit.

Works on any registered backbone or loaded checkpoint, any channel count (gray 28-px Fashion-MNIST nets
included) and any input size the network accepts (transforms keep the size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.engine.config import check_fields
from pictorch.errors import ConfigError

#: Square root of the colour covariance of ImageNet pixels (RGB), as published with Lucid; decorrelating
#: the parameters with it makes colour changes cost the same as brightness changes.
COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


def _to_valid(x: torch.Tensor, decorrelate: bool) -> torch.Tensor:
    if decorrelate and x.shape[1] == 3:
        m = COLOR_SQRT / COLOR_SQRT.norm(dim=0).max()
        x = torch.einsum("ij,bjhw->bihw", m.to(x), x)
    return torch.sigmoid(x)


class PixelImage(nn.Module):
    """B pictures as raw (decorrelated) pixel parameters."""

    def __init__(self, batch: int, channels: int, size: tuple[int, int], sd: float = 0.01,
                 decorrelate: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        self.param = nn.Parameter(torch.randn(batch, channels, *size, generator=generator) * sd)
        self.decorrelate = decorrelate

    def forward(self) -> torch.Tensor:
        return _to_valid(self.param, self.decorrelate)


class FourierImage(nn.Module):
    """B pictures parametrised by their real 2-d spectrum, each frequency scaled by 1/f^decay."""

    def __init__(self, batch: int, channels: int, size: tuple[int, int], sd: float = 0.01, decay: float = 1.0,
                 decorrelate: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        h, w = size
        fy = torch.fft.fftfreq(h)[:, None]
        fx = torch.fft.rfftfreq(w)[None, :]
        freqs = torch.sqrt(fx * fx + fy * fy)
        scale = 1.0 / torch.clamp(freqs, min=1.0 / max(h, w)) ** decay
        self.register_buffer("scale", scale * math.sqrt(h * w))
        self.param = nn.Parameter(torch.randn(batch, channels, h, w // 2 + 1, 2, generator=generator) * sd)
        self.size = size
        self.decorrelate = decorrelate

    def forward(self) -> torch.Tensor:
        spec = torch.view_as_complex(self.param) * self.scale
        x = torch.fft.irfft2(spec, s=self.size)
        # /4: keeps the initial pixel spread small, like the pixel parametrisation's
        return _to_valid(x / 4.0, self.decorrelate)


PARAMETRISATIONS = {"fourier": FourierImage, "pixel": PixelImage}


def random_affine(x: torch.Tensor, jitter: float = 0.05, scale: float = 0.1, rotate: float = 10.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One random shift (fraction of the size), scale (±) and rotation (± degrees) per image; same size out."""
    b = x.shape[0]
    g = generator

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=g) * (hi - lo) + lo

    ang = u(-rotate, rotate) * math.pi / 180
    s = u(1 - scale, 1 + scale)
    tx, ty = u(-jitter, jitter) * 2, u(-jitter, jitter) * 2
    theta = torch.stack([torch.stack([torch.cos(ang) / s, -torch.sin(ang) / s, tx], 1),
                         torch.stack([torch.sin(ang) / s, torch.cos(ang) / s, ty], 1)], 1).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (reflect padding) of a B×C×H×W batch."""
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(2.5 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    r = min(r, x.shape[-1] - 1, x.shape[-2] - 1)
    k = k[len(k) // 2 - r: len(k) // 2 + r + 1]
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


@dataclass
class MaximizeConfig:
    """Settings of :func:`maximize` (CLI options of ``pictorch see maximize``)."""

    param: str = "fourier"
    steps: int = 256
    lr: float = 0.05
    size: int | None = None
    jitter: float = 0.05
    scale: float = 0.1
    rotate: float = 10.0
    tv_weight: float = 0.0
    blur_every: int = 0
    blur_sigma: float = 0.5
    decorrelate: bool = True
    class_objective: str = "logprob"
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self, {"steps": ">= 1", "lr": "> 0"}, choices={"param": PARAMETRISATIONS})


@dataclass
class MaximizeResult:
    """Rendered pictures (``[0, 1]`` B×C×H×W), the objective per picture at the start and the end, and for
    class targets the network's probability of the class and its top-1 on the final pictures."""

    images: torch.Tensor
    start: list[float]
    final: list[float]
    targets: list[int]
    dead: list[bool] = field(default_factory=list)
    prob: list[float] | None = None
    top1: list[int] | None = None


def maximize(model: nn.Module, targets: Sequence[int], layer: str | None = None,
             cfg: MaximizeConfig | None = None, progress: bool = True) -> MaximizeResult:
    """Render one picture per target: a channel of ``layer`` (mean activation), or a class logit (``layer``
    ``None``: the network's output).

    Raises:
        ConfigError: unknown layer, channel/class index out of range, bad settings.
    """
    from pictorch.nn.features import FeatureNet, in_channels, input_spec
    from pictorch.tasks.see.imageio import StepBar

    cfg = cfg or MaximizeConfig()
    if not targets:
        raise ConfigError("give at least one channel or class")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    spec = input_spec(model)
    chans = in_channels(model)
    dcfg = getattr(model, "default_cfg", None) or {}
    size = cfg.size or int((dcfg.get("input_size") or (3, 224, 224))[-1])
    size = max(size, int(dcfg.get("min_input_size") or 1))
    targets = [int(t) for t in targets]

    if cfg.class_objective not in ("logit", "logprob"):
        raise ConfigError(f"--class-objective must be logit or logprob, got {cfg.class_objective!r}")
    if layer is None:
        def objective(img: torch.Tensor) -> torch.Tensor:
            return model(spec.normalize(img))

        if cfg.class_objective == "logprob":
            # the log-probability rises only when the class wins over the others, not when every logit grows
            def ascent(img: torch.Tensor) -> torch.Tensor:
                return objective(img).log_softmax(1)
        else:
            ascent = objective
    else:
        net = FeatureNet(model, [layer], spec=spec, frozen=True)

        def objective(img: torch.Tensor) -> torch.Tensor:
            return net(img)[layer]

        ascent = objective

    with torch.no_grad():
        probe = objective(torch.full((1, chans, size, size), 0.5))
    n_units = probe.shape[1]
    bad = [t for t in targets if not 0 <= t < n_units]
    if bad:
        what = "class" if layer is None else f"channel of {layer}"
        raise ConfigError(f"{what} index {bad[0]} out of range: it has {n_units} ({0}..{n_units - 1})")
    idx = torch.tensor(targets)

    def score(out: torch.Tensor) -> torch.Tensor:
        sel = out[torch.arange(len(targets)), idx]
        return sel.flatten(1).mean(1) if sel.ndim > 1 else sel

    gen = torch.Generator().manual_seed(cfg.seed)
    image = PARAMETRISATIONS[cfg.param](len(targets), chans, (size, size), decorrelate=cfg.decorrelate,
                                        generator=gen)
    opt = torch.optim.Adam(image.parameters(), lr=cfg.lr)
    with torch.no_grad():
        start = score(ascent(image())).tolist()
    dead = [False] * len(targets)
    with StepBar(cfg.steps, "maximize", enabled=progress) as bar:
        for step in range(1, cfg.steps + 1):
            opt.zero_grad(set_to_none=True)
            img = image()
            x = random_affine(img, cfg.jitter, cfg.scale, cfg.rotate, generator=gen) if step < cfg.steps else img
            s = score(ascent(x))
            loss = -s.sum()
            if cfg.tv_weight:
                from pictorch.losses.perceptual import tv_loss

                loss = loss + cfg.tv_weight * tv_loss(img) * len(targets)
            loss.backward()
            if step == 1:
                g = next(iter(image.parameters())).grad
                dead = [bool(g[i].abs().max() == 0) for i in range(len(targets))] if g is not None else dead
            opt.step()
            if cfg.blur_every and cfg.param == "pixel" and step % cfg.blur_every == 0:
                with torch.no_grad():
                    image.param.copy_(gaussian_blur(image.param, cfg.blur_sigma))
            bar.update(step, {"objective": float(s.detach().mean())})
    with torch.no_grad():
        final_img = image()
        out = objective(final_img)
        final = score(ascent(final_img)).tolist()
        prob = top1 = None
        if layer is None:
            p = out.softmax(1)
            prob = p[torch.arange(len(targets)), idx].tolist()
            top1 = p.argmax(1).tolist()
    return MaximizeResult(images=final_img, start=start, final=final, targets=targets, dead=dead, prob=prob,
                          top1=top1)
