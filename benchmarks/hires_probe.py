"""Probe whether the face's high-frequency residual at full crop resolution carries image-level
evidence that the shipped localizer misses.

    python -m forgetalk.train.bundle --size 512 ../shared/faces ../shared/parsing/celebamask_hq_1000 .devdata/train512.npz
    python -m forgetalk.train.bundle --size 512 --split val ../shared/faces ../shared/parsing/celebamask_hq_1000 .devdata/val512.npz
    .venv/bin/python benchmarks/hires_probe.py --train-bundle .devdata/train512.npz --val-bundle .devdata/val512.npz \
        --pairs 8000 --minutes 40 [--device cuda] [--forge-workers 14] [--json out.json]

Why: the localizer sees each face at 192 or 256 px, downsampled from the 512 px aligned crop.
On the external set of hand-made edits the engine was at chance on 600 px photos too, where a
pasted part's own sharpness, noise and resampling are still in the pixels but not in what the
network sees. This trains a small network on the *high-pass residual* of the full 512 px crop
only (the crop minus a Gaussian blur of sigma 1 px, so colour and shape, which the localizer
already sees, are withheld) with a pixel-mask loss, then asks on validation faces: does its
score separate forgeries from their untouched twins, and does it add anything to the shipped
localizer's score (out-of-fold logistic stacking, folds by source photo)?

Data: (untouched twin, forgery) pairs forged on 512 px training-bundle crops by the trainer's own
``family_pair`` (every trained family, the post-edit chains the localizer trains with), kept as
two 256 px patches each at full resolution (one on the edit, one elsewhere on the face). Training
takes random 128 px crops of both twin and forgery at the same place. Validation: every
validation face, one forgery per family next to its untouched twin, each through its own chain;
the residual network sees the whole 512 px crop, the shipped localizer the same image as an
analysis feeds it. Findings of 2026-11-27 (fifteenth session) in docs/localizer_history.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forgetalk.metrics import roc_auc, source_aucs  # noqa: E402
from forgetalk.synth.families import FAMILY_NAMES  # noqa: E402
from forgetalk.train.calibrate import oof_logits, photo_folds  # noqa: E402
from forgetalk.train.loop import GUARD_FAMILIES, family_pair  # noqa: E402

FAMILIES: tuple[str, ...] = tuple(f for f in FAMILY_NAMES if f not in GUARD_FAMILIES)
#: Full-resolution patch kept per pair, and the crop trained on (both in crop pixels).
PATCH, CROP = 256, 128
#: The residual's blur; a sigma of 1 px at 512 keeps what a 192-256 px input cannot hold.
SIGMA = 1.0
#: Native face sizes the tables split by (the chain's ``native_px``; 512 = not resampled).
BANDS: tuple[tuple[str, int, int], ...] = (("0-160", 0, 160), ("160-315", 160, 315), (">=315", 315, 10**6))


def _gauss(sigma: float, k: int = 7) -> torch.Tensor:
    ax = torch.arange(k, dtype=torch.float32) - k // 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None].repeat(3, 1, 1, 1)


def highpass(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] minus its Gaussian blur (reflected borders), scaled by 10: what the
    network may see. A flat or linear patch gives zero."""
    k = kernel.shape[-1] // 2
    return (x - F.conv2d(F.pad(x, (k, k, k, k), mode="reflect"), kernel, groups=3)) * 10.0


def _block(i: int, o: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, dilation, dilation=dilation, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class ResidualNet(nn.Module):
    """Forged-pixel logits at 1/8 resolution from the high-pass residual alone (about 110 k
    parameters; dilated layers give it a view of about 100 crop pixels)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", _gauss(SIGMA))
        self.body = nn.Sequential(_block(3, 16), _block(16, 32, 2), _block(32, 48, 2), _block(48, 64, 2), _block(64, 64, 1, 2), _block(64, 64, 1, 4))
        self.head = nn.Conv2d(64, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(highpass(x, self.kernel)))


def patch_corner(cy: int, cx: int, size: int, patch: int = PATCH) -> tuple[int, int]:
    """Top-left corner of a ``patch`` square centred near (cy, cx), kept inside a ``size`` crop."""
    return int(np.clip(cy - patch // 2, 0, size - patch)), int(np.clip(cx - patch // 2, 0, size - patch))


@dataclass(frozen=True)
class Pool:
    """Training patches: ``x`` (n, 2 patches, twin/forgery, P, P, 3) uint8, ``mask`` (n, 2, P, P) of the
    forgery, and each pair's host record and family index."""

    x: np.ndarray
    mask: np.ndarray
    host: np.ndarray
    family: np.ndarray


def empty_pool(n: int, patch: int = PATCH, folder: Path | None = None) -> Pool:
    """A pool of ``n`` pairs in memory, or (``folder``) as ``.npy`` files mapped from disk: the
    forging processes then write their slices straight into them. Why: each process holds the
    whole 512 px bundle (about 6 GB with its region masks), and sending 3 GB of patches back
    through a pipe copies them once more; on the 23 GB VM that was killed for memory."""
    shapes = {"x": ((n, 2, 2, patch, patch, 3), np.uint8), "mask": ((n, 2, patch, patch), np.uint8), "host": ((n,), np.int32), "family": ((n,), np.int8)}
    if folder is None:
        return Pool(**{k: np.zeros(shp, dt) for k, (shp, dt) in shapes.items()})
    return Pool(**{k: np.lib.format.open_memmap(Path(folder) / f"{k}.npy", "w+", dt, shp) for k, (shp, dt) in shapes.items()})


def open_pool(folder: Path, mode: str = "r") -> Pool:
    return Pool(**{f.name: np.load(Path(folder) / f"{f.name}.npy", mmap_mode=mode) for f in fields(Pool)})


def fill_pool(pool: Pool, recs: Sequence, seed: int, start: int = 0, n: int | None = None) -> None:  # noqa: ANN001 - FaceRecord
    """Forge pairs ``start .. start + n`` of ``pool`` (all of it by default) from ``recs``."""
    rng = np.random.default_rng(seed)
    recs = list(recs)  # family_pair takes a list of donors: made once, not per pair
    patch = pool.x.shape[-2]
    stop = len(pool.x) if n is None else start + n
    for i in range(start, stop):
        h = int(rng.integers(0, len(recs)))
        real, fake = family_pair(recs[h], rng, recs, FAMILIES, True)
        s = fake.image.shape[0]
        ys, xs = np.nonzero(fake.mask)
        k = int(rng.integers(0, len(ys)))
        on_edit = (int(ys[k]) + int(rng.integers(-patch // 6, patch // 6 + 1)), int(xs[k]) + int(rng.integers(-patch // 6, patch // 6 + 1)))
        fy, fx = np.nonzero(recs[h].face_mask)
        j = int(rng.integers(0, len(fy)))
        for p, (cy, cx) in enumerate((on_edit, (int(fy[j]), int(fx[j])))):
            y0, x0 = patch_corner(cy, cx, s, patch)
            pool.x[i, p, 0] = real.image[y0:y0 + patch, x0:x0 + patch]
            pool.x[i, p, 1] = fake.image[y0:y0 + patch, x0:x0 + patch]
            pool.mask[i, p] = fake.mask[y0:y0 + patch, x0:x0 + patch] > 0
        pool.host[i], pool.family[i] = h, FAMILIES.index(fake.kind)


def forge_pool(recs: Sequence, seed: int, n: int, patch: int = PATCH) -> Pool:  # noqa: ANN001 - FaceRecord
    """``n`` pairs forged in this process, in memory."""
    pool = empty_pool(n, patch)
    fill_pool(pool, recs, seed)
    return pool


def _forge_slice(args: tuple[str, str, int, int, int]) -> int:
    from forgetalk.train.bundle import load

    bundle, folder, seed, start, n = args
    pool = open_pool(Path(folder), "r+")
    fill_pool(pool, load(Path(bundle)).records, seed, start, n)
    for f in fields(Pool):
        getattr(pool, f.name).flush()
    return n


def forge_parallel(bundle: Path, n: int, workers: int, seed: int, folder: Path, patch: int = PATCH) -> Pool:
    """``n`` pairs from ``workers`` processes (each its own seed and slice), in ``.npy`` files in
    ``folder``, returned mapped from disk."""
    empty_pool(n, patch, folder)
    sizes = [n // workers + (1 if k < n % workers else 0) for k in range(workers)]
    starts = np.cumsum([0, *sizes[:-1]])
    jobs = [(str(bundle), str(folder), seed + k, int(a), m) for k, (a, m) in enumerate(zip(starts, sizes, strict=True)) if m]
    with ProcessPoolExecutor(len(jobs)) as ex:
        assert sum(ex.map(_forge_slice, jobs)) == n
    return open_pool(folder)


def batch_of(pool: Pool, rng: np.random.Generator, pairs: int, crop: int = CROP) -> tuple[torch.Tensor, torch.Tensor]:
    """``pairs`` twin/forgery crops at the same place (twin target empty), random mirror."""
    n, _, _, p = pool.x.shape[:4]
    xs, ms = [], []
    for i, j in zip(rng.integers(0, n, pairs), rng.integers(0, 2, pairs), strict=True):
        y0, x0 = (int(v) for v in rng.integers(0, p - crop + 1, 2))
        flip = bool(rng.random() < 0.5)
        for k in (0, 1):
            im = pool.x[i, j, k, y0:y0 + crop, x0:x0 + crop]
            m = pool.mask[i, j, y0:y0 + crop, x0:x0 + crop] * k
            xs.append(im[:, ::-1] if flip else im)
            ms.append(m[:, ::-1] if flip else m)
    x = torch.from_numpy(np.ascontiguousarray(np.stack(xs))).permute(0, 3, 1, 2).float() / 255.0
    return x, torch.from_numpy(np.ascontiguousarray(np.stack(ms))).float()[:, None]


def train_probe(pool: Pool, *, minutes: float, steps: int, device: str, pairs: int = 32, crop: int = CROP, lr: float = 2e-3, seed: int = 0,
                log: Callable[[str], None] = print) -> tuple[ResidualNet, dict[str, float]]:
    """Pixel BCE (positives weighted 3x) against the mask area-pooled to the output grid; stops at
    ``steps`` or after ``minutes`` (whichever is given and comes first; 0 = no limit)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = ResidualNet().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    pos = torch.tensor(3.0, device=device)
    t0, step, hist = time.time(), 0, []
    while (not steps or step < steps) and (not minutes or time.time() - t0 < minutes * 60):
        x, m = batch_of(pool, rng, pairs, crop)
        x, m = x.to(device), m.to(device)
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 200)
        out = net(x)
        loss = F.binary_cross_entropy_with_logits(out, F.adaptive_avg_pool2d(m, out.shape[-2:]), pos_weight=pos)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        hist.append(float(loss.detach()))
        if step % 200 == 0:
            log(f"[probe] step {step}, {time.time() - t0:.0f} s, loss {np.mean(hist[-200:]):.4f}")
    return net.eval(), {"steps": step, "seconds": round(time.time() - t0, 1), "patches": step * pairs * 2,
                        "loss_last_200": float(np.mean(hist[-200:])) if hist else float("nan")}


@torch.no_grad()
def residual_score(net: ResidualNet, img: np.ndarray, face_mask: np.ndarray, device: str = "cpu") -> float:
    """Mean of the 20 highest logits inside the face (the whole map when the face is empty)."""
    lg = net(torch.from_numpy(img).permute(2, 0, 1)[None].float().to(device) / 255.0)[0, 0].cpu().numpy()
    fm = cv2.resize(face_mask.astype(np.float32), lg.shape[::-1], interpolation=cv2.INTER_AREA) > 0.5
    v = np.sort(lg[fm] if fm.any() else lg.ravel())[::-1]
    return float(v[:20].mean())


def score_validation(net: ResidualNet, localizer, recs: Sequence, seed: int, device: str = "cpu",  # noqa: ANN001 - Localizer, FaceRecord
                     log: Callable[[str], None] = print) -> dict[str, np.ndarray]:
    """Every face x family: the untouched twin and the forgery, each scored by the residual
    network and by ``localizer`` (the highest region-head probability, as the screen scores)."""
    cols: dict[str, list[float]] = {k: [] for k in ("host", "family", "forged", "native_px", "residual", "localizer")}
    recs = list(recs)
    for h, rec in enumerate(recs):
        for fi, fam in enumerate(FAMILIES):
            rng = np.random.default_rng([seed, h, fi])
            for forged, smp in enumerate(family_pair(rec, rng, recs, (fam,), True)):  # (twin, forgery)
                out = localizer.predict(smp.image, rec.regions)
                p = float(np.clip(max(out.region_probs.values()), 1e-6, 1 - 1e-6))
                for k, v in (("host", h), ("family", fi), ("forged", forged),
                             ("native_px", int(getattr(smp.params.get("chain"), "native_px", 512))),
                             ("residual", residual_score(net, smp.image, rec.face_mask, device)), ("localizer", np.log(p / (1 - p)))):
                    cols[k].append(float(v))
        if (h + 1) % 20 == 0:
            log(f"[probe] scored {h + 1}/{len(recs)} validation faces")
    return {k: np.array(v) for k, v in cols.items()}


#: ``metrics.source_aucs`` keys -> this table's columns.
SOURCE_COLUMNS = {"faces": "web paired", "parsing": "parsing paired", "faces forged vs parsing untouched": "web forged vs parsing untouched",
                  "parsing forged vs faces untouched": "parsing forged vs web untouched"}


def summarize(rows: dict[str, np.ndarray], sources: Sequence[str], groups: Sequence[str]) -> dict[str, dict[str, float]]:
    """Image AUC of each score: pooled, by native size band, per family (that family's forgeries
    against every untouched twin), within each photo source and across them. The stacked score is
    an out-of-fold logistic model of both scores, folds by source photo (``groups``); the
    localizer alone is refitted on the same folds so the two are comparable."""
    y = rows["forged"].astype(int)
    host = rows["host"].astype(int)
    fold = photo_folds([groups[i] for i in host])
    src = np.array([sources[i] for i in host])
    scores = {"residual": rows["residual"], "localizer": rows["localizer"]}
    stack = oof_logits(np.c_[rows["localizer"], rows["residual"]], y, fold)
    alone = oof_logits(rows["localizer"][:, None], y, fold)
    if stack is not None and alone is not None:
        scores["localizer, out of fold"] = alone
        scores["localizer + residual, out of fold"] = stack
    masks = {band: (rows["native_px"] >= lo) & (rows["native_px"] < hi) for band, lo, hi in BANDS}
    masks |= {fam: (rows["family"] == fi) | (y == 0) for fi, fam in enumerate(FAMILIES)}
    out: dict[str, dict[str, float]] = {}
    for name, s in scores.items():
        row = {"all": roc_auc(s, y)}
        row |= {k: roc_auc(s[m], y[m]) if len(set(y[m])) == 2 else float("nan") for k, m in masks.items()}
        by_source = source_aucs(s, y, list(src))
        row |= {label: by_source.get(key, float("nan")) for key, label in SOURCE_COLUMNS.items()}
        out[name] = row
    return out


def table(summary: dict[str, dict[str, float]]) -> str:
    keys = list(next(iter(summary.values())))
    lines = ["| score | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |" for name, row in summary.items()]
    return "\n".join(lines)


def _photo_groups(meta: dict[str, object], n: int) -> list[str]:
    """Each face's source photo (from the bundle's face names), else the face itself."""
    ids = meta.get("face_ids")
    if isinstance(ids, list) and len(ids) == n:
        return [str(i).rsplit("#", 1)[0] for i in ids]
    return [f"face{i}" for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-bundle", type=Path, required=True, help="training-split bundle at 512 px (--size 512)")
    ap.add_argument("--val-bundle", type=Path, required=True, help="validation-split bundle at 512 px")
    ap.add_argument("--localizer", type=Path, default=REPO / "weights" / "localizer" / "localizer.safetensors")
    ap.add_argument("--pairs", type=int, default=8000, help="forged pairs in the training pool")
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: the time limit only)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--forge-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--json", type=Path, help="write the tables and the run's settings here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from forgetalk.engines.localizer.infer import Localizer, load_localizer
    from forgetalk.train.bundle import load, read_meta

    for b, split in ((args.train_bundle, "train"), (args.val_bundle, "val")):
        meta = read_meta(b)
        if meta.get("size") != 512 or meta.get("split") != split:
            sys.exit(f"error: {b} must be the {split} split at 512 px (python -m forgetalk.train.bundle --size 512); it is {meta.get('split')!r} at {meta.get('size')}")
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="hires_probe_") as tmp:
        pool = forge_parallel(args.train_bundle, args.pairs, args.forge_workers, args.seed, Path(tmp))
        forge_s = time.time() - t0
        print(f"[probe] forged {len(pool.x)} pairs in {forge_s:.0f} s", file=sys.stderr)
        net, info = train_probe(pool, minutes=args.minutes, steps=args.steps, device=args.device, seed=args.seed,
                                log=lambda s: print(s, file=sys.stderr, flush=True))
        del pool
    val = load(args.val_bundle)
    loc = Localizer(load_localizer(args.localizer))
    rows = score_validation(net, loc, val.records, args.seed, args.device, log=lambda s: print(s, file=sys.stderr, flush=True))
    summary = summarize(rows, [r.source for r in val.records], _photo_groups(val.meta, len(val.records)))
    n_forged = int(rows["forged"].sum())
    print(f"Validation: {len(val.records)} faces, {n_forged} forgeries and {len(rows['forged']) - n_forged} untouched twins; "
          f"training: {args.pairs} pairs forged in {forge_s:.0f} s, {info['steps']} steps of 64 crops of {CROP} px in {info['seconds']:.0f} s "
          f"on {args.device}")
    print(table(summary))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "training": info, "forge_seconds": round(forge_s, 1), "args": {k: str(v) for k, v in vars(args).items()}}, indent=1))


if __name__ == "__main__":
    main()
