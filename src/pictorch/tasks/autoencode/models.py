"""Autoencoders: linear (= PCA), MLP, convolutional (three decoder upsamplings), and their variational forms.

Every model maps images in [0, 1] (B×C×H×W floats) to a code and back, through one interface:

* ``encode(x) -> B×code_size`` (the posterior mean for variational models),
* ``encode_dist(x) -> (mu, logvar)`` (``logvar`` is None for deterministic models),
* ``decode(z) -> B×C×H×W``,
* ``forward(x) -> {"recon", "code", "mu", "logvar"}`` (``code`` is the sampled z while training a VAE).

They are registered as ``ae.linear``, ``ae.mlp``, ``ae.vae``, ``ae.conv`` and ``ae.conv_vae`` so a
checkpoint rebuilds them with ``pictorch.load``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.blocks import ConvBnAct, MaxPoolWithIndices, Unpool
from pictorch.registry import MODELS

UPSAMPLE_MODES = ("nearest", "max", "transposed")
CODE_ACTIVATIONS = (None, "none", "sigmoid", "relu", "tanh")


def _activation(name: str | None) -> nn.Module:
    if name in (None, "none", "linear", "identity"):
        return nn.Identity()
    table = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU,
             "leaky_relu": lambda: nn.LeakyReLU(0.2)}
    if name not in table:
        raise ConfigError(f"unknown activation {name!r}; known: none, {', '.join(sorted(table))}")
    return table[name]()


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = (int(s) for s in size)
    return h, w


class Autoencoder(nn.Module):
    """Shared interface and checks of all autoencoders.

    Args:
        in_chans: Image channels.
        image_size: (H, W) the model is built for (its bottleneck is a dense layer, so the size is fixed).
        code_size: Length of the code vector.
        variational: Encode to a Gaussian (mu, logvar) and sample while training.
        allow_overcomplete: Accept a code larger than the input (only sensible with a sparsity penalty).
    """

    def __init__(self, in_chans: int, image_size: int | Sequence[int], code_size: int, variational: bool,
                 allow_overcomplete: bool = False):
        super().__init__()
        self.in_chans = int(in_chans)
        self.image_size = _pair(image_size)
        self.code_size = int(code_size)
        self.variational = bool(variational)
        numel = self.in_chans * self.image_size[0] * self.image_size[1]
        if self.in_chans < 1 or min(self.image_size) < 1:
            raise ConfigError(f"bad image shape {self.in_chans}×{self.image_size[0]}×{self.image_size[1]}")
        if self.code_size < 1:
            raise ConfigError(f"code size must be >= 1, got {self.code_size}")
        if self.code_size > numel and not allow_overcomplete:
            raise ConfigError(
                f"code size {self.code_size} is larger than the input ({self.in_chans}×{self.image_size[0]}×"
                f"{self.image_size[1]} = {numel} values): the autoencoder would not compress; use "
                f"--code-size <= {numel} (an overcomplete code needs --sparse)")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images this model takes and produces."""
        return (self.in_chans, *self.image_size)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear :class:`ConfigError` for a batch this model cannot take."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            got = "×".join(str(s) for s in x.shape[1:]) if x.ndim == 4 else f"shape {tuple(x.shape)}"
            want = "×".join(str(s) for s in self.image_shape)
            raise ConfigError(f"this autoencoder takes {want} (C×H×W) images but got {got}; resize the images "
                              f"to {self.image_size[0]}×{self.image_size[1]} (the API and CLI do that for you) "
                              "or train a model for this size")

    def check_code(self, z: torch.Tensor) -> None:
        """Raise a clear :class:`ConfigError` for codes of the wrong width."""
        if z.ndim != 2 or z.shape[1] != self.code_size:
            raise ConfigError(f"codes must be N×{self.code_size} for this model, got shape {tuple(z.shape)}")

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Posterior parameters ``(mu, logvar)``; ``logvar`` is None for a deterministic model."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each image (the posterior mean for a variational model)."""
        return self.encode_dist(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images from codes."""
        raise NotImplementedError

    def _sample(self, mu: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor:
        if logvar is None or not self.training:
            return mu
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        mu, logvar = self.encode_dist(x)
        z = self._sample(mu, logvar)
        return {"recon": self.decode(z), "code": z, "mu": mu, "logvar": logvar}


class MLPAutoencoder(Autoencoder):
    """Fully connected autoencoder; with no hidden layers and no activations it is linear (and learns PCA).

    Args:
        in_chans: Image channels.
        image_size: (H, W).
        code_size: Code length.
        hidden: Widths of the hidden layers of the encoder (the decoder mirrors them).
        act: Hidden activation.
        code_act: Activation on the code ("sigmoid" for KL sparsity); None for a linear code.
        out_act: Output activation ("sigmoid" for [0, 1] pixels; None for the linear autoencoder).
        variational: Gaussian code (VAE).
        allow_overcomplete: Accept code_size > C·H·W.
    """

    def __init__(self, in_chans: int = 1, image_size: int | Sequence[int] = 28, code_size: int = 32,
                 hidden: Sequence[int] = (512, 256), act: str = "relu", code_act: str | None = None,
                 out_act: str | None = "sigmoid", variational: bool = False, allow_overcomplete: bool = False):
        super().__init__(in_chans, image_size, code_size, variational, allow_overcomplete)
        d = self.in_chans * self.image_size[0] * self.image_size[1]
        widths = [d, *[int(h) for h in hidden]]
        enc: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            enc += [nn.Linear(a, b), _activation(act)]
        self.encoder = nn.Sequential(*enc)
        self.to_code = nn.Linear(widths[-1], self.code_size * (2 if self.variational else 1))
        self.code_act = _activation(code_act)
        dec: list[nn.Module] = []
        rev = widths[::-1]
        dec.append(nn.Linear(self.code_size, rev[0]))
        for a, b in zip(rev[:-1], rev[1:], strict=True):
            dec += [_activation(act), nn.Linear(a, b)]
        self.decoder = nn.Sequential(*dec)
        self.out_act = _activation(out_act)

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        self.check_input(x)
        h = self.to_code(self.encoder(x.flatten(1)))
        if self.variational:
            mu, logvar = h.chunk(2, dim=1)
            return mu, logvar.clamp(-20, 10)
        return self.code_act(h), None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        self.check_code(z)
        return self.out_act(self.decoder(z)).view(z.shape[0], *self.image_shape)


class ConvAutoencoder(Autoencoder):
    """Convolutional autoencoder: (conv-BN-ReLU + 2×2 max-pool) per stage, a dense bottleneck, and a mirrored
    decoder whose upsampling is nearest-neighbour unpooling, max-unpooling at the encoder's saved argmax
    positions, or a learnable transposed convolution.

    Images whose sides are not multiples of ``2**len(widths)`` are zero-padded on the bottom/right inside the
    model and the output is cropped back, so any size works.

    With ``upsample="max"`` the decoder needs the pooling indices of the same image: ``forward`` passes them,
    while ``decode`` from codes alone (decoding a codes file, interpolation) falls back to "bed of nails"
    (each value in the top-left corner of its block), which is the only choice without an image.

    Args:
        in_chans: Image channels.
        image_size: (H, W).
        code_size: Code length.
        widths: Channels of each encoder stage.
        upsample: "nearest", "max" or "transposed".
        convs_per_stage: Conv-BN-ReLU blocks per stage.
        code_act: Activation on the code.
        out_act: Output activation.
        variational: Gaussian code (VAE).
        allow_overcomplete: Accept code_size > C·H·W.
    """

    def __init__(self, in_chans: int = 1, image_size: int | Sequence[int] = 28, code_size: int = 32,
                 widths: Sequence[int] = (32, 64), upsample: str = "nearest", convs_per_stage: int = 2,
                 code_act: str | None = None, out_act: str | None = "sigmoid", variational: bool = False,
                 allow_overcomplete: bool = False):
        super().__init__(in_chans, image_size, code_size, variational, allow_overcomplete)
        if upsample not in UPSAMPLE_MODES:
            raise ConfigError(f"unknown upsampling {upsample!r}; known: {', '.join(UPSAMPLE_MODES)}")
        widths = [int(w) for w in widths]
        if not widths:
            raise ConfigError("a convolutional autoencoder needs at least one stage (widths)")
        self.upsample = upsample
        factor = 2 ** len(widths)
        h, w = self.image_size
        self.padded = (math.ceil(h / factor) * factor, math.ceil(w / factor) * factor)
        self.bottom = (self.padded[0] // factor, self.padded[1] // factor)
        self.enc_stages = nn.ModuleList()
        self.pools = nn.ModuleList()
        c = self.in_chans
        for wd in widths:
            blocks = [ConvBnAct(c, wd)] + [ConvBnAct(wd, wd) for _ in range(max(0, convs_per_stage - 1))]
            self.enc_stages.append(nn.Sequential(*blocks))
            self.pools.append(MaxPoolWithIndices(2))
            c = wd
        flat = widths[-1] * self.bottom[0] * self.bottom[1]
        self.to_code = nn.Linear(flat, self.code_size * (2 if self.variational else 1))
        self.code_act = _activation(code_act)
        self.from_code = nn.Sequential(nn.Linear(self.code_size, flat), nn.ReLU(inplace=True))
        self.unpools = nn.ModuleList()
        self.dec_stages = nn.ModuleList()
        for i in reversed(range(len(widths))):
            wd = widths[i]
            nxt = widths[i - 1] if i > 0 else widths[0]
            self.unpools.append(Unpool(upsample, in_channels=wd if upsample == "transposed" else None))
            blocks = [ConvBnAct(wd, wd) for _ in range(max(0, convs_per_stage - 1))] + [ConvBnAct(wd, nxt)]
            self.dec_stages.append(nn.Sequential(*blocks))
        self.head = nn.Conv2d(widths[0], self.in_chans, 3, padding=1)
        self.out_act = _activation(out_act)
        self._widths = widths

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        ph, pw = self.padded[0] - x.shape[-2], self.padded[1] - x.shape[-1]
        return nn.functional.pad(x, (0, pw, 0, ph)) if ph or pw else x

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self.check_input(x)
        x = self._pad(x)
        indices = []
        for stage, pool in zip(self.enc_stages, self.pools, strict=True):
            x, idx = pool(stage(x))
            indices.append(idx)
        return self.to_code(x.flatten(1)), indices

    def _split(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.variational:
            mu, logvar = h.chunk(2, dim=1)
            return mu, logvar.clamp(-20, 10)
        return self.code_act(h), None

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._split(self._encode(x)[0])

    def decode(self, z: torch.Tensor, indices: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Images from codes; ``indices`` (the encoder's pooling argmaxes) only matter for ``upsample="max"``."""
        self.check_code(z)
        x = self.from_code(z).view(z.shape[0], self._widths[-1], *self.bottom)
        rev_idx = list(reversed(indices)) if indices is not None else [None] * len(self._widths)
        for unpool, stage, idx in zip(self.unpools, self.dec_stages, rev_idx, strict=True):
            x = stage(unpool(x, indices=idx if self.upsample == "max" else None))
        x = self.out_act(self.head(x))
        return x[..., : self.image_size[0], : self.image_size[1]]

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        h, indices = self._encode(x)
        mu, logvar = self._split(h)
        z = self._sample(mu, logvar)
        return {"recon": self.decode(z, indices), "code": z, "mu": mu, "logvar": logvar}


# -- registry --------------------------------------------------------------------------------------------
@MODELS.register("ae.linear", tags=("autoencoder",))
def ae_linear(*, in_chans: int = 1, image_size: int | Sequence[int] = 28, code_size: int = 32,
              **kw: Any) -> MLPAutoencoder:
    """One linear layer each way, no activations: its optimum spans the top principal components (PCA)."""
    return MLPAutoencoder(in_chans=in_chans, image_size=image_size, code_size=code_size, hidden=(),
                          act="none", out_act=None, **kw)


@MODELS.register("ae.mlp", tags=("autoencoder",))
def ae_mlp(*, in_chans: int = 1, image_size: int | Sequence[int] = 28, code_size: int = 32,
           hidden: Sequence[int] = (512, 256), **kw: Any) -> MLPAutoencoder:
    """Fully connected autoencoder with ReLU hidden layers and a sigmoid output."""
    return MLPAutoencoder(in_chans=in_chans, image_size=image_size, code_size=code_size, hidden=hidden, **kw)


@MODELS.register("ae.vae", tags=("autoencoder",))
def ae_vae(*, in_chans: int = 1, image_size: int | Sequence[int] = 28, code_size: int = 32,
           hidden: Sequence[int] = (512, 256), **kw: Any) -> MLPAutoencoder:
    """Fully connected variational autoencoder."""
    kw.pop("variational", None)
    return MLPAutoencoder(in_chans=in_chans, image_size=image_size, code_size=code_size, hidden=hidden,
                          variational=True, **kw)


@MODELS.register("ae.conv", tags=("autoencoder",))
def ae_conv(*, in_chans: int = 1, image_size: int | Sequence[int] = 28, code_size: int = 32,
            widths: Sequence[int] = (32, 64), upsample: str = "nearest", **kw: Any) -> ConvAutoencoder:
    """Convolutional autoencoder (see :class:`ConvAutoencoder`)."""
    return ConvAutoencoder(in_chans=in_chans, image_size=image_size, code_size=code_size, widths=widths,
                           upsample=upsample, **kw)


@MODELS.register("ae.conv_vae", tags=("autoencoder",))
def ae_conv_vae(*, in_chans: int = 1, image_size: int | Sequence[int] = 28, code_size: int = 32,
                widths: Sequence[int] = (32, 64), upsample: str = "nearest", **kw: Any) -> ConvAutoencoder:
    """Convolutional variational autoencoder."""
    kw.pop("variational", None)
    return ConvAutoencoder(in_chans=in_chans, image_size=image_size, code_size=code_size, widths=widths,
                           upsample=upsample, variational=True, **kw)


# CLI names -> registry names
MODEL_NAMES = {"linear": "ae.linear", "mlp": "ae.mlp", "vae": "ae.vae", "conv": "ae.conv",
               "conv-vae": "ae.conv_vae", "conv_vae": "ae.conv_vae"}


def create_autoencoder(kind: str, **kwargs: Any) -> Autoencoder:
    """Build an autoencoder by CLI name ("conv") or registry name ("ae.conv") through the model registry."""
    from pictorch.registry import create_model

    name = MODEL_NAMES.get(kind, kind)
    if not name.startswith("ae."):
        raise ConfigError(f"unknown autoencoder {kind!r}; known: {', '.join(sorted(set(MODEL_NAMES) - {'conv_vae'}))}")
    return create_model(name, **kwargs)
