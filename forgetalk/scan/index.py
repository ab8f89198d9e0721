"""The triage index: one row per file seen, most suspicious first.

Rows are plain dicts so the same data feeds ``index.csv`` (for spreadsheets), ``index.json``
(for machines, with the run's chain-of-custody header) and the summary PDF.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..io import atomic_write_json, atomic_write_text

#: Column order of index.csv.
CSV_COLUMNS: tuple[str, ...] = (
    "rank", "status", "score", "verdict", "faces", "top_region", "top_region_saliency",
    "software", "c2pa_state", "provenance_flags",  # what the file states (issue 11); never part of the score
    "file", "sha256", "size_bytes",
    "duplicate_of", "error_kind", "reason", "overlay", "json", "pdf", "analysed_in_run", "path",
)

#: Status order in the index: analysed files by score, then no-face, then failures, then skips.
STATUS_ORDER = {"analysed": 0, "no_face": 1, "failed": 2, "error": 2, "skipped": 3}

FAILURE_STATUSES = frozenset({"failed", "error"})


def sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Suspicion score descending; copies right after their original; failures, then skips."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        score = r.get("score")
        return (STATUS_ORDER.get(r["status"], 4), -(score if isinstance(score, (int, float)) else -1.0), r.get("sha256") or "",
                1 if r.get("duplicate_of") else 0, r["file"])

    ordered = sorted(rows, key=key)
    for i, r in enumerate(ordered, 1):
        r["rank"] = i
    return ordered


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


def render_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([_csv_safe(_cell(r.get(c))) for c in CSV_COLUMNS])
    return buf.getvalue()


def write_index(out_dir: Path, rows: list[dict[str, Any]], header: dict[str, Any]) -> dict[str, Path]:
    """Write index.csv and index.json atomically (a reader never sees a partial index)."""
    csv_path = atomic_write_text(out_dir / "index.csv", render_csv(rows))
    json_path = atomic_write_json(out_dir / "index.json", {**header, "items": rows})
    return {"index_csv": csv_path, "index_json": json_path}
