"""Training steps of LAPGAN and StackGAN, on the shared adversarial kit (:mod:`pictorch.losses.adversarial`).

Both keep the DCGAN task's monitoring, pictures and checkpoint record (:class:`~.steps.GANTask`) and replace the
model and the step:

* LAPGAN: every level is an independent GAN on its own real data: the coarsest on I_{K-1}, level k on the real
  residual h_k = I_k − u(I_{k+1}) given the real u(I_{k+1}) (as the paper: levels never see each other's
  samples during training). One optimizer per player holds every level's parameters; the levels' losses share no
  parameter, so the summed loss gives each level exactly its own gradient and Adam (per-parameter) updates each
  as if alone. Terms are logged per level (``d_L0``, ``g_L0``, … with L{K-1} the coarsest).
* StackGAN: stage by stage. The first ``stage1_fraction`` of the run trains Stage I (G_0, its conditioning
  augmentation, D_0 on d(I)); the rest trains Stage II (G, D on I) with Stage I frozen (no gradient, BatchNorm on
  its running statistics). D is matching-aware (a real image with another sample's condition counts as fake, at
  half weight) and G's loss adds λ·D_KL(N(μ, Σ) ‖ N(0, I)), logged as ``kl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pictorch.engine.trainer import StepContext
from pictorch.losses.adversarial import GANLoss as AdvLoss
from pictorch.losses.adversarial import d_targets, frozen, gradient_penalty, instance_noise
from pictorch.nn.pyramid import down, gaussian_pyramid, up
from pictorch.registry import create_model
from pictorch.tasks.generate.data import to_signed
from pictorch.tasks.generate.multiscale import kl_to_standard_normal
from pictorch.tasks.generate.steps import GANTask, _adam
from pictorch.tasks.generate.tricks import GANConfig, mean_pairwise_distance, noise_std, sample_z

_MODES = {"non-saturating": "vanilla", "hinge": "hinge", "wgan-gp": "wgangp"}


def _d_norm(cfg: GANConfig) -> str:
    return "layer" if cfg.g_loss == "wgan-gp" else ("none" if cfg.spectral_norm else "batch")


class _KitTask(GANTask):
    """A GAN task whose D/G objectives come from the shared kit."""

    def __init__(self, cfg: GANConfig, shape: tuple[int, ...], **kw: Any):
        super().__init__(cfg, shape, **kw)
        self.adv = AdvLoss(_MODES[cfg.g_loss])

    def _cl(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def _d_terms(self, out_r: torch.Tensor, out_f: torch.Tensor) -> torch.Tensor:
        """D's loss with one-sided smoothing and flips (probabilistic modes) from the task's switches."""
        cfg = self.cfg
        if self.adv.probabilistic:
            rt, ft = d_targets(out_r.shape[0], out_r.device, real=cfg.label_smoothing, flip=cfg.label_flip)
            return self.adv.d_loss(out_r, out_f, rt, ft)
        return self.adv.d_loss(out_r, out_f)

    def _monitor_terms(self, out_r: torch.Tensor, out_f: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.adv.probabilistic:
            return {"d_real": torch.sigmoid(out_r.float()).mean(), "d_fake": torch.sigmoid(out_f.float()).mean()}
        return {"d_real": out_r.float().mean(), "d_fake": out_f.float().mean()}

    def configure_optimizers(self, modules: dict[str, torch.nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {"G": _adam(modules["G"], self.cfg.lr_g or self.lr, self.cfg.beta1),
                "D": _adam(modules["D"], self.cfg.lr_d or self.lr, self.cfg.beta1)}


class LapGANTask(_KitTask):
    """LAPGAN: K independent GANs on the levels of the Laplacian pyramid (see the module docstring)."""

    def build(self) -> dict[str, torch.nn.Module]:
        cfg = self.cfg
        c, size = self.shape[0], self.shape[-1]
        g = create_model("gan.lapgan_g", z_dim=cfg.z_dim, image_size=size, channels=c, levels=cfg.levels,
                         ngf=cfg.ngf)
        d = create_model("gan.lapgan_d", image_size=size, channels=c, levels=cfg.levels, ndf=cfg.ndf,
                         norm=_d_norm(cfg), spectral_norm=cfg.spectral_norm)
        mods = {"G": g, "D": d}
        if cfg.channels_last:
            mods = {k: m.to(memory_format=torch.channels_last) for k, m in mods.items()}
        return mods

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        g, d = ctx.modules["G"], ctx.modules["D"]
        opt_g, opt_d = ctx.optimizers["G"], ctx.optimizers["D"]
        x = self._cl(to_signed(batch["image"]))
        n, levels = x.shape[0], cfg.levels
        pyr = gaussian_pyramid(x, levels)
        sigma = noise_std(cfg.instance_noise, ctx.step, self.total_steps, cfg.noise_anneal)
        # per level: (real input to D, fake with G's graph, conditioning low-pass image or None)
        real: list[torch.Tensor] = []
        fake: list[torch.Tensor] = []
        lows: list[torch.Tensor | None] = []
        for k in range(levels):
            if k == levels - 1:
                z = sample_z(n, cfg.z_dim, cfg.z_dist, device=x.device)
                real.append(pyr[k])
                fake.append(g(z, level=k))
                lows.append(None)
            else:
                low = up(pyr[k + 1])
                s = pyr[k].shape[-1]
                zk = torch.randn(n, 1, s, s, device=x.device)
                real.append(pyr[k] - low)
                fake.append(g(zk, level=k, low=low))
                lows.append(low)
        terms: dict[str, torch.Tensor] = {}
        loss_d = x.new_zeros(())
        for k in range(levels):
            out_r = d(instance_noise(real[k], sigma), level=k, low=lows[k])
            out_f = d(instance_noise(fake[k].detach().float(), sigma), level=k, low=lows[k])
            lk = self._d_terms(out_r, out_f)
            if cfg.g_loss == "wgan-gp":
                low_k = lows[k]
                lk = lk + gradient_penalty(lambda h, k=k, low_k=low_k: d(h, level=k, low=low_k), real[k], fake[k],
                                           weight=cfg.gp_weight)
            terms[f"d_L{k}"] = lk.detach()
            if k == levels - 1:
                terms.update({key: v.detach() for key, v in self._monitor_terms(out_r, out_f).items()})
            loss_d = loss_d + lk
        opt_d.zero_grad(set_to_none=True)
        ctx.backward(loss_d)
        opt_d.step()

        loss_g = x.new_zeros(())
        with frozen(d):
            for k in range(levels):
                lg = self.adv.g_loss(d(instance_noise(fake[k].float(), sigma), level=k, low=lows[k]))
                terms[f"g_L{k}"] = lg.detach()
                loss_g = loss_g + lg
            opt_g.zero_grad(set_to_none=True)
            ctx.backward(loss_g)
        opt_g.step()
        terms["d_loss"] = loss_d.detach()
        terms["g_loss"] = loss_g.detach()
        coarse_real, coarse_fake = real[-1], fake[-1].detach()
        terms["diversity"] = mean_pairwise_distance(coarse_fake, 32) / mean_pairwise_distance(coarse_real, 32
                                                                                              ).clamp_min(1e-6)
        return terms

    def checkpoint_meta(self) -> dict[str, Any]:
        from pictorch.nn.pyramid import level_sizes

        meta = super().checkpoint_meta()
        meta.update({"levels": self.cfg.levels, "level_sizes": level_sizes(self.shape[-1], self.cfg.levels)})
        return meta


class StackGANTask(_KitTask):
    """StackGAN, stage by stage (see the module docstring).

    Args:
        cfg: The GAN config (``kl_weight``, ``stage1_fraction``).
        shape: (C, H, W) of the images.
        cond_dim: Width of the condition vectors (the class count for class labels).
        one_hot: Conditions are class labels (batch ``label``); else float rows (batch ``cond``).
        condition_names: Column names of vector conditions (checkpoint record).
        fixed_conditions: Vector conditions for the progress pictures (rows of the training set).
        **kw: Passed to :class:`~.steps.GANTask`.
    """

    def __init__(self, cfg: GANConfig, shape: tuple[int, ...], cond_dim: int, one_hot: bool = True,
                 condition_names: list[str] | None = None, fixed_conditions: torch.Tensor | None = None, **kw: Any):
        super().__init__(cfg, shape, **kw)
        self.cond_dim, self.one_hot = int(cond_dim), bool(one_hot)
        self.condition_names = list(condition_names or [])
        self.fixed_conditions = fixed_conditions
        self.stage = 1

    def build(self) -> dict[str, torch.nn.Module]:
        cfg = self.cfg
        c, size = self.shape[0], self.shape[-1]
        g = create_model("gan.stackgan_g", z_dim=cfg.z_dim, image_size=size, channels=c, cond_dim=self.cond_dim,
                         one_hot=self.one_hot, ngf=cfg.ngf)
        d = create_model("gan.stackgan_d", image_size=size, channels=c, cond_dim=self.cond_dim, one_hot=self.one_hot,
                         ndf=cfg.ndf, norm=_d_norm(cfg), spectral_norm=cfg.spectral_norm)
        mods = {"G": g, "D": d}
        if cfg.channels_last:
            mods = {k: m.to(memory_format=torch.channels_last) for k, m in mods.items()}
        return mods

    def on_fit_start(self, ctx: StepContext) -> None:
        super().on_fit_start(ctx)
        if not self.one_hot and self.fixed_conditions is not None:
            # one row of 8 per condition: the first distinct rows of the training conditions
            rows = torch.unique(self.fixed_conditions, dim=0)[:8]
            self.fixed_y = rows.repeat_interleave(8, 0).to(ctx.device)
            self.fixed_z = sample_z(self.fixed_y.shape[0], self.cfg.z_dim, self.cfg.z_dist,
                                    torch.Generator().manual_seed(1234)).to(ctx.device)

    def stage_at(self, step: int, total: int) -> int:
        """1 for the first ``stage1_fraction`` of the run's steps, then 2."""
        return 1 if step < self.cfg.stage1_fraction * total else 2

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from pictorch.engine.checkpoint import unwrap

        cfg = self.cfg
        g, d = ctx.modules["G"], ctx.modules["D"]
        opt_g, opt_d = ctx.optimizers["G"], ctx.optimizers["D"]
        stage = self.stage = self.stage_at(ctx.step, ctx.total_steps)
        x = self._cl(to_signed(batch["image"]))
        y = batch["label"] if self.one_hot else batch["cond"]
        real = self._cl(down(x)) if stage == 1 else x
        n = x.shape[0]
        sigma = noise_std(cfg.instance_noise, ctx.step, self.total_steps, cfg.noise_anneal)
        z = sample_z(n, cfg.z_dim, cfg.z_dist, device=x.device)
        gm = unwrap(g)
        stage1 = gm.stage1_modules()
        if stage == 2:
            for m in stage1:  # Stage I frozen: its BatchNorm on the running statistics it learnt
                for sub in m.modules():
                    if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm):
                        sub.eval()
            with frozen(*stage1):
                fake, mu, logvar = g(z, y, stage=2, with_stats=True)
        else:
            fake, mu, logvar = g(z, y, stage=1, with_stats=True)
        # a real image with another sample's condition is a mismatch D must reject (matching-aware D)
        y_wrong = y.roll(1, 0)
        out_r = d(instance_noise(real, sigma), y, stage=stage)
        out_f = d(instance_noise(fake.detach().float(), sigma), y, stage=stage)
        out_w = d(instance_noise(real, sigma), y_wrong, stage=stage)
        loss_d = self._d_terms(out_r, out_f) + 0.5 * self.adv(out_w, False)
        terms = {key: v.detach() for key, v in self._monitor_terms(out_r, out_f).items()}
        if cfg.g_loss == "wgan-gp":
            loss_d = loss_d + gradient_penalty(lambda im: d(im, y, stage=stage), real, fake, weight=cfg.gp_weight)
        opt_d.zero_grad(set_to_none=True)
        ctx.backward(loss_d)
        opt_d.step()

        with frozen(d):
            g_adv = self.adv.g_loss(d(instance_noise(fake.float(), sigma), y, stage=stage))
            kl = kl_to_standard_normal(mu, logvar)
            loss_g = g_adv + cfg.kl_weight * kl
            opt_g.zero_grad(set_to_none=True)
            ctx.backward(loss_g)
        opt_g.step()
        terms.update({"d_loss": loss_d.detach(), "g_adv": g_adv.detach(), "kl": kl.detach(),
                      "g_loss": loss_g.detach(), "stage": torch.tensor(float(stage), device=x.device)})
        terms["diversity"] = mean_pairwise_distance(fake.detach(), 32) / mean_pairwise_distance(real, 32
                                                                                                ).clamp_min(1e-6)
        return terms

    def on_picture(self, ctx: StepContext, path: Path) -> None:
        from pictorch.viz.grid import save_image_grid

        if self.fixed_z is None or self.fixed_y is None:
            return
        stage = self.stage_at(ctx.step, ctx.total_steps)
        x = ctx.modules["G"](self.fixed_z, self.fixed_y, stage=stage)
        save_image_grid(x.float().cpu(), path, nrow=8, value_range=(-1.0, 1.0), title=f"stage {stage}")
        from pictorch.tasks.generate.monitor import plot_training_curves

        plot_training_curves(ctx.run_dir)

    def checkpoint_meta(self) -> dict[str, Any]:
        meta = super().checkpoint_meta()
        cond: dict[str, Any] = {"kind": "class" if self.one_hot else "vector", "dim": self.cond_dim,
                                "names": self.condition_names}
        if not self.one_hot:
            cond["csv"] = str(Path(self.cfg.condition).resolve())
        meta.update({"condition": cond,
                     "kl_weight": self.cfg.kl_weight, "stage1_fraction": self.cfg.stage1_fraction,
                     "stage1_size": self.shape[-1] // 2})
        return meta
