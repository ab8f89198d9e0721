"""The provenance stage: every reader run on the hashed bytes, findings assembled.

Owns the order and the isolation of the readers: each one runs inside its own guard, so a
reader that fails on hostile metadata produces a note and the others (and the face
analysis) go on. Used through ``load_image(..., inspect=inspect)``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from datetime import datetime
from typing import Any

from PIL import Image

from .. import png_chunks
from ..io import ensure_heif_opener, is_heif, open_evidence_image
from . import findings as F
from .credentials import read_c2pa
from .double_jpeg import detect as detect_double
from .exif import read_exif
from .icc import read_icc
from .iptc import read_iptc
from .jpeg import compare_thumbnail, exif_thumbnail, read_jpeg
from .model import C2paInfo, ExifInfo, Finding, IccInfo, IptcInfo, JpegInfo, ProvenanceReport, XmpInfo
from .png_text import read_png_text
from .xmp import XmpSegments, jpeg_xmp_segments, packet, png_xmp_packets, read_xmp


def _guard(label: str, notes: list[str], fn: Any, default: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one broken source never stops the others
        notes.append(f"{label} could not be read ({exc.__class__.__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})")
        return default


def _open_metadata(data: bytes, notes: list[str]) -> Image.Image:
    """Pillow's view of the file's metadata. A PNG that Pillow refuses for some ancillary chunks
    (one that inflates beyond its limits, a bad CRC...) is opened without those chunks, named in a
    note, so that one hostile chunk does not hide the EXIF, XMP and ICC profile beside it; the text
    chunks themselves are still read from the original bytes, with limits (:mod:`.png_text`)."""
    try:
        return open_evidence_image(data)
    except Exception:
        fixed = png_chunks.repaired(data)
        if fixed is None:
            raise
    clean, problems = fixed
    img = open_evidence_image(clean)
    notes.extend(f"PNG chunk {p.describe()}: skipped when reading the other metadata" for p in problems)
    return img


def inspect(data: bytes, fmt: str, now: datetime | None = None) -> ProvenanceReport:
    """Everything the file says about itself. ``fmt`` is Pillow's format name."""
    t0 = time.perf_counter()
    now = now or datetime.now()
    notes: list[str] = []
    if is_heif(data):
        ensure_heif_opener()
    img: Image.Image | None = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = _open_metadata(data, notes)  # header and metadata only; pixels are never decoded here
        for w in caught:
            notes.append(f"metadata: {str(w.message).splitlines()[0][:160]}")
    except Exception as exc:  # noqa: BLE001
        notes.append(f"metadata could not be read ({exc.__class__.__name__})")
    exif = _guard("EXIF", notes, lambda: read_exif(img, notes), ExifInfo()) if img is not None else ExifInfo()
    xmp = _guard("XMP", notes, lambda: read_xmp(packet(img.info), notes), XmpInfo()) if img is not None else XmpInfo()
    iptc = _guard("IPTC", notes, lambda: read_iptc(img, notes), IptcInfo()) if img is not None else IptcInfo()
    icc = _guard("ICC profile", notes, lambda: read_icc(img.info.get("icc_profile"), notes), IccInfo()) if img is not None else IccInfo()
    c2pa = _guard("Content Credentials (C2PA)", notes, lambda: read_c2pa(data, fmt, notes), C2paInfo())
    text = _guard("PNG text", notes, lambda: read_png_text(data, notes), {}) if fmt == "PNG" else {}
    jpeg: JpegInfo | None = None
    if fmt in ("JPEG", "MPO"):
        jpeg, thumb_len = _guard("JPEG structure", notes, lambda: _jpeg(data, notes), (None, None))
        if thumb_len:
            exif = replace(exif, thumbnail_bytes=thumb_len)
    found: list[Finding] = []
    found += F.exif_findings(exif, now)
    found += F.xmp_findings(xmp, F.capture_time(exif, xmp))
    if fmt in ("JPEG", "MPO", "PNG"):
        segments = jpeg_xmp_segments if fmt != "PNG" else png_xmp_packets
        found += _guard("XMP segments", notes, lambda: _other_xmp(segments(data), xmp), [])
    found += F.c2pa_findings(c2pa)
    if jpeg is not None:
        found += F.jpeg_findings(jpeg, exif)
    found += F.png_findings(text)
    if icc.description:
        # The pixels are analysed as stored: a wide-gamut profile (Display P3 from phones) is named, never applied.
        applied = "" if icc.description.lower().startswith("srgb") else " (not applied: the pixels are analysed as stored)"
        found.append(Finding("icc", "icc", f"ICC colour profile: {icc.description}{applied}.", flag=False))
    if iptc.fields.get("OriginatingProgram"):
        # An editor is flagged under the code every other source's editor gets ("editing_software"),
        # which docs/scan.md tells analysts to filter the index's provenance_flags by; it was
        # flagged as "software", so an edit named by IPTC alone escaped that filter.
        program = iptc.fields["OriginatingProgram"]
        editor = F.is_editor(program)
        found.append(Finding("editing_software" if editor else "software", "iptc",
                             f"IPTC OriginatingProgram: {program}" + (", an image editor." if editor else "."), flag=editor))
    if notes:
        found.append(Finding("malformed_metadata", "file", f"Some metadata could not be read ({len(notes)} note(s), listed in the appendix); "
                             "the face analysis is not affected."))
    software = exif.software or xmp.creator_tool or c2pa.claim_generator or text.get("Software") or text.get("software")
    # Flagged findings first, in source order, so the report's top lines are the ones that matter.
    ordered = tuple([f for f in found if f.flag] + [f for f in found if not f.flag])
    return ProvenanceReport(format=fmt, exif=exif, xmp=xmp, iptc=iptc, icc=icc, c2pa=c2pa, jpeg=jpeg, text_chunks=text,
                            software=software, findings=ordered, notes=tuple(notes), elapsed_s=round(time.perf_counter() - t0, 4))


#: Distinct standard XMP packets, besides the one read, that are parsed to say what they name.
MAX_OTHER_XMP = 4


def _other_xmp(segs: XmpSegments, read: XmpInfo) -> list[Finding]:
    """Findings on a file's XMP packets other than the one read (the last: in a JPEG, the last
    before the image data, as Pillow reads it), and on extended XMP (:func:`.findings.xmp_packet_findings`). Every packet
    is compared by its bytes (cheap: 100,000 copies of one packet cost one comparison each); only
    the first few *distinct* ones are parsed, with the same limits, to name what they say (a
    packet can take 0.07 s to parse). Their own parse notes are not repeated."""
    if len(segs.packets) < 2:
        return F.xmp_packet_findings(read, [], len(segs.packets), segs.extended_segments, segs.extended_bytes, differing=0)
    last = segs.packets[-1]
    distinct = list(dict.fromkeys(p for p in segs.packets[:-1] if p != last))
    others = [read_xmp(p, []) for p in distinct[:MAX_OTHER_XMP]]
    return F.xmp_packet_findings(read, others, len(segs.packets), segs.extended_segments, segs.extended_bytes, differing=len(distinct))


def _jpeg(data: bytes, notes: list[str]) -> tuple[JpegInfo, int | None]:
    info, exif_payload, jnotes = read_jpeg(data)
    notes.extend(jnotes)
    thumb = exif_thumbnail(exif_payload) if exif_payload else None
    if thumb is not None:
        check, note = compare_thumbnail(data, thumb)
        if note:
            notes.append(note)
        info = replace(info, thumbnail=check)
    luma = next((t for t in info.quant_tables if t.index == 0), None)
    if luma is not None and info.coding in ("baseline", "extended sequential", "progressive"):
        info = replace(info, double_compression=detect_double(data, luma.values))
    return info, (len(thumb) if thumb else None)


def inspect_safely(data: bytes, fmt: str) -> ProvenanceReport:
    """:func:`inspect`, but an unexpected failure becomes a note: the face analysis always goes on."""
    try:
        return inspect(data, fmt)
    except Exception as exc:  # noqa: BLE001 - provenance must never stop the face analysis
        return ProvenanceReport(format=fmt, notes=(f"provenance stage failed ({exc.__class__.__name__}: {str(exc)[:160]})",),
                                findings=(Finding("malformed_metadata", "file", "The provenance stage could not read this file's "
                                                  "metadata; the face analysis is not affected."),))
