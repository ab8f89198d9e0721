"""Appendix C: every measured cue, with columns that mean what their headers say.

A consistency cue is measured against real faces: its engine keeps the real-face median where a
face cue keeps the rest of the face, so the table printed "right eye | eye size asymmetry | -0.190
| -0.010 | 19.08" under "Rest of face" and "Ratio" (a ratio of two logs), and cut cue names at 40
characters ("catchlight (specular highlight) mismatc...").
"""

from __future__ import annotations

from dataclasses import replace

from test_render import _squash, make_analysis, pdf_text

from forgetalk.render import build_pdf
from forgetalk.render.fonts import font_set
from forgetalk.render.pdf import _cue_table, _cue_text
from forgetalk.render.pdfkit import Styles
from forgetalk.results import CueEvidence

LONG = "catchlight (specular highlight) mismatch between the eyes"
REAL = CueEvidence("eye_area", "eye size asymmetry", -0.190, None, None, 19.08, True, compared_with="real_faces", real_median=-0.010,
                   real_q01=-0.2, real_q99=0.19, unit="ln of the left/right eye opening area ratio")
FACE = CueEvidence("noise", "noise-level inconsistency", 1.419, 2.976, 0.48, -5.67, True)
CATCH = CueEvidence("catchlight_level", LONG, 24.4, None, None, 1.47, False, compared_with="real_faces", real_median=5.4, real_q01=0.1, real_q99=35.6,
                    unit="L* units")


def test_a_cue_against_real_faces_shows_the_real_face_median_and_no_ratio() -> None:
    cue, value, against, ref, ratio, z, fired = _cue_text(REAL)
    assert against == "real faces" and ratio == "n/a"
    assert ref == "median -0.010; 1st-99th percentile -0.200 to 0.190 (ratio x0.99; x0.82 to x1.21)"  # the sentences' scale too
    assert cue == "eye size asymmetry [ln of the left/right eye opening area ratio]" and value == "-0.190 (ratio x0.83)"
    assert (z, fired) == ("19.08", "yes")
    assert _cue_text(FACE) == ["noise-level inconsistency", "1.419", "rest of face", "2.976", "0.48", "-5.67", "yes"]


def test_long_cue_names_wrap_instead_of_being_cut() -> None:
    a = make_analysis(1)
    face = a.report.faces[0]
    face = replace(face, regions=(replace(face.regions[0], evidence=(CATCH, REAL, FACE)),))
    table = _cue_table(face, Styles(font_set()))
    cells = [" ".join(str(c).split()) for row in table._cellvalues for c in row]
    assert any(c.startswith(LONG) for c in cells) and not any("\u2026" in c for c in cells)
    header = " ".join(" ".join(str(c).split()) for c in table._cellvalues[0])
    assert "Compared with" in header and "Rest of face" not in header


def test_the_report_prints_the_honest_columns() -> None:
    a = make_analysis(1, size=(200, 240))
    face = a.report.faces[0]
    face = replace(face, regions=(replace(face.regions[0], evidence=(CATCH, REAL, FACE)), *face.regions[1:]))
    a = replace(a, report=replace(a.report, faces=(face,)))
    text = _squash(pdf_text(build_pdf(a)))
    assert LONG in text
    assert "median -0.010; 1st-99th percentile -0.200 to 0.190" in text
    assert "ratio = region / rest) or, for the consistency cues, with real faces" in text
