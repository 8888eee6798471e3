"""Segmentation networks: U-Net (the paper's, or over any registered backbone), SegNet, an FCN baseline.

Each model maps a B×C×H×W batch of **any** size to B×K×H×W logits (K = 1 for binary masks): it pads the
input up to its total stride (:func:`~pictorch.nn.decoders.pad_to_multiple`), runs encoder → decoder →
head, and crops the logits back (smp instead refuses sides not divisible by 32; its issues #146, #196, #538,
#617 are users tripping on that). ``encode``/``decode`` are split so reports can weigh what the encoder hands
the decoder (U-Net: float skip maps; SegNet: int64 pooling indices).

Registered (``pictorch.create_model``): ``segment.unet``, ``segment.segnet``, ``segment.fcn``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.blocks import ConvBnAct
from pictorch.nn.decoders import FCNDecoder, SegNetDecoder, UNetDecoder, crop_to, pad_to_multiple
from pictorch.registry import MODELS

#: VGG-16's conv widths, "M" = 2×2 max-pool: the layout of torchvision's ``vgg16_bn.features``.
VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class SegmentationModel(nn.Module):
    """Base: any-size forward (pad to :attr:`multiple`, run, crop), the encoder's stages for freezing.

    Attributes:
        num_classes: Output channels (1: binary foreground logit; K ≥ 2: class logits).
        multiple: Input sides must be multiples of this inside the network (its total stride).
        in_chans: Input channels.
    """

    num_classes: int
    multiple: int
    in_chans: int
    min_size: int = 0

    def encoder_stages(self) -> list[nn.Module]:
        """The encoder's parameter groups, input side first (freezing the first N keeps the rest trainable)."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> Any:
        """Encoder state for :meth:`decode` (features, or pooled map + indices); ``x`` already padded."""
        raise NotImplementedError

    def decode(self, state: Any, size: tuple[int, int]) -> torch.Tensor:
        """Logits B×K×size from :meth:`encode`'s state."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ConfigError(f"{type(self).__name__} takes B×{self.in_chans}×H×W batches, got shape "
                              f"{tuple(x.shape)}")
        xp, size = pad_to_multiple(x, self.multiple, min_size=self.min_size)
        return crop_to(self.decode(self.encode(xp), tuple(xp.shape[-2:])), size)


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def double_conv(cin: int, cout: int, norm: str | None = "bn") -> nn.Sequential:
    """U-Net's unit: two 3×3 conv-norm-ReLU (padded, so the size is kept; the paper's were unpadded)."""
    return nn.Sequential(ConvBnAct(cin, cout, norm=norm), ConvBnAct(cout, cout, norm=norm))


def _drop_head(backbone: nn.Module) -> None:
    """Replace the children holding only head parameters by Identity: an encoder never runs its head, and
    VGG's would carry 120 M unused parameters (its 25088×4096 Linear) into every checkpoint."""
    head_ids = {id(p) for p in backbone.head_stage().parameters()}
    feature_ids = {id(p) for s in backbone.feature_stages() for p in s.parameters()}
    for name, child in list(backbone.named_children()):
        ids = {id(p) for p in child.parameters()}
        if ids and ids <= head_ids and not ids & feature_ids:
            setattr(backbone, name, nn.Identity())


class BackboneEncoder(nn.Module):
    """A registered backbone as a feature encoder: one feature per distinct stride (the deepest stage of
    each), optionally with the input itself as the stride-1 feature.

    Args:
        name: Registered backbone (``resnet18``, ``vgg11_bn``, ``efficientnet_b0``, ``small_cnn``...).
        in_chans: Input channels.
        pretrained, weights: Weight source of the backbone (``"imagenet"``; a file).
        input_skip: Hand the input on as a stride-1 feature (gives the decoder's last step full-size edges
            when the backbone's first stage is already reduced, as a ResNet stem at stride 4 is).
        backbone_kwargs: More constructor arguments of the backbone.
    """

    def __init__(self, name: str, in_chans: int = 3, pretrained: str | None = None, weights: str | None = None,
                 input_skip: bool = True, backbone_kwargs: dict[str, Any] | None = None):
        super().__init__()
        from pictorch.registry import MODELS as _M

        if name not in _M.names("backbone"):
            close = ", ".join(_M.names("backbone"))
            raise ConfigError(f"unknown encoder {name!r}; registered backbones: {close}")
        kw = dict(backbone_kwargs or {})
        if pretrained:
            kw["pretrained"] = pretrained
        if weights:
            kw["weights"] = weights
        self.backbone = _M.create(name, in_chans=in_chans, num_classes=0, **kw)
        _drop_head(self.backbone)
        info = self.backbone.feature_info
        keep: dict[int, Any] = {}
        for f in info:  # the deepest stage at each stride carries the most processed features
            keep[f.reduction] = f
        picked = [keep[r] for r in sorted(keep)]
        self.indices = [f.index for f in picked]
        self.channels = [f.num_chs for f in picked]
        self.reductions = [f.reduction for f in picked]
        self.input_skip = bool(input_skip) and self.reductions[0] > 1
        if self.input_skip:
            self.channels.insert(0, in_chans)
            self.reductions.insert(0, 1)
        self.multiple = max(self.reductions)
        self.min_size = int(self.backbone.default_cfg.get("min_input_size") or 0)
        self.mean = list(self.backbone.default_cfg.get("mean") or [])
        self.std = list(self.backbone.default_cfg.get("std") or [])

    def stages(self) -> list[nn.Module]:
        return list(self.backbone.feature_stages())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.backbone.forward_intermediates(x, self.indices)
        return [x, *feats] if self.input_skip else feats


class PaperUNetEncoder(nn.Module):
    """U-Net's contracting path: double conv at full size, then ``depth`` × (2×2 max-pool, double conv
    doubling the width): 64, 128, 256, 512, 1024 channels for ``width=64, depth=4``."""

    def __init__(self, in_chans: int, width: int = 64, depth: int = 4, norm: str | None = "bn"):
        super().__init__()
        widths = [int(width) * 2**i for i in range(depth + 1)]
        blocks = [double_conv(in_chans, widths[0], norm)]
        for i in range(1, depth + 1):
            blocks.append(nn.Sequential(nn.MaxPool2d(2), double_conv(widths[i - 1], widths[i], norm)))
        self.blocks = nn.ModuleList(blocks)
        self.channels = widths
        self.reductions = [2**i for i in range(depth + 1)]
        self.multiple = 2**depth

    def stages(self) -> list[nn.Module]:
        return list(self.blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for b in self.blocks:
            x = b(x)
            out.append(x)
        return out


class UNet(SegmentationModel):
    """U-Net (Ronneberger et al. 2015): contracting path, expanding path with skip connections, 1×1 head.

    Args:
        in_chans: Input channels.
        num_classes: Output channels (1 for a binary mask).
        encoder: ``None`` for the paper's encoder, or a registered backbone name (its ``feature_info`` gives
            the skips).
        width: First-level width of the paper's encoder (64 in the paper).
        depth: Poolings of the paper's encoder (4 in the paper).
        upsample: ``"transposed"`` (the paper's 2×2 up-conv; default for the paper's encoder) or
            ``"bilinear"`` (default over a backbone).
        decoder_channels: Widths of the up-steps, deep to shallow (see :class:`UNetDecoder`).
        norm: Normalization of the convs (``"bn"``; the paper had none).
        pretrained, weights: Weight source of a backbone encoder.
        encoder_kwargs: More constructor arguments of the backbone.
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 1, encoder: str | None = None, width: int = 64,
                 depth: int = 4, upsample: str | None = None, decoder_channels: Sequence[int] | None = None,
                 norm: str | None = "bn", pretrained: str | None = None, weights: str | None = None,
                 encoder_kwargs: dict[str, Any] | None = None):
        super().__init__()
        if depth < 1 or width < 1:
            raise ConfigError(f"U-Net needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
        self.in_chans, self.num_classes = int(in_chans), int(num_classes)
        if encoder in (None, "", "paper", "unet"):
            self.encoder: nn.Module = PaperUNetEncoder(in_chans, width, depth, norm)
            upsample = upsample or "transposed"
        else:
            self.encoder = BackboneEncoder(encoder, in_chans, pretrained, weights, backbone_kwargs=encoder_kwargs)
            upsample = upsample or "bilinear"
        self.multiple = int(self.encoder.multiple)
        self.min_size = int(getattr(self.encoder, "min_size", 0))
        self.decoder = UNetDecoder(self.encoder.channels, self.encoder.reductions, decoder_channels,
                                   upsample=upsample, norm=norm)
        self.head = nn.Conv2d(self.decoder.out_channels, self.num_classes, 1)
        _init_weights(self.decoder)
        _init_weights(self.head)
        if isinstance(self.encoder, PaperUNetEncoder):
            _init_weights(self.encoder)

    def encoder_stages(self) -> list[nn.Module]:
        return self.encoder.stages()

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(x)

    def decode(self, state: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return self.head(self.decoder(state, size))


class SegNetEncoder(nn.Module):
    """VGG-16-BN's convolutional part keyed exactly like torchvision's ``vgg16_bn.features`` (``features.0``
    conv, ``features.1`` BN, ...), with max-pools that return their argmax indices.

    ``width_mult`` < 1 narrows every conv (the keys stay, the shapes shrink: a CPU-sized SegNet) and
    ``depth`` < 5 keeps the first ``depth`` stages (the keys are a prefix of torchvision's, so the official
    file loads into them).
    """

    def __init__(self, in_chans: int = 3, width_mult: float = 1.0, depth: int = 5, norm: bool = True):
        super().__init__()
        from pictorch.weights import pretrained_cfg

        cfg: list[int | str] = []
        pools = 0
        for v in VGG16:
            if pools == depth:
                break
            cfg.append(v)
            pools += v == "M"
        layers: list[nn.Module] = []
        widths: list[list[int]] = [[]]
        c = in_chans
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2, return_indices=True))
                widths.append([])
                continue
            w = max(8, int(round(int(v) * width_mult)))
            layers.append(nn.Conv2d(c, w, 3, padding=1))
            if norm:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.ReLU(inplace=True))
            widths[-1].append(w)
            c = w
        self.features = nn.Sequential(*layers)
        self.stage_widths = [w for w in widths if w]
        self.multiple = 2**depth
        n = len(layers)
        total = sum(1 for v in VGG16 for _ in range(1 if v == "M" else (3 if norm else 2)))
        self.default_cfg = {
            "arch": "vgg16_bn" if norm else "vgg16",
            "input_size": (in_chans, 224, 224),
            **pretrained_cfg("vgg16_bn" if norm else "vgg16"),
            "first_conv": "features.0",
            "classifier": None,
            # the file's classifier and, for depth < 5, its deeper stages are not part of this encoder
            "optional_keys": ("classifier.", *(f"features.{i}." for i in range(n, total))),
        }

    def stages(self) -> list[nn.Module]:
        from pictorch.nn.pooling import pool_stages

        return pool_stages(self.features)  # the encoder ends with its last pool: no tail stage

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[tuple[int, int]]]:
        indices, sizes = [], []
        for m in self.features:
            if isinstance(m, nn.MaxPool2d):
                sizes.append((int(x.shape[-2]), int(x.shape[-1])))
                x, idx = m(x)
                indices.append(idx)
            else:
                x = m(x)
        return x, indices, sizes


class SegNet(SegmentationModel):
    """SegNet (Badrinarayanan et al. 2017): VGG-16-BN encoder whose max-pools save their argmax indices, a
    mirrored decoder that upsamples only by max-unpooling with them, and a 3×3 conv classifier.

    Args:
        in_chans: Input channels.
        num_classes: Output channels (1 for a binary mask).
        width_mult: Width factor of every conv (1: VGG-16's 64…512).
        depth: Pooling stages (5 in the paper).
        pretrained, weights: ImageNet weights of torchvision's ``vgg16_bn`` for the encoder (width 1).
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 1, width_mult: float = 1.0, depth: int = 5,
                 pretrained: str | None = None, weights: str | Path | None = None):
        super().__init__()
        if not 1 <= depth <= 5:
            raise ConfigError(f"SegNet's VGG-16 encoder has 1 to 5 pooling stages, got depth={depth}")
        self.in_chans, self.num_classes = int(in_chans), int(num_classes)
        self.encoder = SegNetEncoder(in_chans, width_mult, depth)
        self.multiple = self.encoder.multiple
        self.decoder = SegNetDecoder(self.encoder.stage_widths)
        self.head = nn.Conv2d(self.decoder.out_channels, self.num_classes, 3, padding=1)
        _init_weights(self)
        if pretrained or weights:
            if width_mult != 1.0:
                raise ConfigError("SegNet's ImageNet encoder weights need width_mult=1")
            from pictorch.nn.backbones.base import maybe_load_pretrained

            maybe_load_pretrained(self.encoder, pretrained, weights)  # type: ignore[arg-type]

    def encoder_stages(self) -> list[nn.Module]:
        return self.encoder.stages()

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[tuple[int, int]]]:
        return self.encoder(x)

    def decode(self, state: Any, size: tuple[int, int]) -> torch.Tensor:
        x, indices, sizes = state
        return self.head(self.decoder(x, indices, sizes))


class FCN(SegmentationModel):
    """Fully convolutional baseline (Long et al. 2015) over a registered backbone: FCN-32s/16s/8s.

    Args:
        in_chans: Input channels.
        num_classes: Output channels.
        encoder: Registered backbone name.
        skips: Shallower stages fused (0: FCN-32s, 2: FCN-8s).
        dropout: Head dropout.
        pretrained, weights, encoder_kwargs: As for :class:`UNet`.
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 1, encoder: str = "resnet18", skips: int = 2,
                 dropout: float = 0.1, pretrained: str | None = None, weights: str | None = None,
                 encoder_kwargs: dict[str, Any] | None = None):
        super().__init__()
        self.in_chans, self.num_classes = int(in_chans), int(num_classes)
        self.encoder = BackboneEncoder(encoder, in_chans, pretrained, weights, input_skip=False,
                                       backbone_kwargs=encoder_kwargs)
        self.multiple = self.encoder.multiple
        self.min_size = self.encoder.min_size
        self.decoder = FCNDecoder(self.encoder.channels, self.num_classes, skips=skips, dropout=dropout)
        _init_weights(self.decoder.head)

    def encoder_stages(self) -> list[nn.Module]:
        return self.encoder.stages()

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(x)

    def decode(self, state: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return self.decoder(state, size)


@MODELS.register("segment.unet", tags=("segment",))
def unet(*, in_chans: int = 3, num_classes: int = 1, **kw: Any) -> UNet:
    """U-Net: the paper's (``width``, ``depth``) or over a registered backbone (``encoder="resnet18"``)."""
    return UNet(in_chans=in_chans, num_classes=num_classes, **kw)


@MODELS.register("segment.segnet", tags=("segment",))
def segnet(*, in_chans: int = 3, num_classes: int = 1, **kw: Any) -> SegNet:
    """SegNet with a VGG-16-BN encoder (``width_mult``, ``depth``) and max-unpooling decoder."""
    return SegNet(in_chans=in_chans, num_classes=num_classes, **kw)


@MODELS.register("segment.fcn", tags=("segment",))
def fcn(*, in_chans: int = 3, num_classes: int = 1, **kw: Any) -> FCN:
    """FCN-8s (``skips=2``) / 32s (``skips=0``) over a registered backbone (``encoder``)."""
    return FCN(in_chans=in_chans, num_classes=num_classes, **kw)
