"""``pictorch stylize``: neural style transfer — Gatys optimisation, and fast style transfer (train a
TransformerNet once per style, then apply it to any photo in a fraction of a second). Heavy imports happen
inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from pictorch.cli_common import (
    NoProgress,
    Seed,
    Threads,
    set_threads,
    train_options,
)

app = typer.Typer(no_args_is_help=True, help="Neural style transfer: Gatys optimisation and fast style transfer.")

Out = Annotated[str, typer.Option("--out", "-o", help="Output folder (earlier pictures are never replaced).")]
Net = Annotated[str, typer.Option("--net", help="Frozen network: vgg19:caffe (Oxford weights), vgg19:imagenet "
                                                "(torchvision's), a checkpoint, ...")]
MaxPixels = Annotated[int, typer.Option("--max-pixels", help="Refuse work sizes above this many pixels.")]


def _floats(text: str | None, what: str) -> tuple[float, ...] | None:
    from pictorch.errors import ConfigError

    if not text:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated numbers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


@app.command()
def gatys(
    content: Annotated[str, typer.Argument(help="Content photo.")],
    style: Annotated[list[str], typer.Argument(help="Style image(s); several are blended (--style-blend).")],
    out: Out = "runs/stylize",
    steps: Annotated[int, typer.Option("--steps", help="Optimisation steps (per scale).")] = 300,
    size: Annotated[int, typer.Option("--size", help="Longer side of the result in pixels.")] = 512,
    style_size: Annotated[int | None, typer.Option("--style-size", help="Longer side of the style images "
                                                   "(default: as many pixels as the result).")] = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="lbfgs or adam.")] = "lbfgs",
    line_search: Annotated[bool, typer.Option("--line-search", help="L-BFGS with a strong-Wolfe line search "
                                              "(steadier, a few evaluations per step).")] = False,
    lr: Annotated[float | None, typer.Option("--lr", help="Adam step in 0-1 image units (default 1/255).")] = None,
    init: Annotated[str, typer.Option("--init", help="content, style, noise, or an image file.")] = "content",
    content_layers: Annotated[str, typer.Option("--content-layers", help="Comma-separated layers.")] = "relu4_2",
    style_layers: Annotated[str, typer.Option("--style-layers", help="Comma-separated layers.")] =
        "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
    content_layer_weights: Annotated[str | None, typer.Option("--content-layer-weights")] = None,
    style_layer_weights: Annotated[str | None, typer.Option("--style-layer-weights")] = None,
    content_weight: Annotated[float, typer.Option("--content-weight", help="Content factor (× MSE).")] = 0.01,
    style_weight: Annotated[float, typer.Option("--style-weight", help="Style factor (× MSE(Gram)/C²).")] = 10.0,
    tv_weight: Annotated[float, typer.Option("--tv-weight", help="Total-variation factor (model units).")] = 0.0,
    preserve_color: Annotated[str, typer.Option("--preserve-color", help="none, luminance or histogram.")] = "none",
    style_blend: Annotated[str | None, typer.Option("--style-blend", help="Weights of the style images, e.g. "
                                                    "0.7,0.3.")] = None,
    scales: Annotated[int, typer.Option("--scales", help="Coarse-to-fine levels (2-3 for large images).")] = 1,
    snapshot_every: Annotated[int, typer.Option("--snapshot-every", help="Save a snapshot every N steps.")] = 0,
    net: Net = "vgg19:caffe",
    max_pixels: MaxPixels = 1024 * 1024,
    allow_gray: Annotated[bool, typer.Option("--allow-gray", help="Accept a grayscale style image.")] = False,
    seed: Seed = 0,
    threads: Threads = "auto",
    no_progress: NoProgress = False,
) -> None:
    """Gatys et al.: optimise the picture so its VGG features match the content and its Grams the style."""
    from pictorch.tasks.stylize.api import GatysConfig, stylize_gatys

    set_threads(threads)
    cfg = GatysConfig(
        net=net, content_layers=_names(content_layers), style_layers=_names(style_layers),
        content_layer_weights=_floats(content_layer_weights, "--content-layer-weights"),
        style_layer_weights=_floats(style_layer_weights, "--style-layer-weights"),
        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight, optimizer=optimizer,
        line_search=line_search, lr=lr, steps=steps, size=size, style_size=style_size, init=init, preserve_color=preserve_color,
        style_blend=_floats(style_blend, "--style-blend"), scales=scales, snapshot_every=snapshot_every,
        max_pixels=max_pixels, allow_gray=allow_gray, seed=seed)
    res = stylize_gatys(content, style, cfg, out=out, progress=not no_progress)
    h = res.history[-1]
    typer.echo(f"wrote {res.path}  ({res.steps} steps, {res.seconds:.1f} s, {res.seconds_per_step:.2f} s/step; "
               f"loss {h['loss']:.4g} = content {h['content']:.4g} + style {h['style']:.4g} + tv {h['tv']:.4g})")


@app.command()
@train_options(without=("weight_decay", "accelerator", "devices", "val_every"), steps=2000, batch_size=4,
               out_dir="runs/stylize", precision="32-true", log_every=20, picture_every=200)
def train(
    ctx: typer.Context,
    style: Annotated[str, typer.Argument(help="Style image (e.g. /usr/share/doc/opencv-doc/examples/data/"
                                              "starry_night.jpg); a --preset gives its own.")] = "",
    preset: Annotated[str | None, typer.Option("--preset", help="starry_night or scream: the style image and "
                                               "the measured CPU recipe (options you type beat it).")] = None,
    content: Annotated[str, typer.Option("--content", help="Folder of content photos (recursive).")] = "",
    crop: Annotated[int, typer.Option("--crop", help="Training crop side.")] = 256,
    limit: Annotated[int, typer.Option("--limit", help="At most N photos (0: all).")] = 0,
    style_size: Annotated[int, typer.Option("--style-size", help="Longer side of the style image.")] = 256,
    net: Net = "vgg19:caffe",
    content_layers: Annotated[str, typer.Option("--content-layers")] = "relu2_2",
    style_layers: Annotated[str, typer.Option("--style-layers")] = "relu1_2,relu2_2,relu3_3,relu4_3",
    content_weight: Annotated[float, typer.Option("--content-weight")] = 1.0,
    style_weight: Annotated[float, typer.Option("--style-weight")] = 30.0,
    tv_weight: Annotated[float, typer.Option("--tv-weight")] = 0.0,
    width: Annotated[int, typer.Option("--width", help="TransformerNet width (32: the reference net).")] = 32,
    blocks: Annotated[int, typer.Option("--blocks", help="Residual blocks (5: the reference net).")] = 5,
    identity_steps: Annotated[int, typer.Option("--identity-steps", help="First steps that only teach the net to "
                                                "copy the photo (cheap: no VGG).")] = 0,
    skip: Annotated[bool, typer.Option("--skip/--no-skip", help="Add the photo to the net's output, identity at "
                                       "the start (keeps the content in short runs; --no-skip: the reference "
                                       "net).")] = True,
    # float32 by default: the Caffe VGG works on 0-255 values, its Gram entries reach ~1e6, and bf16's 8-bit
    # mantissa turns small style differences into rounding noise
    *, config: str | None, threads: str, no_progress: bool,
) -> None:
    """Fast style transfer: train a TransformerNet for one style on crops of real photos."""
    from pictorch.cli_common import echo_result, train_and_task_config
    from pictorch.tasks.stylize.api import FastStyleConfig
    from pictorch.tasks.stylize.api import train as run_train

    set_threads(threads)
    overrides: dict = {}
    if preset:
        from pictorch.cli_common import typed_options
        from pictorch.tasks.stylize.presets import get_preset

        p = get_preset(preset)
        typed = typed_options(ctx) or set()
        overrides = {k: v for k, v in p.settings.items() if k not in typed}
        overrides["style"] = style or str(p.style_path())
    elif not style:
        from pictorch.errors import ConfigError

        raise ConfigError("give a STYLE image or a --preset (starry_night, scream)")
    cfg, task_cfg = train_and_task_config(FastStyleConfig, ctx.params, config, no_progress, **overrides)
    result = run_train(task_cfg, cfg)
    echo_result(result, "stylize")


@app.command()
def apply(
    ckpt: Annotated[str, typer.Argument(help="Stylize checkpoint (.safetensors) or its run folder.")],
    images: Annotated[list[str], typer.Argument(help="Photos to stylise (kept at their size).")],
    out: Out = "runs/stylize/applied",
    size: Annotated[int | None, typer.Option("--size", help="Resize so the longer side is this.")] = None,
    max_pixels: MaxPixels = 4096 * 4096,
    runtime: Annotated[str, typer.Option("--runtime", help="auto (onnxruntime when installed: ~3× faster on "
                                         "CPU), torch or onnx.")] = "auto",
    threads: Threads = "auto",
) -> None:
    """Stylise photos with a trained fast-style network."""
    from pictorch.tasks.stylize.api import apply as run
    from pictorch.viz.progress import progress_bar

    set_threads(threads)
    with progress_bar("stylizing") as progress:
        written = run(ckpt, images, out, max_side=size, max_pixels=max_pixels, runtime=runtime, progress=progress)
    for p in written:
        typer.echo(f"wrote {p}")


@app.command()
def export(
    ckpt: Annotated[str, typer.Argument(help="Stylize checkpoint or run folder.")],
    out: Annotated[str | None, typer.Option("--out", "-o", help="ONNX file (default: beside the checkpoint).")]
        = None,
    opset: Annotated[int, typer.Option("--opset")] = 17,
) -> None:
    """Export the fast-style network to ONNX (any batch, height and width multiple of 4; input in [0, 1])."""
    from pictorch.tasks.stylize.api import export_onnx

    typer.echo(f"wrote {export_onnx(ckpt, out, opset)}")
