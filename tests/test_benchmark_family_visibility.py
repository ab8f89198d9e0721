"""The family-visibility benchmark's measurements on tiny synthetic twins (no ../shared)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("family_visibility")


def _noisy(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, 12, (64, 64, 3)), 0, 255).astype(np.uint8)


def _square() -> np.ndarray:
    m = np.zeros((64, 64), np.float32)
    m[16:48, 16:48] = 1.0
    return m


def test_identical_twins_differ_nowhere(bench) -> None:  # noqa: ANN001
    img = _noisy()
    d = bench.pair_diff(img, img.copy(), _square(), 64, 4.0)
    assert d.mean_in == 0.0 and d.visible_in == 0.0 and d.visible_out == 0.0
    assert d.texture_ratio == pytest.approx(1.0)
    assert d.mask_share == pytest.approx(0.25)


def test_a_smoothed_patch_changes_the_texture_and_a_shifted_one_does_not(bench) -> None:  # noqa: ANN001
    """Smoothing removes the fine texture inside the mask (ratio well below 1); moving the content
    (what a liquify warp does) changes the pixels but keeps the texture (ratio near 1)."""
    twin, m = _noisy(), _square()
    smooth = twin.copy()
    smooth[16:48, 16:48] = cv2.GaussianBlur(twin, (0, 0), 2.0)[16:48, 16:48]
    d = bench.pair_diff(twin, smooth, m, 64, 4.0)
    assert d.texture_ratio < 0.5 and d.visible_in > 0.5 and d.visible_out == 0.0
    shifted = twin.copy()
    shifted[16:48, 16:48] = twin[18:50, 17:49]
    d = bench.pair_diff(twin, shifted, m, 64, 4.0)
    assert 0.8 < d.texture_ratio < 1.25 and d.visible_in > 0.5


def test_an_empty_mask_after_the_resize_is_skipped(bench) -> None:  # noqa: ANN001
    m = np.zeros((64, 64), np.float32)
    m[0, 0] = 1.0
    assert bench.pair_diff(_noisy(), _noisy(1), m, 16, 4.0) is None
