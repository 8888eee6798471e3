"""The GAN training step: k discriminator steps, then one generator step with D frozen.

One trainer step consumes ``d_steps × batch_size`` real samples: the loader batch is split into ``d_steps``
chunks, each used for one D update, then G is updated once (on the last D step's latent batch, whose
generator graph is kept, so G runs forward once per D step and not once more). Everything stays on the
device; the returned scalars are detached tensors the trainer syncs once per log interval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pictorch.engine.trainer import StepContext, TrainTask
from pictorch.losses.adversarial import frozen, gradient_penalty, instance_noise
from pictorch.registry import MODELS, create_model
from pictorch.tasks.generate.data import to_signed
from pictorch.tasks.generate.losses import make_gan_loss
from pictorch.tasks.generate.monitor import GANMonitor, plot_training_curves
from pictorch.tasks.generate.tricks import GANConfig, d_targets, mean_pairwise_distance, noise_std, sample_z

MODELS.add_modules("pictorch.tasks.generate.models")  # registers gan.mlp_g, gan.dcgan_d, ...


def build_gan(cfg: GANConfig, shape: tuple[int, ...], num_classes: int = 0,
              out_act: str = "tanh") -> dict[str, torch.nn.Module]:
    """Create G and D (registered models) for a config and a data shape ((C, H, W) or (D,))."""
    k = num_classes if cfg.conditional else 0
    sn = cfg.spectral_norm
    # new options only appear in the rebuild spec when used, so older checkpoints keep loading
    extra_d = {"aux_classifier": True} if k and cfg.aux_weight > 0 else {}
    if cfg.conv:
        c, size = shape[0], shape[-1]
        norm = "layer" if cfg.g_loss == "wgan-gp" else ("none" if sn else "batch")
        extra_g = {"cond_bn": True} if k and cfg.cond_bn else {}
        g = create_model("gan.dcgan_g", z_dim=cfg.z_dim, image_size=size, channels=c, ngf=cfg.ngf, num_classes=k,
                         fully_connected=cfg.fully_connected, **extra_g)
        d = create_model("gan.dcgan_d", image_size=size, channels=c, ndf=cfg.ndf, num_classes=k, norm=norm,
                         spectral_norm=sn, fully_connected=cfg.fully_connected, **extra_d)
    else:
        h = cfg.hidden
        g = create_model("gan.mlp_g", z_dim=cfg.z_dim, out_shape=list(shape), hidden=[h // 2, h], num_classes=k,
                         batchnorm=False, out_act=out_act)
        d = create_model("gan.mlp_d", in_shape=list(shape), hidden=[h, h // 2], num_classes=k, spectral_norm=sn,
                         **extra_d)
    return {"G": g, "D": d}


class GANTask(TrainTask):
    """Adversarial training of ``{"G", "D"}`` with the lectures' tricks as switches.

    Args:
        cfg: The GAN config (model, losses, tricks).
        shape: Shape of one sample: (C, H, W) images (uint8 in the batches) or (D,) float vectors.
        num_classes: Number of classes (conditional models).
        total_steps: Training length (instance-noise annealing).
        out_act: Generator output activation ("tanh" for images, "none" for unbounded toy data).
        extra_meta: Extra checkpoint metadata (data source...).
        lr: Learning rate of G and D unless the config sets ``lr_g``/``lr_d``.
    """

    task_name = "generate"
    log_name = "gan"  # the command is `pictorch gan`; checkpoints keep task "generate"

    def __init__(self, cfg: GANConfig, shape: tuple[int, ...], num_classes: int = 0, total_steps: int = 1000,
                 out_act: str = "tanh", extra_meta: dict[str, Any] | None = None, lr: float = 2e-4):
        self.cfg = cfg
        self.lr = lr
        self.shape = tuple(shape)
        self.num_classes = num_classes
        self.total_steps = total_steps
        self.out_act = out_act
        self.loss = make_gan_loss(cfg.g_loss, cfg.gp_weight)  # looked up in LOSSES (gan.<kind>)
        self.extra_meta = dict(extra_meta or {})
        self.monitor = GANMonitor(probabilistic=self.loss.probabilistic, diversity_floor=cfg.diversity_floor,
                                  patience=cfg.d_win_patience, warmup=cfg.monitor_warmup)
        self.fixed_z: torch.Tensor | None = None
        self.fixed_y: torch.Tensor | None = None
        self.precision = "32-true"

    # -- setup ----------------------------------------------------------------------------------------
    def build(self) -> dict[str, torch.nn.Module]:
        mods = build_gan(self.cfg, self.shape, self.num_classes, self.out_act)
        if self.cfg.conv and self.cfg.channels_last:
            mods = {k: m.to(memory_format=torch.channels_last) for k, m in mods.items()}
        return mods

    def configure_optimizers(self, modules: dict[str, torch.nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {"G": _adam(modules["G"], self.cfg.lr_g or self.lr, self.cfg.beta1),
                "D": _adam(modules["D"], self.cfg.lr_d or self.lr, self.cfg.beta1)}

    def on_fit_start(self, ctx: StepContext) -> None:
        gen = torch.Generator().manual_seed(1234)
        n = 64 if not self.cfg.conditional else 8 * min(self.num_classes, 10)
        self.fixed_z = sample_z(n, self.cfg.z_dim, self.cfg.z_dist, gen).to(ctx.device)
        if self.cfg.conditional:
            k = min(self.num_classes, 10)
            self.fixed_y = torch.arange(k).repeat_interleave(8).to(ctx.device)
        from pictorch.utils import auto_precision

        p = ctx.cfg.precision
        self.precision = auto_precision(ctx.cfg.accelerator) if p == "auto" else p

    # -- the step -------------------------------------------------------------------------------------
    def _labels(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return batch.get("label") if self.cfg.conditional else None

    def _d(self, d: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return d(x, y) if y is not None else d(x)

    @property
    def _aux(self) -> bool:
        return self.cfg.conditional and self.cfg.aux_weight > 0 and self.num_classes > 0

    def _d_aux(self, d: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logit and, with the auxiliary classifier on, its class logits."""
        if self._aux and y is not None:
            return d(x, y, return_aux=True)
        return self._d(d, x, y), None

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        g, d = ctx.modules["G"], ctx.modules["D"]
        opt_g, opt_d = ctx.optimizers["G"], ctx.optimizers["D"]
        x_all = to_signed(batch["image"])
        if cfg.conv and cfg.channels_last:
            x_all = x_all.contiguous(memory_format=torch.channels_last)
        y_all = self._labels(batch)
        k = cfg.d_steps
        xs = x_all.chunk(k)
        ys = y_all.chunk(k) if y_all is not None else [None] * len(xs)
        sigma = noise_std(cfg.instance_noise, ctx.step, self.total_steps, cfg.noise_anneal)
        terms: dict[str, torch.Tensor] = {}
        xf = x_all
        xg = None
        for i, (xr, yr) in enumerate(zip(xs, ys, strict=True)):
            n = xr.shape[0]
            z = sample_z(n, cfg.z_dim, cfg.z_dist, device=xr.device)
            if i == k - 1:
                # the last D step's fakes are kept with their graph and reused for the G step (one G forward
                # less per step, as in the DCGAN reference implementation)
                xg = g(z, yr) if yr is not None else g(z)
                xf = xg.detach()
            else:
                with torch.no_grad():
                    xf = g(z, yr) if yr is not None else g(z)
            xr_in, xf_in = instance_noise(xr, sigma), instance_noise(xf.float(), sigma)
            if cfg.separate_batches:
                out_r, aux_r = self._d_aux(d, xr_in, yr)
                out_f = self._d(d, xf_in, yr)
            else:
                both, aux_both = self._d_aux(d, torch.cat([xr_in, xf_in]), None if yr is None else torch.cat([yr, yr]))
                out_r, out_f = both[:n], both[n:]
                aux_r = None if aux_both is None else aux_both[:n]
            if self.loss.probabilistic:
                rt, ft = d_targets(n, xr.device, cfg.label_smoothing, cfg.label_flip)
                t = self.loss.d_loss(out_r, out_f, rt, ft)
            else:
                t = self.loss.d_loss(out_r, out_f)
            loss_d = t["d_loss"]
            if aux_r is not None:
                # AC-GAN's class head, trained on real images only (rewarding it on fakes would also teach it
                # to recognise bad samples)
                t["aux_real"] = _class_loss(aux_r, yr, self.num_classes)
                loss_d = loss_d + cfg.aux_weight * t["aux_real"]
            if cfg.g_loss == "wgan-gp":
                gp = gradient_penalty(lambda x, yr=yr: self._d(d, x, yr), xr_in, xf_in, weight=cfg.gp_weight)
                loss_d = loss_d + gp
                t["gp"] = gp
            opt_d.zero_grad(set_to_none=True)
            ctx.backward(loss_d)
            opt_d.step()
            for key, v in t.items():
                v = v.detach().float()
                terms[key] = terms[key] + v / k if key in terms else v / k

        # generator step: D frozen so its weights collect no gradient (the shared kit's context restores each
        # parameter's own flag, also when the step raises)
        yg = ys[-1]
        with frozen(d):
            out_g, aux_g = self._d_aux(d, instance_noise(xg.float(), sigma), yg)
            loss_g = self.loss.g_loss(out_g)
            if aux_g is not None:
                aux_fake = _class_loss(aux_g, yg, self.num_classes)
                terms["aux_fake"] = aux_fake.detach()
                loss_g = loss_g + cfg.aux_weight * aux_fake
            opt_g.zero_grad(set_to_none=True)
            ctx.backward(loss_g)
        opt_g.step()

        real_div = mean_pairwise_distance(xs[-1], 32)
        fake_div = mean_pairwise_distance(xg.detach(), 32)
        terms["g_loss"] = loss_g.detach().float()
        terms["diversity"] = fake_div / real_div.clamp_min(1e-6)
        return terms

    # -- monitoring -----------------------------------------------------------------------------------
    def check_health(self, ctx: StepContext, metrics: dict[str, float]) -> None:
        if self.monitor.update(ctx.step, metrics) and ctx.fabric.is_global_zero:
            self.monitor.save(ctx.run_dir / "monitor.json")

    def divergence_hint(self) -> str:
        cfg = self.cfg
        tips = []
        if "16" in self.precision:
            tips.append("--precision 32-true")
        if cfg.g_loss == "saturating":
            tips.append("--g-loss non-saturating")
        if not cfg.spectral_norm:
            tips.append("--spectral-norm")
        if cfg.label_smoothing >= 1.0:
            tips.append("--label-smoothing 0.9")
        if cfg.instance_noise == 0:
            tips.append("--instance-noise 0.1")
        if cfg.g_loss != "wgan-gp":
            tips.append("--g-loss wgan-gp")
        tips.append(f"a lower --lr (now G {cfg.lr_g or self.lr:g}, D {cfg.lr_d or self.lr:g})")
        return "The GAN diverged; try " + ", ".join(tips) + " and resume with --resume from the kept checkpoint."

    def on_picture(self, ctx: StepContext, path: Path) -> None:
        from pictorch.viz.grid import save_image_grid

        if self.fixed_z is None:
            return
        g = ctx.modules["G"]
        x = g(self.fixed_z, self.fixed_y) if self.fixed_y is not None else g(self.fixed_z)
        if len(self.shape) == 3:
            save_image_grid(x.float().cpu(), path, nrow=8, value_range=(-1.0, 1.0))
        else:
            _scatter(x.float().cpu(), path)
        plot_training_curves(ctx.run_dir)

    # -- checkpoint -----------------------------------------------------------------------------------
    def checkpoint_meta(self) -> dict[str, Any]:
        cfg = self.cfg
        c = self.shape[0] if len(self.shape) == 3 else 0
        meta = {"task": "generate", "model": cfg.model, "z_dim": cfg.z_dim, "z_dist": cfg.z_dist,
                "conditional": cfg.conditional, "classes": list(cfg.classes), "num_classes": self.num_classes,
                "sample_shape": list(self.shape), "image_size": self.shape[-1] if c else 0, "channels": c,
                "g_loss": cfg.g_loss, "deployed_module": "G",  # pictorch.load(ckpt) is the generator, as elsewhere
                "normalization": {"range": [-1.0, 1.0], "mean": [0.5] * max(c, 1), "std": [0.5] * max(c, 1)},
                "warnings": [w["kind"] for w in self.monitor.warnings]}
        meta.update(self.extra_meta)
        return meta

    def config_dict(self) -> dict[str, Any]:
        return self.cfg.to_dict()


def _class_loss(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Cross-entropy for class indices (B,) or multi-hot/soft labels (B×K, normalised to a distribution)."""
    if y.ndim == 2:
        target = y.float() / y.float().sum(1, keepdim=True).clamp_min(1e-12)
        return torch.nn.functional.cross_entropy(logits.float(), target)
    return torch.nn.functional.cross_entropy(logits.float(), y.long())


def _adam(module: torch.nn.Module, lr: float, beta1: float) -> torch.optim.Optimizer:
    """Adam (AdamW without decay) over a module's parameters; the fused kernel where it exists."""
    from pictorch.engine.optim import adamw

    return adamw(module.parameters(), lr=lr, weight_decay=0.0, betas=(beta1, 0.999))


def _scatter(points: torch.Tensor, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pictorch.utils import atomic_save

    fig, ax = plt.subplots(figsize=(4, 4))
    p = points.flatten(1)
    ax.scatter(p[:, 0].numpy(), p[:, 1].numpy() if p.shape[1] > 1 else p[:, 0].numpy() * 0, s=6)
    ax.set_title("samples from fixed z")
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)
