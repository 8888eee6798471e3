"""Python API of the autoencoder capability.

::

    from pictorch.tasks.autoencode import api
    result = api.train(AutoencodeConfig(model="conv", code_size=32), TrainConfig(out_dir="runs/ae", steps=2000))
    ae = api.load("runs/ae")
    codes = ae.encode(images_uint8)            # N×code_size
    recon = ae.decode(codes)                   # N×C×H×W in [0, 1]
    api.encode_files("runs/ae", ["imgs/"], "codes.npz")
    api.search("runs/ae", ["query.png"], index_from="fashion-mnist", top_k=8, out="search.png")
    api.compress_report(["runs/ae32", "runs/ae64"], data="fashion-mnist", out_dir="report/")
    api.interpolate("runs/vae", "a.png", "b.png", steps=10, out_dir="morph/")
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pictorch.errors import ConfigError, DataError
from pictorch.tasks.autoencode.steps import TASK, AutoencodeConfig
from pictorch.utils import resolve_device

# -- training ---------------------------------------------------------------------------------------------


def train(cfg: AutoencodeConfig, train_cfg: Any) -> dict[str, Any]:
    """Train an autoencoder through the shared Trainer.

    With ``train_cfg.resume`` the run folder's saved task config is used (the model must match its weights).

    Returns:
        The Trainer's result (``step``, ``metrics``, ``checkpoint``, ``run_dir``, ...).
    """
    from pictorch.engine.trainer import Trainer
    from pictorch.tasks.autoencode.data import load_dataset, make_loader
    from pictorch.tasks.autoencode.steps import AutoencodeTask

    if train_cfg.resume:
        cfg = saved_task_config(Path(train_cfg.out_dir)) or cfg
    ds = load_dataset(cfg.data, split="train", data_dir=cfg.data_dir, image_size=cfg.image_size, mode=cfg.mode,
                      limit=cfg.limit, seed=train_cfg.seed)
    images = ds.images
    val = None
    if cfg.val_images > 0:
        if cfg.data in ("fashion-mnist", "fashion_mnist", "fmnist", "synthetic"):
            val = load_dataset(cfg.data, split="test", data_dir=cfg.data_dir, image_size=cfg.image_size,
                               mode=cfg.mode, limit=cfg.val_images, seed=train_cfg.seed).images
        elif len(images) >= 40:  # a folder: hold out a random 5% (at most val_images)
            g = torch.Generator().manual_seed(train_cfg.seed)
            perm = torch.randperm(len(images), generator=g)
            n_val = min(cfg.val_images, max(1, len(images) // 20))
            val, images = images[perm[:n_val]], images[perm[n_val:]]
        else:
            val = images[: cfg.val_images]
    c, h, w = images.shape[1:]
    task = AutoencodeTask(cfg, in_chans=c, image_size=(h, w), val_images=val, classes=list(ds.classes or []),
                          data_info={"data": cfg.data, "train_images": len(images)}, lr=train_cfg.lr,
                          weight_decay=train_cfg.weight_decay)
    loader = make_loader(images, train_cfg.batch_size, train_cfg.seed)
    return Trainer(train_cfg).fit(task, loader)


def saved_task_config(run_dir: Path) -> AutoencodeConfig | None:
    """The autoencoder config saved in a run folder's config.yaml (None when absent)."""
    from pictorch.engine.config import saved_section

    return saved_section(run_dir, AutoencodeConfig)


# -- a loaded model -----------------------------------------------------------------------------------------


@dataclass
class TrainedAutoencoder:
    """A trained autoencoder with its checkpoint metadata; works on uint8 or [0, 1] float batches.

    Attributes:
        model: The autoencoder module (eval mode).
        meta: Checkpoint metadata.
        path: Checkpoint path.
    """

    model: Any
    meta: dict[str, Any]
    path: Path | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 256

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> TrainedAutoencoder:
        """Load an autoencoder checkpoint (file or run folder).

        Raises:
            CheckpointError: Missing, corrupt, or a checkpoint of another task.
        """
        from pictorch.engine.checkpoint import load_task_model

        dev = resolve_device(device)
        model, p = load_task_model(path, TASK, ("model",), dev)
        return cls(model=model, meta=dict(model.pictorch_meta), path=p, device=dev)

    @property
    def code_size(self) -> int:
        return int(self.model.code_size)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.model.image_size)  # type: ignore[return-value]

    @property
    def in_chans(self) -> int:
        return int(self.model.in_chans)

    @property
    def mode(self) -> str:
        return "L" if self.in_chans == 1 else "RGB"

    @property
    def variational(self) -> bool:
        return bool(getattr(self.model, "variational", False))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (0..255) or float ([0, 1]) N×C×H×W -> float [0, 1] at the model's size and channels."""
        import torch.nn.functional as F

        if images.ndim == 3:
            images = images.unsqueeze(0)
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        c = x.shape[1]
        if c != self.in_chans:
            if self.in_chans == 1 and c == 3:
                x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
            elif self.in_chans == 3 and c == 1:
                x = x.expand(-1, 3, -1, -1)
            else:
                raise ConfigError(f"images have {c} channels; this autoencoder takes {self.in_chans}")
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", antialias=True, align_corners=False)
        return x.clamp(0, 1)

    def _batches(self, x: torch.Tensor):
        for i in range(0, len(x), self.batch_size):
            yield self.prepare(x[i:i + self.batch_size]).to(self.device)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Codes (the posterior mean for a VAE), float32 N×code_size on the CPU."""
        out = [self.model.encode(b).float().cpu() for b in self._batches(images)]
        return torch.cat(out) if out else torch.zeros(0, self.code_size)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Images in [0, 1] (float N×C×H×W on the CPU) from codes."""
        if getattr(self.model, "upsample", None) == "max":
            raise ConfigError(f"{self.path}: this autoencoder decodes with max-unpooling (--upsample max), which "
                              "needs the pooling indices of an encoded image, so codes alone cannot be decoded "
                              "(they came out as noise); train with --upsample nearest or transposed to decode "
                              "or interpolate codes (reconstruct and denoise work with either)")
        z = torch.as_tensor(np.asarray(codes) if not isinstance(codes, torch.Tensor) else codes).float()
        if z.ndim != 2 or z.shape[1] != self.code_size:
            raise ConfigError(f"codes of shape {tuple(z.shape)} do not fit this model: it expects N×{self.code_size}")
        out = [self.model.decode(z[i:i + self.batch_size].to(self.device)).float().clamp(0, 1).cpu()
               for i in range(0, len(z), self.batch_size)]
        return torch.cat(out) if out else torch.zeros(0, *self.model.image_shape)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """encode → decode in one pass (max-unpooling models use the image's own pooling indices)."""
        out = [self.model(b)["recon"].float().clamp(0, 1).cpu() for b in self._batches(images)]
        return torch.cat(out) if out else torch.zeros(0, *self.model.image_shape)

    denoise = reconstruct


def _load(ae: str | os.PathLike | TrainedAutoencoder, device: str | None = None) -> TrainedAutoencoder:
    return ae if isinstance(ae, TrainedAutoencoder) else TrainedAutoencoder.load(ae, device=device)


def _read_images(ae: TrainedAutoencoder, inputs: Sequence[str]) -> tuple[torch.Tensor, list[str]]:
    from pictorch.tasks.autoencode.data import load_files

    return load_files(inputs, size=ae.image_size, mode=ae.mode)


# -- verbs ----------------------------------------------------------------------------------------------------


def encode_files(ckpt: str | os.PathLike | TrainedAutoencoder, inputs: Sequence[str], out: str | os.PathLike,
                 device: str | None = None) -> dict[str, Any]:
    """Encode image files/folders to a ``.npz`` with ``codes`` (N×D float32), ``paths`` and ``meta`` (JSON).

    Returns:
        ``{"out": path, "count": N, "code_size": D}``.
    """
    from pictorch.utils import atomic_save

    ae = _load(ckpt, device)
    images, paths = _read_images(ae, inputs)
    codes = ae.encode(images).numpy().astype(np.float32)
    meta = {"checkpoint": str(ae.path), "model": ae.meta.get("model_name"), "code_size": ae.code_size,
            "image_size": list(ae.image_size), "mode": ae.mode}
    out = Path(out)
    if out.suffix != ".npz":
        out = out.with_suffix(".npz")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, codes=codes, paths=np.array(paths), meta=np.array(json.dumps(meta)))

    atomic_save(out, write)
    return {"out": out, "count": len(codes), "code_size": ae.code_size}


def read_codes(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Codes and their source names from a ``.npz`` (``codes``) or ``.npy`` file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such codes file")
    try:
        if p.suffix == ".npy":
            codes = np.load(p, allow_pickle=False)
            names: list[str] = []
        else:
            with np.load(p, allow_pickle=False) as z:
                if "codes" not in z:
                    raise DataError(f"{p}: has no 'codes' array (write it with `pictorch ae encode`)")
                codes = z["codes"]
                names = [str(s) for s in z["paths"]] if "paths" in z else []
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{p}: not a readable .npz/.npy codes file ({e.__class__.__name__})") from e
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim == 1:
        codes = codes[None]
    if codes.ndim != 2:
        raise DataError(f"{p}: codes must be a 2-D array N×D, got shape {codes.shape}")
    return codes, names


def decode_codes(ckpt: str | os.PathLike | TrainedAutoencoder, codes_file: str | os.PathLike, out_dir: str | os.PathLike,
                 device: str | None = None) -> dict[str, Any]:
    """Decode a codes file to one PNG per code plus ``grid.png``.

    Returns:
        ``{"out_dir", "files": [...], "grid"}``.
    """
    from pictorch.viz.grid import save_image_grid

    ae = _load(ckpt, device)
    codes, names = read_codes(codes_file)
    if codes.shape[1] != ae.code_size:
        raise ConfigError(f"{codes_file}: codes are {codes.shape[1]}-dimensional but this model's code size is "
                          f"{ae.code_size}; decode with the checkpoint that encoded them")
    images = ae.decode(codes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, img in enumerate(images):
        stem = Path(names[i]).stem if i < len(names) else f"code_{i:05d}"
        files.append(save_image_grid(img[None], out / f"{i:05d}_{stem}.png", nrow=1, value_range=(0, 1), scale=1))
    grid = save_image_grid(images[:64], out / "grid.png", nrow=8, value_range=(0, 1))
    return {"out_dir": out, "files": files, "grid": grid}


def _quality(recon: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    from pictorch.metrics.image_quality import psnr, ssim

    out = {"psnr": float(psnr(recon, clean))}
    if min(clean.shape[-2:]) >= 7:
        out["ssim"] = float(ssim(recon, clean))
    return out


def reconstruct_files(ckpt: str | os.PathLike | TrainedAutoencoder, inputs: Sequence[str], out: str | os.PathLike,
                      noise: str | None = None, max_images: int = 32, seed: int = 0,
                      device: str | None = None) -> dict[str, Any]:
    """Side-by-side grid: originals, (corrupted inputs,) reconstructions; with PSNR/SSIM against the originals.

    Returns:
        ``{"out", "count", "psnr", "ssim", ["noisy_psnr"]}``.
    """
    from pictorch.tasks.autoencode.corruption import apply_corruptions, parse_corruption
    from pictorch.viz.grid import save_image_grid

    ae = _load(ckpt, device)
    images, _ = _read_images(ae, inputs)
    clean = ae.prepare(images)
    corruptions = parse_corruption(noise)
    x_in = apply_corruptions(clean, corruptions, torch.Generator().manual_seed(seed)) if corruptions else clean
    recon = ae.reconstruct(x_in)
    result: dict[str, Any] = {"count": len(clean), **_quality(recon, clean)}
    if corruptions:
        result["noisy_psnr"] = _quality(x_in, clean)["psnr"]
    n = min(max_images, len(clean))
    per_row = min(n, 8)
    rows = []
    for i in range(0, n, per_row):
        rows += [clean[i:i + per_row]] + ([x_in[i:i + per_row]] if corruptions else []) + [recon[i:i + per_row]]
    result["out"] = save_image_grid(torch.cat(rows), out, nrow=per_row, value_range=(0, 1))
    return result


def denoise_files(ckpt: str | os.PathLike | TrainedAutoencoder, inputs: Sequence[str], out_dir: str | os.PathLike,
                  add_noise: str | None = None, seed: int = 0, device: str | None = None) -> dict[str, Any]:
    """Denoise image files/folders, writing ``<out_dir>/<name>.png`` for each (at the model's image size).

    Args:
        add_noise: Corrupt the inputs first (e.g. ``gaussian:0.3``) to demonstrate on clean images; then a
            ``comparison.png`` grid and PSNR before/after are produced too.

    Returns:
        ``{"out_dir", "files", ["noisy_psnr", "psnr"]}``.
    """
    from pictorch.tasks.autoencode.corruption import apply_corruptions, parse_corruption
    from pictorch.viz.grid import save_image_grid

    ae = _load(ckpt, device)
    images, paths = _read_images(ae, inputs)
    x = ae.prepare(images)
    corruptions = parse_corruption(add_noise)
    x_in = apply_corruptions(x, corruptions, torch.Generator().manual_seed(seed)) if corruptions else x
    clean = ae.denoise(x_in)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files, used = [], set()
    for img, p in zip(clean, paths, strict=True):
        name = Path(p).stem
        while name in used:
            name += "_"
        used.add(name)
        files.append(save_image_grid(img[None], out / f"{name}.png", nrow=1, value_range=(0, 1), scale=1))
    result: dict[str, Any] = {"out_dir": out, "files": files}
    if corruptions:
        result["noisy_psnr"] = _quality(x_in, x)["psnr"]
        result["psnr"] = _quality(clean, x)["psnr"]
        n = min(8, len(x))
        result["comparison"] = save_image_grid(torch.cat([x[:n], x_in[:n], clean[:n]]), out / "comparison.png",
                                               nrow=n, value_range=(0, 1))
    return result


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
    from pictorch.tasks.autoencode.data import FASHION, load_dataset

    if index_from in FASHION or index_from == "synthetic":
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
           device: str | None = None) -> dict[str, Any]:
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
    scores, ids = nearest_neighbours(ae.encode(db_images), ae.encode(q_images), top_k, metric=metric)
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
            labels.append(f"query: {Path(q_paths[qi]).name}"[:24])
            for j, s in zip(ids[qi], scores[qi], strict=True):
                tiles.append(db_float[j:j + 1] if j >= 0 else torch.zeros_like(q_float[:1]))
                labels.append(f"{db_names[j][:14]} {s:.3g}" if j >= 0 else "")
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
    from pictorch.tasks.autoencode.data import FASHION, load_dataset
    from pictorch.utils import atomic_write

    if not ckpts:
        raise ConfigError("give at least one autoencoder checkpoint")
    models = [TrainedAutoencoder.load(c, device=device) for c in ckpts]
    shape = models[0].model.image_shape
    for m in models[1:]:
        if m.model.image_shape != shape:
            raise ConfigError(f"{m.path}: takes {m.model.image_shape} images but {models[0].path} takes {shape}; "
                              "compare models trained on the same images")
    size, mode = models[0].image_size, models[0].mode
    if data in FASHION or data == "synthetic":
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


# -- interpolation -----------------------------------------------------------------------------------------------


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between code vectors ``a`` and ``b`` (D) at fractions ``t`` (T) -> T×D.

    Interpolates the direction on the great circle and the norm linearly; falls back to lerp for (nearly)
    parallel vectors.
    """
    na, nb = a.norm(), b.norm()
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    t = t.view(-1, 1)
    if float(omega) < 1e-4:
        return a + t * (b - a)
    so = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) / so) * ua + (torch.sin(t * omega) / so) * ub
    return direction * ((1 - t) * na + t * nb)


def interpolate(ckpt: str | os.PathLike | TrainedAutoencoder, image_a: str, image_b: str, steps: int = 10,
                out_dir: str | os.PathLike = "interpolation", method: str = "slerp",
                device: str | None = None) -> dict[str, Any]:
    """Morph between two images through the latent space: ``strip.png`` and ``morph.gif``.

    The strip shows image A, ``steps`` decoded codes from A's code to B's (VAEs use the posterior means) and
    image B.

    Returns:
        ``{"strip", "gif", "frames": T×C×H×W tensor}``.
    """
    from pictorch.viz.grid import save_gif, save_strip

    if steps < 2:
        raise ConfigError(f"--steps must be >= 2, got {steps}")
    if method not in ("slerp", "lerp"):
        raise ConfigError(f"unknown --method {method!r}; use slerp or lerp")
    ae = _load(ckpt, device)
    a_img, _ = _read_images(ae, [image_a])
    b_img, _ = _read_images(ae, [image_b])
    if len(a_img) != 1 or len(b_img) != 1:
        raise DataError("interpolate takes exactly two image files (A and B), not folders")
    codes = ae.encode(torch.cat([a_img, b_img]))
    t = torch.linspace(0, 1, steps)
    path = slerp(codes[0], codes[1], t) if method == "slerp" else codes[0] + t.view(-1, 1) * (codes[1] - codes[0])
    frames = ae.decode(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ends = ae.prepare(torch.cat([a_img, b_img]))
    strip = save_strip(torch.cat([ends[:1], frames, ends[1:]]), out / "strip.png", value_range=(0, 1))
    gif = save_gif(frames, out / "morph.gif", value_range=(0, 1))
    return {"strip": strip, "gif": gif, "frames": frames, "note": None}


def psnr_db(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean PSNR (dB) of two [0, 1] batches."""
    from pictorch.metrics.image_quality import psnr

    return float(psnr(x, y))


__all__ = ["TrainedAutoencoder", "compress_report", "decode_codes", "denoise_files", "encode_files", "interpolate",
           "load", "nearest_neighbours", "pca_reconstruct", "recall_at_1", "reconstruct_files", "search", "slerp",
           "train"]


def load(path: str | os.PathLike, device: str | None = None) -> TrainedAutoencoder:
    """Load a trained autoencoder (checkpoint file or run folder); see :class:`TrainedAutoencoder`."""
    return TrainedAutoencoder.load(path, device=device)
