"""Build the evidence engine's real-face calibration (``weights/evidence/calibration.npz``).

    python -m forgetalk.train.evidence_calibration --faces ../shared/faces      (make calibrate)

Location/region statistics come from the *train* split of the real photos; the face-score
threshold is then chosen on the *validation* split at a stated false-positive rate. The
test split (and any external hold-out) is never read, so benchmarks on it stay honest.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..engines.evidence.calibration import build_calibration, save_calibration
from ..engines.evidence.engine import CALIBRATION_FILE, COMPONENT, EvidenceEngine
from ..faces.regions import regions_from_mesh
from ..io import atomic_write_bytes
from ..metrics import threshold_at_fpr
from ..weights import weights_root
from .manifest import pin_in_manifest

TARGET_FPR = 0.05


def _faces(cached):  # noqa: ANN001, ANN202 - iterable of CachedFace
    for cf in cached:
        regions, oval = regions_from_mesh(cf.landmarks)
        yield cf.crop, regions, oval


def main(argv: list[str] | None = None) -> int:
    from ..faces import AlignedFace, DetectedFace
    from .data import load_split_faces, split_rule_text

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target-fpr", type=float, default=TARGET_FPR)
    args = ap.parse_args(argv)
    out_dir = args.out or (weights_root() / COMPONENT)
    t0 = time.time()
    train = load_split_faces(args.faces, "train", args.seed, log=print)
    val = load_split_faces(args.faces, "val", args.seed, log=print)
    cal = build_calibration(_faces(train), {"split": "train", "split_rule": split_rule_text(args.seed), "photos": sorted({f.photo for f in train})})
    # Threshold on validation real faces, scored by the calibrated engine.
    engine = EvidenceEngine(calibration=cal)
    scores = []
    for cf in val:
        regions, oval = regions_from_mesh(cf.landmarks)
        det = DetectedFace(box=(0, 0, 512, 512), score=1.0, landmarks5=np.zeros((5, 2), np.float32))
        face = AlignedFace(0, det, cf.crop, np.eye(2, 3), np.eye(2, 3), regions, oval, cf.landmarks)
        scores.append(engine.analyze_face(face).score)
    # The threshold sits just above the highest unflagged validation score (how the shipped one was chosen).
    thr, fpr = threshold_at_fpr(np.array(scores), args.target_fpr, above_passed=True)
    meta = dict(cal.meta)
    meta.update(threshold=thr, target_fpr=args.target_fpr, measured_fpr=fpr, n_val_faces=len(val), threshold_split="val")
    # Wall time is printed, not stored: the file must come out byte-identical when rebuilt.
    seconds = round(time.time() - t0, 1)
    cal = replace(cal, meta=meta)
    data = save_calibration(cal, out_dir / CALIBRATION_FILE)
    atomic_write_bytes(out_dir / CALIBRATION_FILE, data)
    # Replace only this file's entry: the manifest also pins consistency.json (consistency_calibration).
    pin_in_manifest(
        out_dir, CALIBRATION_FILE, data, "pickle-free npz: real-face statistics of the cues; required (the engine refuses to run without it, exit 5)", COMPONENT, required=True,
        component_description="Real-face statistics of the evidence cues (per location and per region) and the calibrated face-score threshold; built by forgetalk.train.evidence_calibration.",
    )  # fmt: skip
    print(json.dumps({"faces_train": len(train), "faces_val": len(val), "threshold": thr, "measured_fpr": fpr, "seconds": seconds}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
