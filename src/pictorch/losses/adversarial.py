"""The shared adversarial kit: GAN losses, D-target tricks, instance noise, an image pool and ``frozen(D)``.

Used by ``translate`` (pix2pix, CycleGAN) and general enough for a DCGAN step: every loss takes raw
discriminator outputs of any shape (a B vector, a B×1 logit, or a B×1×h×w PatchGAN map) and builds its targets
shaped like the input (``expand_as``), so one object serves image-level and patch-level discriminators.

Modes:
    - ``vanilla``: binary cross-entropy on logits; the generator uses the non-saturating form
      ``-log D(G(z))`` (Goodfellow et al. 2014, §3), which keeps gradients when D wins early.
    - ``lsgan``: least squares, ``(D(x) - t)²`` (Mao et al. 2017); CycleGAN's default.
    - ``wgan`` / ``wgangp``: the critic's ``E[D(fake)] - E[D(real)]``; add :func:`gradient_penalty`
      (Gulrajani et al. 2017) for ``wgangp``.
    - ``hinge``: ``relu(1 - D(real)) + relu(1 + D(fake))`` for D, ``-D(fake)`` for G.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import ConfigError

__all__ = ["GAN_MODES", "GANLoss", "ImagePool", "anneal", "d_targets", "frozen", "gradient_penalty",
           "instance_noise"]

GAN_MODES = ("vanilla", "lsgan", "wgan", "wgangp", "hinge")
_ALIASES = {"bce": "vanilla", "non-saturating": "vanilla", "nonsaturating": "vanilla", "gan": "vanilla",
            "ls": "lsgan", "least-squares": "lsgan", "wgan-gp": "wgangp"}

Target = bool | float | torch.Tensor


def _target_like(pred: torch.Tensor, target: torch.Tensor | float) -> torch.Tensor:
    """A target tensor shaped like ``pred``: a scalar everywhere, or one value per sample (a B vector)."""
    if not isinstance(target, torch.Tensor):
        return torch.full_like(pred, float(target))
    t = target.to(device=pred.device, dtype=pred.dtype)
    if t.ndim == 0:
        return t.expand_as(pred)
    if t.shape[0] != pred.shape[0]:
        raise ValueError(f"per-sample targets have {t.shape[0]} values for a batch of {pred.shape[0]}")
    return t.reshape(-1, *([1] * (pred.ndim - 1))).expand_as(pred)


class GANLoss(nn.Module):
    """GAN objective for D and G over raw discriminator outputs of any shape.

    Args:
        mode: One of :data:`GAN_MODES` (aliases: ``non-saturating`` → vanilla, ``wgan-gp`` → wgangp).
        real_label: Target for real images (probabilistic modes).
        fake_label: Target for fake images (probabilistic modes).

    ``loss(pred, True)`` is the anchor's ``criterion(pred, target_is_real)``; :meth:`d_loss` and :meth:`g_loss`
    give the two players' objectives (D's averaged over the real and fake halves, as pix2pix's 0.5 factor).
    """

    def __init__(self, mode: str = "lsgan", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        key = _ALIASES.get(str(mode).lower(), str(mode).lower())
        if key not in GAN_MODES:
            raise ConfigError(f"unknown GAN loss {mode!r}; use one of {', '.join(GAN_MODES)}")
        self.mode = key
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)

    @property
    def probabilistic(self) -> bool:
        """True when D outputs a real/fake score against targets (vanilla, lsgan): smoothing/flips apply."""
        return self.mode in ("vanilla", "lsgan")

    def forward(self, pred: torch.Tensor, target_is_real: Target) -> torch.Tensor:
        """The loss of ``pred`` against "real" (True), "fake" (False), or explicit targets (a float or B vector).

        For wgan/hinge only the direction matters: True asks for high scores, False for low ones.
        """
        pred = pred.float()
        if self.mode in ("wgan", "wgangp"):
            return -pred.mean() if _is_real(target_is_real) else pred.mean()
        if self.mode == "hinge":
            return F.relu(1.0 - pred).mean() if _is_real(target_is_real) else F.relu(1.0 + pred).mean()
        if isinstance(target_is_real, bool):
            target: torch.Tensor | float = self.real_label if target_is_real else self.fake_label
        else:
            target = target_is_real
        t = _target_like(pred, target)
        if self.mode == "lsgan":
            return F.mse_loss(pred, t)
        return F.binary_cross_entropy_with_logits(pred, t)

    def d_loss(self, pred_real: torch.Tensor, pred_fake: torch.Tensor, real_target: Target = True,
               fake_target: Target = False) -> torch.Tensor:
        """The discriminator's loss: the mean of its loss on reals and on fakes (pix2pix's 0.5·(real + fake)).

        For hinge, the sum (the usual definition); for wgan, ``E[D(fake)] - E[D(real)]``.
        """
        lr, lf = self(pred_real, real_target), self(pred_fake, fake_target)
        if self.mode in ("wgan", "wgangp", "hinge"):
            return lr + lf
        return 0.5 * (lr + lf)

    def g_loss(self, pred_fake: torch.Tensor) -> torch.Tensor:
        """The generator's loss on D's output for its fakes (non-saturating for vanilla, ``-E[D]`` for hinge)."""
        if self.mode == "hinge":
            return -pred_fake.float().mean()
        return self(pred_fake, True)


def _is_real(target: Target) -> bool:
    if isinstance(target, torch.Tensor):
        return bool(target.float().mean() >= 0.5)
    return bool(target >= 0.5) if isinstance(target, float) else bool(target)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     weight: float = 10.0, center: float = 1.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP: ``weight · E[(‖∇D(x̂)‖₂ - center)²]`` at random points x̂ on lines between real and fake samples.

    Args:
        critic: The discriminator as a function of its input (wrap conditional ones: ``lambda x: D(cat(a, x))``).
        real: Real samples B×….
        fake: Fake samples, same shape (detached or not: the interpolate is a new leaf).
        weight: λ (10 in the paper).
        center: Target gradient norm (1; 0 gives the zero-centred penalty).
        generator: RNG for the interpolation weights (tests).

    Returns:
        A 0-dim tensor with a graph to D's parameters (``create_graph=True``).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches differ in shape: {tuple(real.shape)} and {tuple(fake.shape)}")
    b = real.shape[0]
    eps = torch.rand(b, *([1] * (real.ndim - 1)), generator=generator, dtype=torch.float32).to(real.device)
    x = (eps * real.detach().float() + (1 - eps) * fake.detach().float()).requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.float().sum(), x, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return weight * (norm - center).pow(2).mean()


def d_targets(n: int, device: torch.device | str = "cpu", real: float = 1.0, flip: float = 0.0,
              fake: float = 0.0, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample D targets with one-sided label smoothing (``real`` < 1) and random label flips.

    Args:
        n: Batch size.
        device: Where the targets live.
        real: Target for real samples (0.9 is the usual one-sided smoothing; 1 disables it).
        flip: Probability that a sample's target is swapped (real gets ``fake``, fake gets ``real``).
        fake: Target for fake samples (kept at 0: smoothing the fake side rewards D's mistakes).
        generator: RNG for the flips.

    Returns:
        ``(real_targets, fake_targets)``: two float B vectors.
    """
    rt = torch.full((n,), float(real))
    ft = torch.full((n,), float(fake))
    if flip > 0:
        swap = torch.rand(n, generator=generator) < flip
        rt, ft = torch.where(swap, ft, rt), torch.where(swap, rt, ft)
    return rt.to(device), ft.to(device)


def anneal(start: float, step: int, total_steps: int, fraction: float = 1.0) -> float:
    """A value falling linearly from ``start`` to 0 over the first ``fraction`` of ``total_steps``."""
    if start <= 0 or total_steps <= 0:
        return 0.0
    end = max(1.0, fraction * total_steps)
    return float(start) * max(0.0, 1.0 - step / end)


def instance_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """``x`` plus Gaussian noise of ``std`` (Sønderby et al. 2017: blurs D's view so the supports overlap)."""
    if std <= 0:
        return x
    return x + std * torch.randn_like(x)


class ImagePool:
    """A buffer of past generated images (Shrivastava et al. 2017; CycleGAN §4 uses 50).

    D is trained on a mix of the newest fakes and older ones so it does not chase only the generator's latest
    mode. :meth:`query` returns, per image, the image itself while the pool fills up; afterwards, with
    probability ``p`` a random stored image (which the new one replaces), else the new image.

    Args:
        size: Images kept (0 disables the pool: query returns its input).
        p: Probability of answering with a past image once the pool is full.
        seed: Seed of the pool's own RNG (draws do not disturb the global RNG).
    """

    def __init__(self, size: int = 50, p: float = 0.5, seed: int = 0):
        if size < 0:
            raise ConfigError(f"image pool size must be >= 0, got {size}")
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"image pool probability must be in [0, 1], got {p}")
        self.size = int(size)
        self.p = float(p)
        self.images: list[torch.Tensor] = []
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of the same shape as ``images`` (detached): new and past fakes mixed as described above."""
        if self.size == 0:
            return images.detach()
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif self._rng.random() < self.p:
                i = self._rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        """The stored images and RNG state (for exact resume)."""
        return {"images": [t.cpu() for t in self.images], "rng": self._rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict`."""
        self.images = [t.clone() for t in state.get("images", [])]
        if "rng" in state:
            rng = state["rng"]
            self._rng.setstate((rng[0], tuple(rng[1]), rng[2]) if isinstance(rng, list) else rng)


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Stop gradients into the parameters of ``modules`` inside the block (the G step with D frozen).

    Each parameter's own ``requires_grad`` is restored afterwards, so parts frozen on purpose stay frozen and
    an exception inside the block leaves nothing frozen by accident.
    """
    params = [p for m in modules for p in m.parameters()]
    before = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, before, strict=True):
            p.requires_grad_(flag)
