"""Shared PDF building blocks (reportlab platypus): styles, safe text, JPEG images, tables,
the page header/footer canvas, and the "answer" blocks every document opens with.

Why one kit: the case report, the one-page triage form and the scan summary show the same
verdict box, case line and ranked regions; drawing them in one place keeps the three
documents consistent and keeps all drawing in :mod:`forgetalk.render`.

Craft decisions: photos go in as baseline JPEG (reportlab passes JPEG bytes through
untouched, where a PNG is decoded and re-deflated in pure Python: slower and several times
larger); text uses an embedded TrueType font (subset), also for the canvas' initial font,
so no unembedded standard font slips in; every page carries a header with the case and
"page N of M" and a footer with the input SHA-256, so a loose page can be tied back to the
evidence. Every string that did not originate here goes through :func:`fonts.markup`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Image, Table, TableStyle
from reportlab.platypus.tables import CellStyle

from . import fonts as _fonts
from .answer import TopRegion, region_strength, top_regions, verdict_words
from .fonts import FontSet, markup, visible
from .paragraph import Para

PAGE = A4
MARGIN = 15 * mm
HEADER_H = 7 * mm
#: Longest side of photos embedded in a PDF; the PNG overlay keeps full resolution.
PDF_IMAGE_MAX_PX = 1400
JPEG_QUALITY = 88
#: Cap on text inside one table cell: a cell cannot split across pages, so an enormous
#: explanation would otherwise make the layout fail. The JSON keeps the full text.
CELL_TEXT_MAX = 1500

VERDICT_COLOURS = {
    "likely manipulated": colors.HexColor("#f8d7da"),
    "inconclusive": colors.HexColor("#fff3cd"),
    "no evidence of manipulation found": colors.HexColor("#d4edda"),
    "no face found": colors.HexColor("#e2e3e5"),
}
GRID = colors.HexColor("#bbbbbb")
KEY_BG = colors.HexColor("#f2f2f2")

# Binary (not ASCII85) streams: reportlab's pure-Python ASCII85 encoder is slow and every reader handles binary.
rl_config.useA85 = 0


class Styles:
    """Paragraph styles bound to the registered Unicode fonts."""

    def __init__(self, fs: FontSet | None = None) -> None:
        fs = fs or _fonts.font_set()
        # Plain-string table cells (even empty ones) default to Helvetica, an unembedded standard
        # font; every table in every document drawn here (provenance's too) uses the embedded one.
        CellStyle.fontname = fs.regular
        base = ParagraphStyle("body", fontName=fs.regular, fontSize=8.5, leading=10.5, alignment=TA_LEFT, splitLongWords=1)
        self.body = base
        self.small = ParagraphStyle("small", parent=base, fontSize=7.5, leading=9)
        self.tiny = ParagraphStyle("tiny", parent=base, fontSize=6.5, leading=7.8)
        self.mono = ParagraphStyle("mono", parent=base, fontName=fs.mono, fontSize=7.5, leading=9)
        self.key = ParagraphStyle("key", parent=base, fontName=fs.bold, fontSize=8)
        self.title = ParagraphStyle("title", parent=base, fontName=fs.bold, fontSize=15, leading=18, spaceAfter=3)
        self.h1 = ParagraphStyle("h1", parent=base, fontName=fs.bold, fontSize=12.5, leading=15, spaceBefore=6, spaceAfter=4)
        self.h2 = ParagraphStyle("h2", parent=base, fontName=fs.bold, fontSize=10, leading=12.5, spaceBefore=5, spaceAfter=3)
        self.verdict = ParagraphStyle("verdict", parent=base, fontName=fs.bold, fontSize=14, leading=17)
        self.th = ParagraphStyle("th", parent=base, fontName=fs.bold, fontSize=8, textColor=colors.white)
        self.para = ParagraphStyle("para", parent=base, spaceAfter=3.5)
        self.lead = ParagraphStyle("lead", parent=base, fontSize=9.5, leading=12.5)
        self.fonts = fs


def P(text: object, style: ParagraphStyle, limit: int | None = None) -> Para:  # noqa: N802 - reads like a flowable
    """Paragraph from untrusted text (escaped), optionally truncated for table cells."""
    s = visible(text)
    if limit is not None and len(s) > limit:
        s = s[:limit] + f" [... truncated, {len(s) - limit} more characters in the JSON report]"
    return Para(markup(s), style)


def raw(trusted_markup: str, style: ParagraphStyle) -> Para:
    """Paragraph from markup written in this package (never from data)."""
    return Para(trusted_markup, style)


def fmt_num(v: Any, digits: int = 3) -> str:
    """Fixed-precision number; 'n/a' for None/NaN/inf (the JSON stores those as null)."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return visible(v)
    return f"{f:.{digits}f}" if math.isfinite(f) else "n/a"


def jpeg_bytes(rgb: np.ndarray, max_px: int = PDF_IMAGE_MAX_PX, quality: int = JPEG_QUALITY) -> tuple[bytes, int, int]:
    """RGB array -> (baseline JPEG bytes, width, height), downscaled so the long side is at most max_px.

    ``max_px`` is capped at JPEG's largest side (65,500 px): over it, libjpeg refuses the picture
    and prints its own line on stderr.
    """
    from ..provenance.ela import JPEG_MAX_SIDE

    max_px = min(max_px, JPEG_MAX_SIDE)
    h, w = rgb.shape[:2]
    scale = min(1.0, max_px / max(h, w, 1))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    h, w = rgb.shape[:2]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB
        raise ValueError("JPEG encoding failed")
    return buf.tobytes(), w, h


def image(rgb: np.ndarray, max_w: float, max_h: float, max_px: int = PDF_IMAGE_MAX_PX) -> Image:
    """Embed an RGB array as JPEG, scaled to fit max_w x max_h points (aspect kept)."""
    data, w, h = jpeg_bytes(rgb, max_px)
    ratio = min(max_w / w, max_h / h)
    img = Image(io.BytesIO(data), width=w * ratio, height=h * ratio)
    img.hAlign = "CENTER"
    return img


def kv_table(rows: Iterable[tuple[str, Any]], st: Styles, width: float, key_frac: float = 0.32) -> Table:
    """Two-column label/value table; values are always escaped Paragraphs (SHA-256 in mono)."""
    data = []
    for k, v in rows:
        style = st.mono if ("sha-256" in k.lower() or "sha256" in k.lower()) else st.small
        data.append([P(k, st.key), P(v if isinstance(v, str) else fmt_num(v), style, limit=CELL_TEXT_MAX)])
    if not data:
        data = [[P("(none)", st.small), P("", st.small)]]
    t = Table(data, colWidths=[key_frac * width, (1 - key_frac) * width], hAlign="LEFT")
    t.setStyle(grid_style(key_column=True))
    return t


def font_cmd() -> tuple[Any, ...]:
    """Table cells holding plain strings (even empty ones) are drawn in Helvetica unless told
    otherwise: that would put an unembedded standard font in the PDF."""
    return ("FONT", (0, 0), (-1, -1), _fonts.font_set().regular, 7)


def grid_style(key_column: bool = False, header: bool = False, pad: float = 1.5) -> TableStyle:
    cmds: list[tuple[Any, ...]] = [
        font_cmd(),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, GRID),
        ("TOPPADDING", (0, 0), (-1, -1), pad),
        ("BOTTOMPADDING", (0, 0), (-1, -1), pad),
    ]
    if key_column:
        cmds.append(("BACKGROUND", (0, 0), (0, -1), KEY_BG))
    if header:
        cmds.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#333333")))
    return TableStyle(cmds)


# --------------------------------------------------------------------------- answer blocks


def case_line(rep: Mapping[str, Any], case: Mapping[str, Any] | None, st: Styles, width: float) -> Table:
    """File, SHA-256, when, tool, case ID and examiner: the first thing on page 1."""
    inp = rep.get("input") or {}
    case = case or {}
    sha = str(inp.get("sha256", ""))
    same = inp.get("sha256_after") in (None, sha)
    k = st.key
    data = [
        [P("File", k), P(inp.get("name", ""), st.small), P("Case ID", k), P(case.get("case_id") or "not given", st.small)],
        [P("Examined (UTC)", k), P(rep.get("finished_at", ""), st.small), P("Examiner", k), P(case.get("examiner") or "not given", st.small)],
        [P("SHA-256", k), P(sha + ("" if same else "  (CHANGED during analysis)"), st.mono), "", ""],
        [P("Tool", k), P(f"forgetalk {rep.get('tool_version', '')}, engine {rep.get('engine', '')}", st.small), "", ""],
    ]
    cw = [0.15 * width, 0.45 * width, 0.13 * width, 0.27 * width]
    t = Table(data, colWidths=cw, hAlign="LEFT")
    style = grid_style()
    for row in (2, 3):
        style.add("SPAN", (1, row), (3, row))
    for col in (0, 2):
        style.add("BACKGROUND", (col, 0), (col, -1), KEY_BG)
    t.setStyle(style)
    return t


def verdict_box(rep: Mapping[str, Any], st: Styles, width: float) -> Table:
    head, rate = verdict_words(rep)
    t = Table([[[P(head, st.verdict), P(rate, st.body)]]], colWidths=[width])
    t.setStyle(TableStyle([
        font_cmd(),
        ("BACKGROUND", (0, 0), (-1, -1), VERDICT_COLOURS.get(str(rep.get("verdict")), colors.HexColor("#e2e3e5"))),
        ("BOX", (0, 0), (-1, -1), 1.0, colors.HexColor("#555555")),
        ("LEFTPADDING", (0, 0), (-1, -1), 6),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]))
    return t


def region_list(tops: list[TopRegion], st: Styles, style: ParagraphStyle | None = None) -> list[Para]:
    """Numbered top regions, each with its one-sentence explanation (numbers as on the overlay)."""
    style = style or st.body
    out = []
    for t in tops:
        out.append(raw(f"<b>{t.rank}. {markup(t.label)}</b> ({markup(region_strength(t))})", style))
        out.append(P(t.sentence, style, limit=400))
    return out


def answer_row(rep: Mapping[str, Any], overlay_rgb: np.ndarray | None, st: Styles, width: float, img_h: float, k: int = 3,
               max_px: int = PDF_IMAGE_MAX_PX) -> Table:
    """Overlay (left) beside the top regions with their explanations (right)."""
    tops = top_regions(rep, k)
    left_w = 0.55 * width
    right: list[Any] = [raw("<b>Where and why</b>", st.h2)]
    if tops:
        first = " Regions the JPEG compression history reports come first." if tops[0].sentence.startswith("Compression history:") else ""
        right.append(P(f"Regions of face {tops[0].face} ranked by the share of real faces whose same region scored lower "
                       "(the percentage; regions above every real face by how far above), numbered as on the overlay."
                       f"{first}", st.small))
        right += region_list(tops, st)
    else:
        right.append(P("No region to rank.", st.body))
    others = [f for f in rep.get("faces") or [] if f.get("index", 0) + 1 != (tops[0].face if tops else -1)]
    if others:
        right.append(P("Other faces: " + "; ".join(f"face {f.get('index', 0) + 1} {f.get('verdict')} (score {fmt_num(f.get('score'), 2)})"
                                                    for f in others[:6]) + ("; ..." if len(others) > 6 else ""), st.small))
    cell: Any = image(overlay_rgb, left_w - 4, img_h, max_px) if overlay_rgb is not None else P("(no overlay)", st.small)
    t = Table([[cell, right]], colWidths=[left_w, width - left_w], hAlign="LEFT")
    t.setStyle(TableStyle([font_cmd(), ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0), ("LEFTPADDING", (1, 0), (1, 0), 6)]))
    return t


# --------------------------------------------------------------------------- canvas with header and "page N of M"


def numbered_canvas(header_left: str, header_right: str, footer: str, fs: FontSet) -> type:
    """Canvas subclass that defers page output to print 'page N of M', the header and the footer."""

    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if not kwargs.get("initialFontName"):  # the doc template passes None: no stray unembedded Helvetica
                kwargs["initialFontName"] = fs.regular
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab API
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            w, h = self._pagesize
            self.saveState()
            self.setFont(fs.regular, 7)
            self.setFillColor(colors.HexColor("#555555"))
            y = h - MARGIN + 3 * mm
            self.drawString(MARGIN, y, header_left)
            self.drawRightString(w - MARGIN, y, f"{header_right}page {self._pageNumber} of {total}")
            self.setStrokeColor(GRID)
            self.setLineWidth(0.4)
            self.line(MARGIN, y - 1.5 * mm, w - MARGIN, y - 1.5 * mm)
            self.drawString(MARGIN, 9 * mm, footer)
            self.restoreState()

    return NumberedCanvas


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"
