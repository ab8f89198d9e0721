"""The cut-face benchmark's pure parts (no ../shared, no analysis)."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("edge_faces")


def test_the_cut_leaves_that_share_of_the_box_outside(bench) -> None:  # noqa: ANN001
    rgb = np.zeros((200, 300, 3), np.uint8)
    box = (100.0, 50.0, 200.0, 150.0)  # 100 x 100
    assert bench.cut_photo(rgb, box, "right", 0.0) is rgb
    assert bench.cut_photo(rgb, box, "right", 0.3).shape[:2] == (200, 170)
    left = bench.cut_photo(rgb, box, "left", 0.3)
    assert left.shape[:2] == (200, 170) and bench.shifted_box(box, rgb, "left", 0.3) == (-30.0, 50.0, 70.0, 150.0)
    assert bench.cut_photo(rgb, box, "top", 0.25).shape[:2] == (125, 300) and bench.shifted_box(box, rgb, "top", 0.25)[1] == -25.0
    assert bench.cut_photo(rgb, box, "bottom", 0.25).shape[:2] == (125, 300)


def test_box_iou() -> None:
    from forgetalk.metrics import box_iou

    box = (100.0, 50.0, 200.0, 150.0)
    assert abs(box_iou(box, box) - 1.0) < 1e-12 and box_iou(box, (300, 300, 400, 400)) == 0.0
    assert abs(box_iou(box, (150.0, 50.0, 250.0, 150.0)) - 1 / 3) < 1e-12
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_the_tables_count_flags_by_cut_and_by_the_products_share(bench) -> None:  # noqa: ANN001
    rows = [{"photo": f"p{i}", "side": "right", "cut": c, "found": True, "score": s, "outside_note": c > 0, "outside_share": sh}
            for i in range(4) for c, s, sh in ((0.0, 0.2, 0.0), (0.35, 0.9 if i < 2 else 0.3, 0.31))]
    lines = bench.table(rows, 0.8)
    by_cut = {ln.split("|")[1].strip(): ln for ln in lines[2:]}
    assert "| 4 / 4 | 0.0 %" in by_cut["0 %"] and "| 4 / 4 | 50.0 %" in by_cut["35 %"] and by_cut["35 %"].endswith("| 1.000 |")
    shares = {ln.split("|")[1].strip(): ln for ln in bench.share_table(rows, 0.8)[2:]}
    assert "| 4 | 0.0 %" in shares["0-2 %"] and "| 4 | 50.0 %" in shares["30 % and more"]
