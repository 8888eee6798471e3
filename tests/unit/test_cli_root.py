"""Root CLI: light import, help lists capabilities, user errors become one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pictorch", *args], env=ENV, capture_output=True, text=True,
                          timeout=120)


def test_import_and_help_do_not_import_torch():
    code = "import sys, pictorch, pictorch.cli; pictorch.cli._mount(); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_help_lists_commands():
    r = _run("--help")
    assert r.returncode == 0
    for word in ("info", "demo"):
        assert word in r.stdout


def test_info_reports_versions_and_bf16():
    r = _run("info")
    assert r.returncode == 0, r.stderr
    assert "torch" in r.stdout and "cpu bf16" in r.stdout and "default precision" in r.stdout


def test_user_error_is_one_line_exit_2(tmp_path):
    import pytest

    from pictorch.cli import _handle
    from pictorch.errors import CheckpointError

    with pytest.raises(SystemExit) as e:
        _handle(CheckpointError(f"{tmp_path}/x.safetensors: no such checkpoint file"), debug=False)
    assert e.value.code == 2


def test_unknown_command_exit_nonzero():
    r = _run("no-such-capability")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr


def test_one_create_model_finds_task_models_in_a_fresh_process():
    """registry.create_model knows task models without pictorch.create_model having run first (bug: it did not)."""
    import subprocess
    import sys

    code = ("from pictorch.registry import create_model, list_models; m = create_model('gan.dcgan_g', z_dim=8, "
            "ngf=8, channels=1, image_size=28); print(type(m).__name__, len(list_models('gan.*')) > 1)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == "True"


def test_models_lists_by_wildcard(capsys):
    from pictorch import cli

    cli._mount()
    cli.app(args=["models", "resnet*"], prog_name="pictorch", standalone_mode=False)
    names = capsys.readouterr().out.split()
    assert "resnet18" in names and all(n.startswith("resnet") for n in names)
    import pictorch

    assert pictorch.list_models("resnet*") == names
