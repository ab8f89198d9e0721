"""The PDF case report (reportlab platypus), built in memory as bytes.

Layout: case header (what file, which bytes, which tool/engine/parameters), a verdict
box, the overlay, one section per face (panel, ranked region table with the measured
evidence and explanations, model text, notes), then methods and limitations. Every page
footer carries the page number and the input SHA-256, so a loose page can be tied back to
the evidence.

Every string that did not originate in this module goes through :func:`fonts.markup`
(XML-escaped, control characters made visible, missing glyphs routed to a fallback
font). Numbers are printed from the same dataclass fields that the JSON sidecar
serialises, so nothing in the PDF is absent from the JSON. The document is built with
``invariant=1`` so two runs over the same analysis give identical bytes (the only
varying content is the analysis' own timestamps).
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
from reportlab.platypus import (
    CondPageBreak,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ..io import encode_png
from ..results import (
    VERDICT_INCONCLUSIVE,
    VERDICT_MANIPULATED,
    VERDICT_NO_EVIDENCE,
    VERDICT_NO_FACE,
    Analysis,
    AnalysisReport,
    CueEvidence,
    FaceResult,
)
from .fonts import FontSet, font_set, markup, visible
from .overlay import ALPHA_HIGH, ALPHA_LOW, ALPHA_MAX, COLORMAP_NAME, render_face_panel, render_overlay

PAGE = A4
MARGIN = 15 * mm
#: Longest side of raster images embedded in the PDF; the PNG overlay keeps full resolution.
PDF_IMAGE_MAX_PX = 1800
#: Cap on text inside one table cell: a cell cannot split across pages, so an enormous
#: explanation would otherwise make the layout fail. The JSON keeps the full text.
CELL_TEXT_MAX = 1500

_VERDICT_COLOURS = {
    VERDICT_MANIPULATED: colors.HexColor("#f8d7da"),
    VERDICT_INCONCLUSIVE: colors.HexColor("#fff3cd"),
    VERDICT_NO_EVIDENCE: colors.HexColor("#d4edda"),
    VERDICT_NO_FACE: colors.HexColor("#e2e3e5"),
}


# --------------------------------------------------------------------------- styles


class _Styles:
    """Paragraph styles bound to the registered Unicode fonts."""

    def __init__(self, fs: FontSet) -> None:
        base = ParagraphStyle("body", fontName=fs.regular, fontSize=8.5, leading=10.5, alignment=TA_LEFT, splitLongWords=1)
        self.body = base
        self.small = ParagraphStyle("small", parent=base, fontSize=7.5, leading=9)
        self.mono = ParagraphStyle("mono", parent=base, fontName=fs.mono, fontSize=7.5, leading=9)
        self.key = ParagraphStyle("key", parent=base, fontName=fs.bold, fontSize=8)
        self.title = ParagraphStyle("title", parent=base, fontName=fs.bold, fontSize=16, leading=20, spaceAfter=4)
        self.h1 = ParagraphStyle("h1", parent=base, fontName=fs.bold, fontSize=12.5, leading=15, spaceBefore=8, spaceAfter=4)
        self.h2 = ParagraphStyle("h2", parent=base, fontName=fs.bold, fontSize=10, leading=12.5, spaceBefore=6, spaceAfter=3)
        self.verdict = ParagraphStyle("verdict", parent=base, fontName=fs.bold, fontSize=14, leading=17)
        self.th = ParagraphStyle("th", parent=base, fontName=fs.bold, fontSize=8, textColor=colors.white)
        self.para = ParagraphStyle("para", parent=base, spaceAfter=3.5)
        self.fonts = fs

# Binary (not ASCII85) streams: reportlab's pure-Python ASCII85 encoder cost ~1.5 s per
# report for two images, and every PDF reader handles binary streams.
rl_config.useA85 = 0


def _p(text: object, style: ParagraphStyle, limit: int | None = None) -> Paragraph:
    """Paragraph from untrusted text (escaped), optionally truncated for table cells."""
    s = visible(text)
    if limit is not None and len(s) > limit:
        s = s[:limit] + f" [... truncated, {len(s) - limit} more characters in the JSON report]"
    return Paragraph(markup(s), style)


def _raw(trusted_markup: str, style: ParagraphStyle) -> Paragraph:
    """Paragraph from markup written in this module (never from data)."""
    return Paragraph(trusted_markup, style)


# --------------------------------------------------------------------------- formatting


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


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts/lists -> dotted (key, leaf) pairs, in insertion order."""
    if isinstance(obj, Mapping):
        if not obj and prefix:
            return [(prefix, "{}")]
        out: list[tuple[str, Any]] = []
        for k, v in obj.items():
            out.extend(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in obj):
        out = []
        for i, v in enumerate(obj):
            out.extend(flatten(v, f"{prefix}[{i}]"))
        return out
    return [(prefix, obj)]


def _leaf_text(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return repr(round(f, 6)) if math.isfinite(f) else "n/a"
    if isinstance(v, (list, tuple)):
        return ", ".join(_leaf_text(x) for x in v)
    if isinstance(v, np.ndarray):
        return f"array{tuple(v.shape)}"
    return visible(v)


def find_engine_calibration(engine_info: Mapping[str, Any]) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """(threshold entries, false-positive-rate entries) found anywhere in engine_info.

    Engines are free-form here; matching on key names keeps the methods section honest
    without forcing a schema on every engine.
    """
    thr, fpr = [], []
    for k, v in flatten(engine_info):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            continue  # e.g. "threshold_split": "val" is a description, not a number
        leaf = k.rsplit(".", 1)[-1].lower()
        if "fpr" in leaf or "false_positive" in leaf or "false_alarm" in leaf:
            fpr.append((k, v))
        elif "threshold" in leaf or leaf.startswith("fire_"):
            thr.append((k, v))
    return thr, fpr


# --------------------------------------------------------------------------- building blocks


def _kv_table(rows: Iterable[tuple[str, Any]], st: _Styles, mono_keys: Iterable[str] = (), width: float | None = None) -> Table:
    """Two-column key/value table; values are always escaped Paragraphs."""
    mono = set(mono_keys)
    data = []
    for k, v in rows:
        style = st.mono if (k in mono or ("sha" in k.lower() and isinstance(v, str))) else st.small
        data.append([_p(k, st.key), _p(_leaf_text(v), style, limit=CELL_TEXT_MAX)])
    if not data:
        data = [[_p("(none)", st.small), _p("", st.small)]]
    w = width or (PAGE[0] - 2 * MARGIN)
    t = Table(data, colWidths=[0.3 * w, 0.7 * w], hAlign="LEFT")
    t.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2")),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]))
    return t


def _image(rgb: np.ndarray, max_w: float, max_h: float) -> Image:
    """Embed an RGB array (downscaled to PDF_IMAGE_MAX_PX) scaled to fit max_w x max_h points."""
    h, w = rgb.shape[:2]
    scale = min(1.0, PDF_IMAGE_MAX_PX / max(h, w))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ratio = min(max_w / w, max_h / h)
    img = Image(io.BytesIO(encode_png(rgb)), width=w * ratio, height=h * ratio)
    img.hAlign = "CENTER"
    return img


def _image_reason(rep: AnalysisReport) -> str:
    """Image-level reason: the reason of the face that set the image score."""
    if not rep.faces:
        return "No face was detected, so no face-forgery analysis was performed. This says nothing about non-face content."
    top = max(rep.faces, key=lambda f: f.score)
    return f"Face {top.index + 1}: {top.verdict_reason}"


def _verdict_box(rep: AnalysisReport, st: _Styles) -> Table:
    w = PAGE[0] - 2 * MARGIN
    body = [
        _p(f"Verdict: {rep.verdict}", st.verdict),
        _p(f"Score {fmt_num(rep.score)} (highest face score; engine {rep.engine}); faces analysed: {len(rep.faces)}", st.body),
        _p(_image_reason(rep), st.body, limit=CELL_TEXT_MAX),
    ]
    t = Table([[body]], colWidths=[w])
    t.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), _VERDICT_COLOURS.get(rep.verdict, colors.HexColor("#e2e3e5"))),
        ("BOX", (0, 0), (-1, -1), 1.0, colors.HexColor("#555555")),
        ("LEFTPADDING", (0, 0), (-1, -1), 6),
        ("TOPPADDING", (0, 0), (-1, -1), 5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))
    return t


def _case_rows(rep: AnalysisReport) -> list[tuple[str, Any]]:
    inp = rep.input
    match = "identical" if inp.sha256 == inp.sha256_after else "MISMATCH: the file changed while it was analysed"
    rows: list[tuple[str, Any]] = [
        ("File name", inp.name),
        ("Full path", inp.path),
        ("SHA-256 before analysis", inp.sha256),
        ("SHA-256 after analysis", f"{inp.sha256_after} ({match})"),
        ("Size", f"{inp.size_bytes} bytes"),
        ("Dimensions", f"{inp.width} x {inp.height} px (after EXIF orientation)"),
        ("Format / mode", f"{inp.format} / {inp.mode}"),
        ("EXIF orientation", inp.exif_orientation),
        ("Estimated JPEG quality", fmt_num(getattr(inp, "jpeg_quality", None))),
        ("Input notes", "; ".join(inp.notes) if inp.notes else "none"),
        ("Analysis started (UTC)", rep.started_at),
        ("Analysis finished (UTC)", rep.finished_at),
        ("Stage timings (s)", ", ".join(f"{k} {fmt_num(v, 4)}" for k, v in rep.timings_s.items()) or "n/a"),
        ("Tool", f"forgetalk {rep.tool_version} (report schema {rep.schema})"),
        ("Engine", rep.engine),
    ]
    return rows


def _evidence_text(ev: CueEvidence) -> str:
    fired = "FIRED" if ev.fired else "not fired"
    return (f"{ev.label}: region {fmt_num(ev.region_value)} vs rest {fmt_num(ev.rest_value)}, "
            f"ratio {fmt_num(ev.ratio, 2)}, z {fmt_num(ev.z, 2)} ({fired})")


def _region_table(face: FaceResult, st: _Styles) -> Table:
    w = PAGE[0] - 2 * MARGIN
    header = [_raw(x, st.th) for x in ("#", "Region", "Suspicion / saliency", "Evidence (cue ratios and z)", "Explanations")]
    data: list[list[Any]] = [header]
    for r in face.regions:
        sal = f"{fmt_num(r.saliency)}\nmean {fmt_num(r.mean_heat)}\narea {r.area_px} px"
        if r.suspicion is not None:
            exc = "" if r.real_excess is None else f"\nexcess {fmt_num(r.real_excess, 2)} (1 = real top 1%)"
            sal = f"above {100 * r.suspicion:.0f}% of real faces{exc}\nsaliency {sal}"
        if r.region_word_prob is not None:
            sal += f"\nmodel word p {fmt_num(r.region_word_prob)}"
        ev = "\n".join(_evidence_text(e) for e in r.evidence) or "no cue measured"
        ex = "\n".join(f"- {x}" for x in r.explanations) or "-"
        data.append([
            _p(str(r.rank), st.small),
            _p(r.label, st.small),
            _p(sal, st.small),
            _p(ev, st.small, limit=CELL_TEXT_MAX),
            _p(ex, st.small, limit=CELL_TEXT_MAX),
        ])
    t = Table(data, colWidths=[0.05 * w, 0.14 * w, 0.15 * w, 0.31 * w, 0.35 * w], repeatRows=1, hAlign="LEFT")
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#333333")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for i in range(1, len(data)):
        if i % 2 == 0:
            style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#f7f7f7")))
    t.setStyle(TableStyle(style))
    return t


def _face_section(analysis: Analysis, i: int, face: FaceResult, st: _Styles) -> list[Any]:
    w = PAGE[0] - 2 * MARGIN
    x1, y1, x2, y2 = face.box
    head: list[Any] = [
        _p(f"Face {face.index + 1}: {face.verdict} (score {fmt_num(face.score)})", st.h1),
        _p(f"Box x1 {fmt_num(x1, 1)}, y1 {fmt_num(y1, 1)}, x2 {fmt_num(x2, 1)}, y2 {fmt_num(y2, 1)} px; "
           f"detection score {fmt_num(face.detection_score)}; face size {fmt_num(face.face_size_px, 1)} px.", st.body),
        _p(f"Reason: {face.verdict_reason}", st.body, limit=CELL_TEXT_MAX),
        Spacer(1, 3),
    ]
    if i < len(analysis.faces):
        head += [
            _image(render_face_panel(analysis.faces[i], face), w, 95 * mm),
            _raw("Left: aligned 512 x 512 crop. Right: heat over the dimmed crop; cyan outlines are the top-ranked regions, "
                 "numbered by rank as in the table below; grey outlines are the other regions.", st.small),
        ]
    # The heading stays with its panel; the region table may start on the next page.
    out: list[Any] = [CondPageBreak(60 * mm), KeepTogether(head), Spacer(1, 4)]
    calibrated = any(r.suspicion is not None for r in face.regions)
    out.append(_p("Regions ranked by suspicion relative to real faces" if calibrated else "Regions ranked by saliency", st.h2))
    if face.regions:
        out.append(_region_table(face, st))
    else:
        out.append(_raw("No region could be measured for this face.", st.body))
    if face.model_text:
        out.append(_p("Model-written description", st.h2))
        out.append(_p(face.model_text, st.body))
        out.append(_raw("Generated by a language model from the image; it is not a measurement. "
                        "Where it names a region, the measured evidence above is what supports or contradicts it.", st.small))
    if face.notes:
        out.append(_p("Notes", st.h2))
        out.extend(_p(f"- {n}", st.body) for n in face.notes)
    if face.engine_meta:
        out.append(_p("Engine details for this face", st.h2))
        out.append(_kv_table(flatten(face.engine_meta), st))
    return out


def _methods(rep: AnalysisReport, st: _Styles) -> list[Any]:
    thr, fpr = find_engine_calibration(rep.engine_info)
    # Engines may also report the threshold per face (verdict.py reads it from the engine's
    # per-face meta); show each distinct value once.
    seen = {(k.rsplit(".", 1)[-1], v) for k, v in thr + fpr}
    for face in rep.faces:
        ft, ff = find_engine_calibration(face.engine_meta)
        for dest, found in ((thr, ft), (fpr, ff)):
            for k, v in found:
                if (k.rsplit(".", 1)[-1], v) not in seen:
                    seen.add((k.rsplit(".", 1)[-1], v))
                    dest.append((f"face {face.index + 1}.{k}", v))
    paras: list[Any] = [CondPageBreak(60 * mm), _raw("Methods and limitations", st.h1)]
    text = [
        "<b>Pipeline.</b> Faces are detected in the photo, aligned to a canonical 512 x 512 crop from five landmarks, "
        "and split into named regions by a dense face mesh. The engine produces a heat map on the crop (0 = nothing "
        "unusual, 1 = most suspicious) that is mapped back onto the photo for the overlay.",
        "<b>Saliency.</b> A region's saliency blends the mean heat inside the region with the mean of its hottest quarter "
        "(and, when the engine provides one, its own per-region score). Eyes and brows carry heat on real faces too, so an "
        "engine that ships a region calibration ranks regions by <b>suspicion</b> instead: the fraction of held-out real "
        "faces on which the same region had a lower saliency ('above 97% of real faces'). Raw saliency is still shown and "
        "is in the JSON. Neither says that a region was edited: <b>a high value is not proof of manipulation</b>, and a "
        "low one is not proof of authenticity.",
        "<b>Cues.</b> Each cue compares a statistic inside the region with the same statistic over the rest of the same face "
        "(ratio = region / rest). Typical cues: noise-residual level (resampling or pasting changes sensor noise), JPEG "
        "re-compression traces, high-frequency/blur energy, colour and illumination consistency, and blending-boundary "
        "gradients. z is a robust z-score of the ratio against real faces; a cue 'fires' when z exceeds the engine's "
        "threshold. z is 0 when the engine is not calibrated.",
        f"<b>Overlay.</b> Heat is shown with the perceptually ordered '{COLORMAP_NAME}' colour map; pixels with heat below "
        f"{ALPHA_LOW:g} are left untinted and opacity rises to {ALPHA_MAX:g} at heat {ALPHA_HIGH:g}. Face boxes are cyan.",
    ]
    paras.extend(_raw(t, st.para) for t in text)
    if thr or fpr:
        paras.append(_raw("<b>Calibration reported by the engine</b> (verdict thresholds and false-positive rates):", st.para))
        paras.append(_kv_table([(k if k.startswith("face ") else f"engine_info.{k}", v) for k, v in thr + fpr], st))
    else:
        paras.append(_raw("<b>Calibration.</b> The engine reported no verdict threshold or false-positive rate, so scores "
                          "should be treated as uncalibrated rankings rather than probabilities.", st.para))
    lim = [
        "Small faces (under about 100 px across) are upsampled to the crop size; fine traces are then lost and results are "
        "less reliable. Check the face size printed for each face.",
        "Strong JPEG compression, resizing, screenshots and social-media re-encoding weaken or erase forensic traces and "
        "can also create region-level differences on genuine photos.",
        "Grayscale images carry no colour evidence; make-up, lighting, motion blur, glasses and occlusions can raise "
        "cue ratios on genuine faces.",
        "The verdict is a screening aid for a trained examiner. Corroborate with provenance, the original file and "
        "other methods before drawing conclusions.",
        f"Report text uses {font_set().description}. Characters missing from it are drawn with a CJK fallback font where one "
        "is available (reportlab's STSong-Light, not embedded, when no CJK TrueType font is installed) and otherwise as empty "
        "boxes; control characters and undecodable bytes in names are shown as \\xNN escapes. The JSON report holds the exact text.",
    ]
    paras.append(Spacer(1, 4))
    paras.append(_raw("<b>Limitations.</b>", st.body))
    paras.extend(_p(f"- {t}", st.body) for t in lim)
    return paras


# --------------------------------------------------------------------------- canvas with "page N of M"


def _numbered_canvas_class(footer_left: str, fs: FontSet) -> type:
    """Canvas subclass that defers page output to print 'page N of M' and the SHA-256 footer."""

    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("initialFontName", fs.regular)  # no stray unembedded Helvetica
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab API
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            self.saveState()
            self.setFont(fs.regular, 7)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(MARGIN, 9 * mm, footer_left)
            self.drawRightString(PAGE[0] - MARGIN, 9 * mm, f"page {self._pageNumber} of {total}")
            self.restoreState()

    return NumberedCanvas


# --------------------------------------------------------------------------- entry point


def build_pdf(analysis: Analysis, overlay: np.ndarray | None = None, case: Any = None) -> bytes:
    """Render the full case report to PDF bytes.

    ``overlay`` may be passed when the caller already rendered it (write_outputs does), to
    avoid drawing a large photo twice.
    """
    rep = analysis.report
    fs = font_set()
    st = _Styles(fs)
    w = PAGE[0] - 2 * MARGIN
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=MARGIN + 5 * mm,
        title=f"forgetalk report: {visible(rep.input.name)}", author=f"forgetalk {rep.tool_version}",
        subject=f"sha256 {rep.input.sha256}", creator=f"forgetalk {rep.tool_version}", invariant=1,
    )
    story: list[Any] = [
        _raw("forgetalk face-forgery report", st.title),
        _p(rep.input.name, st.h2),
        _verdict_box(rep, st),
        Spacer(1, 6),
        _raw("Case", st.h1),
        _kv_table(_case_rows(rep), st),
    ]
    if rep.warnings:
        story.append(_raw("Warnings", st.h2))
        story.extend(_p(f"- {x}", st.body) for x in rep.warnings)
    if rep.provenance is not None:  # issue 11: what the file itself states (forgetalk/render/provenance.py)
        from .provenance import provenance_section

        story += provenance_section(rep.provenance, st)
    story += [
        _raw("Engine", st.h2), _kv_table(flatten(rep.engine_info), st),
        _raw("Face backend", st.h2), _kv_table(flatten(rep.face_backend), st),
        _raw("Run parameters", st.h2), _kv_table(flatten(rep.parameters), st),
    ]
    ov = overlay if overlay is not None else render_overlay(analysis)
    story.append(KeepTogether([
        _raw("Overlay", st.h1),
        _image(ov, w, 135 * mm),
        _raw("Heat map over the photo (full resolution in the overlay PNG). Cyan boxes are faces, numbered as below; "
             "rings mark the centroids of each face's top regions, listed with rank and saliency next to the box.", st.small),
    ]))
    for i, face in enumerate(rep.faces):
        story.extend(_face_section(analysis, i, face, st))
    if rep.provenance is not None:
        from .provenance import provenance_appendix

        story += provenance_appendix(rep.provenance, st, image=analysis.image)
    story += _methods(rep, st)
    footer = visible(f"forgetalk {rep.tool_version} | input SHA-256 {rep.input.sha256}")
    doc.build(story, canvasmaker=_numbered_canvas_class(footer, fs))
    return buf.getvalue()


def build_summary_pdf(analysis: Analysis, overlay: np.ndarray | None = None, case: Any = None) -> bytes:  # replaced below
    return build_pdf(analysis, overlay=overlay)
