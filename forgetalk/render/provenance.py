"""PDF drawing of the provenance record ("File and provenance"); the PDF layout places it.

Owns three pieces the report assembles: :func:`provenance_highlights` (at most three short
sentences for page 1), :func:`provenance_section` (every finding as a plain sentence, for
near the top) and :func:`provenance_appendix` (the full tables and the error level analysis
picture, labelled as a visual aid). Text from the file (software names, comments, XMP) is
evidence-controlled, so it is always escaped. Only reportlab and the ``styles`` object's
paragraph styles (``body``, ``small``, ``tiny``, ``h2``, ``key``, ``mono``) are used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer, Table, TableStyle

from ..provenance.model import ProvenanceReport
from .fonts import font_set, markup, visible
from .paragraph import Para

WIDTH = 180 * mm  # A4 minus 15 mm margins
CELL_MAX = 600
ELA_MAX_PX = 600  # long side of the ELA picture embedded in the PDF
_GRID = colors.HexColor("#bbbbbb")
_KEY_BG = colors.HexColor("#f2f2f2")


class _DefaultStyles:
    """Paragraph styles on the report's registered fonts, for callers that pass none."""

    def __init__(self) -> None:
        fs = font_set()
        self.body = ParagraphStyle("prov-body", fontName=fs.regular, fontSize=8.5, leading=10.5, splitLongWords=1)
        self.small = ParagraphStyle("prov-small", parent=self.body, fontSize=7.5, leading=9)
        self.tiny = ParagraphStyle("prov-tiny", parent=self.body, fontSize=6.5, leading=7.8)
        self.key = ParagraphStyle("prov-key", parent=self.body, fontName=fs.bold, fontSize=7.5, leading=9)
        self.mono = ParagraphStyle("prov-mono", parent=self.body, fontName=fs.mono, fontSize=7, leading=8.5)
        self.h2 = ParagraphStyle("prov-h2", parent=self.body, fontName=fs.bold, fontSize=10, leading=12.5, spaceBefore=5, spaceAfter=3)


def _style(styles: Any, name: str) -> Any:
    return getattr(styles, name, None) or styles.body


def _p(text: object, style: Any, limit: int = CELL_MAX) -> Para:
    s = visible(text)
    if len(s) > limit:
        s = s[:limit] + f" [... {len(s) - limit} more characters in the JSON report]"
    return Para(markup(s), style)


def _kv(rows: list[tuple[str, Any]], styles: Any, key_frac: float = 0.3) -> Table:
    # A field the file does not carry (None) reads "absent", not an empty cell that looks like a rendering fault.
    data = [[_p(k, _style(styles, "key")), _p("absent" if v is None else v, _style(styles, "small"))] for k, v in rows] or [
        [_p("(none)", _style(styles, "small")), _p("", _style(styles, "small"))]]
    t = Table(data, colWidths=[key_frac * WIDTH, (1 - key_frac) * WIDTH], hAlign="LEFT")
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("GRID", (0, 0), (-1, -1), 0.25, _GRID),
                           ("BACKGROUND", (0, 0), (0, -1), _KEY_BG), ("TOPPADDING", (0, 0), (-1, -1), 1.2),
                           ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2)]))
    return t


def provenance_highlights(prov: ProvenanceReport) -> list[str]:
    """At most three short sentences for page 1: flagged findings first, else what the file says."""
    flagged = [f.sentence for f in prov.findings if f.flag and f.code != "malformed_metadata"]
    if flagged:
        out = flagged[:3]
        if len(flagged) > 3:
            out[2] = out[2] + f" ({len(flagged) - 3} more provenance findings in the report.)"
        return out
    c2 = "no Content Credentials" if not prov.c2pa.present else f"Content Credentials: {prov.c2pa.state}"
    cam = " ".join(x for x in (prov.exif.make, prov.exif.model) if x)
    what = f"EXIF names the camera {cam}" if cam else ("EXIF present" if prov.exif.present else "no EXIF")
    out = [f"The file states no editing software, AI generation or edit history ({what}; {c2})."]
    if any(f.code == "malformed_metadata" for f in prov.findings):
        out.append("Some metadata could not be read (see the appendix); the face analysis is not affected.")
    return out


def provenance_section(prov: ProvenanceReport, styles: Any = None) -> list[Flowable]:
    """'File and provenance': every finding as a sentence, flagged ones first and marked."""
    styles = styles or _DefaultStyles()
    body, small = _style(styles, "body"), _style(styles, "small")
    out: list[Flowable] = [Para("File and provenance", _style(styles, "h2")),
                           Para("What the file itself states (metadata, Content Credentials, JPEG structure). These findings "
                                     "stand beside the pixel verdict and are never part of the face score.", _style(styles, "tiny"))]
    for f in prov.findings:
        mark = "\u25b6 " if f.flag else "\u2022 "
        conf = f" [{f.confidence} confidence]" if f.confidence else ""
        out.append(_p(mark + f.sentence + conf, body if f.flag else small))
    return out


def _ela_flowables(image: np.ndarray | None, prov: ProvenanceReport, styles: Any) -> list[Flowable]:
    from reportlab.platypus import Image as RLImage

    from ..provenance.ela import AMPLIFY, error_level

    tiny = _style(styles, "tiny")
    head = [Para("Error level analysis (visual aid only, not a verdict)", _style(styles, "h2")),
            Para(f"The analysed pixels re-saved as JPEG at quality {prov.ela_quality}; the difference is amplified "
                      f"{AMPLIFY:g} times. Pasted or differently compressed areas can stand out, but so do edges, fine texture and "
                      "saturated colours on any genuine photo. Nothing in this picture enters a finding or the face score.", tiny)]
    if image is None:
        return head + [Para("The picture was not drawn: the renderer was given no pixels.", tiny)]
    import io as _io

    from PIL import Image as PILImage

    try:  # a side over JPEG's 65,500 px is re-saved in tiles (provenance.ela); a visual aid never stops the report
        ela = error_level(np.asarray(image, np.uint8), quality=prov.ela_quality)
    except (OSError, ValueError) as exc:
        return head + [Para(markup(visible(f"The picture was not drawn: the re-save as JPEG failed ({exc}).")), tiny)]
    h, w = ela.shape[:2]
    pil = PILImage.fromarray(ela)
    scale = min(1.0, ELA_MAX_PX / max(h, w))
    if scale < 1.0:  # a picture for the eye: the full-resolution ELA is never needed in the PDF
        pil = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), PILImage.BOX)
    buf = _io.BytesIO()
    pil.save(buf, "JPEG", quality=70)  # JPEG, not PNG: a noise-like picture costs ~1 s and ~200 KB as PNG
    buf.seek(0)
    max_w, max_h = WIDTH * 0.6, 95 * mm
    ratio = min(max_w / pil.width, max_h / pil.height)
    return head + [RLImage(buf, width=pil.width * ratio, height=pil.height * ratio)]


def provenance_appendix(prov: ProvenanceReport, styles: Any = None, image: np.ndarray | None = None) -> list[Flowable]:
    """Full tables (EXIF, XMP and its history, IPTC, ICC, PNG text, C2PA, JPEG) and the ELA picture.

    ``styles`` defaults to the report fonts; ``image`` is the analysed RGB (``Analysis.image``),
    without which the ELA picture is omitted with a line saying so.
    """
    styles = styles or _DefaultStyles()
    h2, small, tiny = _style(styles, "h2"), _style(styles, "small"), _style(styles, "tiny")
    e, x, c, j = prov.exif, prov.xmp, prov.c2pa, prov.jpeg
    out: list[Flowable] = [Para("File and provenance: full record", h2)]
    out.append(_kv([("Software named by the file", prov.software or "none"), ("Provenance flags", ", ".join(prov.flags) or "none"),
                    ("Stage time", f"{prov.elapsed_s * 1000:.0f} ms")], styles))
    out += [Para("EXIF", h2), _kv([
        ("Camera", " ".join(v for v in (e.make, e.model) if v) or None), ("Lens", e.lens), ("Body serial", e.body_serial),
        ("Software", e.software), ("Captured (DateTimeOriginal)", e.datetime_original), ("Digitized", e.datetime_digitized),
        ("Modified (DateTime)", e.datetime_modified),
        ("GPS", f"{e.gps_lat:.6f}, {e.gps_lon:.6f}" if e.gps_lat is not None and e.gps_lon is not None else None),
        ("Maker note", f"{e.maker_note_bytes} bytes" if e.maker_note_bytes else "absent"),
        ("Exposure fields", ", ".join(e.exposure_fields) or "none"),
        ("EXIF thumbnail", f"{e.thumbnail_bytes} bytes" if e.thumbnail_bytes else "absent"),
    ] if e.present else [("EXIF", "absent")], styles)]
    if e.fields:
        out.append(Para(f"All {len(e.fields)} EXIF tags", small))
        out.append(_kv(sorted(e.fields.items())[:150], styles, key_frac=0.35))
    xmp_rows: list[tuple[str, Any]] = [("XMP", "absent")] if not x.present else [
        ("Packet size", f"{x.size_bytes} bytes"), ("CreatorTool", x.creator_tool), ("CreateDate", x.create_date),
        ("ModifyDate", x.modify_date), ("MetadataDate", x.metadata_date), ("DocumentID", x.document_id),
        ("InstanceID", x.instance_id), ("OriginalDocumentID", x.original_document_id),
        ("DerivedFrom", "; ".join(f"{k} {v}" for k, v in x.derived_from.items()) or None),
        ("DigitalSourceType", x.digital_source_type)]
    out += [Para("XMP", h2), _kv(xmp_rows, styles)]
    if x.history:
        rows = [[_p(h, _style(styles, "key")) for h in ("action", "when", "software", "changed")]]
        rows += [[_p(v or "", tiny) for v in (ev.action, ev.when, ev.software_agent, ev.changed)] for ev in x.history[:60]]
        t = Table(rows, colWidths=[0.18 * WIDTH, 0.24 * WIDTH, 0.34 * WIDTH, 0.24 * WIDTH], hAlign="LEFT", repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, _GRID), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        out += [Para(f"XMP history ({len(x.history)} events)", small), t]
    if prov.iptc.present:
        out += [Para("IPTC", h2), _kv(list(prov.iptc.fields.items()), styles)]
    out += [Para("ICC profile", h2), _kv([("Profile", f"{prov.icc.description or 'no description'} ({prov.icc.size_bytes} bytes)"
                                                  if prov.icc.present else "absent")], styles)]
    if prov.text_chunks:
        out += [Para("PNG text chunks", h2), _kv(list(prov.text_chunks.items()), styles)]
    c_rows: list[tuple[str, Any]] = [("Manifest", "absent")] if not c.present else [
        ("State", c.state), ("Library validation state", c.validation_state), ("Manifests", c.manifests),
        ("Claim generator", c.claim_generator), ("Title", c.title), ("Signer", c.signer), ("Issuer", c.issuer),
        ("Signed at", c.signed_at),
        ("Actions", "; ".join(f"{a.action}" + (f" ({a.digital_source_type.rsplit('/', 1)[-1]})" if a.digital_source_type else "")
                              + (f" by {a.software_agent}" if a.software_agent else "") for a in c.actions) or None),
        ("Ingredients", "; ".join(c.ingredients) or None), ("Failed checks", "; ".join(c.failures) or "none"),
        ("Declares generative AI", "yes" if c.ai_generated else "no")]
    out += [Para("Content Credentials (C2PA), read offline", h2), _kv(c_rows, styles),
            Para("Offline, no trust list is used: an intact manifest from any certificate is 'untrusted signer', which "
                      "says nothing against the file; 'invalid' means a hash or signature check failed.", tiny)]
    if j is not None:
        dc, t = j.double_compression, j.thumbnail
        out += [Para("JPEG structure", h2), _kv([
            ("Coding", j.coding), ("Chroma subsampling", j.subsampling), ("Components", j.components),
            ("Quality (luminance, IJG-equivalent)", j.quality),
            ("Tables", "; ".join(f"table {q.index}: quality {q.quality}" + (f", libjpeg standard at {q.libjpeg_quality}" if q.libjpeg_quality else ", not libjpeg scaling")
                                 for q in j.quant_tables)),
            ("Software signature", j.software_signature or "no match in the signature table"),
            ("Markers", ", ".join(j.segments)), ("Comments", " | ".join(j.comments) or None),
            ("Data after end of image", f"{j.trailing_bytes} bytes ({j.trailing_kind})" if j.trailing_bytes else "none"),
            ("MPF images", j.mpf_images),
            ("EXIF thumbnail vs main image", ("absent" if not t.present else "not compared" if not t.compared else
                                              f"{t.width}x{t.height}, correlation {t.correlation}, mean difference {t.mean_abs_diff} grey levels: "
                                              + ("MISMATCH" if t.mismatch else "match"))),
            ("Double compression", (f"{'found' if dc.found else 'not found'} (confidence {dc.confidence}; {dc.frequencies_double} of "
                                    f"{dc.frequencies_tested} frequencies; estimated first steps {dc.primary_steps or 'n/a'})"
                                    if dc.tested else (dc.note or "not tested"))),
            ("Double-compression method", dc.method or None),
        ], styles)]
        qrows = [(f"Quantization table {q.index} ({q.precision_bits}-bit)", " ".join(str(v) for v in q.values)) for q in j.quant_tables]
        if qrows:
            out.append(_kv(qrows, styles, key_frac=0.25))
    if prov.notes:
        out += [Para("Metadata notes", h2)] + [_p("- " + n, tiny) for n in prov.notes]
    out.append(Spacer(1, 4))
    out += _ela_flowables(image, prov, styles)
    return out
