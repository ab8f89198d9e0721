"""Click entry point: the group, its global options and the one error path.

Every sub-command lives in :mod:`forgetalk.commands` (one module, one ``command`` object)
and is attached here. Commands raise; they do not print errors. :class:`ForgetalkGroup`
turns every project error (:class:`~forgetalk.errors.ForgetalkError`) and every usage error
(Click's) into one line on stderr, ``error: ...``, and the documented exit code, so no user
mistake ends in a traceback. With ``--json`` the same error is also printed on stdout as
``{"status": "error", "error": ..., "exit_code": ...}``, so a machine reading stdout always
gets one JSON document. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .commands.options import JSON_META, json_text
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, ForgetalkError, caused_by_interrupt
from .terminal import terminal_text
from .weights import ENV_WEIGHTS

# Sub-command modules in forgetalk/commands/, attached in this order (help lists them sorted).
SUBCOMMANDS = ("analyze", "scan", "verify", "selftest", "engines", "weights", "train", "evaluate")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(message: str, code: int, as_json: bool) -> None:
    """Print the single error line (and the JSON document with --json) and exit with ``code``.

    The terminal's line escapes control characters (an error often quotes the evidence's file
    name, which could otherwise carry an ESC sequence to the terminal); the JSON keeps the text."""
    line = _one_line(message)
    if as_json:
        click.echo(json_text({"status": "error", "error": line, "exit_code": code}))
    click.echo(f"error: {terminal_text(line)}", err=True)
    sys.exit(code)


def _stdout_gone() -> bool:
    """True if stdout is a pipe whose reader has gone: the one broken pipe that is not an error
    (a worker pool's broken pipe is, and gets its line instead of a silent exit 1)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll on this platform, or stdout is not a real file
        return True


def _wants_json(ctx: click.Context | None, args: list[str]) -> bool:
    if ctx is not None and ctx.meta.get(JSON_META):
        return True
    return "--json" in args


class ForgetalkGroup(click.Group):
    """A Click group whose ``main`` is the single place errors become one line + exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ForgetalkError as err:
            if caused_by_interrupt(err):  # e.g. a missing-dependency error made of an import that Ctrl-C cut short
                _error("interrupted", EXIT_INTERRUPTED, _wants_json(ctx, []))
            _error(str(err), err.exit_code, _wants_json(ctx, []))
        except click.ClickException:
            raise
        except KeyboardInterrupt:  # Ctrl-C: the shell's code for SIGINT, one line (outputs are written all at once or not at all)
            _error("interrupted", EXIT_INTERRUPTED, _wants_json(ctx, []))
        except MemoryError:  # the machine's limit, not a bug: one line saying what to lower, not a traceback
            _error("out of memory: the machine ran out while working (lower --max-pixels, --max-faces or --workers, "
                   "or close other programs); nothing was written", EXIT_FAILED, _wants_json(ctx, []))
        except OSError as err:  # e.g. an unreadable folder passed straight to a command: a user problem, not a bug
            if isinstance(err, BrokenPipeError) and _stdout_gone():
                raise  # `forgetalk ... | head`: the reader left; Click exits quietly
            if caused_by_interrupt(err):
                _error("interrupted", EXIT_INTERRUPTED, _wants_json(ctx, []))
            _error(f"{err.filename or ''}: {err.strerror or err}".lstrip(": "), EXIT_FAILED, _wants_json(ctx, []))
        except Exception as err:
            if caused_by_interrupt(err):  # Ctrl-C while a library was importing, swallowed into its ImportError
                _error("interrupted", EXIT_INTERRUPTED, _wants_json(ctx, []))
            raise  # anything else is a bug and keeps its traceback
        return None

    def main(self, args: list[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,  # type: ignore[override]
             standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(argv, prog_name or "forgetalk", complete_var, standalone_mode=False, **extra)
        except click.ClickException as err:
            hint = ""
            if isinstance(err, click.UsageError) and err.ctx is not None:
                hint = f" (see `{err.ctx.command_path} --help`)"
            _error(err.format_message() + hint, err.exit_code if err.exit_code else EXIT_USAGE, "--json" in argv)
        except click.Abort as err:  # Ctrl-C while Click parses (its own handler already left a blank line), or a declined prompt
            interrupted = caused_by_interrupt(err)
            click.echo("error: interrupted" if interrupted else "error: aborted", err=True)
            sys.exit(EXIT_INTERRUPTED if interrupted else EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=ForgetalkGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forgetalk")
@click.option("--weights-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, envvar=ENV_WEIGHTS, show_envvar=True,
              help="Folder of user-placed weights (one sub-folder per component); shipped weights are read from the package "
                   "unless this folder has its own copy.")
def main(weights_dir: Path | None) -> None:
    """forgetalk: find out whether a face photo was manipulated, where, and why (offline)."""
    if weights_dir is not None:
        # Through the environment on purpose: scan workers are separate processes and inherit it.
        os.environ[ENV_WEIGHTS] = str(weights_dir)


def _attach_subcommands() -> None:
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"{__package__}.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"{__package__}.commands"):
                continue
            raise
        main.add_command(mod.command)


_attach_subcommands()

if __name__ == "__main__":  # pragma: no cover
    main()
