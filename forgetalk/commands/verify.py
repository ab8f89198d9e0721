"""`forgetalk verify RESULTS`: re-hash a scan's inputs and outputs against its manifest."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..io import is_sha256
from .options import json_option, json_text, progress_option


def _hex64(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A full SHA-256 in hex (64 characters), else click's usage error (exit 2): a shortened or
    mistyped hash must not read as "the manifest changed"."""
    if value is not None and not is_sha256(value, any_case=True):
        raise click.BadParameter("give the 64 hex characters of a SHA-256")
    return value.lower() if value is not None else None


@click.command(name="verify")
@click.argument("results", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--require-inputs", is_flag=True, help="Treat inputs that are no longer present as a failure.")
@click.option("--manifest-sha256", "manifest_sha256", metavar="HEX", callback=_hex64, default=None,
              help="The manifest's SHA-256 as the scan printed it; a different manifest counts as a change.")
@json_option("Print the full verification as JSON on stdout.")
@progress_option()
def command(results: Path, require_inputs: bool, manifest_sha256: str | None, as_json: bool, no_progress: bool) -> None:
    """Check that nothing in a scan's evidence chain changed since the scan.

    Re-hashes every input (when still present) and every output listed in
    RESULTS/manifest.json. Missing inputs are reported but tolerated unless
    --require-inputs (results are often verified away from the evidence).
    The manifest vouches for the rest; --manifest-sha256 (the hash the scan
    printed, kept elsewhere) vouches for the manifest.

    \b
    Exit codes: 0 all present files match, 7 something changed (the manifest
    itself, with --manifest-sha256), an output is missing
    (or an input, with --require-inputs), a listed path is no longer a regular file
    (FIFOs and devices are never opened) or the manifest lacks the scan's index,
    2 RESULTS has no readable manifest or one that breaks its schema, or
    --manifest-sha256 is not 64 hex characters.
    """
    from contextlib import ExitStack

    from ..progress import count_progress, progress_enabled
    from ..scan.verify import verify_results
    from ..terminal import terminal_text

    show = progress_enabled(no_progress)
    with ExitStack() as stack:  # a bar while every listed file is hashed (minutes on a large scan)
        report = verify_results(results, require_inputs=require_inputs, manifest_sha256=manifest_sha256,
                                progress=lambda total: stack.enter_context(count_progress(show, total, "verifying")))
    if as_json:
        click.echo(json_text(report.to_dict()))
    else:
        for p in report.problems:
            # Input paths are the evidence's names: a newline in one printed a line of its own.
            click.echo(terminal_text(f"{p['status'].upper():8s} {p['what']:6s} {p['path']}"
                                     + (f"  (expected {p['expected']}, found {p['found']})" if p.get("found") else "")))
        click.echo(f"manifest sha256 {report.manifest_sha256}")
        click.echo(f"{report.inputs_ok}/{report.inputs_total} inputs and {report.outputs_ok}/{report.outputs_total} outputs match"
                   + (f"; {report.inputs_missing} inputs not present" if report.inputs_missing else ""))
        click.echo("OK: no change" if report.exit_code == 0 else "CHANGED: see above")
    sys.exit(report.exit_code)
