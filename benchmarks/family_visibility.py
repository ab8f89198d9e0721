"""How visible each forgery family's edit still is at the localizer's input scale, after the chains.

    .venv/bin/python benchmarks/family_visibility.py --bundle .devdata/val_bundle.npz

Why: ``liquify`` and ``inpaint`` stay barely learnt even when trained on (validation head AUC
0.57-0.63 and 0.56-0.57 by network, docs/localizer.md), so "train longer" is not the next step
until it is known whether their edits survive the post-edit chain and the resize to the network's
input at all. This forges, on every face of a validation-split bundle, one (untouched twin,
forgery) pair per family exactly as training does (:func:`forgetalk.train.loop.family_pair`: the
same photometric change, beauty retouch and post-edit chain for both twins), resizes both to each
input size as a training batch does (``INTER_AREA``), and measures the per-pixel difference
between the twins: nothing but the edit separates them. Printed per family and size: the share of
the crop the truth mask covers, the mean absolute difference inside the mask (grey levels, the
largest of the three channels), the share of mask pixels that differ by at least ``--levels``
grey levels, the share of pixels outside the mask that differ that much (the chain's own
spread of the edit: JPEG blocks that straddle the border, resampling kernels), and the ratio of
the fine texture (high-pass RMS) inside the mask, forgery over twin. The difference says how much
the content changed; the texture ratio says whether a *local* trace is left that a network could
find without the twin (a warped eye is still an eye: large difference, the same texture).

Reading it: an edit whose mask pixels mostly differ by less than a JPEG save's rounding is not a
pixel-level target a network can find at that scale; its only trace is the geometry or colour
of the whole part, which the image-level score and the consistency cues see better than the mask
head. No network runs; the numbers depend only on the generators, the chains and the sizes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forgetalk.synth.families import FAMILY_NAMES  # noqa: E402
from forgetalk.train.bundle import validation_bundle  # noqa: E402
from forgetalk.train.loop import family_pair  # noqa: E402

SIZES = (128, 192, 256)  # 256: the bundles' synthesis size (the edits are made there)
#: A pair's texture "changed" when the high-pass RMS ratio leaves [1/x, x].
TEXTURE_CHANGED = 1.25


@dataclass(frozen=True)
class PairDiff:
    """One (twin, forgery) pair at one size."""

    mask_share: float  # truth mask's share of the crop
    mean_in: float  # mean |difference| inside the mask, grey levels (largest channel)
    visible_in: float  # share of mask pixels differing by >= levels
    visible_out: float  # share of pixels outside the mask differing by >= levels
    texture_ratio: float  # high-pass RMS inside the mask, forgery over twin (1: the texture is unchanged)


def highpass_rms(img: np.ndarray, mask: np.ndarray) -> float:
    """RMS of the grey image minus its Gaussian blur (sigma 1 px) over ``mask`` (pure): the sensor
    noise and fine texture a resampling, a smoothing or a fill removes and a paste replaces."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    hp = g - cv2.GaussianBlur(g, (0, 0), 1.0)
    return float(np.sqrt(np.mean(hp[mask] ** 2)))


def pair_diff(twin: np.ndarray, fake: np.ndarray, mask: np.ndarray, size: int, levels: float) -> PairDiff | None:
    """The twins' difference at ``size`` (pure). None when the resized mask is empty."""
    t8 = cv2.resize(twin, (size, size), interpolation=cv2.INTER_AREA)
    f8 = cv2.resize(fake, (size, size), interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0.5
    if not m.any():
        return None
    d = np.abs(f8.astype(np.float32) - t8.astype(np.float32)).max(axis=2)
    out = ~m
    return PairDiff(float(m.mean()), float(d[m].mean()), float((d[m] >= levels).mean()),
                    float((d[out] >= levels).mean()) if out.any() else 0.0,
                    highpass_rms(f8, m) / max(highpass_rms(t8, m), 1e-6))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=validation_bundle, required=True, help="bundle of the validation split")
    ap.add_argument("--families", default=",".join(FAMILY_NAMES))
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--levels", type=float, default=4.0, help="a pixel 'differs' by at least this many grey levels")
    ap.add_argument("--beauty", type=float, default=0.3, help="share of hosts retouched as a whole first (the training recipe's)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N faces (0: all)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    bundle = args.bundle
    recs = bundle.records[: args.limit] if args.limit else bundle.records
    fams = args.families.split(",")
    unknown = [f for f in fams if f not in FAMILY_NAMES]
    if unknown:
        sys.exit(f"unknown families {unknown}; expected some of {', '.join(FAMILY_NAMES)}")
    print(f"Twin difference by family and input size ({len(recs)} validation faces, one pair each, seed {args.seed}, "
          f"chains on, beauty {args.beauty}; 'visible' = at least {args.levels:g} grey levels)\n")
    print("| family | mask share | " + " | ".join(f"{s} px: mean in mask / visible in / visible out / texture ratio (changed)" for s in SIZES) + " |")
    print("|---|---|" + "---|" * len(SIZES))
    for fam in fams:
        rng = np.random.default_rng([args.seed, FAMILY_NAMES.index(fam)])  # each family its own draws, whichever are asked for
        got: dict[int, list[PairDiff]] = {s: [] for s in SIZES}
        for rec in recs:
            twin, fake = family_pair(rec, rng, recs, (fam,), True, args.beauty, "local")
            for s in SIZES:
                d = pair_diff(twin.image, fake.image, fake.mask, s, args.levels)
                if d is not None:
                    got[s].append(d)
        share = np.median([d.mask_share for d in got[SIZES[-1]]]) if got[SIZES[-1]] else float("nan")
        cells = []
        for s in SIZES:
            ds = got[s]
            if not ds:
                cells.append("-")
                continue
            ratio = np.array([d.texture_ratio for d in ds])
            changed = float(np.mean(np.abs(np.log(ratio)) > np.log(TEXTURE_CHANGED)))
            cells.append(f"{np.median([d.mean_in for d in ds]):.1f} / {100 * np.median([d.visible_in for d in ds]):.0f} % / "
                         f"{100 * np.median([d.visible_out for d in ds]):.1f} % / {np.median(ratio):.2f} ({100 * changed:.0f} %)")
        print(f"| {fam} | {100 * share:.1f} % | " + " | ".join(cells) + " |", flush=True)
    print("\nMedians over faces. 'mean in mask' is grey levels (0-255, the largest channel's difference). 'texture ratio':"
          " the high-pass RMS (grey minus its 1 px blur) inside the mask, forgery over twin; in brackets the share of"
          f" pairs where it moved by more than a factor {TEXTURE_CHANGED:g} either way (a local trace of the edit).")


if __name__ == "__main__":
    main()
