"""The precision default on both kinds of CPU: bf16-mixed where bf16 is native, fp32 where it is emulated."""

from __future__ import annotations

import pytest
import torch

from pictorch import utils
from pictorch.engine.config import TrainConfig
from pictorch.engine.trainer import make_fabric

AVX2_EPYC = "flags : fpu sse sse2 ssse3 fma avx avx2 bmi2\n"
SAPPHIRE = "flags : fpu sse avx2 avx512f avx512bw avx512_bf16 amx_tile amx_bf16\n"
COOPER = "flags : fpu sse avx2 avx512f avx512bw avx512_bf16\n"


@pytest.fixture
def cpu(monkeypatch):
    """Pretend to run on a CPU with the given /proc/cpuinfo flags and ATen capability, without CUDA."""
    def use(flags: str, capability: str) -> None:
        monkeypatch.setattr(utils, "_cpu_flags", lambda: flags)
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return use


@pytest.mark.parametrize("flags,capability,native", [
    (AVX2_EPYC, "AVX2", False),
    (AVX2_EPYC, "DEFAULT", False),
    ("", "AVX2", False),            # no /proc/cpuinfo (macOS, containers without it)
    (COOPER, "AVX512", True),
    (SAPPHIRE, "AVX512", True),
    ("", "AMX", True),              # only the ATen probe knows
])
def test_auto_precision_follows_native_bf16(cpu, monkeypatch, flags, capability, native):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    cpu(flags, capability)
    assert utils.cpu_supports_bf16() is native
    assert utils.auto_precision("auto") == ("bf16-mixed" if native else "32-true")
    assert utils.auto_precision("cpu") == ("bf16-mixed" if native else "32-true")
    assert utils.precision_is_emulated("bf16-mixed", "cpu") is (not native)
    assert not utils.precision_is_emulated("32-true", "cpu")


@pytest.mark.parametrize("cap,native", [("AVX2", False), ("AVX512_CORE", False), ("avx512_core_bf16", True),
                                        ("AVX512_CORE_AMX", True), ("ALL", True)])
def test_onednn_capped_below_bf16_means_emulated(cpu, monkeypatch, cap, native):
    """``ONEDNN_MAX_CPU_ISA=AVX2`` on a bf16 CPU behaves as an AVX2-only CPU: bf16 would be emulated."""
    cpu(SAPPHIRE, "AVX512")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert utils.cpu_supports_bf16() is native
    assert utils.auto_precision("cpu") == ("bf16-mixed" if native else "32-true")


@pytest.mark.parametrize("flags,expected", [(AVX2_EPYC, "32-true"), (COOPER, "bf16-mixed")])
def test_fabric_gets_the_auto_precision(cpu, monkeypatch, tmp_path, flags, expected):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    cpu(flags, "AVX2")
    fabric = make_fabric(TrainConfig(out_dir=str(tmp_path), accelerator="cpu", precision="auto"))
    assert fabric._precision.precision == expected


def test_explicit_bf16_on_an_emulating_cpu_is_honoured_with_a_note(cpu, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    cpu(AVX2_EPYC, "AVX2")
    fabric = make_fabric(TrainConfig(out_dir=str(tmp_path), accelerator="cpu", precision="bf16-mixed"))
    assert fabric._precision.precision == "bf16-mixed"
    notes = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]  # (Lightning logs too)
    assert len(notes) == 1 and notes[0].startswith("note: --precision bf16-mixed on a CPU without native bf16")
    cpu(COOPER, "AVX512")
    make_fabric(TrainConfig(out_dir=str(tmp_path), accelerator="cpu", precision="bf16-mixed"))
    assert not [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
