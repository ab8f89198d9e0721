"""Faces cut by the photo's edge: does the verdict flag untouched ones more often?

    python benchmarks/edge_faces.py --faces ../shared/faces \\
        --parsing ../shared/parsing/celebamask_hq_1000 --split test

Why: in a group photo the faces at the border are often cut by the frame. The analysis pads the
part of the aligned crop that lies outside the photo with black and leaves it out of every region
(a note says so), but the networks see the padded crop, and none of the localizer's training or
calibration items was cut by a frame. An untouched group selfie from the development photos was
flagged "likely manipulated" by its one face that the right edge cuts (score 0.899 against 0.874;
the iris-colour cue fired on the eye next to the edge). Is that the 5 % false-positive rate every
face carries, or does a cut face carry more?

What it does: every untouched photo of the split is analysed once as it is; its largest judged
face's box gives the cut. The photo is then cropped so that one side of that box (right, left,
top or bottom, drawn per photo) lies :data:`CUTS` of the box's width or height outside the frame,
saved as JPEG at a drawn quality, and analysed again; the face that overlaps the original box most
is the one scored. Printed per cut: faces, the share at or above the verdict threshold with its
95 % Wilson interval, the median score, how many carry the "outside the photo" note, and the image
AUC of the cut faces against the same faces uncut (0.5: the cut does not move the score).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from image_score import _threshold as verdict_threshold  # noqa: E402
from verdict_fpr_photos import flagged_cells, photo_rows  # noqa: E402

from forgetalk.metrics import box_iou, separation_auc  # noqa: E402

#: Share of the face box's width (or height) left outside the frame.
CUTS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.45)
#: Bins of the product's own measure, the share of the face oval outside the photo (FaceResult.outside_share).
SHARE_BINS = (0.0, 0.02, 0.1, 0.15, 0.2, 0.25, 0.3, 1.01)
SIDES = ("right", "left", "top", "bottom")
QUALITY = (75, 95)
SEED = 20261128
OUTSIDE_NOTE = "lies outside the photo"


def cut_photo(rgb: np.ndarray, box: Sequence[float], side: str, cut: float) -> np.ndarray:
    """``rgb`` cropped so that ``cut`` of the box's extent across ``side`` lies outside the frame
    (0: the photo as it is). Pure: a view of the input, nothing resampled."""
    if cut <= 0:
        return rgb
    x1, y1, x2, y2 = box
    h, w = rgb.shape[:2]
    if side == "right":
        return rgb[:, : max(1, min(w, int(round(x2 - cut * (x2 - x1)))))]
    if side == "left":
        return rgb[:, max(0, min(w - 1, int(round(x1 + cut * (x2 - x1))))):]
    if side == "bottom":
        return rgb[: max(1, min(h, int(round(y2 - cut * (y2 - y1)))))]
    return rgb[max(0, min(h - 1, int(round(y1 + cut * (y2 - y1))))):]


def shifted_box(box: Sequence[float], rgb: np.ndarray, side: str, cut: float) -> tuple[float, float, float, float]:
    """The box in the cropped photo's coordinates (only a left or top cut moves the origin)."""
    x1, y1, x2, y2 = box
    if cut > 0 and side == "left":
        dx = max(0, min(rgb.shape[1] - 1, int(round(x1 + cut * (x2 - x1)))))
        return x1 - dx, y1, x2 - dx, y2
    if cut > 0 and side == "top":
        dy = max(0, min(rgb.shape[0] - 1, int(round(y1 + cut * (y2 - y1)))))
        return x1, y1 - dy, x2, y2 - dy
    return float(x1), float(y1), float(x2), float(y2)


def jpeg(rgb: np.ndarray, quality: int) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def measure(photos, folder: Path, seed: int = SEED) -> list[dict[str, object]]:  # noqa: ANN001
    """One row per photo and cut: side, cut, face size, score, whether the outside note was given."""
    from forgetalk.errors import ForgetalkError
    from forgetalk.pipeline import AnalyzeOptions, Analyzer
    from forgetalk.verdict import MIN_FACE_PX

    an = Analyzer(AnalyzeOptions())
    path = folder / "photo.jpg"
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()

    def faces(data: bytes) -> list:  # noqa: ANN202
        path.write_bytes(data)
        try:
            return list(an.analyze_path(path).report.faces)
        except ForgetalkError:
            return []

    for i, (name, rgb) in enumerate(photos):
        side = SIDES[int(rng.integers(len(SIDES)))]
        quality = int(rng.integers(QUALITY[0], QUALITY[1] + 1))
        found = [f for f in faces(jpeg(rgb, quality)) if f.face_size_px >= MIN_FACE_PX]
        if not found:
            continue
        target = max(found, key=lambda f: f.face_size_px)
        for cut in CUTS:
            img = cut_photo(rgb, target.box, side, cut)
            want = shifted_box(target.box, rgb, side, cut)
            got = faces(jpeg(img, quality)) if cut > 0 else [target]
            best = max(got, key=lambda f: box_iou(f.box, want), default=None)
            if best is None or box_iou(best.box, want) < 0.3:
                rows.append({"photo": name, "side": side, "cut": cut, "found": False})
                continue
            rows.append({"photo": name, "side": side, "cut": cut, "found": True, "face_px": round(float(best.face_size_px), 2),
                         "score": round(float(best.score), 6), "verdict": best.verdict,
                         "outside_note": any(OUTSIDE_NOTE in n for n in best.notes), "outside_share": round(float(best.outside_share), 4)})
        if (i + 1) % 25 == 0:
            print(f"  {i + 1} photos, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return rows


def table(rows: Sequence[dict], thr: float) -> list[str]:
    out = [f"| cut (share of the face box outside) | faces found / photos | flagged at {thr:.3f} (95 % interval) | median score | 'outside the photo' note | AUC against the same faces uncut |",
           "|---|---|---|---|---|---|"]
    uncut = {r["photo"]: float(r["score"]) for r in rows if r["cut"] == 0 and r["found"]}
    for cut in CUTS:
        sel = [r for r in rows if r["cut"] == cut]
        ok = [r for r in sel if r["found"]]
        if not ok:
            continue
        pair = [r for r in ok if r["photo"] in uncut]
        a = separation_auc([float(r["score"]) for r in pair], [uncut[str(r["photo"])] for r in pair]) if cut > 0 else float("nan")
        out.append(f"| {100 * cut:.0f} % | {len(ok)} / {len(sel)} | {flagged_cells([float(r['score']) for r in ok], thr)} "
                   f"| {sum(bool(r['outside_note']) for r in ok)} | {'—' if cut == 0 else f'{a:.3f}'} |")
    return out


def share_table(rows: Sequence[dict], thr: float) -> list[str]:
    """The same faces by the product's own measure of the cut: the share of the face oval outside the photo."""
    out = [f"| face oval outside the photo | faces | flagged at {thr:.3f} (95 % interval) | median score |", "|---|---|---|---|"]
    ok = [r for r in rows if r["found"] and "outside_share" in r]
    for lo, hi in zip(SHARE_BINS[:-1], SHARE_BINS[1:], strict=True):
        sel = [r for r in ok if lo <= float(r["outside_share"]) < hi]
        if not sel:
            continue
        span = f"{100 * lo:.0f}-{100 * hi:.0f} %" if hi <= 1 else f"{100 * lo:.0f} % and more"
        out.append(f"| {span} | {len(sel)} | {flagged_cells([float(r['score']) for r in sel], thr)} |")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    args, rows = photo_rows(__doc__.split("\n\n")[0], measure, argv)
    thr = verdict_threshold(args.greyscale)
    print("\n".join(table(rows, thr)))
    print()
    print("\n".join(share_table(rows, thr)))


if __name__ == "__main__":
    main()
