"""Face-score feature selection (forgetalk.train.calibrate.select_features) on synthetic tables."""

from __future__ import annotations

import numpy as np

from forgetalk.train.calibrate import CANDIDATE_FEATURES, FEATURES, cv_auc, select_features


def _table(n: int, informative: dict[str, float], seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(float)
    t = rng.normal(size=(n, len(CANDIDATE_FEATURES)))
    for name, gain in informative.items():
        t[:, CANDIDATE_FEATURES.index(name)] += gain * y
    return t, y, [f"photo{i // 3}" for i in range(n)]


def test_an_informative_candidate_joins_the_fixed_set() -> None:
    t, y, groups = _table(600, {"heat_peak": 1.5, "region_max": 0.3})
    chosen, info = select_features(t, CANDIDATE_FEATURES, y, groups)
    assert chosen[: len(FEATURES)] == FEATURES  # the fixed set is the starting point
    assert "heat_peak" in chosen
    assert info["cv_auc_selected"] > info["cv_auc_fixed_set"] + 0.05


def test_noise_candidates_are_not_added() -> None:
    t, y, groups = _table(600, {"region_max": 1.0})
    chosen, info = select_features(t, CANDIDATE_FEATURES, y, groups)
    assert chosen == FEATURES
    assert info["steps"] == []


def test_cross_validated_auc_is_out_of_fold() -> None:
    # Pure noise: an in-sample fit of 11 features scores above 0.5, out-of-fold scores do not.
    t, y, _ = _table(300, {}, seed=3)
    fold = np.arange(300) % 5
    assert abs(cv_auc(t, y, fold) - 0.5) < 0.1


def test_out_of_fold_logits_come_from_models_that_never_saw_the_fold() -> None:
    """Each fold's logits equal those of a model fitted on the other folds only (the verdict
    threshold is set on these, so its false-positive rate is that of unseen faces)."""
    from forgetalk.train.calibrate import fit_logistic, oof_logits

    t, y, _ = _table(200, {"heat_peak": 1.0}, seed=5)
    fold = np.arange(200) % 4
    out = oof_logits(t, y, fold)
    coef, icpt = fit_logistic(t[fold != 2], y[fold != 2])
    assert np.allclose(out[fold == 2], t[fold == 2] @ coef + icpt)
    assert oof_logits(t, np.r_[np.ones(50), np.zeros(150)], np.r_[np.zeros(50), np.ones(150)]) is None  # a training fold with one class


def test_region_cue_weight_choice() -> None:
    from forgetalk.train.calibrate import pick_weight

    assert pick_weight({1.0: 0.43, 2.0: 0.45, 4.0: 0.45}, 0.42) == 2.0  # highest top-1, the smaller weight on a tie
    assert pick_weight({1.0: 0.41, 2.0: 0.42}, 0.42) is None  # no gain over the ranking without the term: off


def test_shipped_region_cue_weight_is_the_recorded_selection() -> None:
    """The weight of each consistency term in the shipped calibration is the one its recorded
    validation top-1s give (``pick_weight``), and the engine reads that weight and the floor it was
    fitted with."""
    import json
    from pathlib import Path

    from forgetalk.engines.fused import REGION_CUE_FLOOR, FusedCalibration
    from forgetalk.train.calibrate import REGION_CUE_GRID, REGION_CUES, pick_weight

    section = json.loads((Path(__file__).resolve().parents[1] / "weights" / "localizer" / "recipe.json").read_text(encoding="utf-8"))["calibration"]
    sel = section["region_cue_selection"]
    best = sel["top1_without"]
    for cue in REGION_CUES:
        by_weight = {float(w): t for w, t in sel["top1_by_weight"][cue].items()}
        assert sorted(by_weight) == list(REGION_CUE_GRID[1:])
        w = pick_weight(by_weight, best)
        assert section["region_cues"].get(cue) == w
        best = by_weight[w] if w is not None else best
    assert sel["top1_selected"] == best and section["region_cue_floor"] == REGION_CUE_FLOOR
    cal = FusedCalibration.from_dict(section)
    assert dict(cal.region_cues) == section["region_cues"] and cal.region_cue_floor == REGION_CUE_FLOOR


def test_rates_by_face_size_count_each_bin() -> None:
    from forgetalk.train.calibrate import rates_by_face_px

    scores = np.array([0.9, 0.1, 0.2, 0.95, 0.3, 0.99])
    y = np.array([0, 0, 1, 1, 0, 1])
    px = np.array([90.0, 95.0, 120.0, 130.0, 400.0, 500.0])
    rows = rates_by_face_px(scores, y, px, 0.5)
    assert [r["n_real"] for r in rows] == [2, 0, 0, 1] and [r["n_fake"] for r in rows] == [0, 2, 0, 1]
    assert rows[0]["fpr"] == 0.5 and rows[1]["fpr"] is None and rows[1]["tpr"] == 0.5 and rows[3]["face_px"] == [315.0, None]


def test_a_resampled_chain_makes_the_item_a_face_of_its_native_size() -> None:
    from forgetalk.synth.chain import ChainParams
    from forgetalk.train.evalset import chain_face_px

    assert chain_face_px(300.0, ChainParams()) == 300.0  # not resampled: the source face's size
    assert abs(chain_face_px(300.0, ChainParams(native_px=128, resample=True)) - 78.7) < 0.1  # a 128 px crop
    assert chain_face_px(60.0, ChainParams(native_px=900, resample=True)) == 60.0  # upsampling adds no detail
