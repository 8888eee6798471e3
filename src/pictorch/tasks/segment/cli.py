"""``pictorch segment``: train U-Net / SegNet / FCN, predict masks on images of any size (tiled when large),
evaluate (IoU, Dice, per-class table, confusion matrix), compare the three architectures.
Heavy imports happen inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from pictorch.cli_common import (
    Device,
    set_threads,
    train_options,
)

app = typer.Typer(no_args_is_help=True,
                  help="Segmentation: U-Net, SegNet and FCN on images and masks of any size.")

Ckpt = Annotated[str, typer.Argument(help="Segment checkpoint (.safetensors) or its run folder.")]
Data = Annotated[str, typer.Option("--data", help="Folder with images/ and masks/, nuclei (DSB 2018 image in the "
                                                  "stardist wheel), synthetic or synthetic-multi.")]
Fold = Annotated[int | None, typer.Option("--fold", help="Test quadrant 0..3 (the other three train); default 0 "
                                                         "for nuclei.")]
Tile = Annotated[str, typer.Option("--tile", help="Window side for overlap-tile inference, auto (tiles above "
                                                  "1536² pixels) or 0 (whole image).")]
Overlap = Annotated[int, typer.Option("--overlap", help="Pixels shared by neighbouring tiles (blended).")]
ModelKw = Annotated[str | None, typer.Option("--model-kw", help='Model arguments as JSON, e.g. \'{"width": 16}\' '
                                                                "(unet: width, depth, upsample; segnet: "
                                                                "width_mult, depth; fcn: skips).")]


def _model_kw(text: str | None) -> dict:
    from pictorch.cli_common import json_object

    return json_object(text, "--model-kw", '{"width": 16}')


def _tile(text: str) -> int | str | None:
    from pictorch.errors import ConfigError

    t = text.strip().lower()
    if t in ("auto",):
        return "auto"
    if t in ("0", "none", "off"):
        return None
    try:
        return int(t)
    except ValueError:
        raise ConfigError(f"--tile must be a number of pixels, auto or 0; got {text!r}") from None


def _echo_report(rep: dict) -> None:
    width = max(len(c["class"]) for c in rep["per_class"])
    typer.echo(f"{'class':<{width}}      IoU    Dice      pixels")
    for c in rep["per_class"]:
        typer.echo(f"{c['class']:<{width}}  {c['iou']:7.4f} {c['dice']:7.4f} {c['pixels']:11d}")
    fg = rep.get("foreground")
    head = (f"foreground IoU {fg['iou']:.4f}, Dice {fg['dice']:.4f}; " if fg else "")
    typer.echo(f"{head}mIoU {rep['miou']:.4f}, pixel accuracy {rep['pixel_accuracy']:.4f} on {rep['count']} "
               "images")


@app.command()
@train_options(steps=500, batch_size=8, lr=3e-3, weight_decay=1e-4, out_dir="runs/segment", log_every=25)
def train(
    ctx: typer.Context,
    data: Data = "nuclei",
    fold: Fold = None,
    val_data: Annotated[str | None, typer.Option("--val-data", help="Mask folder scored during and after "
                                                                    "training.")] = None,
    arch: Annotated[str, typer.Option("--arch", "-a", help="unet, segnet or fcn.")] = "unet",
    encoder: Annotated[str | None, typer.Option("--encoder", help="Registered backbone as encoder (unet, fcn): "
                                                                  "resnet18, vgg11_bn, efficientnet_b0, ...")] = None,
    model_kw: ModelKw = None,
    pretrained: Annotated[str | None, typer.Option("--pretrained", help="Encoder weights tag: imagenet.")] = None,
    weights: Annotated[str | None, typer.Option("--weights", help="Encoder weights file.")] = None,
    freeze_encoder: Annotated[int, typer.Option("--freeze-encoder", help="-1: freeze the pretrained encoder; N: "
                                                                         "its first N stages; 0: train all.")] = 0,
    loss: Annotated[str, typer.Option("--loss", help="Terms name[:weight] joined by +: ce, bce, dice, jaccard, "
                                                     "focal, tversky.")] = "ce+dice",
    class_weights: Annotated[str, typer.Option("--class-weights", help="none, balanced or w0,w1,...")] = "none",
    augment: Annotated[str, typer.Option("--augment", help="none, light, medium, strong or key=value list "
                                                           "(hflip, vflip, rot90, rotate, scale, crop, "
                                                           "elastic).")] = "light",
    crop: Annotated[int | None, typer.Option("--crop", help="Training crop side (default: image side, at most "
                                                            "256).")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="L or RGB (default: from the data).")] = None,
    classes: Annotated[str | None, typer.Option("--classes", help="Declared class names, comma-separated.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most N training images (0: all).")] = 0,
    threshold: Annotated[float, typer.Option("--threshold", help="Binary foreground threshold.")] = 0.5,
    channels_last: Annotated[bool, typer.Option("--channels-last/--no-channels-last",
                                                help="Channels-last memory format (faster conv nets on CPUs).")] = True,
    *, config: str | None, no_progress: bool, threads: str,
) -> None:
    """Train a segmentation network (binary or multi-class masks; any image sizes)."""
    tune = set_threads(threads)
    from pictorch.cli_common import echo_result, train_and_task_config
    from pictorch.tasks.segment.api import train as run_train
    from pictorch.tasks.segment.steps import SegmentConfig

    cfg, task_cfg = train_and_task_config(SegmentConfig, ctx.params, config, no_progress,
                                          model_kwargs=_model_kw(model_kw))
    result = run_train(task_cfg, cfg, tune_threads=tune)
    echo_result(result, "segment")
    typer.echo(f"{result['trainable_params']:,} of {result['total_params']:,} parameters trained on "
               f"{result['train_images']} images ({result['mask_format']} masks, {result['crop']} px crops)")
    if "val" in result:
        _echo_report(result["val"])


@app.command()
def predict(
    ckpt: Ckpt,
    inputs: Annotated[list[str], typer.Argument(help="Image files and/or folders.")],
    out: Annotated[str | None, typer.Option("--out", "-o", help="Folder for <name>_mask.png and <name>_overlay.png "
                                            "(default: <run>/segmentation).")] = None,
    tile: Tile = "auto",
    overlap: Overlap = 64,
    device: Device = "auto",
) -> None:
    """Masks (palette PNGs of class indices) and overlays for images of any size."""
    from pictorch.cli_common import output_path

    out = out or output_path(None, "segmentation", ckpt, folder=True)
    from pictorch.tasks.segment.api import predict as run_predict
    from pictorch.viz.progress import progress_bar

    with progress_bar("segmenting") as progress:
        res = run_predict(ckpt, inputs, out_dir=out, tile=_tile(tile), overlap=overlap, device=device,
                          progress=progress)
    for r in res["results"]:
        top = ", ".join(f"{k} {v}" for k, v in r["class_pixels"].items() if v)
        typer.echo(f"{r['path']}: {r['size'][1]}×{r['size'][0]} -> {r['mask']} ({top})")
    for p, why in res["skipped"]:
        typer.echo(f"skipped {p}: {why}", err=True)


@app.command()
def evaluate(
    ckpt: Ckpt,
    data: Annotated[str, typer.Argument(help="Folder with images/ and masks/, or nuclei.")],
    fold: Fold = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Folder for report.json, confusion.png, "
                                            "overlays.png (default: <run>/evaluation).")] = None,
    tile: Tile = "auto",
    overlap: Overlap = 64,
    limit: Annotated[int, typer.Option("--limit", help="At most N images (0: all).")] = 0,
    device: Device = "auto",
) -> None:
    """IoU, Dice, pixel accuracy, per-class table and confusion matrix on a labelled set."""
    from pictorch.cli_common import output_path

    out = out or output_path(None, "evaluation", ckpt, folder=True)
    from pictorch.tasks.segment.api import evaluate as run_eval
    from pictorch.viz.progress import progress_bar

    with progress_bar("evaluating") as progress:
        rep = run_eval(ckpt, data, out_dir=out, fold=fold, tile=_tile(tile), overlap=overlap, device=device,
                       limit=limit, progress=progress)
    _echo_report(rep)
    typer.echo("  ".join(f"{k}: {v}" for k, v in rep["files"].items()))


@app.command()
@train_options(only=("steps", "batch_size", "lr", "weight_decay", "out_dir", "precision", "seed", "no_progress",
                     "threads"), helps={"out_dir": "Folder for the runs and report.json."}, steps=300, batch_size=8,
               lr=3e-3, weight_decay=1e-4, out_dir="runs/segment-compare")
def compare(
    data: Data = "nuclei",
    fold: Fold = None,
    val_data: Annotated[str | None, typer.Option("--val-data", help="Held-out mask folder (folders).")] = None,
    archs: Annotated[str, typer.Option("--archs", help="Comma-separated: unet, segnet, fcn.")] = "unet,segnet,fcn",
    loss: Annotated[str, typer.Option("--loss", help="Loss terms (as for train).")] = "ce+dice",
    augment: Annotated[str, typer.Option("--augment", help="Augmentation (as for train).")] = "light",
    crop: Annotated[int | None, typer.Option("--crop", help="Training crop side.")] = None,
    *, steps: int, batch_size: int, lr: float, weight_decay: float, out_dir: str, precision: str, seed: int, no_progress: bool, threads: str,
) -> None:
    """U-Net vs SegNet vs FCN on one split and budget: IoU/Dice, parameters, memory, img/s, time."""
    set_threads(threads)
    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.segment.api import compare as run_compare
    from pictorch.tasks.segment.steps import SegmentConfig

    cfg = SegmentConfig(data=data, fold=fold, val_data=val_data, loss=loss, augment=augment, crop=crop)
    tcfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, precision=precision,
                       seed=seed, progress=not no_progress, log_every=max(1, steps // 4))
    res = run_compare(cfg, tcfg, archs=[a.strip() for a in archs.split(",") if a.strip()], out_dir=out_dir)
    typer.echo(f"{'arch':<7} {'IoU':>7} {'Dice':>7} {'params':>10} {'saved MB':>9} {'dec MB':>7} {'handoff MB':>10} "
               f"{'img/s':>6} {'time s':>7}")
    for r in res["rows"]:
        m = r["memory"]
        typer.echo(f"{r['arch']:<7} {r['iou']:7.4f} {r['dice']:7.4f} {r['params']:10,} {m['saved_total'] / 2**20:9.1f} "
                   f"{m['saved_decoder'] / 2**20:7.1f} {m['handoff'] / 2**20:10.1f} {r['train_img_per_s']:6.1f} "
                   f"{r['seconds']:7.1f}")
    typer.echo(f"report: {res['report']}")
