"""Image-level score on whole photos of pasted face parts, at the sizes analysts and the external set meet.

    python benchmarks/image_score.py --parsing ../shared/parsing/celebamask_hq_1000 --split test --sizes 600,160

Why: ``benchmarks/localization.py`` scores aligned face crops; the JSON's image ``score``, which a
triage or an external test ranks photos by, is made from every face the detector finds in the whole
photo. This benchmark measures that number end to end. Per held-out face of the parsing set (its
part masks exact), a **forgery** whose one, two or three parts (eyes, brows, nose, mouth) are taken
from the next face of the split, moved by a similarity transform with a small random scale, angle
and offset, and pasted with a feathered or a Poisson blend, colour matched or not
(``compression_history.paste_part``), and the **untouched host**. Both are scaled to each
``--sizes`` side (the external set of hand-made edits holds 600 px photos and 160 px copies) and
saved as JPEG at one random quality (75-95), then analysed by the product (``Analyzer``: detection,
alignment, the engine, the verdict).

Printed, per size: how many photos had a second face and a face below the verdict's minimum size
(``verdict.MIN_FACE_PX``), and the image AUC and flag rates under three rules for the image score:
the highest face score over every face (the rule until 2026-11-27), over the faces large enough
to be judged (the shipped rule since then), and the largest face alone.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from compression_history import PARTS, host_and_donor, paste_part, split_stems  # noqa: E402

from forgetalk.metrics import roc_auc, wilson_interval  # noqa: E402
from forgetalk.pipeline import AnalyzeOptions, Analyzer  # noqa: E402
from forgetalk.verdict import MIN_FACE_PX  # noqa: E402


def _judged(faces: list[dict]) -> float:
    """The shipped rule, restated from the records (the product's own number is ``image_score``)."""
    big = [f["score"] for f in faces if f["size"] >= MIN_FACE_PX]
    return max(big) if big else max((f["score"] for f in faces), default=0.0)


RULES = {
    "every face (before)": lambda faces: max((f["score"] for f in faces), default=0.0),
    "faces >= MIN_FACE_PX (shipped)": _judged,
    "largest face only": lambda faces: max(faces, key=lambda f: f["size"])["score"] if faces else 0.0,
}


def saved(rgb: np.ndarray, side: int, quality: int) -> bytes:
    im = Image.fromarray(rgb)
    if max(im.size) != side:
        s = side / max(im.size)
        im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def analyse(an: Analyzer, data: bytes, path: Path) -> dict:
    path.write_bytes(data)
    rep = an.analyze_path(path).report
    return {"image_score": rep.score, "verdict": rep.verdict,
            "faces": [{"size": float(f.face_size_px), "score": float(f.score), "verdict": f.verdict, "det": float(f.detection_score)} for f in rep.faces]}


def build(args: argparse.Namespace, sizes: list[int]) -> list[dict]:
    stems = split_stems(args.parsing, args.split, args.limit)
    rng = np.random.default_rng(args.seed)
    an = Analyzer(AnalyzeOptions())
    rows: list[dict] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        for i, stem in enumerate(stems):
            host, hl, donor, dl = host_and_donor(args.parsing, stems, i)
            parts = [str(p) for p in rng.permutation(list(PARTS))[: int(rng.integers(1, 4))]]
            forged, done = host, []
            for part in parts:
                pasted = paste_part(forged, hl, donor, dl, part, rng)
                if pasted is not None:
                    forged, done = pasted[0], [*done, part]
            quality = int(rng.integers(75, 96))
            if not done:
                continue
            row = {"stem": stem, "parts": done, "quality": quality}
            for side in sizes:
                row[f"forged_{side}"] = analyse(an, saved(forged, side, quality), path)
                row[f"untouched_{side}"] = analyse(an, saved(host, side, quality), path)
            rows.append(row)
            if (i + 1) % 20 == 0:
                print(f"  {i + 1}/{len(stems)} hosts, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return rows


def _threshold() -> float:
    from forgetalk.weights import read_verified

    return float(json.loads(read_verified("localizer", "recipe.json").decode("utf-8"))["calibration"]["threshold"])


def _rate(flags: list[bool]) -> str:
    n = len(flags)
    lo, hi = wilson_interval(sum(flags) / max(n, 1), n)
    return f"{sum(flags)}/{n} ({100 * sum(flags) / max(n, 1):.1f} %, {100 * lo:.1f}-{100 * hi:.1f})"


def report(rows: list[dict], sizes: list[int]) -> None:
    thr = _threshold()
    print(f"{len(rows)} hosts; verdict threshold {thr:.3f}; MIN_FACE_PX {MIN_FACE_PX}\n")
    for side in sizes:
        fo = [r[f"forged_{side}"] for r in rows]
        un = [r[f"untouched_{side}"] for r in rows]
        both = fo + un
        print(f"### {side} px photos\n")
        print(f"- no face found: forged {sum(not x['faces'] for x in fo)}, untouched {sum(not x['faces'] for x in un)}")
        print(f"- a second face: {sum(len(x['faces']) > 1 for x in both)} of {len(both)} photos; "
              f"a face below {MIN_FACE_PX} px: {sum(any(f['size'] < MIN_FACE_PX for f in x['faces']) for x in both)}")
        print(f"- verdict 'likely manipulated': forged {_rate([x['verdict'] == 'likely manipulated' for x in fo])}, "
              f"untouched {_rate([x['verdict'] == 'likely manipulated' for x in un])}\n")
        print("| image score rule | image AUC | forged >= threshold | untouched >= threshold | photos whose score this rule changes |")
        print("|---|---|---|---|---|")
        base = RULES["every face (before)"]
        for name, rule in RULES.items():
            sf = np.array([rule(x["faces"]) for x in fo])
            su = np.array([rule(x["faces"]) for x in un])
            auc = roc_auc(np.concatenate([sf, su]), np.r_[np.ones(len(sf)), np.zeros(len(su))])
            changed = sum(rule(x["faces"]) != base(x["faces"]) for x in both)
            print(f"| {name} | {auc:.3f} | {_rate(list(sf >= thr))} | {_rate(list(su >= thr))} | {changed} |")
        own = np.array([x["image_score"] for x in both])
        assert np.allclose(own, [_judged(x["faces"]) for x in both]), "the product's image score is not the shipped rule"
        print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parsing", type=Path, required=True)
    ap.add_argument("--split", default="test", choices=("val", "test"))
    ap.add_argument("--sizes", default="600,160", help="comma-separated long sides the photos are saved at")
    ap.add_argument("--limit", type=int, default=0, help="at most this many host faces (0: all of the split)")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--json", type=Path, default=None, help="write every photo's faces here; with --from, read them instead")
    ap.add_argument("--from", dest="load", action="store_true", help="report from --json without analysing again")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.load:
        rows = json.loads(args.json.read_text())
    else:
        rows = build(args, sizes)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    report(rows, sizes)


if __name__ == "__main__":
    main()
