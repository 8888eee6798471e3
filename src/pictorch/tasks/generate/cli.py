"""``pictorch gan``: train GAN/DCGAN/conditional GANs; sample, interpolate, latent arithmetic, evaluate (FID)."""

from __future__ import annotations

from typing import Annotated

import typer

from pictorch.cli_common import (
    DataDir,
    Force,
    Seed,
    output_path,
    parse_duration,
    train_options,
)

app = typer.Typer(no_args_is_help=True, help="GANs: train, sample, interpolate, latent arithmetic, evaluate (FID).")
feature_app = typer.Typer(no_args_is_help=True, help="The domain feature network used for FID/KID.")
app.add_typer(feature_app, name="feature-net")

GAN_PRECISION_HELP = ("auto (fp32 on CPUs, where bf16 autocast measured slower for these convs; bf16-mixed on "
                      "GPUs), 32-true, bf16-mixed.")
Ckpt = Annotated[str, typer.Argument(help="GAN checkpoint (.safetensors) or run folder.")]


def _int_list(text: str, option: str) -> list[int]:
    from pictorch.errors import ConfigError

    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ConfigError(f"{option} takes comma-separated integers (seeds), e.g. {option} 1,2,3; got {text!r}") from None
    if not values:
        raise ConfigError(f"{option} needs at least one seed, e.g. {option} 1,2")
    big = [v for v in values if not -(2**63) <= v < 2**63]  # torch's generators take 64-bit seeds
    if big:
        raise ConfigError(f"{option}: seeds are 64-bit integers; {big[0]} is out of range")
    return values


@app.command()
@train_options(without=("val_every",), extra=("time_budget", "compile"), steps=2000, batch_size=64, lr=2e-4,
               weight_decay=0.0, out_dir="runs/gan", picture_every=500, helps={"precision": GAN_PRECISION_HELP})
def train(
    ctx: typer.Context,
    data: Annotated[str, typer.Option("--data", help="fashion-mnist, photo-crops (real colour photos shipped with "
                                      "the dependencies, cut into crops) or a folder of images (class "
                                      "sub-folders).")]
    = "fashion-mnist",
    data_dir: DataDir = None,
    model: Annotated[str, typer.Option("--model", help="gan (MLP), dcgan, cgan (conditional MLP), cdcgan, lapgan "
                                       "(Laplacian pyramid of GANs), stackgan (two conditional stages).")]
    = "dcgan",
    levels: Annotated[int, typer.Option("--levels", help="lapgan: pyramid levels (28 → 14 → 7 is 3; the side must "
                                        "halve exactly levels − 1 times).")] = 3,
    kl_weight: Annotated[float, typer.Option("--kl-weight", help="stackgan: weight λ >= 0 of the conditioning-"
                                             "augmentation KL term (logged as kl).")] = 1.0,
    stage1_fraction: Annotated[float, typer.Option("--stage1-fraction", help="stackgan: share of the steps that "
                                                   "trains Stage I; Stage II trains in the rest.")] = 0.5,
    condition: Annotated[str, typer.Option("--condition", help="stackgan: class (the data's classes) or a CSV of "
                                           "float vectors per image: file,v1,v2,... (multi-hot attributes, "
                                           "text embeddings).")] = "class",
    image_size: Annotated[int, typer.Option("--image-size", help="Image side; DCGAN: multiple of 4 from 28.")] = 28,
    channels: Annotated[int, typer.Option("--channels", help="Image channels (0: as in the data).")] = 0,
    z_dim: Annotated[int, typer.Option("--z-dim", help="Latent size.")] = 100,
    z_dist: Annotated[str, typer.Option("--z-dist", help="normal (recommended) or uniform.")] = "normal",
    g_loss: Annotated[str, typer.Option("--g-loss", help="non-saturating, saturating, hinge, wgan-gp.")]
    = "non-saturating",
    d_steps: Annotated[int, typer.Option("--d-steps", help="Discriminator steps per generator step.")] = 1,
    label_smoothing: Annotated[float, typer.Option("--label-smoothing", help="D target for real images (1: off).")]
    = 0.9,
    label_flip: Annotated[float, typer.Option("--label-flip", help="Probability of flipping a D target (0: off).")]
    = 0.05,
    instance_noise: Annotated[float, typer.Option("--instance-noise", help="Noise std on D inputs, annealed to 0.")]
    = 0.1,
    noise_anneal: Annotated[float, typer.Option("--noise-anneal", help="Fraction of training to anneal noise over.")]
    = 0.5,
    separate_batches: Annotated[bool, typer.Option("--separate-batches/--no-separate-batches",
                                                   help="Real and fake batches pass D separately (BatchNorm).")] = True,
    spectral_norm: Annotated[bool, typer.Option("--spectral-norm", help="Spectral normalization in D.")] = False,
    fully_connected: Annotated[bool, typer.Option("--fully-connected",
                                                  help="FC projections in the conv models (the trick says no).")]
    = False,
    gp_weight: Annotated[float, typer.Option("--gp-weight", help="WGAN-GP penalty weight.")] = 10.0,
    lr_g: Annotated[float, typer.Option("--lr-g", help="Generator LR (0: --lr).")] = 0.0,
    lr_d: Annotated[float, typer.Option("--lr-d", help="Discriminator LR (0: --lr).")] = 0.0,
    beta1: Annotated[float, typer.Option("--beta1", help="Adam beta1.")] = 0.5,
    ngf: Annotated[int, typer.Option("--ngf", help="Generator width.")] = 64,
    ndf: Annotated[int, typer.Option("--ndf", help="Discriminator width.")] = 64,
    hidden: Annotated[int, typer.Option("--hidden", help="MLP hidden width.")] = 512,
    channels_last: Annotated[bool, typer.Option("--channels-last/--no-channels-last",
                                                help="Channels-last layout for conv models (faster on CPUs).")]
    = True,
    cond_bn: Annotated[bool, typer.Option("--cond-bn/--no-cond-bn",
                                          help="cdcgan: class-conditional BatchNorm in every G stage.")] = True,
    aux_weight: Annotated[float, typer.Option("--aux-weight",
                                              help="Conditional models: auxiliary-classifier (AC-GAN) loss weight "
                                              "(0: off; the default 2 gave 94% class consistency on Fashion-MNIST in 5 min, "
                                              "against 37% without it after 90 s). Unconditional models ignore it.")]
    = 2.0,
    limit: Annotated[int, typer.Option("--limit", help="Use only this many training images (0: all).")] = 0,
    *, config: str | None, no_progress: bool, time_budget: str, threads: str,
) -> None:
    """Train a GAN; writes the checkpoint (G and D), metrics.csv, curves.png and sample grids from fixed z."""
    from pictorch.cli_common import echo_result, train_and_task_config
    from pictorch.tasks.generate import api
    from pictorch.tasks.generate.tricks import GANConfig

    tcfg, gcfg = train_and_task_config(GANConfig, ctx, config, no_progress)
    result = api.train(gcfg, tcfg, data_dir=data_dir, limit=limit, max_seconds=parse_duration(time_budget), threads=threads)
    echo_result(result, f"gan train ({gcfg.model})")
    ct = result.get("cpu_threads")
    if ct and ct.get("probes"):
        last = ct["probes"][-1]
        timings = ", ".join(f"{k} threads {v:.3f}s" for k, v in last["step_s"].items())
        typer.echo(f"cpu threads: {ct['threads']} (last probe at step {last['step']}: {timings} per step)")
    if result.get("warnings"):
        kinds = ", ".join(sorted({w["kind"] for w in result["warnings"]}))
        typer.echo(f"monitor warnings: {kinds} (details in {result['run_dir']}/monitor.json)", err=True)


@app.command()
def sample(
    ckpt: Ckpt,
    n: Annotated[int, typer.Option("--n", help="Samples (per class with --per-class).")] = 64,
    class_: Annotated[str | None, typer.Option("--class", help="Class name or index (conditional models).")] = None,
    per_class: Annotated[bool, typer.Option("--per-class", help="One row of --n samples per class.")] = False,
    condition: Annotated[str | None, typer.Option(
        "--condition", help="Vector-conditioned models: comma-separated values of one condition, several "
        "separated by ';', or a CSV of rows (file,v1,...); one row of --n samples each.")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="The grid PNG to write (default: samples.png in "
                                            "the run folder), or a folder for one PNG per sample.")] = None,
    force: Force = False,
    seed: Seed = 0,
    nrow: Annotated[int, typer.Option("--nrow", help="Images per grid row.")] = 8,
) -> None:
    """Generate samples: a grid or one file per sample; a chosen class, every class or given condition vectors."""
    out = output_path(out, "samples.png", ckpt, force, folder=out is not None and not out.lower().endswith(".png"))
    from pictorch.tasks.generate import api

    res = api.sample(ckpt, n=n, class_=class_, per_class=per_class, out=out, seed=seed, nrow=nrow,
                     condition=condition)
    where = res["files"][0] if len(res["files"]) == 1 else f"{len(res['files'])} files in {out}"
    typer.echo(f"wrote {res['images'].shape[0]} samples: {where}")


@app.command()
def interpolate(
    ckpt: Ckpt,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds; a path through their latents.")]
    = "1,2",
    steps: Annotated[int, typer.Option("--steps", help="Images per segment.")] = 10,
    mode: Annotated[str, typer.Option("--mode", help="lerp or slerp (better for normal latents).")] = "slerp",
    class_: Annotated[str | None, typer.Option("--class", help="Class (conditional models).")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Strip PNG (a GIF is written beside it).")]
    = None,
    force: Force = False,
) -> None:
    """Interpolate between seeds' latents (lerp/slerp): a strip PNG and a GIF."""
    out = output_path(out, "interpolation.png", ckpt, force, folder=False)
    from pictorch.tasks.generate import api

    res = api.interpolate(ckpt, seeds=_int_list(seeds, "--seeds"), steps=steps, mode=mode, out=out, class_=class_)
    typer.echo("wrote " + ", ".join(res["files"]))


@app.command()
def arithmetic(
    ckpt: Ckpt,
    a: Annotated[str, typer.Option("--a", help="Seeds whose mean latent is a.")],
    b: Annotated[str, typer.Option("--b", help="Seeds whose mean latent is b.")],
    c: Annotated[str, typer.Option("--c", help="Seeds whose mean latent is c.")],
    class_: Annotated[str | None, typer.Option("--class", help="Class (conditional models).")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Picture of a, b, c and a − b + c.")] = None,
    force: Force = False,
) -> None:
    """Latent arithmetic on mean latents of chosen samples: a − b + c, as a picture."""
    out = output_path(out, "arithmetic.png", ckpt, force, folder=False)
    from pictorch.tasks.generate import api

    res = api.arithmetic(ckpt, _int_list(a, "--a"), _int_list(b, "--b"), _int_list(c, "--c"), out=out,
                         class_=class_)
    typer.echo("wrote " + ", ".join(res["files"]))


@app.command()
def evaluate(
    ckpt: Ckpt,
    feature_net: Annotated[str | None, typer.Option(
        "--feature-net", help="Classifier checkpoint trained on the same data (e.g. `classify train`), "
        "inception:PATH, or auto (default): the cached domain network for the GAN's data, trained once (~2.5 min) "
        "when missing.")] = None,
    n: Annotated[int, typer.Option("--n", help="Generated (and real) images per side.")] = 5000,
    data: Annotated[str | None, typer.Option("--data", help="Real data (default: what the GAN trained on).")] = None,
    data_dir: DataDir = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="JSON report (default <run>/eval.json).")] = None,
    seed: Seed = 0,
) -> None:
    """FID with its real-vs-real floor, KID, precision/recall, conditional consistency per class."""
    from pictorch.tasks.generate import api
    from pictorch.viz.progress import progress_bar

    with progress_bar("evaluating") as progress:
        report = api.evaluate(ckpt, feature_net=feature_net, n=n, data=data, data_dir=data_dir, out=out, seed=seed,
                              progress=progress)
    typer.echo(api.format_report(report))
    typer.echo(f"report: {report['report_path']}")


@feature_app.command("train")
@train_options(only=("steps", "batch_size", "lr", "weight_decay", "out_dir", "precision", "accelerator", "seed",
                     "log_every", "resume", "no_progress", "config"), steps=1500, batch_size=128, lr=3e-3,
               weight_decay=1e-4, out_dir="runs/featnet", helps={"precision": GAN_PRECISION_HELP})
def feature_train(
    data: Annotated[str, typer.Option("--data", help="fashion-mnist or a folder of images (class sub-folders).")]
    = "fashion-mnist",
    data_dir: DataDir = None,
    image_size: Annotated[int, typer.Option("--image-size", min=8, max=1024,
                                            help="Input side (match the GAN's).")] = 28,
    channels: Annotated[int, typer.Option("--channels", help="Channels (0: as in the data).")] = 0,
    width: Annotated[int, typer.Option("--width", help="small_cnn width.")] = 32,
    limit: Annotated[int, typer.Option("--limit", help="Use only this many training images (0: all).")] = 0,
    *, steps: int, batch_size: int, lr: float, weight_decay: float, out_dir: str, precision: str,
    accelerator: str, seed: int, log_every: int, resume: bool, no_progress: bool, config: str | None,
) -> None:
    """Train the domain feature network (a small_cnn classifier) used by `gan evaluate --feature-net`."""
    from pictorch.cli_common import echo_result, train_config
    from pictorch.tasks.generate import api

    tcfg = train_config(config, no_progress=no_progress, steps=steps, batch_size=batch_size, lr=lr,
                        weight_decay=weight_decay, out_dir=out_dir, precision=precision, accelerator=accelerator,
                        seed=seed, log_every=log_every, resume=resume)
    result = api.train_feature_net(tcfg, data=data, data_dir=data_dir, image_size=image_size, channels=channels,
                                   width=width, limit=limit)
    echo_result(result, "feature-net train")
