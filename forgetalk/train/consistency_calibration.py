"""Build the real-face calibration of the consistency cues (``weights/evidence/consistency.json``).

    python -m forgetalk.train.consistency_calibration --faces ../shared/faces \
        --parsing ../shared/parsing/celebamask_hq_1000

Statistics come from the *train* split of both real-face sets (``load_split_faces`` and
``load_parsing_split``); the *validation* split of both is then scored to measure how often
each cue fires on real faces (its false-positive rate at the engine's ``FIRE_Z``), recorded
in the file's ``meta``. The test splits are never read. The file is written atomically and
pinned by sha256 in ``weights/evidence/manifest.json`` (other entries are kept).

Why under ``train/``: it reads the training faces (:mod:`.data`, :mod:`.parsing`), and engines
never import ``train/``; the engine only loads the file this writes.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..engines.evidence.consistency import (
    AUX_IRIS,
    CONSISTENCY_FILE,
    EYES,
    ConsistencyCalibration,
    Measurement,
    calibration_to_json,
    consistency_report,
    cue_stats,
    family_of,
    measure_consistency,
    offset_distance,
)
from ..engines.evidence.engine import COMPONENT, FIRE_Z
from ..faces.regions import regions_from_mesh
from ..io import atomic_write_bytes
from ..weights import weights_root
from .manifest import pin_in_manifest


def _faces(cached: Iterable) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:  # noqa: ANN401 - CachedFace | ParsedFace
    for f in cached:
        name = getattr(f, "photo", None) or getattr(f, "name", "?")
        yield str(name), f.crop, f.landmarks


def measure_all(faces: Iterable[tuple[str, np.ndarray, np.ndarray]], ref: np.ndarray | None) -> list[dict[str, Measurement]]:
    out = []
    for _name, crop, lm in faces:
        regions, oval = regions_from_mesh(lm, crop.shape[0])
        out.append(measure_consistency(crop, lm, regions, oval, ref))
    return out


def build(train: list[tuple[str, np.ndarray, np.ndarray]], meta: dict[str, object]) -> ConsistencyCalibration:
    """Real-face statistics of every consistency cue from training faces."""
    ref = np.median(np.stack([np.asarray(lm, np.float64)[:, :2] for _, _, lm in train]), axis=0)
    meas = measure_all(train, ref)
    offsets: dict[str, list[tuple[float, float]]] = {}
    for m in meas:
        for k, v in m.items():
            if family_of(k) == "part_offset":
                offsets.setdefault(k.split(".", 1)[1], []).append((v.detail["dx"], v.detail["dy"]))
    axes = {}
    for part, vals in offsets.items():
        a = np.asarray(vals)
        mx, my = np.median(a, axis=0)
        sx, sy = np.maximum(np.median(np.abs(a - [mx, my]), axis=0) * 1.4826, 1e-4)
        axes[part] = (float(mx), float(sx), float(my), float(sy))
    values: dict[str, list[float]] = {}
    for m in meas:
        for k, v in m.items():
            val = offset_distance(v.detail["dx"], v.detail["dy"], axes[k.split(".", 1)[1]]) if family_of(k) == "part_offset" else v.value
            values.setdefault(k, []).append(val)
        if "iris_colour" in m:
            for e in EYES:
                values.setdefault(AUX_IRIS[0], []).append(m["iris_colour"].detail[f"{e}.a"])
                values.setdefault(AUX_IRIS[1], []).append(m["iris_colour"].detail[f"{e}.b"])
    floors = {"iris_colour": 0.5, "catchlight_level": 1.0, "border_colour": 0.5}
    stats = {k: cue_stats(np.asarray(v), floors.get(family_of(k), 1e-3)) for k, v in values.items() if len(v) >= 3}
    meta = dict(meta)
    meta["n_faces"] = len(train)
    return ConsistencyCalibration(stats, ref, axes, meta)


def validate(cal: ConsistencyCalibration, val: list[tuple[str, np.ndarray, np.ndarray]], fire_z: float = FIRE_Z) -> dict[str, object]:
    """How often each cue fires on real validation faces, and the face-level rate."""
    meas = measure_all(val, cal.ref_shape)
    fires: dict[str, list[bool]] = {}
    any_fired, scores = [], []
    for m in meas:
        res = consistency_report(None, cal, fire_z=fire_z, measurements=m)
        for k, c in res.cues.items():
            if c.z is not None:
                fires.setdefault(k, []).append(c.fired)
        any_fired.append(bool(res.fired))
        scores.append(res.consistency_score or 0.0)
    return {
        "fire_z": fire_z,
        "n_val_faces": len(val),
        "val_fire_rate": {k: round(float(np.mean(v)), 5) for k, v in sorted(fires.items())},
        "val_fire_count": {k: int(np.sum(v)) for k, v in sorted(fires.items())},
        "val_any_fired_rate": round(float(np.mean(any_fired)), 5) if any_fired else None,
        "val_score_q95": round(float(np.quantile(scores, 0.95)), 5) if scores else None,
    }


def main(argv: list[str] | None = None) -> int:
    from .data import load_split_faces, split_rule_text
    from .parsing import load_parsing_split
    from .parsing import split_rule_text as parsing_rule_text

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--parsing", type=Path, default=None, help="CelebAMask-HQ-style parsing set (images/, masks/)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out_dir = args.out or (weights_root() / COMPONENT)
    t0 = time.time()
    log = lambda m: print(m, flush=True)  # noqa: E731
    train = list(_faces(load_split_faces(args.faces, "train", args.seed, log=log)))
    val = list(_faces(load_split_faces(args.faces, "val", args.seed, log=log)))
    sources = {"faces": {"train": len(train), "val": len(val), "split_rule": split_rule_text(args.seed)}}
    if args.parsing is not None:
        ptrain = list(_faces(load_parsing_split(args.parsing, "train", args.seed, log=log)))
        pval = list(_faces(load_parsing_split(args.parsing, "val", args.seed, log=log)))
        sources["parsing"] = {"train": len(ptrain), "val": len(pval), "split_rule": parsing_rule_text(args.seed)}
        train += ptrain
        val += pval
    cal = build(train, {"split": "train", "sources": sources, "builder": "forgetalk.train.consistency_calibration"})
    report = validate(cal, val)
    meta = dict(cal.meta)
    meta.update(report)
    seconds = round(time.time() - t0, 1)  # printed, not stored: a rebuild must be byte-identical
    cal = ConsistencyCalibration(cal.stats, cal.ref_shape, cal.offset_axes, meta)
    data = calibration_to_json(cal)
    atomic_write_bytes(out_dir / CONSISTENCY_FILE, data)
    pin_in_manifest(out_dir, CONSISTENCY_FILE, data, "real-face statistics of the consistency cues (JSON); built by forgetalk.train.consistency_calibration", COMPONENT)
    print(json.dumps({"faces_train": len(train), "faces_val": len(val), **report, "seconds": seconds}, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
