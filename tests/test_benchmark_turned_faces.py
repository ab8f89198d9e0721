"""The turned-face benchmark's pure parts (no ../shared, no analysis)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from _helpers import load_benchmark
from PIL import Image


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("turned_faces")


def test_quarter_turns_move_pixels_and_other_angles_grow_the_frame(bench) -> None:  # noqa: ANN001
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    back = lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # noqa: E731
    assert np.array_equal(back(bench.turned_png(rgb, 0)), rgb)
    assert np.array_equal(back(bench.turned_png(rgb, 90)), np.rot90(rgb, 1))  # counter-clockwise, nothing resampled
    assert np.array_equal(back(bench.turned_png(rgb, 270)), np.rot90(rgb, 3))
    assert back(bench.turned_png(rgb, 45)).shape[0] > 30  # expanded to hold the turned photo


def test_the_table_counts_flags_and_turned_copies_per_angle(bench) -> None:  # noqa: ANN001
    rows = [{"photo": f"p{i}", "angle": a, "found": True, "score": 0.9 if (a == 90 and i < 1) else 0.3, "verdict": "", "turned_copy": a == 90,
             "levelled_copy": a == 30 and i < 3} for i in range(4) for a in (0, 30, 90)]
    rows.append({"photo": "p9", "angle": 90, "found": False})
    by = {ln.split("|")[1].strip(): ln for ln in bench.table(rows, 0.8)[2:]}
    assert "| 4 / 4 | 0.0 %" in by["0"] and by["0"].endswith("| 0 | 0 |")
    assert "| 4 / 5 | 25.0 %" in by["90"] and by["90"].endswith("| 4 | 0 |")
    assert by["30"].endswith("| 0 | 3 |")  # landmarks from a levelled copy
