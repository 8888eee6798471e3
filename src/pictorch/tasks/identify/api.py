"""Python API of ``identify``: train an embedder, load one (:func:`load_embedder`), embed images/files,
and evaluate (verification, closed/open-set identification, retrieval).

``Embedder`` is the contract the gallery builds on: ``fingerprint`` (galleries refuse to mix embedders),
``dim``, ``mode``, ``input_size``, ``embed_images`` and ``embed_files``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pictorch.engine.inference import Predictor
from pictorch.errors import CheckpointError, ConfigError, DataError


def fingerprint_of(spec: Any, state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the architecture spec (JSON, sorted keys) and every weight tensor (sorted by name)."""
    from pictorch.utils import tensors_sha256

    return tensors_sha256(state_dict, prefix=json.dumps(spec, sort_keys=True, default=str).encode())


def convert_images(images: torch.Tensor, mode: str, size: tuple[int, int]) -> torch.Tensor:
    """uint8 N×C×H×W -> uint8 N×C'×H'×W' with the embedder's channels (L: luma; RGB: repeated) and size
    (stretched), through the one converter :mod:`pictorch.data.convert`."""
    from pictorch.data.convert import resize, to_mode

    if images.dtype != torch.uint8 or images.ndim != 4:
        raise DataError(f"expected uint8 images N×C×H×W, got {images.dtype} {tuple(images.shape)}")
    return resize(to_mode(images, mode), tuple(size), "stretch").contiguous()


class Embedder(Predictor):
    """A trained embedding model ready to embed images.

    A :class:`~pictorch.engine.inference.Predictor`: mode, size and normalization come from the checkpoint's
    input record.

    Attributes:
        fingerprint: sha256 over architecture spec + weights.
        dim: Embedding width.
        mode: ``"L"`` or ``"RGB"``: the channels the model expects.
        input_size: (H, W) the model expects; other sizes are resized.
        classes: Training identities (informational).
        meta: The checkpoint metadata.
    """

    task = "identify"

    def __init__(self, model: torch.nn.Module, meta: dict[str, Any], fingerprint: str, device: str = "cpu"):
        meta = dict(meta)  # the defaults of checkpoints older than the input record
        meta.setdefault("mode", "L")
        meta.setdefault("input_size", [28, 28])
        ch = 1 if meta["mode"] == "L" else 3
        meta.setdefault("normalization", {"mean": [0.5] * ch, "std": [0.5] * ch})
        super().__init__(model.eval().to(device), meta, meta.get("source"), device)
        self.fingerprint = fingerprint
        self.dim = int(getattr(model, "out_dim", 0) or meta.get("embed_dim") or 0)
        self.input_size = tuple(self.input["size"] or (28, 28))
        self.classes = list(meta.get("classes", []))
        self.name = str(meta.get("source", "identify"))

    def __repr__(self) -> str:
        return (f"Embedder(dim={self.dim}, mode={self.mode}, input_size={self.input_size}, "
                f"fingerprint={self.fingerprint[:12]})")

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Embed uint8 images N×C×H×W (any size/channels); returns float32 N×dim, L2-normalized."""
        if images.shape[0] == 0:
            return torch.zeros(0, self.dim)
        from pictorch.data.convert import normalize

        x_all = convert_images(images, self.mode, self.input_size)
        self.model.eval()
        out = []
        for s in range(0, x_all.shape[0], batch_size):
            x = normalize(x_all[s:s + batch_size].to(self.device), self.mean, self.std)
            out.append(F.normalize(self.model(x).float(), dim=1).cpu())
        return self.check(torch.cat(out), "the embedder")

    @property
    def metric(self) -> str:
        """How vectors are compared: ``cosine`` (trained embedders' output is L2-normalized)."""
        return "cosine"

    @property
    def face_model(self) -> bool:
        """Whether this model expects aligned face chips (trained on top of dlib-face, or on face crops)."""
        from pictorch.tasks.identify.preprocess import meta_says_faces

        return meta_says_faces(self.meta)

    def embed_files(self, paths: Sequence[str | os.PathLike], faces: bool | None = None, face_detector: str = "hog",
                    largest_face: bool = True) -> tuple[torch.Tensor, list[str], list[tuple[str, str]]]:
        """Decode and embed image files through the shared road
        (:func:`pictorch.tasks.identify.preprocess.prepare`); unreadable files (or, with ``faces``, photos
        without a face) are skipped and reported.

        Args:
            paths: Photo files.
            faces: Detect and align faces first (None: when this is a face model).
            face_detector: ``hog``, ``cnn`` or ``haar``.
            largest_face: With several faces, use the largest (else skip the photo).

        Returns:
            ``(embeddings N×dim, ok_paths, bad)`` with ``bad`` a list of ``(path, reason)``.
        """
        from pictorch.tasks.identify.preprocess import faces_default, prepare

        prep = prepare(paths, self.input_size, self.mode, faces=faces_default(self, faces),
                       detector=face_detector, which="largest" if largest_face else "one")
        if not len(prep):
            return torch.zeros(0, self.dim), [], list(prep.bad)
        return self.embed_images(prep.images), prep.paths, list(prep.bad)


def load_embedder(spec: str | os.PathLike, device: str = "cpu") -> Any:
    """An :class:`Embedder` from an identify checkpoint (file or run folder), or ``"dlib-face"`` for the
    frozen dlib 128-d face embedder.

    Raises:
        CheckpointError: Missing/corrupt file, or a checkpoint of another task.
    """
    if str(spec) == "dlib-face":
        from pictorch.tasks.identify.faces import DlibFaceEmbedder

        return DlibFaceEmbedder()
    from pictorch.engine.checkpoint import build_module, load_checkpoint

    ckpt = load_checkpoint(spec, task="identify")
    spec_m = ckpt.meta.get("models", {}).get("model")
    if spec_m is None or "model" not in ckpt.state_dicts:
        raise CheckpointError(f"{ckpt.path}: identify checkpoint without a model")
    model = build_module(spec_m)
    try:
        model.load_state_dict(ckpt.state_dicts["model"], strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{ckpt.path}: weights do not fit {spec_m.get('arch')}: "
                              f"{str(e).splitlines()[0][:200]}") from e
    meta = dict(ckpt.meta)
    meta.setdefault("source", str(ckpt.path))
    return Embedder(model, meta, fingerprint_of(spec_m, ckpt.state_dicts["model"]), device=device)


# -- training -------------------------------------------------------------------------------------------
def train(out_dir: str = "runs/identify", data: str = "fashion-mnist", steps: int = 1000, batch_size: int = 64,
          lr: float = 1e-3, weight_decay: float = 0.0, precision: str = "auto", accelerator: str = "auto",
          devices: int = 1, seed: int = 0, resume: bool = False, progress: bool = True, log_every: int = 50,
          ckpt_every: int = 0, train_cfg: Any = None, **identify_kw: Any) -> dict[str, Any]:
    """Train an embedder (see :class:`~pictorch.tasks.identify.steps.IdentifyConfig` for ``identify_kw``).

    Returns:
        The trainer's result: ``{"step", "metrics", "checkpoint", "run_dir", "seconds", "images_per_s"}``.
    """
    from pictorch.engine.config import TrainConfig
    from pictorch.engine.trainer import Trainer
    from pictorch.tasks.identify.steps import IdentifyConfig, IdentifyTask, load_identity_data, pk_loader

    cfg = IdentifyConfig(data=data, **identify_kw)
    if cfg.faces is None:
        cfg.faces = cfg.backbone == "dlib-face"
    if cfg.faces:
        cfg.mode = "RGB"  # aligned colour chips (grey photos are repeated to 3 channels)
    tcfg = train_cfg or TrainConfig(out_dir=out_dir, steps=steps, batch_size=batch_size, lr=lr,
                                    weight_decay=weight_decay, precision=precision, accelerator=accelerator,
                                    devices=devices, seed=seed, resume=resume, progress=progress,
                                    log_every=log_every, ckpt_every=ckpt_every)
    size = cfg.image_size or None
    if size is None and not (cfg.data.lower().startswith(("fashion", "fmnist", "toy"))):
        from pictorch.tasks.identify.models import EmbeddingNet
        from pictorch.tasks.identify.steps import parse_kv

        probe = EmbeddingNet(backbone=cfg.backbone, in_chans=1 if cfg.mode == "L" else 3,
                             backbone_kwargs=parse_kv(cfg.backbone_args))
        size = tuple(probe.default_cfg["input_size"][1:])
    ds = load_identity_data(cfg.data, cfg.data_dir, cfg.classes, "train", size=size, mode=cfg.mode,
                            seed=tcfg.seed)
    if cfg.faces and ds.paths:
        ds = _face_set(ds, size)
    val = None
    if cfg.val_images > 0:
        if cfg.data.lower().startswith(("fashion", "fmnist", "toy")):
            val = load_identity_data(cfg.data, cfg.data_dir, cfg.classes, "test", seed=tcfg.seed)
            if len(val) > cfg.val_images:
                g = torch.Generator().manual_seed(0)
                val = val.subset(torch.randperm(len(val), generator=g)[:cfg.val_images].sort().values)
        elif len(ds) >= 20:
            ds, val = ds.split(0.1, seed=tcfg.seed)
    task = IdentifyTask(cfg, ds, val, lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    loader = pk_loader(ds, cfg.p, cfg.k, tcfg.batch_size, seed=tcfg.seed)
    from pictorch.engine.hooks import TimeBudget

    hooks = [TimeBudget(cfg.time_budget)] if cfg.time_budget > 0 else []
    return Trainer(tcfg, hooks=hooks).fit(task, loader)


def _face_set(ds: Any, size: Any) -> Any:
    """The aligned faces of a labelled folder set (photos without a face are left out, counted in a warning)."""
    import logging

    from pictorch.data.imageset import ImageSet
    from pictorch.tasks.identify.preprocess import prepare

    hw = (size, size) if isinstance(size, int) else tuple(size)
    prep = prepare(ds.paths, hw, "RGB", faces=True)
    if not len(prep):
        raise DataError(f"no face found in any training photo (first: {prep.bad[0][0]}: {prep.bad[0][1]})"
                        if prep.bad else "no training photos")
    if prep.bad:
        logging.getLogger("pictorch").warning("left out %d training photos without a usable face (first: %s: %s)",
                                              len(prep.bad), prep.bad[0][0], prep.bad[0][1])
    label_of = {p: int(y) for p, y in zip(ds.paths, ds.labels.tolist(), strict=True)}
    return ImageSet(prep.images, torch.tensor([label_of[p] for p in prep.paths], dtype=torch.int64),
                    list(ds.classes), list(prep.paths))


#: Pairs drawn for verification at most (a million take ~10 s to draw; LFW's protocol has 6000).
MAX_PAIRS = 1_000_000


# -- evaluation -----------------------------------------------------------------------------------------
def evaluate(checkpoint: str | os.PathLike, data: str | None = "fashion-mnist", data_dir: str | None = None,
             classes: str | None = None, split: str = "test", pairs: str | None = None,
             pairs_root: str | None = None, n_pairs: int = 6000, gallery_per_class: int = 5,
             max_images: int = 10000, out_dir: str | os.PathLike | None = None, seed: int = 0,
             embedder: Any = None, faces: bool | None = None, face_detector: str = "hog",
             progress: Any = None) -> dict[str, Any]:
    """Evaluate an embedder: verification, closed-set and open-set identification, retrieval.

    Args:
        checkpoint: Identify checkpoint (or ``dlib-face``).
        data: ``fashion-mnist``, ``toy-identities`` or a class-per-subfolder folder.
        data_dir: Fashion-MNIST folder.
        classes: Identities to evaluate on (e.g. unseen ones: ``5-9``).
        split: Fashion-MNIST split.
        pairs: An LFW-format pairs file; pair images are ``<pairs_root or data>/<name>/<name>_<n:04d>.jpg``.
            Without it, ``n_pairs`` balanced pairs are drawn from the labels.
        pairs_root: Folder of the pair images.
        n_pairs: Pairs drawn from labels.
        gallery_per_class: Images per identity enrolled for closed/open-set identification.
        max_images: Cap on evaluated images (random subset).
        out_dir: Where ``report.json`` and pictures go (None: no files).
        seed: Seed for subsets, pairs and the member/stranger split.
        embedder: An already loaded Embedder (instead of ``checkpoint``).
        faces: Detect and align faces in folder photos first (None: when the model is a face model); the
            same road as every other verb (:func:`pictorch.tasks.identify.preprocess.prepare`).
        face_detector: ``hog``, ``cnn`` or ``haar``.
        progress: ``progress(done, total)`` while the photos are read (:mod:`pictorch.viz.progress`).

    Returns:
        The report dict (also written to ``out_dir/report.json``).
    """
    if gallery_per_class < 1:  # 0 crashed ("index is out of bounds for dimension with size 0")
        raise ConfigError(f"--gallery-per-class must be >= 1, got {gallery_per_class}")
    if seed < 0:  # numpy's generators take no negative seed ("expected non-negative integer")
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if pairs is None and not 2 <= int(n_pairs) <= MAX_PAIRS:
        raise ConfigError(f"--n-pairs must be between 2 and {MAX_PAIRS:,} (pairs drawn from the labels), got {n_pairs}")
    import numpy as np

    from pictorch.metrics import retrieval as R
    from pictorch.metrics import verification as V
    from pictorch.tasks.identify.preprocess import faces_default, prepare
    from pictorch.tasks.identify.scores import metric_of, pair_scores
    from pictorch.tasks.identify.steps import load_identity_data

    emb_model = embedder or load_embedder(checkpoint)
    metric = metric_of(emb_model)
    use_faces = faces_default(emb_model, faces)
    report: dict[str, Any] = {"checkpoint": str(checkpoint), "fingerprint": emb_model.fingerprint,
                              "data": str(data), "classes": classes, "faces": use_faces, "metric": metric}
    images = labels = None
    class_names: list[str] = []
    if data is not None:
        ds = load_identity_data(data, data_dir, classes, split, size=emb_model.input_size, mode=emb_model.mode,
                                seed=seed)
        if use_faces and ds.paths:  # folder photos: the faces in them, as every other verb sees them
            prep = prepare(ds.paths, emb_model.input_size, emb_model.mode, faces=True, detector=face_detector,
                           progress=progress)
            if not len(prep):
                raise DataError(f"{data}: no face found in any photo (first: {prep.bad[0][0]}: {prep.bad[0][1]})"
                                if prep.bad else f"{data}: no photos")
            from pictorch.data.imageset import ImageSet

            label_of = {p: int(y) for p, y in zip(ds.paths, ds.labels.tolist(), strict=True)}
            ds = ImageSet(prep.images, torch.tensor([label_of[p] for p in prep.paths], dtype=torch.int64),
                          list(ds.classes), list(prep.paths))
            report["photos_without_face"] = len(prep.bad)
        if len(ds) > max_images:
            g = torch.Generator().manual_seed(seed)
            ds = ds.subset(torch.randperm(len(ds), generator=g)[:max_images].sort().values)
        images, labels, class_names = ds.images, ds.labels, list(ds.classes)
    # -- verification pairs
    pair_images: tuple[torch.Tensor, torch.Tensor] | None = None
    if pairs:
        plist = V.read_lfw_pairs(pairs)
        if pairs_root is None and data is None:
            raise ConfigError("--pairs needs --pairs-root (the folder of the pair images)")
        root = Path(pairs_root or data)
        files = [p.paths(root) for p in plist]
        uniq = sorted({str(f) for ab in files for f in ab})
        prep = prepare(uniq, emb_model.input_size, emb_model.mode, faces=use_faces, detector=face_detector)
        imgs, ok, bad = prep.images, prep.paths, prep.bad
        pos = {p: i for i, p in enumerate(ok)}
        e_all = emb_model.embed_images(imgs)
        keep = [i for i, (a, b) in enumerate(files) if str(a) in pos and str(b) in pos]
        if not keep:
            raise DataError(f"{pairs}: none of the pair images could be read under {root} "
                            f"(first problem: {bad[0][0] if bad else '?'})")
        ia = torch.tensor([pos[str(files[i][0])] for i in keep])
        ib = torch.tensor([pos[str(files[i][1])] for i in keep])
        same = np.array([int(plist[i].same) for i in keep])
        scores = pair_scores(e_all[ia], e_all[ib], metric)
        pair_images = (imgs[ia], imgs[ib])
        report["pairs_skipped"] = len(plist) - len(keep)
        emb = emb_model.embed_images(images) if images is not None else None
    else:
        if images is None:
            raise ConfigError("evaluate needs --data (or --pairs)")
        emb = emb_model.embed_images(images)
        i, j, same = V.pairs_from_labels(labels.numpy(), n_pairs, seed=seed)
        scores = pair_scores(emb[torch.from_numpy(i)], emb[torch.from_numpy(j)], metric)
        pair_images = (images[torch.from_numpy(i)], images[torch.from_numpy(j)])
    ver = V.verification_report(scores, same)
    report["verification"] = ver

    # -- retrieval + identification on the labelled set
    if emb is not None and labels is not None and len(torch.unique(labels)) >= 2:
        report["retrieval"] = {**{f"recall@{k}": v for k, v in R.recall_at_k(emb, labels, (1, 5)).items()},
                               "map@r": R.map_at_r(emb, labels)}
        gal_idx, q_idx = _split_gallery(labels, gallery_per_class, seed)
        if len(q_idx):
            curve = R.cmc(emb[q_idx], labels[q_idx], emb[gal_idx], labels[gal_idx], max_rank=10)
            report["closed_set"] = {"rank1": float(curve[0]), "cmc": curve.tolist(),
                                    "gallery_per_identity": gallery_per_class}
            ids = torch.unique(labels)
            g = torch.Generator().manual_seed(seed)
            members = ids[torch.randperm(len(ids), generator=g)[: max(1, len(ids) // 2)]]
            gal_m = gal_idx[torch.isin(labels[gal_idx], members)]
            top = R.open_set_top1(emb[q_idx], labels[q_idx], emb[gal_m], labels[gal_m])
            open_rep: dict[str, Any] = {"members": [class_names[m] if class_names else int(m)
                                                    for m in members.tolist()]}
            for far in (0.01, 0.1):
                r = R.dir_at_far(top["score"], top["correct"], top["member"], far)
                open_rep[f"dir@far={far:g}"] = r["dir"]
                open_rep[f"rejection@far={far:g}"] = r["rejection_rate"]
                open_rep[f"threshold@far={far:g}"] = r["threshold"]
            report["open_set"] = open_rep
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        report["pictures"] = _pictures(out, scores, same, ver, pair_images, metric)
        from pictorch.utils import atomic_write

        with atomic_write(out / "report.json", "w") as f:
            json.dump(report, f, indent=2, default=float)
        report["report_path"] = str(out / "report.json")
    return report


def _split_gallery(labels: torch.Tensor, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``per_class`` (random) images of each identity enrol; the rest are queries."""
    g = torch.Generator().manual_seed(seed)
    gal, qry = [], []
    for c in torch.unique(labels).tolist():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n = min(per_class, max(len(idx) - 1, 1))
        gal.append(idx[:n])
        qry.append(idx[n:])
    return torch.cat(gal), torch.cat(qry)


def _pictures(out: Path, scores: Any, same: Any, ver: dict[str, float],
              pair_images: tuple[torch.Tensor, torch.Tensor] | None, metric: str = "cosine") -> dict[str, str]:
    import numpy as np

    from pictorch.metrics.verification import roc
    from pictorch.viz.grid import save_image_grid
    from pictorch.viz.plots import plot_histograms, plot_xy

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same)
    fpr, tpr, _ = roc(s, y)
    pics = {"roc": str(plot_xy({f"AUC {ver['auc']:.3f}": (fpr, tpr)}, out / "roc.png", "false accept rate",
                               "true accept rate", title="Verification ROC", diagonal=True))}
    thr = ver.get("threshold@far=0.01", ver["eer_threshold"])
    if not np.isfinite(thr):
        thr = ver["eer_threshold"]
    pics["histogram"] = str(plot_histograms({"genuine": s[y == 1], "impostor": s[y == 0]}, out / "scores.png",
                                            xlabel="cosine similarity" if metric == "cosine"
                                            else "score = -(L2 distance)²", vlines={"thr@FAR1%": thr},
                                            title="Genuine vs impostor scores"))
    if pair_images is not None:
        a, b = pair_images
        wrong_imp = np.nonzero((y == 0) & (s >= thr))[0]
        wrong_gen = np.nonzero((y == 1) & (s < thr))[0]
        worst = list(wrong_imp[np.argsort(-s[wrong_imp])][:8]) + list(wrong_gen[np.argsort(s[wrong_gen])][:8])
        if not worst:  # no mistakes at this threshold: show the closest calls instead
            worst = list(np.argsort(-np.where(y == 0, s, -np.inf))[:8]) + list(np.argsort(np.where(y == 1, s, np.inf))[:8])
        tiles, labels = [], []
        for i in worst:
            ai, bi = a[i], b[i]
            if ai.shape != bi.shape:
                continue
            tiles += [ai, bi]
            kind = "impostor" if y[i] == 0 else "genuine"
            labels += [f"{kind} {s[i]:.2f}", "accepted" if s[i] >= thr else "rejected"]
        if tiles:
            pics["mistakes"] = str(save_image_grid(torch.stack(tiles), out / "worst_mistakes.png", nrow=8,
                                                   labels=labels, title="Worst mistakes (pairs side by side)"))
    return pics


__all__ = ["Embedder", "convert_images", "evaluate", "fingerprint_of", "load_embedder", "train"]
