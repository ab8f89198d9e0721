"""Error hierarchy: every failure a user can cause maps to one line and one exit code.

The CLI catches :class:`ForgetalkError` and prints ``str(err)``; anything else is a bug
and is allowed to surface with a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

# Exit codes are part of the CLI contract (documented in the README).
EXIT_OK = 0
EXIT_FAILED = 1  # analysis ran but some input failed (scan) / internal failure
EXIT_USAGE = 2  # click's own code for bad arguments
EXIT_BAD_INPUT = 3  # the input file cannot be used as an image
EXIT_NO_FACE = 4  # valid image, but no face to analyse
EXIT_WEIGHTS = 5  # weights missing or hash mismatch
EXIT_OUTPUT = 6  # an output could not be written
EXIT_INTEGRITY = 7  # an input changed while being analysed / verify found changes
EXIT_SELF_TEST = 8  # the known-answer self-test did not reproduce the recorded answers
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


class OutOfMemory(ForgetalkError):
    """The machine ran out of memory on a usable input (decoding it): exit 1, as any out-of-memory
    end is, not 3 (the file is not at fault), and a scan retries it on its next run."""

    exit_code = EXIT_FAILED


class SelfTestError(ForgetalkError):
    """The known-answer self-test failed or could not compare: this installation's answers on the
    reference photos are not the recorded ones, so its answers on evidence are not vouched for."""

    exit_code = EXIT_SELF_TEST


class EngineError(ForgetalkError):
    """An engine could not be built or run (bad name, missing dependency)."""

    exit_code = EXIT_FAILED


class UnknownNameError(EngineError):
    """An engine or face backend name that is not registered: a usage error, not a failure."""

    exit_code = EXIT_USAGE


class DeviceError(EngineError):
    """``--device cuda`` on a machine where torch sees no CUDA GPU (or has no CUDA support): the
    option asks for what this machine lacks, so it is a usage error the analyst fixes by choosing
    ``--device cpu``, not an internal failure (exit 1 said "internal error")."""

    exit_code = EXIT_USAGE


_interrupts_seen = 0  # Ctrl-Cs counted by :func:`record_interrupts`'s handler in this process
_IMPORT_RETRY_S = 0.05  # how often a Ctrl-C held during an import looks again


def _importing(frame: Any) -> bool:
    """True if ``frame`` runs inside an import (importlib's frozen bootstrap is on the stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def record_interrupts() -> None:
    """Install the console script's Ctrl-C handler: it counts each Ctrl-C and holds it while a
    module imports, raising KeyboardInterrupt as soon as the import is done.

    Why: a KeyboardInterrupt raised inside a C extension's import (numpy's ``_multiarray_umath``
    under OpenCV or onnxruntime) is printed by the extension as a traceback and replaced by a bare
    ``ImportError: numpy.core.multiarray failed to import`` that holds no trace of it, so no
    ``except`` clause can tell it from a broken install and the user sees a traceback. Held for
    the rest of the import (tenths of a second, rechecked every 50 ms on SIGALRM) it arrives
    whole; the count lets :func:`caused_by_interrupt` recognise one that got swallowed anyway.
    Installed by the console script only (main thread); library users keep their own handler.

    Not installed when the process started with Ctrl-C ignored: a non-interactive shell starts its
    background jobs (``forgetalk scan DIR &`` in a script, ``nohup``) that way so that a Ctrl-C
    meant for the script does not stop them, and Python itself leaves such a signal ignored; the
    handler used to override it, so the job stopped with exit 130 instead.
    """
    import atexit
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        return

    def interrupt(_signum: int, frame: Any) -> None:
        if _importing(frame) and hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, _IMPORT_RETRY_S)
            return
        raise KeyboardInterrupt

    def on_ctrl_c(signum: int, frame: Any) -> None:
        global _interrupts_seen
        _interrupts_seen += 1
        interrupt(signum, frame)

    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, interrupt)  # only ever armed by a held Ctrl-C
        # A held Ctrl-C may already have ended the command (exit 130 from the import's error):
        # disarm, or the timer's SIGALRM would kill the exiting process with its default action.
        atexit.register(signal.setitimer, signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGINT, on_ctrl_c)


def caused_by_interrupt(exc: BaseException) -> bool:
    """True if Ctrl-C ended ``exc``: it was pressed in this process (see :func:`record_interrupts`),
    or a KeyboardInterrupt is somewhere in ``exc``'s chain (a library that wraps it in its own
    ImportError keeps it as the cause)."""
    if _interrupts_seen:
        return True
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: object = None, line: str | None = None) -> None:  # noqa: ARG001
    """Print a warning as the CLI prints everything for the analyst: one ``warning: ...`` line.

    Why: Python's default shows the warning's file and line and then that line of source
    (``forgetalk/registry.py:75: RuntimeWarning: ...`` and ``return entry.load()(**kwargs)``),
    internals that mean nothing to an analyst, ahead of the command's own ``error:`` line. The
    console script and its scan workers only (``forgetalk.scan.worker.init_worker``); library
    callers keep Python's handling."""
    text = str(message).strip().splitlines()
    sys.stderr.write(f"warning: {text[0] if text else category.__name__}\n")
