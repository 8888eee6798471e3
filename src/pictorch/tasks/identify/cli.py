"""``pictorch identify``: train embeddings, evaluate them, embed photos; gallery verbs (enroll, who, verify,
list, remove, export, calibrate) come from :mod:`pictorch.tasks.identify.gallery_cli`.

Only typer/stdlib at module level: torch and friends load inside the commands.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from pictorch.cli_common import (
    DataDir,
    Force,
    Seed,
    output_path,
    set_threads,
    train_options,
)

app = typer.Typer(no_args_is_help=True, help="Recognize people/objects from a few photos.")

Data = Annotated[str, typer.Option("--data", help="fashion-mnist, toy-identities[:IDSxPER], or a folder with "
                                                  "one subfolder of photos per person.")]
Classes = Annotated[str | None, typer.Option("--classes", help="Identities to use: '0-5', '0,2,4' or names.")]


@app.command()
@train_options(extra=("time_budget",), without=("picture_every", "val_every"), out_dir="runs/identify")
def train(
    ctx: typer.Context,
    data: Data = "fashion-mnist",
    classes: Classes = None,
    data_dir: DataDir = None,
    backbone: Annotated[str, typer.Option(help="Any registered backbone (small_cnn, resnet18, ...).")] = "small_cnn",
    backbone_args: Annotated[str, typer.Option(help="Backbone arguments, e.g. 'width=16' or 'stem=cifar'.")] = "",
    embed_dim: Annotated[int, typer.Option(help="Embedding width.")] = 128,
    pool: Annotated[int, typer.Option(help="1: global average pooling; n: keep an n×n grid (aligned images).")] = 1,
    embedding: Annotated[str, typer.Option(help="backbone: pooled backbone features (transfers to unseen "
                                                "identities); head: the trained embedding layer.")] = "backbone",
    loss: Annotated[str, typer.Option(help="triplet, softmax (DeepFace), arcface or cosface.")] = "triplet",
    miner: Annotated[str, typer.Option(help="Triplet miner: all, hard or semi-hard.")] = "semi-hard",
    margin: Annotated[float | None, typer.Option(help="Loss margin (default per loss).")] = None,
    scale: Annotated[float, typer.Option(help="ArcFace/CosFace logit scale.")] = 30.0,
    p: Annotated[int, typer.Option("--p", help="Identities per batch (0: auto).")] = 0,
    k: Annotated[int, typer.Option("--k", help="Images per identity in a batch (0: batch-size // p).")] = 0,
    pretrained: Annotated[str | None, typer.Option(help="Pretrained backbone weights, e.g. imagenet.")] = None,
    weights: Annotated[str | None, typer.Option(help="Local backbone weights file.")] = None,
    freeze: Annotated[bool, typer.Option(help="Train only the new embedding head.")] = False,
    unfreeze_last: Annotated[int, typer.Option(help="Also train the backbone's last N stages (-1: all).")] = -1,
    backbone_lr_mult: Annotated[float, typer.Option(help="Backbone LR = lr × this.")] = 1.0,
    image_size: Annotated[int, typer.Option(help="Resize folder photos to this size (0: backbone's).")] = 0,
    mode: Annotated[str, typer.Option(help="L or RGB for folder photos.")] = "L",
    augment: Annotated[bool, typer.Option(help="Random flips/shifts.")] = True,
    faces: Annotated[bool | None, typer.Option("--faces/--no-faces", help="Detect and align the faces of folder "
                                               "photos first (default: on for --backbone dlib-face).")] = None,
    *, no_progress: bool, config: str | None, threads: str,
) -> None:
    """Train an embedding (triplet loss with a miner, DeepFace softmax, ArcFace or CosFace)."""
    from pictorch.cli_common import echo_result, train_and_task_config
    from pictorch.tasks.identify.api import train as api_train
    from pictorch.tasks.identify.steps import IdentifyConfig

    set_threads(threads)  # the one thread policy (engine.threads); auto keeps torch's count here
    tcfg, icfg = train_and_task_config(IdentifyConfig, ctx, config, no_progress)
    kw = {f: getattr(icfg, f) for f in icfg.__dataclass_fields__ if f not in ("data", "extra")}
    result = api_train(data=icfg.data, train_cfg=tcfg, **kw)
    echo_result(result, "identify train")


@app.command()
def evaluate(
    checkpoint: Annotated[str, typer.Argument(help="Identify checkpoint or run folder (or dlib-face).")],
    data: Data = "fashion-mnist",
    classes: Classes = None,
    data_dir: DataDir = None,
    split: Annotated[str, typer.Option(help="Fashion-MNIST split.")] = "test",
    pairs: Annotated[str | None, typer.Option(help="LFW-format pairs file.")] = None,
    pairs_root: Annotated[str | None, typer.Option(help="Folder of the pair images (default: --data).")] = None,
    n_pairs: Annotated[int, typer.Option(help="Pairs drawn from labels when no --pairs.")] = 6000,
    gallery_per_class: Annotated[int, typer.Option(help="Images enrolled per identity.")] = 5,
    max_images: Annotated[int, typer.Option(help="Cap on evaluated images.")] = 10000,
    out_dir: Annotated[str | None, typer.Option("--out", "-o", help="Report folder (default: <run>/eval, "
                                                "or eval-1, eval-2, ... when it exists).")] = None,
    seed: Seed = 0,
    faces: Annotated[bool | None, typer.Option("--faces/--no-faces", help="Detect and align faces in folder "
                                               "photos first (default: on for face models).")] = None,
    detector: Annotated[str, typer.Option(help="Face detector: hog, cnn or haar.")] = "hog",
) -> None:
    """Verification (10-fold accuracy, AUC, EER, TAR@FAR), rank-1/CMC, open-set DIR@FAR, Recall@1, MAP@R."""
    from pathlib import Path

    from pictorch.tasks.identify import service
    from pictorch.tasks.identify.api import evaluate as api_evaluate

    if out_dir is None:  # a new folder per evaluation: never over an earlier report and its pictures
        from pictorch.tasks.identify.annotate import unique_path

        base = Path(checkpoint)
        out_dir = str(unique_path((base if base.is_dir() else base.parent) / "eval" if checkpoint != "dlib-face"
                                  else Path("runs/eval")))
    from pictorch.viz.progress import progress_bar

    embedder = service.load_embedder(checkpoint)
    with progress_bar("reading photos") as progress:
        rep = api_evaluate(checkpoint, data=data, data_dir=data_dir, classes=classes, split=split, pairs=pairs,
                           pairs_root=pairs_root, n_pairs=n_pairs, gallery_per_class=gallery_per_class,
                           max_images=max_images, out_dir=out_dir, seed=seed, faces=faces, face_detector=detector,
                           embedder=embedder, progress=progress)
    print_report(rep)


def print_report(rep: dict) -> None:
    """The evaluation report as a table (rich), plus where the files went."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="identify evaluate")
    table.add_column("metric")
    table.add_column("value", justify="right")
    ver = rep.get("verification", {})
    rows = [("verification accuracy (10-fold)", ver.get("accuracy_10fold")), ("ROC AUC", ver.get("auc")),
            ("EER", ver.get("eer")), ("TAR @ FAR=1e-2", ver.get("tar@far=0.01")),
            ("TAR @ FAR=1e-3", ver.get("tar@far=0.001"))]
    ret = rep.get("retrieval", {})
    rows += [("Recall@1", ret.get("recall@1")), ("Recall@5", ret.get("recall@5")), ("MAP@R", ret.get("map@r"))]
    cs = rep.get("closed_set", {})
    rows += [("closed-set rank-1", cs.get("rank1")),
             ("closed-set rank-5", cs["cmc"][4] if len(cs.get("cmc", [])) > 4 else None)]
    op = rep.get("open_set", {})
    rows += [("open-set DIR @ FAR=1%", op.get("dir@far=0.01")),
             ("non-member rejection @ FAR=1%", op.get("rejection@far=0.01")),
             ("open-set DIR @ FAR=10%", op.get("dir@far=0.1"))]
    for name, v in rows:
        if v is not None:
            table.add_row(name, f"{v:.4f}")
    console = Console()
    console.print(table)
    if rep.get("report_path"):
        console.print(f"report: {rep['report_path']}")
        for k, v in rep.get("pictures", {}).items():
            console.print(f"{k}: {v}")


@app.command()
def embed(
    checkpoint: Annotated[str, typer.Argument(help="Identify checkpoint or run folder (or dlib-face).")],
    photos: Annotated[list[str], typer.Argument(help="Image files or folders.")],
    out: Annotated[str | None, typer.Option("--out", "-o", help="Output .npz (embeddings + paths).")] = None,
    force: Force = False,
    faces: Annotated[bool | None, typer.Option("--faces/--no-faces", help="Detect and align the largest face "
                                               "first (default: on for face models such as dlib-face).")] = None,
    detector: Annotated[str, typer.Option(help="Face detector: hog, cnn or haar.")] = "hog",
) -> None:
    """Embed photos into an .npz file (``embeddings`` N×dim, ``paths``, ``boxes``, ``metric``)."""
    out = output_path(out, "embeddings.npz", checkpoint, force, folder=False)
    import numpy as np

    from pictorch.errors import DataError
    from pictorch.tasks.identify import service
    from pictorch.tasks.identify.preprocess import faces_default, prepare
    from pictorch.tasks.identify.scores import metric_of
    from pictorch.utils import atomic_write

    emb = service.load_embedder(checkpoint)
    paths = service.expand_photos(photos)
    from pictorch.tasks.identify.gallery_cli import _bar

    with _bar("embedding photos") as progress:
        prep = prepare(paths, emb.input_size, emb.mode, faces=faces_default(emb, faces), detector=detector,
                       progress=progress)
    for p, why in prep.bad:
        typer.echo(f"warning: {p}: {why}; skipped", err=True)
    for p, note in prep.notes:
        typer.echo(f"note: {p}: {note}", err=True)
    if not len(prep):
        raise DataError(f"none of the {len(paths)} photos could be embedded (first: {prep.bad[0][0]}: "
                        f"{prep.bad[0][1]})")
    vecs = emb.embed_images(prep.images)
    boxes = np.array([it.box if it.box else (-1, -1, -1, -1) for it in prep.items], np.int64)
    with atomic_write(out) as f:
        np.savez(f, embeddings=vecs.numpy(), paths=np.array(prep.paths), boxes=boxes,
                 fingerprint=emb.fingerprint, metric=metric_of(emb))
    typer.echo(f"{len(prep)} embeddings ({emb.dim}-d) -> {out}")


def _mount_gallery() -> None:
    try:
        mod = importlib.import_module("pictorch.tasks.identify.gallery_cli")
    except ModuleNotFoundError as e:
        if e.name == "pictorch.tasks.identify.gallery_cli":
            return
        raise
    mod.register(app)


_mount_gallery()
