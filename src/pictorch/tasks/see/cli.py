"""``pictorch see``: what a network sees — first-layer filters, the tap-able layers with their shapes,
activation maximisation (channels or classes) and DeepDream. Heavy imports happen inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from pictorch.cli_common import NoProgress, Seed, Threads, set_threads

app = typer.Typer(no_args_is_help=True,
                  help="What a network sees: filters, layers, activation maximisation, DeepDream.")

Model = Annotated[str, typer.Argument(help="A checkpoint, or a registered network as name[:tag] "
                                           "(efficientnet_lite0, vgg19:caffe, resnet18:imagenet, vgg16:random).")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Network: checkpoint or name[:tag].")]
Out = Annotated[str, typer.Option("--out", "-o", help="Output folder (earlier pictures are never replaced).")]
InChans = Annotated[int | None, typer.Option("--in-chans", help="Input channels when building a registered net.")]


def parse_indices(text: str, what: str) -> list[int]:
    """``0-3,7`` → [0, 1, 2, 3, 7]."""
    from pictorch.errors import ConfigError

    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else (part, part)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                out += list(range(lo, hi + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise ConfigError(f"{what} must be indices like 0-7 or 1,5,9, got {text!r}") from None
    if not out:
        raise ConfigError(f"{what} is empty")
    return out


#: Input channels a registered net may be built with (RGB + alpha is 4; a multispectral stack a few dozen).
MAX_IN_CHANS = 64


def _load(model: str, in_chans: int | None = None):
    from pictorch.errors import ConfigError
    from pictorch.nn.features import load_frozen

    if in_chans is not None and not 1 <= in_chans <= MAX_IN_CHANS:  # -5 / 1e11 crashed building the first conv
        raise ConfigError(f"--in-chans must be between 1 and {MAX_IN_CHANS}, got {in_chans}")
    return load_frozen(model, in_chans=in_chans)


@app.command()
def filters(model: Model, out: Out = "runs/see", in_chans: InChans = None) -> None:
    """The first convolution's kernels as an image grid."""
    from pathlib import Path

    from pictorch.tasks.see.api import filter_images, fresh_path
    from pictorch.viz.grid import save_image_grid

    net = _load(model, in_chans)
    name, imgs = filter_images(net)
    k = imgs.shape[-1]
    arch = (getattr(net, "default_cfg", None) or {}).get("arch", Path(model).stem)
    path = fresh_path(Path(out) / f"filters_{arch.replace('.', '_')}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image_grid(imgs, path, nrow=16, value_range=(0.0, 1.0), scale=max(1, 48 // k))
    typer.echo(f"wrote {path}  ({imgs.shape[0]} filters of {name}, {k}×{k}, {imgs.shape[1]} channel(s) shown)")


@app.command()
def layers(
    model: Model,
    size: Annotated[int | None, typer.Option("--size", help="Probe input side (default: the net's).")] = None,
    leaves: Annotated[bool, typer.Option("--leaves", help="Only modules without children.")] = False,
    in_chans: InChans = None,
) -> None:
    """Every tap-able layer name (and alias such as relu4_2 or stage:3) with its output shape."""
    from pictorch.nn.features import list_layers

    net = _load(model, in_chans)
    rows = list_layers(net, (size, size) if size else None, leaves_only=leaves)
    wn = max(len(r["name"]) for r in rows)
    wa = max([len(r["alias"]) for r in rows] + [5])
    typer.echo(f"{'name':<{wn}}  {'alias':<{wa}}  {'type':<18} shape (C×H×W)")
    for r in rows:
        shape = "×".join(str(v) for v in r["shape"])
        typer.echo(f"{r['name']:<{wn}}  {r['alias']:<{wa}}  {r['type']:<18} {shape}")


@app.command()
def maximize(
    model: Model,
    layer: Annotated[str | None, typer.Option("--layer", "-l", help="Layer to excite (name, alias, stage:N).")] = None,
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Channel(s): 5, 0-15 or 1,7,9 (one "
                                                "picture each).")] = None,
    class_: Annotated[str | None, typer.Option("--class", "-k", help="Class logit(s) of a classifier instead "
                                               "of a layer: 285 or 1,207,954.")] = None,
    param: Annotated[str, typer.Option("--param", help="fourier (decorrelated colour) or pixel.")] = "fourier",
    class_objective: Annotated[str, typer.Option("--class-objective", help="logprob (the class must win: "
                                                 "9/10 Fashion-MNIST classes reach p >= 0.9 vs 8/10 with "
                                                 "logit) or logit.")] = "logprob",
    steps: Annotated[int, typer.Option("--steps")] = 256,
    lr: Annotated[float, typer.Option("--lr")] = 0.05,
    size: Annotated[int | None, typer.Option("--size", help="Picture side (default: the net's input size).")] = None,
    jitter: Annotated[float, typer.Option("--jitter", help="Random shift, fraction of the side.")] = 0.05,
    scale: Annotated[float, typer.Option("--scale", help="Random scale ±.")] = 0.1,
    rotate: Annotated[float, typer.Option("--rotate", help="Random rotation ± degrees.")] = 10.0,
    tv_weight: Annotated[float, typer.Option("--tv-weight", help="Total-variation penalty.")] = 0.0,
    blur_every: Annotated[int, typer.Option("--blur-every", help="Blur pixel parameters every N steps.")] = 0,
    out: Out = "runs/see",
    in_chans: InChans = None,
    seed: Seed = 0,
    threads: Threads = "auto",
    no_progress: NoProgress = False,
) -> None:
    """Activation maximisation from noise: what a channel (or a class) responds to most."""
    from pathlib import Path

    from pictorch.errors import ConfigError
    from pictorch.tasks.see.api import MaximizeConfig, fresh_path
    from pictorch.tasks.see.api import maximize as run
    from pictorch.viz.grid import save_image_grid

    set_threads(threads)
    if (class_ is None) == (channel is None):
        raise ConfigError("give either --layer L --channel C, or --class K")
    if class_ is not None and layer is not None:
        raise ConfigError("--class maximises the network's output; leave out --layer")
    if channel is not None and layer is None:
        raise ConfigError("--channel needs --layer (see `pictorch see layers MODEL`)")
    targets = parse_indices(class_ if class_ is not None else channel or "", "--class" if class_ else "--channel")
    net = _load(model, in_chans)
    cfg = MaximizeConfig(param=param, steps=steps, lr=lr, size=size, jitter=jitter, scale=scale, rotate=rotate,
                         tv_weight=tv_weight, blur_every=blur_every,
                         class_objective=class_objective, seed=seed)
    res = run(net, targets, layer, cfg, progress=not no_progress)
    arch = (getattr(net, "default_cfg", None) or {}).get("arch", Path(model).stem).replace(".", "_")
    what = f"class{class_}" if class_ is not None else f"{layer}_ch{channel}"
    path = fresh_path(Path(out) / f"maximize_{arch}_{what.replace(':', '').replace(',', '+')}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = None
    if res.prob is not None:
        labels = [f"{t}: p={p:.2f}" for t, p in zip(res.targets, res.prob, strict=True)]
    save_image_grid(res.images, path, nrow=min(8, len(targets)), labels=labels, value_range=(0.0, 1.0))
    for t, a, b, d in zip(res.targets, res.start, res.final, res.dead, strict=True):
        extra = ""
        if res.prob is not None:
            i = res.targets.index(t)
            extra = f", p={res.prob[i]:.3f}, top-1 {res.top1[i]}"
        typer.echo(f"{'class' if class_ else 'channel'} {t}: objective {a:.3g} -> {b:.3g}{extra}")
        if d:
            typer.echo(f"note: {'class' if class_ else 'channel'} {t} had no gradient at the start (a dead unit "
                       "for this input): its picture is noise; try another channel, --param pixel or a larger "
                       "--size", err=True)
    typer.echo(f"wrote {path}")


@app.command()
def dream(
    image: Annotated[str, typer.Argument(help="Photo to dream on.")],
    model: ModelOpt = "vgg19:caffe",
    layer: Annotated[str, typer.Option("--layer", "-l", help="Layer(s), comma-separated.")] = "relu4_2",
    octaves: Annotated[int, typer.Option("--octaves", help="Pyramid levels.")] = 4,
    octave_scale: Annotated[float, typer.Option("--octave-scale", help="Size ratio between levels.")] = 1.4,
    steps: Annotated[int, typer.Option("--steps", help="Ascent steps per octave.")] = 10,
    lr: Annotated[float, typer.Option("--lr", help="Step in 0-1 image units (gradient normalised).")] = 0.01,
    jitter: Annotated[int, typer.Option("--jitter", help="Random roll in pixels.")] = 32,
    smooth: Annotated[float, typer.Option("--smooth", help="Gradient blur sigma (pixels).")] = 1.0,
    size: Annotated[int, typer.Option("--size", help="Longer side of the result.")] = 512,
    frames: Annotated[int, typer.Option("--frames", help="Zoom-video frames (PNG + GIF); 0: none.")] = 0,
    zoom: Annotated[float, typer.Option("--zoom", help="Zoom per frame.")] = 1.05,
    max_pixels: Annotated[int, typer.Option("--max-pixels", help="Refuse work sizes above this.")] = 1024 * 1024,
    out: Out = "runs/see",
    seed: Seed = 0,
    threads: Threads = "auto",
    no_progress: NoProgress = False,
) -> None:
    """DeepDream: amplify what a layer sees in a photo, octave by octave."""
    from pathlib import Path

    import torch

    from pictorch.nn.features import in_channels
    from pictorch.tasks.see.api import DreamConfig, fresh_path, load_photo, save_picture
    from pictorch.tasks.see.api import dream as run
    from pictorch.viz.grid import save_gif

    set_threads(threads)
    net = _load(model)
    photo = load_photo(image, channels=in_channels(net), max_side=size, max_pixels=max_pixels, what="photo")
    cfg = DreamConfig(octaves=octaves, octave_scale=octave_scale, steps=steps, lr=lr, jitter=jitter, smooth=smooth,
                      frames=frames, zoom=zoom, seed=seed)
    names = [v.strip() for v in layer.split(",") if v.strip()]
    result, video = run(net, photo, names, cfg, progress=not no_progress)
    stem = f"dream_{Path(image).stem}_{'+'.join(n.replace(':', '').replace('.', '_') for n in names)}"
    path = save_picture(result, Path(out) / f"{stem}.png")
    typer.echo(f"wrote {path}")
    if video:
        folder = fresh_path(Path(out) / f"{stem}_frames")
        for i, f in enumerate(video):
            save_picture(f, folder / f"frame_{i:04d}.png")
        gif = fresh_path(Path(out) / f"{stem}.gif")
        save_gif(torch.cat([result, *video]), gif, duration_ms=100, boomerang=False, scale=1)
        typer.echo(f"wrote {len(video)} frames to {folder} and {gif}")
