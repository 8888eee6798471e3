"""Fast style transfer: train a TransformerNet for one style with the perceptual loss, apply it to any photo.

Training (Johnson et al. 2016): random crops of real photos go through the TransformerNet; the output's
VGG features at ``relu2_2`` must match the photo's (content) and its Gram matrices at ``relu1_2, relu2_2,
relu3_3, relu4_3`` the style image's. The loss network is the same frozen Caffe VGG-19 as Gatys'
(:mod:`pictorch.nn.features`, :mod:`pictorch.losses.perceptual`); the run is an ordinary Trainer run
(progress, checkpoints, ``--resume``). Applying is one forward pass at the photo's own size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pictorch.engine.config import check_fields
from pictorch.engine.inference import Predictor, ensure_finite
from pictorch.engine.trainer import StepContext, TrainTask
from pictorch.errors import ConfigError, DataError
from pictorch.registry import MODELS

MODELS.add_modules("pictorch.tasks.stylize.models")  # registers stylize.transformer_net
TASK = "stylize"


@dataclass
class FastStyleConfig:
    """Options of ``pictorch stylize train`` beside the shared TrainConfig.

    Attributes:
        style: Style image.
        content: Folder of content photos (searched recursively).
        crop: Side of the random training crops (256 in the paper).
        limit: Use at most this many photos (0: all).
        style_size: Longer side of the style image for its Gram targets.
        net: Loss network (``vgg19:caffe``).
        content_layers / style_layers: Comma-separated layers.
        content_weight / style_weight / tv_weight: Loss factors (perceptual-loss conventions).
        width / blocks: TransformerNet size (32 / 5: the reference's 1,679,235 parameters).
        identity_steps: First train this many steps to copy the photo (pixel MSE, no VGG), so the perceptual
            steps start from a net that already keeps the content (50 of 200 steps measured no better).
        skip: TransformerNet with the input added to its output, identity at the start (same parameters).
    """

    style: str = ""
    content: str = ""
    crop: int = 256
    limit: int = 0
    style_size: int = 256
    net: str = "vgg19:caffe"
    content_layers: str = "relu2_2"
    style_layers: str = "relu1_2,relu2_2,relu3_3,relu4_3"
    # Johnson et al.'s balance (pytorch/examples: 1e5 content, 1e10 style on ImageNet-normalised VGG-16 with
    # Grams / (C·H·W)) in these units: Caffe features are ~255·0.226 = 58× larger, so content MSE is ~3.3e3×
    # and Gram MSE ~1.1e7× larger, which makes it 30 : 1 style : content. (0.01 : 50, Gatys' balance, let the
    # style swamp the content from a random start: after 100 steps only coloured blobs were left.)
    # Measured since: in 200 CPU steps 30 and 3 give nearly the same run (and 10 vs 100 with the skip the same
    # to 3 digits): Adam follows the style gradient's sign at any of them, so this is not the knob that keeps
    # the content; the skip is.
    content_weight: float = 1.0
    style_weight: float = 30.0
    tv_weight: float = 0.0
    width: int = 32
    blocks: int = 5
    identity_steps: int = 0
    # on by default: in 200 CPU steps the reference net (skip off) still gives blobs without the photo's
    # outlines (edge r 0.29, 0/3 held-out photos keep their class) at any style weight from 30 to 3; with the
    # skip the photo stays (edge r 0.99, 3/3) but gains little style in those 200 steps (its Gram distance to
    # the style -13 %, Gatys' -96 %); at 800 steps -27 % with edge r 0.75 (bench/stylize_fast_train.py). The
    # factory's default stays False, so checkpoints saved before this option load as the reference net.
    skip: bool = True

    def __post_init__(self) -> None:
        check_fields(self, {"crop": ">= 32", "width": ">= 1", "blocks": ">= 0"}, notes={"crop": "VGG needs 32 px"})


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def build_perceptual(cfg: FastStyleConfig, model: torch.nn.Module | None = None):
    """The frozen loss network and :class:`~pictorch.losses.perceptual.PerceptualLoss` of ``cfg``."""
    from pictorch.losses.perceptual import PerceptualLoss
    from pictorch.nn.features import FeatureNet, load_frozen

    model = model if model is not None else load_frozen(cfg.net)
    content, style = _names(cfg.content_layers), _names(cfg.style_layers)
    call = "forward_features" if hasattr(model, "forward_features") else "forward"
    net = FeatureNet(model, [*content, *style], call=call)
    return PerceptualLoss(net, content, style, content_weight=cfg.content_weight, style_weight=cfg.style_weight,
                          tv_weight=cfg.tv_weight)


class FastStyleTask(TrainTask):
    """One step: crop → TransformerNet → perceptual loss against the crop (content) and the style Grams."""

    task_name = TASK

    def __init__(self, cfg: FastStyleConfig, lr: float, seed: int, loss: Any = None):
        from pictorch.tasks.see.api import load_photo

        self.cfg = cfg
        self.lr = lr
        self.loss = loss if loss is not None else build_perceptual(cfg)
        style = load_photo(cfg.style, channels=3, max_side=cfg.style_size, allow_gray=False, what="style image")
        self.loss.set_style([style])
        self.gen = torch.Generator().manual_seed(seed)

    def build(self) -> dict[str, torch.nn.Module]:
        from pictorch.registry import create_model

        return {"model": create_model("stylize.transformer_net", width=self.cfg.width, blocks=self.cfg.blocks,
                                      skip=self.cfg.skip)}

    def configure_optimizers(self, modules: dict[str, torch.nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {"opt": torch.optim.Adam(modules["model"].parameters(), lr=self.lr)}

    def on_fit_start(self, ctx: StepContext) -> None:
        self.loss.to(ctx.device)
        self.loss.style_grams = {k: v.to(ctx.device) for k, v in self.loss.style_grams.items()}

    def _crop(self, x: torch.Tensor) -> torch.Tensor:
        s = self.cfg.crop
        h, w = x.shape[-2:]
        y0 = int(torch.randint(0, h - s + 1, (1,), generator=self.gen)) if h > s else 0
        x0 = int(torch.randint(0, w - s + 1, (1,), generator=self.gen)) if w > s else 0
        x = x[..., y0:y0 + s, x0:x0 + s]
        return x.flip(-1) if bool(torch.rand(1, generator=self.gen) < 0.5) else x

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        model, opt = ctx.modules["model"], ctx.optimizers["opt"]
        x = self._crop(batch["image"].float() / 255.0)
        y = model(x)
        if ctx.step < self.cfg.identity_steps:
            zero = x.new_zeros(())
            rec = F.mse_loss(y, x)
            # the same names in the same order as the perceptual steps (the metrics file has one header)
            terms = {"content": zero, "style": zero, "tv": zero, "loss": rec, "identity": rec}
        else:
            terms = {**self.loss(y, content=self.loss.content_features(x)), "identity": x.new_zeros(())}
        opt.zero_grad(set_to_none=True)
        ctx.backward(terms["loss"])
        opt.step()
        return {k: v.detach() for k, v in terms.items()}

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"task": TASK, "style": Path(self.cfg.style).name, "net": self.cfg.net,
                "input": {"mode": "RGB", "range": [0.0, 1.0], "mean": [0.0] * 3, "std": [1.0] * 3,
                          "size": None, "resize": "none"}}

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.cfg)

    def on_picture(self, ctx: StepContext, path: Path) -> None:
        from pictorch.viz.grid import save_image_grid

        model = ctx.modules["model"]
        x = self._preview.to(ctx.device)
        with torch.no_grad():
            y = model(x).clamp(0, 1)
        save_image_grid(torch.cat([x, y]), path, nrow=len(x), value_range=(0.0, 1.0))

    _preview: torch.Tensor = torch.zeros(0)


def load_content(cfg: FastStyleConfig, seed: int = 0) -> torch.Tensor:
    """The content photos as uint8 N×3×S×S (S = 1.25 × crop, centre-cropped squares; crops come later)."""
    from pictorch.data.sources import load_flat_folder

    if not cfg.content or not Path(cfg.content).is_dir():
        raise DataError(f"--content {cfg.content!r}: not a folder of photos")
    side = int(round(cfg.crop * 1.25))
    ds = load_flat_folder(cfg.content, size=(side, side), mode="RGB", recursive=True, resize="center_crop")
    images = ds.images
    if len(images) == 0:
        raise DataError(f"{cfg.content}: no readable photos")
    if cfg.limit and len(images) > cfg.limit:
        g = torch.Generator().manual_seed(seed)
        images = images[torch.randperm(len(images), generator=g)[: cfg.limit]]
    return images


def train(cfg: FastStyleConfig, train_cfg: Any, loss: Any = None) -> dict[str, Any]:
    """Train a TransformerNet for ``cfg.style`` through the shared Trainer.

    Returns:
        The Trainer's result (``step``, ``metrics``, ``checkpoint``, ``run_dir``, ...).
    """
    from pictorch.data.loader import TensorLoader
    from pictorch.engine.trainer import Trainer

    images = load_content(cfg, train_cfg.seed)
    if len(images) < train_cfg.batch_size:
        raise DataError(f"only {len(images)} content photos but --batch-size {train_cfg.batch_size}; lower it")
    task = FastStyleTask(cfg, lr=train_cfg.lr, seed=train_cfg.seed, loss=loss)
    task._preview = F.interpolate(images[: min(4, len(images))].float() / 255.0, size=(cfg.crop, cfg.crop),
                                  mode="bilinear", antialias=True)
    loader = TensorLoader(images, None, batch_size=train_cfg.batch_size, shuffle=True, drop_last=True,
                          seed=train_cfg.seed)
    return Trainer(train_cfg).fit(task, loader)


class Stylizer(Predictor):
    """A trained TransformerNet with its input record (RGB, [0, 1], any size): :meth:`stylize` arrays."""

    task = TASK

    @torch.no_grad()
    def stylize(self, images: Any) -> torch.Tensor:
        """Any accepted array (uint8 or [0, 1] float; see :mod:`pictorch.data.convert`) -> float N×3×H×W in
        [0, 1], each image at its own size."""
        return self.check(self.model(self.prepare(images)).clamp(0, 1).cpu(), "the stylizer")


def load_stylizer(ckpt: str | Path) -> tuple[torch.nn.Module, Path]:
    """A trained TransformerNet (eval) and its checkpoint path; CheckpointError for other tasks' files."""
    st = Stylizer.load(ckpt, device="cpu")
    return st.model, st.path


class OnnxStylizer:
    """A TransformerNet run by onnxruntime (measured 3.1× the eager float32 net at 512² on 2 threads of an
    AMD EPYC, same output to 89 dB PSNR; ``bench/stylize_fast.py``). Pads to a multiple of 4 like the net."""

    def __init__(self, model: torch.nn.Module, threads: int | None = None):
        import tempfile

        import onnxruntime as ort

        with tempfile.TemporaryDirectory() as d:
            path = _export(model, Path(d) / "net.onnx")
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads or torch.get_num_threads()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = max(8, h + (-h) % 4) - h, max(8, w + (-w) % 4) - w
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        y = self.session.run(None, {"image": x.contiguous().numpy()})[0]
        return torch.from_numpy(y)[..., :h, :w]


def _runtime(model: torch.nn.Module, runtime: str):
    if runtime not in ("auto", "torch", "onnx"):
        raise ConfigError(f"--runtime must be auto, torch or onnx, got {runtime!r}")
    if runtime == "torch":
        return model
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        if runtime == "onnx":
            raise ConfigError("--runtime onnx needs onnx and onnxruntime: pip install onnx onnxruntime") from None
        return model
    return OnnxStylizer(model)


@torch.no_grad()
def apply(ckpt: str | Path, images: list[str | Path], out: str | Path, *, max_side: int | None = None,
          max_pixels: int = 4096 * 4096, runtime: str = "auto", progress: Any = None) -> list[Path]:
    """Stylise photos with a trained TransformerNet at their own size (or ``max_side``); returns the paths.

    ``runtime``: ``auto`` (onnxruntime when installed: ~3× faster on CPU), ``torch`` or ``onnx``.
    """
    from pictorch.tasks.see.api import load_photo, save_picture

    model, path = load_stylizer(ckpt)
    style = Path(str((getattr(model, "pictorch_meta", {}) or {}).get("style", "style"))).stem
    run = _runtime(model, runtime) if images else model
    written = []
    from pictorch.viz.progress import track

    for p in track(images, progress):
        x = load_photo(p, channels=3, max_side=max_side, max_pixels=max_pixels, what="photo")
        y = ensure_finite(run(x).clamp(0, 1), "the stylizer", path)
        written.append(save_picture(y, Path(out) / f"{Path(p).stem}_{style}.png"))
    return written


def _export(model: torch.nn.Module, dst: Path, opset: int = 17) -> Path:
    import warnings

    example = torch.rand(1, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.float().eval(), (example,), str(dst), input_names=["image"],
                          output_names=["stylized"],
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        "stylized": {0: "batch", 2: "height", 3: "width"}},
                          opset_version=opset, dynamo=False)
    return dst


def export_onnx(ckpt: str | Path, out: str | Path | None = None, opset: int = 17) -> Path:
    """The TransformerNet as ONNX (input ``image`` float N×3×H×W in [0, 1], H and W multiples of 4, at least 8;
    output ``stylized``)."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install onnx onnxruntime") from None
    from pictorch.tasks.see.api import fresh_path
    from pictorch.utils import check_onnx_opset

    check_onnx_opset(opset)
    model, path = load_stylizer(ckpt)
    dst = fresh_path(Path(out) if out else path.with_suffix(".onnx"))
    dst.parent.mkdir(parents=True, exist_ok=True)
    return _export(model, dst, opset)
