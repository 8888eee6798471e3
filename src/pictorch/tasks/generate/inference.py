"""A loaded GAN and the verbs that draw from it: sample, interpolate (lerp/slerp), latent arithmetic.

Every model kind (MLP GAN, DCGAN, LAPGAN, StackGAN, their conditional forms) loads as one :class:`GAN` whose ``G(z,
y)`` draws full-size images, so these verbs need no per-model code; vector-conditioned models (StackGAN on a CSV)
take their conditions through :meth:`GAN.condition_rows`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pictorch.engine.inference import Predictor
from pictorch.errors import ConfigError
from pictorch.nn.latent import lerp, slerp
from pictorch.tasks.generate.tricks import sample_z, seed_latents

__all__ = ["GAN", "arithmetic", "interpolate", "load_gan", "sample"]


# -- a loaded GAN ----------------------------------------------------------------------------------------
class GAN(Predictor):
    """A trained generator with what its checkpoint says about it, on the :class:`Predictor` base like every
    other loaded model: :meth:`load` (a ``generate`` checkpoint or run folder, another task's refused), the
    ``input`` record (the images' size, mode and [-1, 1] range) and the NaN check on what it draws.

    Attributes:
        G: The generator (also :attr:`model`).
        D: The discriminator when the caller gives one; :meth:`load` leaves it out (the verbs draw from G
            only; ``load_checkpoint(path).state_dicts["D"]`` holds its weights).
        classes: Class names of a conditional model.
    """

    task = "generate"
    module_names = ("G",)

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module | None = None, meta: dict[str, Any] | None = None,
                 path: Path | None = None, device: Any = "cpu", classes: Sequence[str] | None = None,
                 batch_size: int = 256) -> None:
        meta = dict(meta if meta is not None else getattr(G, "pictorch_meta", {}))
        super().__init__(G, meta, path, device, batch_size)
        self.G = G
        self.D = D
        self.classes = list(classes if classes is not None else meta.get("classes") or [])

    @classmethod
    def load(cls, path: Any, device: str | None = None, **kw: Any) -> GAN:
        """Load a ``gan train`` checkpoint (file or run folder) through :meth:`Predictor.load_parts`."""
        G, meta, p, dev = cls.load_parts(path, device)
        return cls(G, None, meta, Path(p), dev, **kw)

    @property
    def z_dim(self) -> int:
        return int(self.meta["z_dim"])

    @property
    def z_dist(self) -> str:
        return str(self.meta.get("z_dist", "normal"))

    @property
    def conditional(self) -> bool:
        return bool(self.meta.get("conditional"))

    @property
    def condition_dim(self) -> int:
        """Width of the condition vectors of a vector-conditioned model (StackGAN on a CSV); 0 otherwise."""
        cond = self.meta.get("condition") or {}
        return int(cond.get("dim", 0)) if cond.get("kind") == "vector" else 0

    def condition_rows(self, text: str) -> torch.Tensor:
        """Condition vectors from ``--condition``: ``v1,v2,…`` rows separated by ``;``, or a CSV file of rows
        (``file,v1,…`` or ``v1,…``; a header line is skipped). Rows of the wrong width fail in one line."""
        dim = self.condition_dim
        if not dim:
            raise ConfigError(f"{self.path}: --condition is for models conditioned on vectors (stackgan trained "
                              "with --condition FILE.csv); use --class for class-conditioned models")
        p = Path(text)
        lines = p.read_text().splitlines() if p.is_file() else text.split(";")
        rows = []
        for line in lines:
            cells = [c.strip() for c in line.split(",") if c.strip()]
            if not cells or cells[0].startswith("#"):
                continue
            try:
                vals = [float(c) for c in cells]
            except ValueError:
                try:
                    vals = [float(c) for c in cells[1:]]  # a leading file name
                except ValueError:
                    if rows:
                        raise ConfigError(f"--condition: {line!r} is not a row of numbers") from None
                    continue  # a header row
            if len(vals) != dim:
                raise ConfigError(f"--condition: this model takes condition vectors of width {dim} "
                                  f"({', '.join(self.meta['condition'].get('names') or [])}), got {len(vals)} "
                                  f"values in {line.strip()!r}")
            if any(v != v or v in (float("inf"), float("-inf")) for v in vals):
                raise ConfigError(f"--condition: values must be finite numbers, got {line.strip()!r}")
            rows.append(vals)
        if not rows:
            raise ConfigError(f"--condition: no condition rows in {text!r}")
        return torch.tensor(rows, dtype=torch.float32)

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
        if self.condition_dim:
            if not isinstance(labels, torch.Tensor):
                raise ConfigError(f"{self.path}: this model is conditioned on {self.condition_dim}-wide vectors: "
                                  "pass --condition v1,v2,...")
            if labels.ndim != 2 or labels.shape[1] != self.condition_dim:
                raise ConfigError(f"condition vectors must be {self.condition_dim} wide, got shape "
                                  f"{tuple(labels.shape)}")
            return labels.float()
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
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int | None = None
                 ) -> torch.Tensor:
        """Images (float, [-1, 1]) from latents ``z`` (N×z_dim) and labels (N or N×K; conditional models).

        Raises:
            CheckpointError: The generator drew NaN/Inf (damaged weights or a diverged run).
        """
        out = []
        batch_size = batch_size or self.batch_size
        for i in range(0, z.shape[0], batch_size):
            zz = z[i:i + batch_size].to(self.device)
            yy = None if labels is None else labels[i:i + batch_size].to(self.device)
            out.append((self.G(zz, yy) if yy is not None else self.G(zz)).float().cpu())
        return self.check(torch.cat(out), "the generator") if out else torch.empty(0)

    def check_count(self, count: int) -> None:
        """One line when ``count`` samples would not fit in memory (their latents and float images).

        ``gan sample --n 100000000000`` tried to allocate 3.2 TB and crashed ("unexpected RuntimeError").
        """
        shape = [int(v) for v in (self.meta.get("sample_shape") or [1, 28, 28])]
        per = 4 * (int(self.z_dim) + math.prod(shape))  # float32 latent + float32 image
        need = int(count) * per
        if need > MAX_SAMPLE_BYTES:
            raise ConfigError(f"{count:,} samples of {'×'.join(map(str, shape))} need about {need / 2**30:,.1f} GiB; "
                              f"at most {MAX_SAMPLE_BYTES // per:,} fit in {MAX_SAMPLE_BYTES // 2**30} GiB "
                              "(lower --n, or sample in several runs with other --seed values)")

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """``n`` samples (float, [-1, 1]); ``labels``: a class (name or index), a list, or multi-hot rows."""
        if n < 1:
            raise ConfigError(f"--n must be >= 1, got {n}")
        self.check_count(n)
        y = self.label_tensor(labels, n)
        z = sample_z(n, self.z_dim, self.z_dist, torch.Generator().manual_seed(seed))
        return self.generate(z, y)


def load_gan(path: str | Path, device: str = "cpu") -> GAN:
    """Load a ``gan train`` checkpoint (file or run folder): :meth:`GAN.load`."""
    return GAN.load(path, device)


def _is_image(gan: GAN) -> bool:
    return len(gan.meta.get("sample_shape", [1, 1, 1])) == 3


def _check_image_gan(gan: GAN, verb: str) -> None:
    if not _is_image(gan):
        raise ConfigError(f"{gan.path}: `{verb}` needs an image GAN; this one generates "
                          f"{gan.meta.get('sample_shape')}-vectors")


# -- tools -----------------------------------------------------------------------------------------------
def sample(ckpt: str | Path, n: int = 64, class_: str | int | None = None, per_class: bool = False,
           out: str | Path = "samples.png", seed: int = 0, nrow: int = 8,
           condition: str | None = None) -> dict[str, Any]:
    """Write samples as a grid (``out`` ends in .png/.jpg) or as one PNG per sample (``out`` is a folder).

    ``per_class`` draws ``n`` samples of every class, one row per class; ``condition`` (vector-conditioned
    models) gives condition rows (see :meth:`GAN.condition_rows`), ``n`` samples each, one grid row per condition.
    """
    from pictorch.viz.grid import save_image_grid

    gan = load_gan(ckpt)
    _check_image_gan(gan, "sample")
    if n < 1:
        raise ConfigError(f"--n must be >= 1, got {n}")
    labels_text = None
    if condition is not None or gan.condition_dim:
        if class_ is not None or per_class:
            raise ConfigError(f"{ckpt}: this model is conditioned on vectors: use --condition, not --class")
        if condition is None:
            raise ConfigError(f"{ckpt}: this model is conditioned on {gan.condition_dim}-wide vectors: pass "
                              "--condition v1,v2,... (several separated by ';', or a CSV file)")
        rows = gan.condition_rows(condition)
        gan.check_count(rows.shape[0] * n)
        y = rows.repeat_interleave(n, 0)
        z = sample_z(y.shape[0], gan.z_dim, gan.z_dist, torch.Generator().manual_seed(seed))
        images = gan.generate(z, y)
        nrow = n if rows.shape[0] > 1 else nrow
        labels_text = [f"c{i // n}" for i in range(y.shape[0])]
    elif per_class:
        if not gan.conditional:
            raise ConfigError(f"{ckpt}: --per-class needs a conditional GAN (cgan/cdcgan)")
        if class_ is not None:
            raise ConfigError("use either --class or --per-class, not both")
        k = len(gan.classes)
        gan.check_count(k * n)
        y = torch.arange(k).repeat_interleave(n)
        z = sample_z(k * n, gan.z_dim, gan.z_dist, torch.Generator().manual_seed(seed))
        images = gan.generate(z, y)
        nrow = n
        labels_text = [gan.classes[int(i)] for i in y]
    else:
        gan.check_count(n)
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
    if gan.condition_dim:
        raise ConfigError(f"{gan.path}: interpolate and arithmetic hold the condition fixed by --class; this model "
                          "is conditioned on vectors: use `gan sample --condition` (latent paths with a fixed "
                          "vector are not offered yet)")
    if not gan.conditional:
        if class_ is not None:
            gan.class_index(class_)
        return None
    return torch.full((n,), gan.class_index(0 if class_ is None else class_), dtype=torch.long)


#: Memory a sampling run may take for latents and images (2 GiB: 680,000 28² gray samples, 43,000 64² RGB).
MAX_SAMPLE_BYTES = 2 * 2**30

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
