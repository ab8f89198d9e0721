"""Localization and ranking metrics (pure numpy), shared by training, calibration and benchmarks.

Why here and not in the benchmark: the fused engine's threshold is chosen with the same
functions the benchmark reports, so "best" and "shipped" thresholds mean the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); nan if one class is absent."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64).ravel(), nan=0.0)
    y = np.asarray(labels).astype(bool).ravel()
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties
    idx = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1, s.size]
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0  # 1-based mean rank of positions a..b-1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def separation_auc(pos: Sequence[float] | np.ndarray, neg: Sequence[float] | np.ndarray) -> float:
    """:func:`roc_auc` of scores ``pos`` (forged, positive) against ``neg`` (untouched): the
    probability that a positive outscores a negative, ties counting half."""
    p, n = np.asarray(pos, np.float64).ravel(), np.asarray(neg, np.float64).ravel()
    return roc_auc(np.r_[p, n], np.r_[np.ones(p.size), np.zeros(n.size)])


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of two boolean masks; 1.0 when both are empty."""
    p, g = np.asarray(pred, bool), np.asarray(gt, bool)
    union = int((p | g).sum())
    return 1.0 if union == 0 else float((p & g).sum()) / union


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0.0 when both are empty."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def f1(pred: np.ndarray, gt: np.ndarray) -> float:
    """Pixel F1 (= Dice); 1.0 when both are empty."""
    p, g = np.asarray(pred, bool), np.asarray(gt, bool)
    denom = int(p.sum()) + int(g.sum())
    return 1.0 if denom == 0 else 2.0 * float((p & g).sum()) / denom


def best_threshold_f1(scores: np.ndarray, gt: np.ndarray, n_bins: int = 256) -> tuple[float, float]:
    """(best F1, its threshold) over thresholds on a [0, 1] grid, pooled over all pixels given.

    Histogram-based so that millions of pixels cost one pass; thresholds are bin edges.
    """
    s = np.clip(np.nan_to_num(np.asarray(scores, np.float64).ravel(), nan=0.0), 0.0, 1.0)  # NaN = no evidence
    g = np.asarray(gt, bool).ravel()
    bins = np.minimum((s * n_bins).astype(np.int64), n_bins - 1)
    pos = np.bincount(bins[g], minlength=n_bins)[::-1].cumsum()[::-1]  # count with bin >= k
    neg = np.bincount(bins[~g], minlength=n_bins)[::-1].cumsum()[::-1]
    tp = pos.astype(np.float64)
    fp = neg.astype(np.float64)
    fn = float(g.sum()) - tp
    denom = 2 * tp + fp + fn
    f = np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)
    k = int(np.argmax(f))
    return float(f[k]), k / n_bins


def topk_accuracy(rankings: Sequence[Sequence[str]], truths: Sequence[Sequence[str] | str], k: int) -> float:
    """Fraction of cases where any true region is among the first ``k`` ranked regions."""
    if not rankings:
        return float("nan")
    hits = 0
    for ranked, truth in zip(rankings, truths, strict=True):
        t = {truth} if isinstance(truth, str) else set(truth)
        hits += bool(t & set(list(ranked)[:k]))
    return hits / len(rankings)


def wilson_interval(rate: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``rate`` measured on ``n`` independent units (95 %
    for the default z). Why Wilson: at the rates a verdict threshold is set to (about 5 %) and a
    few hundred faces, the normal approximation's interval runs below zero; Wilson's does not."""
    if n <= 0:
        return 0.0, 1.0
    p = min(max(float(rate), 0.0), 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * float(np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def threshold_at_fpr(real_scores: np.ndarray, target_fpr: float, *, above_passed: bool = False) -> tuple[float, float]:
    """Smallest threshold t with FPR = mean(real >= t) <= target; returns (t, measured FPR).

    Why the smallest: it keeps sensitivity as high as the stated false-positive rate allows.

    The real scores split into those left unflagged (below t) and those flagged (>= t); any t
    in the gap between the highest unflagged and the lowest flagged real score gives that same
    split and the same measured FPR. Where in the gap t sits matters only for new scores:

    * default: t is the lowest flagged real score itself (the fused engine's calibration,
      ``forgetalk.train.calibrate``);
    * ``above_passed=True``: t is the next float above the highest unflagged real score, so a
      new score anywhere in the gap is flagged (the evidence engine's calibration,
      ``forgetalk.train.evidence_calibration``, whose shipped threshold was chosen this way).
      When every real score is flagged (target >= 1) there is no unflagged score and t is the
      lowest real score, as by default.

    With no real scores the threshold is 0.5 and the FPR is nan.
    """
    r = np.sort(np.asarray(real_scores, np.float64).ravel())
    if r.size == 0:
        return 0.5, float("nan")
    candidates = np.r_[np.unique(r), np.nextafter(r[-1], np.inf)]
    for i, t in enumerate(candidates):
        fpr = float((r >= t).mean())
        if fpr <= target_fpr:
            if above_passed and i > 0:
                return float(np.nextafter(candidates[i - 1], np.inf)), fpr
            return float(t), fpr
    return float(candidates[-1]), 0.0  # pragma: no cover - last candidate always qualifies


@dataclass(frozen=True)
class PixelSummary:
    """Pooled pixel metrics over a set of forged faces."""

    auc: float
    best_f1: float
    best_threshold: float
    iou_best: float
    f1_at: float
    iou_at: float
    threshold: float


def pixel_summary(heatmaps: Sequence[np.ndarray], masks: Sequence[np.ndarray], threshold: float, valid: Sequence[np.ndarray] | None = None) -> PixelSummary:
    """Pixel AUC (pooled), best-threshold F1 (pooled), mean per-image IoU/F1 at the best and at ``threshold``.

    ``valid`` restricts pixels (e.g. to the dilated face oval) so the background does not
    inflate AUC.
    """
    sel = [np.ones_like(m, bool) for m in masks] if valid is None else [np.asarray(v, bool) for v in valid]
    s_all = np.concatenate([h[v].ravel() for h, v in zip(heatmaps, sel, strict=True)])
    g_all = np.concatenate([np.asarray(m, bool)[v].ravel() for m, v in zip(masks, sel, strict=True)])
    auc = roc_auc(s_all, g_all)
    bf1, bt = best_threshold_f1(s_all, g_all)
    iou_b = float(np.mean([iou(h >= bt, m) for h, m in zip(heatmaps, masks, strict=True)]))
    iou_t = float(np.mean([iou(h >= threshold, m) for h, m in zip(heatmaps, masks, strict=True)]))
    f1_t = float(np.mean([f1(h >= threshold, m) for h, m in zip(heatmaps, masks, strict=True)]))
    return PixelSummary(auc, bf1, bt, iou_b, f1_t, iou_t, threshold)


def source_aucs(scores: np.ndarray, y: np.ndarray, source: list[str]) -> dict[str, float]:
    """Image AUCs of ``scores`` within and across photo sources (pure; a pair lacking a class is left out).

    ``"a"``: source a's forgeries against its own untouched faces (paired, the usual number);
    ``"a forged vs b untouched"``: against the other source's untouched faces. Why recorded: a
    test set's real and forged photos need not share a source, and a face score that moves with
    the source more than with the edit is at chance on such a set while every paired AUC looks
    fine (at 160 px, web-photo forgeries against untouched parsing-set photos: 0.53 on the test
    split, ``benchmarks/image_score.py --against``; docs/localizer_history.md).
    """
    src = np.asarray(source)
    out: dict[str, float] = {}
    names = sorted(set(source))
    for a in names:
        for b in names:
            pos, neg = (y == 1) & (src == a), (y == 0) & (src == b)
            if pos.any() and neg.any():
                out[a if a == b else f"{a} forged vs {b} untouched"] = round(separation_auc(scores[pos], scores[neg]), 4)
    return out


def weighted_auc(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """ROC AUC with item weights (ties count half): the AUC of a resample that holds item i
    ``w[i]`` times, computed without building it. Equals :func:`roc_auc` for unit weights. Used by
    the bootstraps that resample photos or faces, not items (benchmarks/localization.py,
    benchmarks/localizer_screen.py)."""
    order = np.argsort(s, kind="mergesort")
    s, y, w = s[order], y[order], w[order]
    start = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(np.where(y, w, 0.0), start)
    neg = np.add.reduceat(np.where(y, 0.0, w), start)
    den = pos.sum() * neg.sum()
    return float((pos * (np.cumsum(neg) - 0.5 * neg)).sum() / den) if den > 0 else float("nan")
