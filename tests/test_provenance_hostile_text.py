"""Hostile text in metadata: long values are cut with a visible mark, UTF-8 in EXIF ASCII is
read as UTF-8 (so a right-to-left override is the character it is), and the PDF shows
invisible bidirectional / zero-width characters as ``\\uXXXX``. Offline, built in memory."""

from __future__ import annotations

import provenance_files as pf

from forgetalk.provenance import inspect
from forgetalk.render.provenance import _p


def _jpeg(*segments: bytes) -> bytes:
    return pf.insert_segments(pf.jpeg_bytes(pf.face_image(160), quality=90), *segments)


def test_long_exif_xmp_and_comment_values_are_cut_with_a_mark() -> None:
    tiff = pf.tiff_exif({0x0110: (pf.ASCII, "M" * 60000)})
    xmp = pf.photoshop_xmp().replace(pf.PHOTOSHOP, "Z" * 30000)
    data = _jpeg(pf.exif_segment(tiff), pf.xmp_segment(xmp), pf.app_segment(0xFE, b"C" * 40000))
    r = inspect(data, "JPEG")
    assert r.exif.model is not None and r.exif.model.startswith("M" * 200) and "59800 more characters not kept" in r.exif.model
    assert "more characters not kept" in r.exif.fields["Model"]
    assert r.xmp.creator_tool is not None and "29800 more characters not kept" in r.xmp.creator_tool
    assert r.jpeg is not None and "39700 more characters not kept" in r.jpeg.comments[0]


def test_long_content_credential_strings_are_cut_with_a_mark() -> None:
    """The C2PA reader cut the generator, action fields and ingredient titles without a mark."""
    from forgetalk.provenance.credentials import _actions, _generator

    assert "more characters not kept" in (_generator({"claim_generator": "G" * 5000}) or "")
    assert "more characters not kept" in (_generator({"claim_generator_info": [{"name": "N" * 5000, "version": "1"}]}) or "")
    act = _actions({"assertions": [{"label": "c2pa.actions", "data": {"actions": [
        {"action": "c2pa.edited" + "e" * 500, "softwareAgent": {"name": "A" * 900}, "when": "2" * 300}]}}]})[0]
    assert all("more characters not kept" in str(v) for v in (act.action, act.software_agent, act.when))
    assert act.action.startswith("c2pa.edited")


def test_iptc_text_is_read_in_the_character_set_the_record_declares() -> None:
    """IPTC text was always read as UTF-8: a Latin-1 "Jürgen" became "J\ufffdrgen" (the byte lost)."""
    utf8, latin = "Jürgen".encode(), "Jürgen".encode("latin-1")
    declared = inspect(_jpeg(pf.iptc_segment((1, 90, b"\x1b%G"), (2, 80, utf8))), "JPEG")
    assert declared.iptc.fields == {"By-line": "Jürgen", "CodedCharacterSet": "UTF-8"} and not declared.notes
    for raw in (latin, utf8):  # no declaration: valid UTF-8 as UTF-8, anything else as Latin-1
        r = inspect(_jpeg(pf.iptc_segment((2, 80, raw))), "JPEG")
        assert r.iptc.fields == {"By-line": "Jürgen"} and not r.notes
    lying = inspect(_jpeg(pf.iptc_segment((1, 90, b"\x1b%G"), (2, 80, latin))), "JPEG")
    assert lying.iptc.fields["By-line"] == "J\ufffdrgen" and any("declares UTF-8" in n and "By-line" in n for n in lying.notes)
    other = inspect(_jpeg(pf.iptc_segment((1, 90, b"\x1b(B"), (2, 80, b"plain"))), "JPEG")
    assert other.iptc.fields["CodedCharacterSet"] == repr(b"\x1b(B")
    # (hostile pass) a record declaring ISO 8859-1 is read as Latin-1 even where the bytes are valid UTF-8
    latin_declared = inspect(_jpeg(pf.iptc_segment((1, 90, b"\x1b.A"), (2, 80, "Ã¼".encode("latin-1")))), "JPEG")
    assert latin_declared.iptc.fields == {"By-line": "Ã¼", "CodedCharacterSet": "ISO 8859-1"}
    empty = inspect(_jpeg(pf.iptc_segment((2, 80, b""), (2, 110, b"x"))), "JPEG")
    assert empty.iptc.fields == {"By-line": "", "Credit": "x"}  # an empty dataset read 'None'


def test_utf8_in_exif_ascii_is_read_as_utf8() -> None:
    tiff = pf.tiff_exif({0x0131: (pf.ASCII, "Photo\u202eshop"), 0x010F: (pf.ASCII, "Caf\u00e9")})
    r = inspect(_jpeg(pf.exif_segment(tiff)), "JPEG")
    assert r.exif.software == "Photo\u202eshop"  # not Pillow's Latin-1 reading "Photo\u00e2\x80\u00aeshop"
    assert r.exif.make == "Caf\u00e9"


def test_pdf_cells_show_bidi_and_zero_width_characters_escaped() -> None:
    text = _p("Photo\u202eshop\u200b \x1b[2J", None).text
    assert "\u202e" not in text and "\u200b" not in text and "\x1b" not in text
    assert "\\u202e" in text and "\\u200b" in text and "\\x1b" in text


def _icc_with_desc(text: bytes) -> bytes:
    """A minimal ICC profile: a 128-byte header, one tag (``desc``, v2 text description)."""
    import struct

    body = b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text + b"\0"
    return b"\0" * 128 + struct.pack(">I", 1) + struct.pack(">4sII", b"desc", 144, len(body)) + body


def test_icc_description_is_cut_with_a_mark_and_a_wide_gamut_profile_is_said_not_applied() -> None:
    """The description was cut at 256 bytes without a mark, and "ICC colour profile: Display P3"
    did not say that the pixels were analysed without it."""
    import io

    def run(desc: bytes) -> str:
        buf = io.BytesIO()
        pf.face_image(160).save(buf, "JPEG", quality=90, icc_profile=_icc_with_desc(desc))
        r = inspect(buf.getvalue(), "JPEG")
        return next(f.sentence for f in r.findings if f.code == "icc")

    assert run(b"Display P3") == "ICC colour profile: Display P3 (not applied: the pixels are analysed as stored)."
    assert run(b"Display P3 - not sRGB").endswith("(not applied: the pixels are analysed as stored).")  # (hostile pass)
    assert run(b"sRGB IEC61966-2.1") == "ICC colour profile: sRGB IEC61966-2.1."
    assert "[... 800 more characters not kept]" in run(b"P" * 1000)


def test_the_xmp_history_cap_is_the_packet_s_not_each_description_s() -> None:
    """(hostile pass) The 200-event cap was applied per rdf:Description: a packet of many
    Descriptions kept 1,166 events and wrote 967 copies of "the first 200 are kept", untrue."""
    from forgetalk.provenance.xmp import MAX_HISTORY, read_xmp

    events = "".join(f'<rdf:li stEvt:action="saved" stEvt:when="2024-03-0{1 + i % 9}T10:00:00"/>' for i in range(150))
    desc = ('<rdf:Description xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#">'
            f"<xmpMM:History><rdf:Seq>{events}</rdf:Seq></xmpMM:History></rdf:Description>")
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              + desc * 3 + "</rdf:RDF></x:xmpmeta>").encode()
    notes: list[str] = []
    x = read_xmp(packet, notes)
    assert len(x.history) == MAX_HISTORY and notes == [f"XMP history has 450 events: the first {MAX_HISTORY} are kept"]


def test_an_editor_named_by_iptc_alone_is_flagged_as_editing_software() -> None:
    """docs/scan.md tells analysts to filter provenance_flags by editing_software; an IPTC
    OriginatingProgram naming an editor was flagged under 'software' and escaped that filter."""
    edited = inspect(_jpeg(pf.iptc_segment((2, 65, b"Adobe Photoshop"))), "JPEG")
    assert edited.flags == ("editing_software",)
    assert any(f.source == "iptc" and "an image editor" in f.sentence for f in edited.findings)
    camera = inspect(_jpeg(pf.iptc_segment((2, 65, b"Canon EOS firmware"))), "JPEG")
    assert not camera.flags and any(f.code == "software" and f.source == "iptc" for f in camera.findings)
