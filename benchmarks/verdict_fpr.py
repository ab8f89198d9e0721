"""False-positive rate of the shipped verdict threshold on untouched faces, per split and face set.

    .venv/bin/python benchmarks/verdict_fpr.py [--faces ../shared/faces] [--parsing ../shared/parsing/celebamask_hq_1000] [--seeds 7,8]

Why: the threshold is set at 5 % false positives on the validation split's untouched items, drawn
once (forgetalk.train.calibrate). This scores the untouched faces of the validation and test
splits again, each through freshly drawn post-edit chains (one draw per seed), so the table shows
how far the rate moves with the chains and with the faces, beside the rate the report states,
and, per split, the rate pooled over face sets and draws with its 95 % interval counting faces
(as the report's own interval does).
Each item's landmarks are measured on its own crop by FaceMesh, as an analysis (and the
calibration) does; ``--real-landmarks`` keeps the cached face's, as runs before 2026-11-26 did.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forgetalk.engines import get_engine  # noqa: E402
from forgetalk.metrics import wilson_interval  # noqa: E402
from forgetalk.train.data import load_split_faces  # noqa: E402
from forgetalk.train.evalset import product_landmarks, untouched_eval_items  # noqa: E402
from forgetalk.train.parsing import load_parsing_split  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    ap.add_argument("--parsing", type=Path, default=REPO.parent / "shared" / "parsing" / "celebamask_hq_1000")
    ap.add_argument("--seeds", default="7,8", help="one fresh chain draw per seed")
    ap.add_argument("--real-landmarks", action="store_true", help="keep the cached face's landmarks instead of measuring them on each item")
    a = ap.parse_args()
    landmarks_of = None if a.real_landmarks else product_landmarks()
    engine = get_engine("fused")
    cal = engine.calibration
    print(f"threshold {cal.threshold:.4f}; stated validation false-positive rate {100 * (cal.measured_fpr or 0):.1f} %")
    print("| split | face set | faces | " + " | ".join(f"FPR, chains seed {s}" for s in a.seeds.split(",")) + " |")
    print("|---|---|---|" + "---|" * len(a.seeds.split(",")))
    pooled: dict[str, list[int]] = {}
    for split in ("val", "test"):
        for name, group in (("faces", load_split_faces(a.faces, split)), ("parsing", load_parsing_split(a.parsing, split))):
            rates = []
            for seed in (int(s) for s in a.seeds.split(",")):
                scores = np.array([engine.analyze_face(it.face).score for it in untouched_eval_items(group, seed=seed, landmarks_of=landmarks_of)])
                rates.append(f"{100 * float((scores >= cal.threshold).mean()):.1f} %")
                tally = pooled.setdefault(split, [0, 0, 0])
                tally[0] += int((scores >= cal.threshold).sum())
                tally[1] += len(scores)
            pooled[split][2] += len(group)
            print(f"| {split} | {name} | {len(group)} | " + " | ".join(rates) + " |", flush=True)
    # Pooled over face sets and chain draws. The interval counts faces, not items: one face's
    # draws are not independent (the report's own interval counts faces the same way).
    for split, (flagged, items, faces) in pooled.items():
        lo, hi = wilson_interval(flagged / items, faces)
        print(f"{split}: {flagged} of {items} untouched items flagged, {100 * flagged / items:.1f} % "
              f"(95 % interval {100 * lo:.1f}-{100 * hi:.1f} %, counting the {faces} faces)")


if __name__ == "__main__":
    main()
