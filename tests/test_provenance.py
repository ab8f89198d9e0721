"""Provenance stage on files the tests build: metadata, JPEG structure, double compression, thumbnails, formats."""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import asdict
from datetime import datetime

import numpy as np
import provenance_files as pf
import pytest
from PIL import Image

from forgetalk.io import load_image
from forgetalk.jpeg_markers import walk
from forgetalk.provenance import inspect
from forgetalk.provenance.jpeg import IJG_LUMA, ijg_table, libjpeg_quality, read_jpeg
from forgetalk.provenance.model import ProvenanceReport

NOW = datetime(2026, 1, 1)


def run(data: bytes, fmt: str = "JPEG") -> ProvenanceReport:
    return inspect(data, fmt, now=NOW)


def codes(r: ProvenanceReport) -> set[str]:
    return {f.code for f in r.findings}


# --------------------------------------------------------------------------- camera vs edited


def test_camera_like_exif_has_no_flags() -> None:
    r = run(pf.camera_jpeg())
    assert r.exif.make == "Canon" and r.exif.model == "Canon EOS 5D Mark IV"
    assert r.exif.lens == "EF50mm f/1.8 STM" and r.exif.body_serial == "012345678901"
    assert r.exif.maker_note_bytes and set(r.exif.exposure_fields) >= {"ExposureTime", "FNumber", "ISOSpeedRatings", "FocalLength"}
    assert r.software is None and r.flags == ()
    assert "camera" in codes(r)
    assert not r.jpeg.standard_tables and r.jpeg.software_signature is None  # the camera's own tables
    assert r.jpeg.subsampling == "4:2:2" and r.jpeg.coding == "baseline"


def test_edited_file_states_software_and_history() -> None:
    r = run(pf.edited_jpeg())
    assert r.software == pf.PHOTOSHOP
    assert {"editing_software", "modified_after_capture", "xmp_edit_history", "derived_from"} <= set(r.flags)
    sentences = " ".join(f.sentence for f in r.findings)
    assert f"XMP history: saved by {pf.PHOTOSHOP} on 2024-03-02" in sentences and "one day after capture" in sentences
    assert "EXIF states the file was modified on 2024-03-02 10:00:00, one day after capture" in sentences
    assert r.xmp.creator_tool == pf.PHOTOSHOP and len(r.xmp.history) == 2 and r.xmp.derived_from["documentID"] == "xmp.did:0000"
    # libjpeg tables while EXIF claims a Canon: stated as an inference with its confidence
    tables = [f for f in r.findings if f.code == "software_tables"]
    assert tables and tables[0].confidence == "moderate"


def test_two_xmp_packets_that_tell_two_stories_are_flagged_and_extended_xmp_is_named() -> None:
    """Pillow keeps a JPEG's last XMP packet, exiftool shows the first: a file whose first packet
    says Photoshop and whose last says "Camera firmware" read clean here and edited there, and
    nothing said so. Identical copies are only named; extended XMP is named, not read."""
    camera_xmp = pf.photoshop_xmp().replace(pf.PHOTOSHOP, "Camera firmware 1.0").split("<xmpMM:History>")[0] + "</rdf:Description></rdf:RDF></x:xmpmeta>"
    body = pf.jpeg_bytes(pf.face_image(), quality=90)
    r = run(pf.insert_segments(body, pf.xmp_segment(pf.photoshop_xmp()), pf.xmp_segment(camera_xmp)))
    assert r.xmp.creator_tool == "Camera firmware 1.0"  # the last, as Pillow reads it
    assert "xmp_packets_differ" in r.flags
    sentence = next(f.sentence for f in r.findings if f.code == "xmp_packets_differ")
    assert "2 XMP packets" in sentence and pf.PHOTOSHOP in sentence
    same = run(pf.insert_segments(body, pf.xmp_segment(pf.photoshop_xmp()), pf.xmp_segment(pf.photoshop_xmp())))
    assert "xmp_packets" in codes(same) and "xmp_packets_differ" not in codes(same)
    one = run(pf.insert_segments(body, pf.xmp_segment(pf.photoshop_xmp())))
    assert not {"xmp_packets", "xmp_packets_differ", "xmp_extended"} & codes(one)
    ext = pf.app_segment(0xE1, b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 32 + b"\x00\x00\x01\x00\x00\x00\x00\x00" + b"<x/>" * 64)
    r = run(pf.insert_segments(body, pf.xmp_segment(pf.photoshop_xmp()), ext))
    assert "xmp_extended" in codes(r) and "xmp_extended" not in r.flags and not r.notes
    many = run(pf.insert_segments(body, *[pf.xmp_segment(pf.photoshop_xmp())] * 200, pf.xmp_segment(camera_xmp)))
    assert "xmp_packets_differ" in many.flags and "201 XMP packets" in " ".join(f.sentence for f in many.findings)
    # (hostile pass) one differing packet among 200 copies of the one read is still found
    among = run(pf.insert_segments(body, *[pf.xmp_segment(pf.photoshop_xmp())] * 100, pf.xmp_segment(camera_xmp),
                                   *[pf.xmp_segment(pf.photoshop_xmp())] * 100))
    assert "xmp_packets_differ" in among.flags and among.xmp.creator_tool == pf.PHOTOSHOP
    # bytes that differ outside the quoted fields are named, not flagged, and not called identical
    credit = pf.photoshop_xmp().replace('xmp:CreatorTool=', 'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:Credit="X" xmp:CreatorTool=')
    quiet = run(pf.insert_segments(body, pf.xmp_segment(credit), pf.xmp_segment(pf.photoshop_xmp())))
    assert "xmp_packets_differ" not in quiet.flags
    assert "whose bytes differ, but not in the fields this report quotes" in next(f.sentence for f in quiet.findings if f.code == "xmp_packets")


def test_an_xmp_packet_after_the_image_data_is_no_reader_s_and_does_not_shift_the_comparison() -> None:
    """(hostile pass) A packet placed after SOS was counted as "the last" (the one read), so the
    packet Pillow really read was compared with itself and two different packets were "identical"."""
    camera_xmp = pf.photoshop_xmp().replace(pf.PHOTOSHOP, "Camera firmware 1.0")
    body = pf.jpeg_bytes(pf.face_image(), quality=90)
    data = pf.insert_segments(body, pf.xmp_segment(camera_xmp))
    sos = data.index(b"\xff\xda")
    r = run(data[:sos] + data[sos:-2] + pf.xmp_segment(pf.photoshop_xmp()) + b"\xff\xd9")
    assert r.xmp.creator_tool == "Camera firmware 1.0"
    assert not {"xmp_packets", "xmp_packets_differ"} & codes(r)


def test_future_date_and_missing_camera_fields() -> None:
    ifd0 = {0x010F: (pf.ASCII, "Nikon"), 0x0110: (pf.ASCII, "D850")}
    exif = {0x9003: (pf.ASCII, "2031:05:05 12:00:00")}
    data = pf.insert_segments(pf.jpeg_bytes(pf.face_image(), quality=92), pf.exif_segment(pf.tiff_exif(ifd0, exif)))
    r = run(data)
    assert "future_date" in r.flags and "camera_fields_missing" in r.flags


# --------------------------------------------------------------------------- JPEG structure


def test_libjpeg_scaling_and_software_signatures() -> None:
    for q in (10, 50, 75, 93, 100):
        assert libjpeg_quality(ijg_table(IJG_LUMA, q), IJG_LUMA) == q
    img = pf.pristine_image()
    std, _, _ = read_jpeg(pf.jpeg_bytes(img, quality=81))
    assert std.standard_tables and std.quality == 81 and "libjpeg standard tables at quality 81" in std.software_signature
    ps, _, _ = read_jpeg(pf.jpeg_bytes(img, quality="web_high"))
    assert not ps.standard_tables and "Adobe Photoshop 'web high'" in ps.software_signature
    r = run(pf.jpeg_bytes(img, quality="maximum"))
    assert "software_tables" in r.flags


def test_stray_bytes_between_segments_are_skipped_as_decoders_skip_them() -> None:
    """(hostile pass) One stray byte after the first XMP packet stopped the marker walk: the
    picture decoded (Pillow and libjpeg skip such bytes), but every segment after it, here a
    second XMP packet that names Photoshop, went unread and the file read clean."""
    camera_xmp = pf.photoshop_xmp().replace(pf.PHOTOSHOP, "Camera firmware 1.0").split("<xmpMM:History>")[0] + "</rdf:Description></rdf:RDF></x:xmpmeta>"
    body = pf.jpeg_bytes(pf.face_image(), quality=90)
    data = pf.insert_segments(body, pf.xmp_segment(camera_xmp) + b"\x00\x13", pf.xmp_segment(pf.photoshop_xmp()))
    Image.open(io.BytesIO(data)).load()  # the picture itself is readable
    w = walk(data)
    assert w.problem is None and w.eoi_end == len(data) and w.extraneous == ((2 + len(pf.xmp_segment(camera_xmp)), 2, 0xE1),)
    r = run(data)
    assert "xmp_packets_differ" in r.flags
    note = next(n for n in r.notes if "where a marker should start" in n)
    assert "2 at offset" in note and "before marker 0xe1" in note
    # stray bytes with no marker after them still end the walk, with the reason
    cut = walk(b"\xff\xd8\x00\x01")
    assert cut.eoi_end is None and cut.problem == "2 byte(s) of unexpected data at offset 2 where a marker should be, and no marker after them"
    many = run(pf.insert_segments(body, *[pf.app_segment(0xFE, b"x") + b"\x00"] * 6))
    note = next(n for n in many.notes if "where a marker should start" in n)
    assert note.count(" at offset ") == 4 and "2 more run(s)" in note


def test_progressive_subsampling_trailing_data_and_mpf() -> None:
    img = pf.pristine_image()
    prog, _, _ = read_jpeg(pf.jpeg_bytes(img, quality=85, progressive=True, subsampling=0))
    assert prog.progressive and prog.coding == "progressive" and prog.subsampling == "4:4:4"
    appended = pf.jpeg_bytes(img, quality=85) + b"PK\x03\x04hidden archive"
    r = run(appended)
    assert r.jpeg.trailing_bytes == len(b"PK\x03\x04hidden archive") and r.jpeg.trailing_kind == "a ZIP archive" and "trailing_data" in r.flags
    # An MPO (two frames with an MPF index): the data after the first image is declared, so not flagged
    buf = io.BytesIO()
    img.save(buf, "MPO", save_all=True, append_images=[img.transpose(Image.FLIP_LEFT_RIGHT)])
    m = run(buf.getvalue(), "MPO")
    assert m.jpeg.mpf_images == 2 and m.jpeg.trailing_kind == "another JPEG image" and "trailing_data" not in m.flags


@pytest.mark.parametrize(("q1", "q2"), [(60, 90), (70, 95), (75, 90)])
def test_double_compression_found(q1: int, q2: int) -> None:
    dc = run(pf.saved_twice(q1, q2)).jpeg.double_compression
    assert dc.tested and dc.found and dc.confidence in ("moderate", "high"), dc
    assert "double_compression" in run(pf.saved_twice(q1, q2)).flags


@pytest.mark.parametrize("q", [75, 90, 95])
def test_single_compression_not_found(q: int) -> None:
    r = run(pf.jpeg_bytes(pf.pristine_image(), quality=q))
    dc = r.jpeg.double_compression
    assert dc.tested and not dc.found and "double_compression" not in r.flags
    assert "single_compression" in codes(r) or "double_compression_weak" in codes(r)


def test_thumbnail_mismatch() -> None:
    same = run(pf.thumbnail_jpeg(edit_after_thumbnail=False))
    assert same.jpeg.thumbnail.compared and same.jpeg.thumbnail.mismatch is False and same.exif.thumbnail_bytes
    edited = run(pf.thumbnail_jpeg(edit_after_thumbnail=True))
    assert edited.jpeg.thumbnail.mismatch is True and "thumbnail_mismatch" in edited.flags


# --------------------------------------------------------------------------- formats


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _with_png_chunks(png: bytes, *chunks: bytes) -> bytes:
    return png[:33] + b"".join(chunks) + png[33:]  # after the 8-byte signature and the 25-byte IHDR chunk


def test_png_text_chunks_generator_settings() -> None:
    buf = io.BytesIO()
    Image.fromarray(pf.noise_rgb(64, 64)).save(buf, "PNG")
    png = _with_png_chunks(buf.getvalue(), _png_chunk(b"tEXt", b"parameters\x00a portrait photo, Steps: 30, Sampler: Euler a, Seed: 1"),
                           _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"compressed note")),
                           _png_chunk(b"iTXt", b"Software\x00\x00\x00\x00\x00GIMP 2.10"))
    r = run(png, "PNG")
    assert r.text_chunks["parameters"].startswith("a portrait photo") and r.text_chunks["Comment"] == "compressed note"
    assert {"generator_settings", "editing_software"} <= set(r.flags)


def test_png_text_keeps_every_chunk_of_a_keyword_and_marks_what_it_cuts() -> None:
    """A second Software chunk replaced the first (an editor named first, a camera app last: the
    editor vanished) and long values were cut without a mark (hostile pass)."""
    buf = io.BytesIO()
    Image.fromarray(pf.noise_rgb(64, 64)).save(buf, "PNG")
    png = _with_png_chunks(buf.getvalue(), _png_chunk(b"tEXt", b"Software\x00Adobe Photoshop 25.0"), _png_chunk(b"tEXt", b"Software\x00Camera 1.0"),
                           _png_chunk(b"tEXt", b"Comment\x00" + b"x" * 5000), _png_chunk(b"tEXt", b"K" * 300 + b"\x00v"))
    r = run(png, "PNG")
    assert r.text_chunks["Software"] == "Adobe Photoshop 25.0" and r.text_chunks["Software (2)"] == "Camera 1.0"
    assert r.software == "Adobe Photoshop 25.0" and "editing_software" in r.flags
    assert r.text_chunks["Comment"].endswith("[... 4500 more characters not kept]")
    assert any(k.startswith("K" * 79 + " [... 221 more") for k in r.text_chunks)
    later = run(_with_png_chunks(buf.getvalue(), _png_chunk(b"tEXt", b"Software\x00Camera 1.0"), _png_chunk(b"tEXt", b"Software\x00GIMP 2.10")), "PNG")
    assert next(f.sentence for f in later.findings if f.code == "editing_software").startswith("PNG text chunk Software (2) names GIMP 2.10")
    named = run(_with_png_chunks(buf.getvalue(), _png_chunk(b"tEXt", b"Software (2)\x00planted"), _png_chunk(b"tEXt", b"Software\x00A"),
                                 _png_chunk(b"tEXt", b"Software\x00B")), "PNG")
    assert sorted(named.text_chunks.values()) == ["A", "B", "planted"]


def test_two_xmp_chunks_in_a_png_that_tell_two_stories_are_flagged() -> None:
    """(hostile pass) The JPEG comparison had no PNG twin: a PNG whose first XMP chunk said
    Photoshop and whose last (the one Pillow keeps) said a camera read clean."""
    camera_xmp = pf.photoshop_xmp().replace(pf.PHOTOSHOP, "Camera firmware 1.0")

    def itxt(xml: str, compressed: bool = False) -> bytes:
        body = xml.encode()
        return _png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00" + (b"\x01\x00" if compressed else b"\x00\x00") + b"\x00\x00"
                          + (zlib.compress(body) if compressed else body))

    buf = io.BytesIO()
    Image.fromarray(pf.noise_rgb(64, 64)).save(buf, "PNG")
    r = run(_with_png_chunks(buf.getvalue(), itxt(pf.photoshop_xmp(), compressed=True), itxt(camera_xmp)), "PNG")
    assert r.xmp.creator_tool == "Camera firmware 1.0" and "xmp_packets_differ" in r.flags
    assert pf.PHOTOSHOP in next(f.sentence for f in r.findings if f.code == "xmp_packets_differ")
    one = run(_with_png_chunks(buf.getvalue(), itxt(camera_xmp)), "PNG")
    assert not {"xmp_packets", "xmp_packets_differ"} & codes(one) and one.xmp.creator_tool == "Camera firmware 1.0"


def test_thousands_of_png_chunks_of_one_keyword_are_counted_not_kept() -> None:
    """(hostile pass) 9,990 Software chunks took 5.5 s (each new name rescanned every earlier one)
    and gave 9,990 findings; now the first 16 are kept and the rest counted in a note."""
    buf = io.BytesIO()
    Image.fromarray(pf.noise_rgb(64, 64)).save(buf, "PNG")
    png = _with_png_chunks(buf.getvalue(), *[_png_chunk(b"tEXt", b"Software\x00GIMP")] * 9990)
    r = run(png, "PNG")  # a count per keyword names each repeat directly (no rescan of earlier names)
    assert len(r.text_chunks) == 16 and "PNG text keyword 'Software' appears 9990 times: the first 16 are kept" in r.notes
    assert sum(f.code == "editing_software" for f in r.findings) == 16


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF", "AVIF", "HEIF"])
def test_formats_through_the_safe_loader(fmt: str, tmp_path) -> None:
    img = pf.face_image(256)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Apple", "iPhone 15 Pro", "Adobe Lightroom 7.0"
    path = tmp_path / f"x.{fmt.lower()}"
    if fmt == "HEIF":
        path.write_bytes(pf.heic_bytes(img))
    else:
        img.save(path, fmt, exif=exif.tobytes(), **({"quality": 90} if fmt != "TIFF" else {}))
    loaded = load_image(path, inspect=inspect)
    assert loaded.info.format == fmt and loaded.info.sha256 == loaded.info.sha256_after
    prov = loaded.inspected
    assert isinstance(prov, ProvenanceReport) and prov.format == fmt
    assert prov.exif.make == "Apple"
    if fmt != "HEIF":
        assert prov.software == "Adobe Lightroom 7.0" and "editing_software" in prov.flags
    json.dumps(asdict(prov))  # every field is plain data


def test_heic_pixel_limit_checked_before_decoding(tmp_path) -> None:
    from forgetalk.errors import ImageTooLargeError

    path = tmp_path / "big.heic"
    path.write_bytes(pf.heic_bytes(pf.face_image(256)))
    with pytest.raises(ImageTooLargeError):
        load_image(path, max_pixels=1000)


# --------------------------------------------------------------------------- malformed metadata


def _notes_and_no_crash(data: bytes, fmt: str = "JPEG") -> ProvenanceReport:
    r = run(data, fmt)
    assert r.notes, "malformed metadata must leave a note"
    assert "malformed_metadata" in r.flags
    return r


def test_corrupt_exif_is_a_note() -> None:
    bad = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0xFFFF) + b"\x0f\x01\x02\x00\xff\xff\xff\x7f\xf0\xff\xff\xff" * 3
    data = pf.insert_segments(pf.jpeg_bytes(pf.face_image(), quality=90), pf.exif_segment(bad))
    r = run(data)
    assert r.exif.make is None  # nothing invented
    assert r.notes or not r.exif.fields


def test_huge_exif_is_a_note() -> None:
    buf = io.BytesIO()
    Image.fromarray(pf.noise_rgb(64, 64)).save(buf, "PNG")
    huge = b"II*\x00" + struct.pack("<I", 8) + b"\x00" * 5_000_000
    r = _notes_and_no_crash(_with_png_chunks(buf.getvalue(), _png_chunk(b"eXIf", huge)), "PNG")
    assert any("not parsed" in n for n in r.notes)


@pytest.mark.parametrize("xml", [
    "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description",
    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]><x:xmpmeta "
    "xmlns:x='adobe:ns:meta/'>&lol2;</x:xmpmeta>",
])
def test_broken_xmp_is_a_note(xml: str) -> None:
    data = pf.insert_segments(pf.jpeg_bytes(pf.face_image(), quality=90), pf.xmp_segment(xml))
    r = _notes_and_no_crash(data)
    assert r.xmp.present and r.xmp.creator_tool is None


def test_truncated_segment_is_a_note() -> None:
    data = pf.jpeg_bytes(pf.face_image(), quality=90)
    broken = data[:2] + b"\xff\xe1\xff\xf0Exif\x00\x00II"  # APP1 declaring 65 KB in a 14-byte file
    r = run(broken)
    assert any("past the end" in n or "cut off" in n for n in r.notes)


def test_stage_never_raises_on_random_bytes() -> None:
    rng = np.random.default_rng(3)
    good = pf.edited_jpeg()
    for _ in range(25):
        b = bytearray(good)
        for pos in rng.integers(2, 2000, 20):
            b[pos] = int(rng.integers(0, 256))
        inspect(bytes(b), "JPEG", now=NOW)  # must not raise
