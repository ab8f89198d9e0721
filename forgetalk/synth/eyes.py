"""Eye-colour change: the iris recoloured (blue, green, hazel, grey, violet, dark brown).

Imitates the hue/saturation layer an editor paints over the irises, in one eye or both (one
eye alone, or two slightly different colours, gives the heterochromia-like mismatch seen in
careless edits). The iris is found from FaceMesh's iris points (468 / 473 centres, 469-472 /
474-477 on the rim) when the landmarks have 478 points, else as the dark blob inside the eye
opening; it is clipped to the eye opening (lids cover part of it) and, usually, the pupil and
the catch-light are left out. Truth: weight > ``ALPHA_MIN`` and changed.
"""

from __future__ import annotations

import cv2
import numpy as np

from .common import LABEL, MESH_LEFT_EYE_RING, MESH_RIGHT_EYE_RING, alpha_blend, bbox, feather, finish, poly_mask, px
from .generate import FaceRecord, SynthSample

#: OpenCV hue (0-180) ranges and saturation levels of the colours drawn.
EYE_COLOURS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "blue": ((98, 115), (90, 200)),
    "green": ((45, 75), (80, 180)),
    "hazel": ((14, 26), (90, 190)),
    "grey": ((95, 110), (5, 35)),
    "violet": ((130, 150), (70, 160)),
    "brown": ((8, 16), (120, 220)),
}
_SIDES = ("right_eye", "left_eye")  # subject's right = iris 468, subject's left = iris 473


def iris_geometry(rec: FaceRecord, side: str) -> tuple[np.ndarray, float, np.ndarray]:
    """(centre, radius, eye-opening mask) of one iris ("left_eye" / "right_eye", the subject's)."""
    s = rec.crop.shape[0]
    lm = rec.landmarks
    ring = MESH_RIGHT_EYE_RING if side == "right_eye" else MESH_LEFT_EYE_RING
    opening = poly_mask(lm[ring], s)
    if rec.parts is not None:
        lab = rec.parts == LABEL[side]
        if lab.sum() > 0.5 * opening.sum():
            opening = lab
    width = float(np.linalg.norm(lm[ring[0]] - lm[ring[8]]))
    if len(lm) >= 478:
        c0 = 468 if side == "right_eye" else 473
        centre = lm[c0].astype(np.float32)
        r = float(np.linalg.norm(lm[c0 + 1 : c0 + 5] - centre, axis=1).max())
        return centre, max(r, 1.0), opening
    # No iris points: centroid of the darkest third of the opening, radius from the eye's width.
    grey = cv2.cvtColor(rec.crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ys, xs = np.nonzero(opening)
    if ys.size == 0:
        return lm[ring].mean(0), max(1.0, 0.22 * width), opening
    v = grey[ys, xs]
    dark = v <= np.percentile(v, 33)
    return np.array([xs[dark].mean(), ys[dark].mean()], np.float32), max(1.0, 0.22 * width), opening


def iris_mask(rec: FaceRecord, side: str, keep_pupil: bool = True, scale: float = 1.0) -> np.ndarray:
    """Visible iris pixels of one eye (without the pupil when ``keep_pupil``, and without the catch-light)."""
    s = rec.crop.shape[0]
    c, r, opening = iris_geometry(rec, side)
    m = np.zeros((s, s), np.uint8)
    cv2.circle(m, (int(round(c[0])), int(round(c[1]))), max(1, int(round(r * scale))), 1, -1)
    out = m.astype(bool) & opening
    if keep_pupil:
        p = np.zeros((s, s), np.uint8)
        cv2.circle(p, (int(round(c[0])), int(round(c[1]))), max(0, int(round(r * 0.38))), 1, -1)
        out &= ~p.astype(bool)
    box = bbox(out, 0, s)
    if box is not None:
        y0, y1, x0, x1 = box
        hsv = cv2.cvtColor(np.ascontiguousarray(rec.crop[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)
        out[y0:y1, x0:x1] &= ~((hsv[..., 2] > 225) & (hsv[..., 1] < 60))
    return out


def _recolour(win: np.ndarray, hue: float, sat: float, gain: float, keep: float) -> np.ndarray:
    hsv = cv2.cvtColor(win, cv2.COLOR_RGB2HSV).astype(np.float32)
    dh = ((hsv[..., 0] - hsv[..., 0].mean() + 90) % 180 - 90) * keep  # keep a little of the iris pattern
    hsv[..., 0] = (hue + dh) % 180
    hsv[..., 1] = np.clip(sat * (0.6 + 0.4 * hsv[..., 1] / max(float(hsv[..., 1].mean()), 1.0)), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * gain, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def eye_colour(rec: FaceRecord, rng: np.random.Generator, sides: str | None = None, colour: str | None = None) -> SynthSample:
    """Recolour the iris of both eyes (``sides="eyes"``) or one ("left_eye" / "right_eye")."""
    s = rec.crop.shape[0]
    if sides is None:
        sides = "eyes" if rng.random() < 0.7 else str(rng.choice(_SIDES))
    colour = colour or str(rng.choice(tuple(EYE_COLOURS)))
    which = _SIDES if sides == "eyes" else (sides,)
    keep_pupil = bool(rng.random() < 0.75)
    (h0, h1), (s0, s1) = EYE_COLOURS[colour]
    hue, sat = float(rng.uniform(h0, h1)), float(rng.uniform(s0, s1))
    gain = float(rng.uniform(0.9, 1.35))
    sig = px(s, float(rng.uniform(0.6, 2.0)))
    mismatch = bool(len(which) == 2 and rng.random() < 0.2)  # the second eye done differently
    out = rec.crop.copy()
    alpha = np.zeros((s, s), np.float32)
    per_eye = []
    for k, side in enumerate(which):
        m = iris_mask(rec, side, keep_pupil, scale=float(rng.uniform(0.92, 1.08)))
        box = bbox(m, int(3 * sig) + 3, s)
        if box is None:
            continue
        h, sa, g = hue, sat, gain
        if mismatch and k == 1:
            h, sa, g = (hue + rng.uniform(10, 30)) % 180, sat * rng.uniform(0.6, 0.9), gain * rng.uniform(0.85, 1.0)
        y0, y1, x0, x1 = box
        win = out[y0:y1, x0:x1]
        a = feather(m[y0:y1, x0:x1], sig) * float(rng.uniform(0.7, 1.0))
        a *= rec.face_mask[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = alpha_blend(win, _recolour(win, h, sa, g, float(rng.uniform(0.0, 0.4))), a)
        alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], a)
        per_eye.append({"side": side, "hue": round(float(h), 1), "sat": round(float(sa), 1), "gain": round(float(g), 3), "iris_px": int(m.sum())})
    params: dict[str, object] = {"colour": colour, "keep_pupil": keep_pupil, "feather": round(sig, 2), "mismatch": mismatch, "per_eye": per_eye}
    return finish(rec, out, alpha, "eye_colour", sides, params)
