"""The lectures' GAN stabilization tricks, each a switch with a default, plus the task's typed config.

* normal rather than uniform ``z`` (``z_dist``), and spherical interpolation for normal latents
* separate real/fake batches through D so BatchNorm never mixes their statistics (``separate_batches``)
* one-sided label smoothing (real target 0.9) and occasional label flips (``label_smoothing``, ``label_flip``)
* instance noise on D's inputs, annealed to zero (``instance_noise``, ``noise_anneal``)
* no fully connected layers in the conv models (``fully_connected=False``)
* k discriminator steps per generator step (``d_steps``)
* spectral norm and WGAN-GP as extras
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from pictorch.engine.config import MAX_IMAGE_SIDE, check_fields
from pictorch.errors import ConfigError
from pictorch.nn.latent import lerp, slerp  # noqa: F401  (the one slerp; re-exported for old imports)
from pictorch.tasks.generate.losses import G_LOSSES

MODEL_KINDS = ("gan", "dcgan", "cgan", "cdcgan", "lapgan", "stackgan")
Z_DISTS = ("normal", "uniform")


@dataclass
class GANConfig:
    """What ``gan train`` builds and how it trains (beside the shared TrainConfig).

    Attributes:
        data: ``fashion-mnist``, an image folder (class sub-folders), or ``toy2d`` (tests).
        model: gan (MLP), dcgan, cgan (conditional MLP), cdcgan (conditional DCGAN), lapgan (a Laplacian pyramid
            of GANs), stackgan (two conditional stages with conditioning augmentation).
        image_size: Side of generated images (DCGAN: multiple of 4 from 28).
        channels: Image channels (0: from the data).
        z_dim: Latent size.
        z_dist: normal or uniform(-1, 1).
        g_loss: non-saturating, saturating, hinge or wgan-gp (selects the matching D objective).
        d_steps: Discriminator steps per generator step (each on its own real batch).
        label_smoothing: Target for real images in D's loss (1.0: off).
        label_flip: Probability of swapping a real/fake target in D's loss (0: off).
        instance_noise: Std of Gaussian noise added to D's inputs (real and fake), annealed to 0.
        noise_anneal: Fraction of training over which instance noise decays linearly to 0.
        separate_batches: Real and fake batches pass D separately (BatchNorm statistics stay pure).
        spectral_norm: Spectral normalization in D.
        fully_connected: Use fully connected projections in the conv models (the trick says don't).
        gp_weight: WGAN-GP penalty weight.
        lr_g: Generator learning rate (0: the run's --lr).
        lr_d: Discriminator learning rate (0: the run's --lr).
        beta1: Adam β1 (DCGAN: 0.5).
        ngf: Generator width.
        ndf: Discriminator width.
        hidden: MLP hidden width.
        diversity_floor: Mode-collapse warning when generated diversity < this fraction of the real data's.
        d_win_patience: Log intervals of "D wins" before warning.
        monitor_warmup: Steps before the monitor starts judging (an untrained G is neither diverse nor fooling D).
        channels_last: Conv models in channels-last memory layout (faster oneDNN kernels on CPUs).
        cond_bn: Conditional DCGAN: class-conditional BatchNorm in every generator stage (the label steers
            every layer, not only the latent).
        aux_weight: Conditional models: weight of an auxiliary-classifier loss (AC-GAN): D gets a class head
            trained on real images, G is rewarded when D's head recognises the asked-for class (0: off; default 2,
            which took class consistency on Fashion-MNIST from chance-like to 94% in a 5-minute run).
        levels: LAPGAN: pyramid levels K (28 → 14 → 7 is 3); the image side must halve exactly K − 1 times.
        kl_weight: StackGAN: λ of the conditioning-augmentation KL term D_KL(N(μ, Σ) ‖ N(0, I)) (>= 0).
        stage1_fraction: StackGAN: the share of the run's steps that trains Stage I; Stage II trains in the rest
            with Stage I frozen.
        condition: StackGAN: what conditions it: ``class`` (class sub-folders or Fashion-MNIST labels) or a CSV
            file of float vectors per image (``file,v1,v2,…``; multi-hot attributes or text embeddings).
        classes: Class names (filled from the data).
    """

    data: str = "fashion-mnist"
    model: str = "dcgan"
    image_size: int = 28
    channels: int = 0
    z_dim: int = 100
    z_dist: str = "normal"
    g_loss: str = "non-saturating"
    d_steps: int = 1
    label_smoothing: float = 0.9
    label_flip: float = 0.05
    instance_noise: float = 0.1
    noise_anneal: float = 0.5
    separate_batches: bool = True
    spectral_norm: bool = False
    fully_connected: bool = False
    gp_weight: float = 10.0
    lr_g: float = 0.0
    lr_d: float = 0.0
    beta1: float = 0.5
    ngf: int = 64
    ndf: int = 64
    hidden: int = 512
    diversity_floor: float = 0.3
    d_win_patience: int = 3
    monitor_warmup: int = 200
    channels_last: bool = True
    cond_bn: bool = True
    aux_weight: float = 2.0
    levels: int = 3
    kl_weight: float = 1.0
    stage1_fraction: float = 0.5
    condition: str = "class"
    classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_fields(self, {"image_size": (None, MAX_IMAGE_SIDE), "channels": (0, 4), "z_dim": (1, 1 << 14),
                            "d_steps": ">= 1", "label_smoothing": "(0.5, 1]", "label_flip": "[0, 0.5)",
                            "instance_noise": ">= 0", "noise_anneal": (0, 1), "gp_weight": ">= 0", "lr_g": (0, 10),
                            "lr_d": (0, 10), "ngf": (1, 4096), "ndf": (1, 4096), "hidden": (1, 1 << 16),
                            "diversity_floor": ">= 0", "d_win_patience": ">= 1", "monitor_warmup": ">= 0",
                            "aux_weight": ">= 0", "kl_weight": ">= 0", "stage1_fraction": "(0, 1)"},
                     choices={"model": MODEL_KINDS, "z_dist": Z_DISTS, "g_loss": G_LOSSES},
                     notes={"label_smoothing": "the target for real images", "label_flip": "a probability",
                            "kl_weight": "the weight λ of the KL term"})
        if self.model in ("lapgan", "stackgan") and self.g_loss == "saturating":
            raise ConfigError(f"--model {self.model} takes --g-loss non-saturating, hinge or wgan-gp "
                              "(the shared adversarial kit has no saturating form)")
        if self.model == "lapgan":
            from pictorch.nn.pyramid import check_levels

            check_levels(self.image_size, self.levels)
        elif self.model == "stackgan" and (self.image_size % 2 or self.image_size < 8):
            raise ConfigError(f"StackGAN's Stage I draws half the image: --image-size must be even and >= 8, got "
                              f"{self.image_size}")
        if self.model in ("dcgan", "cdcgan"):
            from pictorch.tasks.generate.models import dcgan_plan

            dcgan_plan(self.image_size)  # raises with the allowed sizes
        elif self.image_size < 1:
            raise ConfigError(f"--image-size must be >= 1, got {self.image_size}")

    @property
    def conditional(self) -> bool:
        return self.model in ("cgan", "cdcgan", "stackgan")

    @property
    def conv(self) -> bool:
        return self.model in ("dcgan", "cdcgan", "lapgan", "stackgan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_z(n: int, z_dim: int, dist: str = "normal", generator: torch.Generator | None = None,
             device: torch.device | str | None = None) -> torch.Tensor:
    """``n`` latent vectors from N(0, I) or U(-1, 1)^d."""
    if dist == "normal":
        return torch.randn(n, z_dim, generator=generator, device=device)
    if dist == "uniform":
        return torch.rand(n, z_dim, generator=generator, device=device) * 2 - 1
    raise ConfigError(f"unknown latent distribution {dist!r}; use normal or uniform")


def seed_latents(seeds: list[int], z_dim: int, dist: str = "normal") -> torch.Tensor:
    """One latent per integer seed, reproducible across runs and machines (CPU generator)."""
    return torch.stack([sample_z(1, z_dim, dist, torch.Generator().manual_seed(int(s)))[0] for s in seeds])


def d_targets(n: int, device: torch.device, smoothing: float, flip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample BCE targets for real and fake batches with one-sided smoothing and random flips.

    Flipped reals get target 0 and flipped fakes target ``smoothing``; no host sync (all on device).
    """
    real = torch.full((n,), smoothing, device=device)
    fake = torch.zeros(n, device=device)
    if flip > 0:
        fr = torch.rand(n, device=device) < flip
        ff = torch.rand(n, device=device) < flip
        real = torch.where(fr, torch.zeros_like(real), real)
        fake = torch.where(ff, torch.full_like(fake, smoothing), fake)
    return real, fake


def noise_std(sigma: float, step: int, total_steps: int, anneal: float) -> float:
    """Instance-noise std at ``step``: linear decay from ``sigma`` to 0 over ``anneal`` of training."""
    from pictorch.losses.adversarial import anneal as linear_decay

    if sigma <= 0:
        return 0.0
    if anneal <= 0:  # no annealing: constant noise
        return sigma
    return linear_decay(sigma, step, total_steps, anneal)


def mean_pairwise_distance(x: torch.Tensor, max_n: int = 64) -> torch.Tensor:
    """Mean Euclidean distance between distinct rows of the (flattened) first ``max_n`` samples."""
    f = x[:max_n].flatten(1).float()
    n = f.shape[0]
    if n < 2:
        return torch.zeros((), device=x.device)
    d = torch.cdist(f, f)
    return d.sum() / (n * (n - 1))

