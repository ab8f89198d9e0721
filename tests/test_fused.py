"""Fused engine: valid outputs on a real aligned face, clear error without weights, and
the forged region ranked first on forgeries generated here from a public-domain face
(Grace Hopper; never part of the localizer's training split, see forgetalk/train/data.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from forgetalk.engines import get_engine
from forgetalk.errors import WeightsError
from forgetalk.faces import REGION_NAMES
from forgetalk.pipeline import rank_regions
from forgetalk.synth import FaceRecord, region_swap
from forgetalk.synth.samples import public_domain_face
from forgetalk.train.data import FORCED_TEST
from forgetalk.train.evalset import aligned_from_record


@pytest.fixture(scope="module")
def engine():  # noqa: ANN201
    return get_engine("fused", device="cpu")


def test_grace_hopper_is_never_trained_on() -> None:
    from forgetalk.train.data import split_of

    assert "packages/matplotlib/grace_hopper.jpg" in FORCED_TEST
    assert split_of("packages/matplotlib/grace_hopper.jpg") == "test"


def test_fused_outputs_on_real_face(engine) -> None:  # noqa: ANN001
    face = public_domain_face()
    out = engine.analyze_face(face)
    assert out.heatmap.shape == (512, 512) and out.heatmap.dtype == np.float32
    assert 0.0 <= float(out.heatmap.min()) and float(out.heatmap.max()) <= 1.0
    assert "localizer" in out.cues and out.cues["localizer"].shape == (512, 512)
    assert {"noise", "seam"} <= set(out.cues)
    assert set(out.region_scores) <= set(REGION_NAMES) and "mouth" in out.region_scores
    assert 0.0 <= out.score <= 1.0
    for key in ("threshold", "target_fpr", "measured_fpr"):
        assert key in out.meta
    assert out.meta["measured_fpr"] <= out.meta["target_fpr"]
    info = engine.info()
    assert info["localizer"]["sha256"] and info["calibrated"]


def test_missing_weights_raise_weights_error(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("FORGETALK_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="localizer"):
        get_engine("fused", device="cpu")


def _colour_shifted(crop: np.ndarray) -> np.ndarray:
    f = crop.astype(np.float32) * np.array([1.08, 0.95, 0.9]) + np.array([10.0, 0.0, -6.0])
    return np.clip(f, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("target", ["mouth", "left_eye", "nose"])
def test_forged_region_ranks_first(engine, target: str) -> None:  # noqa: ANN001
    face = public_domain_face()
    flipped = public_domain_face(flip=True)
    rec = FaceRecord.from_crop(face.crop, face.dense_landmarks)
    src = FaceRecord.from_crop(cv2.GaussianBlur(_colour_shifted(flipped.crop), (0, 0), 1.2), flipped.dense_landmarks)
    smp = region_swap(rec, src, np.random.default_rng(42), target=target, method="alpha")
    assert smp.regions and smp.regions[0] == target
    forged = aligned_from_record(rec, smp.image, face.detection.size)
    out = engine.analyze_face(forged)
    ranked = rank_regions(out.heatmap, forged.regions, out.region_scores)
    assert ranked[0][0] == target, [r[:2] for r in ranked[:4]]
    # the heatmap is hotter on the forged pixels than on the rest of the face
    rest = forged.face_mask & ~smp.mask
    assert out.heatmap[smp.mask].mean() > 2 * out.heatmap[rest].mean()
