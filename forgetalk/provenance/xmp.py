"""XMP: CreatorTool, dates, document/instance ids, DerivedFrom and the edit History.

Owns finding the XMP packet in what Pillow (or pillow-heif) exposes and parsing it. The
packet is evidence-controlled text, so it is parsed defensively: a packet that declares a
DOCTYPE or entities (never needed by XMP; the vector of entity-expansion attacks) is refused
with a note, a packet over 2 MB is not parsed, and a parse error is a note.

A JPEG may carry more than one standard XMP packet (the standard allows one; a tool that appends
its own instead of rewriting the first leaves two) and extended XMP (a large packet split over
several segments). Pillow keeps only the last standard packet, other readers the first: two
packets can tell two stories, and nothing said so. :func:`jpeg_xmp_segments` finds them all; a
PNG can hold several ``XML:com.adobe.xmp`` iTXt chunks the same way (:func:`png_xmp_packets`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass
from typing import Any

from .. import png_chunks
from ..jpeg_markers import walk
from .model import XmpEvent, XmpInfo, clip

MAX_XMP_BYTES = 2_000_000
MAX_HISTORY = 200
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
XMP = "{http://ns.adobe.com/xap/1.0/}"
MM = "{http://ns.adobe.com/xap/1.0/mm/}"
EVT = "{http://ns.adobe.com/xap/1.0/sType/ResourceEvent#}"
REF = "{http://ns.adobe.com/xap/1.0/sType/ResourceRef#}"
PS = "{http://ns.adobe.com/photoshop/1.0/}"
IPTC_EXT = "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}"
DCTERMS = "{http://purl.org/dc/terms/}"
#: How an APP1 segment names its content: a standard XMP packet, or a piece of extended XMP.
STANDARD_PREFIX = b"http://ns.adobe.com/xap/1.0/\0"
EXTENDED_PREFIX = b"http://ns.adobe.com/xmp/extension/\0"


@dataclass(frozen=True)
class XmpSegments:
    """Every XMP packet a file's metadata holds, in file order (the last is the one Pillow keeps),
    and its extended XMP pieces (JPEG only)."""

    packets: tuple[bytes, ...] = ()
    extended_segments: int = 0
    extended_bytes: int = 0


#: An extended XMP segment's header after its namespace: the GUID (32 bytes), the full length and
#: this piece's offset (4 bytes each).
EXTENDED_HEADER = 40


def jpeg_xmp_segments(data: bytes) -> XmpSegments:
    """The standard XMP packets and the extended XMP pieces of a JPEG's header, up to its first
    image data (SOS): where Pillow and other readers look for metadata, so that the last packet
    listed is the one Pillow reads. A segment placed after image data is part of no reader's
    metadata and is not listed. Extended pieces are counted (their data bytes), not joined: the
    report does not read them and says so."""
    packets: list[bytes] = []
    ext_n = ext_bytes = 0
    for seg in walk(data).segments:
        if seg.marker == 0xDA:
            break
        if seg.marker != 0xE1:
            continue
        if seg.payload.startswith(STANDARD_PREFIX):
            packets.append(seg.payload[len(STANDARD_PREFIX):])
        elif seg.payload.startswith(EXTENDED_PREFIX):
            ext_n += 1
            ext_bytes += max(0, len(seg.payload) - len(EXTENDED_PREFIX) - EXTENDED_HEADER)
    return XmpSegments(tuple(packets), ext_n, ext_bytes)


#: The PNG text keyword under which XMP is stored (an iTXt chunk).
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"


def png_xmp_packets(data: bytes) -> XmpSegments:
    """The XMP packets of a PNG's ``XML:com.adobe.xmp`` iTXt chunks, in file order (Pillow keeps
    the last). A compressed one is inflated to at most :data:`MAX_XMP_BYTES` + 1 bytes (a larger
    packet is not parsed anyway); one that cannot be split or inflated is skipped, as Pillow skips it."""
    packets: list[bytes] = []
    for ch in png_chunks.walk(data):
        if ch.type != b"iTXt":
            continue
        split = png_chunks.split_itxt(ch.data(data))
        if split is None or split[0] != PNG_XMP_KEYWORD:
            continue
        compressed, value = split[1], split[5]
        if compressed:
            try:
                value = zlib.decompressobj().decompress(value, MAX_XMP_BYTES + 1)
            except zlib.error:
                continue
        packets.append(value)
    return XmpSegments(tuple(packets))


def packet(info: dict[str, Any]) -> bytes | None:
    """The XMP packet from an opened image's ``info`` (JPEG, PNG, WebP, TIFF, HEIC)."""
    for key in ("xmp", "XML:com.adobe.xmp"):
        v = info.get(key)
        if isinstance(v, str):
            v = v.encode("utf-8", "replace")
        if isinstance(v, (bytes, bytearray)) and v:
            return bytes(v)
    return None


def _short(s: str | None, n: int = 200) -> str | None:
    if s is None:
        return None
    s = " ".join(s.split())
    return clip(s, n) or None


def _prop(descs: list[ET.Element], name: str) -> str | None:
    """A simple property: attribute of an rdf:Description, or a child element's text (or rdf:Alt/Seq first item)."""
    for d in descs:
        if name in d.attrib:
            return _short(d.attrib[name])
        el = d.find(name)
        if el is not None:
            if el.text and el.text.strip():
                return _short(el.text)
            li = el.find(f".//{RDF}li")
            if li is not None and li.text:
                return _short(li.text)
            if f"{RDF}resource" in el.attrib:
                return _short(el.attrib[f"{RDF}resource"])
    return None


def _field(el: ET.Element, ns: str, name: str) -> str | None:
    key = ns + name
    if key in el.attrib:
        return _short(el.attrib[key])
    child = el.find(f".//{key}")
    return _short(child.text) if child is not None and child.text else None


def read_xmp(data: bytes | None, notes: list[str]) -> XmpInfo:
    if not data:
        return XmpInfo()
    size = len(data)
    if size > MAX_XMP_BYTES:
        notes.append(f"XMP packet of {size} bytes is larger than {MAX_XMP_BYTES} bytes: not parsed")
        return XmpInfo(present=True, size_bytes=size)
    text = data.decode("utf-8", "replace").strip("\x00").strip()
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        notes.append("XMP packet declares a DOCTYPE or entities (not valid XMP): not parsed")
        return XmpInfo(present=True, size_bytes=size)
    start = text.find("<x:xmpmeta")
    if start < 0:
        start = text.find("<rdf:RDF")
    end_tag = "</x:xmpmeta>" if text.find("</x:xmpmeta>") >= 0 else "</rdf:RDF>"
    end = text.rfind(end_tag)
    body = text[start:end + len(end_tag)] if start >= 0 and end >= 0 else text
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        notes.append(f"XMP packet is malformed and was not read ({exc})")
        return XmpInfo(present=True, size_bytes=size)
    descs = list(root.iter(f"{RDF}Description")) or [root]
    history: list[XmpEvent] = []
    total = 0  # events met, over every rdf:Description (the cap is the packet's, not each Description's)
    for d in descs:
        h = d.find(f"{MM}History")
        if h is None:
            continue
        for li in h.iter(f"{RDF}li"):
            total += 1
            if len(history) < MAX_HISTORY:
                history.append(XmpEvent(action=_field(li, EVT, "action"), when=_field(li, EVT, "when"),
                                        software_agent=_field(li, EVT, "softwareAgent"), changed=_field(li, EVT, "changed")))
    if total > MAX_HISTORY:
        notes.append(f"XMP history has {total} events: the first {MAX_HISTORY} are kept")
    derived: dict[str, str] = {}
    for d in descs:
        df = d.find(f"{MM}DerivedFrom")
        if df is None:
            continue
        for key in ("documentID", "instanceID", "originalDocumentID"):
            v = _field(df, REF, key)
            if v:
                derived[key] = v
    provenance_url = _prop(descs, f"{DCTERMS}provenance")
    if provenance_url:
        derived["c2pa_remote_manifest"] = provenance_url
    return XmpInfo(
        present=True,
        size_bytes=size,
        creator_tool=_prop(descs, f"{XMP}CreatorTool"),
        create_date=_prop(descs, f"{XMP}CreateDate") or _prop(descs, f"{PS}DateCreated"),
        modify_date=_prop(descs, f"{XMP}ModifyDate"),
        metadata_date=_prop(descs, f"{XMP}MetadataDate"),
        document_id=_prop(descs, f"{MM}DocumentID"),
        instance_id=_prop(descs, f"{MM}InstanceID"),
        original_document_id=_prop(descs, f"{MM}OriginalDocumentID"),
        derived_from=derived,
        history=tuple(history),
        digital_source_type=_prop(descs, f"{IPTC_EXT}DigitalSourceType"),
    )
