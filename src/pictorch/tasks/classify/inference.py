"""A trained classifier loaded from its checkpoint, and the file verbs on it: predict, export."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pictorch.engine.inference import Predictor
from pictorch.errors import ConfigError
from pictorch.tasks.classify.steps import TASK
from pictorch.viz.progress import Progress

TTA_MODES = ("none", "hflip")

# -- a trained classifier ------------------------------------------------------------------------------------


class TrainedClassifier(Predictor):
    """A trained classifier with its checkpoint metadata; takes uint8 images of any size/mode.

    A :class:`~pictorch.engine.inference.Predictor`: the checkpoint's input record says the size, mode,
    normalization and resize policy, so arrays and files reach the network the same way.

    Attributes:
        model: The network (eval mode).
        meta: Checkpoint metadata (classes, normalization, image_size, mode, arch, regime, metrics).
        path: Checkpoint path.
        tta: Test-time augmentation: "none" or "hflip" (average the logits of each image and its mirror
            image; sound when the training augmentation flipped images).
    """

    task = TASK  # with --ema, load_model gives the average

    def __init__(self, model: Any, meta: dict[str, Any], path: Path | None = None,
                 device: torch.device | str = "cpu", batch_size: int = 256, tta: str = "none") -> None:
        if tta not in TTA_MODES:
            raise ConfigError(f"unknown --tta {tta!r}; known: {', '.join(TTA_MODES)}")
        super().__init__(model, meta, path, device, batch_size)
        self.tta = tta

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None, tta: str = "none") -> TrainedClassifier:
        """Load a classify checkpoint (file or run folder).

        Raises:
            CheckpointError: Missing, corrupt, or a checkpoint of another task.
        """
        model, meta, p, dev = cls.load_parts(path, device)
        return cls(model, meta, p, dev, tta=tta)

    def with_tta(self, tta: str) -> TrainedClassifier:
        """The same model with another test-time augmentation."""
        return TrainedClassifier(self.model, self.meta, self.path, self.device, self.batch_size, tta)

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.input["size"])  # type: ignore[return-value]

    @torch.no_grad()
    def logits(self, images: torch.Tensor, progress: Progress | None = None) -> torch.Tensor:
        """Raw scores N×K (float32, CPU); with ``tta="hflip"`` the mean over each image and its mirror;
        ``progress(done, total)`` after each batch."""
        def scores(x: torch.Tensor) -> torch.Tensor:
            out = self.model(x).float()
            if self.tta == "hflip":
                out = (out + self.model(x.flip(-1)).float()) / 2
            return out.cpu()

        images = self.to_uint8(images)
        n = len(images)
        out = []
        for i in range(0, n, self.batch_size):
            out.append(scores(self.prepare(images[i:i + self.batch_size])))
            if progress is not None:
                progress(min(i + self.batch_size, n), n)
        return self.check(torch.cat(out) if out else torch.zeros(0, len(self.classes)), "the classifier")

    def predict_proba(self, images: torch.Tensor, progress: Progress | None = None) -> torch.Tensor:
        """Class probabilities N×K."""
        return self.logits(images, progress).softmax(1)

    def evaluate_set(self, ds: Any, progress: Progress | None = None) -> dict[str, Any]:
        """Classification report (see :func:`pictorch.metrics.classification.classification_report`) on a
        labelled ImageSet whose classes are this model's (same order)."""
        from pictorch.metrics.classification import classification_report

        probs = self.predict_proba(ds.images, progress)
        rep = classification_report(ds.labels, probs, classes=self.classes)
        rep["_probs"] = probs
        return rep


def load(path: str | os.PathLike, device: str | None = None, tta: str = "none") -> TrainedClassifier:
    """Load a trained classifier (checkpoint file or run folder); see :class:`TrainedClassifier`."""
    return TrainedClassifier.load(path, device=device, tta=tta)


def _clf(ckpt: str | os.PathLike | TrainedClassifier, device: str | None = None,
         tta: str = "none") -> TrainedClassifier:
    if isinstance(ckpt, TrainedClassifier):
        return ckpt.with_tta(tta) if tta != "none" else ckpt
    return TrainedClassifier.load(ckpt, device=device, tta=tta)


# -- predict ------------------------------------------------------------------------------------------------


def collect_files(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files from files and folders (folders searched recursively, hidden entries skipped)."""
    from pictorch.data.files import expand_inputs

    return expand_inputs(inputs, what="image files")


def predict(ckpt: str | os.PathLike | TrainedClassifier, inputs: Sequence[str | os.PathLike], top_k: int = 3,
            device: str | None = None, tta: str = "none", progress: Progress | None = None) -> list[dict[str, Any]]:
    """Top-k labels with probabilities for each image file (folders are searched); ``progress(done, total)``
    over decoding and classifying (:mod:`pictorch.viz.progress`).

    Returns:
        ``[{"path", "top": [{"label", "prob"}]}]``; unreadable files are skipped with a warning.
    """
    if top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {top_k}")
    clf = _clf(ckpt, device, tta)
    from pictorch.viz.progress import Tally

    files = collect_files(inputs)
    tally = Tally(progress, 2 * len(files))
    images, ok, _bad = clf.read_files(files, progress=tally.part(0))  # the array road's converter
    probs = clf.predict_proba(images, tally.part(len(files)))
    k = min(top_k, probs.shape[1])
    p, idx = probs.topk(k, dim=1)
    return [{"path": path, "top": [{"label": clf.classes[int(j)], "prob": float(q)}
                                   for q, j in zip(p[i], idx[i], strict=True)]}
            for i, path in enumerate(ok)]


# -- export -------------------------------------------------------------------------------------------------


class _Exported(torch.nn.Module):
    """The network with its input normalization: float N×C×H×W in [0, 1] -> logits."""

    def __init__(self, model: torch.nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def export(ckpt: str | os.PathLike | TrainedClassifier, fmt: str = "onnx", out: str | os.PathLike | None = None,
           opset: int = 17) -> dict[str, Any]:
    """Export for deployment: ONNX (onnxruntime) or TorchScript.

    The exported graph takes float32 N×C×H×W images scaled to [0, 1] at the model's size and returns logits;
    normalization is inside. A JSON sidecar (``<out>.json``) holds classes, input size and mode.

    Returns:
        ``{"path", "sidecar", "input_shape", "format"}``.
    """
    from pictorch.utils import atomic_write

    if fmt not in ("onnx", "torchscript"):
        raise ConfigError(f"unknown --format {fmt!r}; use onnx or torchscript")
    if fmt == "onnx":
        from pictorch.utils import check_onnx_opset

        check_onnx_opset(opset)
    clf = _clf(ckpt, "cpu")
    c = len(clf.mean)
    h, w = clf.image_size
    wrapped = _Exported(clf.model.float().eval(), clf.mean, clf.std).eval()
    example = torch.rand(2, c, h, w)
    path = Path(out) if out else Path(str(clf.path)).with_suffix(".onnx" if fmt == "onnx" else ".pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise ConfigError("ONNX export needs the onnx package: pip install onnx onnxruntime") from None
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapped, (example,), str(path), input_names=["image"], output_names=["logits"],
                              dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
                              dynamo=False)
    else:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(wrapped, example)
            traced.save(str(path))
    sidecar = path.with_name(path.name + ".json")
    info = {"format": fmt, "classes": clf.classes, "input": "float32 N×C×H×W in [0, 1]",
            "input_shape": [None, c, h, w], "mode": clf.mode, "output": "logits (softmax for probabilities)",
            "normalization": clf.meta["normalization"], "arch": clf.meta.get("arch")}
    with atomic_write(sidecar, "w") as f:
        json.dump(info, f, indent=2)
    return {"path": path, "sidecar": sidecar, "input_shape": [c, h, w], "format": fmt}


