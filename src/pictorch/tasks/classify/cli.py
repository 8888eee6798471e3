"""``pictorch classify``: train CNN classifiers (from scratch or transfer-learned with the three regimes),
evaluate, predict, export, compare regimes, the transfer demo and EfficientNet-style compound scaling.
Heavy imports happen inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from pictorch.cli_common import (
    DataDir,
    Device,
    set_threads,
    train_options,
)

app = typer.Typer(no_args_is_help=True,
                  help="Transfer-learn and train CNN classifiers (three fine-tuning regimes, EfficientNet scaling).")

# the shared options of the verbs that train several short runs (compare, scale)
QUICK = ("steps", "batch_size", "lr", "weight_decay", "out_dir", "precision", "seed", "no_progress", "threads")
TABLE_HELP = {"out_dir": "Folder for the runs and the table."}

Ckpt = Annotated[str, typer.Argument(help="Classify checkpoint (.safetensors) or its run folder.")]
Data = Annotated[str, typer.Option("--data", help="An image folder (one subfolder per class), fashion-mnist or "
                                                  "synthetic.")]
Arch = Annotated[str, typer.Option("--arch", "-a", help="Registered model: small_cnn, resnet18, vgg11_bn, "
                                                        "classify.scalable_cnn, efficientnet_b0, ...")]
ModelKw = Annotated[str | None, typer.Option("--model-kw", help='Extra model arguments as JSON, e.g. '
                                                                 '\'{"stem": "cifar"}\'.')]
Classes = Annotated[str | None, typer.Option("--classes", help="Class subset: 0-4, 1,3,5 or names.")]
PerClass = Annotated[int, typer.Option("--per-class", help="At most N training images per class (0: all).")]
ImageSize = Annotated[int | None, typer.Option("--image-size", help="Resize images to this side.")]
Mode = Annotated[str | None, typer.Option("--mode", help="L (gray) or RGB (default: from the data).")]
Pretrained = Annotated[str | None, typer.Option("--pretrained", help="Pretrained weights tag, e.g. imagenet.")]
Weights = Annotated[str | None, typer.Option("--weights", help="Backbone weights file.")]
Init = Annotated[str | None, typer.Option("--init", help="Start from this classify checkpoint (its backbone, a new "
                                                         "head for the new classes).")]
Tta = Annotated[str, typer.Option("--tta", help="Test-time augmentation: none, or hflip (average with the mirror "
                                                "image; for models trained with flips).")]
Augment = Annotated[str, typer.Option("--augment", help="none, light, medium, strong, or key=value list "
                                                        "(hflip, rotate, shift, scale, crop, erase, ...).")]


def _model_kw(text: str | None) -> dict:
    from pictorch.cli_common import json_object

    return json_object(text, "--model-kw", '{"stem": "cifar"}')


def _echo_note(note: str | None) -> None:
    if note:
        typer.echo(f"note: {note}", err=True)


@app.command()
@train_options(extra=("compile",), lr=2e-3, weight_decay=5e-4, out_dir="runs/classify")
def train(
    ctx: typer.Context,
    data: Data = "fashion-mnist",
    arch: Arch = "small_cnn",
    model_kw: ModelKw = None,
    regime: Annotated[str | None, typer.Option(
        "--regime", "-r", help="head, last-k, full or scratch (default: full with --init/--pretrained/--weights, "
                               "else scratch).")] = None,
    k: Annotated[int, typer.Option("--k", help="last-k: train the last K groups of model.stages() (the head "
                                               "is the last).")] = 2,
    backbone_lr_mult: Annotated[float, typer.Option("--backbone-lr-mult", help="LR factor of the pretrained "
                                                                               "part (full, last-k).")] = 0.1,
    init: Init = None,
    pretrained: Pretrained = None,
    weights: Weights = None,
    classes: Classes = None,
    per_class: PerClass = 0,
    image_size: ImageSize = None,
    mode: Mode = None,
    limit: Annotated[int, typer.Option("--limit", help="At most N training images (0: all).")] = 0,
    channels_last: Annotated[bool, typer.Option("--channels-last/--no-channels-last",
                                                help="Channels-last memory format (the default: 1.1-1.2x faster "
                                                     "conv nets on CPUs).")] = True,
    augment: Augment = "light",
    ema: Annotated[float, typer.Option("--ema", help="Keep a moving average of the weights with this decay "
                                                     "(0: off; e.g. 0.999); the average is validated and "
                                                     "deployed.")] = 0.0,
    drop_rate: Annotated[float, typer.Option("--drop-rate", help="Dropout before the classifier.")] = 0.0,
    label_smoothing: Annotated[float, typer.Option("--label-smoothing", help="Label smoothing.")] = 0.0,
    schedule: Annotated[str, typer.Option("--schedule", help="onecycle, cosine or constant.")] = "onecycle",
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw or sgd.")] = "adamw",
    class_weights: Annotated[str, typer.Option("--class-weights", help="none or balanced.")] = "none",
    val_split: Annotated[float, typer.Option("--val-split", help="Share held out for validation.")] = 0.1,
    patience: Annotated[int, typer.Option("--patience", help="Early stopping: validations without improvement "
                                                             "(0: off; needs --val-every).")] = 0,
    data_dir: DataDir = None,
    *, threads: str, config: str | None, no_progress: bool,
) -> None:
    """Train a classifier: from scratch, or transfer-learned (head, last-k, full)."""
    tune = set_threads(threads)
    from pictorch.cli_common import echo_result, train_and_task_config
    from pictorch.tasks.classify.api import train as run_train
    from pictorch.tasks.classify.steps import ClassifyConfig

    cfg, task_cfg = train_and_task_config(ClassifyConfig, ctx, config, no_progress,
                                          model_kwargs=_model_kw(model_kw) if model_kw is not None else None)
    if task_cfg.patience and not cfg.val_every:
        from pictorch.errors import ConfigError

        raise ConfigError("--patience counts validations: also give --val-every N (steps between validations)")
    result = run_train(task_cfg, cfg, tune_threads=tune)
    _echo_note(result.get("note"))
    echo_result(result, "classify")
    typer.echo(f"regime {result['regime']}: {result['trainable_params']:,} of {result['total_params']:,} parameters "
               f"trained on {result['train_images']} images"
               + (f"; stopped early, best weights from step {result['best_step']}" if result["stopped_early"] else ""))
    ct = result.get("cpu_threads")
    if ct and ct.get("probes"):
        last = ct["probes"][-1]
        timings = ", ".join(f"{k} threads {v:.3f}s" for k, v in last["step_s"].items())
        typer.echo(f"cpu threads: {ct['threads']} (last probe at step {last['step']}: {timings} per step)")


@app.command()
def evaluate(
    ckpt: Ckpt,
    data: Annotated[str, typer.Argument(help="Folder with the model's class subfolders, or fashion-mnist / "
                                             "synthetic (test split).")],
    out: Annotated[str | None, typer.Option("--out", "-o", help="Folder for report.json, confusion.png, "
                                            "mistakes.png (default: <run>/evaluation, -1, -2, ...).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write over an earlier report at --out.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most N images (0: all).")] = 0,
    data_dir: DataDir = None,
    device: Device = "auto",
    tta: Tta = "none",
) -> None:
    """Accuracy, per-class precision/recall/F1, confusion matrix and the most confident mistakes."""
    from pictorch.cli_common import output_path
    from pictorch.tasks.classify.api import evaluate as run_eval
    from pictorch.viz.progress import progress_bar

    out = output_path(out, "evaluation", ckpt, force, folder=True)
    with progress_bar("evaluating") as progress:
        rep = run_eval(ckpt, data, out_dir=out, data_dir=data_dir, limit=limit, device=device, tta=tta,
                       progress=progress)
    _echo_note(rep.get("note"))
    width = max(len(c["class"]) for c in rep["per_class"])
    typer.echo(f"{'class':<{width}}  precision  recall     f1  support")
    for c in rep["per_class"]:
        typer.echo(f"{c['class']:<{width}}  {c['precision']:9.4f} {c['recall']:7.4f} {c['f1']:6.4f} {c['support']:8d}")
    topk = "".join(f", top-{k} {v:.4f}" for k, v in rep["top_k"].items())
    typer.echo(f"accuracy {rep['accuracy']:.4f} on {rep['count']} images{topk}; macro F1 {rep['macro']['f1']:.4f}")
    typer.echo("  ".join(f"{k}: {v}" for k, v in rep["files"].items()))


@app.command()
def predict(
    ckpt: Ckpt,
    inputs: Annotated[list[str], typer.Argument(help="Image files and/or folders.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Labels per image.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    device: Device = "auto",
    tta: Tta = "none",
) -> None:
    """Top-k labels with probabilities for images."""
    import json

    from pictorch.tasks.classify.api import predict as run_predict
    from pictorch.viz.progress import progress_bar

    with progress_bar("classifying") as progress:
        rows = run_predict(ckpt, inputs, top_k=top_k, device=device, tta=tta, progress=progress)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['path']}: " + ", ".join(f"{t['label']} {t['prob']:.3f}" for t in r["top"]))


@app.command()
def export(
    ckpt: Ckpt,
    fmt: Annotated[str, typer.Option("--format", "-f", help="onnx or torchscript.")] = "onnx",
    out: Annotated[str | None, typer.Option("--out", "-o", help="Output file (default beside the "
                                                                "checkpoint).")] = None,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset.")] = 17,
) -> None:
    """Export to ONNX or TorchScript (input: float N×C×H×W in [0, 1]; normalization inside; JSON sidecar)."""
    from pictorch.tasks.classify.api import export as run_export

    res = run_export(ckpt, fmt, out, opset=opset)
    typer.echo(f"{res['format']}: {res['path']} (input N×{'×'.join(map(str, res['input_shape']))} in [0, 1]); "
               f"classes and normalization: {res['sidecar']}")


def _regimes(text: str) -> list[str]:
    return [r.strip() for r in text.split(",") if r.strip()]


@app.command()
@train_options(only=QUICK, steps=200, lr=3e-3, weight_decay=5e-4, out_dir="runs/compare", helps=TABLE_HELP)
def compare(
    data: Data = "fashion-mnist",
    init: Init = None,
    pretrained: Pretrained = None,
    weights: Weights = None,
    arch: Arch = "small_cnn",
    model_kw: ModelKw = None,
    regimes: Annotated[str, typer.Option("--regimes", help="Comma-separated regimes.")] = "head,last-k,full,scratch",
    k: Annotated[int, typer.Option("--k", help="last-k: groups of model.stages() trained.")] = 2,
    backbone_lr_mult: Annotated[float, typer.Option("--backbone-lr-mult", help="LR factor of the pretrained "
                                                                               "part.")] = 0.1,
    classes: Classes = None,
    per_class: PerClass = 0,
    image_size: ImageSize = None,
    mode: Mode = None,
    augment: Augment = "light",
    label_smoothing: Annotated[float, typer.Option("--label-smoothing", help="Label smoothing.")] = 0.1,
    test_split: Annotated[float, typer.Option("--test-split", help="Folder data: share held out as the test "
                                                                   "set.")] = 0.2,
    test_limit: Annotated[int, typer.Option("--test-limit", help="At most N test images (0: all).")] = 0,
    data_dir: DataDir = None,
    *, steps: int, batch_size: int, lr: float, weight_decay: float, out_dir: str, precision: str, seed: int,
    no_progress: bool, threads: str,
) -> None:
    """Train head / last-k / full / scratch on the same split: accuracy, trainable parameters, time."""
    tune = set_threads(threads)
    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.classify.api import compare as run_compare
    from pictorch.tasks.classify.steps import ClassifyConfig

    cfg = ClassifyConfig(data=data, data_dir=data_dir, classes=classes, per_class=per_class, image_size=image_size,
                         mode=mode, arch=arch, model_kwargs=_model_kw(model_kw), init=init, pretrained=pretrained,
                         weights=weights, regime="scratch" if not (init or pretrained or weights) else "full", k=k,
                         backbone_lr_mult=backbone_lr_mult, augment=augment, label_smoothing=label_smoothing,
                         val_split=0.0)
    tcfg = TrainConfig(out_dir=out_dir, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                       precision=precision, seed=seed, progress=not no_progress)
    res = run_compare(cfg, tcfg, regimes=_regimes(regimes), out_dir=out_dir, test_split=test_split,
                      test_limit=test_limit, tune_threads=tune)
    _echo_note(res.get("note"))
    typer.echo(res["table"])
    typer.echo(res["summary"])
    typer.echo(f"table: {res['markdown']}  csv: {res['csv']}")


@app.command("transfer-demo")
@train_options(only=("steps", "batch_size", "lr", "out_dir", "seed", "no_progress", "threads"), steps=150, lr=3e-3,
               out_dir="runs/transfer-demo", helps=TABLE_HELP)
def transfer_demo(
    pretrain_steps: Annotated[int, typer.Option("--pretrain-steps", help="Steps on the source classes.")] = 500,
    source: Annotated[str, typer.Option("--source", help="Fashion-MNIST classes to pretrain on.")] = "0-4",
    target: Annotated[str, typer.Option("--target", help="Classes learned from --per-class images.")] = "5-9",
    per_class: Annotated[int, typer.Option("--per-class", help="Images per new class.")] = 50,
    arch: Arch = "small_cnn",
    model_kw: ModelKw = '{"width": 16}',
    test_limit: Annotated[int, typer.Option("--test-limit", help="Test images scored (0: all 5000).")] = 2000,
    data_dir: DataDir = None,
    *, steps: int, batch_size: int, lr: float, out_dir: str, seed: int, no_progress: bool, threads: str,
) -> None:
    """Pretrain on Fashion-MNIST 0-4, learn 5-9 from 50 images per class with each regime; which wins?"""
    tune = set_threads(threads)
    from pictorch.tasks.classify.api import transfer_demo as run_demo

    res = run_demo(out_dir=out_dir, data_dir=data_dir, pretrain_steps=pretrain_steps, steps=steps,
                   per_class=per_class, arch=arch, model_kwargs=_model_kw(model_kw), batch_size=batch_size, lr=lr,
                   test_limit=test_limit, seed=seed, progress=not no_progress, source=source, target=target,
                   tune_threads=tune)
    typer.echo(res["table"])
    typer.echo(res["summary"])
    typer.echo(f"table: {res['markdown']}  csv: {res['csv']}")


@app.command()
@train_options(only=QUICK, without=("weight_decay",), steps=60, lr=3e-3, out_dir="runs/scale",
               helps={"steps": "Training steps per candidate.", "out_dir": "Folder for the tables."})
def scale(
    data: Data = "fashion-mnist",
    arch: Annotated[str, typer.Option("--arch", "-a", help="A registered model taking width_mult and depth_mult "
                                                           "(classify.scalable_cnn, efficientnet).")] = "classify.scalable_cnn",
    model_kw: ModelKw = None,
    phi: Annotated[float, typer.Option("--phi", min=0.0, max=8.0,
                                       help="Compound coefficient of the search (1: 2× FLOPs).")] = 1.0,
    grid: Annotated[str, typer.Option("--grid", help="Values tried for alpha, beta, gamma.")] = "1.0,1.1,1.2,1.3,1.4",
    tolerance: Annotated[float, typer.Option("--tolerance", help="Accepted |αβ²γ² − 2^φ|.")] = 0.1,
    max_candidates: Annotated[int, typer.Option("--max-candidates", help="Candidates trained (closest to the "
                                                                         "constraint first; 0: all).")] = 6,
    family: Annotated[int, typer.Option("--family", help="Report B1..Bn.")] = 7,
    classes: Classes = None,
    image_size: ImageSize = None,
    mode: Mode = None,
    augment: Augment = "light",
    train_images: Annotated[int, typer.Option("--train-images", help="Training subset per candidate.")] = 3000,
    val_images: Annotated[int, typer.Option("--val-images", help="Validation images scored.")] = 1000,
    data_dir: DataDir = None,
    *, steps: int, batch_size: int, lr: float, out_dir: str, precision: str, seed: int, no_progress: bool,
    threads: str,
) -> None:
    """EfficientNet compound scaling on your data: grid-search α, β, γ, then the B1..Bn configs."""
    tune = set_threads(threads)
    from pictorch.engine.config import TrainConfig
    from pictorch.errors import ConfigError
    from pictorch.tasks.classify.scale import scale as run_scale
    from pictorch.tasks.classify.steps import ClassifyConfig

    try:
        grid_vals = [float(v) for v in grid.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--grid must be comma-separated numbers like 1.0,1.1,1.2; got {grid!r}") from None
    cfg = ClassifyConfig(data=data, data_dir=data_dir, classes=classes, image_size=image_size, mode=mode, arch=arch,
                         model_kwargs=_model_kw(model_kw), augment=augment, val_split=0.0)
    tcfg = TrainConfig(out_dir=out_dir, steps=steps, batch_size=batch_size, lr=lr, precision=precision, seed=seed,
                       progress=False, log_every=max(1, steps))
    res = run_scale(cfg, tcfg, arch=arch, phi=phi, grid=grid_vals, tolerance=tolerance, max_candidates=max_candidates,
                    family=family, train_images=train_images, val_images=val_images, out_dir=out_dir,
                    log=None if no_progress else typer.echo, tune_threads=tune)
    _echo_note(res.get("note"))
    typer.echo(res["table"])
    typer.echo("")
    typer.echo(res["family_table"])
    typer.echo("  ".join(f"{k}: {v}" for k, v in res["files"].items()))
