"""Probe, on validation faces, whether the localizers' own features carry image-level evidence
that the face score's statistics miss.

    .venv/bin/python benchmarks/deep_feature_probe.py [--cache .devdata/deep_feature_probe.npz]

Why: the face score is a logistic model of statistics of the fused heat, the region scores and the
consistency cues; on the validation items its out-of-fold image AUC stopped at 0.69 while the
localizers improved (docs/localizer_history.md), and every recombination of those statistics scored the
same (``region_cue_probe.py``). Before training an image-level head, check whether the networks'
internal features, pooled over the face, separate forged from untouched faces better: each
ensemble member's deepest encoder features (stride 16) and its decoder features at stride 4,
averaged and max-pooled inside the face oval, and each member's own region logits (the ensemble
averages them, which may hide a member's disagreement).

Same validation items as the calibration (``calibrate.validation_items``, same seed, landmarks
measured on each crop), never test faces. Answers out of fold (5 folds grouped by source photo,
``calibrate.photo_folds``) for: the shipped feature set, each deep block alone with a ridge, the
shipped features with the deep ones beside them, and the shipped features with one stacked deep
score (nested folds); and per family. Findings of 2026-11-26 (eighth session) in docs/localizer_history.md. The first run scores every
item (about 8.5 minutes on 2 cores) and caches the numbers; later runs read the cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forgetalk.metrics import roc_auc  # noqa: E402
from forgetalk.train.calibrate import fit_logistic, photo_folds  # noqa: E402
from forgetalk.train.ensemble import trained_families  # noqa: E402


def pooled(t, mask):  # noqa: ANN001, ANN201 - (1, C, h, w) torch tensor, (H, W) bool numpy mask
    """Mean and max of each channel inside the face mask resized to the feature map."""
    import torch
    import torch.nn.functional as F

    m = F.adaptive_avg_pool2d(torch.from_numpy(mask.astype(np.float32))[None, None], t.shape[-2:]) > 0.5
    if not bool(m.any()):
        m = torch.ones_like(m)
    v = t[0][:, m[0, 0]]
    return torch.cat([v.mean(1), v.amax(1)]).numpy()


def score_items(faces_dir: Path, parsing_dir: Path) -> dict[str, np.ndarray]:
    """Per validation item: label, family, photo, the shipped face statistics and the deep blocks."""
    import torch

    from forgetalk.engines import get_engine
    from forgetalk.engines.fused import calibrate_heat, consistency_cues_of, consistency_of, face_features, fuse_heatmaps, raised_region_scores
    from forgetalk.engines.localizer.common import finish_outputs, input_names, prepare_all
    from forgetalk.engines.localizer.infer import load_localizer
    from forgetalk.engines.regioncal import load_region_calibration
    from forgetalk.train.calibrate import validation_items
    from forgetalk.train.data import load_split_faces
    from forgetalk.train.parsing import load_parsing_split
    from forgetalk.weights import read_verified, resolve

    torch.set_num_threads(2)
    recipe = json.loads(read_verified("localizer", "recipe.json").decode("utf-8"))
    cal = recipe["calibration"]
    faces = [*load_split_faces(faces_dir, "val"), *load_parsing_split(parsing_dir, "val")]
    items = validation_items(faces, trained_families(recipe))
    net = load_localizer(resolve("localizer", "localizer.safetensors")).eval()
    members = list(net.members) if hasattr(net, "members") else [net]
    grabbed: dict[str, object] = {}
    for i, m in enumerate(members):
        m.enc.register_forward_hook(lambda _m, _i, out, i=i: grabbed.__setitem__(f"enc{i}", out[-1]))
        m.d1.register_forward_hook(lambda _m, _i, out, i=i: grabbed.__setitem__(f"dec{i}", out))
        m.register_forward_hook(lambda _m, _i, out, i=i: grabbed.__setitem__(f"reg{i}", out[1][0]))
    ev_engine = get_engine("evidence")
    rcal = load_region_calibration("localizer")
    w, gamma, src = cal["fusion_weight"], cal["heat_gamma"], cal["region_source"]
    names, sizes = net.config.region_names, net.config.input_sizes

    cols: dict[str, list] = {k: [] for k in ("fake", "kind", "photo", "ff", "enc", "dec", "reg")}
    t0 = time.perf_counter()
    for n, it in enumerate(items):
        ev = ev_engine.analyze_face(it.face)
        feed = prepare_all(it.face.crop, it.face.regions, sizes, names)
        with torch.no_grad():
            logits, rlog = net(*(torch.from_numpy(feed[k]) for k in input_names(sizes)))
        lo = finish_outputs(logits.numpy(), rlog.numpy(), it.face.crop.shape[:2], names, it.face.regions)
        heat = calibrate_heat(fuse_heatmaps(lo.prob, ev.heatmap, w), gamma)
        engine_scores = raised_region_scores(lo.region_scores(src), ev.cue_region_stats, cal.get("region_cues") or {})[0]
        ff = face_features(lo, heat, it.face.face_mask, ev.score, it.face.regions, rcal, src, consistency_of(ev), consistency_cues_of(ev), engine_scores)
        fm = np.asarray(it.face.face_mask, bool)
        cols["fake"].append(bool(it.fake))
        cols["kind"].append(it.kind)
        cols["photo"].append(it.photo)
        cols["ff"].append(json.dumps(ff))
        cols["enc"].append(np.concatenate([pooled(grabbed[f"enc{i}"], fm) for i in range(len(members))]))
        cols["dec"].append(np.concatenate([pooled(grabbed[f"dec{i}"], fm) for i in range(len(members))]))
        cols["reg"].append(np.concatenate([grabbed[f"reg{i}"].numpy() for i in range(len(members))]))
        if n % 200 == 0:
            print(f"  {n}/{len(items)} items, {time.perf_counter() - t0:.0f}s", flush=True)
    return {k: np.array(v) for k, v in cols.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    ap.add_argument("--parsing", type=Path, default=REPO.parent / "shared" / "parsing" / "celebamask_hq_1000")
    ap.add_argument("--cache", type=Path, default=REPO / ".devdata" / "deep_feature_probe.npz")
    a = ap.parse_args()
    if a.cache.exists():
        data = dict(np.load(a.cache))
    else:
        data = score_items(a.faces, a.parsing)
        a.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(a.cache, **data)
    y = data["fake"].astype(float)
    fold = photo_folds([str(p) for p in data["photo"]])
    kinds = data["kind"].astype(str)
    ffs = [json.loads(s) for s in data["ff"]]
    recipe = json.loads((REPO / "weights" / "localizer" / "recipe.json").read_text(encoding="utf-8"))
    shipped = recipe["calibration"]["features"]
    ship = np.array([[f.get(n, 0.0) for n in shipped] for f in ffs])
    z = lambda x: (x - x.mean(0)) / (x.std(0) + 1e-9)  # noqa: E731

    def oof(x: np.ndarray, l2: float) -> np.ndarray:
        out = np.zeros(len(y))
        for f in np.unique(fold):
            tr = fold != f
            coef, b = fit_logistic(x[tr], y[tr], l2=l2)
            out[~tr] = x[~tr] @ coef + b
        return out

    fams = sorted(set(kinds[y == 1]))
    real = y == 0

    def row(name: str, s: np.ndarray) -> str:
        per = [roc_auc(np.r_[s[(kinds == f) & (y == 1)], s[real]], np.r_[np.ones(((kinds == f) & (y == 1)).sum()), np.zeros(real.sum())]) for f in fams]
        return f"| {name} | {roc_auc(s, y):.3f} | " + " | ".join(f"{p:.3f}" for p in per) + " |"

    print(f"{len(y)} validation items ({int(y.sum())} forged), {len(set(data['photo']))} photos; out of fold, 5 photo-grouped folds\n")
    print("| face-score model | image AUC | " + " | ".join(fams) + " |\n|---|---|" + "---|" * len(fams))
    print(row(f"shipped features ({len(shipped)})", oof(ship, 1e-2)))
    blocks = {"enc": z(data["enc"]), "dec": z(data["dec"]), "reg": z(data["reg"])}
    for name, x in blocks.items():
        for l2 in (10.0, 100.0, 1000.0):
            print(row(f"{name} ({x.shape[1]}), ridge {l2:g}", oof(x, l2)))
    both = np.c_[z(ship), blocks["enc"], blocks["dec"], blocks["reg"]]
    for l2 in (100.0, 1000.0, 3000.0):
        print(row(f"shipped + every deep block ({both.shape[1]}), ridge {l2:g}", oof(both, l2)))
    for name in ("dec", "reg"):
        print(row(f"shipped + one stacked {name} score (nested folds), ridge 100", stacked(ship, blocks[name], y, fold, 100.0)))


def stacked(ship: np.ndarray, deep: np.ndarray, y: np.ndarray, fold: np.ndarray, l2: float) -> np.ndarray:
    """Out-of-fold logits of the shipped features plus one deep score: within each outer training
    fold the deep ridge model's score is itself out of fold (inner folds), so the second stage
    never sees a score fitted on its own items (a ridge over thousands of features would
    otherwise look perfect to it)."""
    out = np.zeros(len(y))
    for f in np.unique(fold):
        tr = fold != f
        inner = np.zeros(len(y))
        for g in np.unique(fold[tr]):
            a, b = tr & (fold != g), tr & (fold == g)
            coef, icpt = fit_logistic(deep[a], y[a], l2=l2)
            inner[b] = deep[b] @ coef + icpt
        coef, icpt = fit_logistic(deep[tr], y[tr], l2=l2)
        inner[~tr] = deep[~tr] @ coef + icpt
        x = np.c_[ship, inner]
        c2, i2 = fit_logistic(x[tr], y[tr])
        out[~tr] = x[~tr] @ c2 + i2
    return out


if __name__ == "__main__":
    main()
