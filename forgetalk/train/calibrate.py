"""Choose the fusion weight, fit the face-score model and pick its threshold on validation faces.

Only the validation split is used (forgeries generated from it with a fixed seed plus its
untouched faces). The threshold is the smallest score whose false-positive rate on the
validation real faces is at most the target; the measured rate is recorded with it.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..faces.align import FACE_PX_AT_512
from ..metrics import best_threshold_f1, roc_auc, source_aucs, threshold_at_fpr
from .evalset import build_eval_set
from .parsing import ParsedFace

FUSION_GRID = tuple(round(x, 2) for x in np.linspace(0.0, 1.0, 11))
#: The fixed face-score features of the v2 calibration (kept as the reference the selection is compared with).
FEATURES = ("region_max", "heat_q99", "evidence_score", "suspicion_max", "consistency")
#: Every statistic forgetalk.engines.fused.face_features computes; the calibration picks among them.
#: ``resolution_loss`` (the face's size) is offered, not forced: forced into the model on the
#: 2026-11-27 validation items it got a weight of -0.03 and lowered the cross-validated AUC
#: (0.658 -> 0.655), and the out-of-fold false-positive rate was already even across face sizes
#: without it (4.2-5.4 % in every ``FACE_PX_BINS`` bin; docs/localizer_history.md).
CANDIDATE_FEATURES = (*FEATURES, "excess_max", "excess_top2", "heat_q999", "heat_peak", "hot_frac", "head_max", "resolution_loss")
#: Feature selection: greedy forward steps from the fixed set while the cross-validated AUC on
#: validation faces rises by at least MIN_CV_GAIN, folds grouped by source photo (a face's forgeries
#: and its untouched copy never straddle folds), at most MAX_FEATURES features.
CV_FOLDS = 5
MIN_CV_GAIN = 0.003
MAX_FEATURES = 8
REGION_SOURCES = ("head", "mask", "mean", "none")
#: Sources the engine may ship: it always reports region scores (the report quotes them), so
#: "none" (heatmap-only ranking) is measured for reference but not selectable.
SELECTABLE_SOURCES = ("head", "mask", "mean")
#: Consistency cues that may raise a region's score (forgetalk.engines.fused.with_region_cues: the
#: weight times the cue's z above ``REGION_CUE_FLOOR``) and the weights tried for each, chosen by
#: region top-1 on the validation forgeries (0 = off). Only the iris colour so far: on the
#: validation items of 2026-11-26 the three eye cues together or every consistency cue did less
#: (benchmarks/region_cue_probe.py, docs/localizer_history.md).
REGION_CUES = ("iris_colour",)
REGION_CUE_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)
#: How the validation items' families were chosen (``families_from`` in the calibration). The
#: shipped ensemble's face score is fitted on part and region swaps, the edits of the external
#: yardstick, while its members were trained on all eight families; measured against a calibration
#: on all eight in docs/localizer_history.md, "The calibration's families".
FAMILIES_FROM_OPTION = "the --families option of the calibration command"
FAMILIES_FROM_LINEAGE = "every family the localizer was trained on along its lineage (forgetalk.train.ensemble.trained_families)"
#: Face sizes (px in the photo) that split the region calibration into bands
#: (forgetalk.engines.regioncal.SizeBand): faces the 512 px analysis crop enlarges more than 2x,
#: and the rest. Pooled over every size, the eyes of small real faces sat above the pooled median
#: (upsampled blocks and noise), so an eye ranked first on 28.6 % of untouched test portraits
#: saved at 160 px. Chosen on validation among splits at 120, 157, 200, 120+240 and 157+315 px
#: (region top-1 on the validation forgeries, and the most frequent first region on untouched
#: validation portraits at 600 and 160 px): a third band for faces above 315 px (115 items) put
#: the left eye first on 28.4 % of the 600 px portraits (docs/localizer_history.md, "Region
#: percentiles by face size").
REGION_BAND_EDGES = (FACE_PX_AT_512 / 2,)


def logistic(logit: np.ndarray) -> np.ndarray:
    """The face score from its logit (clipped, as ``fit_logistic`` and the engine's ``face_score`` do)."""
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50) -> tuple[np.ndarray, float]:
    """Newton-IRLS logistic regression with a small ridge (pure numpy, a few features)."""
    xb = np.c_[x, np.ones(len(x))]
    w = np.zeros(xb.shape[1])
    reg = np.eye(xb.shape[1]) * l2
    reg[-1, -1] = 0.0
    for _ in range(iters):
        p = logistic(xb @ w)
        g = xb.T @ (p - y) + reg @ w
        h = (xb * (p * (1 - p))[:, None]).T @ xb + reg + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def _fold_of(group: str, folds: int) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"forgetalk-cv:{group}".encode()).digest()[:4], "big") % folds


def photo_folds(groups: list[str]) -> np.ndarray:
    """Cross-validation fold of each item, by its source photo (a photo's items never straddle
    folds): the one assignment feature selection and the out-of-fold threshold both use."""
    return np.array([_fold_of(g, CV_FOLDS) for g in groups])


def oof_logits(x: np.ndarray, y: np.ndarray, fold: np.ndarray, x_pred: np.ndarray | None = None) -> np.ndarray | None:
    """Out-of-fold logistic logits (each fold scored by a model fitted on the others); None when a
    training fold lacks one class. ``x_pred``: score these rows instead, each by its fold's model
    (the same items measured another way, such as greyscale copies: the model never saw their faces)."""
    xp = x if x_pred is None else x_pred
    out = np.zeros(len(y))
    for k in np.unique(fold):
        tr = fold != k
        if len(np.unique(y[tr])) < 2:
            return None
        coef, icpt = fit_logistic(x[tr], y[tr])
        out[~tr] = xp[~tr] @ coef + icpt
    return out


def cv_auc(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> float:
    """AUC of out-of-fold logistic scores pooled over the folds: an estimate of how the fitted
    face score ranks faces it has not seen."""
    out = oof_logits(x, y, fold)
    return 0.5 if out is None else roc_auc(out, y)


def select_features(table: np.ndarray, names: tuple[str, ...], y: np.ndarray, groups: list[str]) -> tuple[tuple[str, ...], dict[str, object]]:
    """Greedy forward selection of face-score features by grouped cross-validated AUC."""
    fold = photo_folds(groups)
    col = {n: i for i, n in enumerate(names)}
    # Start from the fixed set: it holds continuous statistics that break ties between faces whose
    # real-face percentile saturates at 1.0 (a percentile-only score put every clearly abnormal
    # face on one value, right at the threshold: measured on the shipped examples).
    chosen: list[str] = list(FEATURES)
    steps: list[dict[str, object]] = []
    reference = best = cv_auc(table[:, [col[c] for c in chosen]], y, fold)
    while len(chosen) < MAX_FEATURES:
        trial = {n: cv_auc(table[:, [col[c] for c in (*chosen, n)]], y, fold) for n in names if n not in chosen}
        if not trial:
            break
        name, auc = max(trial.items(), key=lambda kv: (kv[1], -names.index(kv[0])))
        if auc < best + MIN_CV_GAIN:
            break
        chosen.append(name)
        best = auc
        steps.append({"added": name, "cv_auc": round(auc, 4)})
    info: dict[str, object] = {"method": f"greedy forward selection from the fixed set, {CV_FOLDS}-fold cross-validated image AUC on the validation items, folds grouped by source photo, "
                                         f"steps while the AUC rises by >= {MIN_CV_GAIN}, at most {MAX_FEATURES} features",
                               "candidates": list(names), "steps": steps, "cv_auc_selected": round(best, 4),
                               "cv_auc_fixed_set": round(reference, 4), "fixed_set": list(FEATURES)}
    return tuple(chosen), info


#: Face-size bins (``DetectedFace.size``, photo pixels) in which the calibration reports its
#: out-of-fold rates at the threshold: below 100 px is a 160 px passport-style photo's face; 315 px
#: and up are faces the 512 px crop does not enlarge.
FACE_PX_BINS = (0.0, 100.0, 160.0, float(round(FACE_PX_AT_512)), float("inf"))


def rates_by_face_px(scores: np.ndarray, y: np.ndarray, face_px: np.ndarray, thr: float) -> list[dict[str, object]]:
    """False- and true-positive rates at ``thr`` within each ``FACE_PX_BINS`` bin (counts included)."""
    out: list[dict[str, object]] = []
    for lo, hi in zip(FACE_PX_BINS[:-1], FACE_PX_BINS[1:], strict=True):
        sel = (face_px >= lo) & (face_px < hi)
        real, fake = sel & (y == 0), sel & (y == 1)
        out.append({"face_px": [lo, None if not np.isfinite(hi) else hi], "n_real": int(real.sum()), "n_fake": int(fake.sum()),
                    "fpr": round(float((scores[real] >= thr).mean()), 4) if real.any() else None,
                    "tpr": round(float((scores[fake] >= thr).mean()), 4) if fake.any() else None})
    return out


#: Fixed seed of the validation forgery set, so that stages and runs are compared on the same set.
EVAL_SEED = 1000
#: Validation set of the family-trained localizer: per face, this many forgeries and untouched
#: copies (each through its own post-edit chain). v3 used 2 and 1 (366 forged, 183 real items):
#: the face-score model had 183 real scores for its threshold and a feature selection that moved
#: with a handful of faces. Region percentiles use every untouched copy (549 items) since the
#: seventh session: with one copy per face (183) the 99th percentile that scales each region's
#: excess was about the second-highest face, and on the test faces the four-member ensemble ranked
#: the right eye first on 25.0 % of untouched faces (docs/localizer_history.md).
FORGERIES_PER_VAL_FACE = 6
UNTOUCHED_PER_VAL_FACE = 3


def pick_weight(top1_by_weight: dict[float, float], baseline: float) -> float | None:
    """The weight whose region top-1 is highest (the smaller one on ties), or None when none beats
    ``baseline`` (the top-1 without the term): how each consistency term's weight is chosen."""
    weight, top1 = max(top1_by_weight.items(), key=lambda kv: (kv[1], -kv[0]))
    return weight if top1 > baseline else None


def evidence_pins() -> dict[str, str]:
    """The sha256 of each evidence-engine file this calibration scores with, from its manifest.

    Why recorded: the evidence score is one of the fused features, so the fitted coefficients
    and threshold belong to one evidence calibration. Kept in the section (and so in every
    report), it shows which evidence files a fused verdict was calibrated against and that
    the evidence files must be rebuilt first (``make calibrate`` runs them in that order).
    """
    from ..weights import load_manifest

    return {f.name: f.sha256 for f in load_manifest("evidence").files if f.sha256}


def validation_items(val_faces: list, families: tuple[str, ...], seed: int = EVAL_SEED, relandmark: bool = True, log=None) -> list:  # noqa: ANN001
    """The validation forgeries and untouched copies every calibration of a family-trained localizer
    scores (``FORGERIES_PER_VAL_FACE`` and ``UNTOUCHED_PER_VAL_FACE`` per face, each through its own
    chain; landmarks measured on each crop with ``relandmark``); the v1 set without families. Also
    what ``benchmarks/region_cue_probe.py`` probes, so both see the same items."""
    from .evalset import build_family_eval_set, product_landmarks

    if not families:
        return build_eval_set(val_faces, seed=seed, forgeries_per_face=3)
    return build_family_eval_set(val_faces, seed=seed, families=families, forgeries_per_face=FORGERIES_PER_VAL_FACE, untouched_per_face=UNTOUCHED_PER_VAL_FACE,
                                 landmarks_of=product_landmarks() if relandmark else None, log=log)


def greyscale_threshold(items: list, feats: np.ndarray, y: np.ndarray, photos: list[str], chosen: tuple[str, ...], target_fpr: float,  # noqa: ANN001
                        colour: tuple[float, float], features_of, ev_engine, loc, relandmark: bool, log) -> dict[str, object]:  # noqa: ANN001
    """The ``greyscale`` section: the colour face-score model's threshold for greyscale faces.

    Every validation item is made greyscale after its chain (:func:`forgetalk.train.evalset.greyscale_item`,
    landmarks measured on the grey crop with ``relandmark``) and scored by the engine; each grey
    item is scored out of fold by the colour model fitted without its photo (``oof_logits``'s
    ``x_pred``), and the threshold is set at ``target_fpr`` on the untouched ones. Why: greyscale
    faces score lower, untouched ones included (on the test faces the untouched median fell from
    0.52 to 0.37), so the colour threshold caught 7 % of grey forgeries where it catches 19 % in
    colour, while flagging half the stated rate of untouched faces (docs/localizer_history.md,
    "Greyscale photos"). The model stays the colour one: one face score, two thresholds.
    ``colour``: the colour threshold and its true-positive rate, for the grey items' rates at it.
    """
    from .evalset import greyscale_item, product_landmarks

    t0 = time.perf_counter()
    landmarks_of = product_landmarks() if relandmark else None
    rows, missed = [], 0
    for it in items:
        g, ok = greyscale_item(it, landmarks_of)
        missed += not ok
        ev = ev_engine.analyze_face(g.face)
        rows.append(features_of(g, ev, loc.predict(g.face.crop, g.face.regions)))
    g_feats = np.array([[r.get(k, 0.0) for k in chosen] for r in rows])
    logits = oof_logits(feats, y, photo_folds(photos), g_feats)
    if logits is None:  # too few faces for folds (the tests' tiny sets): the model fitted on all
        coef, icpt = fit_logistic(feats, y)
        logits = g_feats @ coef + icpt
    scores = logistic(logits)
    thr, fpr = threshold_at_fpr(scores[y == 0], target_fpr)
    colour_thr, colour_tpr = colour
    out: dict[str, object] = {
        "threshold": float(thr),
        "target_fpr": target_fpr,
        "measured_fpr": fpr,
        "tpr_at_threshold_val": float((scores[y == 1] >= thr).mean()),
        "colour_threshold_rates_val": {"fpr": float((scores[y == 0] >= colour_thr).mean()), "tpr": float((scores[y == 1] >= colour_thr).mean()),
                                       "colour_items_tpr": float(colour_tpr)},
        "image_auc_val": roc_auc(scores, y),
        "real_scores_oof": [round(float(v), 6) for v in np.sort(scores[y == 0])],
        "n_val_real": int((y == 0).sum()),
        "n_val_fake": int((y == 1).sum()),
        "no_face_mesh_on_grey": missed,
        "rule": "every validation item made greyscale after its chain (ITU-R 601 luma in three channels), landmarks measured on the grey crop; "
                "out-of-fold scores of the colour model (photo-grouped folds); threshold at the target rate on the untouched ones",
        "seconds": round(time.perf_counter() - t0, 1),
    }
    log(f"[calibrate] greyscale: {json.dumps({k: v for k, v in out.items() if k != 'real_scores_oof'})}")
    return out


def calibrate_fusion(out_dir: Path, val_faces: list, seed: int = EVAL_SEED, target_fpr: float = 0.05, log=print, families: tuple[str, ...] = (),  # noqa: ANN001
                     relandmark: bool = True, table_out: Path | None = None, band_edges: tuple[float, ...] = REGION_BAND_EDGES,
                     greyscale: bool = True) -> dict[str, object]:
    """Run evidence + localizer once per validation item, then choose everything from the cached outputs.

    Also writes ``region_calibration.json`` (the distribution of each region's saliency on the
    validation *real* faces, for ranking by suspicion) next to the weights. With ``relandmark``
    (the default) every item's landmarks and regions are measured on its own crop by the
    product's FaceMesh, as an analysis would (:func:`forgetalk.train.evalset.relandmarked`);
    family validation sets only.

    ``band_edges``: face sizes that split the region calibration into size bands
    (``REGION_BAND_EDGES``; empty: one pooled distribution, as before 2026-11-28).

    ``greyscale``: also score greyscale copies of every item (:func:`greyscale_threshold`) and state
    a threshold for greyscale faces (the ``greyscale`` section); the colour numbers are unchanged.

    ``table_out``: also save every candidate feature of every validation item (with its label,
    photo, face size and family) as ``.npz``, so that another face-score model or selection rule
    can be tried on the same items in seconds instead of re-running the engine for 13 minutes.
    """
    import torch

    from ..engines import get_engine
    from ..engines.fused import (
        REGION_CUE_FLOOR,
        FusedCalibration,
        calibrate_heat,
        consistency_cues_of,
        consistency_of,
        face_features,
        fuse_heatmaps,
        raised_region_scores,
    )
    from ..engines.localizer.infer import Localizer, load_localizer
    from ..engines.regioncal import FILE_NAME, build_region_calibration, region_saliency
    from ..io import atomic_write_json

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    items = validation_items(val_faces, families, seed, relandmark, log)
    relandmarked_items = relandmark and bool(families)
    loc = Localizer(load_localizer(Path(out_dir) / "localizer.safetensors"))
    ev_engine = get_engine("evidence")
    evidence_files = evidence_pins()
    outs = []
    for it in items:
        ev = ev_engine.analyze_face(it.face)
        lo = loc.predict(it.face.crop, it.face.regions)
        # Only the heatmap, score and meta are read below. The per-cue maps (one 512 px float
        # map per cue and face) are dropped at once: kept for all 1,647 items they filled a
        # 24 GB machine; without them the peak is 13.2 GiB (docs/localizer_history.md).
        outs.append((replace(ev, cues={}), lo))
    log(f"[calibrate] {len(items)} validation items in {time.perf_counter() - t0:.0f}s")
    valid = [np.asarray(it.face.face_mask) for it in items]
    fakes = [i for i, it in enumerate(items) if it.fake]
    # 1) fusion weight: pooled best pixel F1 over forged faces, inside the face oval.
    best = (-1.0, 1.0, 0.5)
    per_w: dict[str, float] = {}
    for w in FUSION_GRID:
        s = np.concatenate([fuse_heatmaps(outs[i][1].prob, outs[i][0].heatmap, w)[valid[i]] for i in fakes])
        g = np.concatenate([items[i].mask[valid[i]] for i in fakes])
        f, thr = best_threshold_f1(s, g)
        per_w[str(w)] = round(f, 4)
        if f > best[0]:
            best = (f, w, thr)
    f_best, w_best, pix_thr = best
    # Heat scale: h ** gamma puts the best-F1 threshold at 0.5 (monotone; see fused.calibrate_heat).
    gamma = float(np.log(0.5) / np.log(min(max(pix_thr, 1e-3), 0.999)))

    def heat_of(ev, lo):  # noqa: ANN001, ANN202
        return calibrate_heat(fuse_heatmaps(lo.prob, ev.heatmap, w_best), gamma)
    # 2) region scores: which localizer output (region head, pooled mask, both, none) ranks best.
    from ..pipeline import rank_regions

    heats = [heat_of(ev, lo) for ev, lo in outs]
    reals = [i for i, it in enumerate(items) if not it.fake]  # region percentiles: every untouched copy (see UNTOUCHED_PER_VAL_FACE)
    n_real_faces = sum(items[i].copy == 0 for i in reals)

    def scores_of(i: int, src: str, weights: dict[str, float]) -> dict[str, float]:  # the engine's region scores for item i
        ev, lo = outs[i]
        return raised_region_scores(lo.region_scores(src), ev.cue_region_stats, weights)[0]

    def region_cal(src: str, weights: dict[str, float]):  # noqa: ANN202 - real-face saliency distribution for one region source
        sal = [{k: v[0] for k, v in region_saliency(heats[i], items[i].face.regions, scores_of(i, src, weights) or None).items()} for i in reals]
        cues = f", consistency terms {weights}" if weights else ""
        return build_region_calibration("fused", sal, f"fused engine region saliency on {len(reals)} untouched versions of {n_real_faces} validation real faces (seed {seed}), region source {src!r}{cues}",
                                        n_faces=n_real_faces, face_px=[items[i].face.detection.size for i in reals], band_edges=band_edges)

    def top1_of(src: str, weights: dict[str, float], cal) -> float:  # noqa: ANN001 - region top-1 on the forgeries (cal None: raw saliency)
        hits = 0
        for i in fakes:
            ranked = rank_regions(heats[i], items[i].face.regions, scores_of(i, src, weights) or None, cal, items[i].face.detection.size)
            hits += bool(ranked) and ranked[0][0] in items[i].primary
        return hits / max(len(fakes), 1)

    cals = {src: region_cal(src, {}) for src in REGION_SOURCES}
    top1 = {src: top1_of(src, {}, cals[src]) for src in REGION_SOURCES}
    top1_raw = {src: top1_of(src, {}, None) for src in REGION_SOURCES}
    source = max(SELECTABLE_SOURCES, key=lambda k: (top1[k], -SELECTABLE_SOURCES.index(k)))
    rcal = cals[source]
    # 2b) consistency terms in the region scores: one weight per cue, greedily, by region top-1.
    region_cues: dict[str, float] = {}
    cue_top1: dict[str, dict[str, float]] = {}
    best_top1 = top1[source]
    for cue in REGION_CUES:
        trial = {}
        for beta in REGION_CUE_GRID[1:]:
            w = {**region_cues, cue: beta}
            cal_w = region_cal(source, w)
            trial[beta] = (top1_of(source, w, cal_w), cal_w)
        cue_top1[cue] = {str(b): round(t, 4) for b, (t, _) in trial.items()}
        beta = pick_weight({b: t for b, (t, _) in trial.items()}, best_top1)
        if beta is not None:
            region_cues[cue], (best_top1, rcal) = beta, trial[beta]
    log(f"[calibrate] region source {source!r} (top-1 {top1[source]:.3f}); consistency terms {region_cues} (top-1 {best_top1:.3f}; by weight {cue_top1})")
    atomic_write_json(Path(out_dir) / FILE_NAME, rcal.to_dict())
    # 3) face score: logistic model on validation real vs forged, threshold at target FPR on real.
    rows = [face_features(lo, heats[i], it.face.face_mask, ev.score, it.face.regions, rcal, source, consistency_of(ev), consistency_cues_of(ev),
                          scores_of(i, source, region_cues), it.face.detection.size)
            for i, (it, (ev, lo)) in enumerate(zip(items, outs, strict=True))]
    # The named statistics, then every per-region / per-cue one some validation face has (0 where absent, as in face_score).
    candidates = (*CANDIDATE_FEATURES, *sorted({k for r in rows for k in r} - set(CANDIDATE_FEATURES)))
    table = np.array([[r.get(k, 0.0) for k in candidates] for r in rows])
    y = np.array([it.fake for it in items], float)
    photos = [it.photo for it in items]
    parsing_names = {f.name for f in val_faces if isinstance(f, ParsedFace)}
    photo_source = ["parsing" if p in parsing_names else "faces" for p in photos]
    face_px = np.array([it.face.detection.size for it in items])
    if table_out is not None:
        # Also every item's raw region saliency as the shipped ranking sees it (the chosen source
        # and consistency terms): a region calibration built another way (by face size, say) can
        # then be tried on the same items without re-running the engine.
        sal_rows = [{k: v[0] for k, v in region_saliency(heats[i], it.face.regions, scores_of(i, source, region_cues) or None).items()}
                    for i, it in enumerate(items)]
        region_names = sorted({k for r in sal_rows for k in r})
        region_sal = np.array([[r.get(k, np.nan) for k in region_names] for r in sal_rows], np.float64)
        # And each selectable source's raw saliency without consistency terms, so another source
        # (or a blend of two) can be judged on the same items without re-running the engine.
        by_source = {f"region_sal_{src}": np.array([[region_saliency(heats[i], it.face.regions, scores_of(i, src, {}) or None).get(k, (np.nan,))[0]
                                                     for k in region_names] for i, it in enumerate(items)], np.float64)
                     for src in SELECTABLE_SOURCES}
        np.savez_compressed(table_out, table=table, candidates=np.array(candidates), y=y, photos=np.array(photos), source=np.array(photo_source),
                            face_px=face_px, kind=np.array([it.kind for it in items]), copy=np.array([it.copy for it in items]),
                            region_names=np.array(region_names), region_sal=region_sal, **by_source,
                            primary=np.array(["|".join(sorted(it.primary)) for it in items]))
    chosen, selection = select_features(table, candidates, y, photos)
    log(f"[calibrate] face-score features {list(chosen)}: {json.dumps(selection['steps'])}, cross-validated AUC {selection['cv_auc_selected']} (fixed v2 set {selection['cv_auc_fixed_set']})")
    feats = table[:, [candidates.index(c) for c in chosen]]
    coef, intercept = fit_logistic(feats, y)

    scores = logistic(feats @ coef + intercept)
    # The threshold comes from out-of-fold scores (folds grouped by photo, as in the selection):
    # the features were chosen and the model fitted on these same faces, so in-sample real scores
    # sit lower than those of faces the model never saw. Applied to the model fitted on all folds.
    # (Measured with the shipped v3 weights: threshold 0.803 in-sample, 0.807 out-of-fold; on the
    # held-out test faces that threshold still flags 10.2 % of untouched faces, not 5 %: with 183
    # validation faces the threshold itself is uncertain, see docs/localizer_history.md.)
    oof_l = oof_logits(feats, y, photo_folds(photos))
    oof = scores if oof_l is None else logistic(oof_l)  # None: too few faces for folds (tests' tiny sets)
    thr, fpr = threshold_at_fpr(oof[y == 0], target_fpr)
    tpr = float((oof[y == 1] >= thr).mean())
    by_size = rates_by_face_px(oof, y, face_px, thr)
    log(f"[calibrate] out-of-fold rates at the threshold by face size: {json.dumps(by_size)}")
    by_source = source_aucs(oof, y, photo_source)
    log(f"[calibrate] out-of-fold image AUC within and across photo sources: {json.dumps(by_source)}")
    grey: dict[str, object] | None = None
    if greyscale:
        def grey_features(it, ev, lo) -> dict[str, float]:  # noqa: ANN001 - one grey item, as the engine computes it
            region_scores = raised_region_scores(lo.region_scores(source), ev.cue_region_stats, region_cues)[0]
            return face_features(lo, heat_of(ev, lo), it.face.face_mask, ev.score, it.face.regions, rcal, source, consistency_of(ev), consistency_cues_of(ev),
                                 region_scores, it.face.detection.size)

        grey = greyscale_threshold(items, feats, y, photos, chosen, target_fpr, (thr, tpr), grey_features, ev_engine, loc,
                                   relandmarked_items, log)
    cal: dict[str, object] = {
        "fusion_weight": float(w_best),
        "fusion_selection": {"criterion": "pooled best-threshold pixel F1 inside the face oval, validation forgeries", "f1_by_weight": per_w},
        "pixel_threshold_raw": round(float(pix_thr), 4),
        "heat_gamma": gamma,
        "pixel_threshold": 0.5,
        "region_source": source,
        "region_top1_val_by_source": top1,
        "region_top1_val_by_source_raw_saliency": top1_raw,
        "region_cues": region_cues,
        "region_cue_floor": REGION_CUE_FLOOR,
        "region_cue_selection": {"criterion": f"region top-1 on the validation forgeries, weights {list(REGION_CUE_GRID[1:])} per cue on its z above {REGION_CUE_FLOOR}, kept where top-1 rises",
                                 "top1_without": round(top1[source], 4), "top1_by_weight": cue_top1, "top1_selected": round(best_top1, 4)},
        "region_calibration": {"file": FILE_NAME, "n_real_faces": n_real_faces, "n_real_items": len(reals),
                               "face_px_bands": [{"min_px": b.min_px, "max_px": b.max_px, "n_items": b.n_items} for b in rcal.bands]},
        "families": list(families),
        "pixel_best_f1_val": round(float(f_best), 4),
        "features": list(chosen),
        "feature_selection": selection,
        "coef": [float(c) for c in coef],
        "intercept": intercept,
        "threshold": float(thr),
        "target_fpr": target_fpr,
        "measured_fpr": fpr,
        "tpr_at_threshold_val": tpr,
        "rates_by_face_px": by_size,
        # Every untouched item's out-of-fold score, sorted: the verdict reads the share of real
        # faces at or above a score from it (a photo of many faces, forgetalk/verdict.py).
        "real_scores_oof": [round(float(v), 6) for v in np.sort(oof[y == 0])],
        "image_auc_by_photo_source": by_source,
        **({"greyscale": grey} if grey is not None else {}),
        "threshold_rule": f"out-of-fold scores of {CV_FOLDS} photo-grouped folds; measured_fpr and tpr_at_threshold_val are out-of-fold rates",
        "in_sample_fpr": float((scores[y == 0] >= thr).mean()),
        "image_auc_val": roc_auc(scores, y),
        "n_val_real": int((y == 0).sum()),
        "n_val_fake": int((y == 1).sum()),
        "n_val_faces": n_real_faces,
        "eval_seed": seed,
        "evidence_files": evidence_files,
        "landmarks": "re-measured on each item's crop (FaceMesh), as an analysis does" if relandmarked_items else "the untouched face's",
        "seconds": round(time.perf_counter() - t0, 1),
        "note": "threshold is the smallest calibrated score with out-of-fold false-positive rate <= target on validation real faces (untouched, same post-edit chains as the forgeries)",
    }
    FusedCalibration.from_dict(cal)  # what the engine parses when it loads: a section it could not read fails here, not there
    log(f"[calibrate] {json.dumps({k: v for k, v in cal.items() if k != 'fusion_selection'})}")
    return cal


if __name__ == "__main__":  # pragma: no cover - `python -m forgetalk.train.calibrate FACES_DIR [OUT_DIR] [--table T.npz]`
    import argparse

    from .data import load_split_faces

    ap = argparse.ArgumentParser(prog="python -m forgetalk.train.calibrate")
    ap.add_argument("faces", type=Path)
    ap.add_argument("out", type=Path, nargs="?", default=Path(__file__).resolve().parents[2] / "weights" / "localizer")
    ap.add_argument("--table", type=Path, default=None, help="also save every validation item's candidate features here (.npz)")
    ap.add_argument("--pooled-regions", action="store_true", help="one region calibration for every face size (no size bands)")
    ap.add_argument("--no-greyscale", action="store_true", help="no greyscale threshold (skips scoring grey copies of the items)")
    ap.add_argument("--families", default=None, help="forgery families of the validation items, comma-separated, or 'all' "
                    "(default: every family the localizer was trained on along its lineage, forgetalk.train.ensemble.trained_families)")
    a = ap.parse_args()
    faces_dir, out = a.faces, a.out
    recipe_path = out / "recipe.json"
    recipe = json.loads(recipe_path.read_text(encoding="utf-8"))
    from .ensemble import trained_families
    from .loop import ALL_FAMILIES, family_names

    families = trained_families(recipe) if a.families is None else family_names(a.families)
    if unknown := sorted(set(families) - set(ALL_FAMILIES)):
        ap.error(f"--families: unknown {', '.join(unknown)}; known: {', '.join(ALL_FAMILIES)}")
    val = load_split_faces(faces_dir, "val")
    parsing = (recipe.get("split") or {}).get("parsing")
    if parsing:
        from .parsing import load_parsing_split

        val = [*val, *load_parsing_split(Path(parsing["dir"]), "val")]
    cal = calibrate_fusion(out, val, families=families, table_out=a.table,
                          band_edges=() if a.pooled_regions else REGION_BAND_EDGES, greyscale=not a.no_greyscale)
    cal["families_from"] = FAMILIES_FROM_OPTION if a.families is not None else FAMILIES_FROM_LINEAGE
    recipe["calibration"] = cal
    recipe["calibration_command"] = (f"python -m forgetalk.train.calibrate {faces_dir} {out}" + (" --pooled-regions" if a.pooled_regions else "")
                                     + (" --no-greyscale" if a.no_greyscale else "") + (f" --families {a.families}" if a.families is not None else ""))
    from ..io import atomic_write_json
    from .manifest import write_localizer_manifest

    atomic_write_json(recipe_path, recipe)
    write_localizer_manifest(out)  # recipe.json changed: re-pin its sha256
    print(json.dumps({"written": str(recipe_path)}))
