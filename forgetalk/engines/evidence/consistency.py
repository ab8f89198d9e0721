"""Consistency cues that human examiners use on hand-made face-part edits.

A pasted eye, nose or mouth from another photo is often obvious to a person for reasons the
pixel-statistics cues of :mod:`.cues` do not capture: the two irises have different colours,
only one eye has a catchlight (or they point at different lights), one eye is shaped
differently, the part is slightly too large or offset, or the skin just inside the part's
border does not match the skin just outside it (colour, noise, sharpness).

This module owns those measurements and their comparison with real faces:

* :func:`measure_consistency` (pure: crop, 478 FaceMesh points, region masks in; raw values in
  natural units out) is what the calibration builder (``train/consistency_calibration.py``) runs on real
  training faces and what the engine runs on every face;
* :class:`ConsistencyCalibration` holds robust real-face statistics per cue (median, MAD sigma,
  tail semi-sigmas from the 1st/5th/95th/99th percentiles, so that heavy-tailed cues are not
  over-confident, and quantiles), stored as JSON in
  ``weights/evidence/consistency.json`` and loaded only through :func:`forgetalk.weights.resolve`;
* :func:`consistency_report` turns measurements into z-scores, firing flags (same
  ``FIRE_Z`` as the evidence engine) and a face-level ``consistency_score``.

Cue families (each measured per part where it says so; ``regions`` name what a cue concerns):

``iris_colour``      Lab distance (L* halved: shading) between the median colours of the two irises
``catchlight_level`` difference of the two eyes' specular-highlight strengths (L* units)
``catchlight_offset`` distance between the highlights' positions relative to each iris centre (iris radii)
``eye_openness``     log ratio of the eyes' opening height/width (left / right)
``eye_area``         log ratio of the eyes' opening areas (left / right)
``part_size``        log of a part's size after similarity normalisation, vs the real-face mean shape
``part_offset``      standardised distance of a part's centre from where real faces put it
``border_colour``    Lab distance (L* halved: shading and lashes) between the skin just inside a part's border and just outside it
``border_noise``     log ratio of noise level (median-filter residual) inside vs outside the border
``part_sharpness``   log ratio of Laplacian energy of the part's interior vs the surrounding skin
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ...errors import WeightsError
from ...faces.regions import MESH_LEFT_BROW, MESH_LEFT_EYE, MESH_LIPS, MESH_NOSE, MESH_RIGHT_BROW, MESH_RIGHT_EYE

CONSISTENCY_FILE = "consistency.json"
FORMAT_VERSION = 1

#: Ordered eyelid contours (subject's left eye = image right).
EYE_CONTOUR = {
    "left_eye": [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249],
    "right_eye": [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7],
}
#: Eye corners (outer, inner) and upper/lower lid pairs for the opening height.
EYE_CORNERS = {"left_eye": (263, 362), "right_eye": (33, 133)}
EYE_LIDS = {"left_eye": ((386, 374), (385, 380), (387, 373)), "right_eye": ((159, 145), (158, 153), (160, 144))}
#: FaceMesh iris centre and ring points per eye (468.. lies in the subject's right eye).
IRIS = {"left_eye": (473, (474, 475, 476, 477)), "right_eye": (468, (469, 470, 471, 472))}

PART_POINTS: dict[str, list[int]] = {
    "left_eye": MESH_LEFT_EYE,
    "right_eye": MESH_RIGHT_EYE,
    "left_brow": MESH_LEFT_BROW,
    "right_brow": MESH_RIGHT_BROW,
    "nose": MESH_NOSE,
    "mouth": MESH_LIPS,
}
#: Parts whose border is checked for colour / noise / sharpness continuity.
BORDER_PARTS: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth")
EYES: tuple[str, str] = ("left_eye", "right_eye")

FAMILIES: tuple[str, ...] = (
    "iris_colour", "catchlight_level", "catchlight_offset", "eye_openness", "eye_area",
    "part_size", "part_offset", "border_colour", "border_noise", "part_sharpness",
)  # fmt: skip
#: Families whose deviation matters in both directions (z is signed; |z| fires).
TWO_SIDED_FAMILIES = frozenset({"eye_openness", "eye_area", "part_size", "border_noise", "part_sharpness"})
#: What each family is evidence of, as reports name it (the engine's :class:`~forgetalk.engines.base.CueSpec` labels).
FAMILY_LABELS: dict[str, str] = {
    "iris_colour": "iris colour mismatch between the eyes",
    "catchlight_level": "catchlight (specular highlight) mismatch between the eyes",
    "catchlight_offset": "catchlight position mismatch between the eyes",
    "eye_openness": "eye opening asymmetry",
    "eye_area": "eye size asymmetry",
    "part_size": "part size vs real faces",
    "part_offset": "part position vs real faces",
    "border_colour": "skin colour break at the part border",
    "border_noise": "noise-level break at the part border",
    "part_sharpness": "part sharpness vs surrounding skin",
}
FAMILY_UNITS: dict[str, str] = {
    "iris_colour": "dE (Lab, L* halved)",
    "catchlight_level": "L* units",
    "catchlight_offset": "iris radii",
    "eye_openness": "log ratio",
    "eye_area": "log ratio",
    "part_size": "log ratio to the real-face mean shape",
    "part_offset": "standardised distance",
    "border_colour": "dE (Lab, L* halved)",
    "border_noise": "log ratio",
    "part_sharpness": "log ratio",
}
#: Real faces' iris chroma (per eye) for naming the odd eye; not a firing cue.
AUX_IRIS = ("iris_a", "iris_b")

#: A catchlight is "present" when the brightest iris pixels exceed the iris median by this (L*).
CATCHLIGHT_MIN_L = 12.0
#: Eye pairs are compared only on near-frontal faces (narrower/wider eye width at least this)...
MIN_EYE_WIDTH_RATIO = 0.6
#: ...and when at least this fraction of each iris disc is inside the eye opening (not lid-covered).
MIN_IRIS_VISIBLE = 0.35
#: Standard normal quantiles used for tail semi-sigmas.
_Z95 = 1.6448536
_Z99 = 2.3263479


def cue_names() -> list[str]:
    """Every scalar cue, ``family`` or ``family.part``."""
    out = ["iris_colour", "catchlight_level", "catchlight_offset", "eye_openness", "eye_area"]
    out += [f"part_size.{p}" for p in PART_POINTS] + [f"part_offset.{p}" for p in PART_POINTS]
    for fam in ("border_colour", "border_noise", "part_sharpness"):
        out += [f"{fam}.{p}" for p in BORDER_PARTS]
    return out


def family_of(cue: str) -> str:
    return cue.split(".", 1)[0]


def regions_of(cue: str) -> tuple[str, ...]:
    return (cue.split(".", 1)[1],) if "." in cue else EYES


# ------------------------------------------------------------------------------ measurements
@dataclass(frozen=True)
class Measurement:
    """One raw cue value in natural units, with the per-side numbers behind it."""

    value: float
    detail: dict[str, float] = field(default_factory=dict)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _poly(points: np.ndarray, size: int, convex: bool = True) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    p = np.round(points).astype(np.int32).reshape(-1, 1, 2)
    if convex:
        cv2.fillConvexPoly(mask, cv2.convexHull(p), 1)
    else:
        cv2.fillPoly(mask, [p], 1)
    return mask.astype(bool)


def _morph(mask: np.ndarray, px: int, dilate: bool) -> np.ndarray:
    px = max(int(px), 1)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    op = cv2.dilate if dilate else cv2.erode
    return op(mask.astype(np.uint8), k).astype(bool)


def _iris(rgb: np.ndarray, lm: np.ndarray, eye: str, opening: np.ndarray) -> dict[str, float] | None:
    """Iris colour (median Lab of the iris annulus, highlights dropped) and its catchlight."""
    c_idx, ring = IRIS[eye]
    c = lm[c_idx]
    r = float(np.mean(np.linalg.norm(lm[list(ring)] - c, axis=1)))
    if not np.isfinite(r) or r < 2.0:
        return None
    h, w = rgb.shape[:2]
    x0, x1 = max(int(c[0] - 1.3 * r), 0), min(int(c[0] + 1.3 * r) + 2, w)
    y0, y1 = max(int(c[1] - 1.3 * r), 0), min(int(c[1] + 1.3 * r) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xx - c[0], yy - c[1]) / r
    inside = opening[y0:y1, x0:x1]
    patch = _lab(rgb[y0:y1, x0:x1])
    disc = inside & (d <= 1.1)
    if disc.sum() < 6:
        return None
    visible = float((inside & (d <= 1.0)).sum()) / max(float((d <= 1.0).sum()), 1.0)
    L = patch[..., 0]
    base = float(np.median(L[disc]))
    order = np.sort(L[disc])
    peak = float(order[-3:].mean())
    level = peak - base
    out = {"radius": r, "catchlight": level, "visible": visible}
    if level >= CATCHLIGHT_MIN_L:
        hi = disc & (base + 0.6 * level <= L)
        wts = (L - base)[hi]
        out["cx"] = float(((xx[hi] - c[0]) * wts).sum() / wts.sum() / r)
        out["cy"] = float(((yy[hi] - c[1]) * wts).sum() / wts.sum() / r)
    ann = inside & (d >= 0.35) & (d <= 0.9)
    vals = patch[ann]
    if len(vals) < 6:
        return out
    lv = vals[:, 0]
    mad = float(np.median(np.abs(lv - np.median(lv)))) * 1.4826
    keep = lv <= np.median(lv) + 2.5 * mad + 4.0  # drop the catchlight and sclera bleed
    if keep.sum() >= 4:
        vals = vals[keep]
    med = np.median(vals, axis=0)
    out.update(L=float(med[0]), a=float(med[1]), b=float(med[2]))
    return out


def _eye_width_area(lm: np.ndarray, eye: str) -> tuple[str, float]:
    outer, inner = EYE_CORNERS[eye]
    return eye, float(np.linalg.norm(lm[outer] - lm[inner]))


def _eye_shape(lm: np.ndarray, eye: str) -> tuple[float, float]:
    outer, inner = EYE_CORNERS[eye]
    width = float(np.linalg.norm(lm[outer] - lm[inner]))
    height = float(np.mean([np.linalg.norm(lm[a] - lm[b]) for a, b in EYE_LIDS[eye]]))
    p = lm[EYE_CONTOUR[eye]]
    area = 0.5 * abs(float(np.dot(p[:, 0], np.roll(p[:, 1], 1)) - np.dot(p[:, 1], np.roll(p[:, 0], 1))))
    return height / max(width, 1e-3), area


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (Umeyama) mapping src -> dst: returns (scale, R, t)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    cov = b.T @ a / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u @ vt) < 0:
        d[1, 1] = -1.0
    rot = u @ d @ vt
    var = float((a * a).sum() / len(src))
    scale = float(np.trace(np.diag(s) @ d) / max(var, 1e-9))
    return scale, rot, md - scale * (rot @ ms)


def _geometry(lm: np.ndarray, ref: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """Per part: (log size ratio, dx, dy) after mapping the rest of the face onto ``ref``.

    The similarity is fitted on the points *outside* the part, so a part pasted too large or
    offset does not pull the normalisation towards itself. Offsets are in units of the
    reference inter-ocular distance.
    """
    n = min(len(ref), 468)
    pts = lm[:n].astype(np.float64)
    iod = float(np.linalg.norm(ref[473] - ref[468])) if len(ref) > 473 else float(np.linalg.norm(ref[263] - ref[33]))
    out = {}
    for part, idx in PART_POINTS.items():
        sel = np.zeros(n, bool)
        sel[idx] = True
        s, rot, t = similarity_fit(pts[~sel], ref[:n][~sel])
        p = (s * (rot @ pts[sel].T)).T + t
        q = ref[:n][sel]
        size = math.log(np.sqrt(((p - p.mean(0)) ** 2).sum(1).mean()) / max(np.sqrt(((q - q.mean(0)) ** 2).sum(1).mean()), 1e-6))
        dx, dy = (p.mean(0) - q.mean(0)) / max(iod, 1e-6)
        out[part] = (size, float(dx), float(dy))
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else float("nan")


def measure_consistency(
    crop: np.ndarray,
    landmarks: np.ndarray,
    regions: dict[str, np.ndarray],
    face_mask: np.ndarray,
    ref_shape: np.ndarray | None = None,
) -> dict[str, Measurement]:
    """Raw consistency cues of one aligned face (natural units; no comparison with real faces).

    ``ref_shape`` (real-face mean landmarks, from the calibration) is needed for the part
    geometry cues; without it they are skipped. Cues that cannot be measured (a closed eye,
    a part outside the crop) are absent from the result.
    """
    lm = np.asarray(landmarks, np.float64)[:, :2]
    size = crop.shape[0]
    out: dict[str, Measurement] = {}
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    face_scale = float(np.linalg.norm(lm[152] - lm[10]))

    # Eyes: irises, catchlights, shape.
    if len(lm) >= 478:
        iris = {e: _iris(crop, lm, e, _poly(lm[EYE_CONTOUR[e]], size, convex=False)) for e in EYES}
        li, ri = iris["left_eye"], iris["right_eye"]
        (_, lw), (_, rw) = (_eye_width_area(lm, e) for e in EYES)
        frontal = min(lw, rw) / max(lw, rw, 1e-6) >= MIN_EYE_WIDTH_RATIO
        seen = bool(li and ri and min(li["visible"], ri["visible"]) >= MIN_IRIS_VISIBLE)
        if li and ri and "L" in li and "L" in ri and frontal and seen:
            de = math.sqrt(((li["L"] - ri["L"]) / 2.0) ** 2 + (li["a"] - ri["a"]) ** 2 + (li["b"] - ri["b"]) ** 2)
            det = {f"{e}.{k}": iris[e][k] for e in EYES for k in ("L", "a", "b")}  # type: ignore[index]
            out["iris_colour"] = Measurement(de, det)
        if li and ri and frontal and seen:
            out["catchlight_level"] = Measurement(abs(li["catchlight"] - ri["catchlight"]), {"left_eye": li["catchlight"], "right_eye": ri["catchlight"]})
            if "cx" in li and "cx" in ri:
                off = math.hypot(li["cx"] - ri["cx"], li["cy"] - ri["cy"])
                det = {f"{e}.{k}": iris[e][k] for e in EYES for k in ("cx", "cy")}  # type: ignore[index]
                out["catchlight_offset"] = Measurement(off, det)
    (lo, la), (ro, ra) = _eye_shape(lm, "left_eye"), _eye_shape(lm, "right_eye")
    if lo > 0.02 and ro > 0.02:
        out["eye_openness"] = Measurement(math.log(lo / ro), {"left_eye": lo, "right_eye": ro})
    if la > 1.0 and ra > 1.0:
        out["eye_area"] = Measurement(math.log(la / ra), {"left_eye": la, "right_eye": ra})

    # Part geometry against the real-face mean shape.
    if ref_shape is not None:
        for part, (s, dx, dy) in _geometry(lm, np.asarray(ref_shape, np.float64)).items():
            out[f"part_size.{part}"] = Measurement(s, {"scale": math.exp(s)})
            out[f"part_offset.{part}"] = Measurement(0.0, {"dx": dx, "dy": dy})  # standardised in the report

    # Border continuity: skin just inside each part's border vs just outside it.
    w = max(3, int(round(0.02 * face_scale)))
    resid = grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32)
    lap = cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F, ksize=3)
    organs = {p: regions[p] for p in PART_POINTS if p in regions}
    for part in BORDER_PARTS:
        m = organs.get(part)
        if m is None or m.sum() < 32:
            continue
        ys, xs = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        pad = 3 * w + 2
        y0, y1 = max(ys[0] - pad, 0), min(ys[-1] + pad + 1, size)
        x0, x1 = max(xs[0] - pad, 0), min(xs[-1] + pad + 1, size)
        mm = m[y0:y1, x0:x1]
        core = _poly(lm[PART_POINTS[part]] - [x0, y0], max(y1 - y0, x1 - x0), convex=True)[: y1 - y0, : x1 - x0]
        others = np.zeros_like(mm)
        for q, om in organs.items():
            if q != part:
                others |= om[y0:y1, x0:x1]
        inner = mm & ~_morph(mm, w, dilate=False)
        if part != "nose":
            inner &= ~core
        else:
            core = _morph(mm, w, dilate=False)
        outer = _morph(mm, w, dilate=True) & ~mm & face_mask[y0:y1, x0:x1] & ~others
        if inner.sum() < 16 or outer.sum() < 16 or core.sum() < 16:
            continue
        lab_p, res_p, lap_p = _lab(crop[y0:y1, x0:x1]), resid[y0:y1, x0:x1], lap[y0:y1, x0:x1]
        cin, cout = np.median(lab_p[inner], axis=0), np.median(lab_p[outer], axis=0)
        dl, da, db = (cin - cout).tolist()
        de = math.sqrt((dl / 2.0) ** 2 + da * da + db * db)
        out[f"border_colour.{part}"] = Measurement(de, {"dL": dl, "da": da, "db": db})
        nin, nout = _rms(res_p[inner]), _rms(res_p[outer])
        out[f"border_noise.{part}"] = Measurement(math.log((nin + 0.25) / (nout + 0.25)), {"inside": nin, "outside": nout})
        sin, sout = _rms(lap_p[core]), _rms(lap_p[outer])
        out[f"part_sharpness.{part}"] = Measurement(math.log((sin + 0.5) / (sout + 0.5)), {"interior": sin, "surround": sout})
    return out


# ------------------------------------------------------------------------------ calibration
@dataclass(frozen=True)
class CueStats:
    """Robust real-face statistics of one scalar cue."""

    n: int
    median: float
    sigma: float  # 1.4826 * MAD
    sigma_lo: float  # lower semi-sigma: max(sigma, (median - q05) / 1.645, (median - q01) / 2.326)
    sigma_hi: float  # upper semi-sigma: max(sigma, (q95 - median) / 1.645, (q99 - median) / 2.326)
    quantiles: dict[str, float]  # "q01", "q05", "q50", "q95", "q99", "q999"

    def z(self, value: float) -> float:
        d = value - self.median
        return d / (self.sigma_hi if d >= 0 else self.sigma_lo)


QUANTILES = {"q01": 0.01, "q05": 0.05, "q50": 0.5, "q95": 0.95, "q99": 0.99, "q999": 0.999}


def cue_stats(values: np.ndarray, floor: float = 1e-6) -> CueStats:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size < 3:
        raise ValueError("need at least 3 values")
    med = float(np.median(v))
    sig = max(float(np.median(np.abs(v - med))) * 1.4826, floor)
    q = {k: float(np.quantile(v, p)) for k, p in QUANTILES.items()}
    lo = max(sig, (med - q["q05"]) / _Z95, (med - q["q01"]) / _Z99)
    hi = max(sig, (q["q95"] - med) / _Z95, (q["q99"] - med) / _Z99)
    return CueStats(int(v.size), med, sig, lo, hi, q)


@dataclass(frozen=True)
class ConsistencyCalibration:
    """Real-face statistics for every consistency cue, the mean shape, and provenance."""

    stats: dict[str, CueStats]
    ref_shape: np.ndarray = field(repr=False)  # (468 or 478, 2) crop coords
    offset_axes: dict[str, tuple[float, float, float, float]]  # part -> (median dx, sigma dx, median dy, sigma dy)
    meta: dict[str, object]


def calibration_to_json(cal: ConsistencyCalibration) -> bytes:
    doc = {
        "format": FORMAT_VERSION,
        "stats": {k: {"n": s.n, "median": s.median, "sigma": s.sigma, "sigma_lo": s.sigma_lo, "sigma_hi": s.sigma_hi, "quantiles": s.quantiles} for k, s in cal.stats.items()},
        "ref_shape": np.round(np.asarray(cal.ref_shape, np.float64), 3).tolist(),
        "offset_axes": {k: list(v) for k, v in cal.offset_axes.items()},
        "meta": cal.meta,
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")


def calibration_from_json(data: bytes, source: str = "consistency calibration") -> ConsistencyCalibration:
    """Parse and validate; any malformed content is a :class:`WeightsError` naming ``source``."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT_VERSION}")
        stats = {}
        for k, s in doc["stats"].items():
            st = CueStats(int(s["n"]), float(s["median"]), float(s["sigma"]), float(s["sigma_lo"]), float(s["sigma_hi"]), {q: float(v) for q, v in s["quantiles"].items()})
            if not (st.sigma > 0 and st.sigma_lo > 0 and st.sigma_hi > 0 and math.isfinite(st.median)):
                raise ValueError(f"cue {k!r}: non-positive or non-finite statistics")
            stats[k] = st
        ref = np.asarray(doc["ref_shape"], np.float64)
        if ref.ndim != 2 or ref.shape[1] != 2 or ref.shape[0] < 468 or not np.isfinite(ref).all():
            raise ValueError(f"ref_shape must be (>=468, 2) finite, got {ref.shape}")
        axes = {k: tuple(float(x) for x in v) for k, v in doc["offset_axes"].items()}
        if any(len(v) != 4 or v[1] <= 0 or v[3] <= 0 for v in axes.values()):
            raise ValueError("offset_axes must be (median dx, sigma dx, median dy, sigma dy) with positive sigmas")
        return ConsistencyCalibration(stats, ref, axes, dict(doc.get("meta", {})))  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{source}: unusable consistency calibration ({exc})") from None


def load_consistency_calibration(root: Path | None = None) -> ConsistencyCalibration:
    """Load ``weights/evidence/consistency.json`` through the verified weights mechanism.

    A missing file, a sha256 mismatch against the manifest, or malformed content all raise
    :class:`WeightsError` (the message names the file). The bytes parsed are the bytes hashed.
    """
    from ...weights import read_verified, weights_path

    data = read_verified("evidence", CONSISTENCY_FILE, root=root)
    return calibration_from_json(data, str(weights_path("evidence", CONSISTENCY_FILE, root=root)))


def offset_distance(dx: float, dy: float, axes: tuple[float, float, float, float]) -> float:
    """Standardised distance of a part centre offset from the real-face median offset."""
    mx, sx, my, sy = axes
    return math.hypot((dx - mx) / sx, (dy - my) / sy)


def standardise(meas: dict[str, Measurement], cal: ConsistencyCalibration | None) -> dict[str, Measurement]:
    """Fill in the calibration-dependent values (the part offsets' standardised distance)."""
    if cal is None:
        return {k: v for k, v in meas.items() if family_of(k) != "part_offset"}
    out = dict(meas)
    for k, m in meas.items():
        if family_of(k) == "part_offset":
            axes = cal.offset_axes.get(k.split(".", 1)[1])
            if axes is None:
                del out[k]
                continue
            out[k] = Measurement(offset_distance(m.detail["dx"], m.detail["dy"], axes), m.detail)
    return out


# ------------------------------------------------------------------------------ report
@dataclass(frozen=True)
class ConsistencyCue:
    """One consistency cue measured on one face, compared with real faces."""

    name: str  # "iris_colour" or "family.part"
    family: str
    regions: tuple[str, ...]  # the region(s) the cue concerns
    value: float  # raw value, natural units (see unit)
    unit: str
    z: float | None  # signed robust z vs real faces (None when uncalibrated)
    strength: float | None  # what is compared with FIRE_Z: |z| for two-sided cues, max(z, 0) otherwise
    two_sided: bool
    fired: bool
    real_median: float | None
    real_q99: float | None  # upper 99th percentile of real faces (1st percentile too for two-sided: real_q01)
    real_q01: float | None
    suspect: str | None = None  # for pair cues: the side that looks odd, when it can be told
    detail: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsistencyResult:
    cues: dict[str, ConsistencyCue]
    consistency_score: float | None  # 1 - Bonferroni tail probability of the strongest cue; None uncalibrated
    strongest: str | None
    fired: tuple[str, ...]
    calibrated: bool
    fire_z: float
    seconds: float

    def to_meta(self) -> dict[str, object]:
        """Every number, JSON-ready (for ``EngineOutput.meta['consistency']``)."""

        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else round(float(x), 5)

        return {
            "calibrated": self.calibrated,
            "fire_z": self.fire_z,
            "consistency_score": num(self.consistency_score),
            "score_definition": "1 - min(1, K * tail probability of the strongest cue's z) over K measured cues (normal tails; two-sided cues doubled)",
            "strongest": self.strongest,
            "fired": list(self.fired),
            "seconds": round(self.seconds, 4),
            "cues": {
                k: {
                    "family": c.family, "regions": list(c.regions), "value": num(c.value), "unit": c.unit, "z": num(c.z),
                    "two_sided": c.two_sided, "fired": c.fired, "real_median": num(c.real_median), "real_q01": num(c.real_q01),
                    "real_q99": num(c.real_q99), "suspect": c.suspect, "detail": {d: num(v) for d, v in c.detail.items()},
                }
                for k, c in self.cues.items()
            },
        }  # fmt: skip


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _odd_eye(detail: dict[str, float], cal: ConsistencyCalibration) -> str | None:
    """The eye whose iris chroma is less typical of real irises, if clearly so."""
    sa, sb = cal.stats.get("iris_a"), cal.stats.get("iris_b")
    if sa is None or sb is None:
        return None
    t = {e: math.hypot(sa.z(detail[f"{e}.a"]), sb.z(detail[f"{e}.b"])) for e in EYES}
    (e1, t1), (_, t2) = sorted(t.items(), key=lambda kv: -kv[1])
    return e1 if t1 - t2 >= 1.0 else None


def consistency_report(
    face: object,
    calibration: ConsistencyCalibration | None,
    fire_z: float = 3.0,
    measurements: dict[str, Measurement] | None = None,
) -> ConsistencyResult:
    """Measure every consistency cue on an :class:`~forgetalk.faces.AlignedFace` and compare with real faces."""
    t0 = time.perf_counter()
    if measurements is None:
        lm = getattr(face, "dense_landmarks", None)
        if lm is None or len(lm) < 468:
            return ConsistencyResult({}, None, None, (), calibration is not None, fire_z, time.perf_counter() - t0)
        ref = calibration.ref_shape if calibration is not None else None
        measurements = measure_consistency(face.crop, lm, face.regions, face.face_mask, ref)  # type: ignore[attr-defined]
    meas = standardise(measurements, calibration)
    cues: dict[str, ConsistencyCue] = {}
    best, best_p, k = None, 1.0, 0
    for name, m in meas.items():
        fam = family_of(name)
        two = fam in TWO_SIDED_FAMILIES
        st = calibration.stats.get(name) if calibration is not None else None
        z = strength = None
        fired = False
        if st is not None and math.isfinite(m.value):
            z = st.z(m.value)
            strength = abs(z) if two else max(z, 0.0)
            fired = strength >= fire_z
            p = 2.0 * _normal_sf(abs(z)) if two else _normal_sf(z)
            k += 1
            if p < best_p:
                best, best_p = name, p
        suspect = None
        regs = regions_of(name)
        if name == "iris_colour" and calibration is not None:
            suspect = _odd_eye(m.detail, calibration)
        elif name == "catchlight_level" and fired:
            # the eye without a catchlight is the odd one only when the other has a clear one
            lv = sorted(EYES, key=lambda e: m.detail[e])
            suspect = lv[0] if m.detail[lv[1]] >= CATCHLIGHT_MIN_L > m.detail[lv[0]] else None
        cues[name] = ConsistencyCue(
            name, fam, regs, float(m.value), FAMILY_UNITS[fam], z, strength, two, fired,
            st.median if st else None, st.quantiles.get("q99") if st else None, st.quantiles.get("q01") if st else None,
            suspect, dict(m.detail),
        )  # fmt: skip
    score = None if calibration is None else (1.0 - min(1.0, k * best_p) if k else 0.0)
    fired_names = tuple(sorted((n for n, c in cues.items() if c.fired), key=lambda n: -(cues[n].strength or 0.0)))
    return ConsistencyResult(cues, score, best, fired_names, calibration is not None, fire_z, time.perf_counter() - t0)


def region_stats(result: ConsistencyResult) -> dict[str, dict[str, float]]:
    """Per-family, per-region numbers in the engine's ``cue_region_stats`` layout.

    ``{region}.region`` is the measured value, ``{region}.rest`` the real-face median (so the
    explanation layer's "region vs rest" reads "this face vs real faces"), ``.ratio`` their
    ratio, ``.z`` the signed z, ``.q01``/``.q99`` the real-face 1st/99th percentiles. A pair
    cue (two eyes) is listed under the odd eye when it can be told, else under both.
    """
    out: dict[str, dict[str, float]] = {}
    for c in result.cues.values():
        if c.z is None or c.real_median is None:
            continue
        regs = (c.suspect,) if c.suspect else c.regions
        fam = out.setdefault(c.family, {})
        for r in regs:
            fam[f"{r}.region"] = c.value
            fam[f"{r}.rest"] = c.real_median
            fam[f"{r}.ratio"] = c.value / c.real_median if abs(c.real_median) > 1e-9 else float("nan")
            fam[f"{r}.z"] = c.z
            fam[f"{r}.q01"] = c.real_q01 if c.real_q01 is not None else float("nan")
            fam[f"{r}.q99"] = c.real_q99 if c.real_q99 is not None else float("nan")
    return out
