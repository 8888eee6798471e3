"""Multi-scale generators: LAPGAN (a Laplacian pyramid of GANs) and StackGAN (two stages, conditioning augmentation).

Registered as ``gan.lapgan_g``/``gan.lapgan_d`` and ``gan.stackgan_g``/``gan.stackgan_d``; each registered
module holds *all* levels or stages, so one checkpoint rebuilds the whole model by name and ``G(z, y)`` is the
full-resolution sampler that ``gan sample/interpolate/evaluate`` already drive. Training reaches one level or
stage through the same ``forward`` (``level=`` / ``stage=``), so calls go through Fabric's wrapper (precision,
DDP) rather than around it.

LAPGAN (Denton et al. 2015): the coarsest level is an unconditional DCGAN-like G/D pair at the pyramid's smallest
side; every finer level k has a conditional G_k(z_k, u(I_{k+1})) that draws the band-pass residual h_k (``z_k`` a
noise plane, as the paper's CIFAR models) and a D_k judging (h_k, u(I_{k+1})). Sampling runs coarse to fine:
I_k = u(I_{k+1}) + G_k(z_k, u(I_{k+1})).

StackGAN (Zhang et al. 2017): a condition vector c (one-hot class, multi-hot attributes or any float vector) is
embedded as φ; conditioning augmentation draws ĉ ~ N(μ(φ), diag σ²(φ)) by reparametrisation; Stage-I
G_0(z, ĉ_0) draws a half-resolution s_0, Stage-II G(s_0, ĉ) refines it to full resolution; D_0(I_0, φ) and
D(I, φ) see the condition through their own embedding, replicated over the last feature map.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from pictorch.errors import ConfigError
from pictorch.nn.pyramid import level_sizes, up
from pictorch.registry import MODELS
from pictorch.tasks.generate.models import _init_dcgan, _maybe_sn

__all__ = ["ConditioningAugmentation", "LaplacianDiscriminators", "LaplacianGenerator", "SmallConvD", "SmallConvG",
           "StackDiscriminators", "StackGenerator", "condition_vector", "kl_to_standard_normal"]


def small_plan(size: int) -> tuple[int, int]:
    """(base side, ×2 stages) for a side: halve while even and the half stays >= 4 (28 → 7, 2; 7 → 7, 0)."""
    if size < 4:
        raise ConfigError(f"image side {size} is too small for a conv generator (at least 4)")
    base, n = size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base //= 2
        n += 1
    return base, n


class SmallConvG(nn.Module):
    """DCGAN-like generator for any side >= 4: ``in_dim`` → width×base×base (the 1×1-deconv projection written as
    a Linear, the same map), ``n`` ×2 transposed-conv stages with BatchNorm + ReLU, a 3×3 conv to the channels, tanh.

    Sides DCGAN cannot make (7, 8, 14) are what the pyramids' coarse levels need.
    """

    def __init__(self, in_dim: int, size: int, channels: int, ngf: int = 64):
        super().__init__()
        base, n = small_plan(size)
        self.base, self.width = base, ngf * 2 ** n
        self.project = nn.Linear(in_dim, self.width * base * base, bias=False)
        w = self.width
        layers: list[nn.Module] = [nn.BatchNorm2d(w), nn.ReLU(True)]
        for _ in range(n):
            layers += [nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU(True)]
            w //= 2
        if n == 0:  # a conv stage at the base side too, so even a 7×7 level is a conv model
            layers += [nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True)]
        layers += [nn.Conv2d(w, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        h = self.project(v.flatten(1)).view(v.shape[0], self.width, self.base, self.base)
        return self.net(h)


class SmallConvD(nn.Module):
    """Strided-conv discriminator for any side >= 4 with an optional condition vector (one logit per image).

    3×3 conv, then 4×4 stride-2 convs (BatchNorm, LeakyReLU 0.2) while the side exceeds 4, then (conditional) the
    condition's embedding replicated over the map, concatenated and mixed by a 1×1 conv (StackGAN's D), and a
    linear read-out.
    """

    def __init__(self, size: int, channels: int, ndf: int = 64, cond_dim: int = 0, embed_dim: int = 32,
                 norm: str = "batch", spectral_norm: bool = False):
        super().__init__()
        sn = spectral_norm

        def normed(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if norm == "batch" else (nn.GroupNorm(1, c) if norm == "layer" else nn.Identity())

        layers: list[nn.Module] = [_maybe_sn(nn.Conv2d(channels, ndf, 3, 1, 1), sn), nn.LeakyReLU(0.2, True)]
        side, w = size, ndf
        while side > 4:
            layers += [_maybe_sn(nn.Conv2d(w, 2 * w, 4, 2, 1, bias=norm == "none"), sn), normed(2 * w),
                       nn.LeakyReLU(0.2, True)]
            side, w = (side + 2 - 4) // 2 + 1, 2 * w
        self.body = nn.Sequential(*layers)
        self.cond_dim = cond_dim
        if cond_dim > 0:
            self.embed = nn.Sequential(nn.Linear(cond_dim, embed_dim), nn.LeakyReLU(0.2, True))
            self.joint = nn.Sequential(_maybe_sn(nn.Conv2d(w + embed_dim, w, 1), sn), nn.LeakyReLU(0.2, True))
        self.out = _maybe_sn(nn.Linear(w * side * side, 1), sn)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)
        if self.cond_dim > 0:
            if c is None:
                raise ConfigError("this discriminator is conditional: pass the condition vectors")
            e = self.embed(c.to(h.dtype))[:, :, None, None].expand(-1, -1, h.shape[-2], h.shape[-1])
            h = self.joint(torch.cat([h, e], 1))
        return self.out(h.flatten(1)).squeeze(1)


def _eval_noise(shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Noise for sampling in eval mode: a fixed seed, so the same z (at the same batch position) gives the same
    picture in every call (``gan sample --seed`` is reproducible); training draws from the global RNG."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device=device, dtype=dtype)


# -- LAPGAN ------------------------------------------------------------------------------------------------------
class LevelG(nn.Module):
    """G_k(z_k, l): three 3×3 convs on [l, noise planes] → the residual h_k.

    The output is tanh-bounded: residuals of [-1, 1] images lie in [-2, 2] and in practice well inside [-1, 1];
    with the paper's linear output a 16×16 level on a toy target drifted to |h| 0.68 for real residuals of 0.10
    (bounded: 0.28, under the same D that was winning; with spectral norm in D it then converged).
    """

    def __init__(self, channels: int, ngf: int = 64, noise_channels: int = 1):
        super().__init__()
        self.noise_channels = noise_channels
        self.net = nn.Sequential(
            nn.Conv2d(channels + noise_channels, ngf, 3, 1, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.Conv2d(ngf, ngf, 3, 1, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.Conv2d(ngf, channels, 3, 1, 1), nn.Tanh())

    def forward(self, noise: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([low, noise.to(low.dtype)], 1))


class LaplacianGenerator(nn.Module):
    """All LAPGAN generators: the coarse G and one conditional G_k per finer level.

    Args:
        z_dim: Latent size of the coarsest level.
        image_size: Full output side.
        channels: Image channels.
        levels: Pyramid levels K (28 with 3: 28 → 14 → 7).
        ngf: Generator width: the coarse G's, and the next level's; each finer level halves it (at least 8), as
            DCGAN halves width per doubling of the side, so every level costs about the same (at full width a
            28-px level took most of a step's time on a CPU).
        noise_channels: Noise planes fed to each G_k.
    """

    def __init__(self, z_dim: int = 100, image_size: int = 28, channels: int = 1, levels: int = 3, ngf: int = 64,
                 noise_channels: int = 1):
        super().__init__()
        self.sizes = level_sizes(image_size, levels)
        self.z_dim, self.image_size, self.channels, self.levels = z_dim, image_size, channels, levels
        self.noise_channels = noise_channels
        self.coarse = SmallConvG(z_dim, self.sizes[-1], channels, ngf)
        self.fine = nn.ModuleList(LevelG(channels, max(8, ngf >> (levels - 2 - k)), noise_channels)
                                  for k in range(levels - 1))
        _init_dcgan(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, level: int | None = None,
                low: torch.Tensor | None = None) -> torch.Tensor:
        """The full-size sample (``level`` None, coarse to fine), the coarsest image (``level = K − 1``), or the
        residual h_k of level k given its conditioning image ``low`` = u(I_{k+1}) and noise planes ``z``."""
        if level is None:
            return self.sample(z)
        if level == self.levels - 1:
            return self.coarse(z)
        if low is None:
            raise ConfigError(f"level {level} of a LAPGAN needs its low-pass image u(I_{level + 1})")
        return self.fine[level](z, low)

    def sample(self, z: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Coarse to fine: I_{K-1} = G(z); I_k = u(I_{k+1}) + G_k(z_k, u(I_{k+1})), each kept in [-1, 1]."""
        img = self.coarse(z)
        for k in range(self.levels - 2, -1, -1):
            low = up(img)
            shape = (z.shape[0], self.noise_channels, self.sizes[k], self.sizes[k])
            zk = noise[k] if noise is not None else (
                torch.randn(shape, device=z.device, dtype=low.dtype) if self.training
                else _eval_noise(shape, z.device, low.dtype))
            img = (low + self.fine[k](zk, low)).clamp(-1.0, 1.0)
        return img


class LaplacianDiscriminators(nn.Module):
    """All LAPGAN discriminators: D on the coarsest image and D_k on (h_k, u(I_{k+1})) per finer level."""

    def __init__(self, image_size: int = 28, channels: int = 1, levels: int = 3, ndf: int = 64, norm: str = "batch",
                 spectral_norm: bool = False):
        super().__init__()
        self.sizes = level_sizes(image_size, levels)
        self.levels = levels
        self.coarse = SmallConvD(self.sizes[-1], channels, ndf, norm=norm, spectral_norm=spectral_norm)
        self.fine = nn.ModuleList(SmallConvD(self.sizes[k], 2 * channels, ndf, norm=norm, spectral_norm=spectral_norm)
                                  for k in range(levels - 1))
        _init_dcgan(self)

    def forward(self, x: torch.Tensor, level: int | None = None, low: torch.Tensor | None = None) -> torch.Tensor:
        """D's logits for level ``level`` (default the coarsest): the image there, or the residual beside ``low``."""
        if level is None or level == self.levels - 1:
            return self.coarse(x)
        if low is None:
            raise ConfigError(f"D_{level} of a LAPGAN judges (h, u(I_{level + 1})): pass low")
        return self.fine[level](torch.cat([x, low.to(x.dtype)], 1))


# -- StackGAN ----------------------------------------------------------------------------------------------------
def condition_vector(y: torch.Tensor | None, cond_dim: int, one_hot: bool) -> torch.Tensor:
    """Labels as float condition rows B×cond_dim: class indices (B,) become one-hot (class models); B×cond_dim
    rows (multi-hot attributes, embeddings) pass through.

    Raises:
        ConfigError: no condition, or rows of the wrong width.
    """
    if y is None:
        raise ConfigError("a StackGAN is conditional: pass a class or a condition vector per sample")
    if y.ndim == 1:
        if not one_hot:
            raise ConfigError(f"this StackGAN is conditioned on {cond_dim}-wide vectors, not class indices")
        return F.one_hot(y.long(), cond_dim).float()
    if y.ndim != 2 or y.shape[1] != cond_dim:
        raise ConfigError(f"condition vectors must be {cond_dim} wide (B×{cond_dim}), got shape {tuple(y.shape)}")
    return y.float()


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """D_KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), averaged over the batch."""
    return 0.5 * (mu.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).sum(1).mean()


class ConditioningAugmentation(nn.Module):
    """φ = LeakyReLU(W_e c); (μ, log σ²) = W φ; ĉ = μ + σ ⊙ ε with ε ~ N(0, I) (reparametrisation).

    In eval mode ĉ = μ: sampling is deterministic given (z, c), and z alone carries the variety.
    """

    def __init__(self, cond_dim: int, embed_dim: int = 64, c_dim: int = 16):
        super().__init__()
        self.c_dim = c_dim
        self.embed = nn.Sequential(nn.Linear(cond_dim, embed_dim), nn.LeakyReLU(0.2, True))
        self.stats = nn.Linear(embed_dim, 2 * c_dim)

    def forward(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ĉ, μ, log σ²)."""
        mu, logvar = self.stats(self.embed(c)).chunk(2, dim=1)
        logvar = logvar.clamp(-10.0, 10.0)  # σ² in [4.5e-5, 2.2e4]: exp never overflows, even in bf16
        if not self.training:
            return mu, mu, logvar
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp(), mu, logvar


class RefineG(nn.Module):
    """Stage-II G(s_0, ĉ): encode s_0, join ĉ replicated over the map, two residual blocks, ×2 up, tanh."""

    def __init__(self, channels: int, c_dim: int, ngf: int = 64):
        super().__init__()
        self.encode = nn.Sequential(nn.Conv2d(channels, ngf, 3, 1, 1), nn.ReLU(True))
        self.joint = nn.Sequential(nn.Conv2d(ngf + c_dim, ngf, 3, 1, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True))
        self.res = nn.ModuleList(nn.Sequential(nn.Conv2d(ngf, ngf, 3, 1, 1, bias=False), nn.BatchNorm2d(ngf),
                                               nn.ReLU(True), nn.Conv2d(ngf, ngf, 3, 1, 1, bias=False),
                                               nn.BatchNorm2d(ngf)) for _ in range(2))
        half = max(ngf // 2, 8)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ngf, half, 3, 1, 1, bias=False),
                                nn.BatchNorm2d(half), nn.ReLU(True), nn.Conv2d(half, channels, 3, 1, 1), nn.Tanh())

    def forward(self, s0: torch.Tensor, c_hat: torch.Tensor) -> torch.Tensor:
        h = self.encode(s0)
        e = c_hat.to(h.dtype)[:, :, None, None].expand(-1, -1, h.shape[-2], h.shape[-1])
        h = self.joint(torch.cat([h, e], 1))
        for block in self.res:
            h = F.relu(h + block(h))
        return self.up(h)


class StackGenerator(nn.Module):
    """Both StackGAN generators with their conditioning augmentations.

    Args:
        z_dim: Latent size of Stage I.
        image_size: Full output side (even; Stage I draws half of it).
        channels: Image channels.
        cond_dim: Width of the condition vector c (the number of classes for class labels).
        one_hot: Conditions are class indices (one-hot of ``cond_dim``); else float rows of that width.
        embed_dim: Width of φ.
        c_dim: Width of ĉ.
        ngf: Generator width.
    """

    def __init__(self, z_dim: int = 100, image_size: int = 28, channels: int = 1, cond_dim: int = 10,
                 one_hot: bool = True, embed_dim: int = 64, c_dim: int = 16, ngf: int = 64):
        super().__init__()
        if image_size % 2 or image_size // 2 < 4:
            raise ConfigError(f"StackGAN's Stage I draws half the image side: {image_size} must be even and >= 8")
        if cond_dim < 1:
            raise ConfigError(f"a StackGAN needs a condition of width >= 1, got {cond_dim}")
        self.z_dim, self.image_size, self.channels, self.cond_dim = z_dim, image_size, channels, cond_dim
        self.one_hot = one_hot
        self.stage1_size = image_size // 2
        self.ca0 = ConditioningAugmentation(cond_dim, embed_dim, c_dim)
        self.g0 = SmallConvG(z_dim + c_dim, self.stage1_size, channels, ngf)
        self.ca1 = ConditioningAugmentation(cond_dim, embed_dim, c_dim)
        self.g1 = RefineG(channels, c_dim, ngf)
        # DCGAN's N(0, 0.02) init for the image layers only: on the two linear layers of the conditioning
        # augmentation it made μ, σ ≈ 0 for every condition, ĉ pure noise and the class signal vanish (a toy
        # two-class run never followed its labels); they keep PyTorch's default (Kaiming-uniform) init
        _init_dcgan(self.g0)
        _init_dcgan(self.g1)

    def stage1_modules(self) -> list[nn.Module]:
        """What Stage I trains (frozen while Stage II trains)."""
        return [self.ca0, self.g0]

    def stage2_modules(self) -> list[nn.Module]:
        """What Stage II trains."""
        return [self.ca1, self.g1]

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, stage: int = 2,
                with_stats: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stage-I (``stage=1``, half size) or Stage-II (full size) images from ``z`` and conditions ``y``
        (class indices or B×cond_dim rows); ``with_stats`` also returns that stage's (μ, log σ²)."""
        c = condition_vector(y, self.cond_dim, self.one_hot).to(z.device)
        c0, mu, logvar = self.ca0(c)
        s0 = self.g0(torch.cat([z.flatten(1), c0.to(z.dtype)], 1))
        if stage == 1:
            return (s0, mu, logvar) if with_stats else s0
        c1, mu, logvar = self.ca1(c)
        img = self.g1(s0, c1)
        return (img, mu, logvar) if with_stats else img


class StackDiscriminators(nn.Module):
    """D_0(I_0, φ) at half size and D(I, φ) at full size, each with its own condition embedding."""

    def __init__(self, image_size: int = 28, channels: int = 1, cond_dim: int = 10, one_hot: bool = True,
                 ndf: int = 64, embed_dim: int = 32, norm: str = "batch", spectral_norm: bool = False):
        super().__init__()
        self.cond_dim, self.one_hot = cond_dim, one_hot
        self.d0 = SmallConvD(image_size // 2, channels, ndf, cond_dim, embed_dim, norm, spectral_norm)
        self.d1 = SmallConvD(image_size, channels, ndf, cond_dim, embed_dim, norm, spectral_norm)
        _init_dcgan(self)
        for d in (self.d0, self.d1):  # the condition embedding keeps the default init (see StackGenerator)
            for m in list(d.embed) + list(d.joint):
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, stage: int = 2) -> torch.Tensor:
        c = condition_vector(y, self.cond_dim, self.one_hot).to(x.device)
        return (self.d0 if stage == 1 else self.d1)(x, c)


@MODELS.register("gan.lapgan_g", tags=("gan", "generator"))
def lapgan_g(*, z_dim: int = 100, image_size: int = 28, channels: int = 1, levels: int = 3, ngf: int = 64,
             noise_channels: int = 1) -> LaplacianGenerator:
    """LAPGAN generators, all levels (see :class:`LaplacianGenerator`)."""
    return LaplacianGenerator(z_dim, image_size, channels, levels, ngf, noise_channels)


@MODELS.register("gan.lapgan_d", tags=("gan", "discriminator"))
def lapgan_d(*, image_size: int = 28, channels: int = 1, levels: int = 3, ndf: int = 64, norm: str = "batch",
             spectral_norm: bool = False) -> LaplacianDiscriminators:
    """LAPGAN discriminators, all levels (see :class:`LaplacianDiscriminators`)."""
    return LaplacianDiscriminators(image_size, channels, levels, ndf, norm, spectral_norm)


@MODELS.register("gan.stackgan_g", tags=("gan", "generator"))
def stackgan_g(*, z_dim: int = 100, image_size: int = 28, channels: int = 1, cond_dim: int = 10, one_hot: bool = True,
               embed_dim: int = 64, c_dim: int = 16, ngf: int = 64) -> StackGenerator:
    """StackGAN generators, both stages (see :class:`StackGenerator`)."""
    return StackGenerator(z_dim, image_size, channels, cond_dim, one_hot, embed_dim, c_dim, ngf)


@MODELS.register("gan.stackgan_d", tags=("gan", "discriminator"))
def stackgan_d(*, image_size: int = 28, channels: int = 1, cond_dim: int = 10, one_hot: bool = True, ndf: int = 64,
               embed_dim: int = 32, norm: str = "batch", spectral_norm: bool = False) -> StackDiscriminators:
    """StackGAN discriminators, both stages (see :class:`StackDiscriminators`)."""
    return StackDiscriminators(image_size, channels, cond_dim, one_hot, ndf, embed_dim, norm, spectral_norm)
