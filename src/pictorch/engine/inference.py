"""What every loaded model shares: one input record, one road from pixels to model input, no NaN answers.

:func:`input_record` is the checkpoint's ``input`` record (size, mode, mean, std, range, resize policy), written
by :func:`pictorch.engine.checkpoint.save_checkpoint` into every checkpoint and derived from the older fields
for checkpoints written before it. :class:`Predictor` is the base of every task's loaded model: it loads a
checkpoint of its task, turns uint8 arrays and image files into model input with the one converter
(:mod:`pictorch.data.convert`), and passes outputs through :func:`ensure_finite`: a model whose weights were
damaged, or whose training diverged before its last checkpoint, can answer NaN for every input; printed as
"coffee nan, rocket nan" with exit 0 it looks like a result.
"""

from __future__ import annotations

from typing import Any

from pictorch.errors import CheckpointError


def ensure_finite(values: Any, what: str = "the model", source: Any = None) -> Any:
    """Return ``values`` (a tensor) unchanged when every element is finite; raise otherwise.

    Args:
        values: The model's outputs (scores, embeddings, images).
        what: What produced them, for the message.
        source: The checkpoint or file they came from, named in the message.

    Raises:
        CheckpointError: One line saying how many outputs were NaN/Inf and what to do.
    """
    import torch

    t = values if isinstance(values, torch.Tensor) else torch.as_tensor(values)
    if t.numel() == 0 or (t.is_floating_point() and bool(torch.isfinite(t).all())) or not t.is_floating_point():
        return values
    rows = t.reshape(t.shape[0], -1) if t.dim() > 1 else t.reshape(-1, 1)
    bad = int((~torch.isfinite(rows)).any(1).sum())
    where = f" ({source})" if source is not None else ""
    raise CheckpointError(f"{what}{where} answered NaN/Inf for {bad} of {rows.shape[0]} inputs: its weights are "
                          "damaged or its training diverged; restore the checkpoint or retrain")


# -- the input record and the Predictor base -------------------------------------------------------------------

INPUT_KEYS = ("size", "mode", "mean", "std", "range", "resize")


def _pair(size: Any) -> list[int] | None:
    if not size:
        return None
    if isinstance(size, int | float):
        return [int(size), int(size)]
    vals = [int(v) for v in size]
    return vals if len(vals) == 2 and all(vals) else None


def _range(value: Any, mean: list[float], std: list[float]) -> list[float]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return [float(value[0]), float(value[1])]
    return [round(-mean[0] / std[0], 6), round((1 - mean[0]) / std[0], 6)]  # where pixels 0 and 255 land


def input_record(meta: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's ``input`` record — size, mode, mean, std, range, resize — complete.

    ``meta["input"]`` wins key by key; what it lacks (all of it, for checkpoints written before the record
    existed) comes from the older fields: ``image_size``/``input_size``/``sample_shape`` for the size,
    ``mode``/``in_chans``/``channels`` for the mode, ``normalization`` for mean and std (applied as
    ``(x / 255 - mean) / std``). ``range`` says where pixel values 0 and 255 land in the model's input (channel
    0; e.g. [-1, 1] for a GAN or a translator); ``resize`` is how other sizes are
    reached (:data:`pictorch.data.convert.RESIZE_POLICIES`): ``fit`` (letterbox, what training on a folder
    does) when the model has a fixed size, ``none`` when it takes any size.
    """
    given = dict(meta.get("input") or {})
    norm = meta.get("normalization") or {}
    size = _pair(given["size"]) if "size" in given else _pair(
        meta.get("image_size") or meta.get("input_size") or (meta.get("sample_shape") or [None])[1:] or None)
    chans = meta.get("in_chans") or meta.get("channels")
    mode = given.get("mode") or meta.get("mode") or ("L" if chans == 1 else "RGB")
    c = 1 if mode == "L" else 3
    mean = [float(v) for v in (given.get("mean") or norm.get("mean") or [0.0] * c)]
    std = [float(v) for v in (given.get("std") or norm.get("std") or [1.0] * c)]
    import re

    from pictorch.data.convert import RESIZE_POLICIES

    resize = re.split(r"[\s:(]", str(given.get("resize") or ("fit" if size else "none")))[0]

    if resize not in RESIZE_POLICIES:
        resize = "fit" if size else "none"
    return {"size": size, "mode": mode, "mean": mean, "std": std, "range": _range(given.get("range"), mean, std),
            "resize": resize}


class Predictor:
    """What every loaded model shares: its checkpoint, one input record, one road from pixels to model input.

    A task's loaded model (classifier, autoencoder, embedder, segmenter, translator, stylizer...) derives from
    it, names its ``task`` and the ``module_names`` it deploys, and adds its own verbs. Images reach the model
    through :meth:`to_uint8` (any accepted array, :mod:`pictorch.data.convert`) or :meth:`read_files` (decoded
    in the record's mode at their own size, then the same converter), so a file and the same picture as an
    array give the same answer; :meth:`prepare` normalizes as the record says and :meth:`check` refuses NaN.

    Attributes:
        model: The network (eval mode, on ``device``).
        meta: The checkpoint metadata.
        path: The checkpoint file (None for a model built in memory).
        device: Where it runs.
        batch_size: Images per forward pass.
    """

    task: str | None = None
    module_names: tuple[str, ...] = ("model",)

    def __init__(self, model: Any, meta: dict[str, Any], path: Any = None, device: Any = "cpu",
                 batch_size: int = 256) -> None:
        import torch

        self.model = model
        self.meta = meta
        self.path = path
        self.device = torch.device(device)
        self.batch_size = batch_size

    @classmethod
    def load_parts(cls, path: Any, device: str | None = None) -> tuple[Any, dict[str, Any], Any, Any]:
        """``(model, meta, path, device)`` of a checkpoint of :attr:`task` (file or run folder).

        Raises:
            CheckpointError: Missing, corrupt, another task's, or holding none of :attr:`module_names`.
        """
        from pictorch.engine.checkpoint import load_task_model
        from pictorch.utils import resolve_device

        dev = resolve_device(device)
        model, p = load_task_model(path, cls.task or "", cls.module_names, dev)
        return model, dict(model.pictorch_meta), p, dev

    @classmethod
    def load(cls, path: Any, device: str | None = None, **kw: Any) -> Predictor:
        """Load a checkpoint of this task into this class."""
        model, meta, p, dev = cls.load_parts(path, device)
        return cls(model, meta, p, dev, **kw)

    @property
    def input(self) -> dict[str, Any]:
        """The input record (:func:`input_record`), derived for checkpoints older than the record."""
        return input_record(self.meta)

    @property
    def image_size(self) -> tuple[int, int] | None:
        size = self.input["size"]
        return tuple(size) if size else None  # type: ignore[return-value]

    @property
    def mode(self) -> str:
        return self.input["mode"]

    @property
    def mean(self) -> list[float]:
        return list(self.input["mean"])

    @property
    def std(self) -> list[float]:
        return list(self.input["std"])

    def to_uint8(self, images: Any, layout: str | None = None) -> Any:
        """Any accepted array -> uint8 N×C×H×W in the record's mode and size (by its resize policy);
        ``layout`` (``"NCHW"`` for decoded files) as :func:`pictorch.data.convert.as_uint8_batch`."""
        from pictorch.data.convert import to_input

        rec = self.input
        return to_input(images, rec["size"], rec["mode"], rec["resize"], layout)

    def prepare(self, images: Any, layout: str | None = None) -> Any:
        """Any accepted array -> the normalized float model input on :attr:`device`."""
        from pictorch.data.convert import normalize

        return normalize(self.to_uint8(images, layout).to(self.device), self.mean, self.std)

    def read_files(self, paths: Any, on_error: str = "skip",
                   progress: Any = None) -> tuple[Any, list[str], list[tuple[str, str]]]:
        """Decode image files in the record's mode at their own size, then :meth:`to_uint8` each
        (``progress(done, total)`` after each file).

        Returns:
            ``(uint8 N×C×H×W, ok_paths, bad)`` for a fixed-size model; a list of C×H×W tensors for a model of
            any size (resize ``none``).
        """
        import torch

        from pictorch.data.decode import load_images

        images, ok, bad = load_images(list(paths), mode=self.mode, size=None, on_error=on_error,  # type: ignore[arg-type]
                                      progress=progress)
        if self.image_size is None:
            return images, ok, bad
        return torch.cat([self.to_uint8(im.unsqueeze(0), "NCHW") for im in images]), ok, bad

    def check(self, outputs: Any, what: str | None = None) -> Any:
        """:func:`ensure_finite` on the model's outputs, naming the checkpoint."""
        return ensure_finite(outputs, what or f"the {self.task or 'model'}", self.path)
