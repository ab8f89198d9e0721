"""The triage index: one row per file seen, most suspicious first.

Rows are :class:`~forgetalk.scan.records.IndexRow` records; the same rows feed ``index.csv``
(for spreadsheets), ``index.json`` (for machines, with the run's chain-of-custody header) and
the summary PDF. They become JSON only here, when the index is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..io import atomic_write_json, atomic_write_text
from .records import IndexRow

#: Column order of index.csv.
CSV_COLUMNS: tuple[str, ...] = (
    "rank", "status", "score", "verdict", "faces", "top_region", "top_region_saliency",
    "software", "c2pa_state", "provenance_flags",  # what the file states (issue 11); never part of the score
    "file", "sha256", "size_bytes",
    "duplicate_of", "error_kind", "reason", "overlay", "json", "pdf", "analysed_in_run", "path",
)


def _sort_key(r: IndexRow) -> tuple[Any, ...]:
    score = r.score if isinstance(r.score, (int, float)) else -1.0
    return (r.status.order, -score, r.sha256 or "", 1 if r.duplicate_of else 0, r.file)


def sort_rows(rows: Iterable[IndexRow]) -> list[IndexRow]:
    """Suspicion score descending; copies right after their original; then no face, failures, skips. Sets ``rank``."""
    return [replace(r, rank=i) for i, r in enumerate(sorted(rows, key=_sort_key), 1)]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6f}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _csv_safe(text: str) -> str:
    # File names come from the evidence; a name starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_csv(rows: Iterable[IndexRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        d = r.to_json()
        w.writerow([_csv_safe(_cell(d[c])) for c in CSV_COLUMNS])
    return buf.getvalue()


def write_index(out_dir: Path, rows: list[IndexRow], header: Mapping[str, Any]) -> dict[str, Path]:
    """Write index.csv and index.json atomically (a reader never sees a partial index)."""
    csv_path = atomic_write_text(out_dir / "index.csv", render_csv(rows))
    json_path = atomic_write_json(out_dir / "index.json", {**header, "items": [r.to_json() for r in rows]})
    return {"index_csv": csv_path, "index_json": json_path}
