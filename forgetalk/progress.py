"""Progress display policy: rich bars on an interactive terminal, silence elsewhere.

One function decides, so every command behaves the same under CI, pipes and --no-progress.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# rich is imported only where a display may be shown: it is about 33 ms of a fresh command's
# start-up on 2 cores, which a run under CI, a pipe or --no-progress does not need to pay.


def progress_enabled(no_progress: bool = False) -> bool:
    if no_progress or os.environ.get("CI") or os.environ.get("FORGETALK_NO_PROGRESS"):
        return False
    from rich.console import Console

    return Console(file=sys.stderr).is_interactive


@contextmanager
def stage_progress(show: bool) -> Iterator[Callable[[str], None]]:
    """Yield ``stage(text)`` that updates a spinner on stderr when ``show``; a no-op otherwise."""
    if not show:
        yield lambda _text: None
        return
    from rich.console import Console

    console = Console(file=sys.stderr)
    with console.status("starting") as status:
        yield lambda text: status.update(text)


@contextmanager
def count_progress(show: bool, total: int, label: str) -> Iterator[Callable[[], None]]:
    """Yield ``advance()`` for a bar of ``total`` steps on stderr when ``show``; a no-op otherwise."""
    if not show:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
