"""The scan's summary PDF: the index sorted by suspicion, one page per flagged photo, then the
chain of custody, drawn with the same blocks as the single-photo report (:mod:`.pdfkit`).

Why from sidecars: the parent process of a scan never holds pixels. Each flagged photo's
page is built from its JSON sidecar (the same dictionary the case report's page 1 reads)
and its overlay PNG, so a flagged photo reads the same in the scan summary as in its own
report: verdict with its error rate, overlay, top regions with one sentence each, summary.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Image, LongTable, PageBreak, SimpleDocTemplate, Spacer, TableStyle

from ..io import atomic_write_bytes, read_json_file
from ..results import SelfTestResult
from ..scan.records import Status
from .answer import VERDICT_MANIPULATED, plain_summary
from .fonts import font_set, visible
from .labels import labelled_rows
from .pdfkit import MARGIN, PAGE, P, Styles, answer_row, case_line, clip, fmt_num, font_cmd, jpeg_bytes, kv_table, numbered_canvas, raw, verdict_box

if TYPE_CHECKING:
    from ..scan.records import IndexRow

WIDTH = PAGE[0] - 2 * MARGIN
THUMB_MM = 11


def _read_rgb(path: Path) -> np.ndarray | None:
    """An overlay or thumbnail PNG as RGB (None when missing or unreadable)."""
    if not path.is_file():
        return None
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        return None
    return np.ascontiguousarray(img[..., ::-1])


def _thumb(path: Path) -> Any:
    rgb = _read_rgb(path)
    if rgb is None:
        return ""
    data, w, h = jpeg_bytes(rgb, max_px=96, quality=80)
    s = THUMB_MM * mm / max(w, h)
    return Image(io.BytesIO(data), width=w * s, height=h * s)


def _tool_line(header: dict[str, Any]) -> str:
    """"forgetalk 0.1.0, code sha256 ...": the version string alone does not name the code."""
    src = header.get("tool_source")
    code = f", code sha256 {src['sha256']}" if isinstance(src, dict) and src.get("sha256") else ""
    return f"forgetalk {header.get('tool_version')}{code}"


def _self_test_line(header: dict[str, Any], how: str) -> str:
    """This run's self-test as the index records it (a dict), in the words the analyze report uses,
    then, when the results hold items other runs analysed, which of those runs ran it first."""
    record = header.get("self_test")
    if not isinstance(record, dict):
        line = f"not run by this run ({how} runs it first)"
    else:
        try:
            result = SelfTestResult.from_dict(record)
            line = f"{result.outcome()}; answers file SHA-256 {result.answers_sha256}"
        except TypeError:  # an index written by other code
            line = str(record.get("status"))
    by_run = [b for b in header.get("self_tests_by_run") or [] if isinstance(b, dict) and b.get("items")]
    if len(by_run) > 1 or (by_run and by_run[0].get("run_id") != header.get("run_id")):
        line += ". Items by the run that analysed them: " + "; ".join(
            f"{b.get('run_id')}, {b.get('items')} item(s): {b.get('self_test') or 'self-test not run'}" for b in by_run)
    return line


def _custody(header: dict[str, Any], st: Styles) -> list[Any]:
    c = header.get("counts", {})
    rows: list[tuple[str, Any]] = [
        ("Run", f"{header.get('run_id')} (runs in this results folder: {', '.join(str(r) for r in header.get('runs', []))})"),
        ("Started / finished (UTC)", f"{header.get('started_at')} / {header.get('finished_at')}"),
        ("Tool", _tool_line(header)),
        ("Input folder", str(header.get("input_dir"))),
        ("Results folder", str(header.get("results_dir"))),
        ("Host", str(header.get("host"))),
        ("Counts", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.items())),
        ("Exit code", str(header.get("exit_code"))),
        ("Known-answer self-test", _self_test_line(header, "scan --self-test")),
    ]
    departed = [d for d in header.get("departed_inputs") or [] if isinstance(d, dict)]
    if departed:  # exit 7's reason, here too: the index rows alone left the custody section saying only "7"
        rows.append(("Departed inputs (verify fails on them)", "; ".join(
            f"{d.get('file') or d.get('path')}: {(d.get('departed') or {}).get('status', 'departed')}, sha256 {d.get('sha256')}" for d in departed)))
    rows += [(label, f"{value} {unit}".strip()) for label, value, unit in labelled_rows(header.get("parameters") or {}, "run parameter ")[0]]
    eng, _left = labelled_rows(header.get("engine_info") or {})
    rows += [(label, f"{value} {unit}".strip()) for label, value, unit in eng if "SHA-256" in label or "threshold" in label.lower()
             or "false-positive" in label.lower() or label == "Engine"]
    for comp, files in sorted((header.get("weights_manifests") or {}).items()):
        if isinstance(files, dict):
            for name, sha in files.items():
                rows.append((f"Weights {comp}/{name} SHA-256", str(sha) if sha else "not pinned (user-placed)"))
        else:
            rows.append((f"Weights {comp}", json.dumps(files, sort_keys=True)[:400]))
    return [raw("Chain of custody", st.h1), kv_table(rows, st, WIDTH),
            P("Each input is identified by its SHA-256 (index below). Per-file reports, overlays and this summary are listed with "
              "their SHA-256 in manifest.json; `forgetalk verify RESULTS` re-hashes them.", st.small)]


def _file_states(r: IndexRow) -> str:
    """What the file itself states (provenance columns of the index), in the file's own words: never
    part of the score, so it sits under the verdict rather than in it."""
    parts = []
    if r.software:
        parts.append(f"software: {r.software}")
    if r.c2pa_state and r.c2pa_state != "none":
        parts.append(f"C2PA: {r.c2pa_state}")
    if r.provenance_flags:
        parts.append("file flags: " + ", ".join(f.replace("_", " ") for f in str(r.provenance_flags).split(";") if f))
    return "File states " + "; ".join(parts) if parts else ""


def _index(rows: Sequence[IndexRow], out_dir: Path, st: Styles, thumbs: int) -> LongTable:
    head = [raw(x, st.th) for x in ("#", "", "File / SHA-256", "Status", "Faces", "Top region", "Score", "Verdict / note")]
    data: list[list[Any]] = [head]
    shown = 0
    for r in rows:
        note = r.reason or r.verdict or ""
        if r.duplicate_of:
            note = f"copy of {r.duplicate_of}" + (f"; {note}" if note else "")
        thumb: Any = ""
        if shown < thumbs and r.thumb and r.is_original_analysis:
            thumb = _thumb(out_dir / r.thumb)
            shown += 1
        data.append([
            P("" if r.rank is None else r.rank, st.tiny), thumb,
            [P(r.file, st.tiny), P(r.sha256 or "", st.tiny)],
            P(r.status.value, st.tiny), P("" if r.faces is None else r.faces, st.tiny), P(r.top_region or "", st.tiny),
            P(fmt_num(r.score, 3) if isinstance(r.score, (int, float)) and r.status is Status.ANALYSED else "", st.tiny),
            [P(note, st.tiny, limit=300), *([P(states, st.tiny, limit=300)] if (states := _file_states(r)) else [])],
        ])
    widths = [8 * mm, (THUMB_MM + 2) * mm, 68 * mm, 14 * mm, 9 * mm, 20 * mm, 11 * mm]
    widths.append(WIDTH - sum(widths))
    t = LongTable(data, colWidths=widths, repeatRows=1)
    t.setStyle(TableStyle([font_cmd(), ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#333333")), ("TOPPADDING", (0, 0), (-1, -1), 1),
                           ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    return t


def _flagged_page(r: IndexRow, out_dir: Path, st: Styles) -> list[Any]:
    """The single-photo page 1 blocks, from the item's sidecar and overlay."""
    assert r.json is not None
    try:
        d = read_json_file(out_dir / r.json, ValueError, "missing sidecar")
    except (ValueError, OSError):
        return [PageBreak(), P(f"#{r.rank} {r.file}: sidecar unreadable, see index", st.h1)]
    if not isinstance(d, dict):
        return []
    ov = _read_rgb(out_dir / r.overlay) if r.overlay else None
    return [PageBreak(), P(f"#{r.rank}  {r.file}", st.h1), case_line(d, None, st, WIDTH), Spacer(1, 4),
            verdict_box(d, st, WIDTH), Spacer(1, 4), answer_row(d, ov, st, WIDTH, img_h=120 * mm, max_px=1000),
            raw("Summary", st.h2), P(plain_summary(d), st.body)]


def build_scan_summary_pdf(rows: Sequence[IndexRow], header: dict[str, Any], out_dir: Path, top_n: int = 24) -> bytes:
    """Render the summary to bytes (the caller writes atomically). ``rows`` are already sorted by suspicion.

    ``top_n`` bounds both the thumbnails in the index and the flagged photos given a page.
    """
    st = Styles(font_set())
    c = header.get("counts", {})
    flagged = [r for r in rows if r.is_original_analysis and r.verdict == VERDICT_MANIPULATED and r.json]
    story: list[Any] = [
        raw("forgetalk scan summary", st.title),
        P(f"{c.get('files_seen', len(rows))} files: {c.get('analysed', 0)} analysed, {len(flagged)} flagged as {VERDICT_MANIPULATED}, "
          f"{c.get('no_face', 0)} without a face, {c.get('failed', 0)} failed. Index sorted by suspicion (highest face score first); "
          f"then one page per flagged photo (at most {top_n}); the chain of custody closes the document.", st.lead),
        Spacer(1, 3),
        raw(f"Index ({len(rows)} files, most suspicious first)", st.h1),
        _index(rows, out_dir, st, thumbs=top_n),
    ]
    if len(flagged) > top_n:
        story += [Spacer(1, 4), P(f"{len(flagged) - top_n} more flagged photos are in the index only (raise --top to give them pages).", st.small)]
    for r in flagged[:top_n]:
        story += _flagged_page(r, out_dir, st)
    story += [PageBreak(), *_custody(header, st)]
    buf = io.BytesIO()
    run = visible(str(header.get("run_id")))
    doc = SimpleDocTemplate(buf, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN + 4 * mm, bottomMargin=MARGIN + 3 * mm,
                            title="forgetalk scan summary", subject=f"Scan {run} of {visible(str(header.get('input_dir')))}",
                            author=f"forgetalk {header.get('tool_version')}", creator=f"forgetalk {header.get('tool_version')}",
                            producer=f"forgetalk {header.get('tool_version')} (reportlab)", lang="en")
    canvas = numbered_canvas(visible(f"forgetalk scan summary  |  run {clip(run, 40)}"), "", visible(f"results {clip(str(header.get('results_dir')), 120)}"),
                             font_set())
    doc.build(story, canvasmaker=canvas)
    return buf.getvalue()


def write_scan_summary_pdf(path: Path, rows: Sequence[IndexRow], header: dict[str, Any], out_dir: Path, top_n: int = 24) -> Path:
    return atomic_write_bytes(path, build_scan_summary_pdf(rows, header, out_dir, top_n=top_n))
