"""GAN objectives as small objects returning named terms.

All work on raw discriminator outputs (logits / critic values), so the sigmoid is fused into the loss
(numerically safe under bf16). ``D(x)``/``D(G(z))`` for the monitor are the mean sigmoid of the logits for
the cross-entropy objectives and the raw critic means for WGAN/hinge.

* ``non-saturating`` (default): D maximizes log D(x) + log(1 − D(G(z))); G maximizes log D(G(z)).
* ``saturating``: the original minimax — G minimizes log(1 − D(G(z))); its gradient vanishes while D
  easily rejects samples (early training), which is why the lectures recommend the non-saturating form.
* ``hinge``: D minimizes relu(1 − D(x)) + relu(1 + D(G(z))); G minimizes −D(G(z)).
* ``wgan-gp``: critic minimizes D(G(z)) − D(x) + λ‖∇D(x̂)‖ penalty; G minimizes −D(G(z)).

The penalty, instance noise, its annealing and the frozen-D context come from the shared kit
(:mod:`pictorch.losses.adversarial`). These objectives stay here because they are not the kit's: D's
cross-entropy is the sum over the real and fake halves (the kit averages them, as pix2pix), the saturating form
exists only here, and the cDCGAN's learning tests (94% class consistency) were measured with these.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from pictorch.errors import ConfigError
from pictorch.registry import LOSSES

G_LOSSES = ("non-saturating", "saturating", "hinge", "wgan-gp")


def _bce_targets(logits: torch.Tensor, target: torch.Tensor | float) -> torch.Tensor:
    t = torch.as_tensor(target, dtype=torch.float32, device=logits.device)
    if t.ndim == 0:
        t = t.expand(logits.shape)
    return F.binary_cross_entropy_with_logits(logits.float(), t)


@dataclass
class GANLoss:
    """The discriminator and generator objectives of one GAN formulation.

    Args:
        kind: One of ``non-saturating``, ``saturating``, ``hinge``, ``wgan-gp``.
        gp_weight: λ of the WGAN-GP gradient penalty.
    """

    kind: str = "non-saturating"
    gp_weight: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in G_LOSSES:
            raise ConfigError(f"unknown GAN loss {self.kind!r}; use {', '.join(G_LOSSES)}")

    @property
    def probabilistic(self) -> bool:
        """True when D outputs logits of a probability (cross-entropy objectives)."""
        return self.kind in ("non-saturating", "saturating")

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor, real_target: torch.Tensor | float = 1.0,
               fake_target: torch.Tensor | float = 0.0) -> dict[str, torch.Tensor]:
        """Discriminator terms from its outputs on real and fake batches.

        Args:
            real: D outputs on real images (B,).
            fake: D outputs on generated images (B,).
            real_target: BCE target for real images (label smoothing: 0.9; flips: per-sample 0/1 tensor).
            fake_target: BCE target for fakes (flips put some at 1).

        Returns:
            ``{"d_loss", "d_real", "d_fake"}`` (the last two are D(x), D(G(z)) for the monitor).
        """
        if self.probabilistic:
            loss = _bce_targets(real, real_target) + _bce_targets(fake, fake_target)
            return {"d_loss": loss, "d_real": torch.sigmoid(real.float()).mean(),
                    "d_fake": torch.sigmoid(fake.float()).mean()}
        if self.kind == "hinge":
            loss = F.relu(1 - real.float()).mean() + F.relu(1 + fake.float()).mean()
        else:
            loss = fake.float().mean() - real.float().mean()
        return {"d_loss": loss, "d_real": real.float().mean(), "d_fake": fake.float().mean()}

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """Generator loss from D's outputs on generated images."""
        f = fake.float()
        if self.kind == "non-saturating":
            return F.softplus(-f).mean()  # −log σ(f)
        if self.kind == "saturating":
            return -F.softplus(f).mean()  # log(1 − σ(f)) = −softplus(f)
        return -f.mean()


def _register(kind: str) -> None:
    def factory(gp_weight: float = 10.0) -> GANLoss:
        return GANLoss(kind, gp_weight)

    factory.__doc__ = f"The {kind} GAN objective (:class:`GANLoss`)."
    LOSSES.register(f"gan.{kind}", tags=("gan",))(factory)


for _kind in G_LOSSES:
    _register(_kind)


def make_gan_loss(kind: str, gp_weight: float = 10.0) -> GANLoss:
    """The GAN objective named ``kind``, looked up in ``LOSSES`` as ``gan.<kind>`` (``--g-loss``).

    Raises:
        ConfigError: An unknown kind, with the closest known one.
    """
    if f"gan.{kind}" not in LOSSES:
        close = difflib.get_close_matches(str(kind), G_LOSSES, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"unknown GAN loss {kind!r}; use {', '.join(G_LOSSES)}{hint}")
    return LOSSES.get(f"gan.{kind}")(gp_weight=gp_weight)
