"""The ``stylize`` capability's Python API: Gatys optimisation and fast style transfer."""

from __future__ import annotations

from pictorch.tasks.stylize.fast import FastStyleConfig, Stylizer, apply, export_onnx, load_stylizer, train
from pictorch.tasks.stylize.gatys import (
    GatysConfig,
    GatysResult,
    build_loss,
    keep_content_colors,
    match_color_statistics,
    stylize_gatys,
)

__all__ = ["FastStyleConfig", "Stylizer", "apply", "export_onnx", "load_stylizer", "train", "GatysConfig", "GatysResult", "build_loss", "keep_content_colors", "match_color_statistics",
           "stylize_gatys"]
