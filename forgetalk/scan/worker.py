"""The per-image function shared by every backend (process pool, Ray, in-process).

A worker builds one :class:`~forgetalk.pipeline.Analyzer` when it starts (models load once
per worker, not once per image), then turns a :class:`Task` into a small, picklable
:class:`~forgetalk.scan.records.ScanRecord`. It renders that image's outputs itself, each one
written atomically, so the heavy pixels never travel back to the parent; the parent only
journals the record, and a file counts as done only once its record is journaled. A killed
worker therefore leaves at worst complete-but-unjournaled outputs, which the re-run
overwrites atomically.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ForgetalkError, ImageTooLargeError, InputError, IntegrityError, OutOfMemory, OutputError, one_line_warning
from ..io import special_file_kind
from .records import Output, ScanRecord, Status, WorkerFatal, WorkerResult


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs to build its analyzer; picklable for spawn and Ray."""

    options: Any  # forgetalk.pipeline.AnalyzeOptions (typed loosely so this module imports without the pipeline)
    results_dir: str
    pdf: bool = False
    preload: tuple[str, ...] = ()  # modules imported first (e.g. ones that register custom engines)
    threads: int | None = None  # CPU threads per worker (None: libraries decide)
    #: The known-answer self-test the scan passed before it started (``SelfTestResult`` as a dict):
    #: each item's sidecar and PDF carry it, as an ``analyze --self-test`` report does (an item's
    #: report is often handed on alone).
    self_test: Any = None


@dataclass(frozen=True)
class Task:
    """One unique input (by content) to analyse."""

    path: str
    rel: str
    sha256: str
    size: int
    attempt: int = 1
    meta: dict[str, Any] = field(default_factory=dict)
    #: Worker deaths while this was the only task in flight (forgetalk.scan.isolation): only those blame the file.
    solo_crashes: int = 0


#: RESULTS' folder of per-item folders (each named by ``item_dir_name``).
ITEMS_DIR = "items"


def item_dir_name(sha256: str) -> str:
    return sha256[:16]


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(rel: str) -> str:
    """Output base name from the original file name: readable, but never a path or hidden."""
    stem = Path(rel).stem
    stem = _SAFE.sub("_", stem).strip("._") or "image"
    return stem[:80]


#: forgetalk.io's words for a picture that decodes but is under 2 px on a side (a valid 1x1 PNG).
_TOO_SMALL = re.compile(r"image is \d+x\d+ pixels, too small to hold a face$")


def classify_error(err: BaseException, path: str | os.PathLike[str] | None = None) -> str:
    """A short machine label for the index's ``error_kind`` column.

    ``path`` is the file the error is about: its messages start with its name, which the evidence
    chose, so only the words after it are read (a corrupt ``permission denied.jpg`` is ``corrupt``).
    """
    msg = str(err)
    prefix = f"{Path(path)}: " if path is not None else None
    if prefix is not None and msg.startswith(prefix):
        msg = msg[len(prefix):]
    msg = msg.lower()
    if isinstance(err, ImageTooLargeError):
        return "too_large"
    if isinstance(err, IntegrityError):
        return "changed"
    if isinstance(err, OutOfMemory):  # the machine's state, not the file's
        return "memory"
    if isinstance(err, InputError):
        if _TOO_SMALL.search(msg):
            return "too_small"
        if "permission denied" in msg or "cannot read" in msg or "no such file" in msg:
            return "unreadable"
        if "not a recognised image format" in msg:
            return "not_an_image"
        if "empty file" in msg:
            return "empty"
        if "truncated" in msg:
            return "truncated"
        return "corrupt"
    return "internal"


class _State:
    analyzer: Any = None
    config: WorkerConfig | None = None
    fatal: WorkerFatal | None = None


_STATE = _State()


def _exit_when_orphaned(parent: int, interval: float = 0.5) -> None:
    """Die as soon as the scan process is gone.

    A SIGKILLed parent cannot stop its pool, and pool workers blocked on their task queue
    never notice on their own; an orphan finishing its task could then overwrite outputs
    that the resumed scan has already journaled with their hashes.
    """
    import threading

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="forgetalk-orphan-watch", daemon=True).start()


def init_worker(config: WorkerConfig, ignore_sigint: bool = True, parent_pid: int | None = None) -> None:
    """Pool initializer: load models once. A failure is remembered and reported per task.

    Ctrl-C is left to the parent (workers ignore SIGINT) so an interrupt shuts the pool down
    cleanly instead of printing a traceback from every worker.
    """
    if ignore_sigint:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass
        if hasattr(signal, "pthread_sigmask"):  # started with SIGINT blocked (ProcessBackend.submit); ignored now, so unblock
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if parent_pid is not None:
        _exit_when_orphaned(parent_pid)
    if ignore_sigint:  # a pool's worker process (not -j0's in-process run): warnings as the console script prints them
        warnings.showwarning = one_line_warning
    _STATE.config = config
    _STATE.fatal = None
    try:
        for mod in config.preload:
            importlib.import_module(mod)
        from ..pipeline import Analyzer

        _STATE.analyzer = Analyzer(config.options)
        if config.threads:
            limit_threads(config.threads)
    except ForgetalkError as err:
        _STATE.fatal = WorkerFatal(str(err), err.exit_code)
    except Exception as err:  # noqa: BLE001 - reported to the parent, which aborts the scan
        _STATE.fatal = WorkerFatal(f"cannot start analysis worker: {err.__class__.__name__}: {err}", 1, traceback.format_exc(limit=8))


def startup_failure() -> WorkerFatal | None:
    """Why this process's analyzer could not be built by :func:`init_worker` (None if it was)."""
    return _STATE.fatal


def fatal_error(fatal: WorkerFatal) -> ForgetalkError:
    """The error that stops the scan for a worker's fatal result, with the worker's exit code."""
    err = ForgetalkError(fatal.message)
    err.exit_code = fatal.exit_code  # type: ignore[misc]
    return err


def limit_threads(n: int) -> None:
    """Cap intra-op threads so N workers x M threads does not oversubscribe the CPUs.

    Process-level parallelism only scales if each worker stays on its share of the cores;
    OpenCV, torch and onnxruntime otherwise each start one thread per core in every worker.
    (OpenBLAS/OpenMP read their limits from the environment, which the pool sets at spawn.)
    """
    import sys

    import cv2

    cv2.setNumThreads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    # onnxruntime sessions (face detector, ONNX localizer) read ``threads`` when first built.
    backend = getattr(_STATE.analyzer, "backend", None)
    localizer = getattr(getattr(_STATE.analyzer, "engine", None), "localizer", None)
    for holder in (backend, localizer):
        if holder is not None and hasattr(holder, "threads"):
            holder.threads = n


def process_task(task: Task) -> WorkerResult:
    """Analyse one file and write its outputs; never raises for a bad input."""
    if _STATE.fatal is not None:
        return _STATE.fatal
    assert _STATE.config is not None and _STATE.analyzer is not None, "init_worker was not called"
    t0 = time.perf_counter()
    try:
        analysis = _STATE.analyzer.analyze_path(task.path)
        got = analysis.report.input.sha256
        if got != task.sha256:
            raise IntegrityError(f"{task.path}: file changed after it was hashed for the scan (sha256 {task.sha256} -> {got})")
        rec = _write_outputs(task, analysis)
    except OutputError as err:
        # Cannot write into RESULTS: the whole scan must stop, not mark every file failed.
        return WorkerFatal(str(err), err.exit_code)
    except ForgetalkError as err:
        kind = classify_error(err, task.path)
        # A file that changed under us, or memory that ran out, is not a property of the evidence: retry it next run.
        rec = failure_record(task, Status.ERROR if kind in ("changed", "memory") else Status.FAILED, kind, str(err))
    except MemoryError:
        rec = failure_record(task, Status.ERROR, "memory", f"{task.rel}: out of memory while analysing")
    except Exception as err:  # noqa: BLE001 - one bad file must not stop a scan of thousands
        rec = failure_record(task, Status.ERROR, "internal", f"internal error: {err.__class__.__name__}: {err}", traceback.format_exc(limit=12))
    return replace(rec, pid=os.getpid(), elapsed_s=round(time.perf_counter() - t0, 4))


def failure_record(task: Task, status: Status, error_kind: str, reason: str, tb: str | None = None) -> ScanRecord:
    """The record of a task that produced no analysis (also used by backends for a crashed worker)."""
    return ScanRecord.failure(sha256=task.sha256, path=task.path, rel=task.rel, size_bytes=task.size, status=status, error_kind=error_kind,
                              reason=reason, traceback=tb)


def own_folder(results: Path, rel_dir: Path) -> Path:
    """``results / rel_dir`` as real folders, each level made if absent: a symbolic link (or a
    file) planted at ``items`` or at an item folder is removed first, so outputs can never be
    written through it (one pointing at the evidence folder had the scan overwrite evidence)."""
    folder = results
    for part in rel_dir.parts:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            folder.unlink()
        folder.mkdir(exist_ok=True)
    return folder


def clear_planted(paths: list[Path]) -> None:
    """Remove what stands at an item's output paths inside RESULTS and is not a regular file (a
    symlink, FIFO or device put there after the scan): RESULTS is the scan's own folder, so a
    re-run replaces such things rather than refusing, as the writers do for paths an analyst
    names (forgetalk.guard.check_outputs). Unlinking a symlink never touches its target."""
    for p in paths:
        if os.path.islink(p) or special_file_kind(p) not in (None, "folder"):
            os.unlink(p)


def _write_outputs(task: Task, analysis: Any) -> ScanRecord:
    from ..io import atomic_write_bytes, encode_png, sha256_file
    from ..render import write_outputs
    from ..verdict import deciding_index

    cfg = _STATE.config
    assert cfg is not None
    results = Path(cfg.results_dir)
    rel_dir = Path(ITEMS_DIR) / item_dir_name(task.sha256)
    folder = own_folder(results, rel_dir)
    stem = safe_stem(task.rel)
    paths = {kind: folder / f"{stem}.{suffix}" for kind, suffix in (("overlay", "overlay.png"), ("pdf", "pdf"), ("json", "json"), ("thumb", "thumb.png"))}
    clear_planted(list(paths.values()))
    if cfg.self_test is not None:
        from ..results import SelfTestResult

        analysis = replace(analysis, report=replace(analysis.report, self_test=SelfTestResult.from_dict(cfg.self_test)))
    written = dict(write_outputs(analysis, overlay=paths["overlay"], pdf=paths["pdf"] if cfg.pdf else None, json_path=paths["json"]))
    rep = analysis.report
    faces = list(rep.faces)
    # The face whose score is the image's (a tiny background face no longer gives the thumbnail and top region)
    deciding = deciding_index([f.score for f in faces], [f.face_size_px for f in faces], [f.outside_share for f in faces])
    top_face = faces[deciding] if deciding is not None else None
    if top_face is not None:
        thumb = face_thumbnail(analysis, top_face.index)
        if thumb is not None:
            written["thumb"] = atomic_write_bytes(paths["thumb"], encode_png(thumb))
    outputs = {}
    for kind, p in written.items():
        p = Path(p)
        try:
            rel = p.resolve().relative_to(results.resolve()).as_posix()
        except ValueError:
            rel = str(p)
        outputs[kind] = Output(rel, sha256_file(p), p.stat().st_size)
    top_region = top_face.top_region if top_face is not None else None
    prov = rep.provenance
    return ScanRecord(
        status=Status.ANALYSED if faces else Status.NO_FACE,
        verdict=rep.verdict,
        score=float(rep.score),
        faces=len(faces),
        top_face=top_face.index if top_face is not None else None,
        top_region=top_region.name if top_region else None,
        top_region_label=top_region.label if top_region else None,
        top_region_saliency=float(top_region.saliency) if top_region else None,
        # What the file itself states (issue 11): index columns to sort and filter by, never in the score.
        software=prov.software if prov is not None else None,
        c2pa_state=prov.c2pa.state if prov is not None else None,
        provenance_flags=";".join(prov.flags) if prov is not None else None,
        face_scores=tuple(round(float(f.score), 6) for f in faces),
        warnings=tuple(rep.warnings),
        outputs=outputs,
        engine=rep.engine,
        engine_info=_jsonable(rep.engine_info),
        face_backend=_jsonable(rep.face_backend),
        report_schema=rep.schema,
        tool_version=rep.tool_version,
        timings_s=dict(rep.timings_s),
        sha256=task.sha256, path=task.path, rel=task.rel, size_bytes=task.size,
    )


def _jsonable(obj: Any) -> Any:
    import json

    return json.loads(json.dumps(obj, default=str))


def face_thumbnail(analysis: Any, face_index: int, size: int = 192) -> Any:
    """Thumbnail of one face for the summary index (drawn by :func:`forgetalk.render.overlay.face_thumbnail`).

    Made here, while the pixels are in memory: the parent process never sees them.
    """
    from ..render.overlay import face_thumbnail as draw

    for i, art in enumerate(analysis.faces):
        fr = analysis.report.faces[i] if i < len(analysis.report.faces) else None
        if fr is not None and fr.index == face_index:
            return draw(art.crop, art.heatmap, size)
    return None
