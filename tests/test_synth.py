"""Pseudo-forgery generators: exact masks and region lists on a public-domain face."""

from __future__ import annotations

import numpy as np
import pytest

from forgetalk.synth import FaceRecord, blend_mask, jpeg_recompress, local_smoothing, random_forgery, region_swap, self_blend
from forgetalk.synth.generate import ALPHA_MIN, changed_mask, real_sample, target_mask
from forgetalk.synth.samples import public_domain_face
from forgetalk.train.evalset import primary_regions

SIZE = 256


@pytest.fixture(scope="module")
def rec() -> FaceRecord:
    f = public_domain_face()
    return FaceRecord.from_crop(f.crop, f.dense_landmarks, SIZE)


@pytest.fixture(scope="module")
def donor() -> FaceRecord:
    f = public_domain_face(flip=True)
    return FaceRecord.from_crop(f.crop, f.dense_landmarks, SIZE)


def test_blend_mask_range_and_cover() -> None:
    base = np.zeros((64, 64), bool)
    base[20:40, 16:48] = True
    a = blend_mask(base, np.random.default_rng(0))
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    assert (a[base] > ALPHA_MIN).mean() > 0.5
    assert (a > ALPHA_MIN).sum() < 64 * 64 / 2


def test_changed_mask_identical_is_empty() -> None:
    img = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    assert not changed_mask(img, img.copy(), np.ones((32, 32), np.float32)).any()


@pytest.mark.parametrize("target", ["mouth", "nose", "left_eye"])
def test_self_blend_mask_is_exact(rec: FaceRecord, target: str) -> None:
    s = self_blend(rec, np.random.default_rng(3), target=target)
    assert s.kind == "self_blend" and s.target == target
    assert s.mask.dtype == bool and s.mask.shape == (SIZE, SIZE) and s.mask.any()
    # Outside the forged mask pixels differ by at most the change tolerance (blend tails / rounding).
    diff = np.abs(s.image.astype(int) - rec.crop.astype(int)).max(axis=2)
    assert np.percentile(diff[~s.mask], 99.5) <= 6
    # The mask sits on the target: most of it lies in the (dilated) target mask.
    tm = target_mask(rec, target)
    import cv2

    near = cv2.dilate(tm.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert (s.mask & near).sum() / s.mask.sum() > 0.9
    assert target in s.regions
    assert primary_regions(s.coverage)[0] == target or target in primary_regions(s.coverage)


@pytest.mark.parametrize("method", ["alpha", "poisson"])
def test_region_swap_mouth_from_flipped_copy(rec: FaceRecord, donor: FaceRecord, method: str) -> None:
    s = region_swap(rec, donor, np.random.default_rng(5), target="mouth", method=method)
    assert s.mask.any()
    assert s.regions and s.regions[0] == "mouth"
    assert set(s.coverage) >= {"mouth", "nose", "left_eye"}
    assert s.coverage["mouth"] > 0.5 and s.coverage["left_eye"] == 0.0


def test_region_swap_inner_face_touches_many_regions(rec: FaceRecord, donor: FaceRecord) -> None:
    s = region_swap(rec, donor, np.random.default_rng(7), target="inner_face", method="alpha")
    assert {"nose", "mouth", "left_eye", "right_eye"} <= set(s.regions)


def test_local_smoothing_and_jpeg(rec: FaceRecord) -> None:
    s = local_smoothing(rec, np.random.default_rng(11), target="nose")
    assert s.kind == "local_smoothing" and s.params["op"]
    assert not s.mask.any() or "nose" in s.coverage
    j = jpeg_recompress(rec.crop, 70)
    assert j.shape == rec.crop.shape and j.dtype == np.uint8 and not np.array_equal(j, rec.crop)


def test_random_forgery_real_and_fake(rec: FaceRecord, donor: FaceRecord) -> None:
    r = random_forgery(rec, np.random.default_rng(0), [donor], p_real=1.0, p_jpeg=1.0)
    assert r.kind == "real" and not r.mask.any() and r.regions == () and r.jpeg_quality is not None
    rng = np.random.default_rng(2)
    kinds = set()
    for _ in range(12):
        s = random_forgery(rec, rng, [donor], p_real=0.0)
        kinds.add(s.kind)
        assert s.mask.shape == (SIZE, SIZE)
        assert all(s.coverage[k] >= 0.2 for k in s.regions)
    assert len(kinds) >= 2
    assert real_sample(rec).coverage["mouth"] == 0.0
