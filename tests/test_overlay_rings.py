"""The overlay's numbered rings and legend say what page 1's list says.

Page 1 lists the top regions "numbered as on the overlay". The overlay skipped the facial skin
(it covers the face, a ring would locate nothing) and took the next region instead, so it showed
"1. nose, 3. left cheek, 4. right cheek" beside a list "1 nose, 2 facial skin, 3 left cheek". A
face box too short for legible text gets no rings at all, which a caption must be able to say.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_render import make_analysis

from forgetalk.render import overlay
from forgetalk.render.overlay import render_overlay


def _with_skin_second(a):  # noqa: ANN001, ANN202 - an Analysis
    face = a.report.faces[0]
    regions = sorted(face.regions, key=lambda r: (r.name != "mouth", r.name != "skin", r.rank))
    regions = tuple(replace(r, rank=i) for i, r in enumerate(regions, 1))
    faces = (replace(face, regions=regions), *a.report.faces[1:])
    return replace(a, report=replace(a.report, faces=faces))


def _drawn(a, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:  # noqa: ANN001 - an Analysis
    """(ring numbers, legend lines) that render_overlay draws."""
    rings: list[str] = []
    legends: list[str] = []
    real_text, real_block = overlay._outlined_text, overlay._draw_block

    def text(img, s, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        rings.append(s)
        return real_text(img, s, *args, **kw)

    def block(img, lines, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        legends.extend(lines)
        return real_block(img, lines, *args, **kw)

    monkeypatch.setattr(overlay, "_outlined_text", text)
    monkeypatch.setattr(overlay, "_draw_block", block)
    render_overlay(a)
    return rings, legends


def test_the_legend_lists_the_same_ranks_as_page_one_and_says_which_has_no_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    a = _with_skin_second(make_analysis(1))
    top = [r.rank for r in a.report.faces[0].regions[:3]]
    assert top == [1, 2, 3] and a.report.faces[0].regions[1].name == "skin"
    rings, legends = _drawn(a, monkeypatch)
    assert rings == ["1", "3"]
    assert [line.split(".")[0] for line in legends] == ["1", "2", "3"]
    assert legends[1].startswith("2. facial skin") and legends[1].endswith("(not ringed)")
    assert "ringed" not in legends[0] + legends[2]


def test_a_square_face_small_in_a_large_photo_still_gets_rings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound was 4 lines of the face's own text, which grows with the box width: a square box
    (300 px here, in a 3000 px wide group photo) never met it."""
    a = make_analysis(8, size=(1500, 3000))
    box = a.report.faces[0].box
    assert box[2] - box[0] == box[3] - box[1] >= 250
    rings, legends = _drawn(a, monkeypatch)
    assert len(rings) == 8 * 2 and len(legends) == 8 * 3  # the facial skin, ranked 2, is listed without a ring
    assert overlay.faces_without_rings(a) == ()


def test_faces_too_small_for_rings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    a = make_analysis(12, size=(300, 800))
    assert a.report.faces[0].box[3] - a.report.faces[0].box[1] < 60
    rings, legends = _drawn(a, monkeypatch)
    assert rings == [] and legends == []
    assert overlay.faces_without_rings(a) == tuple(range(1, 13))


def test_page_one_caption_names_faces_drawn_without_rings() -> None:
    """The caption promised numbered rings for every face; a face too small in the photo gets none."""
    from dataclasses import replace

    from test_render import _squash, make_analysis, pdf_text

    from forgetalk.render.overlay import faces_without_rings
    from forgetalk.render.pdf import _overlay_caption, build_pdf

    a = make_analysis(2, size=(400, 800))
    small = replace(a.report.faces[1], box=(10.0, 10.0, 22.0, 22.0))
    a = replace(a, report=replace(a.report, faces=(a.report.faces[0], small)))
    assert faces_without_rings(a) == (2,)
    caption = _overlay_caption(a)
    assert "Face 2 is too small in the photo for legible labels" in caption and "skin areas are listed with their rank but not ringed" in caption
    assert "Face 2 is too small in the photo" in _squash(pdf_text(build_pdf(a), pages=slice(0, 1)))


def test_page_one_caption_sends_a_group_photo_to_the_face_pages() -> None:
    from test_render import make_analysis

    from forgetalk.render.pdf import GROUP_CAPTION_FACES, _overlay_caption

    assert "each face's page shows" in _overlay_caption(make_analysis(GROUP_CAPTION_FACES, size=(400, 1600)))
    assert "each face's page shows" not in _overlay_caption(make_analysis(1, size=(300, 400)))
