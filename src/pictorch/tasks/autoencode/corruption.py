"""Input corruptions for denoising autoencoders, batched on the device, on images in [0, 1].

A spec string picks one (or several, joined by ``+``): ``gaussian:0.3`` (additive N(0, σ²) noise, clipped),
``mask:0.25`` (erase random rectangles covering about that fraction of each image), ``salt-pepper:0.1``
(that fraction of pixels set to 0 or 1). The model sees the corrupted image and is trained to reproduce the
clean one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pictorch.errors import ConfigError

KINDS = ("gaussian", "mask", "salt-pepper")


@dataclass(frozen=True)
class Corruption:
    """One corruption: ``kind`` in :data:`KINDS` and its strength ``amount`` (σ, fraction, fraction)."""

    kind: str
    amount: float

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return corrupt(x, self.kind, self.amount, generator)

    def __str__(self) -> str:
        return f"{self.kind}:{self.amount:g}"


def parse_corruption(spec: str | None) -> list[Corruption]:
    """Parse ``"gaussian:0.3"``, ``"mask:0.25+salt-pepper:0.05"``, ...; empty/None/"none" gives no corruption.

    Raises:
        ConfigError: Unknown kind or an amount out of range.
    """
    if spec is None or not str(spec).strip() or str(spec).strip().lower() == "none":
        return []
    out = []
    for part in str(spec).split("+"):
        kind, _, amount = part.strip().partition(":")
        kind = kind.strip().lower().replace("_", "-")
        if kind in ("saltpepper", "sp", "salt-and-pepper"):
            kind = "salt-pepper"
        if kind == "erase":
            kind = "mask"
        if kind not in KINDS:
            raise ConfigError(f"unknown noise {kind!r} in {spec!r}; use gaussian:SIGMA, mask:FRACTION or "
                              "salt-pepper:FRACTION (join several with +)")
        try:
            value = float(amount) if amount else {"gaussian": 0.3, "mask": 0.25, "salt-pepper": 0.1}[kind]
        except ValueError:
            raise ConfigError(f"noise amount {amount!r} in {spec!r} is not a number") from None
        if value < 0 or (kind != "gaussian" and value > 1):
            raise ConfigError(f"noise amount for {kind} must be in [0, 1]{'' if kind != 'gaussian' else ' or more'}"
                              f", got {value}")
        out.append(Corruption(kind, value))
    return out


def corrupt(x: torch.Tensor, kind: str, amount: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt a float batch B×C×H×W in [0, 1]; returns a new tensor in [0, 1].

    Args:
        x: Clean images.
        kind: "gaussian", "mask" or "salt-pepper".
        amount: σ for gaussian; area fraction for mask; pixel fraction for salt-pepper.
        generator: Optional RNG (for reproducible evaluation).
    """
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if generator is not None \
            else torch.randn_like(x)
        return (x + amount * noise).clamp(0, 1)
    if kind == "salt-pepper":
        b, _, h, w = x.shape
        r = _rand((b, 1, h, w), x, generator)
        out = x.clone()
        out = torch.where(r < amount / 2, torch.zeros_like(out), out)
        return torch.where((r >= amount / 2) & (r < amount), torch.ones_like(out), out)
    if kind == "mask":
        return x * (1 - _rect_masks(x, amount, generator))
    raise ConfigError(f"unknown noise {kind!r}; known: {', '.join(KINDS)}")


def _rand(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is not None:
        return torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
    return torch.rand(shape, device=like.device, dtype=like.dtype)


def _rect_masks(x: torch.Tensor, fraction: float, generator: torch.Generator | None, boxes: int = 2) -> torch.Tensor:
    """B×1×H×W masks (1 = erased) of ``boxes`` random rectangles per image, each of area ``fraction/boxes``."""
    b, _, h, w = x.shape
    if fraction <= 0:
        return torch.zeros(b, 1, h, w, device=x.device, dtype=x.dtype)
    area = fraction / boxes
    aspect = torch.exp((_rand((b, boxes), x, generator) - 0.5) * 1.2)  # aspect ratios in ~[0.55, 1.8]
    bh = (torch.sqrt(area * aspect) * h).clamp(1, h)
    bw = (torch.sqrt(area / aspect) * w).clamp(1, w)
    y0 = _rand((b, boxes), x, generator) * (h - bh)
    x0 = _rand((b, boxes), x, generator) * (w - bw)
    ys = torch.arange(h, device=x.device, dtype=x.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, 1, w)
    inside = ((ys >= y0[..., None, None]) & (ys < (y0 + bh)[..., None, None])
              & (xs >= x0[..., None, None]) & (xs < (x0 + bw)[..., None, None]))
    return inside.any(dim=1, keepdim=True).to(x.dtype)


def apply_corruptions(x: torch.Tensor, corruptions: list[Corruption],
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply each corruption in turn (identity for an empty list)."""
    for c in corruptions:
        x = c(x, generator)
    return x
