"""How fast the training workers make batches: forging, assembly and the trip to the trainer.

    .venv/bin/python benchmarks/forging.py --bundle .devdata/train_bundle.npz [--sizes 192,256] [--batches 20] [--workers 2]

Why: on the lent GPU machine the localizer's training rate is set by the worker processes that
forge batches, not by the GPU (2026-11-26: 12 steps a second with 7 workers, 22 with 14), so a
worker's samples per second is what a GPU minute buys. Three tables, every row measured in this
run on the same draws:

1. One worker, in this process (1 thread, as a training worker runs): samples per second with
   the float batch the trainer used to receive and with the compact one it receives now
   (``loop.make_batch(compact=True)``), the share of the time spent forging (``family_pair``), the
   batch's size in bytes and the ratio of the two forms' times, batch by batch on the same draws
   (the VM's speed drifts by tens of percent within minutes; only the paired ratio is stable).
2. The same through ``torch.utils.data.DataLoader`` with ``--workers`` processes, as the training
   loop builds it, timed at the receiving end (the compact batch expanded there as ``loop._to``
   does): what the optimizer would be fed.
3. Forging alone, per family: milliseconds per (twin, forgery) pair.

The bundle is the training split's (``python -m forgetalk.train.bundle``); nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import forgetalk.train.loop as loop  # noqa: E402
from forgetalk.train.bundle import load as load_bundle  # noqa: E402

FAMILIES = loop.ALL_FAMILIES  # what `train localizer --families all` trains on


@dataclass(frozen=True)
class WorkerRate:
    """One batch form's figures for one worker (``one_worker``)."""

    samples_per_s: float
    forging_share: float  # of the time, in family_pair (forging and the post-edit chains)
    batch_bytes: int


def nbytes(batch: dict[str, torch.Tensor]) -> int:
    return sum(v.numel() * v.element_size() for v in batch.values())


def one_worker(recs: list, cfg: loop.TrainConfig, batches: int, seed: int) -> tuple[dict[bool, WorkerRate], float]:
    """({compact: its figures} of make_batch in this process, the median over batches of the float
    batch's time over the compact one's). The two forms alternate batch by batch on the same draws (batch i of both
    from seed [seed, i]), so a drift in the machine's speed moves both alike."""
    orig, spent = loop.family_pair, [0.0]

    def timed(*a, **k):  # noqa: ANN002, ANN003, ANN202
        t = time.perf_counter()
        out = orig(*a, **k)
        spent[0] += time.perf_counter() - t
        return out

    loop.family_pair = timed
    total = {False: 0.0, True: 0.0}
    forging = {False: 0.0, True: 0.0}
    size = {}
    ratios = []
    try:
        for c in (False, True):  # warm-up, and the batch sizes
            size[c] = nbytes(loop.make_batch(recs, np.random.default_rng([seed, 2**31]), cfg, cfg.batch_size, compact=c))
        for i in range(batches):
            took = {}
            for c in (False, True):
                spent[0] = 0.0
                t = time.perf_counter()
                loop.make_batch(recs, np.random.default_rng([seed, i]), cfg, cfg.batch_size, compact=c)
                took[c] = time.perf_counter() - t
                total[c] += took[c]
                forging[c] += spent[0]
            ratios.append(took[False] / took[True])
    finally:
        loop.family_pair = orig
    return {c: WorkerRate(batches * cfg.batch_size / total[c], forging[c] / total[c], size[c]) for c in (False, True)}, float(np.median(ratios))


def through_loader(recs: list, cfg: loop.TrainConfig, batches: int, workers: int, compact: bool) -> float:
    """Samples per second received from a DataLoader of ``workers`` processes (after a warm-up batch per worker)."""
    it = iter(torch.utils.data.DataLoader(loop._BatchStream(recs, cfg, compact), batch_size=None, num_workers=workers, prefetch_factor=4, persistent_workers=False))
    for _ in range(workers):
        loop.expand_batch(next(it))
    t = time.perf_counter()
    for _ in range(batches):
        loop.expand_batch(next(it))
    dt = time.perf_counter() - t
    del it
    return batches * cfg.batch_size / dt


def per_family(recs: list, cfg: loop.TrainConfig, pairs: int, seed: int) -> dict[str, float]:
    out = {}
    for fam in FAMILIES:
        rng = np.random.default_rng([seed, len(fam)])
        t = time.perf_counter()
        for _ in range(pairs):
            rec = recs[int(rng.integers(0, len(recs)))]
            loop.family_pair(rec, rng, recs, (fam,), True)
        out[fam] = 1000 * (time.perf_counter() - t) / pairs
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=REPO / ".devdata" / "train_bundle.npz")
    ap.add_argument("--sizes", default="192,256", help="model input sizes")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes for table 2 (0: skip it)")
    ap.add_argument("--pairs", type=int, default=30, help="pairs per family for table 3 (0: skip it)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    bundle = load_bundle(a.bundle)
    recs = bundle.records
    base = loop.TrainConfig()
    print(f"bundle {a.bundle.name}: {len(recs)} faces at {recs[0].crop.shape[0]} px; batch {a.batch_size}; every family, post-edit chains\n")
    print("| input size | batch form | samples/s, one worker | time forging | MB per batch | float time / compact time (median of pairs) |")
    print("|---|---|---|---|---|---|")
    cfgs = {}
    for s in (int(v) for v in a.sizes.split(",")):
        cfg = cfgs[s] = replace(base, families=FAMILIES, chain=True, batch_size=a.batch_size, seed=a.seed, model=replace(base.model, input_size=s))
        got, ratio = one_worker(recs, cfg, a.batches, a.seed)
        for compact, r in got.items():
            print(f"| {s} | {'compact (uint8)' if compact else 'float'} | {r.samples_per_s:.1f} | {100 * r.forging_share:.0f} % | {r.batch_bytes / 1e6:.1f} | "
                  f"{f'{ratio:.2f}' if compact else ''} |", flush=True)
    if a.workers:
        print(f"\n| input size | batch form | samples/s received from {a.workers} worker processes |\n|---|---|---|")
        for s, cfg in cfgs.items():
            for compact in (False, True):
                print(f"| {s} | {'compact (uint8)' if compact else 'float'} | {through_loader(recs, cfg, a.batches, a.workers, compact):.1f} |", flush=True)
    if a.pairs:
        cfg = next(iter(cfgs.values()))
        ms = per_family(recs, cfg, a.pairs, a.seed)
        print("\n| family | ms per pair (forgery + twin, with chains), one worker |\n|---|---|")
        for fam, v in ms.items():
            print(f"| {fam} | {v:.1f} |")


if __name__ == "__main__":
    main()
