"""Autoencoder verbs that search and report: code search against an index, the compression report beside PCA."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pictorch.errors import ConfigError
from pictorch.tasks.autoencode.inference import TrainedAutoencoder, _load, _read_images

# -- search ----------------------------------------------------------------------------------------------------


def nearest_neighbours(database: torch.Tensor | np.ndarray, queries: torch.Tensor | np.ndarray, k: int,
                       metric: str = "l2", exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """k nearest database rows of each query through the shared vector index (exact, flat).

    Args:
        database: N×D vectors.
        queries: Q×D vectors.
        k: Neighbours per query.
        metric: "l2" or "cosine".
        exclude_self: Queries are the database itself (row i == query i): drop each query's own row.

    Returns:
        ``(scores, indices)`` Q×k; indices are database row numbers (-1 for empty slots). Scores are squared
        distances (l2, lower is closer) or cosine similarities (higher is closer).
    """
    db = np.ascontiguousarray(np.asarray(database, dtype=np.float32))
    q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
    kk = min(k + (1 if exclude_self else 0), len(db))
    scores, ids = _index_search(db, q, kk, metric)
    if exclude_self:
        keep_s, keep_i = [], []
        for row in range(len(q)):
            mask = ids[row] != row
            keep_s.append(scores[row][mask][:k])
            keep_i.append(ids[row][mask][:k])
        scores, ids = np.stack(keep_s), np.stack(keep_i)
    return scores, ids


def _index_search(db: np.ndarray, q: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN through the shared :class:`pictorch.gallery.VectorIndex` (flat), the same index as the
    identification gallery; an exact torch top-k when that index is not available in this installation."""
    try:
        from pictorch.gallery import VectorIndex
    except ImportError:
        VectorIndex = None  # noqa: N806
    if VectorIndex is not None:
        index = VectorIndex(db.shape[1], kind="flat", metric=metric)
        index.add(db, np.arange(len(db), dtype=np.int64))
        return index.search(q, k)
    a, b = torch.from_numpy(db), torch.from_numpy(q)
    if metric == "cosine":
        a = torch.nn.functional.normalize(a, dim=1)
        b = torch.nn.functional.normalize(b, dim=1)
        scores, ids = (b @ a.T).topk(k, dim=1)
    else:
        d2 = (b * b).sum(1, keepdim=True) - 2 * b @ a.T + (a * a).sum(1)[None]
        neg, ids = (-d2.clamp_min(0)).topk(k, dim=1)
        scores = -neg
    return scores.numpy().astype(np.float32), ids.numpy().astype(np.int64)


def recall_at_1(vectors: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, metric: str = "l2") -> float:
    """Leave-one-out Recall@1: the fraction of items whose nearest other item has the same label."""
    labels = np.asarray(labels)
    _, ids = nearest_neighbours(vectors, vectors, 1, metric=metric, exclude_self=True)
    return float((labels[ids[:, 0]] == labels).mean())


def _index_set(ae: TrainedAutoencoder, index_from: str, data_dir: str | None, limit: int) -> tuple[torch.Tensor, list[str]]:
    """Images to search among and a label for each (class name or file name)."""
    from pictorch.tasks.autoencode.data import is_builtin, load_dataset

    if is_builtin(index_from):
        ds = load_dataset(index_from, split="test", data_dir=data_dir, image_size=ae.image_size, mode=ae.mode,
                          limit=limit)
        classes = list(ds.classes or [])
        labels = ds.labels.tolist() if ds.labels is not None else [None] * len(ds)
        names = [f"#{i} {classes[y] if classes and y is not None else ''}".strip() for i, y in enumerate(labels)]
        return ds.images, names
    images, paths = _read_images(ae, [index_from])
    if limit:
        images, paths = images[:limit], paths[:limit]
    return images, [Path(p).name for p in paths]


def search(ckpt: str | os.PathLike | TrainedAutoencoder, queries: Sequence[str], index_from: str, top_k: int = 8,
           out: str | os.PathLike | None = None, metric: str = "l2", data_dir: str | None = None, limit: int = 0,
           device: str | None = None, progress: Any = None) -> dict[str, Any]:
    """Similar images by code: encode the index set and the queries, find each query's nearest codes.

    Args:
        queries: Query image files/folders.
        index_from: An image folder, "fashion-mnist" (the test split) or "synthetic".
        top_k: Results per query.
        out: Grid PNG: one row per query (query first, then its results).
        metric: "l2" or "cosine" distance between codes.

    Returns:
        ``{"results": [{"query", "matches": [{"name", "score"}]}], "out"}``.
    """
    from pictorch.viz.grid import save_image_grid

    if top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {top_k}")
    if metric not in ("l2", "cosine"):
        raise ConfigError(f"unknown --metric {metric!r}; use l2 or cosine")
    ae = _load(ckpt, device)
    q_images, q_paths = _read_images(ae, queries)
    db_images, db_names = _index_set(ae, index_from, data_dir, limit)
    scores, ids = nearest_neighbours(ae.encode(db_images, progress), ae.encode(q_images), top_k, metric=metric)
    results = []
    for qi, qp in enumerate(q_paths):
        matches = [{"name": db_names[j], "index": int(j), "score": float(s)}
                   for j, s in zip(ids[qi], scores[qi], strict=True) if j >= 0]
        results.append({"query": qp, "matches": matches})
    res: dict[str, Any] = {"results": results}
    if out is not None:
        k = ids.shape[1]
        tiles, labels = [], []
        q_float = ae.prepare(q_images)
        db_float = ae.prepare(db_images)
        for qi in range(len(q_paths)):
            tiles.append(q_float[qi:qi + 1])
            labels.append(f"query: {Path(q_paths[qi]).name}")
            for j, s in zip(ids[qi], scores[qi], strict=True):
                tiles.append(db_float[j:j + 1] if j >= 0 else torch.zeros_like(q_float[:1]))
                labels.append(f"{db_names[j]} {s:.3g}" if j >= 0 else "")
        res["out"] = save_image_grid(torch.cat(tiles), out, nrow=k + 1, labels=labels, value_range=(0, 1))
    return res


# -- compression report ----------------------------------------------------------------------------------------


def pca_reconstruct(train: torch.Tensor, test: torch.Tensor, sizes: Sequence[int]) -> dict[int, torch.Tensor]:
    """PCA reconstructions of ``test`` (N×D float) with the top-k components fitted on ``train``, for each k.

    Uses an exact SVD of the centered training matrix (``torch.linalg.svd``), so it is the optimal linear
    code of each size on the training data.
    """
    mean = train.mean(0, keepdim=True)
    _, _, vh = torch.linalg.svd(train - mean, full_matrices=False)
    out = {}
    for k in sizes:
        v = vh[:k]  # k×D
        out[int(k)] = ((test - mean) @ v.T) @ v + mean
    return out


def compress_report(ckpts: Sequence[str | os.PathLike], data: str = "fashion-mnist", out_dir: str | os.PathLike = "report",
                    pca_sizes: Sequence[int] | None = None, test_images: int = 2000, pca_train_images: int = 10000,
                    data_dir: str | None = None, device: str | None = None) -> dict[str, Any]:
    """Code size vs PSNR/SSIM of autoencoders against PCA at the same code sizes, on the same test images.

    Writes ``compression.csv``, ``compression.md`` (table) and ``compression.png`` (two panels: PSNR, SSIM).

    Args:
        ckpts: Autoencoder checkpoints (typically the same architecture at several code sizes).
        data: "fashion-mnist", "synthetic" or a folder (its images serve as both PCA fit and test set).
        pca_sizes: PCA code sizes (default: the autoencoders' code sizes plus 2, 4, ..., 128).
        test_images: Test images scored.
        pca_train_images: Training images PCA is fitted on.

    Returns:
        ``{"rows": [{"method", "code_size", "psnr", "ssim"}], "table", "plot", "csv"}``.
    """
    from pictorch.metrics.image_quality import psnr, ssim
    from pictorch.tasks.autoencode.data import is_builtin, load_dataset
    from pictorch.utils import atomic_write

    if not ckpts:
        raise ConfigError("give at least one autoencoder checkpoint")
    if test_images < 1:  # -5 crashed in torch.arange ("upper bound and lower bound inconsistent")
        raise ConfigError(f"--test-images must be >= 1, got {test_images}")
    test_images = min(test_images, 10_000)  # Fashion-MNIST's whole test split; more only takes longer to draw
    models = [TrainedAutoencoder.load(c, device=device) for c in ckpts]
    shape = models[0].model.image_shape
    for m in models[1:]:
        if m.model.image_shape != shape:
            raise ConfigError(f"{m.path}: takes {m.model.image_shape} images but {models[0].path} takes {shape}; "
                              "compare models trained on the same images")
    size, mode = models[0].image_size, models[0].mode
    if is_builtin(data):
        test = load_dataset(data, split="test", data_dir=data_dir, image_size=size, mode=mode, limit=test_images).images
        train = load_dataset(data, split="train", data_dir=data_dir, image_size=size, mode=mode,
                             limit=pca_train_images).images
    else:
        allimg = load_dataset(data, image_size=size, mode=mode).images
        test, train = allimg[:test_images], allimg
    x_test = test.float() / 255.0
    d = int(np.prod(shape))
    sizes = sorted({int(s) for s in (pca_sizes or [2, 4, 8, 16, 32, 64, 128])} | {m.code_size for m in models})
    sizes = [s for s in sizes if s <= min(d, len(train))]
    rows: list[dict[str, Any]] = []
    recons = pca_reconstruct(train.float().flatten(1) / 255.0, x_test.flatten(1), sizes)
    for k in sizes:
        r = recons[k].view_as(x_test).clamp(0, 1)
        rows.append({"method": "PCA", "code_size": k, "psnr": float(psnr(r, x_test)), "ssim": float(ssim(r, x_test))})
    for m in models:
        r = m.reconstruct(x_test)
        name = f"{m.meta.get('model_name', 'ae')} ({Path(str(m.path)).parent.name or m.path})"
        rows.append({"method": name, "code_size": m.code_size, "psnr": float(psnr(r, x_test)),
                     "ssim": float(ssim(r, x_test))})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pca_by_size = {r["code_size"]: r for r in rows if r["method"] == "PCA"}
    lines = ["| method | code size | PSNR (dB) | SSIM | PSNR vs PCA (dB) |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        gap = r["psnr"] - pca_by_size[r["code_size"]]["psnr"] if r["code_size"] in pca_by_size else float("nan")
        r["psnr_vs_pca"] = gap
        lines.append(f"| {r['method']} | {r['code_size']} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                     f"{'' if r['method'] == 'PCA' else f'{gap:+.2f}'} |")
    table = "\n".join(lines)
    with atomic_write(out / "compression.md", "w") as f:
        f.write(f"Reconstruction quality on {len(x_test)} {data} test images\n\n{table}\n")
    with atomic_write(out / "compression.csv", "w") as f:
        f.write("method,code_size,psnr,ssim,psnr_vs_pca\n")
        for r in rows:
            f.write(f"\"{r['method']}\",{r['code_size']},{r['psnr']:.4f},{r['ssim']:.5f},{r['psnr_vs_pca']:.4f}\n")
    series: dict[str, tuple[list[float], list[float]]] = {}
    for metric in ("psnr", "ssim"):
        for method in dict.fromkeys(r["method"] for r in rows):
            pts = sorted((r["code_size"], r[metric]) for r in rows if r["method"] == method)
            series[f"{method} {metric.upper()}"] = ([p[0] for p in pts], [p[1] for p in pts])
    groups = [[k for k in series if k.endswith("PSNR")], [k for k in series if k.endswith("SSIM")]]
    plot = _plot_compression(series, groups, out / "compression.png") if series else None
    return {"rows": rows, "table": table, "plot": plot, "csv": out / "compression.csv",
            "markdown": out / "compression.md"}


def _plot_compression(series: dict[str, tuple[list[float], list[float]]], groups: list[list[str]], path: Path) -> Path:
    from pictorch.viz.plots import _plt, _save

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, group, ylabel in zip(axes, groups, ("PSNR (dB)", "SSIM"), strict=True):
        for k in group:
            x, y = series[k]
            ax.plot(x, y, marker="o", label=k.rsplit(" ", 1)[0], linestyle="-" if len(x) > 1 else "none")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("code size")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Autoencoders vs PCA: reconstruction quality by code size")
    return _save(fig, path)


