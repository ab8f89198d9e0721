"""The whole-photo false-positive benchmark's pure parts on made-up scores (no ../shared, no analysis)."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("verdict_fpr_photos")


def test_table_counts_faces_and_photos_per_source_and_bin(bench) -> None:  # noqa: ANN001
    rows = [{"photo": f"parsing/p{i}", "side": s, "quality": 90, "face_px": px, "score": sc}
            for i in range(10) for s, px, sc in ((150, 90.0, 0.9 if i < 3 else 0.5), (700, 400.0, 0.5))]
    rows += [{"photo": "faces/a.jpg", "side": 150, "quality": 90, "face_px": 95.0, "score": 0.2}]
    lines = bench.table(rows, 0.8, bins=(0.0, 100.0, float("inf")))
    by = {tuple(c.strip() for c in ln.split("|")[1:3]): ln for ln in lines[2:]}
    assert "| 10 | 10 | 30.0 %" in by[("parsing", "0-100 px")] and "| 10 | 10 | 0.0 %" in by[("parsing", "100 px and up")]
    assert "| 11 | 11 | 27.3 %" in by[("all", "0-100 px")] and ("faces", "100 px and up") not in by
    assert by[("parsing", "0-100 px")].endswith("| 0.900 |")  # the project's threshold_at_fpr: 3 of 10 at 0.9 -> flag none



def test_greyscale_runs_measure_grey_photos(bench, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """``--greyscale`` hands every photo to the measurement as a greyscale one (three equal channels)."""
    from forgetalk.io import channels_equal

    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 200
    monkeypatch.setattr(bench, "split_photos_of", lambda faces, parsing, split: iter([("parsing/a", colour)]))
    seen = []
    _, rows = bench.photo_rows("test", lambda photos, tmp: [seen.append(rgb) or {"photo": n} for n, rgb in photos],
                               ["--parsing", str(tmp_path), "--greyscale"])
    assert rows == [{"photo": "parsing/a"}] and channels_equal(seen[0], step=1) and int(seen[0][0, 0, 0]) == round(200 * 0.299)
    _, rows = bench.photo_rows("test", lambda photos, tmp: [seen.append(rgb) or {"photo": n} for n, rgb in photos], ["--parsing", str(tmp_path)])
    assert seen[-1] is colour


def test_sepia_runs_tone_every_photo_with_the_editors_matrix(bench, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    white = np.full((4, 4, 3), 255, np.uint8)
    monkeypatch.setattr(bench, "split_photos_of", lambda faces, parsing, split: iter([("parsing/a", white)]))
    seen = []
    bench.photo_rows("test", lambda photos, tmp: [seen.append(rgb) or {"photo": n} for n, rgb in photos], ["--parsing", str(tmp_path), "--sepia"])
    assert seen[0][0, 0].tolist() == [255, 255, 239]  # white: the first two rows of the matrix sum over 1 (clipped), the third to 0.937
    with pytest.raises(SystemExit):  # one tone at a time
        bench.photo_rows("test", lambda photos, tmp: [], ["--parsing", str(tmp_path), "--sepia", "--greyscale"])
