"""Liquify: smooth, face-aware displacement warps (the "beautify" edits of photo apps).

Imitates Photoshop's Liquify / Face-Aware Liquify and phone beauty apps: bigger or smaller
eyes, a slimmer jaw or nose, lifted mouth corners, a bigger or smaller mouth, lifted brows.
Each edit is a local displacement field around FaceMesh landmarks (radial scaling inside a
radius, or a translation that fades out with a smooth ``(1 - (r/R)^2)^2`` falloff), applied
with ``cv2.remap`` (backward mapping). Nothing is pasted: the trace is the resampling and
the geometry. Truth: pixels displaced by more than ``MIN_SHIFT`` (0.3) px whose value changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .common import MESH_LIPS_OUTER, face_scale, finish
from .generate import FaceRecord, SynthSample

LIQUIFY_OPS: tuple[str, ...] = ("eyes_bigger", "eyes_smaller", "jaw_slimmer", "nose_slimmer", "mouth_corners_up", "mouth_bigger", "mouth_smaller", "brows_lift")
OP_WEIGHTS: tuple[float, ...] = (0.22, 0.06, 0.2, 0.14, 0.12, 0.09, 0.07, 0.1)
#: The target part each op reports (``SynthSample.target``).
OP_TARGET: dict[str, str] = {
    "eyes_bigger": "eyes", "eyes_smaller": "eyes", "jaw_slimmer": "jaw", "nose_slimmer": "nose",
    "mouth_corners_up": "mouth", "mouth_bigger": "mouth", "mouth_smaller": "mouth", "brows_lift": "brows",
}  # fmt: skip
#: Truth threshold on the displacement (px). The brief's ~0.7 px left visibly changed pixels
#: (edges moved by half a pixel) out of the mask: at 256 px their area was 36 % of the mask's
#: (median; up to 99 %); at 0.3 px it is 10 % (max 18 %) and they differ by <= 5 grey levels.
MIN_SHIFT = 0.3
_JAW = ([58, 172, 136, 150, 149], [288, 397, 365, 379, 378])  # image-left, image-right
_NOSE_WINGS = ([64, 98], [294, 327])
_BROWS = ([70, 63, 105, 66], [300, 293, 334, 296])


def _falloff(d2: np.ndarray, r: float) -> np.ndarray:
    t = np.clip(1.0 - d2 / (r * r), 0.0, 1.0)
    return t * t


class _Field:
    """Accumulates a backward displacement field (content moves by +D, so sample at p - D)."""

    def __init__(self, size: int) -> None:
        self.s = size
        self.dx = np.zeros((size, size), np.float32)
        self.dy = np.zeros((size, size), np.float32)
        self.wsum = np.zeros((size, size), np.float32)

    def _win(self, c: np.ndarray, r: float) -> tuple[slice, slice, np.ndarray, np.ndarray]:
        x0, x1 = max(0, int(c[0] - r) - 1), min(self.s, int(c[0] + r) + 2)
        y0, y1 = max(0, int(c[1] - r) - 1), min(self.s, int(c[1] + r) + 2)
        # A brush whose centre lies off the crop (a landmark beyond the border) touches nothing;
        # without the clamp the window is negative, which NumPy 2 refuses.
        x1, y1 = max(x0, x1), max(y0, y1)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        return slice(y0, y1), slice(x0, x1), xx - c[0], yy - c[1]

    def radial(self, c: np.ndarray, r: float, k: float) -> None:
        """Scale content about ``c`` by about ``1 + k`` at the centre (k > 0 magnifies)."""
        ys, xs, ox, oy = self._win(c, r)
        w = _falloff(ox * ox + oy * oy, r)
        self.dx[ys, xs] += ox * k * w
        self.dy[ys, xs] += oy * k * w
        self.wsum[ys, xs] += w

    def push(self, c: np.ndarray, r: float, v: np.ndarray) -> None:
        """Translate content near ``c`` by ``v`` (fading to 0 at radius ``r``)."""
        ys, xs, ox, oy = self._win(c, r)
        w = _falloff(ox * ox + oy * oy, r)
        self.dx[ys, xs] += float(v[0]) * w
        self.dy[ys, xs] += float(v[1]) * w
        self.wsum[ys, xs] += w

    def normalised(self) -> tuple[np.ndarray, np.ndarray]:
        n = np.maximum(self.wsum, 1.0)  # overlapping brushes do not add up beyond one stroke
        return self.dx / n, self.dy / n


def _eye_centres(rec: FaceRecord) -> list[np.ndarray]:
    """Subject's right then left eye centre: iris centres (468, 473) when present, else ring means."""
    from .common import MESH_LEFT_EYE_RING, MESH_RIGHT_EYE_RING

    lm = rec.landmarks
    if len(lm) >= 478:
        return [lm[468].astype(np.float32), lm[473].astype(np.float32)]
    return [lm[MESH_RIGHT_EYE_RING].mean(0), lm[MESH_LEFT_EYE_RING].mean(0)]


def _apply_op(f: _Field, rec: FaceRecord, op: str, rng: np.random.Generator) -> dict[str, object]:
    lm = rec.landmarks.astype(np.float32)
    iod = face_scale(rec)
    centre_x = float(lm[1, 0])
    info: dict[str, object] = {"op": op}
    if op in ("eyes_bigger", "eyes_smaller"):
        sides = [0, 1] if rng.random() < 0.75 else [int(rng.integers(0, 2))]
        k = float(rng.uniform(0.15, 0.35)) * (1 if op == "eyes_bigger" else -0.7)
        r = iod * float(rng.uniform(0.35, 0.5))
        for i in sides:
            f.radial(_eye_centres(rec)[i], r, k * float(rng.uniform(0.9, 1.1)))
        info.update(sides=["right_eye", "left_eye"] if len(sides) == 2 else [("right_eye", "left_eye")[sides[0]]], strength=round(k, 3), radius=round(r, 1))
    elif op == "jaw_slimmer":
        amp = iod * float(rng.uniform(0.035, 0.08))
        r = iod * float(rng.uniform(0.35, 0.55))
        for side in _JAW:
            for i in side:
                p = lm[i]
                v = np.array([np.sign(centre_x - p[0]), -0.25], np.float32) * amp
                f.push(p, r, v)
        info.update(amount=round(amp, 2), radius=round(r, 1))
    elif op == "nose_slimmer":
        amp = iod * float(rng.uniform(0.02, 0.05))
        r = iod * float(rng.uniform(0.2, 0.3))
        for side in _NOSE_WINGS:
            for i in side:
                p = lm[i]
                f.push(p, r, np.array([np.sign(centre_x - p[0]) * amp, 0.0], np.float32))
        info.update(amount=round(amp, 2), radius=round(r, 1))
    elif op == "mouth_corners_up":
        mw = float(np.linalg.norm(lm[291] - lm[61]))
        amp = iod * float(rng.uniform(0.025, 0.06))
        r = mw * float(rng.uniform(0.3, 0.45))
        for i in (61, 291):
            f.push(lm[i], r, np.array([0.0, -amp], np.float32))
        info.update(amount=round(amp, 2), radius=round(r, 1))
    elif op in ("mouth_bigger", "mouth_smaller"):
        mw = float(np.linalg.norm(lm[291] - lm[61]))
        k = float(rng.uniform(0.12, 0.28)) * (1 if op == "mouth_bigger" else -0.7)
        r = mw * float(rng.uniform(0.65, 0.85))
        f.radial(lm[MESH_LIPS_OUTER].mean(0), r, k)
        info.update(strength=round(k, 3), radius=round(r, 1))
    elif op == "brows_lift":
        amp = iod * float(rng.uniform(0.025, 0.06))
        r = iod * float(rng.uniform(0.18, 0.28))
        for side in _BROWS:
            for i in side:
                f.push(lm[i], r, np.array([0.0, -amp], np.float32))
        info.update(amount=round(amp, 2), radius=round(r, 1))
    else:
        raise ValueError(f"unknown liquify op {op!r}; expected one of {LIQUIFY_OPS}")
    return info


def liquify(rec: FaceRecord, rng: np.random.Generator, ops: str | Sequence[str] | None = None, p_two: float = 0.3, min_shift: float | None = None) -> SynthSample:
    """Warp ``rec`` with one liquify op (two with probability ``p_two``), see :data:`LIQUIFY_OPS`."""
    s = rec.crop.shape[0]
    if ops is None:
        p = np.asarray(OP_WEIGHTS) / sum(OP_WEIGHTS)
        n = 2 if rng.random() < p_two else 1
        ops = tuple(str(o) for o in rng.choice(LIQUIFY_OPS, size=n, replace=False, p=p))
    elif isinstance(ops, str):
        ops = (ops,)
    f = _Field(s)
    infos = [_apply_op(f, rec, op, rng) for op in ops]
    dx, dy = f.normalised()
    mag = np.sqrt(dx * dx + dy * dy)
    moved = mag > (MIN_SHIFT if min_shift is None else min_shift)
    out = rec.crop.copy()
    ys, xs = np.nonzero(mag > 0.05)
    if ys.size:
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        interp = cv2.INTER_CUBIC if rng.random() < 0.5 else cv2.INTER_LINEAR
        warped = cv2.remap(rec.crop, xx - dx[y0:y1, x0:x1], yy - dy[y0:y1, x0:x1], interp, borderMode=cv2.BORDER_REFLECT_101)
        out[y0:y1, x0:x1] = warped
        interp_name = "cubic" if interp == cv2.INTER_CUBIC else "linear"
    else:
        interp_name = "none"
    targets = list(dict.fromkeys(OP_TARGET[o] for o in ops))
    params: dict[str, object] = {"ops": list(ops), "interp": interp_name, "max_shift_px": round(float(mag.max()), 2), "per_op": infos}
    return finish(rec, out, moved.astype(np.float32), "liquify", "+".join(targets), params)
