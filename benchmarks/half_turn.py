"""Upside-down faces the detector reads as upright: how much more confident is it on the photo
turned half a turn, against upright faces?

    python benchmarks/half_turn.py --faces ../shared/faces \\
        --parsing ../shared/parsing/celebamask_hq_1000 [--json rows.json [--from]]

Why: RetinaFace reports about half of upside-down faces as if upright (landmarks level, the eyes
above the mouth), so nothing in the landmarks says the crop is upside down, and those untouched
faces were flagged 52 % of the time (``benchmarks/turned_faces.py``). The detector's confidence on
the photo turned half a turn is the cue ``forgetalk/faces/upright.py`` uses; this measures it and
the margin its rule needs (:data:`~forgetalk.faces.upright.MIN_HALF_TURN_GAIN`, chosen on the
training split, checked on the validation and test splits).

What it does: every photo of every split (development photos and parsing set), as it is and
turned half a turn (``np.rot90``, nothing resampled), goes through the default backend's detector
as it is (no turned copies), and so does its half-turned copy. Every face that reads level (tilt
at most ``MAX_TILT_DEG``) and whose same face (box overlap >= ``MIN_MATCH_IOU``) on the half-turned
copy reads level too gives one row: the two confidences. Upright photos' rows are upright faces;
half-turned photos' rows are upside-down faces read as upright. Printed per split and orientation:
rows, how many gain more than each margin in log-odds (the copy's minus the face's), the largest
gain of upright faces, and the highest confidence of upside-down faces (what the rule's gate,
``HALF_TURN_GATE``, must stay above).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from verdict_fpr_photos import json_rows, split_photos_of  # noqa: E402

from forgetalk.faces.upright import log_odds  # noqa: E402

SPLITS = ("train", "val", "test")
MARGINS = (0.0, 0.5, 0.8, 1.0, 1.5)


def measure(faces_dir: Path | None, parsing_dir: Path | None) -> list[dict[str, object]]:
    """One row per level face with a level match on the half-turned copy, both ways up."""
    from forgetalk.faces.default_backend import RetinaMeshBackend
    from forgetalk.faces.upright import MAX_TILT_DEG, MIN_MATCH_IOU, _box_of, _corners, tilt_degrees, turn_points
    from forgetalk.metrics import box_iou

    backend = RetinaMeshBackend()
    rows: list[dict[str, object]] = []
    for split in SPLITS:
        for name, rgb in split_photos_of(faces_dir, parsing_dir, split):
            for k in (0, 2):
                img = np.ascontiguousarray(np.rot90(rgb, k))
                faces = backend._detect_as_is(img)
                if not faces:
                    continue
                half = backend._detect_as_is(np.ascontiguousarray(np.rot90(img, 2)))
                for f in faces:
                    if tilt_degrees(f.landmarks5) > MAX_TILT_DEG:
                        continue
                    want = _box_of(turn_points(_corners(f.box), 2, img.shape[:2]))
                    m = max(half, key=lambda d: box_iou(d.box, want), default=None)  # noqa: B023 - used at once
                    if m is None or box_iou(m.box, want) < MIN_MATCH_IOU or tilt_degrees(m.landmarks5) > MAX_TILT_DEG:
                        continue
                    rows.append({"photo": name, "split": split, "upside_down": k == 2, "score": round(float(f.score), 7),
                                 "half_turned_score": round(float(m.score), 7)})
    return rows


def table(rows: Sequence[dict]) -> list[str]:
    out = ["| split | faces | rows | " + " | ".join(f"gain > {m:g}" for m in MARGINS) + " | largest gain | highest own confidence |",
           "|---|---|---" + "|---" * len(MARGINS) + "|---|---|"]
    for split in SPLITS:
        for upside_down in (False, True):
            sel = [r for r in rows if r["split"] == split and r["upside_down"] == upside_down]
            if not sel:
                continue
            gain = np.array([log_odds(r["half_turned_score"]) - log_odds(r["score"]) for r in sel])
            cells = " | ".join(str(int((gain > m).sum())) for m in MARGINS)
            own = max(float(r["score"]) for r in sel)
            out.append(f"| {split} | {'upside down, read as upright' if upside_down else 'upright'} | {len(sel)} | {cells} "
                       f"| {gain.max():.2f} | {own:.5f} |")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, default=None, help="development photos")
    ap.add_argument("--parsing", type=Path, default=None, help="the parsing set")

    def rows_of(args: argparse.Namespace) -> list[dict]:
        if args.faces is None and args.parsing is None:
            ap.error("give --faces, --parsing or both")
        return measure(args.faces, args.parsing)

    _, rows = json_rows(ap, rows_of, argv)
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
