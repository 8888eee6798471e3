"""Faster CPU layers for the translation networks' training: tiny-map convolutions as im2col + GEMM, instance
norm through the group-norm kernel, and batch norms that let D judge the real and the fake batch in one forward.
Each computes what the layer it replaces computes (up to float summation order; tests/unit/test_translate_fastlayers.py).

Convolutions over tiny feature maps run as im2col + one matrix product, where oneDNN's kernels are slow on CPU.

Why: profiling pix2pix's training step on one CPU thread (``bench/translate_throughput.py --profile``, AVX2)
showed the U-Net's innermost layers far below the machine's conv speed: oneDNN ran the backward of the 256→256
4×4 convs on 2×2 and 1×1 maps, and the transposed convs from 1×1-2×2 maps, at 1-5 GMAC/s against 20-30 GMAC/s for
the larger layers of the same step (wall clock at load 5; by the CPU clock the larger layers run at 45-50 GMAC/s,
the AVX2 FMA peak of one core). Written as ``unfold`` (im2col) and a matrix
product, such a layer is one small GEMM forward and two backward (autograd differentiates ``unfold`` and ``fold``
itself), which the BLAS runs near its peak. The layers keep their class's parameters and state-dict keys (they
are :class:`torch.nn.Conv2d` / :class:`torch.nn.ConvTranspose2d` subclasses), so checkpoints do not change.

:func:`small_map_convs` switches the layers of a module to these classes; each call then picks the im2col road
only for the shapes where it measured faster on this CPU kind and in this precision (:func:`use_im2col`: AVX2,
AVX-512 fp32 and bf16 differ), two more GEMM roads where oneDNN is slow whatever the map (a 1-channel output, the
PatchGAN's head: one GEMM over its taps; a transposed conv to ≤ 3 channels, the U-Net's last layer: one batched
GEMM + col2im), else the usual kernel; on other devices than the CPU (not measured there) the conv and
instance-norm classes always take the usual kernel.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FastInstanceNorm2d", "Im2colConv2d", "Im2colConvTranspose2d", "SplitBatchNorm2d", "batch_split",
           "fast_instance_norms", "small_map_convs", "split_batch_norms", "use_im2col"]

@functools.cache
def _isa() -> str:
    """The ISA oneDNN and the BLAS run with here (``cpu_kind()['isa']``; read once per process)."""
    from pictorch.utils import cpu_kind

    return str(cpu_kind()["isa"])


def _bf16(x: torch.Tensor) -> bool:
    """Whether this call's matmul runs in bf16: a bf16 input, or CPU autocast to bf16."""
    return x.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                         and torch.get_autocast_dtype("cpu") == torch.bfloat16)


def use_im2col(positions: int, transposed: bool, *, batch: int = 1, weight_numel: int = 1 << 30,
               bf16: bool = False, isa: str | None = None) -> bool:
    """Whether a conv (``transposed``: a transposed conv) takes im2col + GEMM: ``positions`` output (transposed:
    input) positions per image, ``batch`` images, a weight of ``weight_numel`` elements, in bf16 or fp32, on
    ``isa`` (default: this CPU's).

    The GEMM has ``batch·positions`` columns; oneDNN's direct kernels lose to it where each column carries much
    weight (tiny maps, wide layers). Measured per layer, fwd + bwd, every conv of the 64 px (batch 4, ngf 32) and
    128 px (batch 2, ngf 64) pix2pix nets, oneDNN against im2col interleaved, CPU clock, one thread, load 4-5:

    - fp32, AVX2 (emulated): im2col wins on maps of ≤ 16 positions (1.06-3.0×: 1×1-4×4) and loses from 8×8 on
      (0.63-1.01×), whatever the width: the rule is ``positions ≤ 16``.
    - fp32, AVX-512: oneDNN is faster there, so width decides: more than 32768 weight elements per GEMM column
      win (65536 and up: 1.12-2.8×: 256→256 on ≤ 2×2, 512→512 on ≤ 4×4, transposed 1024→512 from 4×4 at batch
      2 and 4), fewer lose (0.46-0.99×: 128→256 to 4×4 at batch 4 0.78×, transposed 512→128 from 4×4 at batch 4
      0.83×); at 32768 exactly 1.09× (512→128 from 4×4, batch 2) and 0.91× (1024→256 from 8×8, batch 2: the
      128 px pix2pix step 4 % slower with it), so it stays on oneDNN.
    - bf16 (autocast, native AVX-512 bf16): oneDNN's bf16 kernels on small maps are slower still, so from 4096
      weight elements per column (1.33-3.2×, including 128→256 to 4×4 at batch 4 1.60× and 256→512 to 8×8 at
      batch 2 1.33×); the 64 px D's and the outer layers (512-1300 per column) lose (0.52-0.84×).
    - 2 threads (AVX-512, one run at load 1.3; a quiet 2-core machine was not to be had): oneDNN's transposed
      convs from 1×1-2×2 maps ran 2.1-2.5× slower than on one thread (im2col 3.7× faster there), and in bf16 every
      im2col layer of the 64 px net won 1.3-6×; so the rule does not depend on the thread count.
      ``bench/translate_throughput.py --layers --threads 1,2`` re-measures all of this on any CPU.
    The PatchGAN's 1-channel head loses on every kind (0.15-0.25×): see :class:`Im2colConv2d` for its road.
    """
    columns = max(1, batch * positions)
    # the caps on positions keep each rule to the maps it was measured on (bf16 wins up to 8×8, fp32 up to 4×4):
    # on larger maps (a 256 px net at batch 1) the unfolded copy grows with the map and nothing was measured
    if bf16:
        return positions <= 64 and weight_numel >= 4096 * columns
    if (isa or _isa()) in ("AVX-512", "AMX"):
        return positions <= 16 and weight_numel > 32768 * columns
    return positions <= 16


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class Im2colConv2d(nn.Conv2d):
    """:class:`torch.nn.Conv2d` (groups 1, zero padding) that runs tiny maps as im2col + GEMM, and a 1-channel
    output (the PatchGAN's head) as one GEMM over its taps."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph, pw = _pair(self.padding)  # type: ignore[arg-type]
        dh, dw = self.dilation
        h, w = x.shape[-2:]
        ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if x.ndim != 4 or x.device.type != "cpu" or ho <= 0 or wo <= 0:
            return super().forward(x)
        if self.out_channels == 1 and kh * kw > 1:
            return self._taps(x, ho, wo)
        if not use_im2col(ho * wo, False, batch=x.shape[0], weight_numel=self.weight.numel(), bf16=_bf16(x)):
            return super().forward(x)
        n = x.shape[0]
        cols = F.unfold(x, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))  # n, c·kh·kw, L
        # one GEMM per image (one GEMM over the whole batch measured no faster)
        y = self.weight.reshape(self.out_channels, -1) @ cols  # n, out, L
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).view(1, -1, 1)
        return y.reshape(n, self.out_channels, ho, wo)

    def _taps(self, x: torch.Tensor, ho: int, wo: int) -> torch.Tensor:
        """A 1-output-channel conv as z = (taps × c) @ x, one row per kernel tap over the whole input map, then
        the sum of the taps' shifted maps: ``unfold`` of z with the conv's geometry puts tap t's shifted map in
        row t·(kh·kw) + t.

        Why: oneDNN runs the PatchGAN's 256→1 4×4 head (7×7 → 6×6 maps) at 2.5-4 GMAC/s; im2col of its input is
        worse (0.15-0.25×: a 16×-inflated copy for a GEMV). Measured fwd + bwd, CPU clock, one thread, load 4-5
        (256→1 on 7×7 at batch 4 and 8; 512→1 on 15×15 and 31×31 at batch 2 and 4, the 128 and 256 px D's):
        1.3-1.6× faster on AVX-512 fp32, 1.3-1.9× on emulated AVX2, 1.03-1.3× in bf16.
        """
        kh, kw = self.kernel_size
        n, c, h, w = x.shape
        taps = kh * kw
        z = (self.weight.reshape(c, taps).t() @ x.reshape(n, c, h * w)).reshape(n, taps, h, w)
        cols = F.unfold(z, (kh, kw), dilation=self.dilation, padding=_pair(self.padding),  # type: ignore[arg-type]
                        stride=self.stride)  # n, taps·taps, ho·wo
        y = cols[:, :: taps + 1].sum(1, keepdim=True)  # rows t·taps + t
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).view(1, 1, 1)
        return y.reshape(n, 1, ho, wo)


class Im2colConvTranspose2d(nn.ConvTranspose2d):
    """:class:`torch.nn.ConvTranspose2d` (groups 1, zero padding) that runs tiny input maps, and few output
    channels (the U-Net's outermost layer), as GEMM + col2im."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or x.ndim != 4 or x.device.type != "cpu":
            return super().forward(x, output_size)
        kh, kw = self.kernel_size
        tiny = use_im2col(x.shape[-2] * x.shape[-1], True, batch=x.shape[0], weight_numel=self.weight.numel(),
                          bf16=_bf16(x))
        # Few output channels (the U-Net's 64→3 last layer): oneDNN runs it at ~11 GMAC/s. As one batched GEMM
        # (out·kh·kw ≤ 48 rows) + col2im, measured fwd + bwd, CPU clock, one thread, load 4-5: 64→3 from 32×32
        # at batch 4 1.06-1.14× (AVX-512 fp32), 1.28× (bf16), 1.57-1.76× (emulated AVX2); 128→3 from 64×64 at
        # batch 2 1.00×, 2.0×, 1.33×; 64→1 2.1-3.3×. With 32-256 output channels it loses (0.4-0.66×).
        few_out = self.out_channels * kh * kw <= 48
        if not (tiny or few_out):
            return super().forward(x, output_size)
        sh, sw = self.stride
        ph, pw = _pair(self.padding)  # type: ignore[arg-type]
        dh, dw = self.dilation
        oph, opw = _pair(self.output_padding)  # type: ignore[arg-type]
        n, c, h, w = x.shape
        ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
        wo = (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
        # weight: in × out × kh × kw; every input position scatters a (out·kh·kw) patch, summed by fold (col2im)
        wt = self.weight.reshape(c, -1).t()
        if tiny:  # a few positions: matmul folds the batch into one GEMM (one weight-gradient GEMM, not n)
            cols = wt @ x.reshape(n, c, h * w)  # n, out·kh·kw, L
        else:  # a large map: bmm reads x in place, where matmul would copy it transposed (1.8 ms of copies)
            cols = torch.bmm(wt.unsqueeze(0).expand(n, -1, -1), x.reshape(n, c, h * w))
        y = F.fold(cols, (ho, wo), (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).view(1, -1, 1, 1)
        return y


def small_map_convs(module: nn.Module) -> nn.Module:
    """Switch every plain (groups 1, zero-padded) Conv2d / ConvTranspose2d of ``module`` to its im2col class in
    place; parameters, buffers and state-dict keys stay as they are. Returns ``module``."""
    for m in module.modules():
        if type(m) not in (nn.Conv2d, nn.ConvTranspose2d):
            continue
        if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
            continue
        if type(m) is nn.Conv2d:
            m.__class__ = Im2colConv2d
        elif type(m) is nn.ConvTranspose2d:
            m.__class__ = Im2colConvTranspose2d
    return module


class FastInstanceNorm2d(nn.InstanceNorm2d):
    """:class:`torch.nn.InstanceNorm2d` without running statistics, computed by ``F.group_norm`` with one group
    per channel: the same normalisation (and the same per-channel affine), but torch's CPU group-norm kernel is
    one fused pass where ``F.instance_norm`` reshapes to a batch norm over N·C channels. Measured fwd + bwd, one
    thread, emulated AVX2 (load 6): 1.6× less time at 4×128×8×8, 2.3× at 1×256×64×64, 1.1× at 1×64×256×256; a
    composite mean/var formula took 4× the native kernel's time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.track_running_stats or x.ndim != 4 or x.device.type != "cpu":  # measured on CPU only
            return super().forward(x)
        return F.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)


def fast_instance_norms(module: nn.Module) -> nn.Module:
    """Switch every InstanceNorm2d without running statistics to :class:`FastInstanceNorm2d` in place (no
    parameters or buffers change). Returns ``module``."""
    for m in module.modules():
        if type(m) is nn.InstanceNorm2d and not m.track_running_stats:
            m.__class__ = FastInstanceNorm2d
    return module


class SplitBatchNorm2d(nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` that, while ``split`` > 1, normalises each of ``split`` equal parts of the
    batch with its own statistics and updates the running statistics part after part: exactly what ``split``
    separate forwards would do. It lets a discriminator judge the real and the fake batch in ONE forward (one
    call per conv layer, one weight-gradient for both) with the batch statistics the anchor's two forwards use.
    Measured (pix2pix D step, 64 px, batch 4, ndf 32, one thread, emulated AVX2, CPU clock, 9 rounds): 29.6 →
    27.0 ms."""

    split: int = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split <= 1 or not self.training or x.shape[0] % self.split:
            return super().forward(x)
        parts = []
        for part in x.chunk(self.split):
            if self.track_running_stats and self.num_batches_tracked is not None:
                self.num_batches_tracked.add_(1)
            parts.append(F.batch_norm(part, self.running_mean, self.running_var, self.weight, self.bias,
                                      True, self.momentum if self.momentum is not None else
                                      1.0 / float(self.num_batches_tracked), self.eps))
        return torch.cat(parts)


def split_batch_norms(module: nn.Module) -> nn.Module:
    """Switch every BatchNorm2d of ``module`` to :class:`SplitBatchNorm2d` in place (``split`` 1: unchanged
    behaviour; same parameters and buffers). Returns ``module``."""
    for m in module.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = SplitBatchNorm2d
    return module


class batch_split:  # noqa: N801 - used as a context manager, like torch.no_grad
    """``with batch_split(d, 2): d(torch.cat([real, fake]))``: the SplitBatchNorm2d layers of ``d`` normalise each
    half on its own for the duration; returns False from :meth:`usable` when ``d`` has batch norms that are not
    split-capable (then the caller runs two forwards)."""

    def __init__(self, module: nn.Module, parts: int = 2):
        self.layers = [m for m in module.modules() if isinstance(m, SplitBatchNorm2d)]
        self.plain = any(isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, SplitBatchNorm2d)
                         for m in module.modules())
        self.parts = parts

    def usable(self) -> bool:
        return not self.plain

    def __enter__(self) -> batch_split:
        for m in self.layers:
            m.split = self.parts
        return self

    def __exit__(self, *exc: object) -> None:
        for m in self.layers:
            m.split = 1
