"""A stand-in for :func:`pictorch.viz.progress.progress_bar` that records what a CLI verb reports (the real bar
draws only on a terminal, which a test is not)."""

from __future__ import annotations

import contextlib


def spy_progress(monkeypatch) -> dict[str, list[tuple[int, int]]]:
    """Replace the progress bar; returns ``{label: [(done, total), ...]}`` filled as verbs report."""
    import pictorch.viz.progress as vp

    seen: dict[str, list[tuple[int, int]]] = {}

    @contextlib.contextmanager
    def bar(label: str, min_items: int = vp.MIN_ITEMS):
        calls = seen.setdefault(label, [])
        yield lambda done, total: calls.append((done, total))

    monkeypatch.setattr(vp, "progress_bar", bar)
    return seen


def finished(calls: list[tuple[int, int]]) -> bool:
    """The calls end at done == total > 0 and never go backwards."""
    return bool(calls) and calls[-1][0] == calls[-1][1] > 0 and all(
        a[0] <= b[0] for a, b in zip(calls, calls[1:], strict=False))
