"""The ``forgetalk`` console script: :func:`run` imports the CLI, then runs it.

Why a module of its own: the console script used to import :mod:`forgetalk.cli` directly, and a
Ctrl-C during those imports (the first few tenths of a second) ended in a traceback, before
:class:`~forgetalk.cli.ForgetalkGroup` could turn it into its one line and exit code 130. Ctrl-C
is counted from the first line on (:func:`~forgetalk.errors.record_interrupts`), so an interrupt
that a C extension's import swallowed into a bare ImportError still reads as one.
"""

from __future__ import annotations

import signal
import sys
import warnings

from .errors import EXIT_INTERRUPTED, caused_by_interrupt, one_line_warning, record_interrupts


def run() -> None:
    record_interrupts()
    warnings.showwarning = one_line_warning
    try:
        from .cli import main
    except BaseException as exc:  # Ctrl-C, bare or swallowed into a library's ImportError
        if not caused_by_interrupt(exc):
            raise
        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    try:
        main()  # always ends in SystemExit with the command's code (its outputs written, or its one error line printed)
    finally:
        ignore_late_ctrl_c()


def ignore_late_ctrl_c() -> None:
    """Ignore Ctrl-C from here on: the command is over and its exit code decided.

    Why: Python's shutdown puts SIGINT back to the default action before the process ends, so a
    Ctrl-C in those last milliseconds killed the process silently (status -SIGINT, 130 to a shell)
    after a scan had finished and written its index: an interrupted-looking end to completed work,
    seen when a terminal's Ctrl-C met a short scan's exit. An ignored signal stays ignored through
    the shutdown (Python restores only handlers it installed itself). The console script only:
    library callers and tests keep their own handler.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
