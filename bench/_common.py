"""What every bench prints beside its figures: the CPU, the ISA its kernels use, threads and the load.

Figures from a shared machine mean little alone: each bench prints :func:`env_line` at its start (and
:func:`load` beside each figure), so a README can quote a figure per CPU kind. An AVX2-only CPU without
native bf16 is emulated on a bigger one with ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``; the line
then says "capped by env (emulated AVX2)".

    from _common import env_line, load   # bench/ is on sys.path when a bench runs as `python bench/x.py`
    print(env_line())
"""

from __future__ import annotations

import os
import time


def load() -> str:
    """The 1/5/15-minute load averages as ``load 3.10 2.50 2.00`` (``load ?`` where unavailable)."""
    try:
        return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load ?"


def cpu_model() -> str:
    """The CPU's name (``model name`` of /proc/cpuinfo, via :func:`pictorch.utils.cpu_kind`)."""
    from pictorch.utils import cpu_kind

    return cpu_kind()["model"]


def cpu_line() -> str:
    """``AMD EPYC, ISA AVX2 (capped by env: emulated AVX2 on an AVX-512 CPU), bf16 emulated``."""
    from pictorch.utils import cpu_kind

    k = cpu_kind()
    cap = (f" (capped by env: emulated {k['isa']} on an {k['native_isa']} CPU)" if k["capped"] else "")
    return f"{k['model']}, ISA {k['isa']}{cap}, bf16 {'native' if k['bf16_native'] else 'emulated'}"


def env_line(threads: int | None = None) -> str:
    """One line: torch version, CPU and ISA, torch threads (or ``threads``), cores, load, UTC time."""
    import torch

    n = torch.get_num_threads() if threads is None else threads
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (f"torch {torch.__version__}; {cpu_line()}; {n} thread(s) of {os.cpu_count()} CPUs; {load()}; "
            f"{stamp}")


def matmul_peak(dtype: object, n: int = 2048, seconds: float = 2.0) -> float:
    """Best FLOP/s of repeated ``n×n @ n×n`` products over about ``seconds`` (after one warm-up product).

    The best single product, not the mean: on a shared machine the best is the closest to an unshared core.
    """
    import torch

    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    c = a @ b
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        torch.matmul(a, b, out=c)
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best
