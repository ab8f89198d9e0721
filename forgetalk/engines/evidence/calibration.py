"""What real faces look like, per cue, per facial location and per region.

Raw cues fire on anatomy (eyes are always sharper and noisier than cheeks). Because crops
are aligned, we can measure on real faces the mean and spread of each centred cue at each
location of the crop, and of each region-vs-rest difference; the engine then reports how
many real-face standard deviations a measurement sits away. The calibration is built by
:func:`build_calibration` from real photos (``train/evidence_calibration.py``, ``make calibrate``) and
stored as a pickle-free ``.npz`` in ``weights/evidence/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ...faces import REGION_NAMES
from ...io import npz_bytes
from .cues import CUE_NAMES, centre_on_face, compute_cues

GRID = 64  # location prior resolution (crop 512 / 8)


@dataclass(frozen=True)
class Calibration:
    loc_mean: dict[str, np.ndarray] = field(repr=False)  # cue -> (GRID, GRID)
    loc_std: dict[str, np.ndarray] = field(repr=False)
    region_mean: dict[str, dict[str, float]]  # cue -> region -> mean of (region - rest)
    region_std: dict[str, dict[str, float]]
    meta: dict[str, object]

    def loc(self, cue: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        m = cv2.resize(self.loc_mean[cue], (size, size), interpolation=cv2.INTER_LINEAR)
        s = cv2.resize(self.loc_std[cue], (size, size), interpolation=cv2.INTER_LINEAR)
        return m, np.maximum(s, 1e-3)


def region_differences(centred: np.ndarray, regions: dict[str, np.ndarray], face_mask: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """(region mean, rest-of-face mean, difference) of a centred statistic for each region."""
    out = {}
    for name, mask in regions.items():
        rest = face_mask & ~mask
        if mask.sum() < 16 or rest.sum() < 16:
            continue
        a = float(centred[mask].mean())
        b = float(centred[rest].mean())
        out[name] = (a, b, a - b)
    return out


def build_calibration(faces: Iterable[tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]], meta: dict[str, object]) -> Calibration:
    """Accumulate location and region statistics over real aligned faces.

    ``faces`` yields (crop, regions, face_mask). Statistics are robust (median / MAD) so a
    few odd photos (glasses, heavy make-up) do not widen the real-face spread too much.
    """
    loc_samples: dict[str, list[np.ndarray]] = {c: [] for c in CUE_NAMES}
    reg_samples: dict[str, dict[str, list[float]]] = {c: {r: [] for r in REGION_NAMES} for c in CUE_NAMES}
    n = 0
    for crop, regions, face_mask in faces:
        raw = compute_cues(crop, regions.get("skin", face_mask))
        small_mask = cv2.resize(face_mask.astype(np.uint8), (GRID, GRID), interpolation=cv2.INTER_NEAREST).astype(bool)
        for cue in CUE_NAMES:
            centred = centre_on_face(raw[cue], face_mask)
            small = cv2.resize(centred, (GRID, GRID), interpolation=cv2.INTER_AREA)
            small[~small_mask] = np.nan
            loc_samples[cue].append(small)
            for name, (_a, _b, d) in region_differences(centred, regions, face_mask).items():
                reg_samples[cue][name].append(d)
        n += 1
    if n < 3:
        raise ValueError(f"need at least 3 real faces to calibrate, got {n}")
    loc_mean, loc_std, region_mean, region_std = {}, {}, {}, {}
    for cue in CUE_NAMES:
        stack = np.stack(loc_samples[cue])
        med = np.nanmedian(stack, axis=0)
        mad = np.nanmedian(np.abs(stack - med[None]), axis=0) * 1.4826
        med = np.nan_to_num(med, nan=0.0)
        glob = float(np.nanmedian(mad)) if np.isfinite(mad).any() else 1.0
        mad = np.where(np.isfinite(mad), mad, glob)
        loc_mean[cue] = cv2.GaussianBlur(med.astype(np.float32), (0, 0), 1.0)
        loc_std[cue] = np.maximum(cv2.GaussianBlur(mad.astype(np.float32), (0, 0), 1.0), 0.25 * glob)
        region_mean[cue], region_std[cue] = {}, {}
        for name, vals in reg_samples[cue].items():
            if len(vals) < 3:
                continue
            v = np.asarray(vals)
            m = float(np.median(v))
            s = float(np.median(np.abs(v - m)) * 1.4826)
            region_mean[cue][name] = m
            region_std[cue][name] = max(s, 1e-3)
    meta = dict(meta)
    meta["n_faces"] = n
    return Calibration(loc_mean, loc_std, region_mean, region_std, meta)


def save_calibration(cal: Calibration, path: Path) -> bytes:
    """Serialise to npz bytes (arrays + one JSON string; loadable with allow_pickle=False).

    Byte-identical for an identical calibration (:func:`forgetalk.io.npz_bytes`), so a rebuild
    can be checked against the pinned sha256.
    """
    arrays = {f"loc_mean__{c}": cal.loc_mean[c].astype(np.float32) for c in cal.loc_mean}
    arrays.update({f"loc_std__{c}": cal.loc_std[c].astype(np.float32) for c in cal.loc_std})
    doc = {"region_mean": cal.region_mean, "region_std": cal.region_std, "meta": cal.meta}
    arrays["json"] = np.array(json.dumps(doc, sort_keys=True))
    return npz_bytes(arrays)


def load_calibration(path: Path) -> Calibration:
    with np.load(path, allow_pickle=False) as z:
        doc = json.loads(str(z["json"]))
        loc_mean = {k.split("__", 1)[1]: z[k] for k in z.files if k.startswith("loc_mean__")}
        loc_std = {k.split("__", 1)[1]: z[k] for k in z.files if k.startswith("loc_std__")}
    return Calibration(loc_mean, loc_std, doc["region_mean"], doc["region_std"], doc["meta"])
