"""The translate task's options (beside the shared TrainConfig) and their resolution to concrete networks."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MODELS_ = ("pix2pix", "cyclegan")
# CycleGAN's "auto" norm is batch norm when at least this share of either domain's training images is flat:
# photo folders and Fashion-MNIST hold none, labels2satellite's tiles 13 % (64 px, coast 0.5) to 57 % (32 px)
FLAT_SHARE = 0.05
GENERATORS = ("auto", "unet", "resnet", "unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")


@dataclass
class TranslateConfig:
    """pix2pix and CycleGAN switches, defaulting to the anchor's choices per model ("auto" values).

    Attributes:
        model: pix2pix (paired: cGAN + λ·L1) or cyclegan (unpaired: two GANs + cycle + identity).
        data: Built-in task (edges2photo, gray2color, day2night, sneaker2boot) or a folder.
        data_b: Folder of domain B (``data`` is then folder A).
        direction: AtoB or BtoA.
        size: Built-in tasks: crop side; folders: resize images to size×size (0: keep).
        limit: Crops per training photo / training tiles / images per domain (0: the task's default).
        coast: Built-in Earth tasks (labels2satellite, day2night): the share of training tiles drawn to show
            both land and water (-1: auto, CycleGAN 0.5 and pix2pix 0, see :meth:`resolved_coast`; 0: tiles as
            they fall). Held-out tiles never change.
        netG: auto (pix2pix: unet, cyclegan: resnet), unet, resnet, or the anchor's unet_256, unet_128,
            resnet_9blocks, resnet_6blocks.
        num_downs: U-Net depth (0: the deepest that fits the crop, at most 8).
        n_blocks: ResNet blocks (0: 9 for crops of 256 and more, else 6, as the anchor's presets).
        ngf: Generator width.
        netD: patchgan (n-layer) or pixel (1×1).
        n_layers_d: PatchGAN stride-2 layers (3: 70×70 patches; 0: as many as the crop allows, at most 3).
        ndf: Discriminator width.
        norm: auto (pix2pix: batch; cyclegan: instance, or batch where at least :data:`FLAT_SHARE` of a
            domain's training images are flat, see :func:`cyclegan_norm`), batch, instance, none.
        dropout: auto (pix2pix: on, cyclegan: off), on, off.
        gan_mode: auto (pix2pix: vanilla, cyclegan: lsgan), vanilla, lsgan, wgangp, hinge.
        lambda_l1: pix2pix's L1 weight λ (100; 0 gives cGAN only).
        gan_weight: Weight of the adversarial term in G's loss (1; 0 gives L1 only: the ablation's other arm).
        lambda_cycle: CycleGAN cycle weight each way (10).
        lambda_identity: CycleGAN identity weight as a fraction of lambda_cycle (0.5; needs equal channels).
        pool_size: Past fakes shown to D (cyclegan: 50; pix2pix: 0).
        gp_weight: WGAN-GP penalty weight.
        beta1: Adam β1.
        decay_fraction: Fraction of the steps over which the LR decays linearly to 0 after a constant phase.
        flip: Random horizontal flips (the same for A and B).
        label_smoothing: D's target for real images (1: off).
        instance_noise: Noise std on D's inputs, annealed to 0 over the first half (0: off).
        channels_last: Channels-last memory layout. Off by default: on this AVX2 EPYC one pix2pix G+D
            forward/backward (64 px, batch 4, ngf 32, 1 thread) took 119 ms channels-last against 93 ms NCHW
            (layout copies around the skip concatenations and transposed convs).
        fast_layers: Train with the same layers computed by faster CPU kernels (``fastlayers.py``): convs over
            tiny maps as im2col + GEMM (a rule per CPU kind and precision), the PatchGAN's 1-channel head and
            the U-Net's last transposed conv as GEMMs, instance norm via the group-norm kernel, D's real and fake
            batches in one forward with per-half batch statistics.
            Checkpoints do not change; off reproduces the plain layers' float order.
    """

    model: str = "pix2pix"
    data: str = "edges2photo"
    data_b: str | None = None
    direction: str = "AtoB"
    size: int = 0
    limit: int = 0
    coast: float = -1.0
    netG: str = "auto"  # noqa: N815 - the anchor's option name
    num_downs: int = 0
    n_blocks: int = 0
    ngf: int = 64
    netD: str = "patchgan"  # noqa: N815
    n_layers_d: int = 3
    ndf: int = 64
    norm: str = "auto"
    dropout: str = "auto"
    gan_mode: str = "auto"
    lambda_l1: float = 100.0
    gan_weight: float = 1.0
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = -1
    gp_weight: float = 10.0
    beta1: float = 0.5
    decay_fraction: float = 0.5
    flip: bool = True
    label_smoothing: float = 1.0
    instance_noise: float = 0.0
    channels_last: bool = False
    fast_layers: bool = True

    def __post_init__(self) -> None:
        from pictorch.engine.config import MAX_IMAGE_SIDE, check_fields

        check_fields(self, {"size": (0, MAX_IMAGE_SIDE), "limit": (0, None), "pool_size": (-1, 100_000),
                            "beta1": (0, 0.9999), "label_smoothing": (0.5, 1.0), "instance_noise": (0, None),
                            "decay_fraction": (0, 1), "coast": (-1, 1), "lambda_l1": ">= 0", "gan_weight": ">= 0",
                            "lambda_cycle": ">= 0", "lambda_identity": ">= 0", "gp_weight": ">= 0"},
                     choices={"model": MODELS_, "direction": ("AtoB", "BtoA"), "netG": GENERATORS,
                              "netD": ("patchgan", "pixel"), "dropout": ("auto", "on", "off")})
        if self.gan_weight == 0 and (self.lambda_l1 if self.paired else self.lambda_cycle) == 0:
            from pictorch.errors import ConfigError

            other = "--lambda-l1" if self.paired else "--lambda-cycle"
            raise ConfigError(f"--gan-weight 0 with {other} 0 leaves {self.model} no loss to train on; give one of "
                              "them a weight above 0")

    @property
    def paired(self) -> bool:
        return self.model == "pix2pix"

    def resolved_gan_mode(self) -> str:
        return ("vanilla" if self.paired else "lsgan") if self.gan_mode == "auto" else self.gan_mode

    def resolved_norm(self) -> str:
        """The norm "auto" stands for without looking at the data (CycleGAN's is settled by
        :func:`cyclegan_norm` before the networks are built: ``CycleGANTask``)."""
        return ("batch" if self.paired else "instance") if self.norm == "auto" else self.norm

    def resolved_dropout(self) -> bool:
        return self.paired if self.dropout == "auto" else self.dropout == "on"

    def resolved_coast(self) -> float:
        """auto: CycleGAN 0.5, pix2pix 0 (tiles as they fall).

        Unpaired, D_B sees mostly open-ocean tiles (49 % of the 32 px training tiles), so turning every mask
        into ocean looked real to it, and the cycle was kept by hiding the mask in the ocean's faint pattern:
        at 2e-4 with batch norm one seed of three collapsed (FCN accuracy 0.948, 0.874, 0.512). Half the tiles
        drawn on a coast lifted the collapsed seed to 0.704 and the 0.874 one to 0.962 (FID 9.4 → 2.1);
        pix2pix, which sees the pairs, does not need it.
        """
        if self.coast >= 0:
            return self.coast
        return 0.0 if self.paired else 0.5

    def resolved_pool(self) -> int:
        return (0 if self.paired else 50) if self.pool_size < 0 else self.pool_size

    def generator_spec(self, in_chans: int, out_chans: int, crop: int) -> tuple[str, dict[str, Any]]:
        """Registry name and kwargs of the generator for images of side ``crop``."""
        g = self.netG if self.netG != "auto" else ("unet" if self.paired else "resnet")
        common = {"in_chans": in_chans, "out_chans": out_chans, "ngf": self.ngf, "norm": self.resolved_norm(),
                  "dropout": self.resolved_dropout()}
        if g.startswith("unet"):
            depth = {"unet_256": 8, "unet_128": 7}.get(g) or self.num_downs
            if not depth:
                depth = max(1, min(8, (max(crop, 2)).bit_length() - 1))
            return "translate.unet", {**common, "num_downs": depth}
        blocks = {"resnet_9blocks": 9, "resnet_6blocks": 6}.get(g) or self.n_blocks or (9 if crop >= 256 else 6)
        return "translate.resnet", {**common, "n_blocks": blocks}

    def discriminator_spec(self, in_chans: int, crop: int) -> tuple[str, dict[str, Any]]:
        """Registry name and kwargs of a discriminator over ``in_chans``-channel inputs of side ``crop``."""
        norm = self.resolved_norm()
        if self.netD == "pixel":
            return "pixelgan", {"in_chans": in_chans, "ndf": self.ndf, "norm": norm}
        n = self.n_layers_d
        if n <= 0 or crop and crop < 2 ** n * 4:
            # a 3-layer PatchGAN leaves no output at all below 32 px; use the deepest that keeps a 2×2 map
            n = max(1, min(3, (max(crop, 8) // 4).bit_length() - 1)) if crop else 3
        if crop and crop // 2 ** n < 3:
            # n stride-2 4×4 convs halve the side, the two stride-1 4×4 convs take 2 more: nothing is left below this
            from pictorch.errors import ConfigError

            raise ConfigError(f"{crop}×{crop} px crops are too small for a {n}-layer PatchGAN discriminator (it "
                              f"needs at least {3 * 2 ** n} px): use --size {3 * 2 ** n} or more, or --netD pixel")
        return "patchgan", {"in_chans": in_chans, "ndf": self.ndf, "n_layers": n, "norm": norm}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cyclegan_norm(flat_a: float, flat_b: float) -> tuple[str, str]:
    """CycleGAN's "auto" norm for domains whose training images are ``flat_a`` / ``flat_b`` flat (shares of
    images with every channel's standard deviation under one grey level), and why.

    Instance norm (the anchor's CycleGAN default) subtracts each image's own mean and divides by its own
    deviation, so every flat image leaves the stem as the same all-zero map: an all-water and an all-land mask
    tile get the same translation, and an instance-norm D cannot tell a flat fake's colour from a flat real's.
    On labels2satellite (57 % of the 32 px mask tiles flat) CycleGAN with instance norm collapsed to ocean at
    any LR (FCN accuracy 0.507 = chance, FID 37.7 at 2e-4, 500 steps x 4); with batch norm, which keeps absolute
    levels, it learnt the mapping (FCN accuracy 0.948, FID 4.66; ``bench/translate_cyclegan_ablation.py``).
    Photos and Fashion-MNIST (no flat images) keep instance norm.
    """
    share = max(flat_a, flat_b)
    if share >= FLAT_SHARE:
        return "batch", (f"batch norm: {share:.0%} of a domain's training images are flat (instance norm would "
                         "map them all to one output)")
    return "instance", "instance norm (the anchor's CycleGAN default)"
