"""Rendering tests on synthetic analyses: no detector or engine runs here.

They pin the contract the CLI relies on (shapes, atomic outputs, OutputError), the
evidence-facing promises (SHA-256 and every region number in both PDF and JSON), and
robustness against hostile or unusual names.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from forgetalk.errors import OutputError
from forgetalk.faces.base import REGION_LABELS
from forgetalk.io import InputInfo
from forgetalk.render import build_pdf, render_face_panel, render_overlay, report_json, write_outputs
from forgetalk.results import (
    SCHEMA_VERSION,
    VERDICT_MANIPULATED,
    VERDICT_NO_FACE,
    Analysis,
    AnalysisReport,
    CueEvidence,
    FaceArtifacts,
    FaceResult,
    RegionResult,
)

CROP = 512
SHA = "ab" * 32
SHA_AFTER = SHA
_REGION_BOXES = {  # crop-space ellipses (cx, cy, ax, ay)
    "left_eye": (190, 230, 40, 18), "right_eye": (322, 230, 40, 18), "left_brow": (190, 190, 50, 10),
    "right_brow": (322, 190, 50, 10), "nose": (256, 290, 35, 55), "mouth": (256, 380, 70, 28),
    "left_cheek": (170, 320, 45, 50), "right_cheek": (342, 320, 45, 50), "forehead": (256, 130, 120, 40),
    "chin_jaw": (256, 445, 90, 30), "skin": (256, 290, 170, 210),
}


def _masks() -> dict[str, np.ndarray]:
    out = {}
    for name, (cx, cy, ax, ay) in _REGION_BOXES.items():
        m = np.zeros((CROP, CROP), np.uint8)
        cv2.ellipse(m, (cx, cy), (ax, ay), 0, 0, 360, 1, -1)
        out[name] = m.astype(bool)
    return out


def _smooth_noise(rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """Photo-like low-frequency content: compresses like a photo, keeping PDF tests fast."""
    small = rng.integers(0, 255, (max(2, hw[0] // 32), max(2, hw[1] // 32), 3), dtype=np.uint8)
    return cv2.resize(small, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)


def _face(index: int, box: tuple[float, float, float, float], rng: np.random.Generator, explanation: str = "") -> tuple[FaceResult, FaceArtifacts, np.ndarray]:
    x1, y1, x2, y2 = box
    s = (x2 - x1) / CROP
    inverse = np.array([[s, 0, x1], [0, s, y1]], np.float64)
    yy, xx = np.mgrid[0:CROP, 0:CROP]
    heat = np.exp(-(((xx - 256) / 60.0) ** 2 + ((yy - 380) / 30.0) ** 2)).astype(np.float32)  # hot mouth
    masks = _masks()
    regions = []
    scored = sorted(((float(heat[m].mean()) + 0.01 * i, n) for i, (n, m) in enumerate(masks.items())), reverse=True)
    for rank, (sal, name) in enumerate(scored, 1):
        ev = (CueEvidence("noise_residual", "noise-level inconsistency", 1.5 + rank, 1.0, 1.5 + rank, 3.25 - rank / 10, rank <= 2),)
        expl = (f"The {REGION_LABELS[name]} differs from the rest of the face (ratio {1.5 + rank:.2f}).",)
        if explanation and rank == 1:
            expl += (explanation,)
        regions.append(RegionResult(name=name, label=REGION_LABELS[name], rank=rank, saliency=round(min(sal, 1.0), 4),
                                    mean_heat=round(sal / 2, 4), area_px=int(masks[name].sum()), evidence=ev, explanations=expl))
    fr = FaceResult(index=index, box=box, detection_score=0.99, face_size_px=x2 - x1, score=0.8 - 0.1 * index,
                    verdict=VERDICT_MANIPULATED, verdict_reason="mouth noise differs strongly <from> the rest & more",
                    regions=tuple(regions), model_text="The lips look pasted <i>", notes=("small face",),
                    engine_meta={"cue_z": {"noise": 3.1}})
    crop = _smooth_noise(rng, (CROP, CROP))
    return fr, FaceArtifacts(crop=crop, heatmap=heat, regions=masks, inverse=inverse), heat


def make_analysis(n_faces: int = 1, size: tuple[int, int] = (600, 800), name: str = "photo.jpg", explanation: str = "",
                  gray: bool = False, seed: int = 0) -> Analysis:
    """Synthetic analysis: random photo, faces laid out left to right, hot mouths."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = _smooth_noise(rng, (h, w))
    if gray:
        img = np.repeat(img[..., :1], 3, axis=2)
    photo_heat = np.zeros((h, w), np.float32)
    faces, arts = [], []
    side = max(8.0, min(h * 0.6, w / max(n_faces, 1) * 0.8))
    for i in range(n_faces):
        x1 = (w / max(n_faces, 1)) * i + 2
        box = (float(x1), float(h * 0.2), float(x1 + side), float(h * 0.2 + side))
        fr, art, heat = _face(i, box, rng, explanation)
        faces.append(fr)
        arts.append(art)
        photo_heat = np.maximum(photo_heat, cv2.warpAffine(heat, art.inverse, (w, h)))
    info = InputInfo(path=f"/evidence/case 7/{name}", name=name, size_bytes=12345, sha256=SHA, sha256_after=SHA_AFTER,
                     format="JPEG", mode="L" if gray else "RGB", width=w, height=h, exif_orientation=1,
                     notes=("grayscale image: colour cues are not informative",) if gray else ())
    rep = AnalysisReport(
        schema=SCHEMA_VERSION, tool_version="0.1.0", engine="fake",
        engine_info={"name": "fake", "weights": {"a.pt": "cd" * 32}, "verdict_threshold": 0.62, "fpr_at_threshold": 0.05},
        face_backend={"name": "synthetic"}, parameters={"engine": "fake", "max_faces": 32},
        input=info, started_at="2024-01-01T00:00:00.000+00:00", finished_at="2024-01-01T00:00:01.000+00:00",
        timings_s={"load": 0.01, "engine": 0.5}, verdict=VERDICT_MANIPULATED if faces else VERDICT_NO_FACE,
        score=max((f.score for f in faces), default=0.0), faces=tuple(faces), warnings=info.notes,
    )
    return Analysis(report=rep, image=img, heatmap=photo_heat, faces=tuple(arts))


def pdf_text(data: bytes, tmp_path: Path | None = None, pages: slice = slice(None)) -> str:
    """Extracted text of the PDF (pypdfium2, a dev requirement: these tests never skip)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))[pages])


def _squash(s: str) -> str:
    return " ".join(s.split())


# --------------------------------------------------------------------------- overlay


@pytest.mark.parametrize("n_faces", [0, 1, 3])
def test_overlay_shape_and_hot_pixels_coloured(n_faces: int) -> None:
    a = make_analysis(n_faces)
    out = render_overlay(a)
    assert out.shape == a.image.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, a.image)
    if n_faces:
        hot = a.heatmap > 0.9
        assert hot.any()
        diff = np.abs(out.astype(int) - a.image.astype(int)).sum(axis=2)
        assert (diff[hot] > 30).mean() > 0.8  # tinted where hot
        top = slice(0, int(a.image.shape[0] * 0.1))  # above every face and its header label
        assert diff[top].max() == 0  # untouched where nothing is drawn or hot


@pytest.mark.parametrize("size", [(64, 64), (40, 300), (3000, 200)])
def test_overlay_extreme_sizes_and_grayscale(size: tuple[int, int]) -> None:
    a = make_analysis(1, size=size, gray=True)
    out = render_overlay(a)
    assert out.shape == (*size, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("size", [(2, 2), (3, 3), (4, 4), (9, 9), (2, 1000), (1000, 2), (3, 3000), (12, 12)])
def test_overlay_of_an_image_too_small_for_a_legend(size: tuple[int, int]) -> None:
    """A photo of a few pixels (no face fits) still gets its overlay: without the heat legend
    where it has no room (a 2 x 2 photo crashed the process with SIGFPE, 3 x 3 raised)."""
    a = make_analysis(0, size=size)
    out = render_overlay(a)
    assert out.shape == (*size, 3) and out.dtype == np.uint8


def test_overlay_accepts_2d_image_and_mismatched_heatmap() -> None:
    a = make_analysis(1, size=(120, 160))
    a2 = replace(a, image=a.image[..., 0], heatmap=cv2.resize(a.heatmap, (80, 60)))
    assert render_overlay(a2).shape == (120, 160, 3)


def test_overlay_headers_of_a_group_photo_sit_by_their_own_faces() -> None:
    """A hostile pass put 16 faces in a 4 x 4 grid: the labels, sized for the whole photo, were
    several faces wide, covered the neighbours and sat nearer to them than to their own faces."""
    from forgetalk.render.overlay import _render_overlay

    rng = np.random.default_rng(3)
    h = w = 1200
    faces, arts = [], []
    for i in range(16):
        x1, y1 = 300 * (i % 4) + 95, 300 * (i // 4) + 80
        fr, art, _ = _face(i, (float(x1), float(y1), float(x1 + 110), float(y1 + 110)), rng)
        faces.append(fr)
        arts.append(art)
    a = make_analysis(1, size=(h, w))
    a = replace(a, report=replace(a.report, faces=tuple(faces)), faces=tuple(arts))
    img, headers = _render_overlay(a)
    assert img.shape == (h, w, 3) and len(headers) == 16
    for i, (hx0, hy0, hx1, hy1) in enumerate(headers):
        own = faces[i].box
        for j, f in enumerate(faces):
            if j != i:  # on no other face
                assert hx1 <= f.box[0] or f.box[2] <= hx0 or hy1 <= f.box[1] or f.box[3] <= hy0, (i, j)
        centre = ((hx0 + hx1) / 2, (hy0 + hy1) / 2)
        dist = [np.hypot(centre[0] - (f.box[0] + f.box[2]) / 2, centre[1] - (f.box[1] + f.box[3]) / 2) for f in faces]
        assert int(np.argmin(dist)) == i and (hx0 >= own[0] - 1 or hx1 >= w - 1)  # nearest its own face, from its box's left edge (or at the photo's)


def test_face_panel() -> None:
    a = make_analysis(1)
    panel = render_face_panel(a.faces[0], a.report.faces[0])
    assert panel.dtype == np.uint8 and panel.ndim == 3 and panel.shape[1] > 2 * CROP and panel.shape[0] >= CROP


# --------------------------------------------------------------------------- PDF


def test_pdf_contains_regions_explanations_and_hash(tmp_path: Path) -> None:
    a = make_analysis(3)
    data = build_pdf(a)
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    text = pdf_text(data, tmp_path)
    flat = _squash(text)
    assert SHA in flat
    for face in a.report.faces:
        for r in face.regions:
            assert r.label in flat
            assert f"{r.saliency:.3f}" in flat
            for e in r.explanations:
                assert _squash(e) in flat
    assert "Methods and limitations" in flat
    assert "0.62" in flat and "0.05" in flat  # calibration from engine_info
    assert "page 1 of" in flat


def test_pdf_zero_faces(tmp_path: Path) -> None:
    data = build_pdf(make_analysis(0))
    assert data.startswith(b"%PDF")
    text = pdf_text(data, tmp_path)
    if text is not None:
        assert VERDICT_NO_FACE in text


def test_pdf_is_deterministic() -> None:
    a = make_analysis(1, size=(200, 240))
    assert build_pdf(a) == build_pdf(a)


def test_pdf_hostile_markup(tmp_path: Path) -> None:
    name = "<b>&x.jpg</font><para>\x1b]0;pwn\x07"
    evil = "</para><font name='nope'>&amp; <img src='x'/> & <<"
    a = make_analysis(1, size=(200, 240), name=name, explanation=evil)
    data = build_pdf(a)
    assert data.startswith(b"%PDF")
    text = pdf_text(data, tmp_path)
    if text is not None:
        flat = _squash(text)
        assert "<b>&x.jpg</font><para>" in flat
        assert "\\x1b" in flat  # control characters are shown, not executed
        assert _squash(evil) in flat


def test_overlay_png_names_the_evidence_it_was_made_from(tmp_path: Path) -> None:
    """The overlay is often pasted into a case file alone: its PNG text carries the input's SHA-256
    and name (an undecodable byte of the name escaped), next to the Software mark."""
    from PIL import Image

    a = make_analysis(1, size=(200, 240), name="证据_\udcff.jpg")
    out = write_outputs(a, overlay=tmp_path / "o.png")
    text = Image.open(out["overlay"]).text
    assert text["Input SHA-256"] == a.report.input.sha256 == SHA
    assert text["Input file"] == "证据_\\xff.jpg" and text["Software"].startswith("forgetalk ")


def test_pdf_unicode_and_undecodable_names(tmp_path: Path) -> None:
    name = "证据_Ærø_é\udcff.jpg"  # CJK, accents and a surrogate-escaped byte from os.fsdecode
    a = make_analysis(1, size=(200, 240), name=name)
    data = build_pdf(a)
    text = pdf_text(data, tmp_path)
    if text is not None:
        assert "Ærø_é" in text
        assert "证据" in text
        assert "\\xff" in text


def test_pdf_huge_cell_text_does_not_break_layout() -> None:
    a = make_analysis(1, size=(200, 240), explanation="word " * 5000 + "x" * 3000)
    assert build_pdf(a).startswith(b"%PDF")


# --------------------------------------------------------------------------- JSON and writing


def test_json_round_trip_has_every_saliency() -> None:
    a = make_analysis(3, name="证据\udcff.jpg")
    d = json.loads(json.dumps(report_json(a), ensure_ascii=False, allow_nan=False).encode("utf-8"))
    assert d["input"]["sha256"] == SHA
    for face, jf in zip(a.report.faces, d["faces"], strict=True):
        assert [r["saliency"] for r in jf["regions"]] == [round(r.saliency, 6) for r in face.regions]
        assert jf["regions"][0]["explanations"] == list(face.regions[0].explanations)
    assert d["render"]["colormap"] == "inferno"
    assert "\\xff" in d["input"]["name"]


def test_json_nan_becomes_null() -> None:
    a = make_analysis(1, size=(100, 100))
    rep = replace(a.report, score=float("nan"))
    d = report_json(replace(a, report=rep))
    assert d["score"] is None
    json.dumps(d, allow_nan=False)


def test_write_outputs_creates_folders(tmp_path: Path) -> None:
    a = make_analysis(1, size=(200, 240))
    out = tmp_path / "new" / "deeper"
    written = write_outputs(a, overlay=out / "o.png", pdf=out / "r.pdf", json_path=out / "r.json")
    assert set(written) == {"overlay", "report", "json"}
    assert written["report"].read_bytes().startswith(b"%PDF")
    assert written["overlay"].read_bytes().startswith(b"\x89PNG")
    assert json.loads(written["json"].read_text("utf-8"))["input"]["sha256"] == SHA
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    assert write_outputs(a) == {}
    assert set(write_outputs(a, json_path=tmp_path / "only.json")) == {"json"}


def test_write_outputs_unwritable_raises_output_error(tmp_path: Path) -> None:
    a = make_analysis(0, size=(64, 64))
    blocker = tmp_path / "somefile.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError) as ei:
        write_outputs(a, pdf=blocker / "out.pdf")
    assert "\n" not in str(ei.value)
    if os.geteuid() != 0:  # root ignores directory permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(OutputError):
                write_outputs(a, json_path=ro / "r.json")
        finally:
            ro.chmod(0o700)


def test_write_outputs_builds_everything_before_writing_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PDF that fails to build (or an interrupt while it builds) leaves no half set behind:
    the JSON and the overlay used to be on disk already."""
    import forgetalk.render as render

    def broken(*_a: object, **_k: object) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "build_pdf", broken)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(make_analysis(1, size=(100, 100)), overlay=tmp_path / "o.png", pdf=tmp_path / "r.pdf", json_path=tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []


def test_analyst_paths_are_checked_again_just_before_writing(tmp_path: Path) -> None:
    """A foreign file that appears at an output path while the analysis runs is refused, and
    nothing of the set is written (the check used to run only before the analysis)."""
    from forgetalk.guard import OutputCollisionError

    (tmp_path / "r.json").write_text("appeared during the analysis")
    with pytest.raises(OutputCollisionError, match="not a forgetalk output"):
        write_outputs(make_analysis(1, size=(100, 100)), pdf=tmp_path / "r.pdf", json_path=tmp_path / "r.json", analyst_paths=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"] and (tmp_path / "r.json").read_text() == "appeared during the analysis"


def test_own_outputs_are_recognised_and_other_files_are_not(tmp_path: Path) -> None:
    """Every output kind carries a mark where its format puts it (guard.is_foreign_file), so the CLI can write over its
    own earlier outputs and refuse anyone else's file."""
    from forgetalk.guard import is_foreign_file

    a = make_analysis(1, size=(200, 240))
    written = write_outputs(a, overlay=tmp_path / "o.png", pdf=tmp_path / "r.pdf", json_path=tmp_path / "r.json", summary=tmp_path / "t.pdf")
    assert set(written) == {"overlay", "report", "summary", "json"}
    assert not any(is_foreign_file(p) for p in written.values())
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4 someone's notes")
    cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert is_foreign_file(tmp_path / "notes.pdf") and is_foreign_file(tmp_path / "photo.png")
    assert not is_foreign_file(tmp_path / "empty.pdf") and not is_foreign_file(tmp_path / "absent.pdf")
    # The second hostile pass: the mark quoted anywhere, or an archive of real outputs, is not an output.
    quoted = tmp_path / "quoted.txt"
    quoted.write_bytes(b'notes: "schema": "forgetalk.report/1" and /Creator (forgetalk 0.1) and Software\x00forgetalk 0.1')
    import tarfile

    with tarfile.open(tmp_path / "case1.tar", "w") as tar:
        for f in written.values():
            tar.add(f, arcname=f.name)
    assert is_foreign_file(quoted) and is_foreign_file(tmp_path / "case1.tar")
    # A report of many faces puts its information dictionary far from the end (194 KB for 24
    # real faces); it is found through the trailer and the cross-reference table, not by
    # searching the last bytes (a re-run over such a report was refused).
    import forgetalk.guard as guard

    big = write_outputs(make_analysis(12, size=(900, 1200)), pdf=tmp_path / "big.pdf")["report"]
    from_end = big.stat().st_size - big.read_bytes().find(b"/Creator (forgetalk ")
    assert from_end > 4 * guard._PDF_TAIL and not is_foreign_file(big)


def test_ring_region_anchor_sits_on_the_region() -> None:
    from forgetalk.render.overlay import region_anchor

    ring = np.zeros((CROP, CROP), np.uint8)
    cv2.circle(ring, (256, 256), 200, 1, 12)
    heat = np.zeros((CROP, CROP), np.float32)
    heat[50:70, 250:262] = 1.0  # hottest part of the ring is at the top
    x, y = region_anchor(ring.astype(bool), heat)
    assert ring[int(y), int(x)] and y < 80
    x, y = region_anchor(_masks()["mouth"], heat)
    assert (round(x), round(y)) == (256, 380)  # convex region: plain centroid


def test_pdf_without_unicode_fonts_still_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Last-resort fallback (no TrueType font found): Latin-1 Helvetica, never a crash."""
    from forgetalk.render import fonts, pdf

    fs = fonts.FontSet("Helvetica", "Helvetica-Bold", "Courier", None, "Helvetica (test)", None, False)
    monkeypatch.setattr(fonts, "font_set", lambda: fs)
    monkeypatch.setattr(pdf, "font_set", lambda: fs)
    a = make_analysis(1, size=(120, 160), name="证据_Ærø <b>.jpg")
    assert pdf.build_pdf(a).startswith(b"%PDF")


def test_scan_summary_custody_names_the_departed_inputs() -> None:
    """A re-run that finds recorded inputs gone exits 7; the summary's chain-of-custody section
    said only "Exit code 7" (the departed files were index rows far above)."""
    from forgetalk.render.scan_summary import build_scan_summary_pdf

    header = {"run_id": "r2", "runs": ["r1"], "exit_code": 7, "counts": {"analysed": 0},
              "departed_inputs": [{"file": "exhibit_7.jpg", "path": "/e/exhibit_7.jpg", "sha256": SHA, "departed": {"status": "missing", "noticed_by": "r2"}}]}
    text = _squash(pdf_text(build_scan_summary_pdf([], header, Path("/tmp"))))
    assert "Departed inputs" in text and "exhibit_7.jpg: missing" in text


# --------------------------------------------------------------------------- page 1 and the triage form say why


_CAL = {"name": "fake", "calibration": {
    "threshold": 0.62, "measured_fpr": 0.049, "n_val_real": 549, "n_val_faces": 183,
    "rates_by_face_px": [{"face_px": [0.0, 100.0], "n_real": 71, "n_fake": 143, "fpr": 0.0423, "tpr": 0.1259},
                         {"face_px": [100.0, 160.0], "n_real": 111, "n_fake": 213, "fpr": 0.0541, "tpr": 0.1925},
                         {"face_px": [160.0, 315.0], "n_real": 252, "n_fake": 508, "fpr": 0.0635, "tpr": 0.1909},
                         {"face_px": [315.0, None], "n_real": 115, "n_fake": 234, "fpr": 0.0174, "tpr": 0.1752}],
    "region_calibration": {"n_real_faces": 183, "n_real_items": 549,
                           "face_px_bands": [{"min_px": 0.0, "max_px": 157.4, "n_items": 178}, {"min_px": 157.4, "max_px": None, "n_items": 371}]}}}


def _with_faces(a: Analysis, *changes: dict, **report: object) -> Analysis:
    """``a`` with each face's fields changed as given (one dict per face) and report fields replaced."""
    faces = tuple(replace(f, **c) for f, c in zip(a.report.faces, changes, strict=True))
    return replace(a, report=replace(a.report, faces=faces, **report))


def _triage_text(a: Analysis) -> tuple[str, int]:
    import pypdfium2 as pdfium

    from forgetalk.render.pdf import build_triage_pdf

    data = build_triage_pdf(a)
    return _squash(pdf_text(data)), len(pdfium.PdfDocument(data))


def test_page_one_and_the_triage_form_say_why_a_face_is_inconclusive() -> None:
    """Page 1 said "... is below the threshold of 0.835, which 4.9 % of real validation faces also
    reach, so the verdict is inconclusive" (below the threshold is "no evidence"); the reason was a
    45 px face, and neither page 1 nor the triage form said so."""
    a = _with_faces(make_analysis(1, size=(300, 400)), {
        "score": 0.5, "verdict": "inconclusive", "face_size_px": 45.0,
        "verdict_reason": "face too small (45 px < 64 px) for reliable forensic traces; score 0.500 vs threshold 0.620"}, verdict="inconclusive")
    page1 = _squash(pdf_text(build_pdf(a), pages=slice(0, 1)))
    triage, _ = _triage_text(a)
    for text in (page1, triage):
        assert "Why inconclusive: face too small (45 px < 64 px) for reliable forensic traces." in text
        assert "so the verdict is \u201cinconclusive\u201d" not in text
        assert "The verdict \u201cinconclusive\u201d does not come from the score: face too small (45 px < 64 px)" in text


def test_page_one_and_the_triage_form_carry_the_verdicts_caution() -> None:
    """"caution: heavy JPEG compression (quality ~30)", appended to a "likely manipulated" reason,
    was printed only on the face's own page."""
    a = _with_faces(make_analysis(1, size=(300, 400)), {
        "verdict_reason": "score 0.800 >= threshold 0.620 (false-positive rate 4.9% on real faces); caution: heavy JPEG compression (quality ~30)"})
    page1 = _squash(pdf_text(build_pdf(a), pages=slice(0, 1)))
    triage, _ = _triage_text(a)
    for text in (page1, triage):
        assert text.count("Caution: heavy JPEG compression (quality ~30).") == 2  # verdict box and summary


def test_the_triage_form_shows_the_notes_that_change_the_reading_on_one_page() -> None:
    """The triage form showed none of the report's notes: a damaged file or 3 faces left out by
    --max-faces read like a clean, fully examined photo. The notes that change the reading come
    first, the rest are counted, and the form stays one page."""
    damage = ("the JPEG's picture data is damaged (libjpeg: \"Corrupt JPEG data: 116 extraneous bytes before marker 0xd9\"): the decoder "
              "filled in what it could not read; the verdict is inconclusive whatever the score")
    skipped = "8 faces detected; only the 5 largest were analysed (--max-faces)"
    filler = [f"decoder hint {i}: " + "lorem ipsum " * 40 for i in range(12)]
    a = make_analysis(5, size=(400, 1000))
    a = replace(a, report=replace(a.report, warnings=(*filler[:6], skipped, *filler[6:], damage)))
    text, pages = _triage_text(a)
    assert pages == 1
    assert "Notes from the analysis (11 more in the JSON report's warnings) - the JPEG's picture data is damaged" in text and f"- {skipped}" in text
    assert "holds 8 detected faces; the tool examined the 5 largest (--max-faces) and not the other 3" in text
    assert "contains 5 faces that the tool examined" not in text


def test_page_one_follows_the_image_score_and_leaves_a_tiny_face_out() -> None:
    """A 40 px face scoring 0.95 is left out of the image score (verdict.image_score); page 1 took the
    highest score of all faces and ranked that face's regions ("Score 0.95 ... face 2")."""
    from forgetalk.render.answer import top_face
    from forgetalk.verdict import image_score

    a = make_analysis(2, size=(400, 800))
    a = _with_faces(a, {}, {"score": 0.95, "face_size_px": 40.0, "verdict": "inconclusive",
                            "verdict_reason": "face too small (40 px < 64 px) for reliable forensic traces; score 0.950 vs threshold 0.620"},
                    verdict="inconclusive", score=0.8)
    d = report_json(a)
    assert top_face(d)["index"] == 0 and top_face(d)["score"] == image_score(a.report.faces) == 0.8
    page1 = _squash(pdf_text(build_pdf(a), pages=slice(0, 1)))
    assert "Score 0.80 (face 1; faces under 64 px are left out of the image score), below" not in page1  # 0.80 >= 0.62
    assert "Score 0.80 (face 1; faces under 64 px are left out of the image score), at or above the threshold 0.62" in page1
    assert "Regions of face 1 ranked" in page1 and "Score 0.95" not in page1
    assert "Why inconclusive (face 2): face too small (40 px < 64 px)" in page1


def test_page_one_gives_the_rate_of_the_faces_size_band_and_the_appendix_a_table() -> None:
    """The calibration measured the threshold's false-positive rate per face size (6.35 % of 252
    untouched items of 160-315 px); page 1 quoted only the pooled 4.9 %, and the appendix printed the
    rates as a Python dict."""
    a = _with_faces(make_analysis(1, size=(300, 400)), {"face_size_px": 213.0}, engine_info=_CAL)
    flat = _squash(pdf_text(build_pdf(a)))
    page1 = _squash(pdf_text(build_pdf(a), pages=slice(0, 1)))
    assert "Error rate: 4.9 % of real validation faces" in page1
    assert "for faces of 160-315 px in the photo, like this one (213 px): 6.3 % (16 of 252 untouched items)" in page1
    assert "{'face_px'" not in flat and "'n_real'" not in flat
    assert "Rates at the verdict threshold by face size in the photo" in flat
    assert "faces of 160-315 px 252 6.3 % (16 of 252) 508 19.1 % (97 of 508)" in flat
    assert "faces of 315 px and up 115 1.7 % (2 of 115)" in flat


def test_a_region_above_every_real_face_says_how_many_they_were() -> None:
    """A saturated percentile printed "more unusual than on 100 % of real faces" and "above 100 %":
    the region is above all 371 real-face items of its size band, no more; 99.6 % reads 99 %."""
    a = make_analysis(1, size=(300, 400))
    face = a.report.faces[0]
    regions = tuple(replace(r, suspicion=1.0 if r.rank == 1 else 0.996 if r.rank == 2 else 0.5) for r in face.regions)
    a = _with_faces(a, {"regions": regions, "face_size_px": 213.0}, engine_info=_CAL)
    flat = _squash(pdf_text(build_pdf(a)))
    assert "100 %" not in flat
    assert f"{regions[0].label} (above all 371 real-face items of its size band, 157 px and up)" in flat  # page 1's list
    assert "above all 371 real-face items of its size band, 157 px and up" in _squash(pdf_text(build_pdf(a), pages=slice(1, 2)))  # the face's table
    assert f"{regions[1].label} (more unusual than on 99 % of real faces)" in flat


def test_a_reduced_photo_gives_the_files_size_and_the_analysed_one() -> None:
    """A 4096 x 4800 file analysed at 2048 x 2400 showed "Dimensions 2048 x 2400 px" and box
    coordinates with no word that they are the analysed picture's."""
    a = make_analysis(1, size=(240, 205))
    inp = replace(a.report.input, width=205, height=240, native_width=410, native_height=480, reduction=2)
    reduced = replace(a, report=replace(a.report, input=inp))
    flat = _squash(pdf_text(build_pdf(reduced)))
    assert "Dimensions 410 x 480 px in the file; analysed at 205 x 240 px (reduced by a factor of 2 on each side" in flat
    assert "px of the analysed picture (1/2 of the file's resolution: multiply by 2 for the file's pixels)" in flat
    plain = _squash(pdf_text(build_pdf(a)))
    assert "Dimensions 205 x 240 px (after EXIF orientation)" in plain and "analysed picture" not in plain


def test_methods_describe_the_compression_history_trigger() -> None:
    """"Verdict and error rate" named only the engine's threshold; the second trigger, its rule and
    its separately measured false-report rate are described."""
    flat = _squash(pdf_text(build_pdf(make_analysis(1, size=(200, 240)))))
    assert "Second trigger: JPEG compression history." in flat
    assert "by at least 0.4 and by 10 standard errors" in flat
    assert "on the parsing set's test split, 0 of 278 untouched test files reported (95 % interval 0.0-1.4 %; docs/provenance.md)" in flat


def test_page_one_error_rate_interval_is_in_the_json() -> None:
    """Every number in the PDF is in the sidecar: page 1's 95 % interval of the false-positive rate
    was computed for the page only (hostile review)."""
    a = _with_faces(make_analysis(1, size=(300, 400)), {}, engine_info=_CAL)
    d = report_json(a)
    rec = d["verdict_error_rate"]
    lo, hi = rec["false_positive_rate_95ci"]
    page1 = _squash(pdf_text(build_pdf(a), pages=slice(0, 1)))
    assert f"95 % interval {100 * lo:.1f}-{100 * hi:.1f} %" in page1
    assert rec["threshold"] is not None and rec["interval_counts"] in ("faces", "items")
