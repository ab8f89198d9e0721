"""Options shared by several commands, declared once as decorators.

Why: the same option spelled twice drifts (a new ``--quant`` choice added to one command
and not the other, a different default, a different help text). Every command that runs an
engine takes :func:`engine_options`; every command takes :func:`json_option`, and ``--json``
means the same thing everywhere: machine output on stdout, one JSON document, and on a
project error a ``{"status": "error", ...}`` document there too (see :mod:`forgetalk.cli`).
Files are written with ``--json-out PATH`` (and other ``--...`` path options), never with
``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

QUANT_CHOICES = ("nf4", "int8", "bf16", "fp16", "fp32")
DEVICE_CHOICES = ("cpu", "cuda")

#: Key in ``click.Context.meta`` set when ``--json`` was given, so the group's single error
#: path knows to answer in JSON on stdout.
JSON_META = "forgetalk.json"


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[JSON_META] = True
    return value


def json_option(help_text: str = "Print machine-readable output (one JSON document) on stdout.") -> Callable[[F], F]:
    """``--json``: machine output on stdout (flag; the parameter is ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, is_eager=True, callback=_remember_json, help=help_text)


def engine_options(default_engine: str | None = "fused", default_quant: str | None = None) -> Callable[[F], F]:
    """``--engine``, ``--device``, ``--quant``: which engine runs, where, at what precision."""
    show = default_engine is not None
    return _stack(
        click.option("--engine", default=default_engine, show_default=show, help="Engine name (see `forgetalk engines`)."),
        click.option("--device", type=click.Choice(DEVICE_CHOICES), default="cpu", show_default=True, help="Where model engines run."),
        click.option("--quant", type=click.Choice(QUANT_CHOICES), default=default_quant, help="Quantization for model engines (forgerytalker)."),
    )


def face_options() -> Callable[[F], F]:
    """``--face-backend`` and ``--max-pixels``: how faces are found and how big an input may be."""
    return _stack(
        click.option("--face-backend", default="default", show_default=True, help="Face backend (default, facexlib)."),
        click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Decompression-bomb limit in pixels (default 160 MP)."),
    )


def progress_option() -> Callable[[F], F]:
    """``--no-progress`` (also ``FORGETALK_NO_PROGRESS``); bars are off under CI and in pipes anyway."""
    return click.option("--no-progress", is_flag=True, envvar="FORGETALK_NO_PROGRESS",
                        help="No progress bars (also off when not a terminal or under CI).")


#: Longest ``--case-id`` / ``--examiner`` (characters). Why a limit: both are printed in the
#: report's case table, and one unbroken word of 5,000 characters made a table row taller than
#: a page (the PDF could not be laid out: a traceback). Case numbers and names are far shorter.
CASE_TEXT_MAX = 200


def _case_text(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and len(value) > CASE_TEXT_MAX:
        raise click.BadParameter(f"is {len(value)} characters long; at most {CASE_TEXT_MAX}")
    return value


def case_options() -> Callable[[F], F]:
    """``--case-id`` and ``--examiner``: what the analyst asserts, printed on the report."""
    return _stack(
        click.option("--case-id", default=None, callback=_case_text, help="Case or exhibit number printed on every page of the report."),
        click.option("--examiner", default=None, callback=_case_text, help="Examiner's name printed on the report's case line."),
    )


def engine_kwargs(quant: str | None) -> dict[str, object]:
    """Engine options from the shared flags (only what the user set, so engine defaults apply)."""
    return {"quant": quant} if quant else {}


def json_text(obj: Any) -> str:
    """One JSON document for stdout, non-ASCII kept readable; a file name that is not UTF-8
    (surrogate escapes, PEP 383) becomes a ``\\udcXX`` escape instead of raw bytes that made
    ``--json`` output unparseable (as the scan's own files already write it)."""
    from ..io import encode_text

    return encode_text(json.dumps(obj, ensure_ascii=False)).decode("utf-8")
