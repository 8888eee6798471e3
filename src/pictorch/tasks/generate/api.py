"""Python API of the GAN task: train, load, sample, interpolate, latent arithmetic, evaluate.

Example::

    from pictorch.tasks.generate import api
    result = api.train(api.GANConfig(model="cdcgan"), TrainConfig(out_dir="runs/cgan", steps=2000, lr=2e-4))
    gan = api.load_gan("runs/cgan")
    images = gan.sample(16, labels="Sneaker")          # float [-1, 1], 16×1×28×28
    api.interpolate("runs/cgan", seeds=[1, 2], steps=10, mode="slerp", out="strip.png")
    report = api.evaluate("runs/cgan", feature_net="runs/featnet", n=2000)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from pictorch.errors import CheckpointError, ConfigError, DataError
from pictorch.tasks.generate.tricks import GANConfig, lerp, sample_z, seed_latents, slerp

__all__ = ["GAN", "GANConfig", "arithmetic", "evaluate", "interpolate", "load_gan", "sample", "train",
           "default_feature_net", "train_feature_net"]


# -- training --------------------------------------------------------------------------------------------
def train(cfg: GANConfig, train_cfg: Any, data_dir: str | None = None, limit: int = 0,
          max_seconds: float = 0.0, threads: int | str = "auto") -> dict[str, Any]:
    """Train a GAN on ``cfg.data``; returns the trainer result (checkpoint, metrics, run folder).

    Args:
        cfg: Model, loss and trick switches.
        train_cfg: The shared :class:`~pictorch.engine.config.TrainConfig`.
        data_dir: Folder with dataset files (Fashion-MNIST IDX).
        limit: Use only this many training images (0: all).
        max_seconds: Stop after this much training time (0: run all steps); a fixed-budget run.
        threads: CPU threads: "auto" times real steps with 1 and all cores and keeps the faster, re-checking
            as the machine's load changes (:class:`~pictorch.engine.threads.CpuThreadTuner`); a number fixes it.
    """
    from pictorch.engine.hooks import TimeBudget
    from pictorch.engine.trainer import Trainer
    from pictorch.tasks.generate.data import load_training_images, make_loader
    from pictorch.tasks.generate.steps import GANTask

    channels = cfg.channels
    ds = load_training_images(cfg.data, cfg.image_size, channels, data_dir=data_dir, limit=limit)
    if cfg.conditional and (ds.labels is None or len(ds.classes) < 2):
        raise DataError(f"{cfg.data}: a conditional GAN needs labelled images of at least 2 classes (class "
                        "sub-folders); use --model gan or dcgan for unlabelled data")
    cfg = replace(cfg, channels=int(ds.images.shape[1]), classes=list(ds.classes))
    shape = tuple(int(s) for s in ds.images.shape[1:])
    from pictorch.utils import fit_batch_size

    # a step draws batch × d_steps real samples; batch norm needs at least 2
    bs = fit_batch_size(train_cfg.batch_size, int(ds.images.shape[0]) // cfg.d_steps, "training images per "
                        "discriminator step", minimum=2)
    train_cfg = replace(train_cfg, batch_size=bs)
    loader = make_loader(ds.images, ds.labels if cfg.conditional else None, train_cfg.batch_size * cfg.d_steps,
                         seed=train_cfg.seed)
    task = GANTask(cfg, shape, num_classes=len(ds.classes) if cfg.conditional else 0, total_steps=train_cfg.steps,
                   lr=train_cfg.lr, extra_meta={"data": cfg.data, "data_dir": data_dir})
    hooks: list[Any] = [TimeBudget(max_seconds)] if max_seconds > 0 else []
    from pictorch.engine.threads import cpu_threads

    with cpu_threads(threads) as tuner:
        if tuner is not None:
            hooks.append(tuner)
        result = Trainer(train_cfg, hooks=hooks).fit(task, loader)
    result["warnings"] = task.monitor.warnings
    if tuner is not None and tuner.enabled:
        result["cpu_threads"] = tuner.summary()
    return result


# -- a loaded GAN ----------------------------------------------------------------------------------------
@dataclass
class GAN:
    """A trained generator (and discriminator) with what its checkpoint says about it."""

    G: torch.nn.Module
    D: torch.nn.Module | None
    meta: dict[str, Any]
    path: Path | None = None
    device: str = "cpu"
    classes: list[str] = field(default_factory=list)

    @property
    def z_dim(self) -> int:
        return int(self.meta["z_dim"])

    @property
    def z_dist(self) -> str:
        return str(self.meta.get("z_dist", "normal"))

    @property
    def conditional(self) -> bool:
        return bool(self.meta.get("conditional"))

    def class_index(self, name_or_index: str | int) -> int:
        """The index of a class given by name or number; unknown classes fail listing the known ones."""
        if not self.conditional:
            raise ConfigError(f"{self.path}: this GAN is not conditional ({self.meta.get('model')}); drop --class "
                              "or train with --model cgan/cdcgan")
        known = ", ".join(f"{i}={c}" for i, c in enumerate(self.classes))
        s = str(name_or_index).strip()
        if s.lstrip("-").isdigit():
            i = int(s)
            if 0 <= i < len(self.classes):
                return i
            raise ConfigError(f"class {i} is not known to {self.path}: it has {len(self.classes)} classes ({known})")
        lowered = {c.lower(): i for i, c in enumerate(self.classes)}
        if s.lower() in lowered:
            return lowered[s.lower()]
        raise ConfigError(f"class {s!r} is not known to {self.path}; known classes: {known}")

    def label_tensor(self, labels: Any, n: int) -> torch.Tensor | None:
        """Labels for ``n`` samples from a class name/index, a list of them, or a B×K multi-hot tensor."""
        if not self.conditional:
            if labels is not None:
                self.class_index(0)  # raises the "not conditional" error
            return None
        if labels is None:
            return torch.arange(n) % len(self.classes)
        if isinstance(labels, torch.Tensor):
            if labels.ndim == 2 and labels.shape[1] != len(self.classes):
                raise ConfigError(f"multi-hot labels need {len(self.classes)} columns, got {labels.shape[1]}")
            return labels
        if isinstance(labels, str | int):
            return torch.full((n,), self.class_index(labels), dtype=torch.long)
        idx = [self.class_index(v) for v in labels]
        if len(idx) != n:
            raise ConfigError(f"got {len(idx)} labels for {n} samples")
        return torch.tensor(idx, dtype=torch.long)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 256) -> torch.Tensor:
        """Images (float, [-1, 1]) from latents ``z`` (N×z_dim) and labels (N or N×K; conditional models)."""
        out = []
        for i in range(0, z.shape[0], batch_size):
            zz = z[i:i + batch_size].to(self.device)
            yy = None if labels is None else labels[i:i + batch_size].to(self.device)
            out.append((self.G(zz, yy) if yy is not None else self.G(zz)).float().cpu())
        return torch.cat(out) if out else torch.empty(0)

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """``n`` samples (float, [-1, 1]); ``labels``: a class (name or index), a list, or multi-hot rows."""
        if n < 1:
            raise ConfigError(f"--n must be >= 1, got {n}")
        y = self.label_tensor(labels, n)
        z = sample_z(n, self.z_dim, self.z_dist, torch.Generator().manual_seed(seed))
        return self.generate(z, y)


def load_gan(path: str | Path, device: str = "cpu") -> GAN:
    """Load a ``gan train`` checkpoint (file or run folder)."""
    from pictorch.engine.checkpoint import load_model

    modules = load_model(path, task="generate", map_location=device)
    if not isinstance(modules, dict) or "G" not in modules:
        raise CheckpointError(f"{path}: a generate checkpoint without a generator G")
    meta = modules["G"].pictorch_meta
    return GAN(G=modules["G"], D=modules.get("D"), meta=meta, path=Path(path), device=device,
               classes=list(meta.get("classes") or []))


def _is_image(gan: GAN) -> bool:
    return len(gan.meta.get("sample_shape", [1, 1, 1])) == 3


def _check_image_gan(gan: GAN, verb: str) -> None:
    if not _is_image(gan):
        raise ConfigError(f"{gan.path}: `{verb}` needs an image GAN; this one generates "
                          f"{gan.meta.get('sample_shape')}-vectors")


# -- tools -----------------------------------------------------------------------------------------------
def sample(ckpt: str | Path, n: int = 64, class_: str | int | None = None, per_class: bool = False,
           out: str | Path = "samples.png", seed: int = 0, nrow: int = 8) -> dict[str, Any]:
    """Write samples as a grid (``out`` ends in .png/.jpg) or as one PNG per sample (``out`` is a folder).

    ``per_class`` draws ``n`` samples of every class, one row per class.
    """
    from pictorch.viz.grid import save_image_grid

    gan = load_gan(ckpt)
    _check_image_gan(gan, "sample")
    labels_text = None
    if per_class:
        if not gan.conditional:
            raise ConfigError(f"{ckpt}: --per-class needs a conditional GAN (cgan/cdcgan)")
        if class_ is not None:
            raise ConfigError("use either --class or --per-class, not both")
        k = len(gan.classes)
        y = torch.arange(k).repeat_interleave(n)
        z = sample_z(k * n, gan.z_dim, gan.z_dist, torch.Generator().manual_seed(seed))
        images = gan.generate(z, y)
        nrow = n
        labels_text = [gan.classes[int(i)] for i in y]
    else:
        y = gan.label_tensor(class_, n) if (class_ is not None or gan.conditional) else None
        z = sample_z(n, gan.z_dim, gan.z_dist, torch.Generator().manual_seed(seed))
        images = gan.generate(z, y)
        if y is not None:
            labels_text = [gan.classes[int(i)] for i in y]
    out = Path(out)
    files: list[str] = []
    if out.suffix.lower() in (".png", ".jpg", ".jpeg"):
        title = None
        if class_ is not None:
            title = f"class {gan.classes[gan.class_index(class_)]}"
        elif per_class:
            title = "one row per class: " + ", ".join(gan.classes)
        save_image_grid(images, out, nrow=nrow, value_range=(-1.0, 1.0), title=title)
        files.append(str(out))
    else:
        from pictorch.viz.grid import _save_array, make_grid

        out.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(images):
            tag = f"_{_safe(labels_text[i])}" if labels_text else ""
            p = out / f"sample_{i:05d}{tag}.png"
            _save_array(make_grid(img[None], nrow=1, pad=0, value_range=(-1.0, 1.0)), p)
            files.append(str(p))
    return {"images": images, "labels": labels_text, "files": files}


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)


def _default_label(gan: GAN, class_: str | int | None, n: int) -> torch.Tensor | None:
    if not gan.conditional:
        if class_ is not None:
            gan.class_index(class_)
        return None
    return torch.full((n,), gan.class_index(0 if class_ is None else class_), dtype=torch.long)


#: Frames in one interpolation strip/GIF: 1000 frames of 64² RGB are a 12 MB strip already.
MAX_FRAMES = 1000


def interpolate(ckpt: str | Path, seeds: Sequence[int] = (1, 2), steps: int = 10, mode: str = "slerp",
                out: str | Path = "interpolation.png", class_: str | int | None = None,
                gif: bool = True) -> dict[str, Any]:
    """Strips of images along lerp/slerp paths between consecutive seeds' latents (PNG + GIF).

    One row per consecutive pair of seeds; the GIF plays the whole path.
    """
    from pictorch.viz.grid import save_gif, save_image_grid

    if mode not in ("lerp", "slerp"):
        raise ConfigError(f"unknown interpolation {mode!r}; use lerp or slerp")
    if len(seeds) < 2:
        raise ConfigError("--seeds needs at least two seeds, e.g. --seeds 1,2")
    if steps < 2:
        raise ConfigError(f"--steps must be >= 2, got {steps}")
    if steps * max(len(seeds) - 1, 1) > MAX_FRAMES:  # --steps 100000 ran for minutes towards a giant strip
        raise ConfigError(f"--steps {steps} over {max(len(seeds) - 1, 1)} segment(s) makes "
                          f"{steps * max(len(seeds) - 1, 1)} frames; one strip and GIF hold at most {MAX_FRAMES}")
    gan = load_gan(ckpt)
    _check_image_gan(gan, "interpolate")
    zs = seed_latents(list(seeds), gan.z_dim, gan.z_dist)
    t = torch.linspace(0, 1, steps)
    fn = slerp if mode == "slerp" else lerp
    path = torch.cat([fn(zs[i], zs[i + 1], t) for i in range(len(seeds) - 1)])
    y = _default_label(gan, class_, path.shape[0])
    images = gan.generate(path, y)
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        out = out / "interpolation.png"
    save_image_grid(images, out, nrow=steps, value_range=(-1.0, 1.0),
                    title=f"{mode} between seeds {', '.join(map(str, seeds))}")
    files = [str(out)]
    if gif:
        g = out.with_suffix(".gif")
        save_gif(images, g, value_range=(-1.0, 1.0))
        files.append(str(g))
    return {"images": images, "latents": path, "files": files}


def arithmetic(ckpt: str | Path, a: Sequence[int], b: Sequence[int], c: Sequence[int],
               out: str | Path = "arithmetic.png", class_: str | int | None = None) -> dict[str, Any]:
    """Latent arithmetic on mean latents: mean(a) − mean(b) + mean(c), shown beside the groups.

    Each row shows one group's seeds then the image of its mean latent; the last row the result.
    """
    from pictorch.viz.grid import save_image_grid

    for name, g in (("a", a), ("b", b), ("c", c)):
        if not g:
            raise ConfigError(f"--{name} needs at least one seed, e.g. --{name} 1,2,3")
    gan = load_gan(ckpt)
    _check_image_gan(gan, "arithmetic")
    groups = {"a": seed_latents(list(a), gan.z_dim, gan.z_dist), "b": seed_latents(list(b), gan.z_dim, gan.z_dist),
              "c": seed_latents(list(c), gan.z_dim, gan.z_dist)}
    means = {k: v.mean(0) for k, v in groups.items()}
    result = means["a"] - means["b"] + means["c"]
    width = max(len(a), len(b), len(c)) + 1
    rows_z, labels = [], []
    for name, seeds in (("a", a), ("b", b), ("c", c)):
        zs = list(groups[name])
        rows_z += zs + [means[name]]
        labels += [f"{name}: seed {s}" for s in seeds] + [f"mean {name}"]
        pad = width - len(zs) - 1
        rows_z += [None] * pad
        labels += [""] * pad
    rows_z += [result] + [None] * (width - 1)
    labels += ["a − b + c"] + [""] * (width - 1)
    real_idx = [i for i, v in enumerate(rows_z) if v is not None]
    zmat = torch.stack([rows_z[i] for i in real_idx])
    y = _default_label(gan, class_, zmat.shape[0])
    imgs = gan.generate(zmat, y)
    blank = torch.full_like(imgs[0], 1.0)  # white cell
    grid = [blank] * len(rows_z)
    for j, i in enumerate(real_idx):
        grid[i] = imgs[j]
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        out = out / "arithmetic.png"
    save_image_grid(torch.stack(grid), out, nrow=width, labels=labels, value_range=(-1.0, 1.0),
                    title="latent arithmetic: a − b + c")
    return {"result_image": imgs[-1], "result_latent": result, "files": [str(out)]}


# -- evaluation ------------------------------------------------------------------------------------------
def _real_images(gan: GAN, data: str | None, data_dir: str | None, n: int) -> tuple[torch.Tensor, torch.Tensor | None,
                                                                                    list[str]]:
    from pictorch.tasks.generate.data import load_training_images

    src = data or gan.meta.get("data")
    if not src:
        raise ConfigError(f"{gan.path}: the checkpoint does not say which data it was trained on; pass --data")
    size = int(gan.meta.get("image_size") or 28)
    ch = int(gan.meta.get("channels") or 1)
    ddir = data_dir or gan.meta.get("data_dir")
    ds = load_training_images(src, size, ch, data_dir=ddir, limit=2 * n)
    images = ds.images
    return images, ds.labels, ds.classes


def evaluate(ckpt: str | Path, feature_net: str | None = None, n: int = 5000, data: str | None = None,
             data_dir: str | None = None, out: str | Path | None = None, seed: int = 0, kid_subset: int = 1000,
             k: int = 3, batch_size: int = 256) -> dict[str, Any]:
    """FID (with the real-vs-real floor), KID, precision/recall and conditional consistency.

    Real images come from the training data named in the checkpoint (or ``data``). ``n`` generated images
    are compared with ``n`` real ones; the floor compares two disjoint real sets of ``n`` (fewer when the
    data is small: the sizes used are reported).

    Args:
        ckpt: GAN checkpoint or run folder.
        feature_net: Classifier checkpoint (Backbone interface, e.g. from ``classify train``), ``inception:PATH``,
            or None/"auto": the cached default domain network for the GAN's data (:func:`default_feature_net`,
            trained once, about 2.5 minutes, when missing).
        n: Samples per side.
        data: Override the checkpoint's data source.
        data_dir: Folder with dataset files.
        out: JSON report path (default ``<run>/eval.json``).
    """
    from pictorch.metrics.fid import fid_from_features, kid, load_feature_net, precision_recall

    gan = load_gan(ckpt)
    _check_image_gan(gan, "evaluate")
    if n < 10:
        raise ConfigError(f"--n must be at least 10 for meaningful statistics, got {n}")
    if not feature_net or str(feature_net).strip().lower() == "auto":
        src = data or gan.meta.get("data")
        if not src:
            raise ConfigError(f"{gan.path}: the checkpoint does not say which data it was trained on; pass --data "
                              "or --feature-net")
        feature_net = str(default_feature_net(src, data_dir or gan.meta.get("data_dir"),
                                              int(gan.meta.get("image_size") or 28), int(gan.meta.get("channels") or 1)))
    fnet = load_feature_net(feature_net)
    real, real_labels, _ = _real_images(gan, data, data_dir, n)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(real.shape[0], generator=g)
    n_use = min(n, real.shape[0] // 2)
    if n_use < 10:
        raise DataError(f"only {real.shape[0]} real images: need at least 20 for FID and its floor")
    real_a, real_b = real[perm[:n_use]], real[perm[n_use:2 * n_use]]
    fake = gan.sample(n_use, labels=None, seed=seed + 1) if not gan.conditional else None
    if gan.conditional:
        # generated labels follow the real label frequencies (class-balanced data: uniform)
        y = real_labels[perm[:n_use]] if real_labels is not None else torch.arange(n_use) % len(gan.classes)
        z = sample_z(n_use, gan.z_dim, gan.z_dist, torch.Generator().manual_seed(seed + 1))
        fake = gan.generate(z, y)
    f_a = fnet.features(real_a, batch_size)
    f_b = fnet.features(real_b, batch_size)
    f_fake, logits = fnet.features_and_logits(fake, batch_size, logits=gan.conditional and fnet.classes is not None)
    fid = fid_from_features(f_a, f_fake)
    floor = fid_from_features(f_a, f_b)
    # subsets smaller than the sets: one subset of everything has no spread, so KID printed "± 0.0000" always
    kid_size = max(2, min(kid_subset, n_use // 2))
    kid_mean, kid_std = kid(f_a, f_fake, subset_size=kid_size)
    kid_floor, _ = kid(f_a, f_b, subset_size=kid_size)
    pr = precision_recall(f_a, f_fake, k=k)
    report: dict[str, Any] = {
        "checkpoint": str(gan.path), "feature_net": fnet.name, "n": n_use,
        "fid": fid, "fid_floor_real_vs_real": floor, "kid": kid_mean, "kid_std": kid_std,
        "kid_floor_real_vs_real": kid_floor, "precision": pr["precision"], "recall": pr["recall"],
    }
    if gan.conditional:
        report["conditional_consistency"] = _consistency(gan, fnet, y, logits)
    out = Path(out) if out else (Path(ckpt) if Path(ckpt).is_dir() else Path(ckpt).parent) / "eval.json"
    from pictorch.utils import atomic_write

    with atomic_write(out, "w") as f:
        json.dump(report, f, indent=2)
    report["report_path"] = str(out)
    return report


def _consistency(gan: GAN, fnet: Any, y: torch.Tensor, logits: torch.Tensor | None) -> dict[str, Any]:
    """Accuracy of the feature net's classifier on generated images, per class (labels mapped by name)."""
    if logits is None:
        return {"note": "the feature network has no classifier head: conditional consistency not measured"}
    net_classes = [c.lower() for c in fnet.classes]
    mapping = []
    for i, c in enumerate(gan.classes):
        if c.lower() in net_classes:
            mapping.append(net_classes.index(c.lower()))
        elif len(net_classes) == len(gan.classes):
            mapping.append(i)
        else:
            return {"note": f"class names of the feature network ({', '.join(fnet.classes)}) do not match the GAN's"}
    target = torch.tensor(mapping)[y]
    pred = logits.argmax(1)
    per = {}
    for i, c in enumerate(gan.classes):
        m = y == i
        if m.any():
            per[c] = float((pred[m] == target[m]).float().mean())
    return {"accuracy": float((pred == target).float().mean()), "per_class": per}


def format_report(report: dict[str, Any]) -> str:
    """The evaluation as an aligned text table."""
    rows = [("feature network", report["feature_net"]), ("samples per side", str(report["n"])),
            ("FID", f"{report['fid']:.3f}"), ("FID floor (real vs real)", f"{report['fid_floor_real_vs_real']:.3f}"),
            ("KID", f"{report['kid']:.4f} ± {report['kid_std']:.4f}"),
            ("KID floor (real vs real)", f"{report['kid_floor_real_vs_real']:.4f}"),
            ("precision", f"{report['precision']:.3f}"), ("recall", f"{report['recall']:.3f}")]
    cc = report.get("conditional_consistency")
    if cc:
        if "accuracy" in cc:
            rows.append(("conditional consistency", f"{cc['accuracy']:.3f}"))
            rows += [(f"  {c}", f"{v:.3f}") for c, v in cc["per_class"].items()]
        else:
            rows.append(("conditional consistency", cc["note"]))
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


# -- the domain feature network ----------------------------------------------------------------------------
DEFAULT_FEATURE_WIDTH = 16
DEFAULT_FEATURE_SECONDS = 150.0  # small_cnn width 16: 90.4% Fashion-MNIST test accuracy in 150 s on 2 busy cores


def feature_net_cache_dir(data: str, image_size: int, channels: int) -> Path:
    """Where the default domain feature network for a dataset lives: ``$PICTORCH_HOME/featnets/<data>-<size>-<c>``
    (``~/.cache/pictorch`` by default); folders are keyed by name and a hash of their absolute path."""
    import hashlib
    import os

    from pictorch.tasks.generate.data import FASHION_NAMES

    home = os.environ.get("PICTORCH_HOME")
    base = Path(home).expanduser() if home else Path("~/.cache/pictorch").expanduser()
    if data in FASHION_NAMES:
        key = "fashion-mnist"
    else:
        p = Path(data).expanduser().resolve()
        key = f"{_safe(p.name)}-{hashlib.sha1(str(p).encode()).hexdigest()[:8]}"
    return base / "featnets" / f"{key}-{image_size}px-{channels}ch"


def default_feature_net(data: str, data_dir: str | None = None, image_size: int = 28, channels: int = 1,
                        seconds: float = DEFAULT_FEATURE_SECONDS, width: int = DEFAULT_FEATURE_WIDTH,
                        batch_size: int = 128) -> Path:
    """The default domain feature network for ``data``: the cached checkpoint, or train one (``seconds`` of
    small_cnn training, cosine schedule over the budget) and cache it. Returns the checkpoint path."""
    import sys

    from pictorch.engine.config import TrainConfig

    run_dir = feature_net_cache_dir(data, image_size, channels)
    ckpt = run_dir / "last.safetensors"
    if ckpt.exists():
        return ckpt
    print(f"no --feature-net given: training the default domain feature network for {data} (small_cnn width "
          f"{width}, {seconds:.0f} s) once; cached in {run_dir}", file=sys.stderr, flush=True)
    cfg = TrainConfig(out_dir=str(run_dir), steps=10**9, batch_size=batch_size, lr=5e-3, weight_decay=1e-4,
                      accelerator="auto", progress=False, log_every=50)
    res = train_feature_net(cfg, data=data, data_dir=data_dir, image_size=image_size, channels=channels, width=width,
                            max_seconds=seconds)
    acc = (res.get("test") or {}).get("accuracy")
    if acc is not None:
        print(f"default feature network: test accuracy {acc:.3f}", file=sys.stderr, flush=True)
    return Path(res["checkpoint"])
def train_feature_net(train_cfg: Any, data: str = "fashion-mnist", data_dir: str | None = None,
                      image_size: int = 28, channels: int = 0, width: int = 32, limit: int = 0,
                      max_seconds: float = 0.0, threads: int | str = "auto") -> dict[str, Any]:
    """Train the default "domain feature net" for FID: a ``small_cnn`` classifier on the GAN's data.

    It is trained by the classify capability (``classify.api.train``), so the checkpoint is an ordinary classify
    checkpoint that ``classify predict/evaluate`` read too, and ``gan evaluate --feature-net`` takes. No
    augmentation (it slows the first epochs, which is all a short run has); with ``max_seconds`` > 0 a time
    budget refits the run's length and the one-cycle schedule follows it, so a fixed-time run also ends with a
    small learning rate. The test split (Fashion-MNIST) is scored as ``result["test"]``.
    """
    from pictorch.data.imageset import ImageSet
    from pictorch.tasks.classify import api as classify
    from pictorch.tasks.generate.data import load_training_images

    ds = load_training_images(data, image_size, channels, data_dir=data_dir, limit=limit)
    if ds.labels is None or len(ds.classes) < 2:
        raise DataError(f"{data}: a feature network needs labelled images of at least 2 classes")
    test = None
    if data in ("fashion-mnist", "fashion_mnist", "fmnist"):
        try:
            t = load_training_images(data, image_size, channels, data_dir=data_dir, split="test", limit=2000)
            test = ImageSet(t.images, t.labels, list(t.classes))
        except DataError:
            test = None
    cfg = classify.ClassifyConfig(data=data, arch="small_cnn", model_kwargs={"width": width}, augment="none",
                                  val_split=0.0, schedule="onecycle", image_size=image_size)
    from pictorch.engine.threads import cpu_threads

    with cpu_threads(threads) as tuner:
        return classify.train(cfg, train_cfg, data=ImageSet(ds.images, ds.labels, list(ds.classes)), test=test,
                              tune_threads=False, max_seconds=max_seconds, hooks=[tuner] if tuner else [],
                              extra_meta={"trained_by": "pictorch gan feature-net train"})
