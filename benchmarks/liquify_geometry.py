"""How far a liquify warp moves the landmarks an analysis measures, against how much real faces differ.

    .venv/bin/python benchmarks/liquify_geometry.py --bundle .devdata/val_bundle.npz

Why: a liquify warp leaves the fine texture as it was (``benchmarks/family_visibility.py``), so
its only twin-free trace would be the geometry: an eye too large, a nose too narrow. The
consistency cues judge exactly that (``part_size``, ``eye_area``, ``eye_openness``: landmarks
FaceMesh finds on the crop, against real-face statistics), yet score 0.40-0.58 on liquified
validation faces (docs/localizer_history.md, "Do the geometry cues catch liquify?"). Either
FaceMesh does not follow the warp, or it does and the change stays inside the spread of real
faces. This applies each op of the family alone (``forgetalk.synth.warps.liquify``, the
family's own strengths) to validation faces, enlarges twin and warped crop to the analysis size
as an analysis does, runs the product's FaceMesh on both and prints, per op, the ratio of the
part's measures (warped over twin; widths relative to the inter-ocular distance) as a median and
interquartile range, next to the spread of the same measure over the untouched twins (the
interquartile range of the measure divided by its median), and the AUC a cue that flags the
measure for being unusual in either direction would reach (:func:`two_sided_auc`): a warp whose
median change is well inside that spread cannot be told from an ordinary face of that shape.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forgetalk.synth.warps import liquify  # noqa: E402
from forgetalk.train.bundle import validation_bundle  # noqa: E402

#: FaceMesh point pairs of the measures (image-left eye first).
EYE_CORNERS = ((33, 133), (362, 263))
EYE_LIDS = ((159, 145), (386, 374))
NOSE_WINGS = (64, 294)
MOUTH_CORNERS = (61, 291)
#: Each measure's point pairs (their mean length, over the inter-ocular distance).
MEASURES: dict[str, tuple[tuple[int, int], ...]] = {
    "eye width": EYE_CORNERS, "eye opening": EYE_LIDS, "nose width": (NOSE_WINGS,), "mouth width": (MOUTH_CORNERS,),
}
#: The ops measured and the measures each should move.
OPS: dict[str, tuple[str, ...]] = {
    "eyes_bigger": ("eye width", "eye opening"), "eyes_smaller": ("eye width", "eye opening"),
    "nose_slimmer": ("nose width",), "mouth_bigger": ("mouth width",), "mouth_smaller": ("mouth width",),
}
ANALYSIS_PX = 512  # the aligned crop an analysis measures landmarks on


def inter_ocular(lm: np.ndarray) -> float:
    """Distance between the two eyes' corner midpoints (px)."""
    (a, b), (c, d) = EYE_CORNERS
    return float(np.linalg.norm((lm[a] + lm[b]) / 2 - (lm[c] + lm[d]) / 2))


def measure(lm: np.ndarray, pairs: tuple[tuple[int, int], ...], per_iod: bool) -> float:
    """Mean length of the point pairs, over the inter-ocular distance when ``per_iod`` (pure)."""
    length = float(np.mean([np.linalg.norm(lm[i] - lm[j]) for i, j in pairs]))
    return length / inter_ocular(lm) if per_iod else length


def quartiles(x: list[float]) -> tuple[float, float, float]:
    q = np.quantile(np.asarray(x, np.float64), [0.25, 0.5, 0.75])
    return float(q[0]), float(q[1]), float(q[2])


def two_sided_auc(real: list[float], warped: list[float]) -> float:
    """AUC of ``|log(x) - median| / sd`` (the untouched faces' log median and SD): how well a cue
    that flags a part for being unusual in either direction, as the consistency cues' size terms
    do, tells the warped faces from the untouched ones (pure). No post-edit chain touches either
    set here, so it is an upper estimate of what such a cue would score in an analysis."""
    from forgetalk.metrics import weighted_auc

    lr = np.log(np.asarray(real, np.float64))
    med, sd = float(np.median(lr)), float(np.std(lr)) or 1.0
    z = np.abs(np.r_[lr, np.log(np.asarray(warped, np.float64))] - med) / sd
    y = np.r_[np.zeros(len(lr)), np.ones(len(warped))]
    return float(weighted_auc(z, y, np.ones(len(y))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=validation_bundle, required=True, help="bundle of the validation split")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N faces (0: all)")
    ap.add_argument("--seed", type=int, default=1000)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    bundle = args.bundle
    from forgetalk.train.evalset import product_landmarks

    landmarks_of = product_landmarks()
    recs = bundle.records[: args.limit] if args.limit else bundle.records
    ratios: dict[tuple[str, str], list[float]] = {}
    warped_values: dict[tuple[str, str], list[float]] = {}
    twins = {}
    for i, rec in enumerate(recs):
        found = landmarks_of(cv2.resize(rec.crop, (ANALYSIS_PX, ANALYSIS_PX), interpolation=cv2.INTER_CUBIC))
        if found is not None:
            twins[i] = np.asarray(found, np.float32)
    for op, measures in OPS.items():
        for i, rec in enumerate(recs):
            if i not in twins:
                continue
            smp = liquify(rec, np.random.default_rng([args.seed, i]), ops=op, p_two=0.0)
            found = landmarks_of(cv2.resize(smp.image, (ANALYSIS_PX, ANALYSIS_PX), interpolation=cv2.INTER_CUBIC))
            if found is None:
                continue
            warped = np.asarray(found, np.float32)
            for name in measures:
                value = measure(warped, MEASURES[name], True)
                ratios.setdefault((op, name), []).append(value / measure(twins[i], MEASURES[name], True))
                warped_values.setdefault((op, name), []).append(value)
    spread = {name: [measure(lm, pairs, True) for lm in twins.values()] for name, pairs in MEASURES.items()}
    print(f"Liquify ops against FaceMesh on the warped crop ({len(twins)} validation faces enlarged to {ANALYSIS_PX} px, "
          f"one warp per op and face at the family's strengths, seed {args.seed})\n")
    print("| op | measure | faces | warped / twin: median [IQR] | real faces' spread of the measure (IQR / median) | AUC of a two-sided z against the untouched faces |")
    print("|---|---|---|---|---|---|")
    for (op, name), r in ratios.items():
        lo, med, hi = quartiles(r)
        slo, smed, shi = quartiles(spread[name])
        auc = two_sided_auc(spread[name], warped_values[(op, name)])
        print(f"| {op} | {name} | {len(r)} | {med:.3f} [{lo:.3f}, {hi:.3f}] | {(shi - slo) / smed:.1%} | {auc:.3f} |")
    print("\nA median change well inside the real faces' spread is an ordinary face of another shape to a cue "
          "that compares the part with real faces.")


if __name__ == "__main__":
    main()
