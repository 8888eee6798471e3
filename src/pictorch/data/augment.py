"""Batched, on-device image augmentation built on kornia.augmentation."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from pictorch.errors import ConfigError


def parse_augment_spec(spec: str | None, presets: Mapping[str, Mapping[str, float]], known: set[str],
                       int_keys: Sequence[str] = ()) -> dict[str, Any]:
    """``--augment``: a preset name, or ``key=value,...`` numbers (the one grammar of classify's image
    augmentation and segment's joint image+mask augmentation; the keys not given are off, ``hflip`` 0).

    Raises:
        ConfigError: No ``=``, a key not in ``known``, or a value that is not a number.
    """
    s = (spec or "none").strip()
    if s in presets:
        return dict(presets[s])
    out: dict[str, Any] = {"hflip": 0.0}
    for part in filter(None, (p.strip() for p in s.split(","))):
        key, sep, value = (t.strip() for t in part.partition("="))
        if not sep:
            raise ConfigError(f"--augment: expected a preset ({', '.join(presets)}) or key=value pairs like "
                              f"hflip=0.5,rotate=10; got {part!r}")
        if key not in known:
            raise ConfigError(f"unknown --augment option {key!r}; known: {', '.join(sorted(known))}")
        try:
            out[key] = int(float(value)) if key in int_keys else float(value)
        except ValueError:
            raise ConfigError(f"--augment {key}={value!r}: not a number") from None
    return out


def _range(v: float | Sequence[float] | None, name: str) -> tuple[float, float] | None:
    if v is None:
        return None
    if isinstance(v, int | float):
        if not 0 < v <= 1:
            raise ConfigError(f"augment {name} must be in (0, 1] or a (low, high) pair, got {v}")
        return (float(v), 1.0) if name == "crop" else (1.0 - float(v), 1.0 + float(v))
    lo, hi = (float(a) for a in v)
    if not 0 < lo <= hi:
        raise ConfigError(f"augment {name} range must satisfy 0 < low <= high, got {v}")
    return lo, hi


class Augment(nn.Module):
    """Random augmentation of a float image batch B×C×H×W (1 or 3 channels), applied per image, batched.

    Order: colour jitter, flips, affine (rotate/shift/scale), random resized crop, Gaussian noise, erasing.
    In eval mode (``.eval()``) the module returns its input unchanged. Randomness comes from torch's global
    generator, so ``torch.manual_seed`` makes it reproducible.

    Args:
        hflip: Probability of a horizontal flip.
        vflip: Probability of a vertical flip.
        rotate: Maximum rotation in degrees (uniform in ±rotate).
        shift: Maximum translation as a fraction of width/height.
        scale: Zoom: a float ``s`` means factors in [1-s, 1+s], or a (low, high) pair; None = no zoom.
        crop: Random resized crop back to the input size: a float ``a`` keeps [a, 1] of the area, or an
            area (low, high) pair; None = no crop.
        color_jitter: Strength of brightness/contrast (and, for 3 channels, saturation and hue/4) jitter.
            Applied with probability 0.8.
        noise: Standard deviation of additive Gaussian noise (in [0, 1] units), applied with probability 0.5.
        erase: Probability of erasing a random rectangle (filled with 0 in the input's space).
        mean: If the batch is normalized, its per-channel mean (scalar or C values) so colour jitter and noise
            work in [0, 1] units; None means the batch is in [0, 1].
        std: Matching per-channel standard deviation.
        padding_mode: How affine transforms fill the border: "zeros", "border" or "reflection".
    """

    def __init__(
        self,
        hflip: float = 0.5,
        vflip: float = 0.0,
        rotate: float = 0.0,
        shift: float = 0.0,
        scale: float | Sequence[float] | None = None,
        crop: float | Sequence[float] | None = None,
        color_jitter: float = 0.0,
        noise: float = 0.0,
        erase: float = 0.0,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        padding_mode: str = "zeros",
    ):
        super().__init__()
        import kornia.augmentation as K

        for name, p in (("hflip", hflip), ("vflip", vflip), ("erase", erase)):
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"augment {name} is a probability in [0, 1], got {p}")
        if rotate < 0 or shift < 0 or color_jitter < 0 or noise < 0:
            raise ConfigError("augment rotate, shift, color_jitter and noise must be >= 0")
        if padding_mode not in ("zeros", "border", "reflection"):
            raise ConfigError(f"augment padding_mode must be zeros, border or reflection, got {padding_mode!r}")
        self.config = {
            "hflip": hflip, "vflip": vflip, "rotate": rotate, "shift": shift, "scale": scale, "crop": crop,
            "color_jitter": color_jitter, "noise": noise, "erase": erase, "mean": mean, "std": std,
            "padding_mode": padding_mode,
        }
        self.crop_range = _range(crop, "crop")
        scale_range = _range(scale, "scale")
        cj = float(color_jitter)
        self.color3 = K.ColorJitter(cj, cj, cj, min(cj / 4, 0.5), p=0.8) if cj > 0 else None
        self.color1 = K.ColorJitter(cj, cj, 0.0, 0.0, p=0.8) if cj > 0 else None
        self.noise = K.RandomGaussianNoise(std=float(noise), p=0.5) if noise > 0 else None
        geo: list[nn.Module] = []
        if hflip > 0:
            geo.append(K.RandomHorizontalFlip(p=hflip))
        if vflip > 0:
            geo.append(K.RandomVerticalFlip(p=vflip))
        if rotate > 0 or shift > 0 or scale_range is not None:
            geo.append(
                K.RandomAffine(
                    degrees=float(rotate),
                    translate=(float(shift), float(shift)) if shift > 0 else None,
                    scale=scale_range,
                    padding_mode=padding_mode,
                    p=1.0,
                )
            )
        self.geometric = nn.Sequential(*geo)
        self.erase = K.RandomErasing(p=float(erase), scale=(0.02, 0.2), value=0.0) if erase > 0 else None
        self._crops: dict[tuple[int, int], nn.Module] = {}
        self.mean, self.std = mean, std

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> Augment:
        """Build from a dict (e.g. a YAML section); unknown keys raise ConfigError listing the known ones."""
        cfg = dict(cfg or {})
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(f"unknown augment option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**cfg)

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.mean is None and self.std is None:
            return None
        mean = torch.as_tensor(0.0 if self.mean is None else self.mean, dtype=x.dtype, device=x.device)
        std = torch.as_tensor(1.0 if self.std is None else self.std, dtype=x.dtype, device=x.device)
        return mean.flatten().view(1, -1, 1, 1), std.flatten().view(1, -1, 1, 1)

    def _crop(self, size: tuple[int, int]) -> nn.Module:
        if size not in self._crops:
            import kornia.augmentation as K

            self._crops[size] = K.RandomResizedCrop(size, scale=self.crop_range, p=1.0)
        return self._crops[size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Augment ``x`` (float B×C×H×W) in training mode; identity in eval mode."""
        if not self.training:
            return x
        if not x.is_floating_point() or x.dim() != 4:
            raise TypeError(f"Augment expects a float batch B×C×H×W, got {x.dtype} {tuple(x.shape)}")
        stats = self._stats(x)
        color = self.color3 if x.shape[1] == 3 else self.color1
        if color is not None or self.noise is not None:
            y = x * stats[1] + stats[0] if stats else x
            if color is not None:
                y = color(y)
            if self.noise is not None:
                y = self.noise(y)
            x = (y - stats[0]) / stats[1] if stats else y
        if len(self.geometric):
            x = self.geometric(x)
        if self.crop_range is not None:
            x = self._crop((int(x.shape[2]), int(x.shape[3])))(x)
        if self.erase is not None:
            x = self.erase(x)
        return x

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items() if v not in (None, 0, 0.0))

