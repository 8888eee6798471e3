"""Generators and discriminators: the original MLP GAN and DCGAN, both optionally class-conditional.

Registered in :data:`pictorch.registry.MODELS` as ``gan.mlp_g``, ``gan.mlp_d``, ``gan.dcgan_g`` and
``gan.dcgan_d`` so a checkpoint rebuilds them by name. A model is conditional when ``num_classes > 0``; the
condition is a class index (B,) or a multi-hot / soft label vector (B×num_classes), so several labels can be
asked for at once.

Conditioning: G concatenates a learned label embedding to ``z`` and (DCGAN, ``cond_bn``) scales/shifts every
BatchNorm by the label (conditional BN), so the label reaches every stage; D gets label maps as extra input
channels (the classic cGAN) plus a projection term ``<embed(y), features>`` (Miyato & Koyama). With an
auxiliary class head (AC-GAN, ``aux_classifier``) D takes the label through the projection only, so the head
has to recognise the class from the image.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from pictorch.errors import ConfigError
from pictorch.registry import MODELS

MIN_DCGAN_SIZE = 28


def label_vector(y: torch.Tensor | None, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    """Class indices (B,) or multi-hot (B×K) labels as a float B×K matrix (None for unconditional models)."""
    if num_classes <= 0 or y is None:
        return None
    if y.ndim == 1:
        return F.one_hot(y.long(), num_classes).to(dtype)
    if y.ndim == 2 and y.shape[1] == num_classes:
        return y.to(dtype)
    raise ConfigError(f"labels must be class indices (B,) or a B×{num_classes} multi-hot matrix, got shape "
                      f"{tuple(y.shape)}")


def conditional_labels(y: torch.Tensor | None, num_classes: int, dtype: torch.dtype, who: str
                       ) -> torch.Tensor | None:
    """:func:`label_vector` in a model's forward: None for an unconditional model, whose labels are ignored; a
    conditional one (``num_classes > 0``) refuses to run without labels."""
    if num_classes > 0 and y is None:
        raise ConfigError(f"this {who} is conditional: pass class labels")
    return label_vector(y, num_classes, dtype)


def dcgan_plan(image_size: int) -> tuple[int, int]:
    """(base size, number of ×2 upsamplings) of a DCGAN producing ``image_size`` pixels.

    Sizes halve while the result stays even and at least 4 (28 → 7 after two halvings, 32/64 → 4).

    Raises:
        ConfigError: size is not a multiple of 4 or below 28.
    """
    if image_size < MIN_DCGAN_SIZE or image_size % 4:
        allowed = ", ".join(str(s) for s in range(MIN_DCGAN_SIZE, 68, 4))
        raise ConfigError(f"image size {image_size} cannot be produced by the DCGAN generator: use a multiple of 4 "
                          f"from {MIN_DCGAN_SIZE} up ({allowed}, ...)")
    base, n = image_size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base //= 2
        n += 1
    return base, n


def _maybe_sn(layer: nn.Module, spectral_norm: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer) if spectral_norm else layer


def _d_norm(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "layer":  # per-sample normalization: safe for the WGAN-GP gradient penalty
        return nn.GroupNorm(1, channels)
    if norm == "none":
        return nn.Identity()
    raise ConfigError(f"unknown discriminator norm {norm!r}; use batch, layer or none")


def _init_dcgan(module: nn.Module) -> None:
    # DCGAN paper: weights from N(0, 0.02), BN scale from N(1, 0.02)
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(w, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class MLPGenerator(nn.Module):
    """The original GAN generator: an MLP from ``z`` (plus label embedding) to a flat image, tanh output.

    Args:
        z_dim: Latent size.
        out_shape: (C, H, W) of the images, or (D,) for flat vectors (2-D toy data).
        hidden: Hidden layer widths.
        num_classes: >0 for a conditional generator.
        embed_dim: Label embedding size (conditional only).
        batchnorm: BatchNorm after hidden layers.
        out_act: "tanh" (images in [-1, 1]) or "none" (unbounded data such as 2-D points).
    """

    def __init__(self, z_dim: int = 100, out_shape: tuple[int, ...] = (1, 28, 28), hidden: tuple[int, ...] = (256, 512),
                 num_classes: int = 0, embed_dim: int = 16, batchnorm: bool = False, out_act: str = "tanh"):
        super().__init__()
        self.z_dim, self.out_shape, self.num_classes = z_dim, tuple(out_shape), num_classes
        self.embed = nn.Linear(num_classes, embed_dim, bias=False) if num_classes > 0 else None
        layers: list[nn.Module] = []
        width = z_dim + (embed_dim if num_classes > 0 else 0)
        for h in hidden:
            layers += [nn.Linear(width, h)]
            if batchnorm:
                layers += [nn.BatchNorm1d(h)]
            layers += [nn.LeakyReLU(0.2)]
            width = h
        layers += [nn.Linear(width, math.prod(self.out_shape))]
        if out_act == "tanh":
            layers += [nn.Tanh()]
        elif out_act != "none":
            raise ConfigError(f"unknown output activation {out_act!r}; use tanh or none")
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = z.flatten(1)
        if self.embed is not None:
            z = torch.cat([z, self.embed(conditional_labels(y, self.num_classes, z.dtype, "generator"))], 1)
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """The original GAN discriminator: an MLP from a flat image (plus one-hot label) to one logit.

    Args:
        in_shape: (C, H, W) or (D,).
        hidden: Hidden layer widths.
        num_classes: >0 for a conditional discriminator (label concatenated + projection term).
        dropout: Dropout after hidden layers (the original paper used maxout + dropout).
        spectral_norm: Spectral normalization of every linear layer.
        aux_classifier: Conditional models: an auxiliary class head (AC-GAN), see ``return_aux``; labels then
            enter only through the projection term (the head must not see them).
    """

    def __init__(self, in_shape: tuple[int, ...] = (1, 28, 28), hidden: tuple[int, ...] = (512, 256),
                 num_classes: int = 0, dropout: float = 0.0, spectral_norm: bool = False,
                 aux_classifier: bool = False):
        super().__init__()
        self.in_shape, self.num_classes = tuple(in_shape), num_classes
        self.label_input = num_classes > 0 and not aux_classifier
        width = math.prod(self.in_shape) + (num_classes if self.label_input else 0)
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [_maybe_sn(nn.Linear(width, h), spectral_norm), nn.LeakyReLU(0.2)]
            if dropout > 0:
                layers += [nn.Dropout(dropout)]
            width = h
        self.body = nn.Sequential(*layers)
        self.out = _maybe_sn(nn.Linear(width, 1), spectral_norm)
        self.proj = _maybe_sn(nn.Linear(num_classes, width, bias=False), spectral_norm) if num_classes > 0 else None
        self.aux = nn.Linear(width, num_classes) if aux_classifier and num_classes > 0 else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None,
                return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        h = x.flatten(1)
        yv = conditional_labels(y, self.num_classes, h.dtype, "discriminator")
        if yv is not None and self.label_input:
            h = torch.cat([h, yv], 1)
        h = self.body(h)
        out = self.out(h).squeeze(1)
        if self.proj is not None:
            out = out + (self.proj(yv) * h).sum(1)
        if return_aux:
            return out, (self.aux(h) if self.aux is not None else None)
        return out


class CondBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift also depend on the label: ``BN(x)·(1 + γ(y)) + β(y)`` (conditional BN).

    ``γ``/``β`` are linear in the (one-hot or multi-hot) label vector, so the condition reaches every generator
    layer rather than only the input latent (as in projection-discriminator / BigGAN generators).
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(channels)
        self.gain = nn.Linear(num_classes, channels, bias=False)
        self.shift = nn.Linear(num_classes, channels, bias=False)

    def forward(self, x: torch.Tensor, yv: torch.Tensor) -> torch.Tensor:
        h = self.bn(x)
        yv = yv.to(h.dtype)
        return torch.addcmul(self.shift(yv)[:, :, None, None], h, 1 + self.gain(yv)[:, :, None, None])


class DCGANGenerator(nn.Module):
    """DCGAN generator: transposed convolutions, BatchNorm, ReLU, tanh output; any size multiple of 4 ≥ 28.

    ``z`` (plus a label embedding) is a 1×1 map that a transposed convolution grows to the base size (no fully
    connected layer), then each stage doubles the size and halves the width.

    Args:
        z_dim: Latent size.
        image_size: Output height = width.
        channels: Output channels.
        ngf: Width of the last hidden stage (the first is ``ngf * 2**(n-1)``).
        num_classes: >0 for a conditional generator.
        embed_dim: Label embedding size.
        fully_connected: Use a Linear projection of ``z`` instead of the 1×1 transposed conv (trick off).
        cond_bn: Conditional models: class-conditional BatchNorm (:class:`CondBatchNorm2d`) in every stage, so
            the label steers every layer and not only the latent.
    """

    def __init__(self, z_dim: int = 100, image_size: int = 28, channels: int = 1, ngf: int = 64, num_classes: int = 0,
                 embed_dim: int = 32, fully_connected: bool = False, cond_bn: bool = False):
        super().__init__()
        base, n = dcgan_plan(image_size)
        self.z_dim, self.image_size, self.channels, self.num_classes = z_dim, image_size, channels, num_classes
        self.base = base
        self.embed = nn.Linear(num_classes, embed_dim, bias=False) if num_classes > 0 else None
        zin = z_dim + (embed_dim if num_classes > 0 else 0)
        width = ngf * 2 ** (n - 1)
        self.width0 = width
        if fully_connected:
            self.project = nn.Linear(zin, width * base * base, bias=False)
        else:
            self.project = nn.ConvTranspose2d(zin, width, base, 1, 0, bias=False)
        self.fully_connected = fully_connected
        self.cond_bn = bool(cond_bn and num_classes > 0)

        def norm(c: int) -> nn.Module:
            return CondBatchNorm2d(c, num_classes) if self.cond_bn else nn.BatchNorm2d(c)

        layers: list[nn.Module] = [norm(width), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), norm(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _init_dcgan(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = z.flatten(1)
        yv = None
        if self.embed is not None:
            yv = conditional_labels(y, self.num_classes, z.dtype, "generator")
            z = torch.cat([z, self.embed(yv)], 1)
        if self.fully_connected:
            h = self.project(z).view(z.shape[0], self.width0, self.base, self.base)
        else:
            # a transposed conv of a 1×1 map with a base×base kernel *is* z @ W (zin × width·base·base): the same
            # layer and weights, computed as one matrix product (about 2× faster on CPUs than the deconv kernel)
            w = self.project.weight
            h = (z.to(w.dtype) @ w.reshape(w.shape[0], -1)).view(z.shape[0], self.width0, self.base, self.base)
            if w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous():
                h = h.contiguous(memory_format=torch.channels_last)
        if not self.cond_bn:
            return self.net(h)
        for m in self.net:
            h = m(h, yv) if isinstance(m, CondBatchNorm2d) else m(h)
        return h


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: strided convolutions (no pooling), BatchNorm, LeakyReLU(0.2), one logit.

    Args:
        image_size: Input height = width (multiple of 4, ≥ 28).
        channels: Input channels.
        ndf: Width of the first stage (doubling per stage).
        num_classes: >0 for a conditional discriminator (label maps + projection).
        norm: "batch" (DCGAN), "layer" (use with WGAN-GP) or "none".
        spectral_norm: Spectral normalization of every conv/linear layer.
        fully_connected: A Linear read-out instead of the final base×base convolution (trick off).
        aux_classifier: Conditional models: an auxiliary class head on the pooled features (AC-GAN);
            ``forward(x, y, return_aux=True)`` also returns its logits. The labels then enter D only through the
            projection term, after the features: label maps at the input would let the head read the answer
            instead of recognising the class (its loss drops to ~0 and teaches G nothing).
    """

    def __init__(self, image_size: int = 28, channels: int = 1, ndf: int = 64, num_classes: int = 0,
                 norm: str = "batch", spectral_norm: bool = False, fully_connected: bool = False,
                 aux_classifier: bool = False):
        super().__init__()
        base, n = dcgan_plan(image_size)
        self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
        self.label_input = num_classes > 0 and not aux_classifier
        cin = channels + (num_classes if self.label_input else 0)
        layers: list[nn.Module] = [_maybe_sn(nn.Conv2d(cin, ndf, 4, 2, 1), spectral_norm), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(n - 1):
            layers += [_maybe_sn(nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm == "none"), spectral_norm),
                       _d_norm(norm, width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        self.body = nn.Sequential(*layers)
        self.fully_connected = fully_connected
        if fully_connected:
            self.out = _maybe_sn(nn.Linear(width * base * base, 1), spectral_norm)
        else:
            self.out = _maybe_sn(nn.Conv2d(width, 1, base, 1, 0), spectral_norm)
        self.proj = _maybe_sn(nn.Linear(num_classes, width, bias=False), spectral_norm) if num_classes > 0 else None
        self.aux = nn.Linear(width, num_classes) if aux_classifier and num_classes > 0 else None
        _init_dcgan(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None,
                return_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size or x.shape[1] != self.channels:
            raise ConfigError(f"discriminator expects {self.channels}×{self.image_size}×{self.image_size} images, "
                              f"got {tuple(x.shape[1:])}")
        yv = conditional_labels(y, self.num_classes, x.dtype, "discriminator")
        if yv is not None and self.label_input:
            x = torch.cat([x, yv[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])], 1)
        h = self.body(x)
        out = self.out(h.flatten(1) if self.fully_connected else h).flatten(1).sum(1)
        if self.proj is not None:
            out = out + (self.proj(yv.to(h.dtype)) * h.sum((2, 3))).sum(1)
        if return_aux:
            return out, (self.aux(h.mean((2, 3))) if self.aux is not None else None)
        return out


@MODELS.register("gan.mlp_g", tags=("gan", "generator"))
def mlp_g(*, z_dim: int = 100, out_shape: list[int] | tuple[int, ...] = (1, 28, 28),
          hidden: list[int] | tuple[int, ...] = (256, 512), num_classes: int = 0, embed_dim: int = 16,
          batchnorm: bool = False, out_act: str = "tanh") -> MLPGenerator:
    """The original GAN's MLP generator (see :class:`MLPGenerator`)."""
    return MLPGenerator(z_dim, tuple(out_shape), tuple(hidden), num_classes, embed_dim, batchnorm, out_act)


@MODELS.register("gan.mlp_d", tags=("gan", "discriminator"))
def mlp_d(*, in_shape: list[int] | tuple[int, ...] = (1, 28, 28), hidden: list[int] | tuple[int, ...] = (512, 256),
          num_classes: int = 0, dropout: float = 0.0, spectral_norm: bool = False,
          aux_classifier: bool = False) -> MLPDiscriminator:
    """The original GAN's MLP discriminator (see :class:`MLPDiscriminator`)."""
    return MLPDiscriminator(tuple(in_shape), tuple(hidden), num_classes, dropout, spectral_norm, aux_classifier)


@MODELS.register("gan.dcgan_g", tags=("gan", "generator"))
def dcgan_g(*, z_dim: int = 100, image_size: int = 28, channels: int = 1, ngf: int = 64, num_classes: int = 0,
            embed_dim: int = 32, fully_connected: bool = False, cond_bn: bool = False) -> DCGANGenerator:
    """DCGAN generator (see :class:`DCGANGenerator`)."""
    return DCGANGenerator(z_dim, image_size, channels, ngf, num_classes, embed_dim, fully_connected, cond_bn)


@MODELS.register("gan.dcgan_d", tags=("gan", "discriminator"))
def dcgan_d(*, image_size: int = 28, channels: int = 1, ndf: int = 64, num_classes: int = 0, norm: str = "batch",
            spectral_norm: bool = False, fully_connected: bool = False,
            aux_classifier: bool = False) -> DCGANDiscriminator:
    """DCGAN discriminator (see :class:`DCGANDiscriminator`)."""
    return DCGANDiscriminator(image_size, channels, ndf, num_classes, norm, spectral_norm, fully_connected,
                              aux_classifier)


# LAPGAN and StackGAN register beside these (one module per family; imported here so the registry's discovery
# list, which names this module, finds them without a shared edit)
from pictorch.tasks.generate import multiscale as _multiscale  # noqa: E402, F401
