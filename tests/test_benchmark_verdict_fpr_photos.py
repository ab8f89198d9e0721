"""The whole-photo false-positive benchmark's pure parts on made-up scores (no ../shared, no analysis)."""

from __future__ import annotations

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

