"""Provenance through analyze and scan: HEIC end to end, bad metadata never stops the face analysis, index columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import provenance_files as pf
import pytest
from _helpers import run_cli

from forgetalk.pipeline import AnalyzeOptions, Analyzer

ENGINE = ["--engine", "evidence", "--no-progress"]


run = run_cli


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(AnalyzeOptions(engine="evidence"))


def test_heic_photo_analysed_end_to_end(tmp_path: Path) -> None:
    src = tmp_path / "IMG_0001.HEIC"
    src.write_bytes(pf.heic_bytes())
    report = tmp_path / "case.pdf"
    code, out, err = run("analyze", str(src), "--report", str(report), *ENGINE)
    assert code == 0, err
    doc = json.loads(report.with_suffix(".json").read_text())
    assert doc["input"]["format"] == "HEIF" and doc["input"]["sha256"] == doc["input"]["sha256_after"]
    assert len(doc["faces"]) >= 1
    prov = doc["provenance"]
    assert prov["format"] == "HEIF" and prov["exif"]["make"] == "Apple" and prov["exif"]["model"] == "iPhone 15 Pro"
    assert "provenance" in doc["timings_s"]
    assert report.read_bytes().startswith(b"%PDF")


def test_every_provenance_field_in_the_json(tmp_path: Path) -> None:
    src = tmp_path / "edited.jpg"
    src.write_bytes(pf.edited_jpeg())
    code, out, err = run("analyze", str(src), "--json", str(tmp_path / "r.json"), *ENGINE)
    assert code == 0, err
    prov = json.loads((tmp_path / "r.json").read_text())["provenance"]
    assert set(prov) >= {"format", "exif", "xmp", "iptc", "icc", "c2pa", "jpeg", "text_chunks", "software", "findings", "notes", "flags",
                         "elapsed_s", "ela_quality"}
    assert prov["software"] == pf.PHOTOSHOP and "editing_software" in prov["flags"]
    assert prov["xmp"]["history"][1]["software_agent"] == pf.PHOTOSHOP
    assert len(prov["jpeg"]["quant_tables"][0]["values"]) == 64
    assert {"code", "source", "sentence", "flag", "confidence"} <= set(prov["findings"][0])
    assert prov["jpeg"]["double_compression"]["method"]


def _variants() -> dict[str, bytes]:
    clean = pf.jpeg_bytes(pf.face_image(), quality=90)
    bad_exif = b"II*\x00\x08\x00\x00\x00\xff\xff" + b"\x01\x02\x03\x04" * 40
    return {
        "clean": clean,
        "corrupt_exif": pf.insert_segments(clean, pf.exif_segment(bad_exif)),
        "broken_xmp": pf.insert_segments(clean, pf.xmp_segment("<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF")),
        "broken_c2pa": pf.insert_segments(clean, pf.app_segment(0xEB, b"JP\x00\x00\x00\x00\x00\x01jumb" + b"c2pa" + b"\xde\xad" * 300)),
    }


def test_malformed_metadata_never_stops_the_face_analysis(analyzer: Analyzer, tmp_path: Path) -> None:
    scores = {}
    for name, data in _variants().items():
        p = tmp_path / f"{name}.jpg"
        p.write_bytes(data)
        a = analyzer.analyze_path(p)
        rep = a.report
        assert len(rep.faces) >= 1, name
        assert rep.provenance is not None
        if name != "clean":
            assert rep.provenance.notes or rep.provenance.c2pa.state == "unreadable", name
        scores[name] = rep.score
        json.dumps(rep.to_dict())
    # Same pixels, different metadata: provenance never moves the face score.
    assert len(set(scores.values())) == 1, scores


def test_report_pdf_carries_the_provenance_section(analyzer: Analyzer, tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    from forgetalk.render import write_outputs

    p = tmp_path / "edited.jpg"
    p.write_bytes(pf.edited_jpeg())
    a = analyzer.analyze_path(p)
    write_outputs(a, overlay=tmp_path / "o.png", pdf=tmp_path / "r.pdf", json_path=tmp_path / "r.json")
    pdf = pdfium.PdfDocument(str(tmp_path / "r.pdf"))
    text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    flat = " ".join(text.split())
    assert "Adobe Photoshop 25.0" in flat and "one day after capture" in flat


def test_render_module_draws_section_appendix_and_ela(analyzer: Analyzer, tmp_path: Path) -> None:
    import io

    from reportlab.platypus import SimpleDocTemplate

    from forgetalk.render.provenance import provenance_appendix, provenance_highlights, provenance_section

    p = tmp_path / "edited.jpg"
    p.write_bytes(pf.edited_jpeg())
    a = analyzer.analyze_path(p)
    prov = a.report.provenance
    hl = provenance_highlights(prov)
    assert 1 <= len(hl) <= 3 and any("Photoshop" in h for h in hl)
    story = provenance_section(prov) + provenance_appendix(prov, image=a.image)
    assert any(type(f).__name__ == "Image" for f in story)  # the ELA picture
    buf = io.BytesIO()
    SimpleDocTemplate(buf).build(story)
    assert buf.getvalue().startswith(b"%PDF")


def test_mixed_folder_scan_index_has_provenance_columns(tmp_path: Path) -> None:
    from _helpers import scan_cli

    src = tmp_path / "evidence"
    src.mkdir()
    pems = pf.make_signer_pems()
    (src / "camera.jpg").write_bytes(pf.camera_jpeg())
    (src / "edited.jpg").write_bytes(pf.edited_jpeg())
    (src / "ai.jpg").write_bytes(pf.c2pa_signed(pf.jpeg_bytes(pf.face_image(), quality=88), pems, ai_generated=True))
    (src / "phone.heic").write_bytes(pf.heic_bytes())
    (src / "notes.jpg").write_bytes(b"this is not an image")
    out = tmp_path / "results"
    code, summary, err = scan_cli([str(src), "--out", str(out), "--workers", "1"])
    assert code == 1, err  # one file failed (not an image); the rest analysed
    with open(out / "index.csv", newline="") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh)}
    assert {"software", "c2pa_state", "provenance_flags"} <= set(next(iter(rows.values())))
    assert rows["edited.jpg"]["software"] == pf.PHOTOSHOP and "editing_software" in rows["edited.jpg"]["provenance_flags"]
    assert rows["ai.jpg"]["c2pa_state"] == "untrusted signer" and "c2pa_ai_generated" in rows["ai.jpg"]["provenance_flags"]
    assert rows["camera.jpg"]["c2pa_state"] == "none" and rows["camera.jpg"]["provenance_flags"] == ""
    assert rows["phone.heic"]["status"] in ("analysed", "no_face")
    assert rows["notes.jpg"]["status"] == "failed" and rows["notes.jpg"]["software"] == ""
    index = json.loads((out / "index.json").read_text())
    by_file = {r["file"]: r for r in index["items"]}
    assert by_file["edited.jpg"]["provenance_flags"].split(";")[0] == "editing_software"
    # the scan summary's index carries them too, beside the verdict (never in the score)
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(out / "summary.pdf"))
    try:
        text = " ".join(" ".join(doc[i].get_textpage().get_text_range().split()) for i in range(len(doc)))
    finally:
        doc.close()
    assert f"software: {pf.PHOTOSHOP}" in text and "C2PA: untrusted signer" in text and "editing software" in text
