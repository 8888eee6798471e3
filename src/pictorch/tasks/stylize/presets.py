"""Preset styles of ``pictorch stylize train --preset NAME``: a style image that Debian ships, and the settings
measured to give a net whose outputs keep the photo (``bench/stylize_fast_train.py``) in a CPU budget.

No weights are shipped: a preset is a recipe the user trains once (the README gives the time it takes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pictorch.errors import DataError
from pictorch.registry import Registry

STYLE_PRESETS = Registry("style preset", modules=["pictorch.tasks.stylize.presets"])

# The CPU-sized recipe shared by the presets (FastStyleConfig and TrainConfig fields), the one measured by
# bench/stylize_fast_train.py: 128² crops so a step costs ~1.2 s on a quiet core of this EPYC (6-7 s at load
# 5-12). With the skip net (the default), Starry Night, held-out photos at 256 px: at 200 steps they keep their
# outlines (edge r 0.99) and class (3/3) but get little of the style (Gram distance to the style -13 %); at 800
# steps (967 s, quiet) they are still clearly the photos (edge r 0.75) in the style's blues and fine strokes
# (-27 %; Gatys' 100 L-BFGS steps -96 %). Longer runs style more and keep less.
CPU_RECIPE: dict[str, Any] = {"crop": 128, "batch_size": 4, "lr": 1e-3, "steps": 800}


@dataclass(frozen=True)
class StylePreset:
    """One preset: where its style image lives, and the settings that override the command's defaults.

    Attributes:
        style: The style image's path.
        package: The Debian package that installs it (named in the error when it is missing).
        settings: Option values (``FastStyleConfig`` and ``TrainConfig`` field names); options the user types
            beat them.
        measured: What the recipe gave on the bench (for ``--help`` and the README).
    """

    style: str
    package: str
    settings: dict[str, Any] = field(default_factory=dict)
    measured: str = ""

    def style_path(self) -> Path:
        """The style image; DataError naming the package when it is not installed."""
        p = Path(self.style)
        if not p.is_file():
            raise DataError(f"the preset's style image {p} is missing: apt-get install {self.package}")
        return p


STYLE_PRESETS.register("starry_night")(StylePreset(
    style="/usr/share/doc/opencv-doc/examples/data/starry_night.jpg", package="opencv-doc",
    settings=dict(CPU_RECIPE), measured="800 steps (16 min on a quiet core): edge r 0.75, class kept 1/3, style distance -27 % (Gatys -96 %); "
             "200 steps: edge r 0.99, 3/3, -13 %"))
STYLE_PRESETS.register("scream")(StylePreset(
    style="/usr/share/darknet/data/scream.jpg", package="darknet", settings=dict(CPU_RECIPE),
    measured="200 steps: edge r 0.98, class kept 3/3, style distance -1 % (the photo, unstyled); 800 not measured"))


def get_preset(name: str) -> StylePreset:
    """The preset called ``name`` (ConfigError listing the known ones otherwise)."""
    return STYLE_PRESETS.get(name)


def preset_names() -> list[str]:
    """The registered preset names."""
    return STYLE_PRESETS.names()
