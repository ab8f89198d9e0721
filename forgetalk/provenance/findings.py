"""Plain sentences from the provenance measurements.

Owns the wording. A sentence says what the *file states* ("EXIF names ...", "the XMP
history says ...") or, for the two inferences (double compression, thumbnail mismatch),
what was measured and with what confidence. Nothing here changes the face verdict.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .exif import parse_date
from .model import (
    C2PA_INVALID,
    C2PA_TRUSTED,
    C2PA_UNREADABLE,
    C2PA_VALID_UNTRUSTED,
    C2paInfo,
    ExifInfo,
    Finding,
    JpegInfo,
    XmpInfo,
    clip,
)

#: Software that edits or generates pictures (matched case-insensitively in Software,
#: CreatorTool, C2PA generators and history agents). Camera firmware strings do not match.
EDITORS = re.compile(
    r"photoshop|lightroom|gimp|affinity|pixelmator|snapseed|paint\.net|capture one|darktable|rawtherapee|luminar|"
    r"photopea|canva|faceapp|facetune|meitu|picsart|imagemagick|graphicsmagick|photoscape|paintshop|corel|acdsee|"
    r"fotor|befunky|airbrush|remini|youcam|photodirector|krita|firefly|stable diffusion|midjourney|dall[-·]?e|"
    r"comfyui|automatic1111|invokeai|topaz|perfectly clear|photoroom", re.I)
#: PNG text keys that image generators write (Stable Diffusion web UIs, ComfyUI, InvokeAI, NovelAI).
GENERATOR_KEYS = {"parameters", "prompt", "workflow", "dream", "sd-metadata", "invokeai_metadata", "generation_data",
                  "negative_prompt", "comment_novelai"}
_EDIT_ACTIONS = {"c2pa.edited", "c2pa.filtered", "c2pa.color_adjustments", "c2pa.cropped", "c2pa.resized",
                 "c2pa.placed", "c2pa.removed", "c2pa.drawing", "c2pa.orientation", "c2pa.edited.metadata"}


def is_editor(software: str | None) -> bool:
    return bool(software and EDITORS.search(software))


def humanize(delta: timedelta) -> str:
    s = abs(delta.total_seconds())
    if s < 120:
        return f"{int(s)} seconds"
    if s < 7200:
        return f"{int(s // 60)} minutes"
    if s < 2 * 86400:
        h = int(s // 3600)
        return "one day" if 22 <= h <= 26 else f"{h} hours"
    days = int(s // 86400)
    return f"{days} days" if days < 730 else f"{days // 365} years"


def _day(d: datetime) -> str:
    return d.strftime("%Y-%m-%d") if (d.hour, d.minute, d.second) == (0, 0, 0) else d.strftime("%Y-%m-%d %H:%M:%S")


def _naive(d: datetime | None) -> datetime | None:
    return d.replace(tzinfo=None) if d is not None else None


def exif_findings(e: ExifInfo, now: datetime) -> list[Finding]:
    out: list[Finding] = []
    if not e.present:
        return [Finding("no_exif", "exif", "The file carries no EXIF metadata (re-saving, messaging apps and web uploads "
                        "usually strip it, so this alone says little).", flag=False)]
    camera = " ".join(x for x in (e.make, e.model) if x)
    if camera:
        extra = ", ".join(x for x in (f"lens {e.lens}" if e.lens else "", f"body serial {e.body_serial}" if e.body_serial else "") if x)
        out.append(Finding("camera", "exif", f"EXIF names the camera {camera}" + (f" ({extra})" if extra else "") + ".", flag=False))
    if e.software:
        if is_editor(e.software):
            out.append(Finding("editing_software", "exif", f"EXIF Software names {e.software}, an image editor: the file states it was saved by it."))
        else:
            out.append(Finding("software", "exif", f"EXIF Software: {e.software}.", flag=False))
    cap, mod = parse_date(e.datetime_original), parse_date(e.datetime_modified)
    if cap and mod and mod - cap > timedelta(seconds=60):
        out.append(Finding("modified_after_capture", "exif",
                           f"EXIF states the file was modified on {_day(mod)}, {humanize(mod - cap)} after capture ({_day(cap)})."))
    for label, value in (("DateTimeOriginal", e.datetime_original), ("DateTimeDigitized", e.datetime_digitized), ("DateTime", e.datetime_modified)):
        d = parse_date(value)
        if d and d > now + timedelta(days=1):
            out.append(Finding("future_date", "exif", f"EXIF {label} {value} is in the future (analysed on {now:%Y-%m-%d})."))
    if camera and (len(e.exposure_fields) < 2 or not e.datetime_original):
        missing = [n for n in ("ExposureTime", "FNumber", "ISOSpeedRatings", "FocalLength") if n not in e.exposure_fields]
        if not e.datetime_original:
            missing.append("DateTimeOriginal")
        out.append(Finding("camera_fields_missing", "exif",
                           f"The file names a camera ({camera}) but lacks fields cameras write ({', '.join(missing)}): "
                           "the metadata may have been rewritten or copied from another file."))
    if e.gps_lat is not None and e.gps_lon is not None:
        out.append(Finding("gps", "exif", f"EXIF GPS position: {e.gps_lat:.5f}, {e.gps_lon:.5f}.", flag=False))
    if e.maker_note_bytes:
        out.append(Finding("maker_note", "exif", f"A camera maker note of {e.maker_note_bytes} bytes is present.", flag=False))
    return out


#: What two XMP packets of one file are compared on: the fields the report quotes.
_XMP_STORY = ("creator_tool", "create_date", "modify_date", "document_id", "instance_id", "original_document_id", "history", "derived_from", "digital_source_type")


def _xmp_story(x: XmpInfo) -> tuple[object, ...]:
    return tuple(getattr(x, k) for k in _XMP_STORY)


def xmp_packet_findings(read: XmpInfo, others: list[XmpInfo], packets: int, extended_segments: int, extended_bytes: int,
                        differing: int) -> list[Finding]:
    """Findings about a file's XMP packets beyond the one the report reads (``read``: the last, in
    a JPEG the last before the image data, as Pillow keeps it).

    ``packets``: how many standard packets the header holds; ``differing``: how many distinct
    packets differ from the one read, byte for byte; ``others``: the first few of those, parsed.
    More than one standard packet is unusual (the standard allows one). Packets that disagree on
    what the report quotes (creator tool, dates, ids, history) are flagged: one file telling two
    metadata stories, one of which a reader that takes another packet shows. Packets whose bytes
    differ only elsewhere, or copies, are named. Extended XMP is named with its size: not read."""
    out: list[Finding] = []
    if packets > 1 and differing == 0:
        out.append(Finding("xmp_packets", "xmp", f"The file holds {packets} byte-identical XMP packets (the standard allows one).", flag=False))
    elif packets > 1:
        story = [o for o in others if _xmp_story(o) != _xmp_story(read)]
        reads = "this report reads the last, as Pillow does" if read.present else "this report could read none of them"
        if story:
            tools = sorted({o.creator_tool for o in story if o.creator_tool and o.creator_tool != read.creator_tool})
            named = f"; another names CreatorTool {', '.join(tools)}" if tools else ""
            out.append(Finding("xmp_packets_differ", "xmp", f"The file holds {packets} XMP packets (the standard allows one) that differ in what "
                               f"this report quotes: {reads}; a reader that takes another packet shows another account{named}."))
        else:
            compared = "" if len(others) == differing else f" (the first {len(others)} of the {differing} that differ compared)"
            out.append(Finding("xmp_packets", "xmp", f"The file holds {packets} XMP packets (the standard allows one) whose bytes differ, "
                               f"but not in the fields this report quotes{compared}; {reads}.", flag=False))
    if extended_segments:
        out.append(Finding("xmp_extended", "xmp", f"The file carries extended XMP ({extended_segments} segment(s), {extended_bytes} bytes), "
                           "which this report does not read.", flag=False))
    return out


def xmp_findings(x: XmpInfo, capture: datetime | None) -> list[Finding]:
    out: list[Finding] = []
    if not x.present:
        return out
    if x.creator_tool and is_editor(x.creator_tool):
        out.append(Finding("editing_software", "xmp", f"XMP CreatorTool names {x.creator_tool}, an image editor."))
    elif x.creator_tool:
        out.append(Finding("software", "xmp", f"XMP CreatorTool: {x.creator_tool}.", flag=False))
    shown = 0
    for ev in x.history:
        if not ev.action:
            continue
        parts = [f"XMP history: {ev.action}"]
        if ev.software_agent:
            parts.append(f" by {ev.software_agent}")
        when = _naive(parse_date(ev.when))
        if when:
            parts.append(f" on {_day(when)}")
            if capture and when - capture > timedelta(seconds=60):
                parts.append(f", {humanize(when - capture)} after capture")
        if ev.changed:
            parts.append(f" (changed: {ev.changed})")
        edit = ev.action in ("saved", "converted", "derived", "edited", "produced", "cropped", "filtered") and (
            is_editor(ev.software_agent) or ev.action in ("derived", "edited"))
        if shown < 3:
            out.append(Finding("xmp_edit_history" if edit else "xmp_history", "xmp", "".join(parts) + ".", flag=edit))
        shown += 1
    if shown > 3:
        out.append(Finding("xmp_history", "xmp", f"The XMP history lists {shown} events in all (see the appendix).", flag=False))
    if x.derived_from.get("documentID") or x.derived_from.get("instanceID"):
        ref = x.derived_from.get("documentID") or x.derived_from.get("instanceID")
        out.append(Finding("derived_from", "xmp", f"XMP says the file was derived from another document ({ref})."))
    if x.derived_from.get("c2pa_remote_manifest"):
        out.append(Finding("c2pa_remote", "xmp", f"XMP points to a remote Content Credentials manifest at "
                           f"{x.derived_from['c2pa_remote_manifest']}; it was not fetched (offline).", flag=False))
    if x.digital_source_type and x.digital_source_type.rsplit("/", 1)[-1] in ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"):
        out.append(Finding("declared_ai_generated", "xmp", f"XMP declares the digital source type {x.digital_source_type.rsplit('/', 1)[-1]} "
                           "(made with generative AI)."))
    return out


def c2pa_findings(c: C2paInfo) -> list[Finding]:
    out: list[Finding] = []
    if not c.present:
        return [Finding("no_c2pa", "c2pa", "No Content Credentials (C2PA) manifest.", flag=False)]
    who = f"signed by '{c.signer}'" + (f" (issuer {c.issuer})" if c.issuer else "") if c.signer else "signer not named"
    gen = f", claim generator {c.claim_generator}" if c.claim_generator else ""
    if c.state == C2PA_TRUSTED:
        out.append(Finding("c2pa_trusted", "c2pa", f"Content Credentials (C2PA) are valid and the signer is trusted ({who}{gen}).", flag=False))
    elif c.state == C2PA_VALID_UNTRUSTED:
        out.append(Finding("c2pa_untrusted_signer", "c2pa",
                           f"Content Credentials (C2PA) are intact: signature and content hashes check out ({who}{gen}); "
                           "the signer is not on a trust list (none is used offline), so who signed cannot be confirmed.", flag=False))
    elif c.state == C2PA_INVALID:
        why = "; ".join(f.split(":", 1)[0] for f in c.failures if "untrusted" not in f) or "validation failed"
        tampered = any("dataHash.mismatch" in f or "bmffHash.mismatch" in f or "boxesHash.mismatch" in f for f in c.failures)
        tail = " The content no longer matches what was signed: the file changed after signing." if tampered else ""
        out.append(Finding("c2pa_invalid", "c2pa", f"Content Credentials (C2PA) fail validation ({why}; {who}{gen}).{tail}"))
    elif c.state == C2PA_UNREADABLE:
        out.append(Finding("c2pa_unreadable", "c2pa", "A Content Credentials (C2PA) box is present but cannot be read (damaged or unsupported)."))
    for a in c.actions:
        src = (a.digital_source_type or "").rsplit("/", 1)[-1]
        if src == "trainedAlgorithmicMedia":
            out.append(Finding("c2pa_ai_generated", "c2pa", f"The C2PA manifest declares the picture was {a.action.removeprefix('c2pa.')} by generative AI "
                               f"(digitalSourceType trainedAlgorithmicMedia{', ' + a.software_agent if a.software_agent else ''})."))
        elif src == "compositeWithTrainedAlgorithmicMedia":
            out.append(Finding("c2pa_ai_generated", "c2pa", "The C2PA manifest declares the picture contains generative-AI elements "
                               "(digitalSourceType compositeWithTrainedAlgorithmicMedia)."))
        elif a.action in _EDIT_ACTIONS:
            out.append(Finding("c2pa_edited", "c2pa", f"The C2PA manifest records an edit: {a.action}"
                               + (f" by {a.software_agent}" if a.software_agent else "") + "."))
    if c.ingredients:
        out.append(Finding("c2pa_ingredients", "c2pa", f"The C2PA manifest lists {len(c.ingredients)} ingredient(s): "
                           + ", ".join(c.ingredients[:3]) + ".", flag=False))
    return out


def jpeg_findings(j: JpegInfo, exif: ExifInfo) -> list[Finding]:
    out: list[Finding] = []
    sub = f", {j.subsampling} chroma subsampling" if j.subsampling else ""
    out.append(Finding("jpeg_structure", "jpeg", f"JPEG {j.coding}{sub}, luminance quality about {j.quality}.", flag=False))
    if j.software_signature and not j.standard_tables:
        out.append(Finding("software_tables", "jpeg", f"The quantization tables match {j.software_signature}."))
    elif j.standard_tables and exif.make:
        out.append(Finding("software_tables", "jpeg",
                           f"The quantization tables are libjpeg's standard ones (quality {j.quality}) while EXIF names a {exif.make} camera; "
                           "camera firmware usually writes its own tables, so the file was probably re-saved by software.",
                           confidence="moderate"))
    elif j.standard_tables:
        out.append(Finding("standard_tables", "jpeg", f"The quantization tables are libjpeg's standard ones at quality {j.quality} "
                           "(common software encoders and many phones).", flag=False))
    else:
        out.append(Finding("custom_tables", "jpeg", "The quantization tables are not libjpeg's standard scaling (a camera's or "
                           "an application's own encoder).", flag=False))
    t = j.thumbnail
    if t.compared and t.mismatch:
        out.append(Finding("thumbnail_mismatch", "jpeg",
                           f"The embedded EXIF thumbnail ({t.width}x{t.height}) does not show the same picture as the main image "
                           f"(correlation {t.correlation:.2f}): the picture changed after the thumbnail was written, or the metadata "
                           "came from another photo.", confidence="high" if (t.correlation or 0) < 0.8 else "moderate"))
    elif t.compared:
        out.append(Finding("thumbnail_match", "jpeg", f"The EXIF thumbnail matches the main image (correlation {t.correlation:.2f}).", flag=False))
    dc = j.double_compression
    if dc.tested and dc.found:
        out.append(Finding("double_compression", "jpeg",
                           f"The JPEG shows traces of two compressions ({dc.confidence} confidence: {dc.frequencies_double} of "
                           f"{dc.frequencies_tested} DCT frequencies fit two quantizations better than one): it was decoded and saved "
                           "again, as editing or re-sharing does. This alone does not say what changed.", confidence=dc.confidence))
    elif dc.tested and dc.confidence == "low":
        out.append(Finding("double_compression_weak", "jpeg",
                           f"Weak, inconclusive traces of a second compression ({dc.frequencies_double} of {dc.frequencies_tested} "
                           "DCT frequencies).", flag=False, confidence="low"))
    elif dc.tested:
        out.append(Finding("single_compression", "jpeg", "No trace of double compression was found (a second save at a lower "
                           "quality than the first is often missed).", flag=False))
    if j.trailing_bytes:
        expected = j.mpf_images and j.mpf_images > 1 and j.trailing_kind == "another JPEG image"
        out.append(Finding("trailing_data" if not expected else "mpf_images", "jpeg",
                           f"{j.trailing_bytes} bytes follow the end of the main image ({j.trailing_kind})"
                           + (f", as the MPF index of {j.mpf_images} images declares." if expected else "."), flag=not expected))
    elif j.mpf_images:
        out.append(Finding("mpf_images", "jpeg", f"The MPF index declares {j.mpf_images} images.", flag=False))
    for c in j.comments[:2]:
        out.append(Finding("jpeg_comment", "jpeg", f"JPEG comment: '{clip(c, 160)}'.", flag=False))
    return out


def png_findings(text: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    for key, value in text.items():
        base = re.sub(r" \(\d+\)$", "", key).lower()  # "Software (2)": the second chunk of that keyword (png_text)
        if base in GENERATOR_KEYS:
            out.append(Finding("generator_settings", "png", f"PNG text chunk '{key}' holds what image generators write "
                               f"(prompt or generation settings): '{clip(' '.join(value.split()), 160)}'."))
        elif base == "software" and is_editor(value):
            out.append(Finding("editing_software", "png", f"PNG text chunk {key} names {clip(value, 120)}, an image editor."))
    if text and not out:
        out.append(Finding("png_text", "png", f"PNG text chunks: {', '.join(list(text)[:6])}.", flag=False))
    return out


def capture_time(exif: ExifInfo, xmp: XmpInfo) -> datetime | None:
    return parse_date(exif.datetime_original) or _naive(parse_date(xmp.create_date))
