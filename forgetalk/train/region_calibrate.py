"""Build an engine's region calibration from untouched validation faces.

    python -m forgetalk.train.region_calibrate --engine evidence --faces ../shared/faces --parsing ../shared/parsing/celebamask_hq_1000

Why validation faces through the post-edit chains: at analysis time real photos arrive at
every resolution and compression, so the real-face distribution of each region's saliency
must be measured over the same spread (one chain per face, seeded), never on pristine crops
only. The fused engine's calibration is written by :mod:`forgetalk.train.calibrate` (it also
depends on the fusion weight chosen there); this module serves engines without a training
step, such as ``evidence``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..engines.regioncal import FILE_NAME, RegionCalibration, build_region_calibration, region_saliency

#: Fixed seed of the chains drawn for the calibration faces.
SEED = 2000


def real_face_saliencies(engine, faces: list, seed: int = SEED) -> list[dict[str, float]]:  # noqa: ANN001 - engine, list of cached/parsed faces
    """Each untouched face (through one seeded chain) -> region -> raw saliency."""
    from .evalset import untouched_eval_items

    out: list[dict[str, float]] = []
    for it in untouched_eval_items(faces, seed):
        res = engine.analyze_face(it.face)
        out.append({k: v[0] for k, v in region_saliency(res.heatmap, it.face.regions, res.region_scores or None).items()})
    return out


def region_calibration_bytes(cal: RegionCalibration) -> bytes:
    """The file this builder writes for ``cal`` (pure; the shipped file's pin is checked against it)."""
    return (json.dumps(cal.to_dict(), indent=1) + "\n").encode()


def calibrate_engine(engine_name: str, faces: list, seed: int = SEED) -> RegionCalibration:  # noqa: ANN001
    from ..engines import get_engine

    engine = get_engine(engine_name, device="cpu")
    sal = real_face_saliencies(engine, faces, seed)
    return build_region_calibration(engine_name, sal, f"{engine_name} engine region saliency on {len(faces)} validation real faces, one post-edit chain each (seed {seed})")


def main(argv: list[str] | None = None) -> int:
    from ..weights import weights_root
    from .data import load_split_faces
    from .parsing import load_parsing_split

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", default="evidence")
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--parsing", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="weights folder of the engine (default: weights/<engine>)")
    a = ap.parse_args(argv)
    for d in (a.faces, a.parsing):
        if d is not None and "holdout" in str(d.resolve()).lower():
            ap.error("refusing to calibrate on a holdout folder")
    t0 = time.perf_counter()
    faces = load_split_faces(a.faces, "val")
    if a.parsing is not None:
        faces = [*faces, *load_parsing_split(a.parsing, "val")]
    cal = calibrate_engine(a.engine, faces)
    out = a.out or (weights_root() / a.engine)
    data = region_calibration_bytes(cal)
    from ..io import atomic_write_bytes
    from .manifest import pin_in_manifest

    atomic_write_bytes(out / FILE_NAME, data)
    pin_in_manifest(out, FILE_NAME, data, "each region's saliency on validation real faces: ranks regions by suspicion relative to real faces (forgetalk.train.region_calibrate)", component=a.engine)
    print(json.dumps({"written": str(out / FILE_NAME), "faces": len(faces), "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
