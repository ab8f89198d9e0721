"""Photos with many faces: how often is an untouched one called "likely manipulated"?

    python benchmarks/group_photos.py --parsing ../shared/parsing/celebamask_hq_1000 --split test

Why: the verdict's stated false-positive rate (4.9 %) is per face, and a photo is "likely
manipulated" when any of its faces is. An untouched group photo of 24 faces in the development
photos was (one face at 0.878 against 0.874). If faces were independent, a photo of N judged faces
would be flagged 1 - (1 - r)^N of the time (r the per-face rate): 40 % at N = 10. This measures it.

What it does: untouched portraits of the split (the parsing set's, one face each) are tiled into
square collages of N = :data:`SIZES` faces (each tile :data:`TILE` px, faces about 150 px; the
faces of one collage distinct, collages drawn with a fixed seed), saved as JPEG (quality 90) and
analysed by the product. Printed per N: collages, the share whose image verdict is "likely
manipulated" with its 95 % Wilson interval, the share of faces at or above the per-face threshold,
the share of photos that rate predicts to hold such a face for independent faces, and the share
that did (what the verdict was before ``forgetalk.verdict.photo_verdicts``). No collage is a real group photo (lighting,
sizes and poses vary more in those), so this is a yardstick for the arithmetic, not a field rate.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from verdict_fpr_photos import json_rows, split_photos_of  # noqa: E402

from forgetalk.metrics import wilson_interval  # noqa: E402

SIZES = (1, 4, 9, 16)
TILE = 256
COLLAGES = 40
SEED = 20261128


def collage(tiles: Sequence[np.ndarray], tile: int = TILE) -> np.ndarray:
    """``tiles`` resized to ``tile`` px squares and laid out row by row in a square grid (pure)."""
    side = math.ceil(math.sqrt(len(tiles)))
    out = np.zeros((side * tile, side * tile, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, side)
        out[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = np.asarray(Image.fromarray(t).resize((tile, tile), Image.LANCZOS))
    return out


def draws(n_photos: int, sizes: Sequence[int] = SIZES, collages: int = COLLAGES, seed: int = SEED) -> list[tuple[int, tuple[int, ...]]]:
    """(N, photo indices) for every collage: distinct photos within one, a seeded draw."""
    rng = np.random.default_rng(seed)
    return [(n, tuple(int(i) for i in rng.choice(n_photos, size=n, replace=False))) for n in sizes for _ in range(collages)]


def measure(photos: list[np.ndarray], folder: Path) -> list[dict[str, object]]:
    from forgetalk.pipeline import AnalyzeOptions, Analyzer
    from forgetalk.verdict import is_judged

    an = Analyzer(AnalyzeOptions())
    path = folder / "collage.jpg"
    rows: list[dict[str, object]] = []
    for k, (n, idx) in enumerate(draws(len(photos))):
        buf = io.BytesIO()
        Image.fromarray(collage([photos[i] for i in idx])).save(buf, "JPEG", quality=90)
        path.write_bytes(buf.getvalue())
        rep = an.analyze_path(path).report
        judged = [f for f in rep.faces if is_judged(f.face_size_px, f.outside_share)]
        rows.append({"n": n, "photos": list(idx), "verdict": rep.verdict, "faces": len(rep.faces), "judged": len(judged),
                     "flagged_faces": sum(f.verdict == "likely manipulated" for f in judged),
                     "over_threshold": sum(f.score >= float(f.engine_meta.get("threshold", 0.5)) for f in judged)})
        if (k + 1) % 20 == 0:
            print(f"  {k + 1} collages", file=sys.stderr)
    return rows


def table(rows: Sequence[dict]) -> list[str]:
    out = ["| faces per collage | collages | faces judged | photo flagged (95 % interval) | faces at or above the threshold | "
           "photos that predicts for independent faces | photos with such a face |",
           "|---|---|---|---|---|---|---|"]
    for n in sorted({int(r["n"]) for r in rows}):
        sel = [r for r in rows if r["n"] == n]
        flagged = sum(r["verdict"] == "likely manipulated" for r in sel)
        judged = sum(int(r["judged"]) for r in sel)
        per_face = sum(int(r.get("over_threshold", r["flagged_faces"])) for r in sel) / max(judged, 1)
        with_one = sum(int(r.get("over_threshold", r["flagged_faces"])) > 0 for r in sel) / len(sel)
        lo, hi = wilson_interval(flagged / len(sel), len(sel))
        mean_judged = judged / len(sel)
        out.append(f"| {n} | {len(sel)} | {mean_judged:.1f} | {100 * flagged / len(sel):.1f} % ({100 * lo:.1f}-{100 * hi:.1f}) "
                   f"| {100 * per_face:.1f} % | {100 * (1 - (1 - per_face) ** mean_judged):.1f} % | {100 * with_one:.1f} % |")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parsing", type=Path, default=None, help="the parsing set (its --split's portraits are tiled)")
    ap.add_argument("--split", default="test", choices=("val", "test"))

    def rows_of(args: argparse.Namespace) -> list[dict]:
        if args.parsing is None:
            ap.error("give --parsing")
        with tempfile.TemporaryDirectory() as tmp:
            return measure([rgb for _, rgb in split_photos_of(None, args.parsing, args.split)], Path(tmp))

    _, rows = json_rows(ap, rows_of, argv)
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
