"""Faces turned in the photo: does the verdict flag untouched ones more often?

    python benchmarks/turned_faces.py --faces ../shared/faces \\
        --parsing ../shared/parsing/celebamask_hq_1000 --split test

Why: RetinaFace finds a face lying on its side but misplaces its five landmarks, so the aligned
crop is skewed; untouched faces turned a quarter turn were flagged 13.6 % of the time against
5.9 % upright before ``forgetalk/faces/upright.py`` (landmarks from a copy of the photo turned
upright); a face only tilted (30 or 45 degrees) was flagged 10.5 % and 16.0 % of the time, for the
same reason, before its landmarks were read on a copy turned level. This measures those rates, and
how many faces the product located on a turned or a levelled copy.

What it does: every untouched photo of the split is turned by each of :data:`ANGLES` degrees
(counter-clockwise; a quarter or half turn moves pixels without resampling, other angles resample
bicubically and fill the corners grey) and saved losslessly (PNG), so only the turn differs; the
product analyses it and the largest judged face is scored. Printed per angle: faces found, the
share at or above the verdict threshold with its 95 % Wilson interval, the median score, and how
many faces carry the note that their landmarks came from a turned copy, or from a levelled one.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from image_score import _threshold as verdict_threshold  # noqa: E402
from verdict_fpr_photos import flagged_cells, photo_rows  # noqa: E402

ANGLES = (0, 15, 30, 45, 60, 90, 180, 270)
TURNED_NOTE = "found on a copy turned upright"
LEVELLED_NOTE = "turned level"


def turned_png(rgb: np.ndarray, angle: int) -> bytes:
    """The photo turned ``angle`` degrees counter-clockwise (the frame grown to hold it), as PNG."""
    im = Image.fromarray(rgb)
    if angle % 90 == 0:
        im = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, (angle // 90) % 4)))
    elif angle:
        im = im.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def measure(photos, folder: Path) -> list[dict[str, object]]:  # noqa: ANN001
    """One row per photo and angle: whether a judged face was found, its score, verdict and note."""
    from forgetalk.errors import ForgetalkError
    from forgetalk.pipeline import AnalyzeOptions, Analyzer
    from forgetalk.verdict import MIN_FACE_PX

    an = Analyzer(AnalyzeOptions())
    path = folder / "photo.png"
    rows: list[dict[str, object]] = []
    for i, (name, rgb) in enumerate(photos):
        for angle in ANGLES:
            path.write_bytes(turned_png(rgb, angle))
            try:
                faces = [f for f in an.analyze_path(path).report.faces if f.face_size_px >= MIN_FACE_PX]
            except ForgetalkError:
                faces = []
            if not faces:
                rows.append({"photo": name, "angle": angle, "found": False})
                continue
            f = max(faces, key=lambda f: f.face_size_px)
            rows.append({"photo": name, "angle": angle, "found": True, "score": round(float(f.score), 6), "verdict": f.verdict,
                         "turned_copy": any(TURNED_NOTE in n for n in f.notes), "levelled_copy": any(LEVELLED_NOTE in n for n in f.notes)})
        if (i + 1) % 25 == 0:
            print(f"  {i + 1} photos", file=sys.stderr)
    return rows


def table(rows: Sequence[dict], thr: float) -> list[str]:
    out = [f"| turned (degrees) | faces found / photos | flagged at {thr:.3f} (95 % interval) | median score | landmarks from a turned copy | from a levelled copy |",
           "|---|---|---|---|---|---|"]
    for angle in ANGLES:
        sel = [r for r in rows if r["angle"] == angle]
        ok = [r for r in sel if r["found"]]
        if not ok:
            continue
        out.append(f"| {angle} | {len(ok)} / {len(sel)} | {flagged_cells([float(r['score']) for r in ok], thr)} "
                   f"| {sum(bool(r['turned_copy']) for r in ok)} | {sum(bool(r.get('levelled_copy')) for r in ok)} |")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    args, rows = photo_rows(__doc__.split("\n\n")[0], measure, argv)
    print("\n".join(table(rows, verdict_threshold(args.greyscale))))


if __name__ == "__main__":
    main()
