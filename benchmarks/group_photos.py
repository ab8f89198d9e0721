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

``--forged`` asks what that rule costs: every collage is analysed a second time with one tile (at a
seeded place) replaced by a forgery of its portrait, one to three parts (eyes, brows, nose, mouth)
pasted from the next portrait of the split as ``benchmarks/image_score.py`` makes them
(``compression_history.paste_part``). Printed per N: how often the forged face scored at or above
the per-face threshold (what flagged it before the several-faces rule), how often it is still
"likely manipulated" (after), and how often the photo is.
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


def forgeries(parsing: Path, split: str, seed: int = SEED) -> list[np.ndarray | None]:
    """Per portrait of ``split`` (in :func:`split_stems` order), a forgery of it: one to three parts
    pasted from the next portrait, as ``image_score.py``'s plain run draws them (None when no part
    could be pasted)."""
    from compression_history import PARTS, host_and_donor, paste_part, split_stems

    stems = split_stems(parsing, split)
    rng = np.random.default_rng(seed + 1)
    out: list[np.ndarray | None] = []
    for i in range(len(stems)):
        host, hl, donor, dl = host_and_donor(parsing, stems, i)
        forged, done = host, 0
        for part in rng.permutation(list(PARTS))[: int(rng.integers(1, 4))]:
            pasted = paste_part(forged, hl, donor, dl, str(part), rng)
            if pasted is not None:
                forged, done = pasted[0], done + 1
        out.append(forged if done else None)
    return out


def tile_of(box: Sequence[float], n: int, tile: int = TILE) -> int:
    """The collage tile (row-major index) holding the centre of a face's ``box`` (x0, y0, x1, y1)."""
    side = math.ceil(math.sqrt(n))
    col, row = int((box[0] + box[2]) / 2 // tile), int((box[1] + box[3]) / 2 // tile)
    return row * side + col


def _analysed(an, tiles: list[np.ndarray], path: Path):  # noqa: ANN001, ANN202 - (report, judged faces)
    from forgetalk.verdict import is_judged

    buf = io.BytesIO()
    Image.fromarray(collage(tiles)).save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue())
    rep = an.analyze_path(path).report
    return rep, [f for f in rep.faces if is_judged(f.face_size_px, f.outside_share)]


def _over(face) -> bool:  # noqa: ANN001
    return face.score >= float(face.engine_meta.get("threshold", 0.5))


def measure(photos: list[np.ndarray], folder: Path, forged: list[np.ndarray | None] | None = None) -> list[dict[str, object]]:
    from forgetalk.pipeline import AnalyzeOptions, Analyzer

    an = Analyzer(AnalyzeOptions())
    path = folder / "collage.jpg"
    place = np.random.default_rng(SEED + 2)
    rows: list[dict[str, object]] = []
    for k, (n, idx) in enumerate(draws(len(photos))):
        rep, judged = _analysed(an, [photos[i] for i in idx], path)
        row: dict[str, object] = {"n": n, "photos": list(idx), "verdict": rep.verdict, "faces": len(rep.faces), "judged": len(judged),
                                  "flagged_faces": sum(f.verdict == "likely manipulated" for f in judged),
                                  "over_threshold": sum(_over(f) for f in judged)}
        pos = int(place.integers(n))
        if forged is not None and forged[idx[pos]] is not None:
            rep, judged = _analysed(an, [forged[i] if j == pos else photos[i] for j, i in enumerate(idx)], path)  # type: ignore[misc]
            mine = [f for f in rep.faces if tile_of(f.box, n) == pos]
            face = max(mine, key=lambda f: f.face_size_px) if mine else None
            row["forged"] = {"tile": pos, "verdict": rep.verdict, "found": face is not None,
                             "judged": face is not None and face in judged,
                             "score": None if face is None else float(face.score),
                             "face_verdict": None if face is None else face.verdict,
                             "over_threshold": face is not None and face in judged and _over(face),
                             "others_over": sum(_over(f) for f in judged if f is not face)}
        rows.append(row)
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


def forged_table(rows: Sequence[dict]) -> list[str]:
    """Per N, what the several-faces rule costs on a forged face among untouched ones."""
    out = ["| faces per collage | collages | forged face judged | at or above the threshold (flagged before) | "
           "still \"likely manipulated\" | photo \"likely manipulated\" (95 % interval) |",
           "|---|---|---|---|---|---|"]
    for n in sorted({int(r["n"]) for r in rows if r.get("forged")}):
        sel = [r["forged"] for r in rows if r["n"] == n and r.get("forged")]
        judged = [f for f in sel if f["judged"]]
        over = sum(bool(f["over_threshold"]) for f in judged)
        kept = sum(f["face_verdict"] == "likely manipulated" for f in judged)
        photo = sum(f["verdict"] == "likely manipulated" for f in sel)
        lo, hi = wilson_interval(photo / len(sel), len(sel))
        out.append(f"| {n} | {len(sel)} | {len(judged)} | {over} ({100 * over / max(len(judged), 1):.1f} %) "
                   f"| {kept} ({100 * kept / max(len(judged), 1):.1f} %) | {100 * photo / len(sel):.1f} % ({100 * lo:.1f}-{100 * hi:.1f}) |")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parsing", type=Path, default=None, help="the parsing set (its --split's portraits are tiled)")
    ap.add_argument("--split", default="test", choices=("val", "test"))
    ap.add_argument("--forged", action="store_true", help="analyse every collage again with one tile forged (the rule's cost)")

    def rows_of(args: argparse.Namespace) -> list[dict]:
        if args.parsing is None:
            ap.error("give --parsing")
        with tempfile.TemporaryDirectory() as tmp:
            photos = [rgb for _, rgb in split_photos_of(None, args.parsing, args.split)]
            return measure(photos, Path(tmp), forgeries(args.parsing, args.split) if args.forged else None)

    _, rows = json_rows(ap, rows_of, argv)
    print("\n".join(table(rows)))
    if any(r.get("forged") for r in rows):
        print("\nOne tile forged:\n" + "\n".join(forged_table(rows)))


if __name__ == "__main__":
    main()
