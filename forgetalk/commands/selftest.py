"""``forgetalk selftest``: the known-answer self-test on its own (:mod:`forgetalk.selftest`)."""

from __future__ import annotations

import sys

import click

from ..errors import EXIT_OK, EXIT_SELF_TEST
from .options import json_option, json_text, progress_option


@click.command(name="selftest")
@json_option("Print the self-test's result as JSON on stdout.")
@progress_option()
def command(as_json: bool, no_progress: bool) -> None:
    """Check this installation against the answers recorded for its weights.

    Analyses the reference photos shipped with forgetalk (examples/) with the
    default engine on the CPU and compares every face's score, verdict, first
    region and heat with the recorded answers. Run it after installing, after
    updating a library, and on each machine that writes reports; `analyze
    --self-test` and `scan --self-test` run it first and record it.

    \b
    Exit codes: 0 passed; 8 failed, not comparable (answers recorded with
    other weights), or reference photos / answers file missing, unreadable
    or not the released ones; 5 weights; 2 usage (e.g. a --weights-dir that
    does not exist); 1 out of memory or internal error; 130 interrupted.
    """
    from dataclasses import asdict

    from ..progress import progress_enabled, stage_progress
    from ..selftest import run_self_test

    with stage_progress(progress_enabled(no_progress)) as stage:
        stage("loading models")
        result = run_self_test(on_photo=lambda name: stage(f"analysing {name}"))
    if as_json:
        click.echo(json_text({"status": "ok" if result.passed else "error", "self_test": asdict(result),
                              **({} if result.passed else {"error": result.describe(), "exit_code": EXIT_SELF_TEST})}))
    else:
        click.echo(result.describe())
        for p in result.problems[1:] if not result.passed else ():
            click.echo(f"  also: {p}")
        click.echo(f"  answers sha256 {result.answers_sha256}; {result.seconds:.1f} s")
    if not result.passed:  # the grammar of every error: one line on stderr (and the document on stdout with --json)
        click.echo(f"error: {result.describe()}", err=True)
        sys.exit(EXIT_SELF_TEST)
    sys.exit(EXIT_OK)
