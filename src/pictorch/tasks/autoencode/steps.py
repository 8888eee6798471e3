"""The autoencoder's training task: config, one optimization step, validation and progress pictures."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pictorch.engine.config import MAX_IMAGE_SIDE
from pictorch.engine.trainer import StepContext, TrainTask
from pictorch.errors import ConfigError

TASK = "autoencode"


@dataclass
class AutoencodeConfig:
    """Options of ``pictorch autoencode train`` beside the shared :class:`~pictorch.engine.config.TrainConfig`.

    Attributes:
        data: "fashion-mnist", "synthetic" (shapes, for smoke tests) or an image folder.
        data_dir: Folder with the Fashion-MNIST IDX files.
        image_size: Side to resize folder images to (default: 28 for Fashion-MNIST, 32 for folders).
        mode: "L" (grayscale) or "RGB"; default L for Fashion-MNIST and synthetic, RGB for folders.
        limit: Use at most this many training images (0: all).
        model: linear, mlp, conv, vae or conv-vae.
        code_size: Length of the code.
        upsample: Decoder upsampling of conv models: nearest, max (saved indices) or transposed.
        widths: Encoder stage widths of conv models, e.g. "32,64".
        hidden: Hidden layer widths of MLP models, e.g. "512,256".
        noise: Denoising corruption: gaussian:SIGMA, mask:FRACTION, salt-pepper:FRACTION (join with +).
        sparse: Code sparsity: l1:WEIGHT or kl:RHO:WEIGHT.
        loss: Weighted terms, e.g. "mse:1,ssim:0.2,perceptual:0.1" (default mse, or bce for VAEs).
        perceptual_net: The frozen net of the ``perceptual`` term, in the grammar of ``nn/features.py``:
            ``CKPT | name[:imagenet|:random|:caffe] | inception:PATH`` (default: ``vgg19:caffe`` for RGB).
        kl_weight: Weight of the VAE's KL term (KL is divided by the pixel count, matching mean-per-pixel
            reconstruction terms; with bce:1 this is the standard ELBO per pixel).
        val_images: Held-out images scored at each validation (PSNR/SSIM).
    """

    data: str = "fashion-mnist"
    data_dir: str | None = None
    image_size: int | None = None
    mode: str | None = None
    limit: int = 0
    model: str = "conv"
    code_size: int = 32
    upsample: str = "nearest"
    widths: str = "32,64"
    hidden: str = "512,256"
    noise: str | None = None
    sparse: str | None = None
    loss: str | None = None
    perceptual_net: str | None = None
    kl_weight: float = 1.0
    val_images: int = 512

    def __post_init__(self) -> None:
        from pictorch.engine.config import check_fields
        from pictorch.tasks.autoencode.models import MODEL_NAMES, UPSAMPLE_MODES

        # --model takes the short names (conv, conv-vae) and the registry names (ae.conv) alike
        check_fields(self, {"image_size": (4, MAX_IMAGE_SIDE), "limit": (0, None), "code_size": (1, 1 << 16),
                            "kl_weight": (0, None), "val_images": (0, None)},
                     choices={"model": (*MODEL_NAMES, *MODEL_NAMES.values()), "upsample": UPSAMPLE_MODES})
        for name in ("widths", "hidden"):
            parse_ints(getattr(self, name), name)

    @property
    def registry_name(self) -> str:
        from pictorch.tasks.autoencode.models import MODEL_NAMES

        return MODEL_NAMES.get(self.model, self.model)

    @property
    def is_conv(self) -> bool:
        return self.registry_name in ("ae.conv", "ae.conv_vae")

    @property
    def is_variational(self) -> bool:
        return self.registry_name in ("ae.vae", "ae.conv_vae")

    def loss_spec(self) -> str:
        """The loss spec with its model-dependent default."""
        if self.loss:
            return self.loss
        return "bce:1" if self.is_variational else "mse:1"


def parse_ints(text: str | list[int] | tuple[int, ...], what: str) -> list[int]:
    """"32,64" -> [32, 64] with a clear error."""
    if isinstance(text, list | tuple):
        return [int(t) for t in text]
    s = str(text).strip()
    if not s:
        return []
    try:
        vals = [int(t) for t in s.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"--{what} must be comma-separated integers like 32,64; got {text!r}") from None
    if any(v < 1 for v in vals):
        raise ConfigError(f"--{what} values must be >= 1; got {text!r}")
    return vals


def model_kwargs(cfg: AutoencodeConfig, in_chans: int, image_size: tuple[int, int]) -> dict[str, Any]:
    """Constructor kwargs (JSON-serializable, stored in the checkpoint) for the configured model."""
    from pictorch.tasks.autoencode.losses import parse_sparsity

    sparse = parse_sparsity(cfg.sparse)
    kw: dict[str, Any] = {"in_chans": in_chans, "image_size": list(image_size), "code_size": cfg.code_size}
    if sparse is not None:
        kw["allow_overcomplete"] = True
        if sparse.kind == "kl":
            if cfg.is_variational:
                raise ConfigError("KL sparsity needs a sigmoid code; it does not combine with a VAE")
            kw["code_act"] = "sigmoid"
    name = cfg.registry_name
    if cfg.is_conv:
        kw["widths"] = parse_ints(cfg.widths, "widths")
        kw["upsample"] = cfg.upsample
    elif name in ("ae.mlp", "ae.vae"):
        kw["hidden"] = parse_ints(cfg.hidden, "hidden")
    return kw


class AutoencodeTask(TrainTask):
    """Trains one autoencoder on uint8 images (``batch["image"]``) scaled to [0, 1].

    Args:
        cfg: Autoencoder options.
        in_chans: Image channels.
        image_size: (H, W) of the training images.
        val_images: uint8 N×C×H×W held-out images for validation and pictures (may be None).
        classes: Class names of the data (kept in the checkpoint for search labels).
        data_info: Where the data came from (saved in the checkpoint meta).
        lr: Learning rate; weight_decay: AdamW weight decay.
    """

    task_name = TASK

    def __init__(self, cfg: AutoencodeConfig, in_chans: int, image_size: tuple[int, int],
                 val_images: torch.Tensor | None = None, classes: list[str] | None = None,
                 data_info: dict[str, Any] | None = None, lr: float = 1e-3, weight_decay: float = 0.0):
        from pictorch.tasks.autoencode.corruption import parse_corruption
        from pictorch.tasks.autoencode.losses import (
            ReconstructionLoss,
            build_perceptual_net,
            parse_loss_spec,
            parse_sparsity,
        )

        self.cfg = cfg
        self.in_chans = int(in_chans)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.val_images = val_images
        self.classes = list(classes or [])
        self.data_info = dict(data_info or {})
        self.lr, self.weight_decay = lr, weight_decay
        self.corruptions = parse_corruption(cfg.noise)
        self.sparsity = parse_sparsity(cfg.sparse)
        weights = parse_loss_spec(cfg.loss_spec())
        if "bce" in weights and cfg.registry_name == "ae.linear":
            raise ConfigError("the bce loss needs outputs in [0, 1]; the linear autoencoder has none (use mse)")
        # no --perceptual-net: the offline default (the bundled Caffe VGG-19 for RGB) or one line naming the flag
        perceptual = build_perceptual_net(cfg.perceptual_net, self.in_chans) if "perceptual" in weights else None
        self.loss = ReconstructionLoss(weights, perceptual)
        self.model_kwargs = model_kwargs(cfg, self.in_chans, self.image_size)
        self._numel = self.in_chans * self.image_size[0] * self.image_size[1]

    # -- TrainTask --------------------------------------------------------------------------------------
    def build(self) -> dict[str, torch.nn.Module]:
        from pictorch.tasks.autoencode.models import create_autoencoder

        return {"model": create_autoencoder(self.cfg.registry_name, **self.model_kwargs)}

    def configure_optimizers(self, modules: dict[str, torch.nn.Module]) -> dict[str, torch.optim.Optimizer]:
        from pictorch.engine.optim import adamw

        return {"opt": adamw(modules["model"].parameters(), lr=self.lr, weight_decay=self.weight_decay)}

    def configure_schedulers(self, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        # short warm-up then cosine decay: the late low-LR phase buys the last dB of PSNR
        warm = max(1, min(100, total_steps // 20))

        def factor(step: int) -> float:
            import math

            if step < warm:
                return (step + 1) / warm
            t = (step - warm) / max(1, total_steps - warm)
            return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

        return {"opt": torch.optim.lr_scheduler.LambdaLR(optimizers["opt"], factor)}

    def on_fit_start(self, ctx: StepContext) -> None:
        if self.loss.perceptual is not None:
            self.loss.perceptual.to(ctx.device)

    def compute_losses(self, model: torch.nn.Module, clean: torch.Tensor) -> dict[str, torch.Tensor]:
        """All loss terms for a clean float batch in [0, 1]; ``"loss"`` is their total."""
        from pictorch.tasks.autoencode.corruption import apply_corruptions
        from pictorch.tasks.autoencode.losses import kl_divergence

        x_in = apply_corruptions(clean, self.corruptions) if self.corruptions else clean
        out = model(x_in)
        terms = self.loss(out["recon"], clean)
        if out["logvar"] is not None:
            kl = kl_divergence(out["mu"], out["logvar"]).mean()
            terms["kl_term"] = self.cfg.kl_weight * kl / self._numel
        if self.sparsity is not None:
            terms["sparsity"] = self.sparsity(out["code"])
        total = sum(terms.values())
        result = {"loss": total, **terms}
        if out["logvar"] is not None:
            result["kl"] = kl
        result["_recon"] = out["recon"]
        return result

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from pictorch.metrics.image_quality import psnr

        model = ctx.modules["model"]
        opt = ctx.optimizers["opt"]
        clean = batch["image"].float() / 255.0
        res = self.compute_losses(model, clean)
        recon = res.pop("_recon")
        opt.zero_grad(set_to_none=True)
        ctx.backward(res["loss"])
        opt.step()
        out = {k: v.detach() for k, v in res.items()}
        out["psnr"] = psnr(recon.detach(), clean)
        return out

    def validate(self, ctx: StepContext) -> dict[str, float]:
        if self.val_images is None or len(self.val_images) == 0:
            return {}
        from pictorch.metrics.image_quality import psnr, ssim
        from pictorch.tasks.autoencode.corruption import apply_corruptions

        model = ctx.modules["model"]
        gen = torch.Generator(device="cpu").manual_seed(1234)
        ps, ss, noisy = [], [], []
        for i in range(0, len(self.val_images), 256):
            clean = self.val_images[i:i + 256].to(ctx.device).float() / 255.0
            x_in = clean
            if self.corruptions:
                x_in = apply_corruptions(clean.cpu(), self.corruptions, gen).to(ctx.device)
                noisy.append(psnr(x_in, clean, reduction="none"))
            recon = model(x_in)["recon"].float().clamp(0, 1)
            ps.append(psnr(recon, clean, reduction="none"))
            if min(self.image_size) >= 7:
                ss.append(ssim(recon, clean, reduction="none"))
        out = {"val_psnr": float(torch.cat(ps).mean())}
        if ss:
            out["val_ssim"] = float(torch.cat(ss).mean())
        if noisy:
            out["val_noisy_psnr"] = float(torch.cat(noisy).mean())
        return out

    def on_picture(self, ctx: StepContext, path: Path) -> None:
        if self.val_images is None or len(self.val_images) == 0:
            return
        from pictorch.tasks.autoencode.corruption import apply_corruptions
        from pictorch.viz.grid import save_image_grid

        n = min(8, len(self.val_images))
        clean = self.val_images[:n].to(ctx.device).float() / 255.0
        rows = [clean]
        x_in = clean
        if self.corruptions:
            gen = torch.Generator(device="cpu").manual_seed(0)
            x_in = apply_corruptions(clean.cpu(), self.corruptions, gen).to(ctx.device)
            rows.append(x_in)
        rows.append(ctx.modules["model"](x_in)["recon"].float().clamp(0, 1))
        save_image_grid(torch.cat(rows).cpu(), path, nrow=n, value_range=(0.0, 1.0))

    def checkpoint_meta(self) -> dict[str, Any]:
        return {
            "task": TASK,
            "image_size": list(self.image_size),
            "in_chans": self.in_chans,
            "mode": "L" if self.in_chans == 1 else "RGB",
            "normalization": {"mean": [0.0] * self.in_chans, "std": [1.0] * self.in_chans, "scale": "x/255"},
            "model_name": self.cfg.registry_name,
            "model_kwargs": self.model_kwargs,
            "code_size": self.cfg.code_size,
            "variational": self.cfg.is_variational,
            "noise": self.cfg.noise,
            "sparse": self.cfg.sparse,
            "loss": self.cfg.loss_spec(),
            "classes": self.classes,
            "data": self.data_info,
        }

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.cfg)

    def divergence_hint(self) -> str:
        return "try a lower --lr, --precision 32-true, or a smaller --kl-weight / --sparse weight"
