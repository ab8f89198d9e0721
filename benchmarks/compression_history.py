"""Does the compression-history map find a face part pasted from another photo and saved again?

    python benchmarks/compression_history.py --parsing ../shared/parsing/celebamask_hq_1000 --split test

What it builds, per held-out face of the parsing set (a 512 px JPEG saved once at quality 75, its
part masks exact): a **forgery** (one part, eye, brow, nose or mouth, taken from the next face
of the split, moved onto the host's part by a similarity transform with a small random scale,
angle and offset, which resamples it as an editor does; pasted with a feathered or a Poisson
(seamless-clone) blend, the colour matched or not), and the **untouched host**. Each is saved as
a JPEG at one random quality (70-97), so the untouched host is a real face compressed twice, as
a re-saved photo is. The untouched original file (compressed once) is the third item. With
``--resize`` the two saved files are first scaled by 0.75, which moves the block grid after the
edit: the map's known limit, measured rather than assumed.

Every file goes through the product (``Analyzer``: detection, alignment, the engine, the
provenance stage, the map). Printed, as a markdown table:

* how often the file-level test found two compressions (so the map was built), per group;
* the share of faces with a region reported as compressed once (forged: any region; the pasted
  part; untouched: a false report), with Wilson intervals;
* image AUC of the face's largest region excess (unmapped faces score lowest), forged against
  untouched twice-saved faces, beside the ``fused`` engine's face score on the same files;
* per-region AUC: the pasted part's excess against the same region on the untouched faces.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forgetalk.metrics import roc_auc, separation_auc, wilson_interval  # noqa: E402
from forgetalk.pipeline import AnalyzeOptions, Analyzer  # noqa: E402
from forgetalk.train.parsing import PART, canonical_sides, list_parsing, read_label_map, split_of  # noqa: E402

#: Parts pasted, with their class indices in the canonical label map and the product's region name.
PARTS = {"left_eye": (PART["left_eye"],), "right_eye": (PART["right_eye"],), "left_brow": (PART["left_brow"],),
         "right_brow": (PART["right_brow"],), "nose": (PART["nose"],),
         "mouth": (PART["mouth"], PART["upper_lip"], PART["lower_lip"])}


def _part_mask(labels: np.ndarray, part: str) -> np.ndarray:
    return np.isin(labels, PARTS[part])


def paste_part(host: np.ndarray, host_lab: np.ndarray, donor: np.ndarray, donor_lab: np.ndarray, part: str,
               rng: np.random.Generator, grow: int = 6, sigma: float = 3.0, colour: bool | None = None,
               blend: str | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The host with the donor's ``part`` pasted over its own, and the pasted area's mask.

    ``grow`` (px) widens the pasted area around the two parts and ``sigma`` (px) is the feathered
    blend's width. ``colour`` (matched or not) and ``blend`` (``"poisson"`` or ``"feather"``) are
    drawn from ``rng`` when None; when given, the draw is still made and ignored, so that every
    other draw of a benchmark stays the same whatever the options."""
    hm, dm = _part_mask(host_lab, part), _part_mask(donor_lab, part)
    k = max(1, host.shape[0] // 512)
    if hm.sum() < 150 * k * k or dm.sum() < 150 * k * k:
        return None
    (hy, hx), (dy, dx) = (np.argwhere(hm).mean(axis=0), np.argwhere(dm).mean(axis=0))
    scale = float(np.sqrt(hm.sum() / dm.sum())) * rng.uniform(0.92, 1.08)
    angle = rng.uniform(-6, 6)
    m = cv2.getRotationMatrix2D((float(dx), float(dy)), angle, scale)
    m[:, 2] += [hx - dx + rng.uniform(-2, 2), hy - dy + rng.uniform(-2, 2)]
    size = host.shape[1], host.shape[0]
    warped = cv2.warpAffine(donor, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    area = cv2.warpAffine(dm.astype(np.uint8), m, size, flags=cv2.INTER_NEAREST) > 0
    area = cv2.dilate((area | hm).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))) > 0
    match = rng.random() < 0.5
    if match if colour is None else colour:  # colour matched to the host inside the area
        for c in range(3):
            w, h = warped[..., c][area].astype(np.float64), host[..., c][area].astype(np.float64)
            warped[..., c] = np.clip((warped[..., c] - w.mean()) / max(w.std(), 1e-3) * h.std() + h.mean(), 0, 255)
    poisson = rng.random() < 0.5
    if poisson if blend is None else blend == "poisson":
        ys, xs = np.nonzero(area)
        centre = (int((xs.min() + xs.max()) // 2), int((ys.min() + ys.max()) // 2))
        out = cv2.seamlessClone(warped, host, area.astype(np.uint8) * 255, centre, cv2.NORMAL_CLONE)
    else:
        alpha = cv2.GaussianBlur(area.astype(np.float32), (0, 0), sigma)[..., None]
        out = np.clip(host * (1 - alpha) + warped * alpha, 0, 255).astype(np.uint8)
    return out, area


def split_stems(parsing: Path, split: str, limit: int = 0) -> list[str]:
    """The parsing set's file stems in ``split``, in order; at most ``limit`` (0: all)."""
    stems = [s for s in list_parsing(parsing) if split_of(s) == split]
    return stems[:limit] if limit else stems


def host_and_donor(parsing: Path, stems: list[str], i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Host ``stems[i]`` and its donor, the next face of the split: RGB images and canonical part label maps."""
    stem, donor_stem = stems[i], stems[(i + 1) % len(stems)]
    host, donor = (np.asarray(Image.open(parsing / "images" / f"{s}.jpg").convert("RGB")) for s in (stem, donor_stem))
    hl, dl = (canonical_sides(read_label_map(parsing / "masks" / f"{s}.png")) for s in (stem, donor_stem))
    return host, hl, donor, dl


def jpeg_bytes(rgb: np.ndarray, quality: int, resize: float | None) -> bytes:
    im = Image.fromarray(rgb)
    if resize:
        im = im.resize((round(im.width * resize), round(im.height * resize)), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def analyse(an: Analyzer, data: bytes, folder: Path, name: str) -> dict:
    path = folder / name
    path.write_bytes(data)
    rep = an.analyze_path(path).report
    if not rep.faces:
        return {"face": False}
    face = max(rep.faces, key=lambda f: f.face_size_px)
    prov = rep.provenance
    dc = prov.jpeg.double_compression if prov is not None and prov.jpeg is not None else None
    comp = face.compression
    return {"face": True, "score": face.score, "mapped": comp is not None, "double_found": bool(dc and dc.found),
            "primary_steps": dict(dc.primary_steps) if dc else {}, "blocks": {r.region: r.blocks for r in comp.regions} if comp else {},
            "z": {r.region: r.z for r in comp.regions} if comp else {},
            "reference": comp.reference_log_odds if comp else None, "spread": comp.reference_spread if comp else None,
            "excess": {r.region: r.excess for r in comp.regions} if comp else {},
            "single": comp.single_regions if comp else ()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parsing", type=Path, required=True)
    ap.add_argument("--split", default="test", choices=("val", "test"))
    ap.add_argument("--limit", type=int, default=0, help="at most this many host faces (0: all of the split)")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--resize", type=float, default=None, help="scale both saved files by this before the final save")
    ap.add_argument("--json", type=Path, default=None, help="also write every item's numbers here")
    args = ap.parse_args()

    stems = split_stems(args.parsing, args.split, args.limit)
    rng = np.random.default_rng(args.seed)
    an = Analyzer(AnalyzeOptions())
    rows: list[dict] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, stem in enumerate(stems):
            host_bytes = (args.parsing / "images" / f"{stem}.jpg").read_bytes()
            host, hl, donor, dl = host_and_donor(args.parsing, stems, i)
            part = list(PARTS)[int(rng.integers(len(PARTS)))]
            pasted = paste_part(host, hl, donor, dl, part, rng)
            quality = int(rng.integers(70, 98))
            if pasted is None:
                continue
            forged, _ = pasted
            item = {"stem": stem, "part": part, "quality": quality,
                    "forged": analyse(an, jpeg_bytes(forged, quality, args.resize), folder, "f.jpg"),
                    "twice": analyse(an, jpeg_bytes(host, quality, args.resize), folder, "t.jpg"),
                    "once": analyse(an, host_bytes, folder, "o.jpg")}
            rows.append(item)
            if (i + 1) % 20 == 0:
                print(f"  {i + 1}/{len(stems)} hosts, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.json:
        import json

        args.json.write_text(json.dumps(rows, indent=1, default=list))
    report(rows, args)


def _rate(flags: list[bool]) -> str:
    n = len(flags)
    if not n:
        return "-"
    r = sum(flags) / n
    lo, hi = wilson_interval(r, n)
    return f"{100 * r:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] (n={n})"


def report(rows: list[dict], args: argparse.Namespace) -> None:
    ok = [r for r in rows if r["forged"]["face"] and r["twice"]["face"] and r["once"]["face"]]
    print(f"\nCompression history on the `{args.split}` split of the parsing set: {len(ok)} hosts with a face found in "
          f"all three files (of {len(rows)} forged); seed {args.seed}; final save quality 70-97"
          + (f"; both saved files scaled by {args.resize} before the final save" if args.resize else "") + "\n")
    print("| group | file-level test found two compressions | a region reported as compressed once |")
    print("|---|---|---|")
    for key, label in (("forged", "forged, saved again"), ("twice", "untouched, saved again"), ("once", "untouched original (saved once)")):
        print(f"| {label} | {_rate([r[key]['double_found'] for r in ok])} | {_rate([bool(r[key]['single']) for r in ok])} |")
    print(f"| forged: the pasted part itself reported | | {_rate([r['part'] in r['forged']['single'] for r in ok])} |")

    def face_stat(d: dict) -> float:
        return max(d["excess"].values()) if d["excess"] else -10.0

    f = np.array([face_stat(r["forged"]) for r in ok])
    t = np.array([face_stat(r["twice"]) for r in ok])
    fs = np.array([r["forged"]["score"] for r in ok])
    ts = np.array([r["twice"]["score"] for r in ok])
    lab = np.r_[np.ones(len(f)), np.zeros(len(t))]
    print("\n| image AUC, forged vs untouched saved again | compression history (largest region excess) | fused engine (face score) |")
    print("|---|---|---|")
    print(f"| all hosts | {roc_auc(np.r_[f, t], lab):.3f} | {roc_auc(np.r_[fs, ts], lab):.3f} |")
    hi = np.array([r["quality"] > 75 for r in ok])
    if hi.any() and (~hi).any():
        lab_h, lab_l = np.r_[np.ones(hi.sum()), np.zeros(hi.sum())], np.r_[np.ones((~hi).sum()), np.zeros((~hi).sum())]
        print(f"| final quality above the first (76-97) | {roc_auc(np.r_[f[hi], t[hi]], lab_h):.3f} | {roc_auc(np.r_[fs[hi], ts[hi]], lab_h):.3f} |")
        print(f"| final quality at or below it (70-75) | {roc_auc(np.r_[f[~hi], t[~hi]], lab_l):.3f} | {roc_auc(np.r_[fs[~hi], ts[~hi]], lab_l):.3f} |")

    print("\n| pasted part | n | per-region AUC (its excess vs the same region on untouched faces saved again) | reported |")
    print("|---|---|---|---|")
    for part in PARTS:
        sub = [r for r in ok if r["part"] == part]
        if not sub:
            continue
        pos = [r["forged"]["excess"].get(part, -10.0) for r in sub]
        neg = [r["twice"]["excess"].get(part, -10.0) for r in ok]
        auc = separation_auc(pos, neg)
        print(f"| {part} | {len(sub)} | {auc:.3f} | {_rate([part in r['forged']['single'] for r in sub])} |")
    tw = [v for r in ok for v in r["twice"]["excess"].values()]
    if tw:
        print(f"\nUntouched faces saved again: region excess median {np.median(tw):+.2f}, 99th percentile "
              f"{np.quantile(tw, 0.99):+.2f}, max {max(tw):+.2f} (threshold {_threshold():.1f}).")


def _threshold() -> float:
    from forgetalk.compression import EXCESS_THRESHOLD

    return EXCESS_THRESHOLD


if __name__ == "__main__":
    main()
