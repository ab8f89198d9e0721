"""`forgetalk scan DIR --out RESULTS`: resumable batch triage of a folder of photos."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import EXIT_INTERRUPTED
from ..terminal import terminal_text
from .options import engine_kwargs, engine_options, face_options, json_option, json_text, progress_option

if TYPE_CHECKING:
    from ..scan.records import ScanEvent


HELP = """Analyse every photo in DIR and write a triage index sorted by suspicion.

\b
RESULTS gets:
  index.csv, index.json   one row per file, most suspicious first
  summary.pdf             index by suspicion, a page per flagged photo, chain of custody
  items/<sha256[:16]>/    per-image overlay PNG, JSON (and PDF with --pdf)
  journal.jsonl           append-only record of finished files (resume)
  manifest.json           SHA-256 of every input and output (forgetalk verify)

Re-running the same command after a crash or Ctrl-C skips finished files
and completes the rest; identical files are analysed once.

\b
Exit codes:
  0  every image analysed (images without a face count as analysed: status no_face)
  1  some files failed (corrupt, unreadable, too large, changed, worker crash)
  2  usage: DIR is not a folder; unknown --engine or --face-backend (checked
     before RESULTS is touched); RESULTS is DIR, contains DIR, or is a
     non-empty folder that is not forgetalk results; RESULTS holds the results
     of another folder or of other parameters, is in use, or has a hand-edited
     journal or manifest
  5  model weights missing   6  RESULTS not writable
  7  an input an earlier run recorded is missing, changed or unreadable now
     (kept in the manifest as departed; the rest of the scan is written)
  8  --self-test: the known-answer self-test failed (nothing scanned)
  130  interrupted by Ctrl-C or SIGTERM (re-run to resume)
"""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (``kill``, ``timeout``, ``docker stop``, a batch scheduler) like Ctrl-C while the scan runs.

    Why: SIGTERM's default action ended the process on the spot: killed by signal 15, no
    ``error:`` line, and the worker pool never shut down, so multiprocessing's resource tracker
    printed a two-line "leaked semaphore objects" warning after it. As a KeyboardInterrupt it takes
    Ctrl-C's path: workers cancelled, journal closed, one line, exit 130, resumable. The index and
    manifest are still written as a pair (``forgetalk.io.deferred_signals`` holds SIGTERM there and
    hands it to this handler afterwards). A SIGTERM ignored when the scan started stays ignored.
    """
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN or threading.current_thread() is not threading.main_thread():  # handlers: main thread only
        yield
        return
    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _self_tested(cfg: Any, show: bool, as_json: bool) -> Any:
    """``cfg`` with the known-answer self-test it passed (``SelfTestError``, exit 8, if it did not).

    The run's usage is checked first (an unusable ``--device``: "self-test passed", then exit 2)."""
    from dataclasses import asdict, replace

    from ..pipeline import require_device
    from ..progress import stage_progress
    from ..selftest import check_applicable, require_passed, run_self_test

    opts = cfg.analyze_options()
    check_applicable(opts.engine, opts.face_backend)
    require_device(opts.device)
    with stage_progress(show) as stage:
        passed = require_passed(run_self_test(on_photo=lambda name: stage(f"self-test: {name}")))
    if not as_json:
        click.echo(passed.describe(), err=True)
    return replace(cfg, self_test=asdict(passed))


@click.command(name="scan", help=HELP)
@click.argument("input_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Results folder: new, empty, or an earlier scan's (resume); never DIR.")
@engine_options()
@face_options()
@click.option("--workers", "-j", type=int, default=None, help="Worker processes (default: CPU count, at most 8; 0 = in this process).")
@click.option("--backend", type=click.Choice(["process", "ray"]), default="process", show_default=True, help="Where workers run; ray needs `pip install ray`.")
@click.option("--ray-address", default=None, help="Join this Ray cluster (default: start a private local one).")
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders (symlinked ones too, loop-safe).")
@click.option("--pattern", default=None, help="Glob on file names (or relative paths if it has '/'), e.g. '*.jpg'. Default: common image extensions.")
@click.option("--include-hidden", is_flag=True, help="Also analyse hidden files and folders (names starting with '.').")
@click.option("--no-follow-symlinks", is_flag=True, help="List symbolic links as skipped instead of following them.")
@click.option("--pdf/--no-pdf", default=False, show_default=True, help="Also write a per-image PDF report.")
@click.option("--retry-failed", is_flag=True, help="Re-analyse files the journal records as failed.")
@click.option("--self-test", "self_test", is_flag=True,
              help="First run the known-answer self-test (`forgetalk selftest`): stop with exit 8 before RESULTS is touched if it fails; record it if it passes.")
@click.option("--top", "top_n", type=click.IntRange(min=0), default=24, show_default=True, help="Flagged photos given a page (and thumbnails) in summary.pdf.")
@json_option("Print a machine-readable summary on stdout.")
@progress_option()
@click.option("--preload", multiple=True, hidden=True, help="Import this module in every worker first (plugin engines).")
def command(input_dir: Path, out_dir: Path, engine: str | None, device: str, quant: str | None, face_backend: str, workers: int | None, backend: str,
            ray_address: str | None, recursive: bool, pattern: str | None, include_hidden: bool, no_follow_symlinks: bool, pdf: bool,
            retry_failed: bool, self_test: bool, top_n: int, max_pixels: int | None, as_json: bool, no_progress: bool, preload: tuple[str, ...]) -> None:
    import importlib
    import os

    from ..pipeline import DEFAULT_ENGINE, AnalyzeOptions
    from ..progress import progress_enabled
    from ..scan.runner import ScanConfig, run_scan

    if not input_dir.is_dir():
        raise click.BadParameter(f"{input_dir}: not a folder", param_hint="DIR")
    if workers is None:
        workers = min(os.cpu_count() or 1, 8)
    if workers < 0:
        raise click.BadParameter("must be >= 0", param_hint="--workers")
    for mod in preload:  # the parent validates plugin engines too (and fails fast on a typo)
        importlib.import_module(mod)
    opts = AnalyzeOptions(engine=engine or DEFAULT_ENGINE, face_backend=face_backend, device=device, engine_options=engine_kwargs(quant), **({"max_pixels": max_pixels} if max_pixels is not None else {}))
    cfg = ScanConfig(input_dir=input_dir, out_dir=out_dir, options=opts, workers=workers, backend=backend if workers > 0 else "inline",
                     ray_address=ray_address, recursive=recursive, pattern=pattern, include_hidden=include_hidden,
                     follow_symlinks=not no_follow_symlinks, pdf=pdf, retry_failed=retry_failed, top_n=top_n, preload=preload)
    reporter = _Reporter(progress_enabled(no_progress), quiet=no_progress)
    try:
        with sigterm_as_interrupt():  # the self-test too: SIGTERM during it ended the process silently (exit -15)
            if self_test:  # in this process, before RESULTS is created or resumed: a failed test leaves it as it was
                cfg = _self_tested(cfg, progress_enabled(no_progress), as_json)
            with reporter:
                summary = run_scan(cfg, reporter.event)
    except KeyboardInterrupt:
        message = f"interrupted: finished files are journaled in {out_dir}; re-run the same command to resume"
        if as_json:
            click.echo(json_text({"status": "error", "error": message, "exit_code": EXIT_INTERRUPTED}))
        click.echo(f"error: {terminal_text(message)}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if summary.departed:
        from ..scan.custody import departed_line

        click.echo(f"error: {terminal_text(departed_line(summary.departed))}", err=True)
    if summary.other_code_runs:  # the index mixes numbers of two programs under one version string
        click.echo(f"warning: {len(summary.other_code_runs)} earlier run(s) of these results used other forgetalk code "
                   f"({', '.join(summary.other_code_runs[:3])}{', ...' if len(summary.other_code_runs) > 3 else ''}); "
                   "their results, if any, are kept as they were made", err=True)
    selected = summary.counts.files_seen - summary.counts.skipped
    if selected == 0:  # an exit 0 over nothing read like a clean folder (a hostile test pass: --pattern '/etc/*')
        what = f"--pattern {pattern!r} matched no file in {input_dir} (it matches paths relative to DIR, e.g. 'sub/*.jpg')" if pattern is not None \
            else f"no image file in {input_dir}" + ("" if recursive else " (sub-folders are scanned with -r)")
        click.echo(f"warning: {terminal_text(what)}; nothing was analysed", err=True)
    if as_json:
        click.echo(json_text(summary.to_dict()))
    else:
        c = summary.counts
        click.echo(f"{c.files_seen} files: {c.analysed} analysed, {c.no_face} no face, {c.failed} failed, "
                   f"{c.skipped} skipped, {c.duplicates} duplicates ({c.analysed_this_run} analysed now, "
                   f"{c.resumed_from_journal} from earlier runs)")
        for kind, p in summary.files.items():  # under RESULTS, the analyst's name: a newline in it split the line
            click.echo(f"{kind}: {terminal_text(str(p))}")
        click.echo(f"manifest sha256: {summary.manifest_sha256}")
    sys.exit(summary.exit_code)


class _Reporter:
    """Rich progress bar on a terminal; one plain line per finished file otherwise."""

    def __init__(self, interactive: bool, quiet: bool) -> None:
        self.interactive = interactive
        self.quiet = quiet
        self._progress: Any = None
        self._task: Any = None
        self._done = 0

    def __enter__(self) -> _Reporter:
        if self.interactive:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=Console(file=sys.stderr), transient=False)
            self._progress.start()
            self._task = self._progress.add_task("scanning", total=None, last="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def event(self, ev: ScanEvent, counts: Mapping[str, int]) -> None:
        from ..scan.records import Event, Status
        from ..scan.walk import RESULTS_FOLDER_PREFIX

        # A name without a status of its own (a copy, a redo) shows what happened to it instead.
        status = ev.status.value if ev.status is not None else ev.kind.name.lower()
        detail = f"{status} {ev.score:.3f}" if isinstance(ev.score, (int, float)) and ev.status is Status.ANALYSED else status
        if ev.kind is Event.RESUMED:
            detail = f"done earlier: {detail}"
        elif ev.kind is Event.DUPLICATE:
            detail = f"copy of {ev.duplicate_of}"
        if ev.reason and ev.kind is not Event.RESUMED:
            detail = f"{detail}: {ev.reason}"
        # A forgetalk results folder inside DIR is skipped, and said so: a marker planted in an
        # evidence folder must not hide it silently (forgetalk.scan.walk.results_folder_reason).
        results_folder = ev.kind is Event.SKIPPED and (ev.reason or "").startswith(RESULTS_FOLDER_PREFIX)
        # Names are the evidence's: a newline in one split "one line per file" in two (a forged line).
        line = terminal_text(f"scan: {ev.file}: {detail}")
        if self._progress is not None:
            if results_folder and not self.quiet:
                self._progress.console.print(line, markup=False, highlight=False)
            if ev.kind in (Event.RESULT, Event.RESUMED):
                self._done += 1
                failed = counts.get(Status.FAILED, 0) + counts.get(Status.ERROR, 0)
                self._progress.update(self._task, completed=self._done, description=f"scanning ({failed} failed)", last=terminal_text(ev.file)[-50:])
            return
        if self.quiet or ev.kind is Event.SKIPPED and ev.status is Status.SKIPPED and not results_folder:
            return
        click.echo(line, err=True)
