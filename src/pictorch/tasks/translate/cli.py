"""``pictorch translate``: pix2pix and CycleGAN — train, apply to any images, evaluate, list the built-in tasks."""

from __future__ import annotations

from typing import Annotated

import typer

from pictorch.cli_common import (
    DataDir,
    Seed,
    parse_duration,
    train_options,
)

app = typer.Typer(no_args_is_help=True, help="Image-to-image translation: pix2pix (paired) and CycleGAN (unpaired).")

Ckpt = Annotated[str, typer.Argument(help="translate checkpoint (.safetensors) or run folder.")]
Mode = Annotated[str, typer.Option(
    "--mode", help="eval (default: running batch-norm statistics, no dropout; deterministic) or paper (batch "
    "statistics and dropout on, as the pix2pix paper and the anchor without --eval test).")]

# CPU presets: what a preset sets unless the option is typed. Figures: ~0.01-0.03 s/step at 32 px on one core
# of the dev machine (tiny), ~0.05-0.1 s (cpu); "paper" is the anchor's width and batch size. CycleGAN (two
# generators, two critics) under "cpu" on labels2satellite's 64 px tiles: 1.69 s/step in bf16 on one shared EPYC
# core at load 5, so the full 2000 steps take about an hour (the estimate is printed before training).
PRESETS: dict[str, dict[str, object]] = {
    "tiny": {"ngf": 8, "ndf": 8, "batch_size": 4, "steps": 300, "picture_every": 100, "val_every": 100},
    "cpu": {"ngf": 32, "ndf": 32, "batch_size": 8, "steps": 2000, "picture_every": 500, "val_every": 500},
    "paper": {"ngf": 64, "ndf": 64, "batch_size": 1, "steps": 20000, "picture_every": 1000, "val_every": 1000},
}


# measured: bench/translate_throughput.py (speed) and bench/translate_ablation.py --precision bf16-mixed (quality)
PRECISION_HELP = ("auto (bf16-mixed on CPUs with native bf16 and on GPUs: 1.56-1.66x the plain fp32 loop against "
                  "1.20-1.27x for fp32 on an AVX-512-BF16 EPYC, with pix2pix scores within the seed spread of fp32; "
                  "32-true elsewhere), 32-true, bf16-mixed.")


@app.command()
@train_options(extra=("time_budget",), without=("weight_decay",), steps=2000, batch_size=8, lr=2e-4,
               out_dir="runs/translate", precision="auto", picture_every=500, helps={"precision": PRECISION_HELP})
def train(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="pix2pix (paired) or cyclegan (unpaired).")] = "pix2pix",
    data: Annotated[str, typer.Option("--data", help="Built-in task (edges2photo, gray2color, day2night, "
                                      "sneaker2boot; `translate tasks` lists them) or a folder: A|B files, or A/ "
                                      "and B/ (trainA/ trainB/) subfolders.")] = "edges2photo",
    data_b: Annotated[str | None, typer.Option("--data-b", help="Folder of B images (then --data is folder A).")]
    = None,
    direction: Annotated[str, typer.Option("--direction", help="AtoB or BtoA.")] = "AtoB",
    preset: Annotated[str, typer.Option("--preset", help="tiny (seconds), cpu (minutes), paper (the anchor's "
                                        "widths, batch 1): sets the options you do not type.")] = "cpu",
    size: Annotated[int, typer.Option("--size", help="Built-in: crop side (32; day2night 64); folders: resize "
                                      "to size×size (0: keep).")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="Crops per photo / tiles / images per domain (0: task "
                                       "default).")] = 0,
    coast: Annotated[float, typer.Option("--coast", help="Earth tasks: share of training tiles drawn to show "
                                         "land and water (-1: auto; 0: as they fall).")] = -1.0,
    netG: Annotated[str, typer.Option("--netG", help="auto, unet, resnet, unet_256, unet_128, resnet_9blocks, "  # noqa: N803
                                      "resnet_6blocks.")] = "auto",
    num_downs: Annotated[int, typer.Option("--num-downs", help="U-Net depth (0: deepest that fits).")] = 0,
    n_blocks: Annotated[int, typer.Option("--n-blocks", help="ResNet blocks (0: 9 at >=256 px, else 6).")] = 0,
    ngf: Annotated[int, typer.Option("--ngf", help="Generator width.")] = 64,
    netD: Annotated[str, typer.Option("--netD", help="patchgan or pixel (1×1).")] = "patchgan",  # noqa: N803
    n_layers_d: Annotated[int, typer.Option("--n-layers-d", help="PatchGAN layers (3: 70×70).")] = 3,
    ndf: Annotated[int, typer.Option("--ndf", help="Discriminator width.")] = 64,
    norm: Annotated[str, typer.Option("--norm", help="auto (pix2pix batch, cyclegan instance), batch, instance, "
                                      "none.")] = "auto",
    dropout: Annotated[str, typer.Option("--dropout", help="auto (pix2pix on, cyclegan off), on, off.")] = "auto",
    gan_mode: Annotated[str, typer.Option("--gan-mode", help="auto (pix2pix vanilla, cyclegan lsgan), vanilla, "
                                          "lsgan, wgangp, hinge.")] = "auto",
    lambda_l1: Annotated[float, typer.Option("--lambda-l1", help="pix2pix L1 weight (0: cGAN only).")] = 100.0,
    gan_weight: Annotated[float, typer.Option("--gan-weight", help="Adversarial weight in G's loss (0: L1 only).")]
    = 1.0,
    lambda_cycle: Annotated[float, typer.Option("--lambda-cycle", help="CycleGAN cycle weight each way.")] = 10.0,
    lambda_identity: Annotated[float, typer.Option("--lambda-identity", help="Identity weight × lambda-cycle.")]
    = 0.5,
    pool_size: Annotated[int, typer.Option("--pool-size", help="Past fakes for D (-1: cyclegan 50, pix2pix 0).")]
    = -1,
    gp_weight: Annotated[float, typer.Option("--gp-weight", help="WGAN-GP weight.")] = 10.0,
    beta1: Annotated[float, typer.Option("--beta1", help="Adam beta1.")] = 0.5,
    decay_fraction: Annotated[float, typer.Option("--decay-fraction", help="Final fraction of steps with linear LR "
                                                  "decay to 0.")] = 0.5,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Random flips (same for A and B).")] = True,
    channels_last: Annotated[bool, typer.Option("--channels-last/--no-channels-last", help="Channels-last memory "
                                                "format (measured 0.97-1.05x in fp32 and 0.75x of NCHW in bf16 "
                                                "for pix2pix on CPU: off).")] = False,
    fast_layers: Annotated[bool, typer.Option("--fast-layers/--no-fast-layers", help="Train the same layers with "
                                              "faster CPU kernels (tiny-map convs as im2col + GEMM, instance norm "
                                              "via group norm, D's real and fake batches in one forward); "
                                              "checkpoints do not change.")] = True,
    label_smoothing: Annotated[float, typer.Option("--label-smoothing", help="D's real target (1: off).")] = 1.0,
    instance_noise: Annotated[float, typer.Option("--instance-noise", help="Noise std on D inputs (0: off).")]
    = 0.0,
    data_dir: DataDir = None,
    *, time_budget: str, threads: str, no_progress: bool, config: str | None,
) -> None:
    """Train pix2pix or CycleGAN; writes the checkpoint, metrics.csv, curves.png and fixed A→B sample grids."""
    from pictorch.cli_common import echo_result, train_and_task_config
    from pictorch.errors import ConfigError
    from pictorch.tasks.translate import api
    from pictorch.tasks.translate.config import TranslateConfig

    if preset not in PRESETS:
        raise ConfigError(f"unknown --preset {preset!r}; use one of {', '.join(PRESETS)}")
    from pictorch.engine.config import load_yaml

    params = dict(ctx.params)
    # precedence: typed options, then the YAML file, then the preset, then the defaults
    in_yaml = {str(k).replace("-", "_") for k in load_yaml(config)} if config else set()
    def untyped(name: str) -> bool:
        source = ctx.get_parameter_source(name)  # typer vendors click: compare by name, not by its private enum
        return source is None or source.name in ("DEFAULT", "DEFAULT_MAP")

    for k in list(params):
        if k in in_yaml and untyped(k):
            params[k] = None  # "not given": the shared resolver then takes the YAML's value, not this default
    for k, v in PRESETS[preset].items():
        if untyped(k) and k not in in_yaml:
            params[k] = v
    tcfg, cfg = train_and_task_config(TranslateConfig, params, config, no_progress)
    typer.echo(f"translate train: {cfg.model} on {cfg.data} (preset {preset}: {tcfg.steps} steps, batch "
               f"{tcfg.batch_size}, ngf {cfg.ngf}, ndf {cfg.ndf})")
    result = api.train(cfg, tcfg, data_dir=data_dir, max_seconds=parse_duration(time_budget), threads=threads, echo=typer.echo)
    echo_result(result, f"translate train ({cfg.model})")


@app.command("apply")
def apply_cmd(
    ckpt: Ckpt,
    images: Annotated[list[str], typer.Argument(help="Image files and/or folders of images.")],
    out: Annotated[str | None, typer.Option("--out", "-o", help="Folder for the translated PNGs (never overwritten; "
                                            "default: <run>/translated).")] = None,
    reverse: Annotated[bool, typer.Option("--reverse", help="CycleGAN: translate B→A instead.")] = False,
    mode: Mode = "eval",
    seed: Seed = 0,
) -> None:
    """Translate images of any size with a checkpoint (it describes itself: no flags to retype)."""
    from pictorch.cli_common import output_path

    out = out or output_path(None, "translated", ckpt, folder=True)
    from pictorch.tasks.translate import api
    from pictorch.viz.progress import progress_bar

    with progress_bar("translating") as progress:
        res = api.apply(ckpt, images, out, reverse=reverse, mode=mode, seed=seed, progress=progress)
    for path, reason in res["skipped"]:
        typer.echo(f"skipped {path}: {reason}", err=True)
    from pictorch.utils import plural

    typer.echo(f"wrote {plural(len(res['files']), 'image')} to {out} (mode {mode})")


@app.command()
def evaluate(
    ckpt: Ckpt,
    data: Annotated[str | None, typer.Option("--data", help="Test data (default: the held-out split of the "
                                             "checkpoint's data).")] = None,
    data_b: Annotated[str | None, typer.Option("--data-b", help="Folder of B images for --data.")] = None,
    data_dir: DataDir = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Folder for report.json and a sample grid.")]
    = None,
    mode: Mode = "eval",
    n: Annotated[int, typer.Option("--n", help="At most this many test pairs (0: all).")] = 0,
    feature_net: Annotated[str | None, typer.Option("--feature-net", help="Domain feature network for FID/KID "
                                                    "of G(A) vs the real test B: a classifier checkpoint of the "
                                                    "B domain, or inception:PATH.")] = None,
) -> None:
    """L1 / PSNR / SSIM of G(A) against the true B on held-out pairs, beside the identity mapping; cycle L1;
    FID/KID with a domain feature net (and their real-vs-real floor)."""
    from pictorch.tasks.translate import api
    from pictorch.viz.progress import progress_bar

    with progress_bar("evaluating") as progress:
        rep = api.evaluate(ckpt, data=data, data_b=data_b, data_dir=data_dir, out=out, mode=mode, n=n,
                           feature_net=feature_net, progress=progress)
    keys = [k for k in ("l1", "psnr", "ssim", "identity_l1", "identity_psnr", "identity_ssim", "cycle_l1_a",
                        "cycle_l1_b", "fid", "fid_floor", "kid", "kid_floor") if k in rep]
    typer.echo(f"{rep['model']} on {rep['data']} ({rep['split']}, mode {mode}): "
               + ", ".join(f"{k} {rep[k]:.4g}" for k in keys))
    for f in rep.get("files", []):
        typer.echo(f"wrote {f}")


@app.command()
def tasks() -> None:
    """The built-in offline tasks."""
    from pictorch.tasks.translate.data import BUILTIN_TASKS

    for k, v in BUILTIN_TASKS.items():
        typer.echo(f"{k:<17} {v}")
