"""`pictorch serve keys` and `serve run`'s refusals, as a user types them (one process each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pictorch", "serve", *args], env=ENV, capture_output=True,
                          text=True, timeout=120)


def test_keys_create_prints_once_stores_hash_and_run_refuses_without_keys(tmp_path):
    g = str(tmp_path / "people.gallery")
    r = _run("run", "--gallery", g, "--model", "dlib-face")
    assert r.returncode == 2 and r.stderr.strip().startswith("error: no API keys")
    assert "keys create" in r.stderr and len(r.stderr.strip().splitlines()) == 1

    r = _run("keys", "create", "--gallery", g, "--scope", "read", "--note", "door")
    assert r.returncode == 0, r.stderr
    secret = r.stdout.strip()
    assert secret.startswith("ptk_") and "only time" in r.stderr
    stored = Path(g + ".keys.json").read_text()
    assert secret not in stored and json.loads(stored)["keys"][0]["scope"] == "read"
    r = _run("keys", "list", "--gallery", g)
    assert "read" in r.stdout and "door" in r.stdout and secret not in r.stdout

    r = _run("keys", "create", "--gallery", g, "--scope", "admin")
    assert r.returncode == 2 and "choose read or write" in r.stderr
    r = _run("run", "--gallery", g)  # no gallery yet and no model to create it with
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    r = _run("keys", "revoke", "nope", "--gallery", g)
    assert r.returncode == 2 and "no key" in r.stderr
