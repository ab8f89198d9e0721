"""The ``forgetalk`` console script: :func:`run` imports the CLI, then runs it.

Why a module of its own: the console script used to import :mod:`forgetalk.cli` directly, and a
Ctrl-C during those imports (the first few tenths of a second) ended in a traceback, before
:class:`~forgetalk.cli.ForgetalkGroup` could turn it into its one line and exit code 130.
"""

from __future__ import annotations

import sys

from .errors import EXIT_INTERRUPTED, caused_by_interrupt


def run() -> None:
    try:
        from .cli import main
    except BaseException as exc:  # Ctrl-C, bare or wrapped in a library's ImportError
        if not caused_by_interrupt(exc):
            raise
        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    main()
