"""Fused engine: valid outputs on a real aligned face, clear error without weights, and
the forged region ranked first on forgeries generated here from a public-domain face
(Grace Hopper; never part of the localizer's training split, see forgetalk/train/data.py)."""

from __future__ import annotations

from dataclasses import replace

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
    # A user weights folder with its own localizer manifest wins over the shipped copy; its files are absent.
    import shutil

    from forgetalk.weights import shipped_root

    (tmp_path / "localizer").mkdir()
    shutil.copyfile(shipped_root() / "localizer" / "manifest.json", tmp_path / "localizer" / "manifest.json")
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
    # the heatmap separates the forged pixels from the rest of the face (scale-free: pixel AUC)
    from forgetalk.metrics import roc_auc

    face_px = forged.face_mask | smp.mask
    assert roc_auc(out.heatmap[face_px], smp.mask[face_px]) > 0.8


def test_fused_with_injected_parts_needs_no_weights() -> None:
    """The fusion arithmetic itself, with a tiny untrained localizer and a stub evidence engine."""
    import torch

    from forgetalk.engines.base import EngineOutput
    from forgetalk.engines.fused import FusedEngine, fuse_heatmaps
    from forgetalk.engines.localizer.infer import Localizer
    from forgetalk.engines.localizer.model import LocalizerConfig, LocalizerNet

    class StubEvidence:
        def analyze_face(self, face):  # noqa: ANN001, ANN202
            h = np.full((512, 512), np.nan, np.float32)  # undefined evidence must not poison the blend
            h[:256] = 0.5
            return EngineOutput(heatmap=h, score=0.2, cues={"noise": np.ones((512, 512), np.float32)})

    torch.manual_seed(0)
    loc = Localizer(LocalizerNet(LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))))
    cal = {"fusion_weight": 0.5, "region_source": "mask", "features": ["region_max", "heat_q99", "evidence_score"], "coef": [1.0, 1.0, 1.0],
           "intercept": -1.0, "threshold": 0.7, "target_fpr": 0.05, "measured_fpr": 0.04}
    eng = FusedEngine(evidence=StubEvidence(), localizer=loc, calibration=cal)
    out = eng.analyze_face(public_domain_face())
    assert np.isfinite(out.heatmap).all() and out.heatmap.max() <= 1.0
    assert out.meta["threshold"] == 0.7 and out.meta["region_source"] == "mask"
    assert np.allclose(out.heatmap[300:], 0.5 * out.cues["localizer"][300:], atol=1e-6)
    assert fuse_heatmaps(np.ones((2, 2)), np.zeros((2, 2)), 0.25).max() == pytest.approx(0.25)


def test_a_greyscale_face_is_judged_against_the_greyscale_threshold() -> None:
    """Same score model, the greyscale section's threshold and rates for a crop with no colour."""
    import torch

    from forgetalk.engines.base import EngineOutput
    from forgetalk.engines.fused import FusedCalibration, FusedEngine
    from forgetalk.engines.localizer.infer import Localizer
    from forgetalk.engines.localizer.model import LocalizerConfig, LocalizerNet
    from forgetalk.train.evalset import greyscale_crop
    from forgetalk.verdict import face_verdict

    class StubEvidence:
        def analyze_face(self, face):  # noqa: ANN001, ANN202
            return EngineOutput(heatmap=np.zeros((512, 512), np.float32), score=0.2)

    torch.manual_seed(0)
    loc = Localizer(LocalizerNet(LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))))
    cal = {"fusion_weight": 0.5, "features": ["evidence_score"], "coef": [1.0], "intercept": 0.0, "threshold": 0.7, "target_fpr": 0.05,
           "measured_fpr": 0.049, "n_val_real": 10,
           "greyscale": {"threshold": 0.5, "target_fpr": 0.05, "measured_fpr": 0.048, "real_scores_oof": [0.1, 0.5, 0.6]}}
    eng = FusedEngine(evidence=StubEvidence(), localizer=loc, calibration=cal)
    face = public_domain_face()
    colour, grey = eng.analyze_face(face), eng.analyze_face(replace(face, crop=greyscale_crop(face.crop)))
    assert colour.score == grey.score  # the stub's score only: one model
    assert colour.meta["threshold"] == 0.7 and colour.meta["measured_fpr"] == 0.049 and "threshold_basis" not in colour.meta
    assert grey.meta["threshold"] == 0.5 and grey.meta["measured_fpr"] == 0.048 and grey.meta["threshold_basis"] == "greyscale"
    assert grey.meta["n_val_real"] == 10
    assert face_verdict(face, grey)[1] == "score 0.550 >= greyscale threshold 0.500 (false-positive rate 4.8% on greyscale copies of real faces)"
    assert face_verdict(face, colour)[1].startswith("score 0.550 < threshold 0.700")
    tail = eng.greyscale_score_tail
    assert tail is not None and tail.scores == (0.1, 0.5, 0.6) and tail.target_fpr == 0.05
    info = FusedCalibration.from_dict(cal).info()
    assert "real_scores_oof" not in info["greyscale"] and info["greyscale"]["real_scores_oof_n"] == 3
    with pytest.raises(WeightsError, match="malformed calibration"):
        FusedEngine(evidence=StubEvidence(), localizer=loc, calibration={**cal, "greyscale": {"threshold": "low"}})
    with pytest.raises(WeightsError, match="malformed calibration"):
        FusedEngine(evidence=StubEvidence(), localizer=loc, calibration={**cal, "greyscale": 0.5})
    plain = FusedEngine(evidence=StubEvidence(), localizer=loc, calibration={k: v for k, v in cal.items() if k != "greyscale"})
    assert plain.analyze_face(replace(face, crop=greyscale_crop(face.crop))).meta["threshold"] == 0.7  # older recipes: one threshold
    assert plain.greyscale_score_tail is None


def test_logistic_fit_and_threshold_rule() -> None:
    from forgetalk.metrics import threshold_at_fpr
    from forgetalk.train.calibrate import fit_logistic

    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, (50, 1)), rng.normal(2, 1, (50, 1))]
    y = np.r_[np.zeros(50), np.ones(50)]
    coef, b = fit_logistic(x, y)
    assert coef[0] > 0.5
    s = 1 / (1 + np.exp(-(x[:, 0] * coef[0] + b)))
    t, fpr = threshold_at_fpr(s[:50], 0.1)
    assert fpr <= 0.1 and (s[:50] >= t).mean() == fpr


def test_calibration_is_parsed_once_and_reported_as_read() -> None:
    """recipe.json's calibration section becomes a typed FusedCalibration; info() still reports the
    section key for key (less val_features, and the real faces' scores as their count) and each
    face's meta the same verdict facts."""
    import json
    from pathlib import Path

    from forgetalk.engines.fused import DEFAULT_CALIBRATION, VERDICT_KEYS, FusedCalibration

    section = json.loads((Path(__file__).resolve().parents[1] / "weights" / "localizer" / "recipe.json").read_text(encoding="utf-8"))["calibration"]
    cal = FusedCalibration.from_dict({**section, "val_features": [[0.0]]})
    reported = {k: v for k, v in section.items() if k != "real_scores_oof"} | {"real_scores_oof_n": len(section["real_scores_oof"])}
    grey = section["greyscale"]  # its real scores as their count too
    reported["greyscale"] = {k: v for k, v in grey.items() if k != "real_scores_oof"} | {"real_scores_oof_n": len(grey["real_scores_oof"])}
    assert list(cal.info()) == list(reported) and cal.info() == reported
    assert cal.fusion_weight == section["fusion_weight"] and cal.heat_gamma == section["heat_gamma"] and cal.region_source == section["region_source"]
    assert cal.features == tuple(section["features"]) and cal.coef == tuple(section["coef"]) and cal.intercept == section["intercept"]
    assert cal.verdict_meta() == {k: section[k] for k in VERDICT_KEYS if k in section}
    assert list(cal.verdict_meta()) == [k for k in VERDICT_KEYS if k in section] and isinstance(cal.verdict_meta()["n_val_real"], int)
    default = FusedCalibration.from_dict(DEFAULT_CALIBRATION)  # no heat_gamma, no verdict facts
    assert default.heat_gamma == 1.0 and default.verdict_meta() == {} and default.info() == dict(DEFAULT_CALIBRATION)


def test_face_score_is_the_logistic_model_of_the_calibration() -> None:
    from forgetalk.engines.fused import FusedCalibration, face_score

    cal = FusedCalibration.from_dict({"fusion_weight": 0.5, "features": ["a", "b"], "coef": [2, -1.5], "intercept": -0.25})
    assert face_score({"a": 0.5, "b": 0.2, "c": 9.0}, cal) == pytest.approx(1 / (1 + np.exp(-(-0.25 + 1.0 - 0.3))))
    assert face_score({}, cal) == pytest.approx(1 / (1 + np.exp(0.25)))  # an absent feature counts as 0


@pytest.mark.parametrize("bad", [{"fusion_weight": None}, {"features": "region_max"}, {"coef": [1.0]}, {"intercept": "high"}, {"threshold": [0.5]}])
def test_malformed_calibration_is_a_weights_error_at_load(bad: dict[str, object]) -> None:
    from forgetalk.engines.fused import FusedEngine

    cal = {"fusion_weight": 0.5, "features": ["region_max", "heat_q99"], "coef": [1.0, 1.0], "intercept": -1.0, **bad}
    with pytest.raises(WeightsError, match="malformed calibration"):
        FusedEngine(evidence=object(), localizer=object(), calibration=cal)


def test_per_region_and_per_cue_statistics_reach_the_score_only_when_chosen() -> None:
    """face_features offers each region head's score and each consistency cue's folded z; a face
    reports the named statistics plus only those per-region/per-cue ones its calibration uses."""
    import torch

    from forgetalk.engines.base import EngineOutput
    from forgetalk.engines.fused import FusedEngine, consistency_cues_of, face_score
    from forgetalk.engines.localizer.infer import Localizer
    from forgetalk.engines.localizer.model import LocalizerConfig, LocalizerNet

    meta = {"consistency": {"consistency_score": 0.4, "cues": {"iris_colour": {"z": 2.5, "two_sided": False},
                                                              "eye_area": {"z": -3.0, "two_sided": True},
                                                              "catchlight_level": {"z": None, "two_sided": False}}}}

    class StubEvidence:
        def analyze_face(self, face):  # noqa: ANN001, ANN202
            return EngineOutput(heatmap=np.zeros((512, 512), np.float32), score=0.1, meta=meta)

    assert consistency_cues_of(StubEvidence().analyze_face(None)) == {"iris_colour": 2.5, "eye_area": 3.0}  # folded, unmeasured left out
    torch.manual_seed(0)
    loc = Localizer(LocalizerNet(LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))))
    cal = {"fusion_weight": 0.5, "region_source": "mask", "features": ["heat_q99", "consistency:iris_colour", "head:mouth"], "coef": [1.0, 0.5, 2.0],
           "intercept": -1.0, "threshold": 0.7}
    out = FusedEngine(evidence=StubEvidence(), localizer=loc, calibration=cal).analyze_face(public_domain_face())
    feats = out.meta["features"]
    assert feats["consistency:iris_colour"] == 2.5 and 0.0 <= feats["head:mouth"] <= 1.0
    assert not {k for k in feats if ":" in k} - {"consistency:iris_colour", "head:mouth"}  # other per-region/per-cue ones stay out of the report
    assert {"region_max", "heat_q99", "head_max", "consistency"} <= set(feats)
    assert out.score == pytest.approx(face_score(feats, FusedEngine(evidence=StubEvidence(), localizer=loc, calibration=cal).calibration))


def test_region_cue_terms_raise_only_the_regions_a_cue_names() -> None:
    """A consistency cue's real-face z, filed under a region by the evidence engine, adds its excess
    over the floor to that region's score logit with the calibration's weight; no weight, a z
    within the floor (ordinary on real faces) or unmeasured, or a region the cue never names
    leaves the score as it was."""
    from forgetalk.engines.fused import REGION_CUE_FLOOR, region_cue_terms, with_region_cues

    assert REGION_CUE_FLOOR == 1.0
    stats = {"iris_colour": {"left_eye.z": 3.0, "left_eye.region": 9.0, "right_eye.z": 0.8},
             "part_size": {"nose.z": 5.0}, "catchlight_level": {"left_eye.z": float("nan")}}
    weights = {"iris_colour": 1.5, "catchlight_level": 1.0}
    terms = region_cue_terms(stats, weights)
    assert terms == {"left_eye": {"iris_colour": 3.0}}  # nose: cue not weighted; right eye: within the floor; NaN: unmeasured
    scores = {"left_eye": 0.2, "right_eye": 0.2, "nose": 0.6}
    raised = with_region_cues(scores, terms, weights)
    assert raised["left_eye"] == pytest.approx(1 / (1 + np.exp(-(np.log(0.2 / 0.8) + 1.5 * (3.0 - 1.0)))))
    assert raised["right_eye"] == 0.2 and raised["nose"] == 0.6
    assert region_cue_terms(stats, weights, floor=0.0)["right_eye"] == {"iris_colour": 0.8}  # the floor is a parameter
    assert with_region_cues(scores, region_cue_terms(stats, {}), {}) == scores
    assert with_region_cues({"nose": 0.5}, terms, weights) == {"nose": 0.5}  # a term for a region without a score adds none


def test_engine_reports_region_scores_raised_by_a_consistency_cue() -> None:
    """With ``region_cues`` in the calibration the engine's region scores (which the ranking and the
    saliency use) carry the cue; the meta says by how much and the explanation says why."""
    import torch

    from forgetalk.engines.base import EngineOutput
    from forgetalk.engines.evidence.engine import VOCABULARY
    from forgetalk.engines.fused import FusedEngine
    from forgetalk.engines.localizer.infer import Localizer
    from forgetalk.engines.localizer.model import LocalizerConfig, LocalizerNet
    from forgetalk.explain import region_sentences

    class StubEvidence:
        def analyze_face(self, face):  # noqa: ANN001, ANN202
            return EngineOutput(heatmap=np.zeros((512, 512), np.float32), score=0.1, cue_region_stats={"iris_colour": {"left_eye.z": 4.0}},
                                vocabulary=VOCABULARY)

    torch.manual_seed(0)
    loc = Localizer(LocalizerNet(LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))))
    base = {"fusion_weight": 0.5, "region_source": "head", "features": ["heat_q99"], "coef": [1.0], "intercept": -1.0}
    face = public_domain_face()
    plain = FusedEngine(evidence=StubEvidence(), localizer=loc, calibration=base).analyze_face(face)
    out = FusedEngine(evidence=StubEvidence(), localizer=loc, calibration={**base, "region_cues": {"iris_colour": 1.0}}).analyze_face(face)
    assert out.region_scores["left_eye"] > plain.region_scores["left_eye"]
    assert {k: v for k, v in out.region_scores.items() if k != "left_eye"} == {k: v for k, v in plain.region_scores.items() if k != "left_eye"}
    assert plain.meta["region_cue_terms"] == {}
    t = out.meta["region_cue_terms"]["left_eye"]
    assert t["z"] == {"iris_colour": 4.0} and t["floor"] == 1.0 and t["localizer"] == pytest.approx(plain.region_scores["left_eye"], abs=1e-4)
    said = region_sentences("left_eye", (), out, face.regions["left_eye"])[-1]
    assert "raised by the iris colour mismatch between the eyes at +4.0 SDs" in said
    assert "raised" not in region_sentences("right_eye", (), out, face.regions["right_eye"])[-1]


@pytest.mark.parametrize("bad", [{"region_cues": [1.0]}, {"region_cues": {"iris_colour": "high"}}, {"region_cue_floor": "one"}])
def test_malformed_region_cues_are_a_weights_error_at_load(bad: dict[str, object]) -> None:
    from forgetalk.engines.fused import FusedEngine

    cal = {"fusion_weight": 0.5, "features": ["heat_q99"], "coef": [1.0], "intercept": -1.0, **bad}
    with pytest.raises(WeightsError, match="malformed calibration"):
        FusedEngine(evidence=object(), localizer=object(), calibration=cal)


def test_face_score_uses_the_pooled_region_quantiles(engine) -> None:  # noqa: ANN001
    """The shipped region calibration has face-size bands for the ranking; the face score's
    statistics (suspicion_max, excess_max) use its pooled quantiles, as the score was fitted
    (forgetalk.engines.fused.face_features: a score on banded excesses flagged retouched portraits)."""
    from dataclasses import replace

    cal = engine.region_calibration
    assert cal is not None and cal.bands
    face = public_domain_face()
    banded = engine.analyze_face(face).meta["features"]
    engine.region_calibration = replace(cal, bands=())
    try:
        pooled = engine.analyze_face(face).meta["features"]
    finally:
        engine.region_calibration = cal
    assert banded == pooled
    assert cal.for_size(face.detection.size) is not cal or not any(b.holds(face.detection.size) for b in cal.bands)
