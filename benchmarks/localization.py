"""Localization and region-ranking benchmark on seeded pseudo-forgeries of held-out faces.

    .venv/bin/python benchmarks/localization.py --faces ../shared/faces [--engines evidence,fused] [--write docs/localizer.md]

Builds a fixed set from the *test* split of the face photos (photos the localizer never
saw in training or calibration; see forgetalk/train/data.py for the split rule): for each
face one untouched copy and N forgeries (self-blend, region swap, smoothing; JPEG re-save
with the same protocol for real and forged). Runs every engine on every face and prints

* pixel AUC (pooled, inside the face oval dilated by 16 px),
* best-threshold F1 (pooled) and mean per-face IoU at that threshold,
* mean per-face F1 and IoU at the engine's shipped pixel threshold (meta["pixel_threshold"], else 0.5),
* region top-1 / top-3 accuracy of the product's ranking (forgetalk.pipeline.rank_regions),
* image-level real-vs-fake ROC AUC of the face score, and TPR/FPR at the engine's verdict threshold,
* engine seconds per face.

Numbers in docs/localizer.md are written by this script (``--write``), never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forgetalk.engines import available_engines, get_engine  # noqa: E402
from forgetalk.errors import ForgetalkError  # noqa: E402
from forgetalk.metrics import iou, pixel_summary, roc_auc, topk_accuracy  # noqa: E402
from forgetalk.pipeline import rank_regions  # noqa: E402
from forgetalk.train.data import load_split_faces, split_rule_text  # noqa: E402
from forgetalk.train.evalset import build_eval_set  # noqa: E402

START, END = "<!-- BENCHMARK:START -->", "<!-- BENCHMARK:END -->"


@dataclass
class EngineResult:
    engine: str
    n_fake: int
    n_real: int
    pixel_auc: float
    best_f1: float
    best_threshold: float
    iou_best: float
    shipped_threshold: float
    f1_shipped: float
    iou_shipped: float
    top1: float
    top3: float
    image_auc: float
    verdict_threshold: float | None
    tpr_at_verdict: float | None
    fpr_at_verdict: float | None
    seconds_per_face: float
    by_kind: dict[str, dict[str, float]]


def run_engine(name: str, items: list, log=print) -> EngineResult:  # noqa: ANN001
    engine = get_engine(name, device="cpu")
    heat, masks, valid, rankings, truths, scores, labels, kinds = [], [], [], [], [], [], [], []
    secs = 0.0
    meta: dict[str, object] = {}
    ker = np.ones((33, 33), np.uint8)
    for k, it in enumerate(items):
        t = time.perf_counter()
        out = engine.analyze_face(it.face)
        secs += time.perf_counter() - t
        meta = out.meta
        scores.append(float(out.score))
        labels.append(it.fake)
        if it.fake:
            heat.append(out.heatmap)
            masks.append(it.mask)
            valid.append(cv2.dilate(it.face.face_mask.astype(np.uint8), ker).astype(bool) | it.mask)
            ranked = rank_regions(out.heatmap, it.face.regions, out.region_scores or None)
            rankings.append([r[0] for r in ranked])
            truths.append(it.primary)
            kinds.append(it.kind)
        if (k + 1) % 50 == 0:
            log(f"  {name}: {k + 1}/{len(items)}")
    pix_thr = float(meta.get("pixel_threshold", 0.5))  # type: ignore[arg-type]
    ps = pixel_summary(heat, masks, pix_thr, valid)
    s, y = np.array(scores), np.array(labels, bool)
    vthr = meta.get("threshold")
    tpr = fpr = None
    if vthr is not None:
        tpr = float((s[y] >= float(vthr)).mean())  # type: ignore[arg-type]
        fpr = float((s[~y] >= float(vthr)).mean())  # type: ignore[arg-type]
    by_kind: dict[str, dict[str, float]] = {}
    for kind in sorted(set(kinds)):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        by_kind[kind] = {
            "n": len(idx),
            "top1": topk_accuracy([rankings[i] for i in idx], [truths[i] for i in idx], 1),
            "iou_shipped": float(np.mean([iou(heat[i] >= pix_thr, masks[i]) for i in idx])),
        }
    return EngineResult(name, int(y.sum()), int((~y).sum()), ps.auc, ps.best_f1, ps.best_threshold, ps.iou_best, pix_thr, ps.f1_at, ps.iou_at,
                        topk_accuracy(rankings, truths, 1), topk_accuracy(rankings, truths, 3), roc_auc(s, y),
                        None if vthr is None else float(vthr), tpr, fpr, secs / len(items), by_kind)  # type: ignore[arg-type]


def _f(x: float | None, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def table(results: list[EngineResult]) -> str:
    head = ("| engine | pixel AUC | best F1 (thr) | IoU @best | F1 @shipped (thr) | IoU @shipped | region top-1 | region top-3 | image AUC | TPR / FPR @verdict thr | s / face |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for r in results:
        verdict = "n/a" if r.verdict_threshold is None else f"{_f(r.tpr_at_verdict, True)} / {_f(r.fpr_at_verdict, True)} ({r.verdict_threshold:.3f})"
        rows.append(f"| {r.engine} | {_f(r.pixel_auc)} | {_f(r.best_f1)} ({r.best_threshold:.2f}) | {_f(r.iou_best)} | {_f(r.f1_shipped)} ({r.shipped_threshold:.2f}) | "
                    f"{_f(r.iou_shipped)} | {_f(r.top1, True)} | {_f(r.top3, True)} | {_f(r.image_auc)} | {verdict} | {r.seconds_per_face:.2f} |")
    out = head + "\n".join(rows) + "\n"
    kinds = sorted({k for r in results for k in r.by_kind})
    if kinds:
        out += "\n| engine | " + " | ".join(f"{k} top-1 / IoU @shipped (n={results[0].by_kind[k]['n']:.0f})" for k in kinds) + " |\n"
        out += "|---|" + "---|" * len(kinds) + "\n"
        for r in results:
            out += f"| {r.engine} | " + " | ".join(f"{_f(r.by_kind[k]['top1'], True)} / {_f(r.by_kind[k]['iou_shipped'])}" for k in kinds) + " |\n"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces")
    ap.add_argument("--split", default="test", choices=["test", "val"], help="test = faces never used for training or calibration")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--per-face", type=int, default=3, help="forgeries per face")
    ap.add_argument("--engines", default="", help="comma-separated; default: every registered engine that can be built")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", type=Path, default=None, help="replace the table between benchmark markers in this Markdown file")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    if "holdout" in str(a.faces.resolve()).lower():
        ap.error("the holdout set is not for this benchmark")
    import torch

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(1)
    faces = load_split_faces(a.faces, a.split)
    items = build_eval_set(faces, seed=a.seed, forgeries_per_face=a.per_face)
    names = [n for n in a.engines.split(",") if n] or list(available_engines())
    print(f"{len(faces)} {a.split} faces -> {sum(i.fake for i in items)} forgeries + {sum(not i.fake for i in items)} untouched; engines {names}", file=sys.stderr)
    results, skipped = [], {}
    for n in names:
        try:
            results.append(run_engine(n, items, log=lambda m: print(m, file=sys.stderr)))
        except ForgetalkError as exc:
            skipped[n] = str(exc)
            print(f"skip {n}: {exc}", file=sys.stderr)
    kinds: dict[str, int] = {}
    for it in items:
        kinds[it.kind] = kinds.get(it.kind, 0) + 1
    md = table(results)
    print(md)
    setup = (f"Set: {len(faces)} faces from the `{a.split}` split of `{a.faces.name}/` ({len({i.photo for i in items})} photos), "
             f"{sum(i.fake for i in items)} forgeries ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()) if k != 'real')}) + {kinds.get('real', 0)} untouched faces, "
             f"seed {a.seed}; split rule: {split_rule_text()}. Machine: {platform.machine()}, torch threads {a.threads}. "
             f"Command: `python benchmarks/localization.py --faces {a.faces} --split {a.split} --seed {a.seed} --per-face {a.per_face}"
             f"{' --engines ' + a.engines if a.engines else ''}`.")
    if skipped:
        setup += " Skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items())
    if a.json:
        a.json.write_text(json.dumps({"setup": setup, "results": [asdict(r) for r in results]}, indent=2), encoding="utf-8")
    if a.write:
        text = a.write.read_text(encoding="utf-8") if a.write.is_file() else f"{START}\n{END}\n"
        pre, rest = text.split(START, 1)
        _, post = rest.split(END, 1)
        a.write.write_text(f"{pre}{START}\n{md}\n{setup}\n{END}{post}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
