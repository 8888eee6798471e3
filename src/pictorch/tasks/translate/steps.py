"""Training steps: pix2pix (D step, then G with D frozen) and CycleGAN (both Ds, then both Gs with Ds frozen).

pix2pix (Isola et al. 2017): D sees the pair ``cat(A, B)`` against ``cat(A, G(A))``; G minimises
``gan_weight · GAN(D(A, G(A)), real) + λ · |G(A) - B|₁`` with λ = 100.

CycleGAN (Zhu et al. 2017): G: A→B judged by D_B, F: B→A judged by D_A; G's loss adds the cycle terms
``λ·|F(G(a)) - a|₁ + λ·|G(F(b)) - b|₁`` (λ = 10) and the identity terms ``0.5·λ·(|G(b) - b|₁ + |F(a) - a|₁)``;
D is trained on the image pool's mix of new and past fakes. Both run D first and then G through the updated D
(the anchor runs CycleGAN's G first; either order uses one generator forward per step).

Images are scaled to [-1, 1] on the device; augmentation (the same crop/flip for A and B) happens there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pictorch.engine.trainer import StepContext, TrainTask
from pictorch.losses.adversarial import (
    GANLoss,
    ImagePool,
    anneal,
    d_targets,
    frozen,
    gradient_penalty,
    instance_noise,
)
from pictorch.registry import MODELS, create_model
from pictorch.tasks.translate.config import TranslateConfig
from pictorch.tasks.translate.data import TranslationData, joint_crop_flip

MODELS.add_modules("pictorch.tasks.translate.models", "pictorch.nn.discriminators")


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """uint8 0-255 → float [-1, 1]."""
    return x.float() / 127.5 - 1.0


def adam(module: torch.nn.Module, lr: float, beta1: float) -> torch.optim.Optimizer:
    """Adam (β1 0.5, as the papers) over trainable parameters; the fused kernel where it exists."""
    params = [p for p in module.parameters() if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999), fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))


def constant_then_linear(total_steps: int, decay_fraction: float):  # noqa: ANN201 - a LambdaLR factor
    """LR factor: 1 for the first ``1 - decay_fraction`` of training, then linear to 0 at the last step
    (the anchor's ``n_epochs`` constant + ``n_epochs_decay`` linear, expressed in steps)."""
    span = int(round(total_steps * decay_fraction))
    start = total_steps - span

    def factor(step: int) -> float:
        if span == 0 or step < start:
            return 1.0
        return max(0.0, 1.0 - (step - start + 1) / (span + 1))

    return factor


class _TranslateTask(TrainTask):
    """What pix2pix and CycleGAN share: config, data shapes, augmentation, schedules, pictures, metadata."""

    task_name = "translate"
    # what a run chose from its data, said before training and kept in the checkpoint (CycleGAN sets them)
    norm_choice = ""
    identity_note = ""

    def __init__(self, cfg: TranslateConfig, data: TranslationData, lr: float = 2e-4,
                 extra_meta: dict[str, Any] | None = None):
        self.cfg = cfg
        self.data = data
        self.lr = lr
        self.crop = data.crop or int(data.train_a.shape[-1])
        self.loss = GANLoss(cfg.resolved_gan_mode())
        self.extra_meta = dict(extra_meta or {})
        self.total_steps = 1
        self._seed = 0
        fixed_a = data.test_a if data.test_a is not None else data.train_a
        fixed_b = data.test_b if data.test_b is not None else data.train_b
        self.fixed_a = fixed_a[:8]
        self.fixed_b = fixed_b[:8]

    def g_spec(self, forward: bool = True) -> tuple[str, dict[str, Any]]:
        cin, cout = (self.data.in_chans, self.data.out_chans) if forward else (self.data.out_chans, self.data.in_chans)
        return self.cfg.generator_spec(cin, cout, self.crop)

    def _make(self, spec: tuple[str, dict[str, Any]]) -> torch.nn.Module:
        m = create_model(spec[0], **spec[1])
        if self.cfg.fast_layers:  # see fastlayers.py: same maths, measured faster CPU kernels
            from pictorch.tasks.translate.fastlayers import (
                fast_instance_norms,
                small_map_convs,
                split_batch_norms,
            )

            fast_instance_norms(split_batch_norms(small_map_convs(m)))
        return m.to(memory_format=torch.channels_last) if self.cfg.channels_last else m

    def _x(self, t: torch.Tensor) -> torch.Tensor:
        x = to_signed(t)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def _augment(self, batch: dict[str, torch.Tensor], paired: bool, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = batch["image"], batch["target"]
        # crop offsets and flips from a generator seeded by (seed, step): a resumed run cuts the same windows
        gen = torch.Generator().manual_seed((self._seed * 1_000_003 + step) % (2 ** 63))
        if paired:
            a, b = joint_crop_flip(a, b, self.crop, self.cfg.flip, gen)
        else:  # independent images: each side gets its own window and flip
            a, _ = joint_crop_flip(a, a[:, :1], self.crop, self.cfg.flip, gen)
            b, _ = joint_crop_flip(b, b[:, :1], self.crop, self.cfg.flip, gen)
        return self._x(a), self._x(b)

    def configure_schedulers(self, optimizers: dict[str, Any], total_steps: int) -> dict[str, Any]:
        self.total_steps = total_steps
        f = constant_then_linear(total_steps, self.cfg.decay_fraction)
        return {k: torch.optim.lr_scheduler.LambdaLR(o, f) for k, o in optimizers.items()}

    def on_fit_start(self, ctx: StepContext) -> None:
        self._seed = int(ctx.cfg.seed)
        # restored pool images come back on the CPU in the default layout; put them where the new fakes live
        # (a convolution over a channels-last and a contiguous copy of one image need not agree to the bit)
        fmt = torch.channels_last if self.cfg.channels_last else torch.contiguous_format
        for pool in self._pools().values():
            pool.images = [t.to(ctx.device).contiguous(memory_format=fmt) for t in pool.images]

    def _pools(self) -> dict[str, ImagePool]:
        """The image pools by name (built in ``build``)."""
        return {k: getattr(self, k) for k in ("pool", "pool_a", "pool_b") if isinstance(getattr(self, k, None),
                                                                                        ImagePool)}

    def state_dict(self) -> dict[str, Any]:
        """The image pools (past fakes and their RNG): a resumed run shows D the same fakes as an
        uninterrupted one, so resume is bit-exact (the test compares every weight with ``torch.equal``)."""
        return {"pools": {k: p.state_dict() for k, p in self._pools().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, p in self._pools().items():
            if k in state.get("pools", {}):
                p.load_state_dict(state["pools"][k])

    def _d_terms(self, d: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, step: int) -> torch.Tensor:
        """D's loss on a real and a (detached) fake batch, with the configured tricks."""
        sigma = anneal(self.cfg.instance_noise, step, self.total_steps, 0.5)
        r_in, f_in = instance_noise(real, sigma), instance_noise(fake, sigma)
        pr, pf = self._judge_both(d, r_in, f_in)
        if self.loss.probabilistic and self.cfg.label_smoothing < 1.0:
            rt, ft = d_targets(real.shape[0], real.device, self.cfg.label_smoothing)
            loss = self.loss.d_loss(pr, pf, rt, ft)
        else:
            loss = self.loss.d_loss(pr, pf)
        if self.loss.mode == "wgangp":
            loss = loss + gradient_penalty(d, r_in, f_in, self.cfg.gp_weight)
        return loss

    def _judge_both(self, d: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor,
                                                                                               torch.Tensor]:
        """D on the real and on the fake batch: with fast layers, one forward over both whose batch norms
        normalise each half on its own (the same statistics as two forwards: fastlayers.SplitBatchNorm2d)."""
        if self.cfg.fast_layers and real.shape == fake.shape:
            from pictorch.tasks.translate.fastlayers import batch_split

            split = batch_split(d, 2)
            if split.usable():
                with split:
                    out = d(torch.cat([real, fake]))
                return out[: real.shape[0]], out[real.shape[0]:]
        return d(real), d(fake)

    def divergence_hint(self) -> str:
        return ("the translation GAN diverged; try a lower --lr, --gan-mode lsgan, or --label-smoothing 0.9, and "
                "resume with --resume from the kept checkpoint")

    def _meta(self, deployed: str, reverse: str | None) -> dict[str, Any]:
        d = self.data
        mode = {1: "L", 3: "RGB"}
        meta = {"task": "translate", "model": self.cfg.model, "deployed_module": deployed, "reverse_module": reverse,
                "direction": self.cfg.direction, "in_chans": d.in_chans, "out_chans": d.out_chans,
                "data": d.name, "data_info": d.info, "paired": d.paired,
                "input": {"size": [self.crop, self.crop], "mode": mode.get(d.in_chans), "range": [-1.0, 1.0],
                          "mean": [0.5] * d.in_chans, "std": [0.5] * d.in_chans, "resize": "none (padded to the "
                          "network's multiple and cropped back)"},
                "output": {"mode": mode.get(d.out_chans), "range": [-1.0, 1.0]},
                "normalization": {"range": [-1.0, 1.0], "mean": [0.5] * d.in_chans, "std": [0.5] * d.in_chans}}
        meta.update(self.extra_meta)
        return meta

    def config_dict(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    def _grid(self, rows: list[torch.Tensor], path: Path) -> None:
        from pictorch.viz.grid import save_image_grid

        c = max(r.shape[1] for r in rows)
        rows = [r.float().cpu().expand(-1, c, -1, -1) if r.shape[1] != c else r.float().cpu() for r in rows]
        save_image_grid(torch.cat(rows), path, nrow=rows[0].shape[0], value_range=(-1.0, 1.0))
        plot_curves(path.parent.parent)


class Pix2PixTask(_TranslateTask):
    """pix2pix on paired data: modules ``{"G", "D"}``."""

    def build(self) -> dict[str, torch.nn.Module]:
        d_in = self.data.in_chans + self.data.out_chans
        self.pool = ImagePool(self.cfg.resolved_pool())
        return {"G": self._make(self.g_spec()), "D": self._make(self.cfg.discriminator_spec(d_in, self.crop))}

    def configure_optimizers(self, modules: dict[str, torch.nn.Module]) -> dict[str, torch.optim.Optimizer]:
        opts = {"G": adam(modules["G"], self.lr, self.cfg.beta1)}
        if self.cfg.gan_weight > 0:  # L1-only (the ablation's arm) never steps D: no optimizer, no schedule
            opts["D"] = adam(modules["D"], self.lr, self.cfg.beta1)
        return opts

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        g, d = ctx.modules["G"], ctx.modules["D"]
        a, b = self._augment(batch, paired=True, step=ctx.step)
        fake = g(a)
        terms: dict[str, torch.Tensor] = {}
        if cfg.gan_weight > 0:
            # D on the pair: a conditional discriminator judges whether B fits A, not only whether B looks real
            fake_pair = self.pool.query(torch.cat([a, fake.detach()], 1))
            loss_d = self._d_terms(d, torch.cat([a, b], 1), fake_pair, ctx.step)
            ctx.optimizers["D"].zero_grad(set_to_none=True)
            ctx.backward(loss_d)
            ctx.optimizers["D"].step()
            terms["d_loss"] = loss_d.detach()
        with frozen(d):
            l1 = F.l1_loss(fake.float(), b.float())
            loss_g = cfg.lambda_l1 * l1
            if cfg.gan_weight > 0:
                g_gan = self.loss.g_loss(d(torch.cat([a, fake], 1)))
                loss_g = loss_g + cfg.gan_weight * g_gan
                terms["g_gan"] = g_gan.detach()
            ctx.optimizers["G"].zero_grad(set_to_none=True)
            ctx.backward(loss_g)
            ctx.optimizers["G"].step()
        terms["g_l1"] = l1.detach()
        return terms

    def validate(self, ctx: StepContext) -> dict[str, float]:
        if self.data.test_a is None or self.data.test_b is None or not self.data.paired:
            return {}
        from pictorch.tasks.translate.reports import paired_scores

        s = paired_scores(ctx.modules["G"], self.data.test_a[:64], self.data.test_b[:64])
        return {f"val_{k}": v for k, v in s.items() if k in ("l1", "psnr", "ssim")}

    def on_picture(self, ctx: StepContext, path: Path) -> None:
        dev = ctx.device
        a = self._x(self.fixed_a.to(dev))
        self._grid([a, ctx.modules["G"](a), self._x(self.fixed_b.to(dev))], path)

    def checkpoint_meta(self) -> dict[str, Any]:
        return self._meta("G", None)


class CycleGANTask(_TranslateTask):
    """CycleGAN on unpaired (or paired, ignoring the pairing) data: ``{"G_A", "G_B", "D_A", "D_B"}``.

    ``G_A``: A→B, judged by ``D_B`` (on B images); ``G_B``: B→A, judged by ``D_A``. Names follow the papers'
    G and F as G_A and G_B so the deployed translator is ``G_A`` and ``--reverse`` uses ``G_B``.

    ``norm="auto"`` is settled here, from the data (:func:`~pictorch.tasks.translate.config.cyclegan_norm`):
    instance norm, or batch norm where a domain has many flat images; the choice and its reason go into the
    checkpoint (``norm_choice``) and the saved config.
    """

    def __init__(self, cfg: TranslateConfig, data: TranslationData, lr: float = 2e-4,
                 extra_meta: dict[str, Any] | None = None):
        if cfg.norm == "auto":
            from dataclasses import replace

            from pictorch.tasks.translate.config import cyclegan_norm
            from pictorch.tasks.translate.data import flat_share

            norm, self.norm_choice = cyclegan_norm(flat_share(data.train_a), flat_share(data.train_b))
            cfg = replace(cfg, norm=norm)
        super().__init__(cfg, data, lr=lr, extra_meta=extra_meta)
        ca, cb = data.in_chans, data.out_chans
        # the anchor refuses identity loss between domains of other channel counts; here it is left out, and said
        self.identity_note = (f"identity loss off: A has {ca} channel(s), B {cb} (G: A→B cannot take a B image)"
                              if cfg.lambda_identity > 0 and ca != cb else "")

    def build(self) -> dict[str, torch.nn.Module]:
        ca, cb = self.data.in_chans, self.data.out_chans
        self.pool_a, self.pool_b = ImagePool(self.cfg.resolved_pool(), seed=1), ImagePool(self.cfg.resolved_pool(),
                                                                                            seed=2)
        self.identity = self.cfg.lambda_identity > 0 and ca == cb  # G: A→B can only be fed B if channels agree
        return {"G_A": self._make(self.g_spec(True)), "G_B": self._make(self.g_spec(False)),
                "D_A": self._make(self.cfg.discriminator_spec(ca, self.crop)),
                "D_B": self._make(self.cfg.discriminator_spec(cb, self.crop))}

    def configure_optimizers(self, modules: dict[str, torch.nn.Module]) -> dict[str, torch.optim.Optimizer]:
        lr, b1 = self.lr, self.cfg.beta1
        g_params = torch.nn.ModuleList([modules["G_A"], modules["G_B"]])
        d_params = torch.nn.ModuleList([modules["D_A"], modules["D_B"]])
        return {"G": adam(g_params, lr, b1), "D": adam(d_params, lr, b1)}

    def training_step(self, ctx: StepContext, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        m = ctx.modules
        g_a, g_b, d_a, d_b = m["G_A"], m["G_B"], m["D_A"], m["D_B"]
        real_a, real_b = self._augment(batch, paired=False, step=ctx.step)
        fake_b = g_a(real_a)
        fake_a = g_b(real_b)
        # discriminators first, on the pool's mix of new and past fakes
        loss_da = self._d_terms(d_a, real_a, self.pool_a.query(fake_a), ctx.step)
        loss_db = self._d_terms(d_b, real_b, self.pool_b.query(fake_b), ctx.step)
        ctx.optimizers["D"].zero_grad(set_to_none=True)
        ctx.backward(loss_da + loss_db)
        ctx.optimizers["D"].step()
        with frozen(d_a, d_b):
            lam = cfg.lambda_cycle
            gan_a = self.loss.g_loss(d_b(fake_b))
            gan_b = self.loss.g_loss(d_a(fake_a))
            cyc_a = F.l1_loss(g_b(fake_b).float(), real_a.float())
            cyc_b = F.l1_loss(g_a(fake_a).float(), real_b.float())
            loss_g = cfg.gan_weight * (gan_a + gan_b) + lam * (cyc_a + cyc_b)
            terms = {"d_a": loss_da.detach(), "d_b": loss_db.detach(), "g_a": gan_a.detach(), "g_b": gan_b.detach(),
                     "cycle_a": cyc_a.detach(), "cycle_b": cyc_b.detach()}
            if self.identity:
                idt_a = F.l1_loss(g_a(real_b).float(), real_b.float())
                idt_b = F.l1_loss(g_b(real_a).float(), real_a.float())
                loss_g = loss_g + lam * cfg.lambda_identity * (idt_a + idt_b)
                terms["idt_a"], terms["idt_b"] = idt_a.detach(), idt_b.detach()
            ctx.optimizers["G"].zero_grad(set_to_none=True)
            ctx.backward(loss_g)
            ctx.optimizers["G"].step()
        return terms

    def validate(self, ctx: StepContext) -> dict[str, float]:
        from pictorch.tasks.translate.reports import cycle_l1, paired_scores

        out: dict[str, float] = {}
        if self.data.test_a is not None:
            out["val_cycle_l1"] = cycle_l1(ctx.modules["G_A"], ctx.modules["G_B"], self.data.test_a[:64])
            if self.data.test_b is not None and self.data.test_a.shape[0] == self.data.test_b.shape[0] \
                    and self.data.info.get("paired_truth", self.data.paired):
                s = paired_scores(ctx.modules["G_A"], self.data.test_a[:64], self.data.test_b[:64])
                out.update({f"val_{k}": v for k, v in s.items() if k in ("l1", "psnr", "ssim")})
        return out

    def on_picture(self, ctx: StepContext, path: Path) -> None:
        dev = ctx.device
        a = self._x(self.fixed_a.to(dev))
        fb = ctx.modules["G_A"](a)
        self._grid([a, fb, ctx.modules["G_B"](fb)], path)

    def checkpoint_meta(self) -> dict[str, Any]:
        meta = self._meta("G_A", "G_B")
        if self.norm_choice:
            meta["norm_choice"] = self.norm_choice
        if self.identity_note:
            meta["identity_note"] = self.identity_note
        return meta


TASKS = {"pix2pix": Pix2PixTask, "cyclegan": CycleGANTask}


def plot_curves(run_dir: Path) -> Path | None:
    """``curves.png`` in the run folder: D, G adversarial and reconstruction (L1/cycle) terms over steps."""
    from pictorch.engine.hooks import read_metrics_csv
    from pictorch.viz.plots import plot_curves as _plot

    csv = Path(run_dir) / "metrics.csv"
    if not csv.exists():
        return None
    series = {k: v for k, v in read_metrics_csv(csv).items() if not k.startswith(("lr", "img_per_s")) and v[0]}
    if not series:
        return None
    return _plot(series, Path(run_dir) / "curves.png", title="translate training", groups=CURVE_GROUPS)


CURVE_GROUPS = (("d_loss", "d_a", "d_b"), ("g_gan", "g_a", "g_b"), ("g_l1", "cycle_a", "cycle_b", "idt_a", "idt_b"),
                ("val_l1", "val_cycle_l1"), ("val_psnr",), ("val_ssim",))
