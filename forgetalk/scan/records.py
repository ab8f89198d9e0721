"""Typed scan records: what a worker returns, what the journal holds, what the index lists.

Everything in a scan travels as these frozen dataclasses; they become JSON only where a file
is written (:meth:`ScanRecord.to_json` / :meth:`RunRecord.to_json` for ``journal.jsonl``,
:meth:`IndexRow.to_json` for ``index.json``/``index.csv``). The JSON keeps the key order and
key set that earlier versions wrote, so journals of earlier runs still resume and a new line
reads the same as one written before these types existed (``tests/test_scan_records.py``).

This module imports nothing heavy: workers, backends and the summary renderer all use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum, auto
from typing import Any


class Status(str, Enum):
    """The status of one file, in the journal and in the index (the only place these names are spelt)."""

    ANALYSED = "analysed"  # read, faces found, scored
    NO_FACE = "no_face"  # read, no face found: a result, not a failure
    FAILED = "failed"  # a property of the file (corrupt, empty, too large): done, exit 1
    ERROR = "error"  # unexpected (worker crash, file changed mid-scan): exit 1, retried on re-run
    SKIPPED = "skipped"  # index only: seen, deliberately not analysed (hidden, not an image, loop)

    def __str__(self) -> str:
        return self.value

    @property
    def is_failure(self) -> bool:
        """Counts as a failure: the scan exits 1."""
        return self in _FAILURES

    @property
    def is_done(self) -> bool:
        """A journaled record with this status is reused on resume (``error`` is retried)."""
        return self in _DONE

    @property
    def has_analysis(self) -> bool:
        """The worker read the file and measured it: the record carries the analysis fields."""
        return self in _MEASURED

    @property
    def order(self) -> int:
        """Position in the index: analysed, then no face, then failures, then skips."""
        return _ORDER[self]


_FAILURES = frozenset({Status.FAILED, Status.ERROR})
_DONE = frozenset({Status.ANALYSED, Status.NO_FACE, Status.FAILED})
_MEASURED = frozenset({Status.ANALYSED, Status.NO_FACE})
_ORDER = {Status.ANALYSED: 0, Status.NO_FACE: 1, Status.FAILED: 2, Status.ERROR: 2, Status.SKIPPED: 3}
#: Statuses a journal item record may carry (``skipped`` names never reach a worker).
RECORD_STATUSES: frozenset[Status] = frozenset(_FAILURES | _MEASURED)


@dataclass(frozen=True)
class Output:
    """One file a worker wrote for an input, with its SHA-256 at write time (chain of custody)."""

    path: str  # relative to RESULTS, '/'-separated
    sha256: str
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Output:
        return cls(path=d["path"], sha256=d["sha256"], size=d.get("size"))


def _outputs_json(outputs: Mapping[str, Output]) -> dict[str, Any]:
    return {kind: o.to_json() for kind, o in outputs.items()}


@dataclass(frozen=True, kw_only=True)
class ScanRecord:
    """One finished input (by content): a journal ``item`` line.

    Fields are declared in journal order. Records with :attr:`Status.has_analysis` carry the
    analysis block (verdict ... timings_s); the others carry error_kind, reason and, for an
    unexpected error, a traceback. ``pid``/``elapsed_s`` come from the worker, ``run_id``/
    ``finished_at`` from the parent when it journals the record. Keys this version does not
    know (a newer tool's journal) are kept in ``extra`` and written back unchanged.
    """

    status: Status
    # analysis block
    verdict: str | None = None
    score: float | None = None
    faces: int | None = None
    top_face: int | None = None
    top_region: str | None = None
    top_region_label: str | None = None
    top_region_saliency: float | None = None
    software: str | None = None
    c2pa_state: str | None = None
    provenance_flags: str | None = None
    face_scores: tuple[float, ...] = ()
    warnings: tuple[str, ...] = ()
    outputs: Mapping[str, Output] = field(default_factory=dict)
    engine: str | None = None
    engine_info: Mapping[str, Any] | None = None
    face_backend: Mapping[str, Any] | None = None
    report_schema: str | None = None
    tool_version: str | None = None
    timings_s: Mapping[str, float] | None = None
    # failure block
    error_kind: str | None = None
    reason: str | None = None
    traceback: str | None = None
    # identity (always written)
    sha256: str
    path: str
    rel: str
    size_bytes: int | None = None
    # bookkeeping (written when set)
    pid: int | None = None
    elapsed_s: float | None = None
    run_id: str | None = None
    finished_at: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The journal line's object, keys in the order earlier versions wrote them."""
        d: dict[str, Any] = {"status": self.status.value}
        if self.status.has_analysis:
            for name in _ANALYSIS_FIELDS:
                value = getattr(self, name)
                if name == "outputs":
                    value = _outputs_json(value)
                elif isinstance(value, tuple):
                    value = list(value)
                elif isinstance(value, Mapping):
                    value = dict(value)
                d[name] = value
        else:
            d["error_kind"] = self.error_kind
            d["reason"] = self.reason
            if self.traceback is not None:
                d["traceback"] = self.traceback
        d.update(type="item", sha256=self.sha256, path=self.path, rel=self.rel, size_bytes=self.size_bytes)
        for name in _BOOKKEEPING_FIELDS:
            if (value := getattr(self, name)) is not None:
                d[name] = value
        d.update(self.extra)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ScanRecord:
        """From a journal line already checked by :func:`forgetalk.scan.journal.record_problem`.

        Lines of earlier versions lack some fields (before issue 11: software, c2pa_state,
        provenance_flags); those read as None.
        """
        kw: dict[str, Any] = {k: v for k, v in d.items() if k in _SCALAR_FIELDS}
        kw["status"] = Status(d["status"])
        if d.get("outputs"):
            kw["outputs"] = {kind: Output.from_json(o) for kind, o in d["outputs"].items()}
        for name in ("face_scores", "warnings"):
            if d.get(name) is not None:
                kw[name] = tuple(d[name])
        extra = {k: v for k, v in d.items() if k not in _KNOWN_KEYS}
        return cls(**kw, extra=extra)

    @classmethod
    def failure(cls, *, sha256: str, path: str, rel: str, size_bytes: int | None, status: Status, error_kind: str, reason: str,
                traceback: str | None = None) -> ScanRecord:
        return cls(status=status, error_kind=error_kind, reason=reason, traceback=traceback, sha256=sha256, path=path, rel=rel,
                   size_bytes=size_bytes)

    def light(self) -> ScanRecord:
        """This record without the bulky, per-worker parts the index and manifest never read."""
        return replace(self, engine_info=None, face_backend=None, timings_s=None, traceback=None, warnings=(), pid=None, extra={})

    @property
    def region(self) -> str | None:
        """The top region as the index shows it (its label, else its name)."""
        return self.top_region_label or self.top_region

    def output_path(self, kind: str) -> str | None:
        out = self.outputs.get(kind)
        return out.path if out is not None else None


_ANALYSIS_FIELDS = ("verdict", "score", "faces", "top_face", "top_region", "top_region_label", "top_region_saliency", "software",
                    "c2pa_state", "provenance_flags", "face_scores", "warnings", "outputs", "engine", "engine_info", "face_backend",
                    "report_schema", "tool_version", "timings_s")
_BOOKKEEPING_FIELDS = ("pid", "elapsed_s", "run_id", "finished_at")
_KNOWN_KEYS = frozenset({f.name for f in fields(ScanRecord)} - {"extra"} | {"type"})
_SCALAR_FIELDS = _KNOWN_KEYS - {"type", "status", "outputs", "face_scores", "warnings"}


@dataclass(frozen=True)
class WorkerFatal:
    """A worker cannot work at all (models missing, RESULTS not writable): the scan stops with ``exit_code``."""

    message: str
    exit_code: int = 1
    traceback: str | None = None


#: What a worker hands back for one task.
WorkerResult = ScanRecord | WorkerFatal


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """The journal's ``run`` line: one per scan invocation, before any of its items."""

    run_id: str
    started_at: str | None = None
    tool_version: str | None = None
    #: forgetalk's code as one digest (``environment.source_digest``): the version string does not
    #: change with the code, and a resumed scan may mix runs of different code
    tool_source: Mapping[str, Any] | None = None
    fingerprint: str
    result_parameters: Mapping[str, Any] | None = None
    run_parameters: Mapping[str, Any] | None = None
    input_dir: str | None = None
    results_dir: str | None = None
    host: str | None = None
    python: str | None = None
    argv: tuple[str, ...] | None = None
    #: The known-answer self-test this run passed before it started (``scan --self-test``), as a dict.
    self_test: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "run"}
        for name in _RUN_FIELDS:
            value = getattr(self, name)
            if value is None and name not in _RUN_ALWAYS:
                continue
            d[name] = list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, Mapping) else value
        d.update(self.extra)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunRecord:
        kw = {k: v for k, v in d.items() if k in _RUN_FIELDS}
        if isinstance(kw.get("argv"), list):
            kw["argv"] = tuple(kw["argv"])
        return cls(**kw, extra={k: v for k, v in d.items() if k not in _RUN_FIELDS and k != "type"})


_RUN_FIELDS = tuple(f.name for f in fields(RunRecord) if f.name != "extra")
_RUN_ALWAYS = frozenset({"run_id", "fingerprint"})


@dataclass(frozen=True, kw_only=True)
class IndexRow:
    """One line of the triage index: every name the walk met, analysed or not.

    Fields are declared in ``index.json`` order; ``rank`` is set by
    :func:`forgetalk.scan.index.sort_rows`. A copy (same bytes as an earlier file) has
    ``duplicate_of`` and shares its original's result and outputs.
    """

    file: str
    path: str
    sha256: str | None = None
    size_bytes: int | None = None
    status: Status
    score: float | None = None
    verdict: str | None = None
    faces: int | None = None
    top_region: str | None = None
    top_region_saliency: float | None = None
    software: str | None = None
    c2pa_state: str | None = None
    provenance_flags: str | None = None
    duplicate_of: str | None = None
    error_kind: str | None = None
    reason: str | None = None
    overlay: str | None = None
    json: str | None = None
    pdf: str | None = None
    thumb: str | None = None
    analysed_in_run: str | None = None
    rank: int | None = None

    @classmethod
    def from_record(cls, file: str, path: str, size_bytes: int | None, rec: ScanRecord, duplicate_of: str | None = None) -> IndexRow:
        """The row of a file whose content ``rec`` describes (the file itself, or a copy of it)."""
        return cls(file=file, path=path, sha256=rec.sha256, size_bytes=size_bytes, status=rec.status, score=rec.score, verdict=rec.verdict,
                   faces=rec.faces, top_region=rec.region, top_region_saliency=rec.top_region_saliency, software=rec.software,
                   c2pa_state=rec.c2pa_state, provenance_flags=rec.provenance_flags, duplicate_of=duplicate_of, error_kind=rec.error_kind,
                   reason=rec.reason, overlay=rec.output_path("overlay"), json=rec.output_path("json"),
                   pdf=rec.output_path("report") or rec.output_path("pdf"),  # journaled under write_outputs' name, "report"
                   thumb=rec.output_path("thumb"), analysed_in_run=rec.run_id)

    def to_json(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in _ROW_FIELDS}
        d["status"] = self.status.value
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> IndexRow:
        kw = {k: v for k, v in d.items() if k in _ROW_FIELDS}
        kw["status"] = Status(d["status"])
        return cls(**kw)

    @property
    def is_original_analysis(self) -> bool:
        """An analysed file that is not a copy: the rows that get thumbnails and pages."""
        return self.status is Status.ANALYSED and not self.duplicate_of


_ROW_FIELDS = tuple(f.name for f in fields(IndexRow))


class Event(Enum):
    """What a progress callback is told about one name."""

    RESULT = auto()  # a worker finished it (journaled)
    RESUMED = auto()  # an earlier run's journaled result is reused
    SKIPPED = auto()  # never analysed: skipped, or unreadable (status failed)
    DUPLICATE = auto()  # same bytes as an earlier file: shares its result
    REDO = auto()  # journaled, but its outputs are missing or changed: analysed again


@dataclass(frozen=True)
class ScanEvent:
    """One progress report (the scan command prints these or drives a progress bar)."""

    kind: Event
    file: str
    status: Status | None = None
    score: float | None = None
    reason: str | None = None
    duplicate_of: str | None = None

    @classmethod
    def of_record(cls, kind: Event, rec: ScanRecord) -> ScanEvent:
        return cls(kind, rec.rel, rec.status, rec.score, rec.reason)

    @classmethod
    def of_row(cls, kind: Event, row: IndexRow) -> ScanEvent:
        return cls(kind, row.file, row.status, row.score, row.reason, row.duplicate_of)
