"""False-positive rate of the verdict on whole untouched photos, by face size and by photo source.

    python benchmarks/verdict_fpr_photos.py --faces ../shared/faces \\
        --parsing ../shared/parsing/celebamask_hq_1000 --split test

Why: the fused calibration sets its threshold at 5 % false positives on validation faces passed
through simulated post-edit chains, and ``benchmarks/verdict_fpr.py`` checks that rate on fresh
chain draws. An analysis meets whole photos instead: detection, alignment, a JPEG saved at the
photo's own size. ``benchmarks/image_score.py`` found untouched parsing-set photos flagged at 10 %
(600 px) and 18 % (160 px). This benchmark asks whether that is the photo size, the whole-photo
path, or the parsing set's photos, with enough faces per size bin to tell.

What it does: every photo of the split (the development faces' split and the parsing set's),
untouched, is scaled to each of :data:`SIDES` on its long side, saved as JPEG at a drawn quality
(:data:`QUALITY`), and analysed by the product. Each face large enough to be judged
(``verdict.MIN_FACE_PX``) counts once. Printed per face-size bin (``calibrate.FACE_PX_BINS``) and
per source: faces, photos, the share at or above the verdict threshold with its 95 % Wilson
interval (counting photos, not faces, since one photo gives a face at several sizes), and the
threshold that would flag 5 % of those faces.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from image_score import TONES, saved  # noqa: E402
from image_score import _threshold as verdict_threshold  # noqa: E402

from forgetalk.metrics import threshold_at_fpr, wilson_interval  # noqa: E402
from forgetalk.train.calibrate import FACE_PX_BINS  # noqa: E402

#: Long sides (px) every photo is saved at. On the parsing set's 512 px portraits the face comes
#: out near 74, 93, 117, 148, 185, 271, 345 and 432 px, two in each ``FACE_PX_BINS`` bin; the
#: development photos' faces, smaller in their frames, spread over the same bins.
SIDES = (120, 150, 190, 240, 300, 440, 560, 700)
#: JPEG quality drawn per saved photo (inclusive), as photos analysts receive are saved.
QUALITY = (75, 95)
SEED = 20261127


def rate_at(scores: np.ndarray, thr: float) -> float:
    return float((scores >= thr).mean()) if scores.size else 0.0


def split_photos_of(faces_dir: Path | None, parsing_dir: Path | None, split: str) -> Iterator[tuple[str, np.ndarray]]:
    """(source/name, RGB) of every photo of ``split``: the development faces', then the parsing set's."""
    from forgetalk.io import load_image

    if faces_dir is not None:
        from forgetalk.train.data import list_photos, split_photos

        for rel in split_photos(list_photos(faces_dir))[split]:
            try:
                yield f"faces/{rel}", load_image(faces_dir / rel).rgb
            except Exception:  # noqa: BLE001 - an unreadable development photo is skipped, as the crop cache does
                continue
    if parsing_dir is not None:
        from forgetalk.train.parsing import list_parsing, split_of

        for stem in list_parsing(parsing_dir):
            if split_of(stem) == split:
                yield f"parsing/{stem}", np.asarray(Image.open(parsing_dir / "images" / f"{stem}.jpg").convert("RGB"))


def measure(photos: Iterator[tuple[str, np.ndarray]], analyse: Callable[[bytes], list[tuple[float, float]]],
            sides: Sequence[int] = SIDES, seed: int = SEED) -> list[dict[str, object]]:
    """Every judged face of every photo at every side: photo, side, quality, face size, score."""
    from forgetalk.verdict import MIN_FACE_PX

    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    for i, (name, rgb) in enumerate(photos):
        for side in sides:
            quality = int(rng.integers(QUALITY[0], QUALITY[1] + 1))
            rows += [{"photo": name, "side": side, "quality": quality, "face_px": round(px, 2), "score": round(score, 6)}
                     for px, score in analyse(saved(rgb, side, quality)) if px >= MIN_FACE_PX]
        if (i + 1) % 25 == 0:
            print(f"  {i + 1} photos, {len(rows)} faces, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return rows


def product_analyser(folder: Path) -> Callable[[bytes], list[tuple[float, float]]]:
    """The product's own analysis (detection, alignment, the engine) of a photo's bytes."""
    from forgetalk.errors import ForgetalkError
    from forgetalk.pipeline import AnalyzeOptions, Analyzer

    an = Analyzer(AnalyzeOptions())
    path = folder / "photo.jpg"

    def analyse(data: bytes) -> list[tuple[float, float]]:
        path.write_bytes(data)
        try:
            rep = an.analyze_path(path).report
        except ForgetalkError:
            return []
        return [(float(f.face_size_px), float(f.score)) for f in rep.faces]

    return analyse


def flagged_cells(scores: Sequence[float], thr: float) -> str:
    """"5.9 % (3.2-10.5) | 0.472": the share of ``scores`` at or above ``thr`` with its 95 % Wilson
    interval over the faces, and their median, as the face-level benchmarks' tables print them."""
    s = np.asarray(scores, np.float64)
    rate = rate_at(s, thr)
    lo, hi = wilson_interval(rate, s.size)
    return f"{100 * rate:.1f} % ({100 * lo:.1f}-{100 * hi:.1f}) | {np.median(s):.3f}"


def table(rows: Sequence[dict], thr: float, target: float = 0.05, bins: Sequence[float] = FACE_PX_BINS) -> list[str]:
    """Markdown lines: per source (each, then all) and face-size bin, the rate at ``thr``."""
    out = [f"| source | face size | faces | photos | flagged at {thr:.3f} (95 % interval, by photos) | threshold for {100 * target:.0f} % |",
           "|---|---|---|---|---|---|"]
    sources = sorted({str(r["photo"]).split("/", 1)[0] for r in rows})
    for source in [*sources, "all"]:
        for lo, hi in zip(bins[:-1], bins[1:], strict=True):
            sel = [r for r in rows if (source == "all" or str(r["photo"]).startswith(source + "/")) and lo <= float(r["face_px"]) < hi]
            if not sel:
                continue
            s = np.array([float(r["score"]) for r in sel])
            n_photos = len({r["photo"] for r in sel})
            rate = rate_at(s, thr)
            lo_ci, hi_ci = wilson_interval(rate, n_photos)
            size = f"{lo:.0f}-{hi:.0f} px" if np.isfinite(hi) else f"{lo:.0f} px and up"
            out.append(f"| {source} | {size} | {len(sel)} | {n_photos} | {100 * rate:.1f} % ({100 * lo_ci:.1f}-{100 * hi_ci:.1f}) "
                       f"| {threshold_at_fpr(s, target)[0]:.3f} |")
    return out


def json_rows(ap: argparse.ArgumentParser, measure: Callable[[argparse.Namespace], list[dict]],
              argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[dict]]:
    """``ap`` with --json and --from added, parsed, and its rows: read back from --json with
    --from, else measured (``measure(args)``, timed on stderr) and written to --json when given.
    Every whole-photo benchmark reports from saved rows this way."""
    ap.add_argument("--json", type=Path, default=None, help="write every row here; with --from, read them instead")
    ap.add_argument("--from", dest="load", action="store_true", help="report from --json without analysing again")
    args = ap.parse_args(argv)
    if args.load:
        return args, json.loads(args.json.read_text())
    t0 = time.perf_counter()
    rows = measure(args)
    print(f"{len(rows)} rows in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return args, rows


def photo_rows(description: str, measure_in: Callable[[Iterator[tuple[str, np.ndarray]], Path], list[dict]],
               argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[dict]]:
    """The command line every whole-photo benchmark of one split shares (--faces, --parsing,
    --split, --greyscale or --sepia, and :func:`json_rows`' --json, --from) and its rows: measured
    on the split's photos (made greyscale or sepia-toned first) in a scratch folder (``measure_in``)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--faces", type=Path, default=None, help="development photos (their --split)")
    ap.add_argument("--parsing", type=Path, default=None, help="the parsing set (its --split)")
    ap.add_argument("--split", default="test", choices=("val", "test"))
    tone = ap.add_mutually_exclusive_group()
    tone.add_argument("--greyscale", action="store_true", help="make every photo greyscale (luma in three channels) first; "
                      "tables then read the greyscale threshold")
    tone.add_argument("--sepia", action="store_true", help="give every photo the editors' sepia tone first (SEPIA); judged in colour")

    def measure(args: argparse.Namespace) -> list[dict]:
        if args.faces is None and args.parsing is None:
            ap.error("give --faces, --parsing or both")
        photos = split_photos_of(args.faces, args.parsing, args.split)
        toning = TONES["grey"] if args.greyscale else TONES["sepia"] if args.sepia else None
        if toning is not None:
            photos = ((name, toning(rgb)) for name, rgb in photos)
        with tempfile.TemporaryDirectory() as tmp:
            return measure_in(photos, Path(tmp))

    return json_rows(ap, measure, argv)


def main(argv: Sequence[str] | None = None) -> None:
    args, rows = photo_rows(__doc__.split("\n\n")[0], lambda photos, tmp: measure(photos, product_analyser(tmp)), argv)
    thr = verdict_threshold(args.greyscale)
    tone = ", made greyscale," if args.greyscale else ", sepia-toned," if args.sepia else ""
    print(f"Untouched photos of the `{args.split}` split{tone} saved as JPEG "
          f"(quality {QUALITY[0]}-{QUALITY[1]}) at long sides {', '.join(map(str, SIDES))} px; "
          f"{'greyscale ' if args.greyscale else ''}verdict threshold {thr:.3f}\n")
    print("\n".join(table(rows, thr)))


if __name__ == "__main__":
    main()
