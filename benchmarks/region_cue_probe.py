"""Probe, on validation faces, what the fused engine's outputs can still give by recombination.

    .venv/bin/python benchmarks/region_cue_probe.py [--cache .devdata/region_cue_probe.json]

Why: before asking for new training, check how far the localizer's and the evidence engine's
existing outputs go when combined differently, on the validation items the calibration uses
(``forgetalk.train.calibrate``: same seed, families and counts; landmarks measured on each crop),
never on test faces. Two questions, each answered out of fold (5 folds grouped by source photo,
``calibrate.photo_folds``; region calibrations rebuilt from each training fold's untouched faces):

1. **Region ranking.** Does adding a consistency cue's real-face z to a region's score
   (``fused.with_region_cues``: ``sigmoid(logit(head) + weight * max(z - floor, 0))`` on the region
   the cue is filed under) raise the per-region AUC (a forgery's first primary region against the same
   region on every untouched item, averaged over regions, per family) and the region top-1? Rows:
   the saliency without cue terms, the iris-colour cue at several weights with the floor at 0 and
   at 1 SD (the shipped rule), the three eye cues, every consistency cue, and a free logistic model of the saliency and every cue's z with one offset
   per region (an upper reference for a learned combination).
2. **Face score.** Does a richer face-score model beat the shipped feature set's cross-validated
   image AUC: every face statistic with a ridge, plus each region's features side by side, plus the
   highest out-of-fold region logit of the free model above?

3. **Ranking rule** (added 2026-11-28). The engine's region scores ordered by the excess over real
   faces (the rule until then) and by the real-face percentile shown to the analyst, ties by excess
   (the rule since): region top-1 per family and the ranking prior.

The first run scores every item (about 8 minutes on 2 cores) and caches the per-item numbers as
JSON; later runs read the cache. Findings of 2026-11-26 are in docs/localizer_history.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forgetalk.metrics import roc_auc, separation_auc  # noqa: E402
from forgetalk.train.calibrate import fit_logistic, photo_folds  # noqa: E402
from forgetalk.train.ensemble import trained_families  # noqa: E402
from forgetalk.weights import read_verified, resolve  # noqa: E402

CONSISTENCY = ("border_colour", "border_noise", "catchlight_level", "catchlight_offset", "eye_area", "eye_openness", "iris_colour", "part_offset",
               "part_sharpness", "part_size")
EYE_CUES = ("iris_colour", "catchlight_level", "catchlight_offset")


def shipped_recipe() -> dict:
    """The localizer's recipe (calibration section included), verified against its pin."""
    return json.loads(read_verified("localizer", "recipe.json").decode("utf-8"))


def score_items(faces_dir: Path, parsing_dir: Path) -> list[dict]:
    """Per validation item: label, family, primary regions, photo, the face statistics and, per
    region, the shipped saliency, the region head's score and every cue's real-face z."""
    import torch

    from forgetalk.engines import get_engine
    from forgetalk.engines.fused import (
        SCORE_EXCLUDED_REGIONS,
        calibrate_heat,
        consistency_cues_of,
        consistency_of,
        face_features,
        fuse_heatmaps,
        raised_region_scores,
    )
    from forgetalk.engines.localizer.infer import Localizer, load_localizer
    from forgetalk.engines.regioncal import load_region_calibration, region_saliency
    from forgetalk.train.calibrate import validation_items
    from forgetalk.train.data import load_split_faces
    from forgetalk.train.parsing import load_parsing_split

    torch.set_num_threads(2)
    recipe = shipped_recipe()
    cal = recipe["calibration"]
    faces = [*load_split_faces(faces_dir, "val"), *load_parsing_split(parsing_dir, "val")]
    items = validation_items(faces, trained_families(recipe))
    loc = Localizer(load_localizer(resolve("localizer", "localizer.safetensors")))
    ev_engine = get_engine("evidence")
    rcal = load_region_calibration("localizer")
    w, gamma, src = cal["fusion_weight"], cal["heat_gamma"], cal["region_source"]
    rows = []
    t0 = time.perf_counter()
    for n, it in enumerate(items):
        ev = ev_engine.analyze_face(it.face)
        lo = loc.predict(it.face.crop, it.face.regions)
        heat = calibrate_heat(fuse_heatmaps(lo.prob, ev.heatmap, w), gamma)
        own = lo.region_scores(src)  # the region head alone: the cue terms are what part 1 varies
        weights = cal.get("region_cues") or {}
        engine_scores = raised_region_scores(own, ev.cue_region_stats, weights)[0]  # as the engine scores the face
        ff = face_features(lo, heat, it.face.face_mask, ev.score, it.face.regions, rcal, src, consistency_of(ev), consistency_cues_of(ev), engine_scores)
        sal = region_saliency(heat, it.face.regions, own or None)
        reg = {}
        for k in sal:
            if k in SCORE_EXCLUDED_REGIONS:
                continue
            z = {c: float(v) for c, d in (ev.cue_region_stats or {}).items() if isinstance(v := d.get(f"{k}.z"), int | float) and np.isfinite(v)}
            reg[k] = {"sal": sal[k][0], "head": float(lo.region_probs.get(k, 0.0)), "z": z}
        rows.append({"fake": bool(it.fake), "kind": it.kind, "primary": list(it.primary), "photo": it.photo, "copy": it.copy, "ff": ff, "reg": reg})
        if n % 200 == 0:
            print(f"  {n}/{len(items)} items, {time.perf_counter() - t0:.0f}s", flush=True)
    return rows


def _sig(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


class RegionTable:
    """One row per (item, region), with out-of-fold evaluation of a region score."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        pairs = [(i, k) for i, r in enumerate(rows) for k in r["reg"]]
        self.item = np.array([i for i, _ in pairs])
        self.region = np.array([k for _, k in pairs])
        self.regions = sorted(set(self.region))
        self.fake = np.array([rows[i]["fake"] for i, _ in pairs])
        self.pos = np.array([rows[i]["fake"] and k in rows[i]["primary"] for i, k in pairs])
        self.first = np.array([rows[i]["fake"] and bool(rows[i]["primary"]) and k == rows[i]["primary"][0] for i, k in pairs])
        self.real0 = np.array([not rows[i]["fake"] and rows[i]["copy"] == 0 for i, _ in pairs])
        self.kind = np.array([rows[i]["kind"] for i, _ in pairs])
        self.fold = photo_folds([r["photo"] for r in rows])[self.item]
        self.sal = np.array([rows[i]["reg"][k]["sal"] for i, k in pairs])
        head = np.clip(np.array([rows[i]["reg"][k]["head"] for i, k in pairs]), 1e-4, 1 - 1e-4)
        self.head_logit = np.log(head / (1 - head))
        self.heat_part = 2 * self.sal - head  # region_saliency: 0.5 * heat saliency + 0.5 * region score
        self.z = {c: np.array([rows[i]["reg"][k]["z"].get(c, 0.0) for i, k in pairs]) for c in CONSISTENCY}

    def with_cues(self, weights: dict[str, float], floor: float) -> np.ndarray:
        """The saliency with the cue terms in the region score (fused.with_region_cues), as the product computes it."""
        extra = sum(b * np.maximum(self.z[c] - floor, 0.0) for c, b in weights.items())
        return np.clip(0.5 * self.heat_part + 0.5 * _sig(self.head_logit + extra), 0.0, 1.0)

    def free_model(self) -> np.ndarray:
        """Out-of-fold logits of a logistic model of the saliency and every cue's z, one offset per region."""
        x = np.column_stack([self.sal, *(np.clip(self.z[c], -5, 8) for c in CONSISTENCY)])
        x = (x - x.mean(0)) / (x.std(0) + 1e-9)
        x = np.c_[x, (self.region[:, None] == np.array(self.regions)[None]).astype(float)]
        ok = self.pos | ~self.fake
        out = np.zeros(len(x))
        for f in np.unique(self.fold):
            tr = (self.fold != f) & ok
            coef, b = fit_logistic(x[tr], self.pos[tr].astype(float), l2=1.0)
            out[self.fold == f] = x[self.fold == f] @ coef + b
        return out

    def evaluate(self, s: np.ndarray, rule: str = "excess") -> dict[str, object]:
        """Per-region AUC per family, region top-1 and the ranking prior of the region score ``s``.

        ``rule``: how regions are ordered: "excess" (the key until 2026-11-28) or "percentile" (the
        real-face percentile shown to the analyst, ties, that is regions above every real face,
        broken by the excess: ``regioncal.suspicion_order`` since). Both from each training fold's
        untouched items, pooled over face sizes (the product splits them in two size bands).
        The region-score rows above use "excess", as they did when their findings were written."""
        fams = sorted(set(self.kind[self.fake]))
        real = ~self.fake
        rauc = {}
        for fam in fams:
            aucs = []
            for g in self.regions:
                p, n = s[self.first & (self.kind == fam) & (self.region == g)], s[real & (self.region == g)]
                if len(p) and len(n):
                    aucs.append(separation_auc(p, n))
            rauc[fam] = float(np.mean(aucs))
        exc = np.zeros(len(s))  # excess over each training fold's untouched faces (regioncal.excess)
        pct = np.zeros(len(s))  # and the share of them below (regioncal.percentile)
        for f in np.unique(self.fold):
            for g in self.regions:
                v = s[(self.fold != f) & self.real0 & (self.region == g)]
                if len(v):
                    med, q99 = np.quantile(v, 0.5), np.quantile(v, 0.99)
                    m = (self.fold == f) & (self.region == g)
                    exc[m] = (s[m] - med) / max(q99 - med, 1e-3)
                    pct[m] = np.searchsorted(np.sort(v), s[m], side="left") / len(v)
        key = np.c_[exc, s] if rule == "excess" else np.c_[pct, exc]
        best: dict[int, tuple[tuple[float, float], str]] = {}
        for kv, i, k in zip(map(tuple, key), self.item, self.region, strict=True):
            if i not in best or kv > best[i][0]:
                best[i] = (kv, k)
        hit = defaultdict(list)
        for i, (_, k) in best.items():
            if self.rows[i]["fake"]:
                hit[self.rows[i]["kind"]].append(k in self.rows[i]["primary"])
        firsts = Counter(k for i, (_, k) in best.items() if not self.rows[i]["fake"])
        n_real = sum(firsts.values())
        top_region, top_n = firsts.most_common(1)[0]
        return {"region_auc": rauc, "region_auc_mean": float(np.mean(list(rauc.values()))),
                "top1": float(np.mean([h for v in hit.values() for h in v])), "top1_eye_colour": float(np.mean(hit.get("eye_colour", [0]))),
                "top1_part_swap": float(np.mean(hit.get("part_swap", [0]))), "prior_max": (top_region, top_n / n_real),
                "top1_by_family": {f: float(np.mean(v)) for f, v in hit.items()}}


def face_score_rows(rows: list[dict], free_logits: np.ndarray, table: RegionTable) -> list[tuple[str, float]]:
    """Out-of-fold image AUC of face-score models of increasing richness."""
    y = np.array([r["fake"] for r in rows], float)
    fold = photo_folds([r["photo"] for r in rows])
    shipped = shipped_recipe()["calibration"]["features"]
    names = sorted({k for r in rows for k in r["ff"]})

    def table_of(cols: list[str]) -> np.ndarray:
        return np.array([[r["ff"].get(n, 0.0) for n in cols] for r in rows])

    def oof_auc(x: np.ndarray, l2: float) -> float:
        out = np.zeros(len(y))
        for f in np.unique(fold):
            tr = fold != f
            coef, b = fit_logistic(x[tr], y[tr], l2=l2)
            out[~tr] = x[~tr] @ coef + b
        return roc_auc(out, y)

    z = lambda x: (x - x.mean(0)) / (x.std(0) + 1e-9)  # noqa: E731
    every = z(table_of(names))
    per_region = np.zeros((len(rows), len(table.regions) * 3))
    for i, g, s, hl, zi in zip(table.item, table.region, table.sal, table.head_logit, table.z["iris_colour"], strict=True):
        j = table.regions.index(g) * 3
        per_region[i, j:j + 3] = (s, hl, zi)
    top = np.full(len(rows), -50.0)
    for i, v in zip(table.item, free_logits, strict=True):
        top[i] = max(top[i], v)
    return [(f"shipped features ({len(shipped)})", oof_auc(table_of(shipped), 1e-2)),
            (f"every face statistic ({len(names)}), ridge 100", oof_auc(every, 100.0)),
            ("every face statistic + per-region saliency, head, iris z, ridge 100", oof_auc(np.c_[every, z(per_region)], 100.0)),
            ("shipped features + highest free-model region logit", oof_auc(np.c_[table_of(shipped), top], 1e-2))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    ap.add_argument("--parsing", type=Path, default=REPO.parent / "shared" / "parsing" / "celebamask_hq_1000")
    ap.add_argument("--cache", type=Path, default=REPO / ".devdata" / "region_cue_probe.json")
    a = ap.parse_args()
    if a.cache.exists():
        rows = json.loads(a.cache.read_text(encoding="utf-8"))
    else:
        rows = score_items(a.faces, a.parsing)
        a.cache.parent.mkdir(parents=True, exist_ok=True)
        a.cache.write_text(json.dumps(rows), encoding="utf-8")
    t = RegionTable(rows)
    free = t.free_model()
    variants = [("shipped saliency (no cue terms)", t.sal)]
    variants += [(f"iris_colour, z above 0, weight {b:g}", t.with_cues({"iris_colour": b}, 0.0)) for b in (1, 2, 3)]
    variants += [(f"iris_colour, z above 1 (shipped rule), weight {b:g}", t.with_cues({"iris_colour": b}, 1.0)) for b in (2, 4, 6, 8, 12)]
    variants += [(f"3 eye cues, z above 1, weight {b:g}", t.with_cues(dict.fromkeys(EYE_CUES, b), 1.0)) for b in (2, 4)]
    variants += [(f"every consistency cue, z above 1, weight {b:g}", t.with_cues(dict.fromkeys(CONSISTENCY, b), 1.0)) for b in (1, 2)]
    variants += [("free logistic model (saliency + every z + region offsets)", free)]
    fams = sorted({r["kind"] for r in rows if r["fake"]})
    print(f"{len(rows)} validation items; out of fold, 5 photo-grouped folds\n")
    print("| region score | per-region AUC (mean) | " + " | ".join(fams) + " | top-1 | top-1 eye_colour | top-1 part_swap | most-often-first real |")
    print("|---|" + "---|" * (len(fams) + 5))
    for name, s in variants:
        m = t.evaluate(s)
        pr = m["prior_max"]
        print(f"| {name} | {m['region_auc_mean']:.3f} | " + " | ".join(f"{m['region_auc'][f]:.3f}" for f in fams)
              + f" | {100 * m['top1']:.1f} % | {100 * m['top1_eye_colour']:.1f} % | {100 * m['top1_part_swap']:.1f} % | {pr[0]} {100 * pr[1]:.1f} % |")
    shipped = shipped_recipe()["calibration"]
    engine_scores = t.with_cues(shipped.get("region_cues") or {}, float(shipped.get("region_cue_floor", 1.0)))
    print("\nRanking rule, on the engine's region scores (the shipped cue terms):\n")
    print("| regions ordered by | top-1 | " + " | ".join(f"top-1 {f}" for f in fams) + " | most-often-first real |")
    print("|---|" + "---|" * (len(fams) + 2))
    for name, rule in (("excess over real faces (until 2026-11-28)", "excess"), ("real-face percentile, ties by excess (shipped)", "percentile")):
        m = t.evaluate(engine_scores, rule)
        pr = m["prior_max"]
        print(f"| {name} | {100 * m['top1']:.1f} % | " + " | ".join(f"{100 * m['top1_by_family'][f]:.1f} %" for f in fams) + f" | {pr[0]} {100 * pr[1]:.1f} % |")
    print("\n| face-score model | out-of-fold image AUC |\n|---|---|")
    for name, auc in face_score_rows(rows, free, t):
        print(f"| {name} | {auc:.3f} |")


if __name__ == "__main__":
    main()
