"""Consistency cues: an odd iris, a blurred pasted mouth and an untouched face, on a public-domain photo."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from forgetalk.engines.evidence.consistency import (
    IRIS,
    ConsistencyCalibration,
    calibration_from_json,
    consistency_report,
    load_consistency_calibration,
)
from forgetalk.engines.evidence.engine import FIRE_Z, EvidenceEngine
from forgetalk.errors import WeightsError
from forgetalk.explain import region_evidence, region_sentences
from forgetalk.faces import AlignedFace
from forgetalk.weights import weights_root


@pytest.fixture(scope="module")
def face() -> AlignedFace:
    from forgetalk.synth.samples import public_domain_face

    return public_domain_face()


@pytest.fixture(scope="module")
def cal() -> ConsistencyCalibration:
    return load_consistency_calibration()


def _recolour_iris(face: AlignedFace, eye: str, hue_shift: int = 90) -> AlignedFace:
    lm = face.dense_landmarks
    centre, ring = IRIS[eye]
    c = lm[centre]
    r = float(np.mean(np.linalg.norm(lm[list(ring)] - c, axis=1)))
    yy, xx = np.mgrid[: face.crop.shape[0], : face.crop.shape[1]]
    disc = np.hypot(xx - c[0], yy - c[1]) <= 1.05 * r
    hsv = cv2.cvtColor(face.crop, cv2.COLOR_RGB2HSV)
    h = hsv[..., 0].astype(np.int32)
    s = hsv[..., 1].astype(np.int32)
    h[disc] = (h[disc] + hue_shift) % 180
    s[disc] = np.maximum(s[disc], 120)
    hsv[..., 0], hsv[..., 1] = h.astype(np.uint8), s.astype(np.uint8)
    return dataclasses.replace(face, crop=cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def _blurred_mouth(face: AlignedFace, sigma: float = 2.5) -> AlignedFace:
    soft = cv2.GaussianBlur(face.regions["mouth"].astype(np.float32), (0, 0), 3.0)[..., None]
    blur = cv2.GaussianBlur(face.crop, (0, 0), sigma).astype(np.float32)
    crop = (soft * blur + (1.0 - soft) * face.crop.astype(np.float32)).round().astype(np.uint8)
    return dataclasses.replace(face, crop=crop)


def test_untouched_face_fires_nothing(face: AlignedFace, cal: ConsistencyCalibration) -> None:
    res = consistency_report(face, cal, fire_z=FIRE_Z)
    assert res.calibrated and res.cues
    assert res.fired == (), {n: res.cues[n].z for n in res.fired}
    assert all(c.z is not None and np.isfinite(c.z) for c in res.cues.values())


@pytest.mark.parametrize("eye", ["left_eye", "right_eye"])
def test_recoloured_iris_fires_and_names_the_eye(face: AlignedFace, cal: ConsistencyCalibration, eye: str) -> None:
    before = consistency_report(face, cal).cues["iris_colour"]
    cue = consistency_report(_recolour_iris(face, eye), cal).cues["iris_colour"]
    assert cue.fired and cue.z is not None and cue.z >= FIRE_Z and cue.value > before.value + 10
    assert cue.suspect == eye


def test_blurred_mouth_raises_sharpness_continuity_z(face: AlignedFace, cal: ConsistencyCalibration) -> None:
    before = consistency_report(face, cal).cues["part_sharpness.mouth"]
    after = consistency_report(_blurred_mouth(face), cal).cues["part_sharpness.mouth"]
    assert before.z is not None and after.z is not None
    assert after.z < before.z - 1.0 and abs(after.z) >= FIRE_Z and after.fired  # blurrier than real faces' mouths
    assert after.regions == ("mouth",) and after.two_sided


def test_engine_reports_every_number_and_explanations_quote_fired_cues(face: AlignedFace, cal: ConsistencyCalibration) -> None:
    eng = EvidenceEngine(consistency=cal)
    clean = eng.analyze_face(face)
    meta = clean.meta["consistency"]
    assert meta["calibrated"] and meta["fired"] == [] and meta["fire_z"] == FIRE_Z
    assert {"value", "z", "real_median", "real_q99", "regions"} <= set(meta["cues"]["iris_colour"])
    text = " ".join(region_sentences("left_eye", region_evidence(clean, "left_eye"), clean, face.regions["left_eye"]))
    assert "irises differ" not in text

    odd = _recolour_iris(face, "left_eye")
    out = eng.analyze_face(odd)
    assert "iris_colour" in out.meta["consistency"]["fired"]
    assert out.cue_region_stats["iris_colour"]["left_eye.z"] >= FIRE_Z and "right_eye.z" not in out.cue_region_stats["iris_colour"]
    ev = region_evidence(out, "left_eye")
    assert any(e.cue == "iris_colour" and e.fired for e in ev)
    text = " ".join(region_sentences("left_eye", ev, out, odd.regions["left_eye"]))
    assert "irises differ in colour by dE" in text and "99th percentile" in text and "left eye" in text


def test_hash_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(weights_root() / "evidence", tmp_path / "evidence")
    target = tmp_path / "evidence" / "consistency.json"
    target.write_bytes(target.read_bytes().replace(b'"median"', b'"median" ', 1))
    with pytest.raises(WeightsError, match="sha256"):
        load_consistency_calibration(root=tmp_path)
    monkeypatch.setenv("FORGETALK_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="consistency.json"):
        EvidenceEngine()


def test_malformed_calibration_is_a_weights_error() -> None:
    for bad in (b"not json", b'{"format": 1}', b'{"format": 99, "stats": {}}'):
        with pytest.raises(WeightsError):
            calibration_from_json(bad, "test")


def test_without_calibration_values_are_measured_but_not_judged(face: AlignedFace) -> None:
    res = consistency_report(face, None)
    assert not res.calibrated and res.consistency_score is None and res.fired == ()
    assert "iris_colour" in res.cues and res.cues["iris_colour"].z is None
