"""The deep-feature probe's pooling and stacking (benchmarks/deep_feature_probe.py) do what its
findings in docs/localizer_history.md say they do: per-channel mean and max inside the face only, and a
second stage that never sees a deep score fitted on its own items."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers import load_benchmark

from forgetalk.metrics import roc_auc


@pytest.fixture(scope="module")
def probe():  # noqa: ANN201
    return load_benchmark("deep_feature_probe")


def test_pooling_stays_inside_the_face(probe) -> None:  # noqa: ANN001
    t = torch.zeros(1, 2, 4, 4)
    t[0, 0, :2, :2] = 1.0  # inside the face
    t[0, 1, 2:, 2:] = 9.0  # outside it: must not count
    mask = np.zeros((16, 16), bool)
    mask[:8, :8] = True
    assert probe.pooled(t, mask).tolist() == [1.0, 0.0, 1.0, 0.0]  # means of both channels, then maxima
    assert probe.pooled(t, np.zeros((16, 16), bool)).tolist()[2:] == [1.0, 9.0]  # no face: the whole map


def test_stacked_score_is_out_of_fold(probe) -> None:  # noqa: ANN001
    """Pure-noise deep features must not help: nested folds keep the stacked score honest."""
    rng = np.random.default_rng(0)
    n = 300
    y = (rng.random(n) < 0.5).astype(float)
    ship = (y + rng.normal(0, 1.0, n))[:, None]
    noise = rng.normal(0, 1, (n, 400))
    fold = np.arange(n) % 5
    base = roc_auc(ship[:, 0], y)
    got = roc_auc(probe.stacked(ship, noise, y, fold, 100.0), y)
    assert got < base + 0.03  # an in-fold ridge over 400 noise features would push this towards 1
    useful = np.c_[noise[:, :20], y + rng.normal(0, 0.5, n)]
    assert roc_auc(probe.stacked(ship, useful, y, fold, 100.0), y) > base + 0.05
