"""Error hierarchy: every failure a user can cause maps to one line and one exit code.

The CLI catches :class:`ForgetalkError` and prints ``str(err)``; anything else is a bug
and is allowed to surface with a traceback.
"""

from __future__ import annotations

# Exit codes are part of the CLI contract (documented in the README).
EXIT_OK = 0
EXIT_FAILED = 1  # analysis ran but some input failed (scan) / internal failure
EXIT_USAGE = 2  # click's own code for bad arguments
EXIT_BAD_INPUT = 3  # the input file cannot be used as an image
EXIT_NO_FACE = 4  # valid image, but no face to analyse
EXIT_WEIGHTS = 5  # weights missing or hash mismatch
EXIT_OUTPUT = 6  # an output could not be written
EXIT_INTEGRITY = 7  # an input changed while being analysed / verify found changes
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it); a scan resumes when re-run


class ForgetalkError(Exception):
    """Base class; ``exit_code`` tells the CLI what to return."""

    exit_code = EXIT_FAILED


class UsageError(ForgetalkError):
    """The command cannot run as asked (a path collision, a folder from other parameters, a lock):
    exit 2 like click's own argument errors, so scripts tell "asked wrongly" from "failed"."""

    exit_code = EXIT_USAGE


class InputError(ForgetalkError):
    """The input is unreadable, not an image, corrupt, truncated or too large."""

    exit_code = EXIT_BAD_INPUT


class ImageTooLargeError(InputError):
    """The declared pixel count exceeds the decompression-bomb limit."""


class NoFaceError(ForgetalkError):
    """Raised only where a face is mandatory (e.g. training); analysis reports it as a result."""

    exit_code = EXIT_NO_FACE


class WeightsError(ForgetalkError):
    """A weights file is absent or does not match its manifest."""

    exit_code = EXIT_WEIGHTS


class OutputError(ForgetalkError):
    """An output path cannot be created or written."""

    exit_code = EXIT_OUTPUT


class IntegrityError(ForgetalkError):
    """Evidence changed on disk while we held it."""

    exit_code = EXIT_INTEGRITY


class EngineError(ForgetalkError):
    """An engine could not be built or run (bad name, missing dependency)."""

    exit_code = EXIT_FAILED


class UnknownNameError(EngineError):
    """An engine or face backend name that is not registered: a usage error, not a failure."""

    exit_code = EXIT_USAGE


def caused_by_interrupt(exc: BaseException) -> bool:
    """True if Ctrl-C is somewhere in ``exc``'s chain: a KeyboardInterrupt raised while a C
    extension imports (numpy under OpenCV) reaches us as an ImportError whose cause it is."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False
