"""Python API of the translate task: train, load, apply, evaluate.

Example::

    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.translate import api
    api.train(api.TranslateConfig(model="pix2pix", data="edges2photo"), TrainConfig(out_dir="runs/e2p", steps=2000))
    g = pictorch.load("runs/e2p")                   # the A→B generator; any size; uint8/float/PIL in, same out
    photo = g(edges_uint8)                          # 1×H×W edges → 3×H×W photo
    api.apply("runs/e2p", ["sketch.png"], out="translated/")
    report = api.evaluate("runs/e2p")               # L1/PSNR/SSIM on the held-out photos, vs identity
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from pictorch.engine.inference import Predictor
from pictorch.errors import CheckpointError, ConfigError, DataError
from pictorch.tasks.translate.config import TranslateConfig
from pictorch.tasks.translate.data import (
    photo_sources,  # offline photos, shared with `gan --data photo-crops`
)
from pictorch.utils import article

__all__ = ["TranslateConfig", "Translator", "apply", "evaluate", "load_translator", "photo_sources", "train"]

APPLY_MODES = ("eval", "paper")


class StopAfter:
    """Trainer hook: end the run after ``seconds`` of training (it finishes like a normal run: log, picture,
    checkpoint); asks the loop to stop through ``ctx.should_stop`` and leaves the config alone."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self._t0 = 0.0

    def on_fit_start(self, ctx: Any) -> None:
        self._t0 = time.perf_counter()

    def on_step(self, ctx: Any, images: int) -> None:
        if self.seconds > 0 and time.perf_counter() - self._t0 >= self.seconds:
            ctx.should_stop = True


class Estimate:
    """Trainer hook: times ``n`` steps after ``start`` and prints how long the whole run will take.

    The first step is warm-up; with the thread tuner on, its probes (which try slow thread counts on purpose) run
    first, so the estimate starts after them.
    """

    def __init__(self, echo: Any = print, start: int = 1, n: int = 3):
        self.echo = echo
        self.start, self.n = int(start), max(1, int(n))
        self._t: float | None = None
        self.seconds_per_step: float | None = None

    def on_step(self, ctx: Any, images: int) -> None:
        done = ctx.step - ctx.start_step
        if done == self.start:
            self._t = time.perf_counter()
        elif done == self.start + self.n and self._t is not None:
            self.seconds_per_step = (time.perf_counter() - self._t) / self.n
            left = (ctx.cfg.steps - ctx.step) * self.seconds_per_step
            self.echo(f"estimate: {self.seconds_per_step:.3f} s/step, about {left / 60:.1f} min for the "
                      f"{ctx.cfg.steps - ctx.step} steps left")


def train(cfg: TranslateConfig, train_cfg: Any, data_dir: str | None = None, max_seconds: float = 0.0,
          threads: int | str = 0, echo: Any = None) -> dict[str, Any]:
    """Train pix2pix or CycleGAN on ``cfg.data``; returns the trainer result (checkpoint, metrics, run folder).

    Args:
        cfg: Model, data and loss switches.
        train_cfg: The shared :class:`~pictorch.engine.config.TrainConfig` (its ``lr`` is G's and D's).
        data_dir: Fashion-MNIST folder (sneaker2boot).
        max_seconds: Stop after this much training (0: run all steps).
        threads: CPU threads for the run: a number, "auto" (time real steps with 1 and all cores and keep the
            faster, re-checking as the shared machine's load changes: :class:`~pictorch.engine.threads.CpuThreadTuner`)
            or 0 (leave torch's setting); restored afterwards.
        echo: Where the time estimate is printed (None: not printed).
    """
    from pictorch.engine.trainer import Trainer
    from pictorch.tasks.translate.data import load_translation_data, make_loader
    from pictorch.tasks.translate.steps import TASKS

    data = load_translation_data(cfg.data, cfg.data_b, paired=cfg.paired, size=cfg.size, limit=cfg.limit,
                                 seed=train_cfg.seed, data_dir=data_dir, coast=cfg.resolved_coast())
    if cfg.paired and not data.paired:
        raise DataError(f"{cfg.data}: pix2pix needs paired data (A and B files with matching names, or A|B files); "
                        "these are two unpaired domains: use --model cyclegan")
    if cfg.direction == "BtoA":
        data = data.swapped()
    loader = make_loader(data, train_cfg.batch_size, seed=train_cfg.seed, paired=cfg.paired)
    task = TASKS[cfg.model](cfg, data, lr=train_cfg.lr, extra_meta={"data_dir": data_dir})
    if echo is not None:  # CycleGAN's choices made from the data: say them before training
        for note in (f"norm auto: {task.norm_choice}" if task.norm_choice else "", task.identity_note):
            if note:
                echo(note)
    hooks: list[Any] = [StopAfter(max_seconds)] if max_seconds > 0 else []
    before = torch.get_num_threads()
    auto = str(threads).strip().lower() == "auto"
    if echo is not None:
        # the tuner's first probe covers 2 warm-up steps + 3 per thread count (1, n/2, n)
        hooks.append(Estimate(echo, start=12 if auto and before > 1 else 1))
    from pictorch.engine.threads import cpu_threads

    # the one thread policy (engine.threads): auto tunes on real steps, N fixes it, the count is restored after
    keep = str(threads).strip() == "0"  # 0: leave torch's setting (documented above)
    with cpu_threads(torch.get_num_threads() if keep else threads) as tuner:
        if tuner is not None:
            hooks.append(tuner)
        result = Trainer(train_cfg, hooks=hooks).fit(task, loader)
    result["data"] = {"name": data.name, "train": int(data.train_a.shape[0]),
                      "test": 0 if data.test_a is None else int(data.test_a.shape[0]), **data.info}
    return result


def load_translator(path: str | Path, reverse: bool = False, device: str = "cpu") -> torch.nn.Module:
    """The A→B generator of a ``translate train`` checkpoint (``reverse``: CycleGAN's B→A one), in eval mode.

    The module has ``pictorch_meta`` (the checkpoint's description) and takes images of any size (see
    :class:`~pictorch.tasks.translate.models.AnySizeTranslator`).

    Raises:
        CheckpointError: Missing, corrupt, another task's checkpoint, or ``reverse`` on a pix2pix one.
    """
    from pictorch.engine.checkpoint import build_module, load_checkpoint

    ckpt = load_checkpoint(path, task="translate", map_location=device)
    meta = ckpt.meta
    name = meta.get("reverse_module") if reverse else meta.get("deployed_module", "G")
    if not name:
        raise CheckpointError(f"{ckpt.path}: {article(meta.get('model'))} checkpoint has no B→A generator; --reverse "
                              "needs a CycleGAN one")
    if name not in ckpt.state_dicts or name not in meta.get("models", {}):
        raise CheckpointError(f"{ckpt.path}: no {name!r} generator in this checkpoint")
    g = build_module(meta["models"][name])
    try:
        g.load_state_dict(ckpt.state_dicts[name])
    except RuntimeError as e:
        raise CheckpointError(f"{ckpt.path}: weights do not fit {meta['models'][name]['arch']}: "
                              f"{str(e).splitlines()[0][:200]}") from e
    g.pictorch_meta = meta
    return g.to(device).eval()


class Translator(Predictor):
    """A translate checkpoint's generator (A→B, or with ``reverse`` CycleGAN's B→A) with its input record:
    the channel mode of the side it reads (``meta["input"]``, or ``meta["output"]`` reversed), any size."""

    task = "translate"

    def __init__(self, model: torch.nn.Module, meta: dict[str, Any], path: Any = None, device: Any = "cpu",
                 reverse: bool = False) -> None:
        if reverse:  # B→A reads what A→B writes
            meta = {**meta, "input": {**(meta.get("output") or {}), "size": None, "resize": "none"}}
        super().__init__(model, meta, path, device)
        self.reverse = reverse

    @classmethod
    def load(cls, path: Any, device: str | None = None, reverse: bool = False) -> Translator:
        """Load the generator of a ``translate train`` checkpoint (see :func:`load_translator`)."""
        from pictorch.engine.checkpoint import resolve_checkpoint_path

        g = load_translator(path, reverse=reverse, device=device or "cpu")
        return cls(g, dict(g.pictorch_meta), resolve_checkpoint_path(path), device or "cpu", reverse)

    @torch.no_grad()
    def translate(self, images: Any, layout: str | None = None) -> torch.Tensor:
        """Any accepted array -> uint8 N×C×H×W translations, each at its input's size (``layout``: as
        :meth:`~pictorch.engine.inference.Predictor.to_uint8`)."""
        return self.check(self.model(self.to_uint8(images, layout).to(self.device)).cpu(), "the translator")


def _inputs(items: list[str]) -> list[Path]:
    from pictorch.data.decode import is_image_file

    files: list[Path] = []
    for it in items:
        p = Path(it).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if not f.name.startswith(".") and f.is_file() and is_image_file(f))
            if not found:
                raise DataError(f"{p}: no images in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such image or folder")
    if not files:
        raise DataError("no input images given")
    return files


def _free_name(out: Path, stem: str, suffix: str = ".png") -> Path:
    """``out/stem.png``, or ``stem-1.png``, ``stem-2.png``... when taken: earlier results are never overwritten."""
    from pictorch.utils import free_path

    return free_path(out / f"{stem}{suffix}")


def _set_mode(g: torch.nn.Module, mode: str) -> None:
    if mode not in APPLY_MODES:
        raise ConfigError(f"--mode takes eval or paper, got {mode!r}")
    # eval: running BN statistics, no dropout (deterministic). paper: batch statistics and dropout on, which is
    # how pix2pix's paper (and the anchor without --eval) runs at test time
    g.train(mode == "paper")


@torch.no_grad()
def apply(ckpt: str | Path, inputs: list[str], out: str | Path, reverse: bool = False, mode: str = "eval",
          seed: int = 0, progress: Any = None) -> dict[str, Any]:
    """Translate image files (or every image of folders) with a checkpoint; one PNG per input in ``out``.

    Images of any size keep their size; the checkpoint says the channel modes, so nothing is retyped.
    A bad file is skipped and reported; all-bad input is an error.

    Returns:
        ``{"files": [written PNGs], "skipped": [(path, reason)], "mode": mode}``.
    """
    from pictorch.data.decode import load_image
    from pictorch.errors import BadImageError
    from pictorch.viz.grid import _save_array

    tr = Translator.load(ckpt, reverse=reverse)
    g = tr.model
    _set_mode(g, mode)
    torch.manual_seed(seed)
    in_mode = tr.mode
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    from pictorch.viz.progress import track

    for f in track(_inputs(inputs), progress):
        try:
            x = load_image(f, mode=in_mode)
        except BadImageError as e:
            skipped.append((str(f), str(e)))
            continue
        y = tr.translate(x.unsqueeze(0), "NCHW")[0]
        p = _free_name(out, f.stem)
        _save_array(y.permute(1, 2, 0).cpu().numpy(), p)
        written.append(str(p))
    if not written:
        raise DataError(f"none of the {len(skipped)} inputs could be read: {skipped[0][1]}")
    return {"files": written, "skipped": skipped, "mode": mode}


def evaluate(ckpt: str | Path, data: str | None = None, data_b: str | None = None, data_dir: str | None = None,
             out: str | Path | None = None, mode: str = "eval", n: int = 0,
             feature_net: Any = None, progress: Any = None) -> dict[str, Any]:
    """Scores of a checkpoint on held-out pairs: L1, PSNR, SSIM of G(A) vs the true B, beside the identity
    mapping's; CycleGAN also the cycle L1 both ways; FID/KID with a domain feature net when one is given.

    Args:
        ckpt: A translate checkpoint or run folder.
        data: Test data (default: the held-out split of the data the checkpoint trained on); a folder is used whole.
        data_b: Folder of B images for ``data``.
        data_dir: Fashion-MNIST folder.
        out: Folder for ``report.json`` and a sample grid (never over an earlier report).
        mode: eval or paper (see :func:`apply`).
        n: Use at most this many test pairs (0: all).
        feature_net: A domain feature network for FID/KID of G(A) against the real test B images (works
            unpaired too): a classifier checkpoint of the B domain (Backbone interface, e.g. from
            ``classify train``), ``inception:PATH``, or a :class:`pictorch.metrics.fid.FeatureNet`. The
            real-vs-real floor (test B against training B) is reported beside them.
        progress: ``progress(done, total)`` over the images the generators translate (:mod:`pictorch.viz.progress`).
    """
    from pictorch.tasks.translate.data import load_translation_data
    from pictorch.tasks.translate.reports import cycle_l1, paired_scores, translate_batches

    g = load_translator(ckpt)
    meta = g.pictorch_meta
    _set_mode(g, mode)
    torch.manual_seed(0)
    name = data or meta.get("data")
    is_cycle = meta.get("model") == "cyclegan"
    info = meta.get("data_info", {})
    size = int(info.get("size", 0)) if data is None else 0
    d = load_translation_data(name, data_b, paired=not is_cycle, size=size, data_dir=data_dir or meta.get("data_dir"))
    if meta.get("direction") == "BtoA":
        d = d.swapped()
    test_a = d.test_a if d.test_a is not None else d.train_a
    test_b = d.test_b if d.test_b is not None else d.train_b
    if n:
        test_a, test_b = test_a[:n], test_b[:n]
    if test_a.shape[1] != meta["in_chans"]:
        raise DataError(f"{name}: A images have {test_a.shape[1]} channels; the checkpoint takes {meta['in_chans']}")
    paired = d.paired and test_a.shape[0] == test_b.shape[0]
    if not (paired or is_cycle or feature_net is not None):
        raise DataError(f"{name}: unpaired domains give pix2pix no true B to score against; evaluate on paired data "
                        "or pass --feature-net for FID/KID")
    if paired and test_b.shape[1] != meta["out_chans"]:
        raise DataError(f"{name}: B images have {test_b.shape[1]} channels; the checkpoint writes {meta['out_chans']}")
    report: dict[str, Any] = {"checkpoint": str(ckpt), "model": meta.get("model"), "data": name, "mode": mode,
                              "split": "test" if d.test_a is not None else "all"}
    from pictorch.viz.progress import Tally

    na, nb = int(test_a.shape[0]), int(test_b.shape[0])
    tally = Tally(progress, na * (int(paired) + int(feature_net is not None)) + (2 * (na + nb) if is_cycle else 0))
    if paired:
        report.update(paired_scores(g, test_a, test_b, done=tally.add))
    if feature_net is not None:
        from pictorch.metrics.fid import load_feature_net
        from pictorch.tasks.translate.reports import distribution_scores

        fnet = load_feature_net(str(feature_net)) if isinstance(feature_net, str | Path) else feature_net
        ref = d.train_b if d.test_b is not None else None
        report.update(distribution_scores(fnet, translate_batches(g, test_a, done=tally.add), test_b, ref))
        report["feature_net"] = getattr(fnet, "name", str(feature_net))
    if is_cycle:
        rev = load_translator(ckpt, reverse=True)
        _set_mode(rev, mode)
        report["cycle_l1_a"] = cycle_l1(g, rev, test_a, done=tally.add)
        report["cycle_l1_b"] = cycle_l1(rev, g, test_b, done=tally.add)
    if out is not None:
        from pictorch.viz.grid import save_image_grid

        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        k = 8 if test_a.shape[0] >= 8 else test_a.shape[0]
        pred = translate_batches(g, test_a[:k])
        rows = [test_a[:k], pred] + ([test_b[:k]] if d.paired else [])
        c = max(r.shape[1] for r in rows)
        grid = torch.cat([r.expand(-1, c, -1, -1) for r in rows])
        pic = _free_name(o, "samples")
        save_image_grid(grid, pic, nrow=k)
        rep = _free_name(o, "report", ".json")
        from pictorch.utils import atomic_write

        with atomic_write(rep, "w") as f:
            json.dump(report, f, indent=2)
        report["files"] = [str(rep), str(pic)]
    return report
