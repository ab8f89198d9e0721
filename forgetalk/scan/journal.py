"""Append-only, fsynced JSON-lines journal: the scan's memory across crashes.

Only the parent process writes it, one complete line per finished file, flushed and
fsynced before the file counts as done. A SIGKILL can at worst leave one torn last line,
which :func:`read_journal` ignores (and :class:`Journal` seals with a newline before
appending), so a re-run redoes at most the files that were in flight.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOURNAL_NAME = "journal.jsonl"

#: Item statuses that count as "done" for resume; "error" (an unexpected crash) is retried.
DONE_STATUSES = frozenset({"analysed", "no_face", "failed"})


@dataclass
class JournalState:
    """What a journal says: run headers, and the last record per input SHA-256."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    torn_lines: int = 0

    def done(self, sha256: str, retry_failed: bool = False) -> dict[str, Any] | None:
        rec = self.items.get(sha256)
        if rec is None or rec.get("status") not in DONE_STATUSES:
            return None
        if retry_failed and rec.get("status") == "failed":
            return None
        return rec


def iter_records(path: Path) -> Iterator[dict[str, Any] | None]:
    """Yield parsed records; ``None`` for a line that is not valid JSON (a torn write)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                yield None
                continue
            yield rec if isinstance(rec, dict) else None


def read_journal(path: Path) -> JournalState:
    state = JournalState()
    for rec in iter_records(path):
        if rec is None:
            state.torn_lines += 1
        elif rec.get("type") == "run":
            state.runs.append(rec)
        elif rec.get("type") == "item" and isinstance(rec.get("sha256"), str):
            state.items[rec["sha256"]] = rec
    return state


class Journal:
    """Appender. Each :meth:`append` is durable when it returns (flush + fsync)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._fh = os.fdopen(fd, "ab")
        # Seal a torn last line from a killed run so our first record starts on its own line.
        if self._fh.tell() > 0:
            with open(path, "rb") as rd:
                rd.seek(-1, os.SEEK_END)
                if rd.read(1) != b"\n":
                    self._write(b"\n")

    def _write(self, data: bytes) -> None:
        self._fh.write(data)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
        if "\n" in line:  # json.dumps never emits raw newlines, but be explicit: one record, one line
            raise ValueError("journal record must serialise to one line")
        self._write(line.encode("utf-8") + b"\n")

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
