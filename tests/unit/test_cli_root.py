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
