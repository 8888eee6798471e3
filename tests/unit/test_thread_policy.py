"""Every train command applies ``--threads`` through the one engine policy (``engine.threads``).

``parse_threads`` is replaced by one that records its argument and stops the command with a ConfigError: each
train command must reach it (before any training) with the value typed, and end with that one ``error:`` line.
"""

from __future__ import annotations

import pytest

from pictorch.engine import threads as engine_threads
from pictorch.errors import ConfigError

TRAIN_COMMANDS = [["classify", "train"], ["gan", "train"], ["autoencode", "train"], ["identify", "train"],
                  ["segment", "train"], ["translate", "train"], ["stylize", "train", "style.png"]]


@pytest.mark.parametrize("command", TRAIN_COMMANDS, ids=lambda c: " ".join(c))
def test_train_command_uses_engine_thread_policy(command, monkeypatch, tmp_path, capsys):
    from pictorch.cli import main

    seen: list[object] = []

    def recording(spec):
        seen.append(spec)
        raise ConfigError("thread policy reached")

    monkeypatch.setattr(engine_threads, "parse_threads", recording)
    with pytest.raises(SystemExit) as ex:
        main([*command, "--threads", "3", "--out", str(tmp_path / "run"), "--steps", "1"])
    err = capsys.readouterr().err
    assert seen and str(seen[0]) == "3", err
    assert ex.value.code != 0 and err.strip() == "error: thread policy reached"


def test_no_straggler_sets_threads_outside_the_policy():
    """Only engine/threads.py (and cli_common.set_threads, which calls its parser) set torch's thread count."""
    from pathlib import Path

    import pictorch

    root = Path(pictorch.__file__).parent
    allowed = {root / "engine" / "threads.py", root / "cli_common.py",
               root / "tasks" / "identify" / "demo.py"}  # the demo's busy-CPU fallback, before any option
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p not in allowed and "torch.set_num_threads(" in p.read_text()]
    assert offenders == []
