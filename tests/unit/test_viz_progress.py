"""The shared progress helper: callbacks counted right, quiet off a terminal and with ``pictorch --quiet``."""

from __future__ import annotations

from pictorch.viz.progress import progress_bar, quiet, track


def test_track_reports_every_item():
    seen: list[tuple[int, int]] = []
    assert list(track(iter("abc"), lambda d, t: seen.append((d, t)))) == ["a", "b", "c"]
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert list(track([1, 2], None)) == [1, 2]
    seen.clear()
    assert list(track((x for x in range(2)), lambda d, t: seen.append((d, t)), total=2)) == [0, 1]
    assert seen[-1] == (2, 2)


def test_quiet_without_a_terminal_or_when_asked(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    monkeypatch.delenv("PICTORCH_QUIET", raising=False)
    assert not quiet()
    monkeypatch.setenv("PICTORCH_QUIET", "1")
    assert quiet()
    with progress_bar("x") as cb:
        assert cb is None


def test_root_quiet_flag_sets_the_switch(monkeypatch, capsys):
    import os

    from pictorch.cli import main

    monkeypatch.delenv("PICTORCH_QUIET", raising=False)
    try:
        main(["--quiet", "info"])
    except SystemExit as e:
        assert not e.code
    assert os.environ.get("PICTORCH_QUIET") == "1"
    monkeypatch.delenv("PICTORCH_QUIET", raising=False)
