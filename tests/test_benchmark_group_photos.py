"""The group-photo benchmark's pure parts (no ../shared, no analysis)."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("group_photos")


def test_collages_are_square_grids_of_resized_tiles(bench) -> None:  # noqa: ANN001
    tiles = [np.full((40, 30, 3), v, np.uint8) for v in (10, 20, 30, 40, 50)]
    out = bench.collage(tiles, tile=16)
    assert out.shape == (48, 48, 3)  # five tiles need a 3 x 3 grid
    assert out[0, 0, 0] == 10 and out[0, 16, 0] == 20 and out[16, 16, 0] == 50 and out[40, 40, 0] == 0


def test_draws_are_seeded_and_distinct_within_a_collage(bench) -> None:  # noqa: ANN001
    d = bench.draws(20, sizes=(1, 9), collages=5, seed=1)
    assert d == bench.draws(20, sizes=(1, 9), collages=5, seed=1) and len(d) == 10
    assert all(len(set(idx)) == n == len(idx) for n, idx in d)


def test_the_table_compares_the_photo_rate_with_the_independent_prediction(bench) -> None:  # noqa: ANN001
    rows = [{"n": 4, "verdict": "likely manipulated" if i < 1 else "no evidence of manipulation found", "judged": 4,
             "flagged_faces": 1 if i < 1 else 0, "over_threshold": 1 if i < 2 else 0} for i in range(10)]
    (line,) = bench.table(rows)[2:]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:3] == ["4", "10", "4.0"] and cells[3].startswith("10.0 %")  # the verdict: one photo
    assert cells[4] == "5.0 %" and cells[5] == f"{100 * (1 - 0.95 ** 4):.1f} %"  # 2 of 40 faces over the threshold; 1 - 0.95^4
    assert cells[6] == "20.0 %"  # two photos held such a face


def test_a_face_is_placed_in_the_tile_holding_its_centre(bench) -> None:  # noqa: ANN001
    assert bench.tile_of((10, 10, 50, 50), 4, tile=64) == 0
    assert bench.tile_of((70, 10, 120, 60), 4, tile=64) == 1  # centre (95, 35): second column
    assert bench.tile_of((100, 150, 140, 190), 9, tile=64) == 7  # centre (120, 170): row 2, column 1 of a 3 x 3 grid


def test_the_forged_table_separates_the_face_threshold_from_the_verdict_after_the_rule(bench) -> None:  # noqa: ANN001
    forged = [{"judged": True, "over_threshold": i < 6, "face_verdict": "likely manipulated" if i < 2 else "inconclusive",
               "verdict": "likely manipulated" if i < 3 else "inconclusive"} for i in range(10)]
    rows = [{"n": 9, "forged": f} for f in forged] + [{"n": 9}]  # a collage whose forgery pasted nothing has no "forged"
    (line,) = bench.forged_table(rows)[2:]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:5] == ["9", "10", "10", "6 (60.0 %)", "2 (20.0 %)"] and cells[5].startswith("30.0 %")
