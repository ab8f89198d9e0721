"""The ``forgetalk`` console script: :func:`run` imports the CLI, then runs it.

Why a module of its own: the console script used to import :mod:`forgetalk.cli` directly, and a
Ctrl-C during those imports (the first few tenths of a second) ended in a traceback, before
:class:`~forgetalk.cli.ForgetalkGroup` could turn it into its one line and exit code 130. Ctrl-C
is counted from the first line on (:func:`~forgetalk.errors.record_interrupts`), so an interrupt
that a C extension's import swallowed into a bare ImportError still reads as one.
"""

from __future__ import annotations

import sys

from .errors import EXIT_INTERRUPTED, caused_by_interrupt, record_interrupts


def run() -> None:
    record_interrupts()
    try:
        from .cli import main
    except BaseException as exc:  # Ctrl-C, bare or swallowed into a library's ImportError
        if not caused_by_interrupt(exc):
            raise
        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    main()
