"""Screen localizers and their combinations on validation faces, before any test-set measurement.

    .venv/bin/python benchmarks/localizer_screen.py --bundle .devdata/val_bundle.npz \
        --model v3=weights/localizer --model v6=.devdata/v6 --model lofo=.devdata/lofo_part_swap \
        --combo v3 --combo v3+v6+lofo --combo v3~flip

Why: choosing which trained networks to ship (alone, averaged as an ensemble, with a flip) must
not look at the held-out test faces, and a full calibration plus benchmark costs about 30 minutes
per candidate on 2 cores. This forges, on every face of a validation-split bundle
(``python -m forgetalk.train.bundle --split val``), one forgery per family next to its untouched
twin through the same post-edit chain (the checkpoint guard's own batch and metrics, ``--seed`` as
``guard_seed``), runs each
network once (and once mirrored when a combination asks for it) and prints, per combination, the
region head's image AUC per family (its highest probability as the score, as the checkpoint guard
measures it), the mean over families, the region top-1 on the forgeries and the head's per-region
AUC (the forged part against the same part on the twins, ``loop.head_metrics``). Combinations average
logits (as ``LocalizerEnsemble`` does); ``NAME~flip`` adds the mirrored pass of NAME, whose left
and right region channels are swapped in and back out. Raw networks, no calibration: a screen, not
the product's numbers (those come from ``benchmarks/localization.py``). Networks of different input
sizes are each run on a batch of their own size made from the same draws (the same edits, resized).
A second table pools every family's head scores and gives them within and across photo sources
(web photos, parsing set) by the chain's native face size: the unpaired AUC on validation faces,
in seconds, where the calibrated engine needs a calibration (docs/localizer.md).
``--beauty P`` retouches that share of the hosts as a whole before the edit (``forgetalk.synth.beauty``,
both twins alike) and adds a table: plain and retouched pairs alone, and plain forgeries against
retouched untouched faces and the reverse (what a set of retouched real portraits does to a network
that reads smooth skin as an edit; docs/localizer_history.md, sixteenth session).
Used on 2026-11-26 to choose the shipped ensemble (docs/localizer_history.md).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forgetalk.engines.localizer.infer import load_localizer  # noqa: E402
from forgetalk.engines.localizer.model import mirrored_channels  # noqa: E402
from forgetalk.train.bundle import validation_bundle  # noqa: E402
from forgetalk.train.loop import ALL_FAMILIES, GUARD_FAMILIES, TrainConfig, head_metrics, make_guard_batch  # noqa: E402

FAMILIES = (*ALL_FAMILIES, *GUARD_FAMILIES)


def parse_combo(text: str, members: dict[str, list[str]] | None = None) -> list[tuple[str, bool]]:
    """"v3+v6~flip" -> [("v3", False), ("v6", False), ("v6", True)]: the passes whose logits are averaged;
    "v3@256" feeds v3 crops of 256 px instead of its own input size (:func:`pass_size`).

    ``members``: a model loaded from an ensemble file, by name, and the names its members were given
    (:func:`split_ensembles`); its name stands for all of them, so "ship+g1" averages the shipped
    ensemble's members and g1 with equal weights, as ``forgetalk.train.ensemble`` would combine them."""
    passes = []
    for token in text.split("+"):
        name, _, size = token.removesuffix("~flip").partition("@")
        for part in (members or {}).get(name, [name]):
            part = f"{part}@{size}" if size else part
            passes.append((part, False))
            if token.endswith("~flip"):
                passes.append((part, True))
    return passes


def pass_size(part: str, nets: dict[str, torch.nn.Module]) -> tuple[str, int]:
    """"v3@256" -> ("v3", 256); "v3" -> ("v3", v3's own input size). Why: a network is fully
    convolutional, so it can be fed a larger crop than it was trained at; the screen measures
    whether a finer view of the same face helps it (a test-time scale, no training)."""
    name, _, size = part.partition("@")
    return name, int(size) if size else int(nets[name].config.input_size)


def split_ensembles(nets: dict[str, torch.nn.Module]) -> tuple[dict[str, torch.nn.Module], dict[str, list[str]]]:
    """Each ensemble among ``nets`` replaced by its members, named NAME.0, NAME.1, ... (and the
    names, by ensemble). Why: a member must see the crop at its own input size, and the screen
    feeds each network a batch of its size; an ensemble file (the shipped weights) takes one input
    per size, so it is screened as the members it averages."""
    from forgetalk.engines.localizer.model import LocalizerEnsemble

    out: dict[str, torch.nn.Module] = {}
    members: dict[str, list[str]] = {}
    for name, net in nets.items():
        if isinstance(net, LocalizerEnsemble):
            members[name] = [f"{name}.{i}" for i in range(len(net.members))]
            out.update(zip(members[name], net.members, strict=True))
        else:
            out[name] = net
    return out, members


@torch.no_grad()
def run_net(net: torch.nn.Module, batch: dict[str, torch.Tensor], flip: bool, perm: list[int]) -> np.ndarray:
    """Region logits (N, R) of one pass; mirrored passes come back in the original channel order."""
    out = []
    for i in range(0, batch["x"].shape[0], 64):
        x, r = batch["x"][i:i + 64], batch["regions"][i:i + 64]
        if flip:
            x, r = x.flip(-1), r[:, perm].flip(-1)
        rl = net(x, r)[1]
        out.append(rl[:, perm] if flip else rl)
    return torch.cat(out).numpy()


#: Native face sizes (px, the post-edit chain's ``native_px``) the source table splits by: the
#: unpaired AUC failed at 100-160 px and held above 315 (docs/localizer_history.md).
SIZE_BANDS: tuple[tuple[int, int], ...] = ((0, 160), (160, 315), (315, 10**6))
SOURCE_KEYS = ("faces", "parsing", "faces forged vs parsing untouched", "parsing forged vs faces untouched")


def source_rows(score: np.ndarray, forged: np.ndarray, source: list[str], native: np.ndarray) -> list[tuple[str, int, dict[str, float]]]:
    """(band, images, source AUCs) for every face size and each size band (pure): the head's image
    AUC within each photo source and across them (``forgetalk.metrics.source_aucs``)."""
    from forgetalk.metrics import source_aucs

    y = forged.astype(np.int64)
    rows = [("every size", len(y), source_aucs(score, y, source))]
    src = np.asarray(source)
    for lo, hi in SIZE_BANDS:
        sel = (native >= lo) & (native < hi)
        name = f"{lo}-{hi} px" if hi < 10**6 else f">= {lo} px"
        rows.append((name, int(sel.sum()), source_aucs(score[sel], y[sel], list(src[sel]))))
    return rows


#: Resamples and seed of the face bootstrap behind the differences' intervals.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20261127


def cross_differences(scores: dict[str, np.ndarray], forged: np.ndarray, source: list[str], host: np.ndarray, base: str,
                      resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, dict[str, tuple[float, float, float]]]:
    """combination -> {cross AUC or "gap": (difference from ``base``, 95 % low, high)} (pure).

    The two cross AUCs are web forgeries against untouched parsing-set faces and the reverse; the
    gap is the second minus the first, the source asymmetry a training change is meant to close.
    Why a face bootstrap: a face's 18 images (a forgery and a twin per family) share the face, so
    resampling images would make the intervals too narrow; each resample draws the host faces with
    replacement and weights their images by the count (``metrics.weighted_auc``), the same
    resamples for every combination, so the interval of a difference is paired.
    """
    from forgetalk.metrics import weighted_auc

    src = np.asarray(source)
    sel = {k: (forged & (src == a)) | (~forged & (src == b)) for k, a, b in
           ((SOURCE_KEYS[2], "faces", "parsing"), (SOURCE_KEYS[3], "parsing", "faces"))}
    faces, fid = np.unique(host, return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = [np.ones(len(faces))] + [np.bincount(rng.integers(0, len(faces), len(faces)), minlength=len(faces)).astype(np.float64) for _ in range(resamples)]

    def per_resample(s: np.ndarray) -> dict[str, np.ndarray]:
        out = {k: np.array([weighted_auc(s[m], forged[m], c[fid[m]]) for c in counts]) for k, m in sel.items()}
        out["gap"] = out[SOURCE_KEYS[3]] - out[SOURCE_KEYS[2]]
        return out

    ref = per_resample(scores[base])
    result = {}
    for name, s in scores.items():
        if name == base:
            continue
        got = per_resample(s)
        result[name] = {}
        for k, v in got.items():
            d = v - ref[k]
            tail = d[1:][np.isfinite(d[1:])]
            lo, hi = (float(np.quantile(tail, 0.025)), float(np.quantile(tail, 0.975))) if len(tail) else (float("nan"), float("nan"))
            result[name][k] = (float(d[0]), lo, hi)
    return result


BEAUTY_KEYS = ("plain pairs", "retouched pairs", "plain forged vs retouched untouched", "retouched forged vs plain untouched")


def beauty_aucs(score: np.ndarray, forged: np.ndarray, retouched: np.ndarray) -> dict[str, float]:
    """Image AUCs of one pooled score within and across retouched and plain hosts (pure): the
    cross columns are what a set with retouched real portraits and plain forgeries (or the
    reverse) measures. The source table's computation (``metrics.source_aucs``), with "retouched"
    and "plain" as the two sources; a comparison lacking a class is nan."""
    from forgetalk.metrics import source_aucs

    got = source_aucs(score, forged.astype(np.int64), ["retouched" if r else "plain" for r in retouched])
    got = {("plain pairs" if k == "plain" else "retouched pairs" if k == "retouched" else k): v for k, v in got.items()}
    return {k: got.get(k, float("nan")) for k in BEAUTY_KEYS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=validation_bundle, required=True, help="bundle of the validation split")
    ap.add_argument("--model", action="append", required=True, help="NAME=DIR holding localizer.safetensors; an ensemble (the shipped weights) is screened as its members, and NAME in --combo stands for all of them")
    ap.add_argument("--combo", action="append", required=True, help="NAME[+NAME...], each NAME optionally NAME@SIZE (fed SIZE px crops) and/or NAME~flip")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--beauty", type=float, default=0.0, help="share of hosts retouched as a whole before the edit (0-1; adds the retouch table)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    bundle = args.bundle
    recs = bundle.records
    nets, members = split_ensembles({k: load_localizer(Path(v) / "localizer.safetensors") for k, v in (m.split("=", 1) for m in args.model)})
    first = next(iter(nets.values())).config
    perm = mirrored_channels(first.region_names)
    combos = [(c, parse_combo(c, members)) for c in args.combo]
    need = {p for _, parts in combos for p in parts}
    sizes = sorted({pass_size(p, nets)[1] for p, _ in need} | {first.input_size}, key=lambda s: s != first.input_size)
    cfgs = {s: replace(TrainConfig(), model=replace(first, members=1, input_size=s), chain=True, guard_seed=args.seed, guard_size=2 * len(recs), beauty=args.beauty)
            for s in sizes}
    fams = args.families.split(",")
    auc: dict[str, list[float]] = {c: [] for c, _ in combos}
    top1: dict[str, list[float]] = {c: [] for c, _ in combos}
    rauc: dict[str, list[float]] = {c: [] for c, _ in combos}
    pooled: dict[str, list[np.ndarray]] = {c: [] for c, _ in combos}  # every family's head scores, for the source table
    forged_all, host_all, native_all, beauty_all = [], [], [], []
    for fam in fams:
        # the checkpoint guard's own batch (every face once, twin beside forgery) and metrics; one
        # batch per input size, forged from the same draws (the edits are made at the synthesis
        # size and only resized), so networks of different input sizes see the same edits and are
        # scored against the labels of the first model's batch
        batches = {s: make_guard_batch(recs, replace(c, guard_families=(fam,))) for s, c in cfgs.items()}
        batch = batches[sizes[0]]
        for s in sizes[1:]:
            same = float((batches[s]["rt"].argmax(1) == batch["rt"].argmax(1)).float().mean())
            print(f"[screen] {fam}: {s} px batch names the same most-forged region on {100 * same:.1f}% of images", file=sys.stderr)
        logits = {(m, f): run_net(nets[pass_size(m, nets)[0]], batches[pass_size(m, nets)[1]], f, perm) for m, f in need}
        forged_all.append((batch["mask"].flatten(1) > 0.5).any(1).numpy())
        host_all.append(batch["host"].numpy())
        native_all.append(batch["native_px"].numpy())
        beauty_all.append(batch["beauty"].numpy())
        for c, parts in combos:
            mean_logits = np.mean([logits[p] for p in parts], axis=0)
            pooled[c].append(1.0 / (1.0 + np.exp(-mean_logits.max(1))))  # the head's highest probability, as head_metrics scores
            got = head_metrics(torch.from_numpy(mean_logits), batch)
            auc[c].append(got["image_auc"])
            top1[c].append(got["region_top1"])
            rauc[c].append(got.get("region_auc_mean", float("nan")))
        print(f"[screen] {fam}: {batch['x'].shape[0]} images", file=sys.stderr, flush=True)
    print(f"Region-head image AUC on validation faces ({len(recs)} faces, one forgery + twin per face and family, seed {args.seed})\n")
    print("| combination | " + " | ".join(fams) + " | mean | region top-1 | per-region AUC (mean) |")
    print("|---" * (len(fams) + 4) + "|")
    for c, _ in combos:
        print(f"| {c} | " + " | ".join(f"{a:.3f}" for a in auc[c]) + f" | {np.mean(auc[c]):.3f} | {100 * np.mean(top1[c]):.1f}% | {np.nanmean(rauc[c]):.3f} |")
    retouched = np.concatenate(beauty_all)
    if retouched.any() and not retouched.all():
        forged = np.concatenate(forged_all)
        print(f"\nThe same head scores, every family pooled, by whether the host was retouched as a whole before the edit "
              f"(--beauty {args.beauty}: {int(retouched.sum())} of {retouched.size} images)\n")
        print("| combination | " + " | ".join(BEAUTY_KEYS) + " |")
        print("|---" * (len(BEAUTY_KEYS) + 1) + "|")
        for c, _ in combos:
            aucs = beauty_aucs(np.concatenate(pooled[c]), forged, retouched)
            print(f"| {c} | " + " | ".join(f"{aucs[k]:.3f}" for k in BEAUTY_KEYS) + " |")
    host = np.concatenate(host_all)
    sources = [recs[i].source or "unknown" for i in host]
    if len(set(sources)) > 1:
        forged, native = np.concatenate(forged_all), np.concatenate(native_all)
        scores = {c: np.concatenate(pooled[c]) for c, _ in combos}
        print("\nThe same head scores, every family pooled, within and across photo sources, by the chain's native face size "
              "(web photos = faces, parsing set = parsing; the unpaired AUC, docs/localizer_history.md)\n")
        print("| combination | face size | images | " + " | ".join(SOURCE_KEYS) + " |")
        print("|---" * (len(SOURCE_KEYS) + 3) + "|")
        for c, _ in combos:
            for band, n, aucs in source_rows(scores[c], forged, sources, native):
                print(f"| {c} | {band} | {n} | " + " | ".join(f"{aucs[k]:.3f}" if k in aucs else "—" for k in SOURCE_KEYS) + " |")
        if len(combos) > 1:
            base = combos[0][0]
            diffs = cross_differences(scores, forged, sources, host, base)
            print(f"\nEach combination minus {base} (every size; 95 % intervals from {BOOTSTRAP_RESAMPLES} resamples of the host faces, paired)\n")
            print("| combination | " + " | ".join([*SOURCE_KEYS[2:], "gap (second minus first)"]) + " |")
            print("|---" * 4 + "|")
            for c, d in diffs.items():
                print(f"| {c} | " + " | ".join(f"{d[k][0]:+.3f} [{d[k][1]:+.3f}, {d[k][2]:+.3f}]" for k in (*SOURCE_KEYS[2:], "gap")) + " |")


if __name__ == "__main__":
    main()
