"""Scan orchestration, in three stages with typed hand-offs:

* :func:`plan` walks the folder, hashes each file, spots copies (same SHA-256) and asks the
  journal whether an earlier run already finished that content (and whether its outputs are
  still intact). It is lazy: a stream of :data:`Planned` entries, so memory stays flat and
  analysis starts while the walk goes on.
* :func:`execute` sends the entries that need analysis to a backend (process pool, Ray or
  in-process), at most ``capacity`` in flight, and journals each result before it counts.
* :func:`assemble` turns everything into the index (CSV and JSON), the summary PDF and the
  manifest.

The parent process is the only writer of the journal and of the run-level files. Files are
keyed by content, so identical files are analysed once, and a re-run of the same command after
a crash or Ctrl-C skips everything the journal already records and finishes the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..environment import source_digest
from ..errors import EXIT_FAILED, EXIT_INTEGRITY, EXIT_OK, UsageError
from ..guard import claim_results_dir
from ..io import deferred_signals, sha256_file
from .backends import Backend
from .custody import Carried, carried_rows, carry_forward, journal_entries
from .index import sort_rows, write_index
from .journal import JOURNAL_NAME, Journal, JournalState, journal_prefix, prefix_problem, read_journal
from .manifest import MANIFEST_NAME, MANIFEST_SCHEMA, load_manifest, manifest_entries
from .records import Event, IndexRow, RunRecord, ScanEvent, ScanRecord, Status, WorkerFatal, WorkerResult
from .walk import Skipped, WalkOptions, walk
from .worker import ITEMS_DIR, Task, WorkerConfig, fatal_error

INDEX_SCHEMA = "forgetalk.scan-index/1"
SUMMARY_NAME = "summary.pdf"
LOCK_NAME = ".lock"


class ScanUsageError(UsageError):
    """The scan cannot start as asked (bad folder, RESULTS from other parameters, locked)."""


@dataclass(frozen=True)
class ScanConfig:
    """Everything that defines a scan. ``result_parameters`` must match across resumes."""

    input_dir: Path
    out_dir: Path
    options: Any = None  # forgetalk.pipeline.AnalyzeOptions; None -> defaults
    workers: int = 1
    backend: str = "process"  # "process" | "ray" | "inline"
    ray_address: str | None = None
    recursive: bool = False
    pattern: str | None = None
    include_hidden: bool = False
    follow_symlinks: bool = True
    pdf: bool = False
    retry_failed: bool = False
    summary_pdf: bool = True
    top_n: int = 24
    preload: tuple[str, ...] = ()
    capacity: int | None = None  # max tasks in flight (default 2 x workers)
    #: The known-answer self-test passed before the scan (``--self-test``; ``SelfTestResult`` as a
    #: dict), recorded in the run line and the index; not a result parameter (a resume may omit it).
    self_test: Mapping[str, Any] | None = None

    def analyze_options(self) -> Any:
        if self.options is not None:
            return self.options
        from ..pipeline import AnalyzeOptions

        return AnalyzeOptions()

    def result_parameters(self) -> dict[str, Any]:
        """Parameters that change what a per-file result is; a resume must not mix them."""
        opts = self.analyze_options()
        d = asdict(opts) if hasattr(opts, "__dataclass_fields__") else dict(opts)
        d.pop("device", None)  # cpu and cuda give the same answer up to float noise
        return {"analyze": d, "pdf": self.pdf}

    def run_parameters(self) -> dict[str, Any]:
        return {
            **self.result_parameters(),
            "device": getattr(self.analyze_options(), "device", None),
            "workers": self.workers, "backend": self.backend, "recursive": self.recursive, "pattern": self.pattern,
            "include_hidden": self.include_hidden, "follow_symlinks": self.follow_symlinks, "retry_failed": self.retry_failed,
        }


@dataclass(frozen=True)
class ScanCounts:
    """The run's tallies, as the summary line, ``index.json`` and ``--json`` report them."""

    files_seen: int
    unique_inputs: int
    analysed: int
    no_face: int
    failed: int  # failed and error: the scan exits 1
    skipped: int
    duplicates: int
    analysed_this_run: int
    resumed_from_journal: int
    redone: int  # journaled, but outputs missing or changed: analysed again

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ScanSummary:
    exit_code: int
    counts: ScanCounts
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    manifest_sha256: str | None = None
    elapsed_s: float = 0.0
    analysed_per_s: float | None = None
    run_id: str = ""
    #: Inputs earlier runs recorded that are gone, changed or unreadable now (forgetalk.scan.custody).
    departed: tuple[dict[str, Any], ...] = ()
    #: Earlier runs of these results made by other forgetalk code (:func:`other_code_runs`).
    other_code_runs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.exit_code == EXIT_OK else "failures", "exit_code": self.exit_code, "run_id": self.run_id,
            "counts": self.counts.to_json(), "results": str(self.out_dir), "files": {k: str(v) for k, v in self.files.items()},
            "manifest_sha256": self.manifest_sha256, "elapsed_s": round(self.elapsed_s, 3), "analysed_per_s": self.analysed_per_s,
            "departed_inputs": list(self.departed), "other_code_runs": list(self.other_code_runs),
        }


def self_tests_by_run(runs: Sequence[RunRecord], rows: Sequence[IndexRow]) -> list[dict[str, Any]]:
    """Per run of these results: how many of the index's rows it analysed, and the self-test it ran first.

    Why per run: a scan resumed with ``--self-test`` after one run without it (or the reverse) made
    the index say "passed" over results no test had preceded, or "not run" over results one had;
    each row names the run that analysed it (``analysed_in_run``), so the record can be exact."""
    made = Counter(r.analysed_in_run for r in rows if r.analysed_in_run)
    return [{"run_id": r.run_id, "items": made.get(r.run_id, 0),
             "self_test": (r.self_test or {}).get("status") if isinstance(r.self_test, Mapping) else None,
             "answers_sha256": (r.self_test or {}).get("answers_sha256") if isinstance(r.self_test, Mapping) else None}
            for r in runs]


def other_code_runs(earlier: Sequence[RunRecord], current: RunRecord) -> tuple[str, ...]:
    """The run ids of ``earlier`` runs whose code digest (``tool_source``) is not the current
    run's, or unknown on either side (a run written before digests were recorded, or code that
    could not be read): unknown is never "the same code" (pure).

    Why: a resumed scan keeps the results earlier runs made; when the code changed in between, one
    triage list holds numbers of two programs under one version string. The results stay (they
    are what was found, each item's sidecar names its code), and the scan says so."""
    now = (current.tool_source or {}).get("sha256")
    return tuple(r.run_id for r in earlier if now is None or (r.tool_source or {}).get("sha256") != now)


#: Progress callback: one event per name met, with the running tallies (keys: statuses, "duplicates", "resumed", "redone").
ProgressFn = Callable[[ScanEvent, Mapping[str, int]], None]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def results_lock(out_dir: Path) -> Iterator[None]:
    """One scan per RESULTS folder at a time; the kernel drops the lock if we are killed."""
    fd = os.open(out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScanUsageError(f"{out_dir}: another scan is writing to this results folder, or a verify is reading it") from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def results_read_lock(out_dir: Path) -> Iterator[None]:
    """Hold RESULTS still while ``verify`` reads it: a shared lock on the scan's lock file.

    Why: verify run beside a scan reported the scan's in-progress writes (an index newer than
    its manifest, item files not listed yet) as changes, exit 7, a false alarm about evidence.
    A scan holding the folder now makes verify stop with one line (exit 2); a scan started while
    verify reads waits for nothing and is refused the same way. Verify never creates the lock
    file (RESULTS may be on read-only media): without one, or without the right to open it,
    there is nothing to hold."""
    try:
        fd = os.open(out_dir / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScanUsageError(f"{out_dir}: a scan is writing to this results folder; verify it when the scan has finished") from None
        except OSError:
            pass  # a lock file that cannot be locked (a FIFO put in its place): verify goes on, it only reads
        yield
    finally:
        os.close(fd)


def remove_stale_parts(out_dir: Path) -> int:
    """Delete temp files left by atomic writes that a killed run never renamed.

    Only real folders of RESULTS are searched: a symbolic link planted as ``items`` or as an
    item folder is never followed (one pointing at the evidence folder made this delete the
    evidence's own ``.*.part`` files)."""
    def real_dirs(folder: Path) -> list[Path]:
        if folder.is_symlink() or not folder.is_dir():
            return []
        with os.scandir(folder) as it:
            return [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]

    n = 0
    for folder in (out_dir, *real_dirs(out_dir / ITEMS_DIR)):
        for p in folder.glob(".*.part"):
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n


def weights_manifests() -> dict[str, Any]:
    """Declared weights (name -> sha256) per component, for the chain-of-custody header."""
    try:
        from ..weights import list_components, load_manifest

        out = {}
        for comp in list_components():
            m = load_manifest(comp)
            out[comp] = {f.name: f.sha256 for f in m.files}
        return out
    except Exception as exc:  # noqa: BLE001 - provenance is best effort, never fatal
        return {"error": str(exc)}


def linked_part(out_dir: Path, rel: str) -> str | None:
    """The first component of ``out_dir / rel`` (the file, or a folder on the way) that is a
    symbolic link, as a '/'-separated path relative to RESULTS; None when there is none.

    Why: hashing follows links, so an output (or its item folder) replaced by a link to a copy
    outside RESULTS hashed as recorded: resume reused it and ``verify`` said "no change", while
    the file the manifest vouches for was no longer in RESULTS (a copy of the folder carried a
    dangling link, and whoever owns the target can change it)."""
    parts = Path(rel).parts
    for i in range(1, len(parts) + 1):
        if os.path.islink(out_dir.joinpath(*parts[:i])):
            return "/".join(parts[:i])
    return None


def outputs_problem(out_dir: Path, rec: ScanRecord) -> str | None:
    """Why a journaled item's outputs cannot be reused (missing, changed, outside RESULTS), or None.

    Resume trusts the journal only as far as the files on disk still match the hashes it
    recorded; anything else is redone, so a re-run repairs what ``verify`` reports.
    """
    for kind, out in sorted(rec.outputs.items()):
        rel = Path(out.path)
        if rel.is_absolute() or ".." in rel.parts:
            return f"{kind} output {out.path} is outside the results folder"
        if (link := linked_part(out_dir, out.path)) is not None:
            return f"{kind} output {out.path} is reached through a symbolic link ({link}), not written in the results folder"
        try:
            got = sha256_file(out_dir / rel)
        except OSError as exc:
            return f"{kind} output {out.path} is unreadable ({exc.strerror or exc})"
        if got != out.sha256:
            return f"{kind} output {out.path} changed since it was written"
    return None


def _make_backend(cfg: ScanConfig, wcfg: WorkerConfig) -> Backend:
    if cfg.backend == "ray":
        from .ray_backend import RayBackend

        return RayBackend(wcfg, cfg.workers, address=cfg.ray_address, capacity=cfg.capacity)
    if cfg.backend == "inline" or cfg.workers <= 0:
        from .backends import InProcessBackend

        return InProcessBackend(wcfg)
    from .backends import ProcessBackend

    return ProcessBackend(wcfg, cfg.workers, capacity=cfg.capacity)


def check_startable(cfg: ScanConfig) -> None:
    """Refuse, before RESULTS is claimed or the walk starts, what is wrong without loading a model:
    an engine or face backend name that is not registered (exit 2), ``--device cuda`` without a GPU.

    Before, the workers found out, after the folder was claimed, its journal given a run record
    with the wrong parameters (which then refused the corrected command) and the walk begun.
    Plugin modules (``--preload``) are imported first: they add names."""
    import importlib

    from ..engines.base import require_engine
    from ..faces.base import require_backend
    from ..pipeline import require_device

    for mod in cfg.preload:
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise ScanUsageError(f"--preload {mod}: cannot import ({exc})") from None
    opts = cfg.analyze_options()
    engine, face_backend = getattr(opts, "engine", None), getattr(opts, "face_backend", None)
    if engine is not None:
        require_engine(engine)  # the registries' own refusal, as building the engine would give
    if face_backend is not None:
        require_backend(face_backend)
    require_device(getattr(opts, "device", None) or "cpu")


def run_scan(cfg: ScanConfig, progress: ProgressFn | None = None) -> ScanSummary:
    """Run (or resume) a scan and write index, summary PDF and manifest; see docs/scan.md."""
    t_start = time.perf_counter()
    in_dir = Path(os.path.abspath(cfg.input_dir))
    out_dir = Path(os.path.abspath(cfg.out_dir))
    if not in_dir.is_dir():
        raise ScanUsageError(f"{cfg.input_dir}: not a folder")
    if cfg.backend not in ("process", "ray", "inline"):
        raise ScanUsageError(f"unknown backend {cfg.backend!r} (process, ray)")
    check_startable(cfg)  # an unknown engine or face backend name: refused before RESULTS is made or touched
    out_dir = claim_results_dir(out_dir, in_dir, kind="scan")  # never the evidence folder; new, empty or ours
    emit = progress or (lambda _event, _counts: None)

    with results_lock(out_dir):
        ctx = open_run(cfg, in_dir, out_dir)
        with Journal(out_dir / JOURNAL_NAME) as journal:
            journal.append(ctx.run)
            wcfg = WorkerConfig(options=cfg.analyze_options(), results_dir=str(out_dir), pdf=cfg.pdf, preload=cfg.preload,
                                self_test=None if cfg.self_test is None else dict(cfg.self_test))
            executed = execute(plan(ctx), _make_backend(cfg, wcfg), journal, ctx.run.run_id, ctx.earlier, emit)
        return assemble(ctx, executed, t_start)


# ---------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class RunContext:
    """What every stage knows about this run: its settings, folders, journal header and earlier runs."""

    cfg: ScanConfig
    in_dir: Path
    out_dir: Path
    run: RunRecord
    earlier: JournalState  # what the journal held before this run
    #: The previous manifest's inputs and outputs (empty before the first finished run).
    previous: tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]] = ((), ())


def open_run(cfg: ScanConfig, in_dir: Path, out_dir: Path) -> RunContext:
    """Read the journal and the previous manifest, refuse results made with other parameters or
    of another folder, clear stale temp files, name the run."""
    earlier = read_journal(out_dir / JOURNAL_NAME)
    params = cfg.result_parameters()
    fp = fingerprint(params)
    for run in earlier.binding_runs():  # a run that journaled no file binds nothing (it failed before its first)
        if run.fingerprint != fp:
            raise ScanUsageError(
                f"{out_dir} holds results made with different parameters (run {run.run_id}: "
                f"{json.dumps(run.result_parameters, sort_keys=True)}); use another --out or the same options"
            )
        if run.input_dir != str(in_dir):  # one RESULTS folder, one evidence folder: its manifest is their chain of custody
            raise ScanUsageError(f"{out_dir} holds the scan of another folder ({run.input_dir}); scan {in_dir} into another --out")
    manifest_in, manifest_out, journal_pin = previous_manifest(out_dir)
    edited = prefix_problem(out_dir / JOURNAL_NAME, journal_pin)
    if edited is not None:  # the lines the last finished run vouched for were changed: nothing here can be reused
        raise ScanUsageError(f"{out_dir}: {edited} ({MANIFEST_NAME}, the last finished run); "
                             "these results cannot be resumed: scan into a new --out")
    journal_in, journal_out = journal_entries(earlier.items.values())  # what a deleted manifest would otherwise forget
    previous = ((*manifest_in, *journal_in), (*manifest_out, *journal_out))
    remove_stale_parts(out_dir)
    run = RunRecord(
        run_id=datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3), started_at=_now(),
        tool_version=__version__, tool_source=source_digest(), fingerprint=fp, result_parameters=params, run_parameters=cfg.run_parameters(), input_dir=str(in_dir),
        results_dir=str(out_dir), host=platform.node(), python=sys.version.split()[0], argv=tuple(sys.argv), self_test=cfg.self_test,
    )
    return RunContext(cfg, in_dir, out_dir, run, earlier, previous)


def previous_manifest(out_dir: Path) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...], Any]:
    """The inputs and outputs the last finished run listed, and its record of the journal
    (``journal_prefix``; None before manifests had one); a manifest that breaks its schema
    stops the scan (exit 2), as ``verify`` would, rather than be silently replaced."""
    if not os.path.lexists(out_dir / MANIFEST_NAME):
        return (), (), None
    mpath, manifest = load_manifest(out_dir)
    return tuple(manifest_entries(manifest, "inputs", mpath)), tuple(manifest_entries(manifest, "outputs", mpath)), manifest.get("journal")


# ---------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Seen:
    """A file the walk found and hashed."""

    file: str  # relative to the scanned folder, '/'-separated
    path: Path
    sha256: str
    size_bytes: int

    def task(self) -> Task:
        return Task(str(self.path), self.file, self.sha256, self.size_bytes)


@dataclass(frozen=True)
class Settled:
    """A name whose index row is final without analysis: skipped, or unreadable (failed)."""

    row: IndexRow


@dataclass(frozen=True)
class Copy:
    """Same bytes as an earlier file of this walk: shares its result and outputs."""

    seen: Seen
    original: str  # the earlier file


@dataclass(frozen=True)
class Reuse:
    """An earlier run journaled this content as done and its outputs are intact."""

    seen: Seen
    record: ScanRecord


@dataclass(frozen=True)
class Analyse:
    """Content to analyse in this run."""

    seen: Seen
    redo: str | None = None  # why the journaled result is not reused (outputs missing or changed)


#: One entry of the plan, in walk order.
Planned = Settled | Copy | Reuse | Analyse


def plan(ctx: RunContext) -> Iterator[Planned]:
    """Walk, hash, dedupe, resume: one entry per name met, lazily (the walk is never materialised)."""
    cfg = ctx.cfg
    opts = WalkOptions(recursive=cfg.recursive, pattern=cfg.pattern, include_hidden=cfg.include_hidden,
                       follow_symlinks=cfg.follow_symlinks, exclude=(ctx.out_dir,))
    first_seen: dict[str, str] = {}  # sha256 -> the file whose outputs represent it
    for entry in walk(ctx.in_dir, opts):
        if isinstance(entry, Skipped):
            yield Settled(IndexRow(file=entry.rel, path=str(entry.path), status=Status.FAILED if entry.failed else Status.SKIPPED,
                                   reason=entry.reason, error_kind="unreadable" if entry.failed else None))
            continue
        try:
            sha = sha256_file(entry.path)
        except OSError as exc:
            yield Settled(IndexRow(file=entry.rel, path=str(entry.path), size_bytes=entry.size, status=Status.FAILED, error_kind="unreadable",
                                   reason=f"{entry.rel}: cannot read ({exc.strerror or exc})"))
            continue
        seen = Seen(entry.rel, entry.path, sha, entry.size)
        if sha in first_seen:
            yield Copy(seen, first_seen[sha])
            continue
        first_seen[sha] = entry.rel
        done = ctx.earlier.done(sha, retry_failed=cfg.retry_failed)
        if done is None:
            yield Analyse(seen)
        elif (broken := outputs_problem(ctx.out_dir, done)) is not None:
            yield Analyse(seen, redo=broken)  # the journal says done, but its outputs are gone or changed
        else:
            yield Reuse(seen, done.light())


# ---------------------------------------------------------------------------- execute


@dataclass(frozen=True)
class Executed:
    """The plan as carried out: what :func:`assemble` needs."""

    planned: tuple[Planned, ...]  # every name met, in walk order
    records: Mapping[str, ScanRecord]  # sha256 -> result (this run's or reused), without bulky per-worker fields
    analysed_now: int
    resumed: int
    redone: int
    analysed_per_s: float | None
    engine_info: Mapping[str, Any] | None
    face_backend: Mapping[str, Any] | None


class _Executor:
    """Bounded producer/consumer over a backend: submit while below capacity, else absorb results."""

    def __init__(self, backend: Backend, journal: Journal, run_id: str, earlier: JournalState, emit: ProgressFn) -> None:
        self.backend, self.journal, self.run_id, self.emit = backend, journal, run_id, emit
        self.planned: list[Planned] = []
        self.records: dict[str, ScanRecord] = {}
        self.counts: Counter[str] = Counter()
        self.analysed_now = 0
        self.t_first_submit: float | None = None
        self.engine_info, self.face_backend = earlier.engine_env()

    def take(self, item: Planned) -> None:
        self.planned.append(item)
        if isinstance(item, Settled):
            self.counts[item.row.status] += 1
            self.emit(ScanEvent.of_row(Event.SKIPPED, item.row), self.counts)
        elif isinstance(item, Copy):
            self.counts["duplicates"] += 1
            self.emit(ScanEvent(Event.DUPLICATE, item.seen.file, duplicate_of=item.original), self.counts)
        elif isinstance(item, Reuse):
            self.records[item.seen.sha256] = item.record
            self.counts["resumed"] += 1
            self.counts[item.record.status] += 1
            self.emit(ScanEvent.of_record(Event.RESUMED, item.record), self.counts)
        else:
            if item.redo is not None:
                self.counts["redone"] += 1
                self.emit(ScanEvent(Event.REDO, item.seen.file, reason=item.redo), self.counts)
            self.drain(self.backend.capacity)
            if self.t_first_submit is None:
                self.t_first_submit = time.perf_counter()
            self.backend.submit(item.seen.task())

    def drain(self, until_below: int) -> None:
        """Absorb finished tasks until fewer than ``until_below`` are in flight (1: all of them)."""
        while self.backend.in_flight() >= until_below and self.backend.in_flight() > 0:
            for task, result in self.backend.next_done():
                self.absorb(task, result)

    def absorb(self, task: Task, result: WorkerResult) -> None:
        if isinstance(result, WorkerFatal):
            raise fatal_error(result)
        rec = replace(result, run_id=self.run_id, finished_at=_now())
        if self.engine_info is None and rec.engine_info is not None:
            self.engine_info, self.face_backend = rec.engine_info, rec.face_backend
        self.journal.append(rec)  # durable before the file counts as done
        self.records[task.sha256] = light = rec.light()
        self.analysed_now += 1
        self.counts[rec.status] += 1
        self.emit(ScanEvent.of_record(Event.RESULT, light), self.counts)


def execute(planned: Iterable[Planned], backend: Backend, journal: Journal, run_id: str, earlier: JournalState,
            emit: ProgressFn) -> Executed:
    """Analyse the plan's :class:`Analyse` entries on ``backend`` and journal every result; closes the backend.

    On any exception (Ctrl-C included) the backend is cancelled: what is journaled stays done.
    """
    ex = _Executor(backend, journal, run_id, earlier, emit)
    try:
        for item in planned:
            ex.take(item)
        ex.drain(1)
    except BaseException:
        backend.close(cancel=True)
        raise
    backend.close()
    rate = None
    if ex.analysed_now and ex.t_first_submit is not None:
        rate = round(ex.analysed_now / max(time.perf_counter() - ex.t_first_submit, 1e-9), 3)
    return Executed(planned=tuple(ex.planned), records=ex.records, analysed_now=ex.analysed_now, resumed=ex.counts["resumed"],
                    redone=ex.counts["redone"], analysed_per_s=rate, engine_info=ex.engine_info, face_backend=ex.face_backend)


# ---------------------------------------------------------------------------- assemble


def index_rows(executed: Executed) -> Iterator[IndexRow]:
    """Every name met as an index row (unsorted); copies carry their original's result."""
    for item in executed.planned:
        if isinstance(item, Settled):
            yield item.row
            continue
        seen = item.seen
        yield IndexRow.from_record(seen.file, str(seen.path), seen.size_bytes, executed.records[seen.sha256],
                                   duplicate_of=item.original if isinstance(item, Copy) else None)


def count(rows: list[IndexRow], executed: Executed) -> ScanCounts:
    by_status = Counter(r.status for r in rows)
    return ScanCounts(
        files_seen=len(rows), unique_inputs=sum(1 for p in executed.planned if isinstance(p, (Reuse, Analyse))),
        analysed=by_status[Status.ANALYSED], no_face=by_status[Status.NO_FACE], failed=sum(n for s, n in by_status.items() if s.is_failure),
        skipped=by_status[Status.SKIPPED], duplicates=sum(1 for r in rows if r.duplicate_of), analysed_this_run=executed.analysed_now,
        resumed_from_journal=executed.resumed, redone=executed.redone,
    )


def assemble(ctx: RunContext, executed: Executed, t_start: float) -> ScanSummary:
    """Write index.csv/json, the summary PDF and the manifest; the run's summary."""
    cfg, out_dir = ctx.cfg, ctx.out_dir
    walked = sort_rows(index_rows(executed))
    counts = count(walked, executed)
    listed = [(r.path, r.sha256) for r in walked if r.sha256]
    carried = carry_forward(*ctx.previous, listed, (o.path for rec in executed.records.values() for o in rec.outputs.values()), ctx.run.run_id)
    # Earlier results this walk did not list: in the triage list too, in place of a bare "skipped" row.
    extra = carried_rows(carried, {**ctx.earlier.items, **executed.records}) if carried.inputs else []
    shown = {r.path for r in extra}
    rows = sort_rows([*(r for r in walked if r.sha256 or r.path not in shown), *extra]) if extra else walked
    exit_code = EXIT_INTEGRITY if carried.departed else EXIT_FAILED if counts.failed else EXIT_OK
    other_code = other_code_runs(ctx.earlier.runs, ctx.run)
    header = {
        "schema": INDEX_SCHEMA, "tool_version": __version__, "tool_source": ctx.run.tool_source, "run_id": ctx.run.run_id, "runs": [r.run_id for r in ctx.earlier.runs] + [ctx.run.run_id],
        "started_at": ctx.run.started_at, "finished_at": _now(), "input_dir": str(ctx.in_dir), "results_dir": str(out_dir),
        "parameters": cfg.run_parameters(), "fingerprint": ctx.run.fingerprint, "engine_info": executed.engine_info,
        "face_backend": executed.face_backend, "weights_manifests": weights_manifests(), "host": platform.node(),
        "counts": counts.to_json(), "exit_code": exit_code, "departed_inputs": list(carried.departed),
        "carried_rows": len(extra), "other_code_runs": list(other_code), "self_test": None if cfg.self_test is None else dict(cfg.self_test),
        "self_tests_by_run": self_tests_by_run([*ctx.earlier.runs, ctx.run], rows),
    }
    summary_pdf: dict[str, Path] = {}
    if cfg.summary_pdf:  # first: building it can take seconds, and Ctrl-C is held only for the index and manifest below
        from ..render.scan_summary import write_scan_summary_pdf

        summary_pdf["summary_pdf"] = write_scan_summary_pdf(out_dir / SUMMARY_NAME, rows, header, out_dir, top_n=cfg.top_n)
    with deferred_signals():  # an index newer than its manifest made verify report a change until the next run
        files = {**write_index(out_dir, rows, header), **summary_pdf}
        files["manifest"] = write_manifest(out_dir, walked, executed.records, files, header, carried)
    return ScanSummary(exit_code=exit_code, counts=counts, out_dir=out_dir, files=files, manifest_sha256=sha256_file(files["manifest"]),
                       elapsed_s=time.perf_counter() - t_start, analysed_per_s=executed.analysed_per_s, run_id=ctx.run.run_id,
                       departed=carried.departed, other_code_runs=other_code)


def write_manifest(out_dir: Path, rows: list[IndexRow], records: Mapping[str, ScanRecord], files: dict[str, Path],
                   header: Mapping[str, Any], carried: Carried = Carried()) -> Path:
    """Hashes of every input and every output, for ``forgetalk verify``.

    Item outputs carry the SHA-256 recorded when they were written (from the journal), so
    verify detects a change made at any time after the write, including between runs. Inputs
    (and their outputs) that earlier manifests listed and this run's walk did not are carried
    forward (``forgetalk.scan.custody``), so a re-run never drops evidence from custody.
    """
    from ..io import atomic_write_json

    inputs = [{"file": r.file, "path": r.path, "sha256": r.sha256, "size_bytes": r.size_bytes} for r in rows if r.sha256]
    inputs += carried.inputs
    outputs: list[dict[str, Any]] = list(carried.outputs)
    for sha in sorted(records):
        for kind, o in sorted(records[sha].outputs.items()):
            outputs.append({"path": o.path, "sha256": o.sha256, "size": o.size, "kind": kind, "input_sha256": sha})
    for kind, p in sorted(files.items()):
        outputs.append({"path": p.relative_to(out_dir).as_posix(), "sha256": sha256_file(p), "size": p.stat().st_size, "kind": kind})
    manifest = {
        "schema": MANIFEST_SCHEMA, "tool_version": __version__, "run_id": header["run_id"], "created_at": _now(),
        "input_dir": header["input_dir"], "results_dir": str(out_dir), "fingerprint": header["fingerprint"],
        "inputs": inputs, "outputs": outputs,
        # The journal's lines so far, pinned: verify and the next run refuse them edited (a changed
        # score or status fed the next index while every listed file still verified).
        "journal": {"path": JOURNAL_NAME, **journal_prefix(out_dir / JOURNAL_NAME)},
    }
    return atomic_write_json(out_dir / MANIFEST_NAME, manifest)
