"""One progress bar for every long job that is not a training run (those have the trainer's ProgressHook):
enrolling, embedding, evaluating, calibrating, building a search index, applying a model over a folder.

The work reports through a plain callback ``progress(done, total)``, so API functions take ``progress=None`` and
stay free of any terminal code; the CLI opens :func:`progress_bar` and passes its callback in. The bar goes to
stderr (stdout stays clean for ``--json`` and pipes), only on a terminal, and never with ``pictorch --quiet``
(``PICTORCH_QUIET=1``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

Progress = Callable[[int, int], None]
T = TypeVar("T")

#: Jobs shorter than this many items finish before a bar is worth drawing.
MIN_ITEMS = 20


def quiet() -> bool:
    """Whether progress output is off: ``pictorch --quiet`` / ``PICTORCH_QUIET=1``, or stderr is no terminal."""
    return os.environ.get("PICTORCH_QUIET", "") not in ("", "0") or not sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(label: str, min_items: int = MIN_ITEMS) -> Iterator[Progress | None]:
    """A rich bar (label, bar, done/total, ETA) on stderr; yields its ``progress(done, total)`` callback, or None
    when quiet (callers pass the value on as is: every ``progress`` parameter accepts None)."""
    if quiet():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("eta"), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            if total >= min_items:
                bar.update(task, completed=done, total=total)

        yield update


class Tally:
    """One bar over a job made of several parts (decode the files, then run the model over them): each part
    reports what it finished through :meth:`add`, and ``progress(done, total)`` sees the sum.

    Args:
        progress: The callback (None: a no-op tally).
        total: Units of work of the whole job.
    """

    def __init__(self, progress: Progress | None, total: int):
        self.progress = progress
        self.total = max(int(total), 0)
        self.done = 0
        if progress is not None:
            progress(0, self.total)

    def add(self, n: int = 1) -> None:
        """``n`` more units are done."""
        self.done += int(n)
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def part(self, offset: int) -> Progress | None:
        """A ``progress(done, total)`` callback for a part whose units start at ``offset`` of the job."""
        if self.progress is None:
            return None

        def update(done: int, _total: int) -> None:
            self.done = offset + done
            self.progress(min(self.done, self.total), self.total)  # type: ignore[misc]
        return update


def phase(progress: Progress | None, index: int, count: int) -> Progress | None:
    """A callback for phase ``index`` of ``count`` equally long phases over the same items (read N files, run
    the model over N images, write N pictures): one bar from 0 to ``count · N``, before N is known."""
    if progress is None:
        return None

    def update(done: int, total: int) -> None:
        progress(index * total + done, count * total)  # type: ignore[misc]
    return update


def track(items: Iterable[T], progress: Progress | None, total: int | None = None) -> Iterator[T]:
    """Iterate ``items``, reporting ``progress(done, total)`` after each (a no-op without a callback)."""
    if progress is None:
        yield from items
        return
    seq: Any = items if total is not None else list(items)
    n = total if total is not None else len(seq)
    progress(0, n)
    for i, item in enumerate(seq, 1):
        yield item
        progress(i, n)
