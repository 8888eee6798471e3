"""``--compile``: wrap the trained modules with ``torch.compile`` (inductor) when asked, or where it pays.

``torch.compile`` fuses the element-wise work around the convolutions (BatchNorm, activations, the
normalization of the input) into generated C++ loops and leaves the convolutions to oneDNN. Its price is the
compilation, tens of seconds on a small CPU before the first step, paid again when a guard fails (a new batch
shape, D frozen for the G step). So ``auto`` turns it on only for a model and CPU kind where a bench measured
a win, and only when the run is long enough for the win to pay the compilation back twice over.

:data:`COMPILE_WINS` holds those measurements, keyed by (registered architecture, :func:`pictorch.utils.cpu_kind`
kind); an unmeasured pair stays eager under ``auto``. ``on`` compiles whatever the table says; ``off`` never.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from torch import nn

MODES = ("off", "on", "auto")


@dataclass(frozen=True)
class CompileWin:
    """One measurement (``bench/step_ab.py --variants cl,cl+compile``, steps interleaved in one process): the
    compiled/eager speed-up of a training step after compilation, the compilation seconds, and the eager step
    seconds, on one CPU kind. A speed-up below 1 is kept too: it records that the pair was measured and lost."""

    speedup: float
    compile_s: float
    eager_step_s: float

    def pays_after(self) -> float:
        """Steps after which the time saved equals the compilation time (inf when it does not win)."""
        saved = self.eager_step_s * (1.0 - 1.0 / self.speedup) if self.speedup > 1.0 else 0.0
        return float("inf") if saved <= 0 else self.compile_s / saved


# (arch, cpu kind) -> measured speed-up. Filled only from bench/step_ab.py runs (cl vs cl+compile, interleaved);
# see README "Figures per CPU kind" for the load each was measured at. A pair missing here, or one whose
# speed-up is below 1 (it never pays back), is eager under --compile auto.
COMPILE_WINS: dict[tuple[str, str], CompileWin] = {
    # emulated AVX2, 2 threads, b256 channels-last: 0.95× (median of 12 interleaved rounds, load 7; the lead's
    # quiet run: 1063 vs 1120 img/s, also 0.95×), ~15 s of compilation from a warm inductor cache, 0.23 s
    # eager steps on a quiet machine. Compiling only BatchNorm + ReLU (the conv eager) measured 0.52×.
    ("small_cnn", "avx2"): CompileWin(speedup=0.95, compile_s=15.0, eager_step_s=0.23),
}


def compiler_available() -> str | None:
    """None when ``torch.compile`` with inductor can run here, else why not (one line)."""
    try:
        import torch._dynamo  # noqa: F401
        import torch._inductor  # noqa: F401
    except Exception as e:  # a build without the compiler stack
        return f"torch.compile is not available in this torch ({e.__class__.__name__})"
    if not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
        return "torch.compile's inductor needs a C++ compiler (g++ or clang++) on the PATH"
    return None


def check_mode(mode: str) -> str:
    """``--compile``'s value, lower-cased; one ConfigError line for anything else."""
    from pictorch.errors import ConfigError

    m = str(mode).strip().lower()
    if m not in MODES:
        raise ConfigError(f"--compile takes off, on or auto, got {mode!r}")
    return m


def should_compile(mode: str, arch: str | None, steps: int, kind: str | None = None) -> bool:
    """Whether a module of registered architecture ``arch`` trained for ``steps`` steps gets compiled.

    ``auto``: only where :data:`COMPILE_WINS` has a win for (arch, CPU kind) that pays its compilation back
    twice within the run. ``on`` raises a ConfigError where the compiler is unavailable.
    """
    from pictorch.errors import ConfigError

    m = check_mode(mode)
    if m == "off":
        return False
    if m == "on":
        why = compiler_available()
        if why:
            raise ConfigError(f"--compile on: {why}; use --compile off")
        return True
    if arch is None or not any(a == arch for a, _ in COMPILE_WINS):
        return False  # decided without importing the compiler stack (seconds) for every eager run
    if kind is None:
        from pictorch.utils import cpu_kind

        kind = cpu_kind()["kind"]
    win = COMPILE_WINS.get((arch, kind))
    return win is not None and steps >= 2 * win.pays_after() and compiler_available() is None


def compile_modules(modules: dict[str, nn.Module], mode: str, steps: int, device_type: str = "cpu"
                    ) -> dict[str, nn.Module]:
    """The modules with those :func:`should_compile` picks wrapped in ``torch.compile`` (others as given).

    Only modules with trainable parameters are compiled (the ones the step differentiates through); the
    checkpoint code unwraps ``_orig_mod``, so saved weights keep their keys. ``auto`` decides on CPU runs only
    (the table is measured on CPUs).
    """
    import torch

    from pictorch.engine.checkpoint import module_spec

    out = {}
    for name, m in modules.items():
        spec = module_spec(m) or {}
        trainable = any(p.requires_grad for p in m.parameters())
        arch = spec.get("arch")
        auto_ok = device_type == "cpu" or check_mode(mode) != "auto"
        if trainable and auto_ok and should_compile(mode, arch, steps):
            out[name] = torch.compile(m)
        else:
            out[name] = m
    return out


def summary(modules: dict[str, Any]) -> list[str]:
    """Names of the compiled modules."""
    return [k for k, m in modules.items() if hasattr(m, "_orig_mod") or hasattr(getattr(m, "_forward_module", None),
                                                                               "_orig_mod")]
