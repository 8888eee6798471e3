"""The house rules, read from the source (every import, module-level or lazy inside a function):

- shared floors (data nn losses metrics engine gallery viz) never import ``pictorch.tasks`` or ``pictorch.serve``;
- a task imports another task only through its ``api`` module (its façade);
- the engine does not import the package face (``import pictorch`` / ``from pictorch import ...``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pictorch"
FLOORS = ("data", "nn", "losses", "metrics", "engine", "gallery", "viz")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every import in a file, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    pkg = ".".join(("pictorch", *path.relative_to(SRC).with_suffix("").parts[:-1]))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            # "from pictorch.tasks.classify import api" reaches pictorch.tasks.classify.api (a module or a name
            # defined there: either way the rules judge the full path)
            out += [(node.lineno, f"{base}.{a.name}" if base.startswith("pictorch") else base) for a in node.names]
    return out


def _files(*parts: str) -> list[Path]:
    return sorted((SRC.joinpath(*parts)).rglob("*.py"))


def _violations(rule) -> list[str]:
    bad = []
    for f in _files():
        for line, mod in _imports(f):
            why = rule(f.relative_to(SRC), mod)
            if why:
                bad.append(f"{f.relative_to(SRC.parent)}:{line} imports {mod}: {why}")
    return bad


def floors_never_import_tasks(rel: Path, mod: str) -> str | None:
    if rel.parts[0] in FLOORS and mod.startswith(("pictorch.tasks", "pictorch.serve")):
        return "shared floors never import tasks/ or serve/"
    return None


def tasks_meet_through_api(rel: Path, mod: str) -> str | None:
    if rel.parts[0] != "tasks" or len(rel.parts) < 3 or not mod.startswith("pictorch.tasks."):
        return None
    other = mod.split(".")
    if other[2] == rel.parts[1] or other[2] in ("__init__", "MODEL_MODULES"):
        return None
    if len(other) >= 4 and other[3] == "api":
        return None
    return f"another task is reached only through pictorch.tasks.{other[2]}.api"


def engine_without_package_face(rel: Path, mod: str) -> str | None:
    if rel.parts[0] == "engine" and (mod == "pictorch" or mod.startswith(("pictorch.__init__", "pictorch.version",
                                                                          "pictorch.cli"))):
        return "the engine does not import the package face or the CLI"
    return None


@pytest.mark.parametrize("rule", [floors_never_import_tasks, tasks_meet_through_api, engine_without_package_face])
def test_import_contract(rule):
    assert _violations(rule) == []


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The contract test itself can fail: a lazy import inside a function of a floor is caught."""
    bad = SRC / "metrics" / "_contract_probe_tmp.py"
    bad.write_text("def f():\n    from pictorch.tasks.classify import steps\n    from ..tasks import generate\n")
    try:
        found = [v for v in _violations(floors_never_import_tasks) if "_contract_probe_tmp" in v]
    finally:
        bad.unlink()
    assert len(found) == 2
