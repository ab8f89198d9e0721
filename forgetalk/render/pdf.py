"""The PDF case report and the one-page triage form, built in memory as bytes.

Layout of the case report, for an analyst who reads page 1 and a court that may read all:

1. **Page 1 is the answer**: the case line (file, SHA-256, when, tool, case ID, examiner),
   the verdict in words with its error rate, the overlay with numbered regions beside the
   top regions and one sentence each, provenance highlights when that stage ran, and a short
   plain-language summary generated only from the measurements (:mod:`.answer`).
2. **One page per face**: the aligned crop and its heat panel, the regions ranked by
   suspicion relative to real faces with every explanation, notes and model text.
3. **Appendix**: the case record, engine, weights and calibration as labelled values with
   units (:mod:`.labels`), every measured cue per region, methods and limitations.

Numbers are printed from the same dataclass fields that the JSON sidecar serialises, so
nothing in the PDF is absent from the JSON. The document is built with ``invariant=1`` so
two runs over the same analysis give identical bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    KeepInFrame,
    KeepTogether,
    PageBreak,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ..compression import EXCESS_THRESHOLD, Z_THRESHOLD
from ..environment import describe as describe_environment
from ..explain import HEAT_CAVEAT
from ..results import Analysis, AnalysisReport, CueEvidence, FaceResult
from ..verdict import MAX_OUTSIDE_SHARE, MIN_FACE_PX, MIN_JPEG_QUALITY
from .answer import (
    COMPRESSION_DEV_FACES,
    above_all,
    band_words,
    calibration_families,
    compression_false_reports,
    count_of,
    forgeries_phrase,
    key_notes,
    plain_summary,
    region_real_items,
    share_below,
)
from .case import CaseInfo
from .fonts import font_set, visible
from .json_out import report_json
from .labels import labelled_rows
from .overlay import ALPHA_HIGH, ALPHA_LOW, ALPHA_MAX, COLORMAP_NAME, render_face_panel, render_overlay
from .pdfkit import (
    CELL_TEXT_MAX,
    MARGIN,
    PAGE,
    P,
    Styles,
    answer_row,
    case_line,
    clip,
    fmt_num,
    grid_style,
    image,
    kv_table,
    numbered_canvas,
    raw,
    verdict_box,
)

__all__ = ["build_pdf", "build_triage_pdf", "find_engine_calibration", "flatten", "fmt_num"]

WIDTH = PAGE[0] - 2 * MARGIN


# --------------------------------------------------------------------------- helpers kept for callers


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


def find_engine_calibration(engine_info: Mapping[str, Any]) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """(threshold entries, false-positive-rate entries) found anywhere in engine_info."""
    thr, fpr = [], []
    for k, v in flatten(engine_info):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            continue
        leaf = k.rsplit(".", 1)[-1].lower()
        if "fpr" in leaf or "false_positive" in leaf or "false_alarm" in leaf:
            fpr.append((k, v))
        elif "threshold" in leaf or leaf.startswith("fire_"):
            thr.append((k, v))
    return thr, fpr


def _provenance(rep: AnalysisReport) -> tuple[Any, Any]:
    """(provenance record, drawing module) when the provenance stage ran and its renderer exists."""
    prov = getattr(rep, "provenance", None)
    if prov is None:
        return None, None
    try:
        from . import provenance as mod  # issue 11's renderer, when present
    except ImportError:
        return prov, None
    return prov, mod


def provenance_lines(rep: AnalysisReport) -> list[str]:
    """Page-1 highlights: the provenance renderer's own choice when it exists, else flagged findings first."""
    prov, mod = _provenance(rep)
    if prov is None:
        return []
    if mod is not None and hasattr(mod, "provenance_highlights"):
        return [str(x) for x in mod.provenance_highlights(prov)]
    findings = list(getattr(prov, "findings", ()) or ())
    ordered = [f for f in findings if getattr(f, "flag", False)] + [f for f in findings if not getattr(f, "flag", False)]
    return [str(getattr(f, "sentence", f)) for f in ordered] or ["No provenance metadata worth noting was found in the file."]


def _provenance_appendix(rep: AnalysisReport, st: Styles, image_rgb: np.ndarray | None) -> list[Any]:
    prov, mod = _provenance(rep)
    if prov is None:
        return []
    out: list[Any] = [CondPageBreak(30 * mm), raw("Provenance", st.h1)]
    if mod is not None and hasattr(mod, "provenance_appendix"):
        try:
            section = list(mod.provenance_section(prov, st)) if hasattr(mod, "provenance_section") else []
            # The error-level-analysis picture (a visual aid, in no finding) is drawn from the analysed pixels.
            return out + section + list(mod.provenance_appendix(prov, st, image=image_rgb))
        except TypeError:  # a different signature: fall back to the findings table below
            pass
    rows = [(f"{getattr(f, 'source', '')}: {getattr(f, 'code', '')}", getattr(f, "sentence", "")
             + ("" if not getattr(f, "confidence", None) else f" (confidence {f.confidence})") + (" [flagged]" if getattr(f, "flag", False) else ""))
            for f in getattr(prov, "findings", ()) or ()]
    rows += [("note", n) for n in getattr(prov, "notes", ()) or ()]
    return out + [kv_table(rows, st, WIDTH), P("Every provenance field is in the JSON sidecar (provenance).", st.tiny)]


# --------------------------------------------------------------------------- page 1


#: Faces from which page 1's overlay, one photo at half the page's width, carries labels too small
#: to read in print (a group photo of 8 faces: about 0.7 mm; a hostile review): the caption sends
#: the reader to the face pages.
GROUP_CAPTION_FACES = 4


def _overlay_caption(analysis: Analysis) -> str:
    """Page 1's caption, true of the overlay drawn: skin areas are listed with their rank but not
    ringed (they cover the face), and a face too small in the photo for legible labels has none."""
    from .overlay import faces_without_rings

    bare = faces_without_rings(analysis)
    small = (f" Face{'s' if len(bare) > 1 else ''} {', '.join(str(n) for n in bare)} {'are' if len(bare) > 1 else 'is'} too small "
             "in the photo for legible labels: boxed without rings (the face pages rank their regions).") if bare else ""
    many = (f" With {len(analysis.report.faces)} faces the labels are small at this size: each face's page shows its crop, "
            "outlines and ranking at full size.") if len(analysis.report.faces) >= GROUP_CAPTION_FACES else ""
    return ("Overlay: heat over the photo (inferno colour map, 0 to 1; cool pixels untinted); cyan boxes are faces; rings are "
            "numbered by rank as in the list; skin areas are listed with their rank but not ringed, as they cover the face." + small + many)


def _page_one(analysis: Analysis, d: Mapping[str, Any], case: CaseInfo, ov: np.ndarray, st: Styles, img_h: float) -> list[Any]:
    rep = analysis.report
    story: list[Any] = [
        raw("Face-forgery examination", st.title),
        case_line(d, case.to_dict(), st, WIDTH),
        Spacer(1, 4),
        verdict_box(d, st, WIDTH),
        Spacer(1, 4),
        answer_row(d, ov, st, WIDTH, img_h),
        raw(_overlay_caption(analysis), st.tiny),
    ]
    lines = provenance_lines(rep)
    if lines:
        story.append(raw("Provenance (what the file says about its origin; not part of the face score)", st.h2))
        story.extend(P(f"- {line}", st.small, limit=400) for line in lines[:4])
    story += [raw("Summary", st.h2), P(plain_summary(d), st.lead)]
    story += _notes(d, st, k=4, more="in the appendix", limit=400)
    story.append(Spacer(1, 3))
    story.append(raw("Per-face findings follow; the case record, engine, weights, calibration, every measured cue, methods and "
                     "limitations are in the appendix. The JSON sidecar holds every number.", st.tiny))
    return story


def _notes(d: Mapping[str, Any], st: Styles, k: int, more: str, limit: int = 240) -> list[Any]:
    """"Notes from the analysis (2 more in the appendix)" and one line per note, those that change how
    the result reads first (:func:`.answer.key_notes`); nothing when there are none. One line each:
    notes hold semicolons of their own, so a joined list could not be told apart."""
    shown, left = key_notes(d, k, limit)
    if not shown:
        return []
    head = raw("<b>Notes from the analysis</b>" + (f" ({left} more {more})" if left else ""), st.small)
    return [head, *(P(f"- {n}", st.small) for n in shown)]


# --------------------------------------------------------------------------- one page per face


def _relative(suspicion: float | None, real_items: tuple[int, str] | None) -> str:
    """A region's "Relative to real faces" cell: "above 97 %", or, above every real face, how many
    those were ("above all 371 real-face items of its size band ..."; "above 100 %" read as every
    real face there is)."""
    if suspicion is None:
        return "n/a (uncalibrated)"
    if suspicion >= 1.0:
        return above_all(real_items)
    return f"above {share_below(suspicion)}"


def _without_caveat(sentence: str) -> str:
    """A region's sentence as its table row prints it: the heat caveat, which would otherwise
    repeat in every row (seven times on one face page), is said once above the table."""
    return sentence.replace(" " + HEAT_CAVEAT, "")


def _caveat_note(face: FaceResult, st: Styles) -> list[Any]:
    """The heat caveat, once, above a region table whose rows carried it (nothing otherwise): read
    before the rows, which a long table carries onto the next page."""
    if not any(HEAT_CAVEAT in x for r in face.regions for x in r.explanations):
        return []
    return [raw("The heatmap means and shares in this table are heat, not probabilities; 0.5 is the engine's pixel threshold, "
                "and a region's percentile against real faces (third column) says how unusual it is.", st.tiny), Spacer(1, 2)]


def _region_table(face: FaceResult, st: Styles, engine_info: Mapping[str, Any] | None = None) -> Table:
    header = [raw(x, st.th) for x in ("#", "Region", "Relative to real faces", "Saliency", "Explanations (from the measurements)")]
    data: list[list[Any]] = [header]
    items = region_real_items(engine_info or {}, face.face_size_px)
    for r in face.regions:
        rel = _relative(r.suspicion, items)
        if r.real_excess is not None:
            rel += f"\nexcess {fmt_num(r.real_excess, 2)}"
        sal = f"{fmt_num(r.saliency)}\nmean {fmt_num(r.mean_heat, 2)}"
        if r.region_word_prob is not None:
            sal += f"\nword p {fmt_num(r.region_word_prob, 2)}"
        ex = "\n".join(f"- {_without_caveat(x)}" for x in r.explanations) or "-"
        data.append([P(str(r.rank), st.tiny), P(r.label, st.tiny), P(rel, st.tiny), P(sal, st.tiny), P(ex, st.tiny, limit=CELL_TEXT_MAX)])
    t = Table(data, colWidths=[0.04 * WIDTH, 0.12 * WIDTH, 0.13 * WIDTH, 0.1 * WIDTH, 0.61 * WIDTH], repeatRows=1, hAlign="LEFT")
    style = grid_style(header=True, pad=1.2)
    for i in range(2, len(data), 2):
        style.add("BACKGROUND", (0, i), (-1, i), colors.HexColor("#f7f7f7"))
    t.setStyle(style)
    return t


def _pixels_word(rep: AnalysisReport) -> str:
    """" px" or, for a photo analysed reduced, " px of the analysed picture (1/2 of the file's
    resolution: multiply by 2 for the file's pixels)": box coordinates and face sizes are the
    analysed picture's, and a reader checking them against the file was off by the factor."""
    r = int(getattr(rep.input, "reduction", 1) or 1)
    if r <= 1:
        return " px"
    return f" px of the analysed picture (1/{r} of the file's resolution: multiply by {r} for the file's pixels)"


def _face_page(analysis: Analysis, i: int, face: FaceResult, st: Styles) -> list[Any]:
    x1, y1, x2, y2 = face.box
    px = _pixels_word(analysis.report)
    head: list[Any] = [
        P(f"Face {face.index + 1}: {face.verdict} (score {fmt_num(face.score)})", st.h1),
        P(f"{face.verdict_reason}. Box x1 {fmt_num(x1, 0)}, y1 {fmt_num(y1, 0)}, x2 {fmt_num(x2, 0)}, y2 {fmt_num(y2, 0)}{px}; "
          f"face size {fmt_num(face.face_size_px, 0)}{' px' if px == ' px' else ' px (analysed picture)'}; detection score {fmt_num(face.detection_score, 2)}.",
          st.small, limit=CELL_TEXT_MAX),
        Spacer(1, 2),
    ]
    if i < len(analysis.faces):
        head += [
            image(render_face_panel(analysis.faces[i], face), WIDTH, 62 * mm, max_px=1100),
            raw("Left: aligned 512 x 512 crop. Right: heat over the dimmed crop; cyan outlines are the top-ranked regions, numbered "
                "by rank as in the table (skin areas, which cover the face, are ranked but not outlined, so the numbers can skip "
                "them); grey outlines are the other regions.", st.tiny),
        ]
    out: list[Any] = [PageBreak(), KeepTogether(head), Spacer(1, 3)]
    calibrated = any(r.suspicion is not None for r in face.regions)
    out.append(P("Regions ranked by suspicion relative to real faces" if calibrated else "Regions ranked by saliency", st.h2))
    out += _caveat_note(face, st)
    out.append(_region_table(face, st, analysis.report.engine_info) if face.regions else raw("No region could be measured for this face.", st.body))
    if face.model_text:
        out += [P("Model-written description", st.h2), P(face.model_text, st.body),
                raw("Generated by a language model from the image; it is not a measurement.", st.tiny)]
    if face.notes:
        out.append(P("Notes: " + " ".join(face.notes), st.small, limit=CELL_TEXT_MAX))
    return out


# --------------------------------------------------------------------------- appendix


def _dimensions(inp: Any) -> str:
    """The file's size and, for a photo reduced to fit the analysis budget, the analysed size with
    the factor: "Dimensions 2048 x 2400 px" was the analysed size of a 4096 x 4800 file."""
    r = int(getattr(inp, "reduction", 1) or 1)
    nw, nh = getattr(inp, "native_width", None), getattr(inp, "native_height", None)
    if r > 1 and nw and nh:
        return (f"{nw} x {nh} px in the file; analysed at {inp.width} x {inp.height} px (reduced by a factor of {r} on each side "
                "to fit the analysis memory budget); both after EXIF orientation")
    return f"{inp.width} x {inp.height} px (after EXIF orientation)"


def _case_rows(rep: AnalysisReport, case: CaseInfo) -> list[tuple[str, Any]]:
    inp = rep.input
    match = "identical" if inp.sha256 == inp.sha256_after else "MISMATCH: the file changed while it was analysed"
    rows: list[tuple[str, Any]] = [
        ("Case ID", case.case_id or "not given"),
        ("Examiner", case.examiner or "not given"),
        ("File name", inp.name),
        ("Full path", inp.path),
        ("SHA-256 before analysis", inp.sha256),
        ("SHA-256 after analysis", f"{inp.sha256_after} ({match})"),
        ("Size", f"{inp.size_bytes} bytes"),
        ("Dimensions", _dimensions(inp)),
        ("Format / mode", f"{inp.format} / {inp.mode}"),
        ("EXIF orientation", str(inp.exif_orientation)),
        ("Estimated JPEG quality", fmt_num(getattr(inp, "jpeg_quality", None))),
        ("Input notes", "; ".join(inp.notes) if inp.notes else "none"),
        ("Analysis started (UTC)", rep.started_at),
        ("Analysis finished (UTC)", rep.finished_at),
        ("Stage timings", ", ".join(f"{k} {fmt_num(v, 3)} s" for k, v in rep.timings_s.items()) or "n/a"),
        ("Tool", f"forgetalk {rep.tool_version} (report schema {rep.schema})"),
    ]
    rows += [(label, f"{value} {unit}".strip()) for label, value, unit in labelled_rows(rep.parameters, "run parameter ")[0]]
    rows += [(label, f"{value} {unit}".strip()) for label, value, unit in labelled_rows(rep.face_backend, "face backend ")[0]]
    if rep.environment:
        rows.append(("Software environment", describe_environment(rep.environment)))
    st = rep.self_test
    rows.append(("Known-answer self-test", "not run (analyze --self-test runs it first)" if st is None else
                 f"{st.outcome()}; {st.seconds:.1f} s; answers file SHA-256 {st.answers_sha256}"))
    if rep.warnings:
        rows.append(("Warnings", "\n".join(f"- {w}" for w in rep.warnings)))
    return rows


def _labelled_table(rows: list[tuple[str, str, str]], st: Styles) -> Table:
    data: list[list[Any]] = [[raw(x, st.th) for x in ("Quantity", "Value", "Unit")]]
    for label, value, unit in rows:
        data.append([P(label, st.key), P(value, st.mono if "SHA-256" in label else st.small, limit=CELL_TEXT_MAX), P(unit, st.small)])
    t = Table(data, colWidths=[0.4 * WIDTH, 0.47 * WIDTH, 0.13 * WIDTH], repeatRows=1, hAlign="LEFT")
    t.setStyle(grid_style(header=True))
    return t


def _cue_text(e: CueEvidence) -> list[str]:
    """Cue (with its unit), value, what it is compared with, the reference value(s), ratio, z, fired.

    A cue compared with the rest of the same face shows the rest's value and the ratio; one compared
    with real faces (the consistency cues) shows the real-face median and 1st-99th percentiles and no
    ratio (a value over a median, of two logs for a log cue, means nothing). A natural-log value also
    shows the ratio it stands for."""
    import math

    from ..explain import is_log_unit

    real = e.compared_with == "real_faces"
    cue = f"{e.label} [{e.unit}]" if e.unit else e.label
    value = fmt_num(e.region_value)
    if is_log_unit(e.unit) and e.region_value is not None and math.isfinite(e.region_value):
        value += f" (ratio x{math.exp(e.region_value):.2f})"
    if real:
        ref = f"median {fmt_num(e.real_median)}; 1st-99th percentile {fmt_num(e.real_q01)} to {fmt_num(e.real_q99)}"
        nums = (e.real_median, e.real_q01, e.real_q99)
        if is_log_unit(e.unit) and all(v is not None and math.isfinite(v) for v in nums):
            med, lo, hi = (math.exp(v) for v in nums if v is not None)
            ref += f" (ratio x{med:.2f}; x{lo:.2f} to x{hi:.2f})"
        return [cue, value, "real faces", ref, "n/a", fmt_num(e.z, 2), "yes" if e.fired else "no"]
    return [cue, value, "rest of face", fmt_num(e.rest_value), fmt_num(e.ratio, 2), fmt_num(e.z, 2), "yes" if e.fired else "no"]


#: Appendix C columns: header and share of the page width.
_CUE_COLUMNS = (("Region", 0.1), ("Cue [unit]", 0.25), ("Value", 0.11), ("Compared with", 0.1), ("Reference: rest of face, or real-face median and range", 0.2),
                ("Ratio region / rest", 0.07), ("z (real-face SDs)", 0.08), ("Fired", 0.05))
_CUE_FONT_SIZE = 6.5
_CUE_PAD = 2.0  # left and right cell padding (points)


def _wrap(text: str, width: float, font: str, size: float = _CUE_FONT_SIZE) -> str:
    """``text`` broken into lines that fit ``width`` points (plain table cells do not wrap by
    themselves; a cue name was clipped at 40 characters instead). A word longer than a line is
    split by characters, so nothing is cut off."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            cand = f"{line} {word}" if line else word
            if stringWidth(cand, font, size) <= width:
                line = cand
                continue
            if line:
                lines.append(line)
            line = word
            while len(line) > 1 and stringWidth(line, font, size) > width:
                cut = 1
                while cut < len(line) - 1 and stringWidth(line[: cut + 1], font, size) <= width:
                    cut += 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return "\n".join(lines)


def _cue_table(face: FaceResult, st: Styles) -> Table | None:
    """Every measured cue of every region as plain cells (cheap to lay out, the numbers of the JSON),
    wrapped to their columns rather than clipped."""
    widths = [f * WIDTH for _, f in _CUE_COLUMNS]
    wrap = [w - 2 * _CUE_PAD for w in widths]
    data: list[list[Any]] = [[_wrap(h, wrap[i], st.fonts.bold) for i, (h, _) in enumerate(_CUE_COLUMNS)]]
    for r in face.regions:
        for e in r.evidence:
            cells = [visible(r.label), *(visible(x) for x in _cue_text(e))]
            data.append([_wrap(c, wrap[i], st.fonts.regular) for i, c in enumerate(cells)])
    if len(data) == 1:
        return None
    t = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), st.fonts.regular, _CUE_FONT_SIZE),
        ("FONT", (0, 0), (-1, 0), st.fonts.bold, _CUE_FONT_SIZE),
        ("LEADING", (0, 0), (-1, -1), _CUE_FONT_SIZE + 1),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), _CUE_PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), _CUE_PAD),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("TOPPADDING", (0, 0), (-1, -1), 0.6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 0.6),
    ]))
    return t


def _without_key(tree: Mapping[str, Any], key: str) -> tuple[dict[str, Any], Any]:
    """``tree`` without ``key`` at any depth, and the first value found under it (None if absent)."""
    found: list[Any] = []

    def strip(node: Any) -> Any:
        if not isinstance(node, Mapping):
            return node
        out = {}
        for k, v in node.items():
            if k == key:
                found.append(v)
            else:
                out[k] = strip(v)
        return out

    return strip(tree), (found[0] if found else None)


def _rates_by_size(rows: Any, st: Styles) -> list[Any]:
    """The calibration's rates at the verdict threshold per face-size band (``rates_by_face_px``) as
    a small table: the appendix printed them as a Python dict ("{'face_px': [0.0, 100.0], ...}")."""
    if not isinstance(rows, list) or not rows or not all(isinstance(r, Mapping) for r in rows):
        return []

    def rate(v: Any, n: Any) -> str:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not isinstance(n, int) or n <= 0:
            return "n/a"
        return f"{100 * v:.1f} % ({count_of(float(v), n)})"

    data: list[list[Any]] = [[raw(x, st.th) for x in ("Face size in the photo", "Untouched items", "False-positive rate",
                                                       "Forgeries", "Detection rate")]]
    for r in rows:
        edges = list(r.get("face_px") or [None, None]) + [None, None]
        lo, hi = (float(x) if isinstance(x, (int, float)) else None for x in edges[:2])
        data.append([P(band_words(lo, hi), st.small), P(fmt_num(r.get("n_real")), st.small), P(rate(r.get("fpr"), r.get("n_real")), st.small),
                     P(fmt_num(r.get("n_fake")), st.small), P(rate(r.get("tpr"), r.get("n_fake")), st.small)])
    t = Table(data, colWidths=[0.28 * WIDTH, 0.16 * WIDTH, 0.2 * WIDTH, 0.16 * WIDTH, 0.2 * WIDTH], repeatRows=1, hAlign="LEFT")
    t.setStyle(grid_style(header=True))
    return [KeepTogether([P("Rates at the verdict threshold by face size in the photo (validation items of the calibration)", st.h2), t])]


def _appendix(rep: AnalysisReport, case: CaseInfo, st: Styles, image_rgb: np.ndarray | None) -> list[Any]:
    out: list[Any] = [PageBreak(), raw("Appendix", st.title), raw("A. Case record", st.h1), kv_table(_case_rows(rep, case), st, WIDTH)]
    info, by_size = _without_key(rep.engine_info, "rates_by_face_px")
    rows, left = labelled_rows(info)
    out += [raw("B. Engine, weights and calibration", st.h1), _labelled_table(rows, st)]
    out += _rates_by_size(by_size, st)
    if left:
        out.append(P(f"{left} fitting diagnostics (candidate scores, model coefficients) are in the JSON sidecar under engine_info.", st.tiny))
    thr, fpr = find_engine_calibration(rep.engine_info)
    if not (thr or fpr) and not any(find_engine_calibration(f.engine_meta)[0] for f in rep.faces):
        out.append(raw("<b>Calibration.</b> The engine reported no verdict threshold or false-positive rate, so scores "
                       "should be treated as uncalibrated rankings rather than probabilities.", st.para))
    for face in rep.faces:
        frows, _ = labelled_rows({k: v for k, v in face.engine_meta.items() if not isinstance(v, Mapping) or k == "features"})
        if frows:
            out += [P(f"Face {face.index + 1}: engine values", st.h2), _labelled_table(frows, st)]
    out += _provenance_appendix(rep, st, image_rgb)
    cue_tables = [(f, _cue_table(f, st)) for f in rep.faces]
    if any(t is not None for _, t in cue_tables):
        out += [CondPageBreak(40 * mm), raw("C. Measured cues per region", st.h1),
                raw("A cue compares a statistic of the region either with the same statistic over the rest of the same face "
                    "(Reference: the rest's value; ratio = region / rest) or, for the consistency cues, with real faces (Reference: "
                    "the real-face median and 1st-99th percentile of the same value; no ratio). z says how many real-face SDs the "
                    "ratio, or the value, lies from what real faces show; a cue fires at the engine's threshold. A unit starting "
                    "'ln of' marks the natural log of a ratio (the ratio itself is shown beside the value).", st.small)]
        for f, t in cue_tables:
            if t is not None:
                out += [P(f"Face {f.index + 1}", st.h2), t]
    out += _methods(rep, st)
    return out


def _compression_method() -> str:
    """Methods text for the verdict's second trigger, with its shipped thresholds and the false-report
    counts docs/provenance.md measured: the section named only the engine's threshold."""
    _, dev_faces, mapped, mapped_again = COMPRESSION_DEV_FACES
    return ("<b>Second trigger: JPEG compression history.</b> Independently of the score, each aligned face is read on the JPEG's "
            "block map (aligned double-JPEG model after Bianchi and Piva 2012): a region whose own log-odds of one compression "
            f"per DCT coefficient are positive and exceed those of the face's skin by at least {EXCESS_THRESHOLD:g} and by "
            f"{Z_THRESHOLD:g} standard errors is reported as compressed once where the rest of the face was compressed twice, "
            "as a part pasted in and saved again leaves it; it is ranked first and makes the face \u201clikely manipulated\u201d "
            "whatever the engine's score, and page 1 says which trigger made the verdict. Its false-report rate is measured on "
            f"its own, not by the engine's calibration: on the parsing set's test split, {compression_false_reports()}; none of the {dev_faces} faces of the "
            f"development photos ({mapped} mapped as the files came, {mapped_again} after saving them all again; one of its "
            "three conditions was added after seeing one of them). Anything that moves the block grid (resizing, a reduced "
            "analysis, EXIF rotation) leaves no map, and the warnings say so.")


def _methods(rep: AnalysisReport, st: Styles) -> list[Any]:
    paras: list[Any] = [CondPageBreak(60 * mm), raw("D. Methods and limitations", st.h1)]
    text = [
        "<b>Pipeline.</b> Faces are detected in the photo, aligned to a canonical 512 x 512 crop from five landmarks, "
        "and split into named regions by a dense face mesh. The engine produces a heat map on the crop (0 = nothing "
        "unusual, 1 = most suspicious) that is mapped back onto the photo for the overlay.",
        "<b>Saliency and suspicion.</b> A region's saliency blends the mean heat inside the region with the mean of its hottest quarter "
        "(and, when the engine provides one, its own per-region score). Eyes and brows carry heat on real faces too, so an "
        "engine that ships a region calibration ranks regions by <b>suspicion</b> instead: 'above 97 %' means the region scored "
        "higher than the same region on 97 % of held-out real faces (of a similar size in the photo, when the calibration "
        "has size bands: the crop enlarges a small face, which heats some regions more than others). Neither says that a region was edited: <b>a high value is "
        "not proof of manipulation</b>, and a low one is not proof of authenticity.",
        "<b>Cues.</b> Most cues compare a statistic inside the region with the same statistic over the rest of the same face "
        "(ratio = region / rest): noise-residual level, re-compression and resampling traces, high-frequency energy, colour "
        "and blending-boundary gradients. The consistency cues (iris colour, catchlights, symmetry, part geometry, border "
        "continuity) compare a measurement with its distribution on real faces instead (reference: the real-face median and "
        "1st-99th percentile; no ratio). z is a robust z-score against real faces; z is 0 when the engine is not calibrated.",
        "<b>Verdict and error rate.</b> The face score is compared with a threshold chosen on validation real faces for a "
        "target false-positive rate; page 1 quotes the measured rate, the rate measured on faces of the same size in the photo "
        f"where the calibration has it, and the detection rate on {forgeries_phrase(calibration_families(rep.engine_info))}, the kinds of edit the "
        "face score was fitted on (other edits are still localized and ranked, but flagged less often). The image's score is the highest among "
        f"faces of {MIN_FACE_PX} px and up (a smaller face's score counts only when no face is that large). A face is \u201cinconclusive\u201d whatever its score "
        f"when it is under {MIN_FACE_PX} px or the JPEG's picture data is damaged, and instead of \u201cno evidence\u201d when the JPEG "
        f"quality is under {MIN_JPEG_QUALITY}; a \u201clikely manipulated\u201d face of such a JPEG carries that caution. It is also "
        f"\u201cinconclusive\u201d when it is cut by the photo's edge ({100 * MAX_OUTSIDE_SHARE:.0f} % or more outside), and when its score clears the threshold "
        "in a photo of several judged faces but an untouched photo of that many faces would have a face scoring that high more often "
        "than the target rate (the rate is per face; the reason gives the photo's). The photo's verdict is its most severe face verdict.",
        _compression_method(),
        f"<b>Overlay.</b> Heat is shown with the perceptually ordered '{COLORMAP_NAME}' colour map; pixels with heat below "
        f"{ALPHA_LOW:g} are left untinted and opacity rises to {ALPHA_MAX:g} at heat {ALPHA_HIGH:g}. Face boxes are cyan. "
        "Photos are embedded as JPEG; the overlay PNG keeps full resolution.",
    ]
    paras.extend(raw(t, st.para) for t in text)
    lim = [
        "Small faces (under about 100 px across) are upsampled to the crop size; fine traces are then lost and results are "
        "less reliable. Check the face size printed for each face.",
        "Strong JPEG compression, resizing, screenshots and social-media re-encoding weaken or erase forensic traces and "
        "can also create region-level differences on genuine photos.",
        "Grayscale images carry no colour evidence: on greyscale copies of the test forgeries eye-colour edits were not "
        "found and self-blends less often. Grey faces score lower, so a face with no colour is judged against a threshold "
        "set on greyscale copies of the validation faces (the reason says “greyscale threshold”); at it, 5.7 % of "
        "untouched greyscale test faces and 19.3 % of the forgeries were flagged (3.4 % and 19.2 % in colour). "
        "Make-up, lighting, motion blur, glasses and occlusions can raise cue ratios on genuine faces.",
        "Faces are looked for upright, on their side and upside down (on copies of the photo turned by whole quarter "
        "turns); the detector can still miss a face at any angle. With the default face backend, a tilted face's "
        "landmarks are read on a copy of it turned level, and an upside-down face the detector reads as upright is found "
        "on the half-turned copy by the detector's confidence (660 of 666 such faces in the development and parsing "
        "photos), so a face left upside down is rare but possible: check the face's thumbnail, and turn such a photo "
        "upright first. "
        "Damage to JPEG picture data "
        "is reported only when libjpeg reports it: a few bad bytes can change the rest of the picture without a warning.",
        "The verdict is a screening aid for a trained examiner. Corroborate with provenance, the original file and "
        "other methods before drawing conclusions.",
        f"Report text uses {font_set().description}, embedded. Characters missing from it are drawn with a CJK fallback font where one "
        "is available (reportlab's STSong-Light, not embedded, when no CJK TrueType font is installed) and otherwise as empty "
        "boxes; control characters and undecodable bytes in names are shown as \\xNN escapes. The JSON report holds the exact text.",
    ]
    paras.append(raw("<b>Limitations.</b>", st.body))
    paras.extend(P(f"- {t}", st.body) for t in lim)
    return paras


# --------------------------------------------------------------------------- documents


def _doc(buf: io.BytesIO, rep: AnalysisReport, case: CaseInfo, kind: str) -> SimpleDocTemplate:
    name = visible(rep.input.name)
    return SimpleDocTemplate(
        buf, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN + 4 * mm, bottomMargin=MARGIN + 3 * mm,
        title=f"forgetalk {kind}: {name}", author=visible(case.examiner or f"forgetalk {rep.tool_version}"),
        subject=f"Face-forgery examination of {name}, input SHA-256 {rep.input.sha256}" + (f", case {visible(case.case_id)}" if case.case_id else ""),
        creator=f"forgetalk {rep.tool_version}", producer=f"forgetalk {rep.tool_version} (reportlab)", keywords=["forgetalk", "face forgery", rep.input.sha256, rep.verdict], invariant=1, lang="en",
    )


def _canvas(rep: AnalysisReport, case: CaseInfo, kind: str) -> type:
    left = visible(f"forgetalk {kind}" + (f"  |  case {case.case_id}" if case.case_id else "") + f"  |  {clip(rep.input.name, 60)}")
    footer = visible(f"input SHA-256 {rep.input.sha256}  |  forgetalk {rep.tool_version}")
    return numbered_canvas(left, "", footer, font_set())


def build_pdf(analysis: Analysis, overlay: np.ndarray | None = None, case: CaseInfo | None = None,
              record: dict[str, Any] | None = None) -> bytes:
    """Render the full case report to PDF bytes (page 1 the answer, a page per face, then the appendix).

    ``overlay`` and ``record`` (``report_json(analysis, case=case)``) may be passed when the
    caller already built them (write_outputs does), to avoid drawing a large photo twice and
    building the record twice.
    """
    rep = analysis.report
    case = case or CaseInfo()
    st = Styles(font_set())
    d = record if record is not None else report_json(analysis, case=case)
    ov = overlay if overlay is not None else render_overlay(analysis)
    story = _page_one(analysis, d, case, ov, st, img_h=106 * mm)
    for i, face in enumerate(rep.faces):
        story.extend(_face_page(analysis, i, face, st))
    story += _appendix(rep, case, st, analysis.image)
    buf = io.BytesIO()
    _doc(buf, rep, case, "report").build(story, canvasmaker=_canvas(rep, case, "report"))
    return buf.getvalue()


def build_triage_pdf(analysis: Analysis, overlay: np.ndarray | None = None, case: CaseInfo | None = None,
                     record: dict[str, Any] | None = None) -> bytes:
    """One page: the answer blocks of page 1 and a form for the triage decision (never more than one page).

    ``overlay`` and ``record`` as for :func:`build_pdf`."""
    rep = analysis.report
    case = case or CaseInfo()
    st = Styles(font_set())
    d = record if record is not None else report_json(analysis, case=case)
    ov = overlay if overlay is not None else render_overlay(analysis)
    boxes = "\u2610" if st.fonts.covered is None or 0x2610 in st.fonts.covered else "[ ]"
    decision = Table([
        [P("Triage decision", st.key), P(f"{boxes} escalate to full examination    {boxes} no further action    {boxes} request the original file", st.body)],
        [P("Reviewer", st.key), P("", st.body)],
        [P("Date", st.key), P("", st.body)],
        [P("Notes", st.key), Spacer(1, 18 * mm)],
    ], colWidths=[0.2 * WIDTH, 0.8 * WIDTH], rowHeights=[None, 8 * mm, 8 * mm, None], hAlign="LEFT")
    decision.setStyle(grid_style(key_column=True, pad=3))
    body: list[Any] = [
        raw("Face-forgery triage form", st.title),
        case_line(d, case.to_dict(), st, WIDTH), Spacer(1, 4),
        verdict_box(d, st, WIDTH), Spacer(1, 4),
        answer_row(d, ov, st, WIDTH, img_h=95 * mm, max_px=1000),
        raw("Summary", st.h2), P(plain_summary(d), st.body),
    ]
    body += _notes(d, st, k=3, more="in the JSON report's warnings")  # damage, faces not examined, a reduced photo
    body += [
        Spacer(1, 5),
        decision,
        raw("Generated from measurements only; the full case report (forgetalk analyze --report) holds the per-face findings, "
            "calibration, methods and limitations.", st.tiny),
    ]
    frame_h = PAGE[1] - 2 * MARGIN - 7 * mm - 2 * mm
    story = [KeepInFrame(WIDTH, frame_h, body, mode="shrink")]
    buf = io.BytesIO()
    _doc(buf, rep, case, "triage form").build(story, canvasmaker=_canvas(rep, case, "triage form"))
    return buf.getvalue()
