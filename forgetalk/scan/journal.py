"""Append-only, fsynced JSON-lines journal: the scan's memory across crashes.

Only the parent process writes it, one complete line per finished file, flushed and
fsynced before the file counts as done. A SIGKILL can at worst leave one torn last line,
which :func:`read_journal` ignores (and :class:`Journal` seals with a newline before
appending), so a re-run redoes at most the files that were in flight.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OutputError, UsageError
from ..io import encode_text, is_sha256, open_regular, sha256_file
from .records import RECORD_STATUSES, RunRecord, ScanRecord, Status

JOURNAL_NAME = "journal.jsonl"


def journal_prefix(path: Path) -> dict[str, Any]:
    """``{"size": N, "sha256": ...}`` of the journal as it stands (N = its length now): what the
    manifest records, so that later edits of these lines are detected.

    Why only a prefix: the journal is append-only and outlives the manifest (an interrupted run
    appends lines no manifest lists yet), so what can be pinned is "the first N bytes are still
    these bytes"; lines appended after them are new work, not an edit."""
    size = os.stat(path).st_size
    return {"size": size, "sha256": _prefix_sha256(path, size)}


def _prefix_sha256(path: Path, size: int) -> str | None:
    """SHA-256 of the first ``size`` bytes, None if the file is shorter (cut since)."""
    if os.stat(path).st_size < size:
        return None
    return sha256_file(path, limit=size)


def prefix_problem(path: Path, recorded: Any) -> str | None:
    """Why the journal no longer starts with the bytes a manifest recorded (``journal_prefix``),
    or None (it does, or the manifest predates the record)."""
    if not isinstance(recorded, dict):
        return None
    size, want = recorded.get("size"), recorded.get("sha256")
    if not isinstance(size, int) or size < 0 or not isinstance(want, str):
        return "the manifest's journal record is malformed"
    try:
        got = _prefix_sha256(path, size)
    except FileNotFoundError:
        return "the journal is gone"
    except OSError as exc:
        return f"the journal cannot be read ({exc.strerror or exc})"
    if got is None:
        return f"the journal was cut: it is shorter than the {size} bytes the manifest pinned"
    if got != want:
        return f"the journal was edited: its first {size} bytes no longer hash as the manifest pinned"
    return None


@dataclass
class JournalState:
    """What a journal says: run headers, and the last record per input SHA-256."""

    runs: list[RunRecord] = field(default_factory=list)
    items: dict[str, ScanRecord] = field(default_factory=dict)
    torn_lines: int = 0

    def done(self, sha256: str, retry_failed: bool = False) -> ScanRecord | None:
        """The record to reuse for this content, or None if it must be analysed (again).

        Reused: analysed, no_face and failed; ``error`` (an unexpected crash) is always retried,
        ``failed`` too with ``retry_failed``.
        """
        rec = self.items.get(sha256)
        if rec is None or not rec.status.is_done:
            return None
        if retry_failed and rec.status is Status.FAILED:
            return None
        return rec

    def binding_runs(self) -> list[RunRecord]:
        """The runs whose parameters and evidence folder bind these results: those that journaled
        a file. A run that stopped before its first file (weights missing, a worker that could
        not start) produced nothing to mix with, so a corrected re-run may use other parameters;
        before, its run record locked the folder to the failed ones for ever. An item record
        that names no run (hand-made or very old) makes every run binding."""
        ids = {rec.run_id for rec in self.items.values()}
        if None in ids:
            return list(self.runs)
        return [run for run in self.runs if run.run_id in ids]

    def engine_env(self) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
        """(engine_info, face_backend) of the first journaled record that has them."""
        for rec in self.items.values():
            if rec.engine_info is not None:
                return rec.engine_info, rec.face_backend
        return None, None


class JournalError(UsageError):
    """A journal line that parses but does not follow the schema: hand-edited, not torn (exit 2)."""


_STATUSES = frozenset(s.value for s in RECORD_STATUSES)
_OPT_STR = (str, type(None))
_OPT_NUM = (int, float, type(None))
#: Item record fields the index, summary and resume read, with the types they must have.
_ITEM_FIELDS: dict[str, tuple[type, ...]] = {
    "path": (str,), "rel": (str,), "run_id": _OPT_STR, "verdict": _OPT_STR, "score": _OPT_NUM, "faces": (int, type(None)),
    "top_region": _OPT_STR, "top_region_label": _OPT_STR, "top_region_saliency": _OPT_NUM, "error_kind": _OPT_STR,
    "software": _OPT_STR, "c2pa_state": _OPT_STR, "provenance_flags": _OPT_STR,
    "reason": _OPT_STR, "outputs": (dict, type(None)), "engine_info": (dict, type(None)), "face_backend": (dict, type(None)),
    "top_face": (int, type(None)), "face_scores": (list, type(None)), "warnings": (list, type(None)), "timings_s": (dict, type(None)),
}


def record_problem(rec: Mapping[str, Any]) -> str | None:
    """Why ``rec`` breaks the journal schema, or ``None`` if it is a valid run or item record."""
    kind = rec.get("type")
    if kind == "run":
        for key in ("run_id", "fingerprint"):
            if not isinstance(rec.get(key), str):
                return f"run record: '{key}' must be a string"
        return None
    if kind != "item":
        return f"unknown record type {kind!r}"
    if not is_sha256(rec.get("sha256")):
        return "item record: 'sha256' must be 64 hex digits"
    if not isinstance(rec.get("status"), str) or rec["status"] not in _STATUSES:
        return f"item record: 'status' must be one of {', '.join(sorted(_STATUSES))}"
    for key, types in _ITEM_FIELDS.items():
        if key in rec and (not isinstance(rec[key], types) or isinstance(rec[key], bool)):
            return f"item record: '{key}' has the wrong type ({type(rec[key]).__name__})"
    if key_missing := [k for k in ("path", "rel") if k not in rec]:
        return f"item record: missing {', '.join(key_missing)}"
    for out_kind, out in (rec.get("outputs") or {}).items():
        if not isinstance(out, dict) or not isinstance(out.get("path"), str) or not is_sha256(out.get("sha256")):
            return f"item record: output {out_kind!r} needs a 'path' string and a 64-hex 'sha256'"
    return None


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Yield (line number, parsed record); ``None`` for a line that is not a JSON object (a torn write)."""
    if path.is_symlink():
        raise JournalError(f"{path}: is a symbolic link, not the scan's own journal: restore it or scan into a new --out folder")
    try:
        fh = os.fdopen(open_regular(path), "rb")  # a FIFO in its place must not hang the scan
    except FileNotFoundError:
        return
    except OSError as exc:
        raise JournalError(f"{path}: cannot read the journal ({exc.strerror or exc})") from None
    with fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):  # RecursionError: nesting deeper than any record (a hostile line)
                yield lineno, None
                continue
            yield lineno, rec if isinstance(rec, dict) else None


def read_journal(path: Path) -> JournalState:
    """Parse and validate the journal. Torn lines (a kill mid-write: the last line, or a line the
    next run sealed, which its run record follows) are counted and skipped; a complete record that
    breaks the schema, or a broken line anywhere else, stops the scan with a one-line
    :class:`JournalError`."""
    state = JournalState()
    torn_at: int | None = None  # a line that is not a record, waiting to see what follows it
    run_ids: set[str] = set()  # runs started so far: an item must name one of them
    for lineno, rec in iter_records(path):
        if rec is None:
            if torn_at is not None:
                raise _edited(path, torn_at, _NOT_TORN)
            torn_at = lineno
            continue
        if torn_at is not None:
            # A kill tears the last line; the next run seals it and starts with its own run
            # record. Anything else after a broken line means the line was edited, and a record
            # would be lost silently (the second hostile pass garbled a line mid-journal).
            if rec.get("type") != "run":
                raise _edited(path, torn_at, _NOT_TORN)
            state.torn_lines += 1
            torn_at = None
        problem = record_problem(rec) or _foreign_item(rec, run_ids)
        if problem is not None:
            raise _edited(path, lineno, problem)
        if rec["type"] == "run":
            state.runs.append(RunRecord.from_json(rec))
            run_ids.add(rec["run_id"])
        else:
            state.items[rec["sha256"]] = ScanRecord.from_json(rec)
    state.torn_lines += torn_at is not None  # the last line torn by a kill: skipped, sealed by the next run
    return state


def _foreign_item(rec: Mapping[str, Any], run_ids: set[str]) -> str | None:
    """Why an item record cannot belong to this journal: it names a run that no earlier run
    record started (only the parent of a run appends its items, after its run record).

    Why: an item line pasted from another RESULTS' journal (another folder, other parameters)
    was taken as done: its input, from another evidence folder, entered this triage index as
    "kept from an earlier run" and this manifest with outputs RESULTS never held, so the scan
    exited 0 on results that ``verify`` failed at once. An item without a run id (journals older
    than run ids) is not checked."""
    run_id = rec.get("run_id")
    if rec.get("type") != "item" or run_id is None or run_id in run_ids:
        return None
    return f"item record of run {run_id!r}, which no earlier run record of this journal started (a line from another journal)"


#: Why a broken line that is not where a kill leaves one counts as an edit.
_NOT_TORN = "not a JSON record, and not followed by a run's first record"


def _edited(path: Path, lineno: int, problem: str) -> JournalError:
    return JournalError(f"{path} line {lineno}: {problem}; the journal was edited by hand: restore it or scan into a new --out folder")


class Journal:
    """Appender. Each :meth:`append` is durable when it returns (flush + fsync)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # never through a symbolic link planted in RESULTS (it appended run records to the file it named)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise JournalError(f"{path}: cannot open the journal ({exc.strerror or exc})") from None
        self._fh = os.fdopen(fd, "ab")
        # Seal a torn last line from a killed run so our first record starts on its own line.
        if self._fh.tell() > 0:
            with open(path, "rb") as rd:
                rd.seek(-1, os.SEEK_END)
                if rd.read(1) != b"\n":
                    self._write(b"\n")

    def _write(self, data: bytes) -> None:
        try:
            self._fh.write(data)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:  # a full disk: the documented exit 6 naming the file, not a bare "No space left" and exit 1
            raise OutputError(f"{self.path}: cannot write the journal ({exc.strerror or exc})") from None

    def append(self, record: ScanRecord | RunRecord) -> None:
        """Write one record as one line (the only place a record becomes journal JSON)."""
        line = json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":"), sort_keys=False)
        if "\n" in line:  # json.dumps never emits raw newlines, but be explicit: one record, one line
            raise ValueError("journal record must serialise to one line")
        self._write(encode_text(line) + b"\n")  # non-UTF-8 names as JSON escapes: still one valid line

    def close(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.close()
            except OSError:  # the failed write was already reported (OutputError); what did not reach disk was never done
                pass

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
