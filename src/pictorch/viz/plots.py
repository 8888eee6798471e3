"""Curves and charts saved as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    from pictorch.utils import atomic_save

    path = Path(path)
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    _plt().close(fig)
    return path


def plot_curves(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | os.PathLike,
                title: str = "", xlabel: str = "step", groups: Sequence[Sequence[str]] | None = None,
                logy: bool = False) -> Path:
    """Line plots of named (x, y) series; ``groups`` puts several series on one panel each."""
    plt = _plt()
    groups = [list(g) for g in groups] if groups else [[k] for k in series]
    groups = [[k for k in g if k in series] for g in groups]
    groups = [g for g in groups if g]
    n = max(len(groups), 1)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, g in zip(axes.flat, groups, strict=False):
        for k in g:
            x, y = series[k]
            ax.plot(list(x), list(y), label=k)
        ax.set_xlabel(xlabel)
        if logy:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_xy(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | os.PathLike,
            xlabel: str, ylabel: str, title: str = "", logx: bool = False, diagonal: bool = False,
            markers: bool = False) -> Path:
    """Several named curves on one axis (ROC, PSNR-vs-code-size, CMC...)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for name, (x, y) in curves.items():
        ax.plot(list(x), list(y), marker="o" if markers else None, label=name)
    if diagonal:
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, alpha=0.5)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_histograms(groups: Mapping[str, Sequence[float]], path: str | os.PathLike, xlabel: str = "score",
                    vlines: Mapping[str, float] | None = None, title: str = "", bins: int = 50) -> Path:
    """Overlaid histograms (e.g. genuine vs impostor scores) with optional vertical lines (thresholds)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for name, values in groups.items():
        ax.hist(list(values), bins=bins, alpha=0.55, density=True, label=name)
    for name, x in (vlines or {}).items():
        ax.axvline(x, color="k", ls="--", lw=1)
        ax.text(x, ax.get_ylim()[1] * 0.92, f" {name}", fontsize=8)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_matrix(matrix: Any, labels: Sequence[str], path: str | os.PathLike, title: str = "",
                xlabel: str = "predicted", ylabel: str = "true") -> Path:
    """A confusion-matrix style heat map with counts."""
    import numpy as np

    plt = _plt()
    m = np.asarray(matrix)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.5, 0.55 * n + 2))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    thresh = m.max() / 2 if m.size else 0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:g}", ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > thresh else "black")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return _save(fig, path)
