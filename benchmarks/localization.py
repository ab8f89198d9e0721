"""Generalization benchmark: every forgery family, held-out faces, engines and a published peer side by side.

    .venv/bin/python benchmarks/localization.py [--faces ../shared/faces] [--parsing ../shared/parsing/celebamask_hq_1000]
        [--engines evidence,fused] [--variant lofo-part_swap=WEIGHTS_ROOT ...] [--peers all|none|Meso4_DF,...]
        [--per-face 8] [--families F1,F2] [--limit-faces N] [--write docs/localizer.md] [--json out.json]

The set (:func:`forgetalk.train.evalset.build_family_eval_set`, ``balanced=True``): held-out faces
only, the ``test`` split of the face photos (forgetalk/train/data.py) and of the parsing set
(forgetalk/train/parsing.py), neither ever seen in training or calibration. Per face one untouched
copy and ``--per-face`` forgeries, families from ``forgetalk.train.loop.ALL_FAMILIES`` (or those
given with ``--families``, which may name the guard-only ``GUARD_FAMILIES`` too: ``mirrored_copy``,
an edit no localizer was ever trained on) assigned round-robin from a seeded offset (with
``--per-face 8`` every face carries every family once), and
every item, untouched copies included, through its own post-edit chain (native resolution, JPEG
once or twice, sharpening, noise). Then, as an analysis would, each item's landmarks, regions and
face oval are measured on its own final crop by the product's FaceMesh (``--real-landmarks``: the
untouched face's, as in runs before 2026-11-26; a pasted or warped part then could not move them).
Seeded and deterministic.

Engines: the registered engines named in ``--engines``; ``--variant NAME=ROOT`` adds a fused engine
whose weights come from another weights root (``$FORGETALK_WEIGHTS`` pointed there while it is
built, restored afterwards; a folder holding ``manifest.json`` of a localizer is accepted too);
variants named ``lofo-<family>`` are leave-one-family-out models and get their own table. The
published peer MesoNet (Afchar et al. 2018, ``benchmarks/mesonet.py``, weights
``../shared/pretrained/meso_*.h5``) gives no mask, so it is scored at image level only, on the
aligned 512 crop resized to 256 (it was applied to face crops), with its own 0.5 decision rule.
An engine, variant or peer that cannot be built is skipped with a note; the run goes on.

Metrics (all from :mod:`forgetalk.metrics` definitions):

* pixel AUC and best F1 pooled over forged faces inside the face oval dilated by 16 px (from
  1024-bin histograms of the heat, so a full run keeps no heatmaps; best F1 and its threshold are
  exactly those of ``best_threshold_f1``'s 256-step grid, AUC counts same-bin pairs as ties), mean
  per-face IoU at that threshold and F1/IoU at the engine's shipped pixel threshold;
* image AUC of the face score (forged vs untouched) and TPR/FPR at the engine's verdict threshold;
* region top-1/top-3 of the product's ranking (:func:`forgetalk.pipeline.rank_regions` with the
  engine's region calibration), truth = the item's ``primary`` regions;
* per family: image AUC (that family vs every untouched face), pixel AUC, region top-1 and
  per-region AUC: the saliency (and, with a region calibration, the suspicion) of a forged item's
  first primary region against the same region's on every untouched face, averaged over regions;
* real-face ranking prior: on untouched faces, the share on which each region is ranked first
  (goal: no region first on more than 25 % of real faces).

Numbers in docs/localizer.md are written by this script (``--write``), never typed by hand.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forgetalk.faces.base import REGION_NAMES  # noqa: E402
from forgetalk.metrics import f1, iou, roc_auc, source_aucs, topk_accuracy, weighted_auc  # noqa: E402

START, END = "<!-- BENCHMARK:START -->", "<!-- BENCHMARK:END -->"
#: Heat histogram bins inside the valid area (pixel AUC, best F1: 4 bins per step of the 256 grid).
PIX_BINS = 1024
#: Whole-image histogram bins for per-face IoU at the pooled best threshold (metrics.best_threshold_f1's grid).
IOU_BINS = 256
#: A region first on more real faces than this is a location prior, not evidence.
PRIOR_GOAL = 0.25
MESO_MODELS = ("Meso4_DF", "Meso4_F2F", "MesoInception_DF", "MesoInception_F2F")
MESO_INPUT = 256
LOFO_PREFIX = "lofo-"
SHIPPED = "fused"


# -- per-item records (what a run keeps; everything below is computed from these) -----------


@dataclass
class ItemRecord:
    """One engine's result on one item, reduced to what the metrics need (no heatmap)."""

    engine: str
    index: int  # item index in the set
    kind: str  # forgery family or "real"
    fake: bool
    source: str  # "faces" | "parsing"
    score: float
    seconds: float
    primary: tuple[str, ...] = ()
    ranking: tuple[str, ...] = ()  # region names in the product's order (None for image-level engines: empty)
    saliency: dict[str, float] = field(default_factory=dict)
    suspicion: dict[str, float] | None = None  # per region, when the engine has a region calibration
    f1_shipped: float | None = None
    iou_shipped: float | None = None
    hist_valid: np.ndarray | None = field(default=None, repr=False)  # (2, PIX_BINS): forged, untouched pixels inside the valid area
    hist_all: np.ndarray | None = field(default=None, repr=False)  # (2, IOU_BINS): forged, untouched pixels of the whole crop
    native_px: int = 512  # the item's face size in its post-edit chain (EvalItem.native_px)
    photo: str = ""  # the source photo (the unit the bootstrap resamples; "" = the item alone)


@dataclass(frozen=True)
class EngineInfo:
    name: str
    level: str  # "pixel" (heatmap + regions) | "image" (score only)
    verdict_threshold: float | None
    pixel_threshold: float | None = None
    region_calibrated: bool = False
    group: str = "engine"  # "engine" | "variant" | "peer"
    note: str = ""


def _bins(heat: np.ndarray, n: int) -> np.ndarray:
    s = np.clip(np.nan_to_num(np.asarray(heat, np.float64), nan=0.0), 0.0, 1.0)  # NaN = no evidence, as in metrics
    return np.minimum((s * n).astype(np.int64), n - 1)


def pixel_hists(heat: np.ndarray, mask: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid-area histograms (2, PIX_BINS), whole-crop histograms (2, IOU_BINS)); row 0 forged, row 1 untouched pixels."""
    m = np.asarray(mask, bool)
    v = np.asarray(valid, bool)
    b = _bins(heat, PIX_BINS)
    hv = np.stack([np.bincount(b[m & v], minlength=PIX_BINS), np.bincount(b[~m & v], minlength=PIX_BINS)]).astype(np.int64)
    b2 = b // (PIX_BINS // IOU_BINS)
    ha = np.stack([np.bincount(b2[m], minlength=IOU_BINS), np.bincount(b2[~m], minlength=IOU_BINS)]).astype(np.int64)
    return hv, ha


def record_pixel_item(engine: str, index: int, item, heat: np.ndarray, score: float, seconds: float, region_scores: dict[str, float] | None,  # noqa: ANN001 - EvalItem
                      calibration, pixel_threshold: float, source: str = "") -> ItemRecord:  # noqa: ANN001 - RegionCalibration | None
    """Reduce one heatmap engine output on one EvalItem to an :class:`ItemRecord`."""
    from forgetalk.pipeline import rank_regions

    ranked = rank_regions(heat, item.face.regions, region_scores or None, calibration, item.face.detection.size)
    rec = ItemRecord(engine, index, item.kind, bool(item.fake), source, float(score), float(seconds), tuple(item.primary),
                     tuple(r[0] for r in ranked), {r[0]: float(r[1]) for r in ranked},
                     None if calibration is None else {r[0]: float(r[4]) for r in ranked if r[4] is not None}, native_px=int(getattr(item, "native_px", 512)),
                     photo=str(getattr(item, "photo", "")))
    if item.fake:
        valid = cv2.dilate(np.asarray(item.face.face_mask, np.uint8), np.ones((33, 33), np.uint8)).astype(bool) | item.mask
        rec.hist_valid, rec.hist_all = pixel_hists(heat, item.mask, valid)
        pred = heat >= pixel_threshold
        rec.f1_shipped, rec.iou_shipped = f1(pred, item.mask), iou(pred, item.mask)
    return rec


# -- metrics on records ---------------------------------------------------------------------


def hist_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of binned scores: P(pos > neg) + P(same bin) / 2; nan if a class is empty."""
    p, n = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    tp, tn = p.sum(), n.sum()
    if tp == 0 or tn == 0:
        return float("nan")
    below = np.cumsum(n) - n
    return float((p * below).sum() + 0.5 * (p * n).sum()) / float(tp * tn)


def pixel_metrics(fakes: Sequence[ItemRecord]) -> dict[str, float]:
    """Pooled pixel AUC, best F1 and its threshold, mean IoU there, mean F1/IoU at the shipped threshold."""
    recs = [r for r in fakes if r.hist_valid is not None]
    nan = float("nan")
    if not recs:
        return {"pixel_auc": nan, "best_f1": nan, "best_threshold": nan, "iou_best": nan, "f1_shipped": nan, "iou_shipped": nan}
    hv = np.sum([r.hist_valid for r in recs], axis=0)
    auc = hist_auc(hv[0], hv[1])
    g = hv.reshape(2, IOU_BINS, PIX_BINS // IOU_BINS).sum(axis=2)  # the 256 grid of metrics.best_threshold_f1
    tp = g[0][::-1].cumsum()[::-1].astype(np.float64)
    fp = g[1][::-1].cumsum()[::-1].astype(np.float64)
    fn = float(g[0].sum()) - tp
    denom = 2 * tp + fp + fn
    fs = np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)
    k = int(np.argmax(fs))
    ious = []
    for r in recs:
        a = r.hist_all
        t, p_, n_ = float(a[0, k:].sum()), float(a[1, k:].sum()), float(a[0, :k].sum())  # type: ignore[index]
        ious.append(1.0 if t + p_ + n_ == 0 else t / (t + p_ + n_))
    return {"pixel_auc": auc, "best_f1": float(fs[k]), "best_threshold": k / IOU_BINS, "iou_best": float(np.mean(ious)),
            "f1_shipped": float(np.mean([r.f1_shipped for r in recs])), "iou_shipped": float(np.mean([r.iou_shipped for r in recs]))}


def image_metrics(fakes: Sequence[ItemRecord], reals: Sequence[ItemRecord], threshold: float | None) -> dict[str, float | None]:
    s = np.array([r.score for r in fakes] + [r.score for r in reals], np.float64)
    y = np.r_[np.ones(len(fakes), bool), np.zeros(len(reals), bool)]
    out: dict[str, float | None] = {"image_auc": roc_auc(s, y) if len(s) else float("nan"), "tpr": None, "fpr": None}
    if threshold is not None:
        out["tpr"] = float((s[y] >= threshold).mean()) if y.any() else None
        out["fpr"] = float((s[~y] >= threshold).mean()) if (~y).any() else None
    return out


def region_aucs(fakes: Sequence[ItemRecord], reals: Sequence[ItemRecord], key: str = "saliency") -> dict[str, tuple[float, int]]:
    """region -> (AUC, n forged): a forged item's first primary region's ``key`` value against the
    same region's value on every untouched face."""
    pos: dict[str, list[float]] = {}
    for r in fakes:
        vals = getattr(r, key)
        if r.primary and vals and r.primary[0] in vals:
            pos.setdefault(r.primary[0], []).append(vals[r.primary[0]])
    out: dict[str, tuple[float, int]] = {}
    for reg, p in pos.items():
        neg = [getattr(r, key)[reg] for r in reals if getattr(r, key) and reg in getattr(r, key)]
        if not neg:
            continue
        y = np.r_[np.ones(len(p), bool), np.zeros(len(neg), bool)]
        out[reg] = (roc_auc(np.array(p + neg), y), len(p))
    return out


def _mean_auc(aucs: dict[str, tuple[float, int]]) -> float:
    vals = [a for a, _ in aucs.values() if not math.isnan(a)]
    return float(np.mean(vals)) if vals else float("nan")


def first_shares(reals: Sequence[ItemRecord]) -> dict[str, float]:
    """region -> share of untouched faces on which the product ranks it first."""
    firsts = [r.ranking[0] for r in reals if r.ranking]
    if not firsts:
        return {}
    c = Counter(firsts)
    return {k: v / len(firsts) for k, v in c.most_common()}


def summarize_engine(records: Sequence[ItemRecord], info: EngineInfo, families: Sequence[str]) -> dict[str, object]:
    """Every number the tables show for one engine (JSON-ready)."""
    fakes = [r for r in records if r.fake]
    reals = [r for r in records if not r.fake]
    pix = info.level == "pixel"
    out: dict[str, object] = {"engine": info.name, "level": info.level, "group": info.group, "n_fake": len(fakes), "n_real": len(reals),
                              "verdict_threshold": info.verdict_threshold, "pixel_threshold": info.pixel_threshold,
                              "region_calibrated": info.region_calibrated, "note": info.note,
                              "seconds_per_face": float(np.mean([r.seconds for r in records])) if records else float("nan")}
    out.update(image_metrics(fakes, reals, info.verdict_threshold))
    if pix:
        out.update(pixel_metrics(fakes))
        out["top1"] = topk_accuracy([r.ranking for r in fakes], [r.primary for r in fakes], 1)
        out["top3"] = topk_accuracy([r.ranking for r in fakes], [r.primary for r in fakes], 3)
        shares = first_shares(reals)
        top = max(shares.items(), key=lambda kv: kv[1]) if shares else ("", float("nan"))
        out["prior"] = {"shares": shares, "max_share": top[1], "max_region": top[0], "goal": PRIOR_GOAL}
    fam: dict[str, dict[str, object]] = {}
    for k in families:
        fk = [r for r in fakes if r.kind == k]
        if not fk:
            continue
        row: dict[str, object] = {"n": len(fk)}
        im = image_metrics(fk, reals, info.verdict_threshold)
        row["image_auc"], row["tpr"] = im["image_auc"], im["tpr"]
        if pix:
            pm = pixel_metrics(fk)
            row["pixel_auc"], row["iou_shipped"] = pm["pixel_auc"], pm["iou_shipped"]
            row["top1"] = topk_accuracy([r.ranking for r in fk], [r.primary for r in fk], 1)
            ra = region_aucs(fk, reals, "saliency")
            row["region_auc"] = {k2: {"auc": a, "n": n} for k2, (a, n) in ra.items()}
            row["region_auc_mean"] = _mean_auc(ra)
            if info.region_calibrated:
                rs = region_aucs(fk, reals, "suspicion")
                row["region_auc_suspicion"] = {k2: {"auc": a, "n": n} for k2, (a, n) in rs.items()}
                row["region_auc_suspicion_mean"] = _mean_auc(rs)
        fam[k] = row
    out["by_family"] = fam
    out["by_resolution"] = by_resolution(fakes, reals, families)
    out["by_source"] = source_aucs(np.array([r.score for r in records], np.float64), np.array([r.fake for r in records], np.float64),
                                   [r.source or "unlabelled" for r in records])
    return out


#: Bins of the face's size in its post-edit chain (native_px; 512 = not resampled), for the
#: image AUC by resolution: forgeries and untouched faces of the same bin against each other.
RES_BINS = ((128, 255), (256, 511), (512, 1024))


def by_resolution(fakes: Sequence[ItemRecord], reals: Sequence[ItemRecord], families: Sequence[str]) -> dict[str, dict[str, object]]:
    """"lo-hi px" -> n forged, n untouched, image AUC over all families and per family, within the bin."""
    out: dict[str, dict[str, object]] = {}
    for lo, hi in RES_BINS:
        fk = [r for r in fakes if lo <= r.native_px <= hi]
        rl = [r for r in reals if lo <= r.native_px <= hi]
        row: dict[str, object] = {"n_fake": len(fk), "n_real": len(rl), "image_auc": image_metrics(fk, rl, None)["image_auc"] if fk and rl else float("nan")}
        row["by_family"] = {k: image_metrics(f, rl, None)["image_auc"] for k in families if (f := [r for r in fk if r.kind == k]) and rl}
        out[f"{lo}-{hi} px"] = row
    return out


#: Resamples of the photo bootstrap behind the intervals (image AUC, and differences between engines).
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20261126


def photo_bootstrap(records: Sequence[ItemRecord], infos: Sequence[EngineInfo], families: Sequence[str], shipped: str = SHIPPED,
                    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, dict[str, object]]:
    """engine -> 95 % intervals of its image AUC (over all families and, peers aside, per family),
    of its per-region AUC per family and its region top-1 (engines with region scores) and of its
    differences from ``shipped`` on the same resamples.

    Why by photo: a photo's items (its forgeries, its untouched copy, every face it holds) share
    the face, the lighting and the camera, so they are not independent; resampling items would
    make the intervals too narrow. Each resample draws the photos with replacement and keeps all
    items of each drawn photo (as weights, :func:`weighted_auc`); every engine is scored on the same
    resamples, so the interval of a difference is paired (a variant and the shipped engine that
    both find a hard photo hard do not widen it). Percentile intervals.
    """
    by: dict[str, dict[int, ItemRecord]] = {}
    for r in records:
        by.setdefault(r.engine, {})[r.index] = r
    base = by.get(shipped) or next(iter(by.values()), {})
    index = sorted(base)
    if not index:
        return {}
    photos, pid = np.unique([base[i].photo or f"item:{i}" for i in index], return_inverse=True)
    y = np.array([base[i].fake for i in index])
    kind = np.array([base[i].kind for i in index])
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, len(photos), len(photos)), minlength=len(photos)) for _ in range(resamples)]).astype(np.float64)
    groups = {"": np.ones(len(index), bool), **{f: (kind == f) | ~y for f in families if (kind == f).any()}}

    def scores(name: str) -> np.ndarray | None:
        recs = by.get(name, {})
        return np.array([recs[i].score for i in index], np.float64) if all(i in recs for i in index) else None

    def boot(s: np.ndarray, m: np.ndarray) -> np.ndarray:
        return np.array([weighted_auc(s[m], y[m], c[pid[m]]) for c in counts])

    def interval(v: np.ndarray) -> list[float]:
        v = v[np.isfinite(v)]
        return [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] if len(v) else [float("nan")] * 2

    def region_boot(name: str, fam: str) -> tuple[float, np.ndarray] | None:
        """(point, per-resample) mean per-region AUC of one family, as region_aucs/_mean_auc compute it."""
        recs = by.get(name, {})
        if not all(i in recs and recs[i].saliency for i in index):
            return None
        per_region = []
        for g in sorted({recs[i].primary[0] for i in index if recs[i].kind == fam and recs[i].primary}):
            pos = [k for k, i in enumerate(index) if recs[i].kind == fam and recs[i].primary and recs[i].primary[0] == g and g in recs[i].saliency]
            neg = [k for k, i in enumerate(index) if not recs[i].fake and g in recs[i].saliency]
            if pos and neg:
                sel = np.array(pos + neg)
                v = np.array([recs[index[k]].saliency[g] for k in sel])
                lab = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
                per_region.append((weighted_auc(v, lab, np.ones(len(sel))), np.array([weighted_auc(v, lab, c[pid[sel]]) for c in counts])))
        if not per_region:
            return None
        return float(np.mean([p for p, _ in per_region])), np.nanmean(np.stack([b for _, b in per_region]), axis=0)

    def prior_boot(name: str) -> np.ndarray | None:
        """Per resample, the largest share of untouched faces on which one region is ranked first
        (the ranking-prior goal's statistic, first_shares)."""
        recs = by.get(name, {})
        real = [k for k, i in enumerate(index) if not base[i].fake and i in recs and recs[i].ranking]
        if not real:
            return None
        firsts = [recs[index[k]].ranking[0] for k in real]
        onehot = (np.array(firsts)[:, None] == np.unique(firsts)[None, :]).astype(np.float64)
        w = counts[:, pid[real]]
        return (w @ onehot).max(axis=1) / np.maximum(w.sum(axis=1), 1e-12)

    def top1_boot(name: str) -> tuple[float, np.ndarray] | None:
        """(point, per-resample) region top-1 over every forgery with a truth, as summarize_engine's
        ``top1``: the share whose first-ranked region is one of its primary regions."""
        recs = by.get(name, {})
        fk = [k for k, i in enumerate(index) if base[i].fake and base[i].primary]
        if not fk or not all(index[k] in recs and recs[index[k]].ranking for k in fk):
            return None
        hit = np.array([recs[index[k]].ranking[0] in recs[index[k]].primary for k in fk], np.float64)
        w = counts[:, pid[fk]]
        return float(hit.mean()), (w @ hit) / np.maximum(w.sum(axis=1), 1e-12)

    ship_s = scores(shipped)
    ship_boot = {g: boot(ship_s, m) for g, m in groups.items()} if ship_s is not None else {}
    ship_top1 = top1_boot(shipped)
    ship_region = {f: region_boot(shipped, f) for f in groups if f}
    out: dict[str, dict[str, object]] = {}
    for info in infos:
        s = scores(info.name)
        if s is None:
            continue
        row: dict[str, object] = {"resamples": resamples, "photos": len(photos)}
        fam: dict[str, object] = {}
        for g, m in groups.items():
            if g and info.group == "peer":
                continue  # peers: over all families only (their per-family rows carry no interval)
            b = ship_boot[g] if info.name == shipped else boot(s, m)
            cell: dict[str, object] = {"image_auc_ci": interval(b)}
            if ship_s is not None and info.name != shipped:
                cell["minus_shipped"] = {"diff": roc_auc(s[m], y[m]) - roc_auc(ship_s[m], y[m]), "ci": interval(b - ship_boot[g])}
            rb = (ship_region.get(g) if info.name == shipped else region_boot(info.name, g)) if g and info.level == "pixel" else None
            if rb is not None:
                cell["region_auc_ci"] = interval(rb[1])
                if (sr := ship_region.get(g)) is not None and info.name != shipped:
                    cell["region_minus_shipped"] = {"diff": rb[0] - sr[0], "ci": interval(rb[1] - sr[1])}
            if g:
                fam[g] = cell
            else:
                row.update(cell)
        row["by_family"] = fam
        if info.level == "pixel" and (tb := ship_top1 if info.name == shipped else top1_boot(info.name)) is not None:
            row["top1_ci"] = interval(tb[1])
            if ship_top1 is not None and info.name != shipped:
                row["top1_minus_shipped"] = {"diff": tb[0] - ship_top1[0], "ci": interval(tb[1] - ship_top1[1])}
        if (prior := prior_boot(info.name)) is not None:
            row["prior_max_share_ci"] = interval(prior)
        out[info.name] = row
    return out


def summarize(records: Sequence[ItemRecord], infos: Sequence[EngineInfo], families: Sequence[str], bootstrap: bool = True) -> list[dict[str, object]]:
    by: dict[str, list[ItemRecord]] = {}
    for r in records:
        by.setdefault(r.engine, []).append(r)
    out = [summarize_engine(by.get(i.name, []), i, families) for i in infos]
    if bootstrap:
        boot = photo_bootstrap(records, infos, families)
        for s in out:
            s["bootstrap"] = boot.get(str(s["engine"]))
    return out


def lofo_rows(summary: Sequence[dict[str, object]], shipped: str = SHIPPED) -> list[dict[str, object]]:
    """Leave-one-family-out variants (named ``lofo-<family>``) against the shipped engine on the left-out family."""
    base = next((s for s in summary if s["engine"] == shipped), None)
    rows = []
    for s in summary:
        name = str(s["engine"])
        if not name.startswith(LOFO_PREFIX):
            continue
        fam = name[len(LOFO_PREFIX):]
        v = s["by_family"].get(fam, {})  # type: ignore[union-attr]
        b = base["by_family"].get(fam, {}) if base else {}  # type: ignore[union-attr]
        ci = ((s.get("bootstrap") or {}).get("by_family") or {}).get(fam, {}).get("image_auc_ci")  # type: ignore[union-attr]
        rows.append({"variant": name, "family": fam, "n": v.get("n"), "image_auc_ci_variant": ci,
                     **{f"{m}_{who}": d.get(m) for m in ("image_auc", "region_auc_mean", "pixel_auc", "top1") for who, d in (("variant", v), ("shipped", b))}})
    return rows


# -- Markdown ---------------------------------------------------------------------------------


def _f(x: object, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * float(x):.1f}%" if pct else f"{float(x):.3f}"  # type: ignore[arg-type]


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _head(cells: Sequence[str]) -> str:
    return _row(cells) + "\n" + "|" + "---|" * len(cells)


def overall_table(summary: Sequence[dict[str, object]]) -> str:
    lines = [_head(["engine", "pixel AUC", "best F1 (thr)", "IoU @best", "F1 @shipped (thr)", "IoU @shipped", "region top-1", "region top-3",
                    "image AUC", "TPR / FPR @verdict thr", "s / face"])]
    for s in summary:
        vt = s["verdict_threshold"]
        verdict = "n/a" if vt is None else f"{_f(s['tpr'], True)} / {_f(s['fpr'], True)} ({float(vt):.3f})"  # type: ignore[arg-type]
        if s["level"] == "pixel":
            pt = s["pixel_threshold"]
            bt = s["best_threshold"]
            cells = [_f(s["pixel_auc"]), f"{_f(s['best_f1'])} ({'n/a' if bt is None or math.isnan(bt) else f'{float(bt):.2f}'})", _f(s["iou_best"]),  # type: ignore[arg-type]
                     f"{_f(s['f1_shipped'])} ({'n/a' if pt is None else f'{float(pt):.2f}'})", _f(s["iou_shipped"]),  # type: ignore[arg-type]
                     _f(s["top1"], True), _f(s["top3"], True)]
        else:
            cells = ["—"] * 7
        lines.append(_row([s["engine"], *cells, _f(s["image_auc"]), verdict, f"{float(s['seconds_per_face']):.2f}"]))  # type: ignore[arg-type]
    return "\n".join(lines) + "\n"


def family_tables(summary: Sequence[dict[str, object]], families: Sequence[str]) -> str:
    fams = [f for f in families if any(f in s["by_family"] for s in summary)]  # type: ignore[operator]
    pix = [s for s in summary if s["level"] == "pixel"]
    out = []

    def n_of(f: str) -> object:
        return next((s["by_family"][f]["n"] for s in summary if f in s["by_family"]), 0)  # type: ignore[index, operator]

    def cell(s: dict[str, object], f: str, fmt) -> str:  # noqa: ANN001
        d = s["by_family"].get(f)  # type: ignore[union-attr]
        return "n/a" if d is None else fmt(d)

    def table(title: str, engines: Sequence[dict[str, object]], fmt) -> None:  # noqa: ANN001
        if not engines or not fams:
            return
        out.append(f"{title}\n\n" + _head(["family (n forged)", *[str(s["engine"]) for s in engines]]))
        for f in fams:
            out.append(_row([f"{f} ({n_of(f)})", *[cell(s, f, fmt) for s in engines]]))
        out.append("")

    table("**Image AUC per family** (that family's forgeries vs every untouched face; TPR at the verdict threshold in brackets)", summary,
          lambda d: f"{_f(d['image_auc'])} ({_f(d['tpr'], True)})")
    table("**Pixel AUC / IoU @shipped per family**", pix, lambda d: f"{_f(d['pixel_auc'])} / {_f(d['iou_shipped'])}")
    table("**Region top-1 per family** (product ranking, truth = primary regions)", pix, lambda d: _f(d["top1"], True))
    table("**Per-region AUC per family**, mean over regions (a forged face's first primary region vs the same region on every untouched face; "
          "saliency, and suspicion where the engine ships a region calibration)", pix,
          lambda d: _f(d["region_auc_mean"]) + (f" (susp. {_f(d['region_auc_suspicion_mean'])})" if "region_auc_suspicion_mean" in d else ""))
    return "\n".join(out)


def region_family_table(s: dict[str, object], families: Sequence[str]) -> str:
    """Per-region saliency AUC, region x family, for one engine (n forged in brackets)."""
    fam = s["by_family"]  # type: ignore[assignment]
    fams = [f for f in families if f in fam]  # type: ignore[operator]
    regs = [r for r in REGION_NAMES if any(r in fam[f].get("region_auc", {}) for f in fams)]  # type: ignore[index]
    if not fams or not regs:
        return ""
    lines = [f"**Per-region AUC, region x family: {s['engine']}**\n", _head(["region", *fams])]
    for r in regs:
        cells = []
        for f in fams:
            d = fam[f].get("region_auc", {}).get(r)  # type: ignore[index]
            cells.append("" if d is None else f"{_f(d['auc'])} ({d['n']})")
        lines.append(_row([r, *cells]))
    return "\n".join(lines) + "\n"


def region_engine_table(summary: Sequence[dict[str, object]], family: str) -> str:
    """Per-region saliency AUC on one family, region x engine (every heatmap engine side by side)."""
    pix = [s for s in summary if s["level"] == "pixel" and family in s["by_family"]]  # type: ignore[operator]
    regs = [r for r in REGION_NAMES if any(r in s["by_family"][family].get("region_auc", {}) for s in pix)]  # type: ignore[index]
    if not pix or not regs:
        return ""
    lines = [f"**Per-region AUC on {family}, region x engine** (n forged in brackets)\n", _head(["region", *[str(s["engine"]) for s in pix]])]
    for r in regs:
        cells = []
        for s in pix:
            d = s["by_family"][family].get("region_auc", {}).get(r)  # type: ignore[index]
            cells.append("n/a" if d is None else f"{_f(d['auc'])} ({d['n']})")
        lines.append(_row([r, *cells]))
    return "\n".join(lines) + "\n"


def prior_table(summary: Sequence[dict[str, object]]) -> str:
    pix = [s for s in summary if s["level"] == "pixel" and s.get("prior")]
    if not pix:
        return ""
    priors = [s["prior"] for s in pix]
    regs = [r for r in REGION_NAMES if any(r in p["shares"] for p in priors)]  # type: ignore[index, operator]
    lines = [f"**Real-face ranking prior**: share of untouched faces on which each region is ranked first (product ranking; goal: no region above {PRIOR_GOAL:.0%})\n",
             _head(["region", *[f"{s['engine']}{'' if s['region_calibrated'] else ' (raw saliency)'}" for s in pix]])]
    for r in regs:
        lines.append(_row([r, *[_f(p["shares"].get(r, 0.0), True) for p in priors]]))  # type: ignore[index, union-attr]
    cis = [(s.get("bootstrap") or {}).get("prior_max_share_ci") for s in pix]  # type: ignore[union-attr]
    lines.append(_row(["**max (region)**", *[f"**{_f(p['max_share'], True)}** ({p['max_region']}) {'ok' if p['max_share'] <= PRIOR_GOAL else 'above goal'}"  # type: ignore[index, operator]
                                             + (f" [{_f(ci[0], True)}, {_f(ci[1], True)}]" if ci else "") for p, ci in zip(priors, cis, strict=True)]]))
    if any(cis):
        lines.append("\n(max: the point estimate, then its 95 % interval from the photo bootstrap: the largest share in each resample)")
    return "\n".join(lines) + "\n"


def lofo_table(rows: Sequence[dict[str, object]]) -> str:
    if not rows:
        return ""
    lines = [f"**Leave-one-family-out**: each variant trained without one family, measured on that family; the shipped `{SHIPPED}` model (trained with it) beside it "
             "(the variant's 95 % interval in brackets, photo bootstrap)\n",
             _head(["variant", "left-out family (n)", "image AUC: variant / shipped", "per-region AUC: variant / shipped", "pixel AUC: variant / shipped",
                    "region top-1: variant / shipped"])]
    for r in rows:
        lines.append(_row([r["variant"], f"{r['family']} ({r['n'] if r['n'] is not None else 0})",
                           f"{_f(r['image_auc_variant'])}{' ' + _ci(r['image_auc_ci_variant']) if r.get('image_auc_ci_variant') else ''} / {_f(r['image_auc_shipped'])}",
                           f"{_f(r['region_auc_mean_variant'])} / {_f(r['region_auc_mean_shipped'])}",
                           f"{_f(r['pixel_auc_variant'])} / {_f(r['pixel_auc_shipped'])}", f"{_f(r['top1_variant'], True)} / {_f(r['top1_shipped'], True)}"]))
    return "\n".join(lines) + "\n"


def _ci(cell: object) -> str:
    lo, hi = cell if isinstance(cell, list | tuple) and len(cell) == 2 else (None, None)
    return "n/a" if lo is None or math.isnan(lo) else f"[{lo:.3f}, {hi:.3f}]"


def _diff(cell: dict[str, object] | None) -> str:
    if not cell:
        return "—"
    d = cell["diff"]
    lo, hi = cell["ci"]  # type: ignore[misc]
    return f"{float(d):+.3f} [{lo:+.3f}, {hi:+.3f}]"  # type: ignore[arg-type]


def interval_tables(summary: Sequence[dict[str, object]], families: Sequence[str], shipped: str = SHIPPED) -> str:
    """Image AUC with photo-bootstrap intervals, and each engine's paired difference from the shipped one."""
    rows = [s for s in summary if s.get("bootstrap")]
    if not rows:
        return ""
    b0 = rows[0]["bootstrap"]
    out = [f"**Image AUC with 95 % intervals** (photo bootstrap: {b0['resamples']} resamples of the {b0['photos']} source photos, "  # type: ignore[index]
           f"each drawn photo with all its items; the difference from `{shipped}` is taken on the same resamples, so it is paired)\n",
           _head(["engine", "image AUC [95 % interval]", f"minus {shipped} [95 % interval]"])]
    for s in rows:
        b = s["bootstrap"]
        out.append(_row([s["engine"], f"{_f(s['image_auc'])} {_ci(b['image_auc_ci'])}", _diff(b.get("minus_shipped"))]))  # type: ignore[union-attr]
    ranked = [s for s in rows if "top1_ci" in s["bootstrap"]]  # type: ignore[operator]
    if ranked:
        out += ["", f"**Region top-1 with 95 % intervals** (all forgeries; same resamples, difference from `{shipped}` paired)\n",
                _head(["engine", "region top-1 [95 % interval]", f"minus {shipped} [95 % interval]"])]
        for s in ranked:
            b = s["bootstrap"]
            lo, hi = b["top1_ci"]  # type: ignore[index]
            out.append(_row([s["engine"], f"{_f(s['top1'], True)} [{_f(lo, True)}, {_f(hi, True)}]", _diff(b.get("top1_minus_shipped"))]))  # type: ignore[union-attr]
    ship = next((s for s in rows if s["engine"] == shipped), None)
    others = [s for s in rows if s["engine"] != shipped and s["group"] != "peer"]
    if ship is not None:
        out += ["", f"**Image AUC per family with 95 % intervals: {shipped}, and each engine's difference from it**\n",
                _head(["family", shipped, *[f"{s['engine']} minus {shipped}" for s in others]])]
        for f in families:
            cell = ship["bootstrap"]["by_family"].get(f)  # type: ignore[index]
            if cell is None:
                continue
            fam = ship["by_family"][f]  # type: ignore[index]
            out.append(_row([f, f"{_f(fam['image_auc'])} {_ci(cell['image_auc_ci'])}",
                             *[_diff((s["bootstrap"]["by_family"].get(f) or {}).get("minus_shipped")) for s in others]]))  # type: ignore[index, union-attr]
        pix = [s for s in others if s["level"] == "pixel"]
        fams = [f for f in families if "region_auc_ci" in (ship["bootstrap"]["by_family"].get(f) or {})]  # type: ignore[index, union-attr]
        if fams:
            out += ["", f"**Per-region AUC per family with 95 % intervals: {shipped}, and each engine's difference from it** "
                        "(same resamples; mean over regions as in the per-region table)\n",
                    _head(["family", shipped, *[f"{s['engine']} minus {shipped}" for s in pix]])]
            for f in fams:
                cell = ship["bootstrap"]["by_family"][f]  # type: ignore[index]
                out.append(_row([f, f"{_f(ship['by_family'][f]['region_auc_mean'])} {_ci(cell['region_auc_ci'])}",  # type: ignore[index]
                                 *[_diff((s["bootstrap"]["by_family"].get(f) or {}).get("region_minus_shipped")) for s in pix]]))  # type: ignore[index, union-attr]
    return "\n".join(out) + "\n"


def resolution_tables(summary: Sequence[dict[str, object]], families: Sequence[str], shipped: str = SHIPPED) -> str:
    """Image AUC by the face's size in its post-edit chain: every engine over all families, then the shipped engine per family."""
    rows = [s for s in summary if s.get("by_resolution")]
    if not rows:
        return ""
    bins = list(rows[0]["by_resolution"])  # type: ignore[arg-type]
    res = rows[0]["by_resolution"]
    out = ["**Image AUC by the face's size in its post-edit chain** (forgeries and untouched faces whose chain resampled the face "
           "to that many pixels and back, against each other; 512-1024 includes the chains without resampling)\n",
           _head(["face size (n forged / untouched)", *[str(s["engine"]) for s in rows]])]
    for b in bins:
        out.append(_row([f"{b} ({res[b]['n_fake']} / {res[b]['n_real']})", *[_f(s["by_resolution"][b]["image_auc"]) for s in rows]]))  # type: ignore[index]
    ship = next((s for s in rows if s["engine"] == shipped), None)
    if ship is not None:
        fams = [f for f in families if any(f in ship["by_resolution"][b]["by_family"] for b in bins)]  # type: ignore[index]
        out += ["", f"**Image AUC by face size and family: {shipped}**\n", _head(["family", *bins])]
        for f in fams:
            out.append(_row([f, *[_f(ship["by_resolution"][b]["by_family"].get(f, float("nan"))) for b in bins]]))  # type: ignore[index, union-attr]
    return "\n".join(out) + "\n"


def source_table(summary: Sequence[dict[str, object]]) -> str:
    """Image AUC within each photo source and across them (forgeries of one against the untouched
    faces of the other): a score that moves with the source more than with the edit shows here as a
    cross AUC far from the paired ones (forgetalk.metrics.source_aucs)."""
    rows = [s for s in summary if s.get("by_source")]
    keys = sorted({k for s in rows for k in s["by_source"]}, key=lambda k: (" vs " in k, k))  # type: ignore[union-attr]
    if not rows or not any(" vs " in k for k in keys):
        return ""
    out = ["**Image AUC within and across photo sources** (web photos `faces`, parsing set `parsing`; a cross column compares "
           "one source's forgeries with the other's untouched faces, as a test set whose real and forged photos come from "
           "different places would)\n", _head(["engine", *keys])]
    for s in rows:
        out.append(_row([s["engine"], *[_f(s["by_source"].get(k, float("nan"))) for k in keys]]))  # type: ignore[union-attr]
    return "\n".join(out) + "\n"


def render(summary: Sequence[dict[str, object]], families: Sequence[str], region_family_engines: Sequence[str] = ("evidence", SHIPPED)) -> str:
    """All tables as one Markdown block."""
    parts = [overall_table(summary), interval_tables(summary, families), family_tables(summary, families), resolution_tables(summary, families),
             source_table(summary),
             region_engine_table(summary, "part_swap"),
             *[region_family_table(s, families) for s in summary if s["engine"] in region_family_engines and s["level"] == "pixel"],
             prior_table(summary), lofo_table(lofo_rows(summary))]
    return "\n".join(p for p in parts if p).rstrip() + "\n"


def json_ready(x: object) -> object:
    """NaN -> None, numpy scalars -> Python, tuples -> lists (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_between_markers(path: Path, block: str) -> None:
    text = path.read_text(encoding="utf-8") if path.is_file() else f"{START}\n{END}\n"
    if START not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{START}\n{END}\n"
    pre, rest = text.split(START, 1)
    _, post = rest.split(END, 1)
    path.write_text(f"{pre}{START}\n{block}{END}{post}", encoding="utf-8")


# -- engines ------------------------------------------------------------------------------------


class SharedEvidence:
    """The evidence engine run once per face and shared by every fused engine of the run.

    Fused engines call ``analyze_face`` on it; a repeat call on the same face returns the stored
    output and counts a hit, and the caller adds :attr:`seconds` to that engine's time, so each
    engine's seconds/face still include the evidence it needs.
    """

    def __init__(self, engine: object) -> None:
        self.engine = engine
        self._face: object = None
        self._out: object = None
        self.seconds = 0.0
        self.hits = 0

    def analyze_face(self, face):  # noqa: ANN001, ANN201
        if self._face is not face:
            t = time.perf_counter()
            self._out = self.engine.analyze_face(face)  # type: ignore[attr-defined]
            self.seconds = time.perf_counter() - t
            self._face = face
        else:
            self.hits += 1
        return self._out

    def reset(self) -> None:
        self._face = self._out = None

    def __getattr__(self, name: str) -> object:
        return getattr(self.engine, name)


@contextmanager
def weights_root_env(root: Path | None) -> Iterator[None]:
    """``$FORGETALK_WEIGHTS`` pointed at ``root`` (unchanged if None), restored on exit."""
    from forgetalk.weights import ENV_WEIGHTS

    old = os.environ.get(ENV_WEIGHTS)
    if root is not None:
        os.environ[ENV_WEIGHTS] = str(root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_WEIGHTS, None)
        else:
            os.environ[ENV_WEIGHTS] = old


def variant_root(path: Path, tmp: Path) -> Path:
    """A weights root for ``path``: itself if it holds ``localizer/manifest.json``; a temporary root
    linking ``localizer`` to it if ``path`` is a localizer folder (``manifest.json`` beside the weights)."""
    path = path.expanduser().resolve()
    if (path / "localizer" / "manifest.json").is_file():
        return path
    if (path / "manifest.json").is_file():
        root = Path(tempfile.mkdtemp(prefix="variant-", dir=tmp))
        (root / "localizer").symlink_to(path, target_is_directory=True)
        return root
    raise FileNotFoundError(f"{path}: neither a weights root (localizer/manifest.json) nor a localizer folder (manifest.json)")


def _same_evidence(root: Path) -> bool:
    """True when ``root`` ships no evidence weights or the same manifest as the shipped ones."""
    from forgetalk.weights import weights_root

    mine = root / "evidence" / "manifest.json"
    if not mine.is_file():
        return True
    shipped = weights_root() / "evidence" / "manifest.json"
    return shipped.is_file() and mine.read_bytes() == shipped.read_bytes()


def load_mesonet_module():  # noqa: ANN201
    path = Path(__file__).resolve().parent / "mesonet.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    spec = importlib.util.spec_from_file_location("forgetalk_bench_mesonet", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def meso_input(face, framing: str = "crop", mod=None) -> np.ndarray:  # noqa: ANN001 - AlignedFace, module
    """What MesoNet is shown: the aligned 512 crop resized to 256 x 256 RGB (``crop``), or the
    original pipeline's face square cut from it (``original``: ``mesonet.mesonet_crop``)."""
    img = face.crop
    if framing == "original" and mod is not None and face.dense_landmarks is not None:
        img = mod.mesonet_crop(img, face.dense_landmarks)
    return cv2.resize(img, (MESO_INPUT, MESO_INPUT), interpolation=cv2.INTER_AREA if min(img.shape[:2]) > MESO_INPUT else cv2.INTER_LINEAR)


# -- the run ------------------------------------------------------------------------------------


def _show(p: Path | None) -> str:
    """A path as the command line should show it: relative to the repository root when close by."""
    if p is None:
        return "none"
    rel = os.path.relpath(p.resolve(), ROOT)
    return rel if not rel.startswith(os.pardir + os.sep + os.pardir) else str(p.resolve())


def greyscale_item(item, landmarks_of, counts: list[int]):  # noqa: ANN001, ANN201 - EvalItem, LandmarksOf | None
    """``item`` made greyscale (``forgetalk.train.evalset.greyscale_item``: luma in all three
    channels, landmarks measured on the grey crop, or kept with ``--real-landmarks``); ``counts[1]``
    counts crops where FaceMesh found no face, as ``iter_family_eval_set`` does. Why: the report
    warns that greyscale photos carry no colour evidence; this measures how much of each family the
    engines still find without it, and how the greyscale threshold does."""
    from forgetalk.train.evalset import greyscale_item as grey

    out, ok = grey(item, landmarks_of)
    counts[1] += not ok
    return out


def _label_sources(faces: Sequence[object], parsing: Sequence[object]) -> dict[str, str]:
    from forgetalk.train.evalset import face_name

    return {**{face_name(f): "faces" for f in faces}, **{face_name(f): "parsing" for f in parsing}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, default=None, help="face photos (default ../shared/faces when present; 'none' to leave out)")
    ap.add_argument("--parsing", type=Path, default=None, help="parsing set (default ../shared/parsing/celebamask_hq_1000 when present; 'none' to leave out)")
    ap.add_argument("--split", default="test", choices=["test", "val"], help="test = faces never used for training or calibration")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--per-face", type=int, default=0, help="forgeries per face (default: one per family)")
    ap.add_argument("--untouched-per-face", type=int, default=1,
                    help="untouched copies per face, each through its own chain (default 1, the README's draws; more narrows an interval the untouched side limits)")
    ap.add_argument("--real-landmarks", action="store_true",
                    help="give every item its untouched face's landmarks and regions (runs before 2026-11-26) instead of measuring them on the item's own crop")
    ap.add_argument("--greyscale", action="store_true",
                    help="make every item, untouched and forged, greyscale (luma in all three channels) after its chain and before its landmarks")
    ap.add_argument("--families", default="", help="comma-separated families of forgetalk.train.loop.ALL_FAMILIES or GUARD_FAMILIES (default: ALL_FAMILIES)")
    ap.add_argument("--limit-faces", type=int, default=0, help="quick run: at most N faces, split evenly over the sources")
    ap.add_argument("--engines", default="evidence,fused", help="comma-separated registered engines")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=WEIGHTS_ROOT", help="extra fused engine from another weights root (repeatable; lofo-<family> = leave-one-family-out)")
    ap.add_argument("--peers", default="all", help=f"MesoNet models: 'all', 'none' or a comma-separated subset of {','.join(MESO_MODELS)}")
    ap.add_argument("--pretrained", type=Path, default=ROOT.parent / "shared" / "pretrained", help="folder of meso_<model>.h5")
    ap.add_argument("--meso-framing", default="crop", choices=["crop", "original"],
                    help="crop = the aligned 512 crop resized to 256; original = MesoNet's own face square (mesonet.mesonet_crop)")
    ap.add_argument("--peer-threads", type=int, default=1, help="torch threads while MesoNet runs")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", type=Path, default=None, help="replace the tables between benchmark markers in this Markdown file")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731

    def source_dir(given: Path | None, default: Path) -> Path | None:
        if given is not None:
            if str(given).lower() == "none":
                return None
            if not given.is_dir():
                ap.error(f"{given} is not a folder")
            return given
        return default if default.is_dir() else None

    faces_dir = source_dir(a.faces, ROOT.parent / "shared" / "faces")
    parsing_dir = source_dir(a.parsing, ROOT.parent / "shared" / "parsing" / "celebamask_hq_1000")
    if faces_dir is None and parsing_dir is None:
        ap.error("no face source: give --faces and/or --parsing")
    for d in (faces_dir, parsing_dir):
        if d is not None and "holdout" in str(d.resolve()).lower():
            ap.error("the holdout set is not for this benchmark")
    import torch

    from forgetalk.engines import get_engine
    from forgetalk.errors import ForgetalkError
    from forgetalk.train.data import load_split_faces
    from forgetalk.train.data import split_rule_text as faces_rule
    from forgetalk.train.evalset import iter_family_eval_set, product_landmarks
    from forgetalk.train.loop import ALL_FAMILIES, GUARD_FAMILIES
    from forgetalk.train.parsing import load_parsing_split
    from forgetalk.train.parsing import split_rule_text as parsing_rule

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(1)
    known = (*ALL_FAMILIES, *GUARD_FAMILIES)
    families = tuple(f for f in a.families.split(",") if f) or ALL_FAMILIES
    unknown = [f for f in families if f not in known]
    if unknown:
        ap.error(f"unknown families {unknown}; known: {', '.join(known)}")
    per_face = a.per_face or len(families)
    n_src = (faces_dir is not None) + (parsing_dir is not None)
    lim = math.ceil(a.limit_faces / n_src) if a.limit_faces > 0 else None
    t0 = time.perf_counter()
    faces = load_split_faces(faces_dir, a.split, log=log)[:lim] if faces_dir is not None else []
    parsing = load_parsing_split(parsing_dir, a.split, limit=lim, log=log) if parsing_dir is not None else []
    if lim is not None and len(faces) + len(parsing) > a.limit_faces:
        parsing = parsing[: max(0, a.limit_faces - len(faces))]
    all_faces = [*faces, *parsing]
    if not all_faces:
        ap.error(f"no cached faces in the {a.split} split of the given sources")
    sources = _label_sources(faces, parsing)
    landmarks_of = None if a.real_landmarks else product_landmarks()
    untouched_per_face = max(1, a.untouched_per_face)
    # Items are made as they are scored (same draws as the list build_family_eval_set returns):
    # held all at once, three items of every family a face peaked at 22 GB.
    made = [0, 0]
    items = iter_family_eval_set(all_faces, seed=a.seed, families=families, forgeries_per_face=per_face, balanced=True,
                                 untouched_per_face=untouched_per_face, landmarks_of=None if a.greyscale else landmarks_of, counts=made)
    if a.greyscale:  # the same items and draws, made greyscale before their landmarks are measured
        items = (greyscale_item(it, landmarks_of, made) for it in items)
    n_items = len(all_faces) * (per_face + untouched_per_face)
    first = next(items)
    log(f"{len(faces)} + {len(parsing)} {a.split} faces -> {len(all_faces) * per_face} forgeries + {len(all_faces) * untouched_per_face} untouched, "
        f"made as they are scored ({time.perf_counter() - t0:.0f}s)")

    # Build engines; anything that cannot be built is skipped with a note.
    skipped: dict[str, str] = {}
    runners: list[tuple[EngineInfo, object]] = []  # (info, engine or mesonet model)
    shared_ev = None
    names = [n for n in a.engines.split(",") if n]
    if "evidence" in names or "fused" in names or a.variant:
        try:
            shared_ev = SharedEvidence(get_engine("evidence", device=a.device))
        except ForgetalkError as exc:
            skipped["evidence"] = str(exc)

    def pixel_info(name: str, eng: object, group: str, note: str = "", meta: dict[str, object] | None = None) -> EngineInfo:
        meta = meta or {}
        vt, pt = meta.get("threshold"), meta.get("pixel_threshold")
        return EngineInfo(name, "pixel", None if vt is None else float(vt), 0.5 if pt is None else float(pt),  # type: ignore[arg-type]
                          getattr(eng, "region_calibration", None) is not None, group, note)

    probe = first.face
    for n in names:
        try:
            if n == "evidence":
                if shared_ev is None:
                    continue
                eng: object = shared_ev
            elif n == "fused" and shared_ev is not None:
                eng = get_engine("fused", device=a.device, evidence=shared_ev)
            else:
                eng = get_engine(n, device=a.device)
            runners.append((pixel_info(n, eng, "engine", meta=eng.analyze_face(probe).meta), eng))  # type: ignore[attr-defined]
        except ForgetalkError as exc:
            skipped[n] = str(exc)
    tmp = Path(tempfile.mkdtemp(prefix="forgetalk-bench-"))
    for spec in a.variant:
        name, _, path = spec.partition("=")
        if not name or not path:
            skipped[spec] = "expected NAME=WEIGHTS_ROOT"
            continue
        try:
            root = variant_root(Path(path), tmp)
            share = shared_ev is not None and _same_evidence(root)
            with weights_root_env(root):
                from forgetalk.engines.fused import FusedEngine

                eng = FusedEngine(device=a.device, evidence=shared_ev if share else None)
            note = f"weights root {path}" + ("" if share else " (own evidence weights)")
            runners.append((pixel_info(name, eng, "variant", note, eng.analyze_face(probe).meta), eng))
        except Exception as exc:  # noqa: BLE001 - a variant that cannot be built is skipped, never fatal
            skipped[name] = f"{exc.__class__.__name__}: {exc}"
    peers = [] if a.peers == "none" else list(MESO_MODELS) if a.peers == "all" else [p for p in a.peers.split(",") if p]
    if peers:
        try:
            meso = load_mesonet_module()
            for p in peers:
                try:
                    model = meso.load_mesonet(a.pretrained / f"meso_{p}.h5")
                    float(meso.mesonet_fake_prob(model, meso_input(probe, a.meso_framing, meso)))
                    runners.append((EngineInfo(f"MesoNet {p}", "image", 0.5, group="peer", note=f"published peer, image level only, {a.meso_framing} framing"), (meso, model)))
                except Exception as exc:  # noqa: BLE001 - a peer that cannot run is skipped, never fatal
                    skipped[f"MesoNet {p}"] = f"{exc.__class__.__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001
            skipped["MesoNet"] = f"{exc.__class__.__name__}: {exc}"
    if shared_ev is not None:
        shared_ev.reset()  # the probe's evidence is not reused for timing
    for k, v in skipped.items():
        log(f"skip {k}: {v}")
    log("engines: " + ", ".join(i.name for i, _ in runners))

    # One pass over the items; every engine sees the face in turn (the evidence output is shared).
    records: list[ItemRecord] = []
    failed: set[str] = set()
    t_run = time.perf_counter()
    kinds: Counter[str] = Counter()
    for idx, it in enumerate(itertools.chain([first], items)):
        kinds[it.kind] += 1
        src = sources.get(it.photo, "")
        for info, eng in runners:
            if info.name in failed:
                continue
            try:
                if info.level == "image":
                    mod, model = eng  # type: ignore[misc]
                    t = time.perf_counter()
                    torch.set_num_threads(a.peer_threads)  # a tiny network: more threads only fight over the cores
                    try:
                        p = float(mod.mesonet_fake_prob(model, meso_input(it.face, a.meso_framing, mod)))
                    finally:
                        torch.set_num_threads(a.threads)
                    records.append(ItemRecord(info.name, idx, it.kind, bool(it.fake), src, p, time.perf_counter() - t, tuple(it.primary),
                                              native_px=int(getattr(it, "native_px", 512)), photo=str(it.photo)))
                    continue
                h0 = shared_ev.hits if shared_ev is not None else 0
                t = time.perf_counter()
                out = eng.analyze_face(it.face)  # type: ignore[attr-defined]
                secs = time.perf_counter() - t
                if shared_ev is not None and shared_ev.hits > h0:
                    secs += shared_ev.seconds  # the evidence this engine used was computed for an earlier engine
                records.append(record_pixel_item(info.name, idx, it, out.heatmap, out.score, secs, out.region_scores,
                                                 getattr(eng, "region_calibration", None), info.pixel_threshold or 0.5, src))
            except Exception as exc:
                if info.group == "engine":
                    raise
                failed.add(info.name)  # a variant or peer that fails mid-run is dropped with a note
                skipped[info.name] = f"failed on item {idx}: {exc.__class__.__name__}: {exc}"
                log(f"drop {info.name}: {skipped[info.name]}")
        if (idx + 1) % 25 == 0 or idx + 1 == n_items:
            el = time.perf_counter() - t_run
            log(f"  {idx + 1}/{n_items} items, {el:.0f}s, ~{el / (idx + 1) * (n_items - idx - 1):.0f}s left")
    if landmarks_of is not None:
        log(f"[evalset] landmarks re-measured on {made[0] - made[1]} of {made[0]} items ({made[1]} kept the real face's: FaceMesh found no face)")
    infos = [i for i, _ in runners if i.name not in failed]
    records = [r for r in records if r.engine not in failed]
    summary = summarize(records, infos, families)
    md = render(summary, families)

    n_photos = len({f.photo for f in faces})
    cmd = ["python", "benchmarks/localization.py", "--faces", _show(faces_dir), "--parsing", _show(parsing_dir),
           "--split", a.split, "--seed", str(a.seed), "--per-face", str(per_face), "--engines", a.engines, "--peers", a.peers]
    if a.families:
        cmd += ["--families", a.families]
    if a.untouched_per_face > 1:
        cmd += ["--untouched-per-face", str(a.untouched_per_face)]
    if a.meso_framing != "crop":
        cmd += ["--meso-framing", a.meso_framing]
    if a.limit_faces:
        cmd += ["--limit-faces", str(a.limit_faces)]
    for v in a.variant:
        cmd += ["--variant", v]
    if a.real_landmarks:
        cmd += ["--real-landmarks"]
    if a.greyscale:
        cmd += ["--greyscale"]
    setup = (f"Set: {len(all_faces)} held-out faces ({len(faces)} from the `{a.split}` split of `{faces_dir.name if faces_dir else '-'}/` ({n_photos} photos), "
             f"{len(parsing)} from the `{a.split}` split of `{parsing_dir.name if parsing_dir else '-'}/`), "
             f"{sum(n for k, n in kinds.items() if k != 'real')} forgeries ({', '.join(f'{k} {kinds[k]}' for k in families if kinds.get(k))}) + {kinds.get('real', 0)} untouched faces; "
             f"{per_face} forgeries{f' and {a.untouched_per_face} untouched copies' if a.untouched_per_face > 1 else ''} per face, families round-robin from a seeded offset, every item (untouched included) through its own post-edit chain "
             f"(forgetalk.synth.chain){', then made greyscale' if a.greyscale else ''}, then {'the untouched face' + chr(39) + 's landmarks' if a.real_landmarks else 'landmarks and regions measured on its own crop by FaceMesh'}; "
             f"seed {a.seed}. Split rules: faces: {faces_rule()}; parsing set: {parsing_rule()}. "
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch threads {a.threads}, device {a.device}. Command: `{shlex.join(cmd)}`.")
    if skipped:
        setup += " Skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + "."
    print(md)
    print(setup)
    if a.json:
        # Per-item scores, truth and ranking: later comparisons (paired, by photo) of the image AUC
        # and of the region top-1 need no rerun.
        items_out = [{"engine": r.engine, "index": r.index, "photo": r.photo, "kind": r.kind, "fake": r.fake, "score": r.score, "native_px": r.native_px,
                      "primary": list(r.primary), "ranking": list(r.ranking)} for r in records]
        a.json.write_text(json.dumps(json_ready({"setup": setup, "families": list(families), "engines": [asdict(i) for i in infos], "summary": summary,
                                                 "lofo": lofo_rows(summary), "skipped": skipped, "items": items_out}), indent=2), encoding="utf-8")
    if a.write:
        write_between_markers(a.write, f"{md}\n{setup}\n")
    shutil.rmtree(tmp, ignore_errors=True)  # only links to variant folders
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
