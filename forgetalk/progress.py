"""Progress display policy: rich bars on an interactive terminal, silence elsewhere.

One function decides, so every command behaves the same under CI, pipes and --no-progress.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


def progress_enabled(no_progress: bool = False) -> bool:
    if no_progress or os.environ.get("CI") or os.environ.get("FORGETALK_NO_PROGRESS"):
        return False
    return Console(file=sys.stderr).is_interactive


@contextmanager
def stage_progress(show: bool) -> Iterator[Callable[[str], None]]:
    """Yield ``stage(text)`` that updates a spinner on stderr when ``show``; a no-op otherwise."""
    if not show:
        yield lambda _text: None
        return
    console = Console(file=sys.stderr)
    with console.status("starting") as status:
        yield lambda text: status.update(text)
