"""The half-turn benchmark's pure parts (no ../shared, no detection)."""

from __future__ import annotations

import math

import pytest
from _helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("half_turn")


def test_log_odds_is_finite_at_the_detectors_saturated_confidences() -> None:
    from forgetalk.faces.upright import log_odds

    assert log_odds(0.5) == 0.0
    assert abs(log_odds(0.9) - math.log(9)) < 1e-12
    assert math.isfinite(log_odds(1.0)) and log_odds(1.0) > log_odds(0.9999)


def test_the_table_counts_gains_per_split_and_orientation(bench) -> None:  # noqa: ANN001
    rows = [{"split": "train", "upside_down": False, "score": 0.99, "half_turned_score": 0.9},
            {"split": "train", "upside_down": True, "score": 0.9, "half_turned_score": 0.999},
            {"split": "train", "upside_down": True, "score": 0.95, "half_turned_score": 0.96}]
    lines = bench.table(rows)
    assert len(lines) == 4  # header, rule, one row per orientation of the one split measured
    upright, upside_down = lines[2].split(" | "), lines[3].split(" | ")
    assert upright[2] == "1" and upright[3] == "0"  # one row, no gain above 0
    assert upside_down[2] == "2" and upside_down[3:8] == ["2", "1", "1", "1", "1"]  # 0.95 -> 0.96 gains 0.23
    assert upside_down[-1] == "0.95000 |"  # the highest own confidence of the upside-down faces
