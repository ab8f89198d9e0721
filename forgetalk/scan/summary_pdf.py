"""The scan's summary PDF: chain of custody, a contact sheet of the most suspicious faces,
and a table of every file with its SHA-256.

Every string that comes from the evidence (file names, error messages) is XML-escaped
before it reaches a reportlab Paragraph, whose mini-markup would otherwise interpret
``<`` and ``&`` in a hostile or unlucky file name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ..io import atomic_write_bytes


def _p(text: Any, style: Any) -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(escape("" if text is None else str(text)), style)


def build_summary_pdf(rows: list[dict[str, Any]], header: dict[str, Any], out_dir: Path, top_n: int = 24) -> bytes:
    """Render the summary to bytes (the caller writes atomically)."""
    import io

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, LongTable, PageBreak, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=7, leading=8.5)
    mono = ParagraphStyle("mono", parent=small, fontName="Courier", fontSize=6, leading=7.5)
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=8.5, leading=10.5)
    buf = io.BytesIO()
    page = landscape(A4)
    doc = SimpleDocTemplate(buf, pagesize=page, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
                            title="forgetalk scan summary", author=f"forgetalk {header.get('tool_version')}")
    story: list[Any] = [_p("forgetalk scan summary", styles["Title"])]

    # -- chain of custody -------------------------------------------------------------
    c = header.get("counts", {})
    engine_info = header.get("engine_info") or {}
    custody = [
        ("Run", f"{header.get('run_id')} (runs in this results folder: {', '.join(str(r) for r in header.get('runs', []))})"),
        ("Started / finished (UTC)", f"{header.get('started_at')} / {header.get('finished_at')}"),
        ("Tool version", f"forgetalk {header.get('tool_version')}"),
        ("Engine", json.dumps(engine_info, sort_keys=True, default=str)[:1500]),
        ("Face backend", json.dumps(header.get("face_backend") or {}, sort_keys=True, default=str)[:800]),
        ("Weights (declared sha256)", json.dumps(header.get("weights_manifests") or {}, sort_keys=True)[:1500]),
        ("Run parameters", json.dumps(header.get("parameters") or {}, sort_keys=True, default=str)),
        ("Input folder", header.get("input_dir")),
        ("Results folder", header.get("results_dir")),
        ("Host", header.get("host")),
        ("Counts", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.items())),
        ("Exit code", str(header.get("exit_code"))),
    ]
    t = Table([[_p(k, small), _p(v, small)] for k, v in custody], colWidths=[45 * mm, page[0] - 24 * mm - 45 * mm])
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke)]))
    story += [t, Spacer(1, 4 * mm),
              _p("Each input is identified by its SHA-256 (table below). Per-file reports, overlays and this summary are listed "
                 "with their SHA-256 in manifest.json; `forgetalk verify RESULTS` re-hashes them.", body)]

    # -- contact sheet of the most suspicious faces -------------------------------------
    top = [r for r in rows if r["status"] == "analysed" and not r.get("duplicate_of") and r.get("thumb")][:top_n]
    if top:
        story += [PageBreak(), _p(f"Top {len(top)} most suspicious faces", styles["Heading2"])]
        cols = 6
        cell_w = (page[0] - 24 * mm) / cols
        img_w = min(cell_w - 4 * mm, 38 * mm)
        cells: list[Any] = []
        for r in top:
            thumb = out_dir / r["thumb"]
            img: Any = Image(str(thumb), width=img_w, height=img_w) if thumb.is_file() else _p("(thumbnail missing)", small)
            cells.append([img, _p(f"#{r['rank']} {r['file']}", small), _p(f"score {r['score']:.3f} · {r.get('top_region') or '-'}", small)])
        grid = [cells[i : i + cols] for i in range(0, len(cells), cols)]
        grid[-1] += [""] * (cols - len(grid[-1]))
        g = Table(grid, colWidths=[cell_w] * cols)
        g.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER")]))
        story.append(g)

    # -- all files ----------------------------------------------------------------------
    story += [PageBreak(), _p(f"All files ({len(rows)}), most suspicious first", styles["Heading2"])]
    data: list[list[Any]] = [[_p(h, small) for h in ("#", "File / SHA-256", "Status", "Faces", "Top region", "Score", "Note")]]
    for r in rows:
        note = r.get("reason") or (f"copy of {r['duplicate_of']}" if r.get("duplicate_of") else r.get("verdict") or "")
        if r.get("duplicate_of") and r.get("reason"):
            note = f"copy of {r['duplicate_of']}; {note}"
        score = r.get("score")
        data.append([
            _p(r["rank"], small),
            [_p(r["file"], small), _p(r.get("sha256") or "", mono)],
            _p(r["status"], small),
            _p("" if r.get("faces") is None else r["faces"], small),
            _p(r.get("top_region") or "", small),
            _p(f"{score:.3f}" if isinstance(score, (int, float)) and r["status"] == "analysed" else "", small),
            _p(note, small),
        ])
    widths = [12 * mm, 95 * mm, 18 * mm, 12 * mm, 28 * mm, 14 * mm]
    widths.append(page[0] - 24 * mm - sum(widths))
    lt = LongTable(data, colWidths=widths, repeatRows=1)
    lt.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                            ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey)]))
    story.append(lt)

    def footer(canvas: Any, doc_: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(12 * mm, 6 * mm, f"forgetalk {header.get('tool_version')} · run {header.get('run_id')} · page {doc_.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def write_summary_pdf(path: Path, rows: list[dict[str, Any]], header: dict[str, Any], out_dir: Path, top_n: int = 24) -> Path:
    return atomic_write_bytes(path, build_summary_pdf(rows, header, out_dir, top_n=top_n))
