"""EfficientNet's compound scaling, run on the user's data (``pictorch classify scale``).

The procedure of Tan & Le (2019), step 1 and 2:

1. Fix φ = 1 (twice the resources) and grid-search depth, width and resolution coefficients α, β, γ ≥ 1 under
   α·β²·γ² ≈ 2. Each candidate network (depth × α, width × β, input side × γ) is trained briefly and scored
   with the paper's accuracy/FLOPs trade-off ``score = accuracy · (FLOPs / T) ^ -0.07``, where T is the
   target budget: the base network's FLOPs × 2^φ.
2. Keep the best (α, β, γ) and scale the base by α^φ, β^φ, γ^φ for φ = 1…n: the B1…Bn family.

FLOPs are counted (``torch.utils.flop_counter``, one image, multiply-add = 2 FLOPs), not estimated. Any
registered model whose factory takes ``width_mult`` and ``depth_mult`` can be scaled (default
``classify.scalable_cnn``; ``efficientnet`` for the real thing).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from pictorch.errors import ConfigError
from pictorch.nn.backbones.efficientnet import compound_scaling  # the shared formula (α^φ, β^φ, γ^φ·base)


def count_flops(model: torch.nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass of ``model`` on a zero input of ``input_shape`` (e.g. (1, C, H, W))."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    p = next(model.parameters(), None)
    x = torch.zeros(*input_shape, device=p.device if p is not None else "cpu")
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    model.train(was_training)
    return int(fc.get_total_flops())


def model_flops(arch: str, width_mult: float, depth_mult: float, in_chans: int, num_classes: int,
                resolution: int, **kw: Any) -> int:
    """Counted FLOPs of ``arch`` at the given multipliers and input side (built on the meta device when
    possible, so large family members cost no memory)."""
    from pictorch import create_model

    args = dict(in_chans=in_chans, num_classes=num_classes, width_mult=width_mult, depth_mult=depth_mult, **kw)
    try:
        with torch.device("meta"):
            model = create_model(arch, **args)
        return count_flops(model, (1, in_chans, resolution, resolution))
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - some layers do not run on meta tensors: count on the CPU instead
        return count_flops(create_model(arch, **args), (1, in_chans, resolution, resolution))


def candidates(grid: Sequence[float], phi_target: float = 2.0, tol: float = 0.1,
               max_candidates: int = 0) -> list[tuple[float, float, float]]:
    """(α, β, γ) from ``grid``³, all ≥ 1, with |α·β²·γ² − phi_target| ≤ tol, closest to the target first
    (ties: balanced ones first); at most ``max_candidates`` (0: all)."""
    vals = sorted({round(float(v), 4) for v in grid})
    if not vals or vals[0] < 1.0:
        raise ConfigError(f"grid values must be >= 1 (got {vals[:3]}...)")
    out = []
    for a, b, g in itertools.product(vals, repeat=3):
        c = a * b * b * g * g
        if abs(c - phi_target) <= tol + 1e-9:
            out.append((a, b, g))
    if not out:
        raise ConfigError(f"no (alpha, beta, gamma) in the grid {vals} satisfies alpha*beta^2*gamma^2 = "
                          f"{phi_target} ± {tol}; widen --tolerance or refine --grid")
    out.sort(key=lambda t: (abs(t[0] * t[1] ** 2 * t[2] ** 2 - phi_target), max(t) - min(t), t))
    return out[:max_candidates] if max_candidates else out


def efficiency_score(accuracy: float, flops: float, target_flops: float, w: float = -0.07) -> float:
    """The paper's multi-objective reward ACC(m) × (FLOPS(m) / T)^w."""
    return float(accuracy) * (float(flops) / float(target_flops)) ** w


def scale(cfg: Any, train_cfg: Any, arch: str = "classify.scalable_cnn", phi: float = 1.0,
          grid: Sequence[float] = (1.0, 1.1, 1.2, 1.3, 1.4), tolerance: float = 0.1, max_candidates: int = 6,
          family: int = 7, train_images: int = 2000, val_images: int = 1000, base_resolution: int | None = None,
          out_dir: str | os.PathLike = "runs/scale", log: Callable[[str], None] | None = None,
          tune_threads: bool = True) -> dict[str, Any]:
    """Grid-search α, β, γ on the data of ``cfg`` and derive the B1…B``family`` configs.

    Args:
        cfg: :class:`~pictorch.tasks.classify.steps.ClassifyConfig` (data, classes, per-class, augment, ...).
        train_cfg: :class:`~pictorch.engine.config.TrainConfig`; ``steps`` per candidate (keep small).
        arch: A registered model taking ``width_mult`` and ``depth_mult``.
        phi: The compound coefficient of the search (1: twice the FLOPs).
        grid: Values tried for each of α, β, γ.
        tolerance: Accepted deviation of α·β²·γ² from 2^φ.
        max_candidates: Train at most this many candidates (closest to the constraint first; 0: all).
        family: Report B1…B``family``.
        train_images, val_images: Subset sizes (stratified by random choice) for the brief trainings.
        base_resolution: Input side of the base network (default: the data's).

    Returns:
        ``{"candidates": rows, "best", "family": rows, "table", "family_table", "files"}``; writes
        ``search.csv``/``search.md``, ``family.csv``/``family.md`` and ``scale.json`` into ``out_dir``.
    """
    from pictorch.tasks.classify.api import TrainedClassifier, load_training_data
    from pictorch.tasks.classify.api import train as train_one
    from pictorch.tasks.classify.data import check_training_set, convert_images
    from pictorch.utils import atomic_write

    say = log or (lambda s: None)
    if phi <= 0:
        raise ConfigError(f"--phi must be > 0, got {phi}")
    target_c = 2.0 ** phi
    cands = candidates(grid, target_c, tolerance, max_candidates)
    data, note = load_training_data(replace(cfg, per_class=cfg.per_class, limit=0), seed=train_cfg.seed)
    check_training_set(data, cfg.data)
    train_set, val_set = data.split(min(0.5, max(0.05, val_images / max(len(data), 1))), seed=train_cfg.seed)
    g = torch.Generator().manual_seed(train_cfg.seed)
    if train_images and len(train_set) > train_images:
        train_set = train_set.subset(torch.randperm(len(train_set), generator=g)[:train_images].sort().values)
    if val_images and len(val_set) > val_images:
        val_set = val_set.subset(torch.randperm(len(val_set), generator=g)[:val_images].sort().values)
    c, h, w = train_set.images.shape[1:]
    base_res = int(base_resolution or min(h, w))
    k = len(data.classes)
    extra = dict(cfg.model_kwargs)
    base_flops = model_flops(arch, 1.0, 1.0, c, k, base_res, **extra)
    target = base_flops * target_c
    say(f"base {arch} at {base_res}px: {base_flops / 1e6:.2f} MFLOPs; target T = base × 2^{phi:g} = "
        f"{target / 1e6:.2f} MFLOPs; {len(cands)} candidates, {train_cfg.steps} steps each on "
        f"{len(train_set)} images")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def run(name: str, depth: float, width: float, res: int) -> dict[str, Any]:
        imgs = convert_images(train_set.images, res, None)
        ds = replace(train_set, images=imgs, paths=None, masks=None)
        rcfg = replace(cfg, arch=arch, regime="scratch", init=None, pretrained=None, weights=None,
                       model_kwargs={**extra, "width_mult": width, "depth_mult": depth}, val_split=0.0,
                       patience=0, image_size=res)
        t0 = time.perf_counter()
        res_train = train_one(rcfg, replace(train_cfg, out_dir=str(out / "candidates" / name), resume=False),
                              data=ds, tune_threads=tune_threads)
        seconds = time.perf_counter() - t0
        acc = TrainedClassifier.load(res_train["checkpoint"]).evaluate_set(val_set)["accuracy"]
        return {"acc": acc, "seconds": seconds}

    rows: list[dict[str, Any]] = []
    base_run = run("base", 1.0, 1.0, base_res)
    say(f"  base (1, 1, 1): accuracy {base_run['acc']:.4f} in {base_run['seconds']:.1f}s")
    for a, b, gm in cands:
        res = int(round(base_res * gm))
        flops = model_flops(arch, b, a, c, k, res, **extra)
        name = f"a{a:g}_b{b:g}_g{gm:g}"
        r = run(name, a, b, res)
        score = efficiency_score(r["acc"], flops, target)
        rows.append({"alpha": a, "beta": b, "gamma": gm, "constraint": a * b * b * gm * gm, "depth_mult": a,
                     "width_mult": b, "resolution": res, "flops": flops, "flops_ratio": flops / base_flops,
                     "accuracy": r["acc"], "score": score, "seconds": r["seconds"]})
        say(f"  α={a:g} β={b:g} γ={gm:g} (αβ²γ²={a * b * b * gm * gm:.3f}): {res}px, {flops / 1e6:.2f} MFLOPs "
            f"({flops / base_flops:.2f}× base), accuracy {r['acc']:.4f}, score {score:.4f} ({r['seconds']:.1f}s)")
    best = max(rows, key=lambda r: (r["score"], r["accuracy"]))
    fam = [{"name": "B0", "phi": 0, "depth_mult": 1.0, "width_mult": 1.0, "resolution": base_res,
            "flops": base_flops, "flops_ratio": 1.0, "predicted_ratio": 1.0}]
    for p in range(1, int(family) + 1):
        d, wm, r = compound_scaling(p, alpha=best["alpha"], beta=best["beta"], gamma=best["gamma"],
                                    base_resolution=base_res)
        fl = model_flops(arch, wm, d, c, k, r, **extra)
        fam.append({"name": f"B{p}", "phi": p, "depth_mult": d, "width_mult": wm, "resolution": r, "flops": fl,
                    "flops_ratio": fl / base_flops,
                    "predicted_ratio": (best["alpha"] * best["beta"] ** 2 * best["gamma"] ** 2) ** p})
    lines = [f"Compound-scaling search on {cfg.data} ({arch}, base {base_res}px, {base_flops / 1e6:.2f} MFLOPs, "
             f"base accuracy {base_run['acc']:.4f}); φ={phi:g}, T={target / 1e6:.2f} MFLOPs, "
             "score = accuracy·(FLOPs/T)^-0.07", "",
             "| α | β | γ | αβ²γ² | resolution | MFLOPs | × base | accuracy | score |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: -r["score"]):
        mark = " **best**" if r is best else ""
        lines.append(f"| {r['alpha']:g} | {r['beta']:g} | {r['gamma']:g} | {r['constraint']:.3f} | {r['resolution']} "
                     f"| {r['flops'] / 1e6:.2f} | {r['flops_ratio']:.2f} | {r['accuracy']:.4f} | {r['score']:.4f}{mark} |")
    table = "\n".join(lines)
    flines = [f"Family from α={best['alpha']:g}, β={best['beta']:g}, γ={best['gamma']:g}: depth α^φ, width β^φ, "
              "resolution γ^φ (FLOPs counted; predicted × = (αβ²γ²)^φ)", "",
              "| model | φ | depth × | width × | resolution | MFLOPs | × B0 | predicted × |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for f in fam:
        flines.append(f"| {f['name']} | {f['phi']} | {f['depth_mult']:.3f} | {f['width_mult']:.3f} | "
                      f"{f['resolution']} | {f['flops'] / 1e6:.2f} | {f['flops_ratio']:.2f} | "
                      f"{f['predicted_ratio']:.2f} |")
    family_table = "\n".join(flines)
    files = {"search_md": out / "search.md", "search_csv": out / "search.csv", "family_md": out / "family.md",
             "family_csv": out / "family.csv", "json": out / "scale.json"}
    with atomic_write(files["search_md"], "w") as f:
        f.write(table + "\n")
    with atomic_write(files["family_md"], "w") as f:
        f.write(family_table + "\n")
    _write_csv(files["search_csv"], rows)
    _write_csv(files["family_csv"], fam)
    result = {"arch": arch, "phi": phi, "base_resolution": base_res, "base_flops": base_flops,
              "base_accuracy": base_run["acc"], "target_flops": target, "candidates": rows, "best": best,
              "family": fam, "note": note}
    with atomic_write(files["json"], "w") as f:
        json.dump(result, f, indent=2, default=str)
    result.update(table=table, family_table=family_table, files=files)
    return result


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    from pictorch.utils import atomic_write

    keys = list(rows[0]) if rows else []
    with atomic_write(path, "w") as f:
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(_fmt(r[k]) for k in keys) + "\n")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else ""
    return str(v)
