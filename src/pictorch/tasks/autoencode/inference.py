"""A trained autoencoder loaded from its checkpoint, and the file verbs on it: encode, decode, reconstruct, denoise, interpolate."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pictorch.engine.inference import Predictor
from pictorch.errors import ConfigError, DataError
from pictorch.nn.latent import lerp, slerp
from pictorch.tasks.autoencode.steps import TASK

# -- a loaded model -----------------------------------------------------------------------------------------


class TrainedAutoencoder(Predictor):
    """A trained autoencoder with its checkpoint metadata; works on uint8 or [0, 1] float batches.

    A :class:`~pictorch.engine.inference.Predictor` (its input record: the model's size and mode, x/255).

    Attributes:
        model: The autoencoder module (eval mode).
        meta: Checkpoint metadata.
        path: Checkpoint path.
    """

    task = TASK

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
    def variational(self) -> bool:
        return bool(getattr(self.model, "variational", False))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (0..255) or float ([0, 1]) images -> float [0, 1] at the model's size and channels.

        A float batch already at the model's shape passes as it is (a corrupted input for ``denoise`` keeps
        its precision); anything else goes through the one converter (:meth:`Predictor.to_uint8`).
        """
        if isinstance(images, torch.Tensor) and images.is_floating_point() and images.ndim == 4 \
                and tuple(images.shape[1:]) == (self.in_chans, *self.image_size):
            return images.float().clamp(0, 1)
        from pictorch.data.convert import normalize

        return normalize(self.to_uint8(images), self.mean, self.std)  # on the CPU, as the callers compare

    def _batches(self, x: torch.Tensor, progress: Any = None):
        n = len(x)
        for i in range(0, n, self.batch_size):
            yield self.prepare(x[i:i + self.batch_size]).to(self.device)
            if progress is not None:
                progress(min(i + self.batch_size, n), n)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, progress: Any = None) -> torch.Tensor:
        """Codes (the posterior mean for a VAE), float32 N×code_size on the CPU; ``progress(done, total)`` is
        called per batch (:mod:`pictorch.viz.progress`)."""
        out = [self.model.encode(b).float().cpu() for b in self._batches(images, progress)]
        return torch.cat(out) if out else torch.zeros(0, self.code_size)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor | np.ndarray, progress: Any = None) -> torch.Tensor:
        """Images in [0, 1] (float N×C×H×W on the CPU) from codes; ``progress(done, total)`` per batch."""
        if getattr(self.model, "upsample", None) == "max":
            raise ConfigError(f"{self.path}: this autoencoder decodes with max-unpooling (--upsample max), which "
                              "needs the pooling indices of an encoded image, so codes alone cannot be decoded "
                              "(they came out as noise); train with --upsample nearest or transposed to decode "
                              "or interpolate codes (reconstruct and denoise work with either)")
        z = torch.as_tensor(np.asarray(codes) if not isinstance(codes, torch.Tensor) else codes).float()
        if z.ndim != 2 or z.shape[1] != self.code_size:
            raise ConfigError(f"codes of shape {tuple(z.shape)} do not fit this model: it expects N×{self.code_size}")
        out = []
        for i in range(0, len(z), self.batch_size):
            out.append(self.model.decode(z[i:i + self.batch_size].to(self.device)).float().clamp(0, 1).cpu())
            if progress is not None:
                progress(min(i + self.batch_size, len(z)), len(z))
        return torch.cat(out) if out else torch.zeros(0, *self.model.image_shape)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, progress: Any = None) -> torch.Tensor:
        """encode → decode in one pass (max-unpooling models use the image's own pooling indices)."""
        out = [self.model(b)["recon"].float().clamp(0, 1).cpu() for b in self._batches(images, progress)]
        return torch.cat(out) if out else torch.zeros(0, *self.model.image_shape)

    denoise = reconstruct


def _load(ae: str | os.PathLike | TrainedAutoencoder, device: str | None = None) -> TrainedAutoencoder:
    return ae if isinstance(ae, TrainedAutoencoder) else TrainedAutoencoder.load(ae, device=device)


def _read_images(ae: TrainedAutoencoder, inputs: Sequence[str],
                 progress: Any = None) -> tuple[torch.Tensor, list[str]]:
    from pictorch.tasks.autoencode.data import load_files

    # decoded at their own size, then the converter arrays take: a file reconstructs as its pixels do
    images, paths = load_files(inputs, size=None, mode=ae.mode, progress=progress)
    return torch.cat([ae.to_uint8(im.unsqueeze(0), "NCHW") for im in images]), paths


# -- verbs ----------------------------------------------------------------------------------------------------


def encode_files(ckpt: str | os.PathLike | TrainedAutoencoder, inputs: Sequence[str], out: str | os.PathLike,
                 device: str | None = None, progress: Any = None) -> dict[str, Any]:
    """Encode image files/folders to a ``.npz`` with ``codes`` (N×D float32), ``paths`` and ``meta`` (JSON);
    ``progress(done, total)`` over reading and encoding (:mod:`pictorch.viz.progress`).

    Returns:
        ``{"out": path, "count": N, "code_size": D}``.
    """
    from pictorch.utils import atomic_save
    from pictorch.viz.progress import phase

    ae = _load(ckpt, device)
    images, paths = _read_images(ae, inputs, phase(progress, 0, 2))
    codes = ae.encode(images, phase(progress, 1, 2)).numpy().astype(np.float32)
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
                 device: str | None = None, progress: Any = None) -> dict[str, Any]:
    """Decode a codes file to one PNG per code plus ``grid.png``; ``progress(done, total)`` over decoding and
    writing.

    Returns:
        ``{"out_dir", "files": [...], "grid"}``.
    """
    from pictorch.viz.grid import save_image_grid
    from pictorch.viz.progress import phase, track

    ae = _load(ckpt, device)
    codes, names = read_codes(codes_file)
    if codes.shape[1] != ae.code_size:
        raise ConfigError(f"{codes_file}: codes are {codes.shape[1]}-dimensional but this model's code size is "
                          f"{ae.code_size}; decode with the checkpoint that encoded them")
    images = ae.decode(codes, phase(progress, 0, 2))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, img in enumerate(track(images, phase(progress, 1, 2), len(images))):
        stem = Path(names[i]).stem if i < len(names) else f"code_{i:05d}"
        files.append(save_image_grid(img[None], out / f"{i:05d}_{stem}.png", nrow=1, value_range=(0, 1), scale=1))
    grid = save_image_grid(images[:64], out / "grid.png", nrow=8, value_range=(0, 1))
    return {"out_dir": out, "files": files, "grid": grid}


def _inputs_and_corrupted(ckpt: Any, inputs: Sequence[str], noise: str | None, seed: int, device: str | None,
                          progress: Any = None) -> tuple[TrainedAutoencoder, torch.Tensor, torch.Tensor, list[str], Any]:
    """The model, the files as [0, 1] model input, the same corrupted by ``noise`` (seeded), their paths and
    the parsed corruptions (empty: no noise)."""
    from pictorch.tasks.autoencode.corruption import apply_corruptions, parse_corruption

    ae = _load(ckpt, device)
    images, paths = _read_images(ae, inputs, progress)
    clean = ae.prepare(images)
    corruptions = parse_corruption(noise)
    x_in = apply_corruptions(clean, corruptions, torch.Generator().manual_seed(seed)) if corruptions else clean
    return ae, clean, x_in, paths, corruptions


def _quality(recon: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    from pictorch.metrics.image_quality import psnr, ssim

    out = {"psnr": float(psnr(recon, clean))}
    if min(clean.shape[-2:]) >= 7:
        out["ssim"] = float(ssim(recon, clean))
    return out


def reconstruct_files(ckpt: str | os.PathLike | TrainedAutoencoder, inputs: Sequence[str], out: str | os.PathLike,
                      noise: str | None = None, max_images: int = 32, seed: int = 0,
                      device: str | None = None, progress: Any = None) -> dict[str, Any]:
    """Side-by-side grid: originals, (corrupted inputs,) reconstructions; with PSNR/SSIM against the originals;
    ``progress(done, total)`` over reading and reconstructing.

    Returns:
        ``{"out", "count", "psnr", "ssim", ["noisy_psnr"]}``.
    """
    from pictorch.viz.grid import save_image_grid
    from pictorch.viz.progress import phase

    if max_images < 1:
        raise ConfigError(f"--max-images must be >= 1 (images in the grid), got {max_images}")
    ae, clean, x_in, _, corruptions = _inputs_and_corrupted(ckpt, inputs, noise, seed, device, phase(progress, 0, 2))
    recon = ae.reconstruct(x_in, phase(progress, 1, 2))
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
                  add_noise: str | None = None, seed: int = 0, device: str | None = None,
                  progress: Any = None) -> dict[str, Any]:
    """Denoise image files/folders, writing ``<out_dir>/<name>.png`` for each (at the model's image size);
    ``progress(done, total)`` over reading, denoising and writing.

    Args:
        add_noise: Corrupt the inputs first (e.g. ``gaussian:0.3``) to demonstrate on clean images; then a
            ``comparison.png`` grid and PSNR before/after are produced too.

    Returns:
        ``{"out_dir", "files", ["noisy_psnr", "psnr"]}``.
    """
    from pictorch.viz.grid import save_image_grid
    from pictorch.viz.progress import phase, track

    ae, x, x_in, paths, corruptions = _inputs_and_corrupted(ckpt, inputs, add_noise, seed, device, phase(progress, 0, 3))
    clean = ae.denoise(x_in, phase(progress, 1, 3))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files, used = [], set()
    for img, p in track(list(zip(clean, paths, strict=True)), phase(progress, 2, 3)):
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


# -- interpolation -----------------------------------------------------------------------------------------------


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
    if steps > 1000:  # --steps 100000 ran for minutes towards a giant strip
        raise ConfigError(f"--steps must be at most 1000 (frames in one strip and GIF), got {steps}")
    if method not in ("slerp", "lerp"):
        raise ConfigError(f"unknown --method {method!r}; use slerp or lerp")
    ae = _load(ckpt, device)
    a_img, _ = _read_images(ae, [image_a])
    b_img, _ = _read_images(ae, [image_b])
    if len(a_img) != 1 or len(b_img) != 1:
        raise DataError("interpolate takes exactly two image files (A and B), not folders")
    codes = ae.encode(torch.cat([a_img, b_img]))
    t = torch.linspace(0, 1, steps)
    path = (slerp if method == "slerp" else lerp)(codes[0], codes[1], t)
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



def load(path: str | os.PathLike, device: str | None = None) -> TrainedAutoencoder:
    """Load a trained autoencoder (checkpoint file or run folder); see :class:`TrainedAutoencoder`."""
    return TrainedAutoencoder.load(path, device=device)
