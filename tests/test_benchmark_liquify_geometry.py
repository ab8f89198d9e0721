"""The liquify-geometry benchmark's measures on hand-made landmarks (no ../shared, no FaceMesh)."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("liquify_geometry")


def _face() -> np.ndarray:
    """478 points, all at the origin except the eye corners and lids the measures read."""
    lm = np.zeros((478, 2), np.float32)
    lm[33], lm[133] = (100, 200), (140, 200)  # image-left eye: 40 px wide
    lm[362], lm[263] = (220, 200), (260, 200)  # image-right eye: 40 px wide; corner midpoints 120 px apart
    lm[159], lm[145] = (120, 192), (120, 208)  # lids 16 px apart
    lm[386], lm[374] = (240, 192), (240, 208)
    return lm


def test_eye_width_is_read_relative_to_the_inter_ocular_distance(bench) -> None:  # noqa: ANN001
    lm = _face()
    assert bench.inter_ocular(lm) == pytest.approx(120.0)
    assert bench.measure(lm, bench.EYE_CORNERS, True) == pytest.approx(40 / 120)
    assert bench.measure(lm, bench.EYE_LIDS, False) == pytest.approx(16.0)


def test_eyes_enlarged_about_their_centres_read_wider_and_a_whole_face_zoom_does_not(bench) -> None:  # noqa: ANN001
    """A warp that scales each eye about its own centre by 10 % widens the eyes by 10 % of the
    inter-ocular distance; enlarging the whole face (a closer photo) changes no relative width."""
    lm = _face()
    bigger = lm.copy()
    for a, b in bench.EYE_CORNERS:
        c = (lm[a] + lm[b]) / 2
        bigger[a], bigger[b] = c + 1.1 * (lm[a] - c), c + 1.1 * (lm[b] - c)
    pairs = bench.EYE_CORNERS
    assert bench.measure(bigger, pairs, True) / bench.measure(lm, pairs, True) == pytest.approx(1.1, rel=1e-5)
    zoom = lm * 1.7
    assert bench.measure(zoom, pairs, True) == pytest.approx(bench.measure(lm, pairs, True), rel=1e-6)
    assert bench.quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)


def test_the_two_sided_auc_is_a_half_for_ordinary_faces_and_rises_with_the_warp(bench) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    real = list(np.exp(rng.normal(0.0, 0.05, 400)))
    assert bench.two_sided_auc(real, list(np.exp(rng.normal(0.0, 0.05, 400)))) == pytest.approx(0.5, abs=0.05)
    small, large = (bench.two_sided_auc(real, list(np.exp(rng.normal(shift, 0.05, 400)))) for shift in (0.05, 0.2))
    assert 0.6 < small < large and large > 0.95
    assert bench.two_sided_auc(real, list(np.exp(rng.normal(-0.2, 0.05, 400)))) > 0.95  # either direction
