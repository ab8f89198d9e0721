"""Scan orchestration: walk -> hash -> (journal says done? reuse) -> workers -> journal -> index.

The parent process is the only writer of the journal and of the run-level files (index,
summary PDF, manifest). Files are keyed by content (SHA-256), so identical files are
analysed once and a re-run of the same command after a crash or Ctrl-C skips everything
the journal already records and finishes the rest.
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ForgetalkError
from ..guard import claim_results_dir
from ..io import sha256_file
from .index import FAILURE_STATUSES, sort_rows, write_index
from .journal import JOURNAL_NAME, Journal, read_journal
from .walk import Candidate, Skipped, WalkOptions, walk
from .worker import Task, WorkerConfig

INDEX_SCHEMA = "forgetalk.scan-index/1"
MANIFEST_SCHEMA = "forgetalk.scan-manifest/1"
MANIFEST_NAME = "manifest.json"
SUMMARY_NAME = "summary.pdf"

#: Record keys that are bulky or per-worker and not needed once journaled.
_HEAVY_KEYS = ("engine_info", "face_backend", "timings_s", "traceback", "warnings", "pid")


class ScanUsageError(ForgetalkError):
    """The scan cannot start as asked (bad folder, RESULTS from other parameters, locked)."""

    exit_code = EXIT_USAGE


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


@dataclass
class ScanSummary:
    exit_code: int
    counts: dict[str, int]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    manifest_sha256: str | None = None
    elapsed_s: float = 0.0
    analysed_per_s: float | None = None
    run_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.exit_code == EXIT_OK else "failures", "exit_code": self.exit_code, "run_id": self.run_id,
            "counts": self.counts, "results": str(self.out_dir), "files": {k: str(v) for k, v in self.files.items()},
            "manifest_sha256": self.manifest_sha256, "elapsed_s": round(self.elapsed_s, 3), "analysed_per_s": self.analysed_per_s,
        }


ProgressFn = Callable[[str, dict[str, Any], dict[str, int]], None]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def results_lock(out_dir: Path) -> Iterator[None]:
    """One scan per RESULTS folder at a time; the kernel drops the lock if we are killed."""
    fd = os.open(out_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScanUsageError(f"{out_dir}: another scan is writing to this results folder") from None
        yield
    finally:
        os.close(fd)


def remove_stale_parts(out_dir: Path) -> int:
    """Delete temp files left by atomic writes that a killed run never renamed."""
    n = 0
    for folder in (out_dir, *(p for p in (out_dir / "items").glob("*") if p.is_dir())):
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


def outputs_problem(out_dir: Path, rec: dict[str, Any]) -> str | None:
    """Why a journaled item's outputs cannot be reused (missing, changed, outside RESULTS), or None.

    Resume trusts the journal only as far as the files on disk still match the hashes it
    recorded; anything else is redone, so a re-run repairs what ``verify`` reports.
    """
    for kind, out in sorted((rec.get("outputs") or {}).items()):
        rel = Path(out["path"])
        if rel.is_absolute() or ".." in rel.parts:
            return f"{kind} output {out['path']} is outside the results folder"
        try:
            got = sha256_file(out_dir / rel)
        except OSError as exc:
            return f"{kind} output {out['path']} is unreadable ({exc.strerror or exc})"
        if got != out["sha256"]:
            return f"{kind} output {out['path']} changed since it was written"
    return None


def _make_backend(cfg: ScanConfig, wcfg: WorkerConfig) -> Any:
    if cfg.backend == "ray":
        from .ray_backend import RayBackend

        return RayBackend(wcfg, cfg.workers, address=cfg.ray_address, capacity=cfg.capacity)
    if cfg.backend == "inline" or cfg.workers <= 0:
        from .backends import InProcessBackend

        return InProcessBackend(wcfg)
    from .backends import ProcessBackend

    return ProcessBackend(wcfg, cfg.workers, capacity=cfg.capacity)


def _row_from_path(rel: str, path: Path, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"file": rel, "path": str(path), "sha256": None, "size_bytes": None, "status": None, "score": None,
                           "verdict": None, "faces": None, "top_region": None, "top_region_saliency": None, "software": None, "c2pa_state": None,
                           "provenance_flags": None, "duplicate_of": None,
                           "error_kind": None, "reason": None, "overlay": None, "json": None, "pdf": None, "thumb": None,
                           "analysed_in_run": None}
    row.update(kw)
    return row


def _fill_from_record(row: dict[str, Any], rec: dict[str, Any]) -> None:
    outs = rec.get("outputs") or {}
    row.update(
        status=rec["status"], score=rec.get("score"), verdict=rec.get("verdict"), faces=rec.get("faces"),
        top_region=rec.get("top_region_label") or rec.get("top_region"), top_region_saliency=rec.get("top_region_saliency"),
        software=rec.get("software"), c2pa_state=rec.get("c2pa_state"), provenance_flags=rec.get("provenance_flags"),
        error_kind=rec.get("error_kind"), reason=rec.get("reason"), analysed_in_run=rec.get("run_id"),
        overlay=(outs.get("overlay") or {}).get("path"), json=(outs.get("json") or {}).get("path"),
        pdf=(outs.get("pdf") or {}).get("path"), thumb=(outs.get("thumb") or {}).get("path"),
    )


class _Counts(dict):
    def bump(self, key: str, n: int = 1) -> None:
        self[key] = self.get(key, 0) + n


def run_scan(cfg: ScanConfig, progress: ProgressFn | None = None) -> ScanSummary:
    """Run (or resume) a scan and write index, summary PDF and manifest; see docs/scan.md."""
    t_start = time.perf_counter()
    in_dir = Path(os.path.abspath(cfg.input_dir))
    out_dir = Path(os.path.abspath(cfg.out_dir))
    if not in_dir.is_dir():
        raise ScanUsageError(f"{cfg.input_dir}: not a folder")
    if cfg.backend not in ("process", "ray", "inline"):
        raise ScanUsageError(f"unknown backend {cfg.backend!r} (process, ray)")
    out_dir = claim_results_dir(out_dir, in_dir, kind="scan")  # never the evidence folder; new, empty or ours
    emit = progress or (lambda _k, _r, _c: None)

    with results_lock(out_dir):
        return _run_locked(cfg, in_dir, out_dir, emit, t_start)


def _run_locked(cfg: ScanConfig, in_dir: Path, out_dir: Path, emit: ProgressFn, t_start: float) -> ScanSummary:
    journal_path = out_dir / JOURNAL_NAME
    state = read_journal(journal_path)
    params = cfg.result_parameters()
    fp = fingerprint(params)
    for run in state.runs:
        if run.get("fingerprint") != fp:
            raise ScanUsageError(
                f"{out_dir} holds results made with different parameters (run {run.get('run_id')}: "
                f"{json.dumps(run.get('result_parameters'), sort_keys=True)}); use another --out or the same options"
            )
    remove_stale_parts(out_dir)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    started = _now()
    run_record = {
        "type": "run", "run_id": run_id, "started_at": started, "tool_version": __version__, "fingerprint": fp,
        "result_parameters": params, "run_parameters": cfg.run_parameters(), "input_dir": str(in_dir), "results_dir": str(out_dir),
        "host": platform.node(), "python": sys.version.split()[0], "argv": sys.argv,
    }
    wcfg = WorkerConfig(options=cfg.analyze_options(), results_dir=str(out_dir), pdf=cfg.pdf, preload=cfg.preload)
    env: dict[str, Any] = {}
    for rec in state.items.values():
        if rec.get("engine_info") is not None:
            env = {"engine_info": rec["engine_info"], "face_backend": rec.get("face_backend")}
            break

    rows: list[dict[str, Any]] = []
    first_seen: dict[str, str] = {}  # sha256 -> rel of the file whose outputs represent it
    records: dict[str, dict[str, Any]] = {}  # sha256 -> light record (this run or journal)
    counts = _Counts()
    analysed_now = 0
    t_first_submit: float | None = None

    with Journal(journal_path) as journal:
        journal.append(run_record)
        backend = _make_backend(cfg, wcfg)

        def absorb(task: Task, rec: dict[str, Any]) -> None:
            nonlocal analysed_now
            if rec.get("fatal"):
                err = ForgetalkError(rec.get("message", "worker failed"))
                err.exit_code = int(rec.get("exit_code", EXIT_FAILED))  # type: ignore[misc]
                raise err
            rec["run_id"] = run_id
            rec["finished_at"] = _now()
            if not env and rec.get("engine_info") is not None:
                env.update(engine_info=rec["engine_info"], face_backend=rec.get("face_backend"))
            journal.append(rec)  # durable before the file counts as done
            light = {k: v for k, v in rec.items() if k not in _HEAVY_KEYS}
            records[task.sha256] = light
            analysed_now += 1
            counts.bump(rec["status"])
            emit("result", light, counts)

        def drain(block_until_below: int) -> None:
            while backend.in_flight() >= block_until_below and backend.in_flight() > 0:
                for task, rec in backend.next_done():
                    absorb(task, rec)

        walk_opts = WalkOptions(recursive=cfg.recursive, pattern=cfg.pattern, include_hidden=cfg.include_hidden,
                                follow_symlinks=cfg.follow_symlinks, exclude=(out_dir,))
        try:
            for entry in walk(in_dir, walk_opts):
                if isinstance(entry, Skipped):
                    status = "failed" if entry.failed else "skipped"
                    row = _row_from_path(entry.rel, entry.path, status=status, reason=entry.reason,
                                         error_kind="unreadable" if entry.failed else None)
                    rows.append(row)
                    counts.bump(status)
                    emit("skipped", row, counts)
                    continue
                assert isinstance(entry, Candidate)
                try:
                    sha = sha256_file(entry.path)
                except OSError as exc:
                    row = _row_from_path(entry.rel, entry.path, status="failed", error_kind="unreadable",
                                         reason=f"{entry.rel}: cannot read ({exc.strerror or exc})", size_bytes=entry.size)
                    rows.append(row)
                    counts.bump("failed")
                    emit("skipped", row, counts)
                    continue
                row = _row_from_path(entry.rel, entry.path, sha256=sha, size_bytes=entry.size)
                rows.append(row)
                if sha in first_seen:
                    row["duplicate_of"] = first_seen[sha]
                    counts.bump("duplicates")
                    emit("duplicate", row, counts)
                    continue
                first_seen[sha] = entry.rel
                done = state.done(sha, retry_failed=cfg.retry_failed)
                if done is not None and (broken := outputs_problem(out_dir, done)) is not None:
                    emit("redo", {**_row_from_path(entry.rel, entry.path), "status": "redo", "reason": broken}, counts)
                    counts.bump("redone")
                    done = None  # the journal says done, but its outputs are gone or changed: analyse again
                if done is not None:
                    records[sha] = {k: v for k, v in done.items() if k not in _HEAVY_KEYS}
                    counts.bump("resumed")
                    counts.bump(done["status"])
                    emit("resumed", records[sha], counts)
                    continue
                drain(backend.capacity)
                if t_first_submit is None:
                    t_first_submit = time.perf_counter()
                backend.submit(Task(str(entry.path), entry.rel, sha, entry.size))
            drain(1)
        except BaseException:
            backend.close(cancel=True)
            raise
        backend.close()
        t_work_end = time.perf_counter()

    # ---- assemble the index (every row, duplicates pointing at their original) ------------
    for row in rows:
        sha = row.get("sha256")
        if sha and row["status"] is None:
            _fill_from_record(row, records[sha])
    ordered = sort_rows(rows)
    failures = sum(1 for r in ordered if r["status"] in FAILURE_STATUSES)
    exit_code = EXIT_FAILED if failures else EXIT_OK
    final_counts = {
        "files_seen": len(ordered),
        "unique_inputs": len(first_seen),
        "analysed": sum(1 for r in ordered if r["status"] == "analysed"),
        "no_face": sum(1 for r in ordered if r["status"] == "no_face"),
        "failed": failures,
        "skipped": sum(1 for r in ordered if r["status"] == "skipped"),
        "duplicates": sum(1 for r in ordered if r.get("duplicate_of")),
        "analysed_this_run": analysed_now,
        "resumed_from_journal": counts.get("resumed", 0),
        "redone": counts.get("redone", 0),  # journaled, but outputs missing or changed: analysed again
    }
    finished = _now()
    header = {
        "schema": INDEX_SCHEMA, "tool_version": __version__, "run_id": run_id, "runs": [r.get("run_id") for r in state.runs] + [run_id],
        "started_at": started, "finished_at": finished, "input_dir": str(in_dir), "results_dir": str(out_dir),
        "parameters": cfg.run_parameters(), "fingerprint": fp, "engine_info": env.get("engine_info"),
        "face_backend": env.get("face_backend"), "weights_manifests": weights_manifests(), "host": platform.node(),
        "counts": final_counts, "exit_code": exit_code,
    }
    files = write_index(out_dir, ordered, header)
    if cfg.summary_pdf:
        from ..render.scan_summary import write_scan_summary_pdf

        files["summary_pdf"] = write_scan_summary_pdf(out_dir / SUMMARY_NAME, ordered, header, out_dir, top_n=cfg.top_n)
    files["manifest"] = write_manifest(out_dir, ordered, records, files, header)
    manifest_sha = sha256_file(files["manifest"])
    elapsed = time.perf_counter() - t_start
    rate = None
    if analysed_now and t_first_submit is not None:
        rate = round(analysed_now / max(t_work_end - t_first_submit, 1e-9), 3)
    summary = ScanSummary(exit_code=exit_code, counts=final_counts, out_dir=out_dir, files=files, manifest_sha256=manifest_sha,
                          elapsed_s=elapsed, analysed_per_s=rate, run_id=run_id)
    emit("end", summary.to_dict(), counts)
    return summary


def write_manifest(out_dir: Path, rows: list[dict[str, Any]], records: dict[str, dict[str, Any]], files: dict[str, Path],
                   header: dict[str, Any]) -> Path:
    """Hashes of every input and every output, for ``forgetalk verify``.

    Item outputs carry the SHA-256 recorded when they were written (from the journal), so
    verify detects a change made at any time after the write, including between runs.
    """
    from ..io import atomic_write_json

    inputs = [{"file": r["file"], "path": r["path"], "sha256": r["sha256"], "size_bytes": r["size_bytes"]} for r in rows if r.get("sha256")]
    outputs: list[dict[str, Any]] = []
    for sha in sorted(records):
        for kind, o in sorted((records[sha].get("outputs") or {}).items()):
            outputs.append({"path": o["path"], "sha256": o["sha256"], "size": o.get("size"), "kind": kind, "input_sha256": sha})
    for kind, p in sorted(files.items()):
        outputs.append({"path": p.relative_to(out_dir).as_posix(), "sha256": sha256_file(p), "size": p.stat().st_size, "kind": kind})
    manifest = {
        "schema": MANIFEST_SCHEMA, "tool_version": __version__, "run_id": header["run_id"], "created_at": _now(),
        "input_dir": header["input_dir"], "results_dir": str(out_dir), "fingerprint": header["fingerprint"],
        "inputs": inputs, "outputs": outputs,
    }
    return atomic_write_json(out_dir / MANIFEST_NAME, manifest)
