"""Ranking by suspicion relative to real faces (forgetalk.engines.regioncal).

The point of the calibration: a region that is always hot on real faces (eyes) must not
outrank a region that is hotter than it ever is on real faces (nose), and on real faces the
first-ranked region must spread over the regions instead of sitting on one prior.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from forgetalk.engines.regioncal import RegionCalibration, build_region_calibration, region_saliency, suspicion_order
from forgetalk.pipeline import rank_regions


def _calibration(rng: np.random.Generator, n: int = 400) -> RegionCalibration:
    # Real faces: eyes carry heat ~0.6, the nose ~0.1, the mouth ~0.3.
    faces = [{"left_eye": float(rng.normal(0.6, 0.05)), "nose": float(rng.normal(0.1, 0.02)), "mouth": float(rng.normal(0.3, 0.05))} for _ in range(n)]
    return build_region_calibration("test", faces, "synthetic real-face saliencies")


def test_percentile_is_monotone_and_bounded() -> None:
    cal = _calibration(np.random.default_rng(0))
    vals = [cal.percentile("nose", v) for v in np.linspace(-1, 2, 50)]
    assert vals[0] == 0.0 and vals[-1] == 1.0
    assert all(b >= a for a, b in zip(vals, vals[1:], strict=False))
    assert cal.percentile("nose", 0.1) == pytest.approx(0.5, abs=0.06)
    assert cal.percentile("hair", 0.5) is None


def test_unusual_region_outranks_usually_hot_region() -> None:
    cal = _calibration(np.random.default_rng(1))
    rows = [("left_eye", 0.62), ("nose", 0.2), ("mouth", 0.3)]
    assert [r[0] for r in suspicion_order(rows, None)][0] == "left_eye"  # raw heat: the prior wins
    order = suspicion_order(rows, cal)
    assert order[0][0] == "nose" and order[0][2] == 1.0 and order[0][3] > 1.0


def test_real_faces_spread_first_rank() -> None:
    rng = np.random.default_rng(2)
    cal = _calibration(rng)
    held_out = _calibration(np.random.default_rng(3), n=300)  # same distribution, other faces
    firsts: dict[str, int] = {}
    for _ in range(300):
        rows = [(k, float(np.interp(rng.random(), held_out.levels, held_out.quantiles[k]))) for k in ("left_eye", "nose", "mouth")]
        top = suspicion_order(rows, cal)[0][0]
        firsts[top] = firsts.get(top, 0) + 1
    assert max(firsts.values()) / 300 < 0.45  # three regions: chance is 1/3; raw heat would give the eye 100 %


def test_round_trip_and_rank_regions_use_it() -> None:
    cal = _calibration(np.random.default_rng(4))
    again = RegionCalibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again.percentile("mouth", 0.35) == pytest.approx(cal.percentile("mouth", 0.35), abs=1e-4)  # JSON keeps 6 decimals
    heat = np.zeros((64, 64), np.float32)
    regions = {n: np.zeros((64, 64), bool) for n in ("left_eye", "nose", "mouth")}
    regions["left_eye"][5:15, 5:15] = True
    regions["nose"][20:30, 20:30] = True
    regions["mouth"][40:50, 20:40] = True
    heat[regions["left_eye"]] = 0.6
    heat[regions["nose"]] = 0.3
    heat[regions["mouth"]] = 0.3
    sal = region_saliency(heat, regions)
    assert sal["left_eye"][0] == pytest.approx(0.6)
    ranked = rank_regions(heat, regions, None, again)
    assert ranked[0][0] == "nose" and ranked[0][4] == 1.0
    assert [r[0] for r in rank_regions(heat, regions)][0] == "left_eye" and rank_regions(heat, regions)[0][4] is None


def test_excess_does_not_saturate() -> None:
    """Two regions both above every real face: the one further above ranks first, whatever the raw heat."""
    cal = _calibration(np.random.default_rng(6))
    assert cal.percentile("nose", 0.3) == cal.percentile("left_eye", 0.95) == 1.0
    assert cal.excess("nose", 0.3) > cal.excess("left_eye", 0.95) > 1.0  # nose: 0.2 above a 0.1 median with a ~0.05 spread
    assert [r[0] for r in suspicion_order([("left_eye", 0.95), ("nose", 0.3)], cal)] == ["nose", "left_eye"]
    assert cal.excess("nose", float(np.interp(0.99, cal.levels, cal.quantiles["nose"]))) == pytest.approx(1.0)


def test_malformed_calibration_is_refused() -> None:
    d = _calibration(np.random.default_rng(5)).to_dict()
    d["quantiles"]["nose"] = d["quantiles"]["nose"][:-3]  # type: ignore[index]
    with pytest.raises(ValueError):
        RegionCalibration.from_dict(d)
