"""``forgetalk analyze IMAGE``: one photo -> verdict, ranked regions, overlay, PDF, JSON.

The grammar is the one every command follows: ``--json`` prints the result on stdout,
files are named by path options (``--report``, ``--summary``, ``--overlay``,
``--json-out``). Before that grammar, ``analyze --json PATH`` wrote the sidecar file;
that spelling still works (with a warning on stderr) and is recognised without guessing:

* ``--json=PATH`` is always the old spelling;
* ``--json TOKEN`` (TOKEN not starting with ``-``) is the old spelling when IMAGE is also
  given elsewhere on the line (``analyze a.jpg --json a.json``, ``analyze --json a.json a.jpg``),
  and the new flag followed by IMAGE otherwise (``analyze --json a.jpg``).

So a command line that worked before means what it meant, and no new one is ambiguous.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..errors import EXIT_NO_FACE, EXIT_OK
from ..results import VERDICT_INCONCLUSIVE
from ..terminal import terminal_text
from .options import case_options, engine_kwargs, engine_options, face_options, json_option, json_text, progress_option

DEPRECATED_JSON = "warning: `analyze --json PATH` is deprecated; use `--json-out PATH` (`--json` alone prints the result on stdout)"
DEPRECATED_PRINT_JSON = "warning: `--print-json` is deprecated; use `--json`"


class _AnalyzeCommand(click.Command):
    """Rewrites the deprecated ``--json PATH`` into ``--json-out PATH`` before Click parses."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rewrite_deprecated_json(self, args))


def _value_options(cmd: click.Command) -> set[str]:
    """Option spellings that consume the next token as their value."""
    out: set[str] = set()
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.is_flag and not p.count:
            out.update(p.opts)
            out.update(p.secondary_opts)
    return out


def rewrite_deprecated_json(cmd: click.Command, args: list[str]) -> list[str]:
    """Apply the module docstring's rule; warn once on stderr when the old spelling is used."""
    takes_value = _value_options(cmd)
    positional: list[int] = []  # indexes of positional tokens
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            positional.extend(range(i + 1, len(args)))
            break
        if a.startswith("-") and a != "-":
            if "=" not in a and a in takes_value:
                i += 1  # skip the option's value
        else:
            positional.append(i)
        i += 1
    out = list(args)
    for i, a in enumerate(args):
        if a == "--":
            break
        if a.startswith("--json="):
            out[i] = "--json-out=" + a.split("=", 1)[1]
            click.echo(DEPRECATED_JSON, err=True)
        elif a == "--json" and i + 1 < len(args) and (i + 1) in positional and len(positional) >= 2:
            out[i] = "--json-out"
            click.echo(DEPRECATED_JSON, err=True)
    return out


@click.command("analyze", cls=_AnalyzeCommand)
@click.argument("image", type=click.Path(path_type=Path, readable=False))  # the loader reports folders, unreadable files (exit 3)
@click.option("--report", type=click.Path(dir_okay=False), help="Write the PDF case report here.")
@click.option("--summary", "summary_pdf", type=click.Path(dir_okay=False), help="Write a one-page triage form (PDF) here.")
@click.option("--overlay", type=click.Path(dir_okay=False), help="Write the heatmap overlay PNG here (default: next to the report).")
@click.option("--json-out", "json_path", type=click.Path(dir_okay=False), help="Write the JSON sidecar here (default: next to the report).")
@json_option("Print the full result as JSON on stdout (for machines).")
@click.option("--print-json", "print_json", is_flag=True, hidden=True, help="Deprecated spelling of --json.")
@case_options()
@engine_options()
@face_options()
@click.option("--max-faces", type=click.IntRange(min=1), default=32, show_default=True,
              help="Analyse at most this many faces (largest first); the report says how many were skipped.")
@click.option("--self-test", "self_test", is_flag=True,
              help="First run the known-answer self-test (`forgetalk selftest`): stop with exit 8 if it fails, record it in the report if it passes.")
@progress_option()
def command(image: Path, report: str | Path | None, summary_pdf: str | Path | None, overlay: str | Path | None, json_path: str | Path | None, as_json: bool,
            print_json: bool, case_id: str | None, examiner: str | None, engine: str, device: str, quant: str | None, face_backend: str,
            max_pixels: int | None, max_faces: int, self_test: bool, no_progress: bool) -> None:
    """Analyse one photo: detect faces, localize forged pixels, rank and explain regions.

    Exit codes: 0 analysed (any verdict), 2 usage (an output that is the input or another output),
    3 unusable input, 4 no face, 5 weights, 6 output, 7 integrity, 8 self-test failed.
    """
    from ..guard import check_not_foreign, check_output_names, check_outputs
    from ..pipeline import AnalyzeOptions, Analyzer
    from ..progress import progress_enabled, stage_progress
    from ..render import CaseInfo, write_outputs
    from .options import JSON_META

    if print_json:
        click.echo(DEPRECATED_PRINT_JSON, err=True)
        as_json = True
        click.get_current_context().meta[JSON_META] = True
    # The paths arrive as typed (str): click's Path type turns "" into ".", and the error would
    # then quote a name the analyst never gave.
    check_output_names({"--report": report, "--summary": summary_pdf, "--overlay": overlay, "--json-out": json_path})
    report, summary_pdf, overlay, json_path = (None if p is None else Path(p) for p in (report, summary_pdf, overlay, json_path))
    if report is not None:
        overlay = overlay or report.with_suffix(".overlay.png")
        json_path = json_path or report.with_suffix(".json")
    # Before any model loads: an output must never land on the evidence or on another output.
    outputs = {"--report": report, "--summary": summary_pdf, "--overlay": overlay, "--json-out": json_path}
    check_outputs({"IMAGE": image}, outputs)
    check_not_foreign(outputs)  # an analyst's paths: never over someone else's file (a re-run over its own outputs is fine)
    if self_test:
        from ..selftest import check_applicable

        check_applicable(engine, face_backend)
    opts = AnalyzeOptions(engine=engine, face_backend=face_backend, device=device, engine_options=engine_kwargs(quant), max_faces=max_faces,
                          **({"max_pixels": max_pixels} if max_pixels is not None else {}))
    case = CaseInfo(case_id=case_id, examiner=examiner)
    _warm_up_in_background(pdf=report is not None or summary_pdf is not None)
    with stage_progress(progress_enabled(no_progress)) as stage:
        stage("loading models")
        analyzer = Analyzer(opts)
        checked = None
        if self_test:  # before the evidence is read: a failed test stops the run with nothing written
            from ..selftest import self_tested

            checked = self_tested(analyzer, on_photo=lambda name: stage(f"self-test: {name}"))
        stage(f"analysing {image.name}")
        analysis = analyzer.analyze_path(image)
        if checked is not None:
            analysis = replace(analysis, report=replace(analysis.report, self_test=checked))
        stage("writing outputs")
        written = write_outputs(analysis, overlay=overlay, pdf=report, json_path=json_path, summary=summary_pdf, case=case, analyst_paths=True)
    rep = analysis.report
    if as_json:
        from ..render import report_json

        click.echo(json_text({"status": "ok", "outputs": {k: str(v) for k, v in written.items()}, "report": report_json(analysis, case=case)}))
    else:
        _print_summary(rep, written)
    sys.exit(EXIT_NO_FACE if not rep.faces else EXIT_OK)


def _warm_up_in_background(pdf: bool) -> None:
    """Start, on a background thread, the one-time set-ups the analysis meets later in the process.

    Why: a single ``analyze`` is a fresh process whose second core idles while the face models
    run (onnxruntime, OpenCV and MediaPipe release the GIL). OpenCV's Lab tables (about 0.16 s,
    C++ with the GIL released) and the report fonts (parsing three TrueType files, about 0.14 s)
    then cost little on the critical path: measured over whole commands on a 1024 px photo on
    2 cores, about 5 % of the wall time for both, about 2-3 % of it for the fonts.
    The thread imports nothing: every module its calls need is imported here, on the main thread,
    first. Two threads importing at once can trip the import system's deadlock detection (seen in
    a test: ``_DeadlockError`` on ``engines.evidence.cues`` when the thread imported it); importing
    the renderer on the thread was also measured 3 % slower (imports hold the GIL).
    Not a daemon: the interpreter waits for it at exit; a process that exits (bad input, missing
    weights) while OpenCV is still inside its set-up would otherwise abort in C++. A failure on the
    thread is ignored: the main thread makes the same calls later, and reports there.
    """
    import threading

    from ..engines.evidence.cues import warm_up_lab

    jobs = [warm_up_lab]
    if pdf:
        from ..render.fonts import font_set, import_font_modules

        import_font_modules()
        jobs.append(font_set)

    def warm() -> None:
        try:
            for job in jobs:
                job()
        except Exception:  # noqa: BLE001 - the main thread repeats the calls and reports
            pass

    threading.Thread(target=warm, name="forgetalk-warm-up", daemon=False).start()


def _print_summary(rep: Any, written: dict[str, Path]) -> None:
    click.echo(f"{terminal_text(rep.input.name)}  sha256 {rep.input.sha256}")
    if rep.self_test is not None:
        click.echo(rep.self_test.describe())
    click.echo(f"verdict: {rep.verdict} (score {rep.score:.3f}, engine {rep.engine})")
    for face in rep.faces:
        top = ", ".join(f"{r.label} " + (f"{100 * r.suspicion:.0f}%" if r.suspicion is not None else f"{r.saliency:.2f}") for r in face.regions[:3])
        click.echo(f"  face {face.index + 1}: {face.verdict} (score {face.score:.3f}); top regions: {top}")
        if face.verdict == VERDICT_INCONCLUSIVE:  # why not a finding either way (a tiny face, heavy compression, damaged picture data)
            click.echo(f"    {terminal_text(face.verdict_reason)}")
        if face.compression is not None and face.compression.single_regions:
            from ..verdict import compression_reason

            click.echo(f"    {compression_reason(face.compression)}")
    if any(r.suspicion is not None for face in rep.faces for r in face.regions[:3]):
        # Say what the % means and how ties at 100 % (above every real face) are ordered.
        first = any(face.compression is not None and face.compression.single_regions for face in rep.faces)
        click.echo("  (% = share of real faces whose same region scored lower; regions ranked by it, those at 100% by how far above"
                   + ("; regions the JPEG compression history reports come first)" if first else ")"))
    for note in rep.warnings:
        click.echo(f"  note: {terminal_text(note)}")
    for kind, path in written.items():  # the analyst's names: a newline in one split the line
        click.echo(f"{kind}: {terminal_text(str(path))}")
