"""Retouching and inpainting: the edits of a portrait retoucher rather than a face swapper.

``retouch`` imitates skin work: smoothing with an edge-preserving filter (bilateral or guided)
under a feathered brush, frequency separation (smoothed low-frequency tones, attenuated
high-frequency texture), spot healing (small blemishes inpainted) and the clone stamp (a skin
patch copied from elsewhere on the same face with a soft edge).

``inpaint`` imitates removing or replacing a feature: a mole, a brow, the frown lines between
the brows, a nasolabial fold or an under-eye bag, filled by ``cv2.inpaint`` (Telea or
Navier-Stokes) or by a patch of nearby skin (colour-shifted to the hole's surroundings).

Ground truth as everywhere in :mod:`forgetalk.synth`: weight > ``ALPHA_MIN`` and changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..faces import REGION_NAMES, SKIN_AREAS
from .common import alpha_blend, bbox, dilate, erode, face_scale, feather, finish, part_mask, px, skin_mask
from .generate import FaceRecord, SynthSample

RETOUCH_OPS: tuple[str, ...] = ("skin_smooth", "freq_sep", "spot_heal", "clone_stamp")
RETOUCH_WEIGHTS: tuple[float, ...] = (0.3, 0.25, 0.25, 0.2)
INPAINT_TARGETS: tuple[str, ...] = ("mole", "left_brow", "right_brow", "glabella", "left_nasolabial", "right_nasolabial", "left_under_eye", "right_under_eye")
INPAINT_WEIGHTS: tuple[float, ...] = (0.2, 0.12, 0.12, 0.16, 0.1, 0.1, 0.1, 0.1)
_REGION_ORDER = ("nose", "left_cheek", "right_cheek", "forehead", "chin_jaw", "left_eye", "right_eye", "left_brow", "right_brow", "mouth", "face_boundary", "skin")


def region_at(rec: FaceRecord, x: float, y: float) -> str:
    """The most specific REGION_NAMES region containing pixel (x, y) ("skin" if none)."""
    s = rec.crop.shape[0]
    xi, yi = int(np.clip(round(x), 0, s - 1)), int(np.clip(round(y), 0, s - 1))
    for name in _REGION_ORDER:
        if name in REGION_NAMES and rec.regions[name][yi, xi]:
            return name
    return "skin"


def guided_filter(img: np.ndarray, r: int, eps: float) -> np.ndarray:
    """Self-guided filter (He et al.), per channel, with box means: edge-preserving smoothing."""
    f = img.astype(np.float32) / 255.0
    k = (2 * r + 1, 2 * r + 1)
    mean = cv2.blur(f, k)
    var = cv2.blur(f * f, k) - mean * mean
    a = var / (var + eps)
    b = mean - a * mean
    out = cv2.blur(a, k) * f + cv2.blur(b, k)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _contrast_points(rec: FaceRecord, area: np.ndarray, n: int, rng: np.random.Generator, radius: float) -> list[tuple[int, int]]:
    """``n`` points in ``area`` drawn with weight on local dark/bright blemishes (moles, pores, lines)."""
    s = rec.crop.shape[0]
    grey = cv2.cvtColor(rec.crop, cv2.COLOR_RGB2GRAY)
    k = int(max(3, round(radius * 4))) | 1
    resid = np.abs(grey.astype(np.float32) - cv2.medianBlur(grey, min(k, 31)).astype(np.float32))
    ok = erode(area, radius + 1)
    ys, xs = np.nonzero(ok)
    if ys.size == 0:
        return []
    w = resid[ys, xs] ** 2 + 1.0
    idx = rng.choice(ys.size, size=min(n, ys.size), replace=False, p=w / w.sum())
    return [(int(xs[i]), int(ys[i])) for i in idx if 0 <= xs[i] < s]


def _brush(rec: FaceRecord, rng: np.random.Generator, all_skin: bool = True) -> tuple[np.ndarray, str]:
    """Where a smoothing brush goes: all skin, or one skin area (``all_skin=False``: always one
    area). The default makes the draws every shipped member was trained with."""
    skin = skin_mask(rec)
    if rng.random() < 0.5 and all_skin:
        return skin, "skin"
    name = str(rng.choice(SKIN_AREAS))
    m = skin & rec.regions[name]
    return (m, name) if m.sum() > 50 else (skin, "skin")


def _smooth(rec: FaceRecord, img: np.ndarray, rng: np.random.Generator, op: str, all_skin: bool = True) -> tuple[np.ndarray, np.ndarray, str, dict[str, object]]:
    s = rec.crop.shape[0]
    area, name = _brush(rec, rng, all_skin)
    sig = px(s, float(rng.uniform(3, 12)))
    box = bbox(area, int(3 * sig) + 16, s)
    alpha = np.zeros((s, s), np.float32)
    if box is None:
        return img, alpha, name, {"op": op}
    y0, y1, x0, x1 = box
    win = img[y0:y1, x0:x1]
    info: dict[str, object] = {"op": op, "area": name}
    if op == "skin_smooth":
        if rng.random() < 0.5:
            d = int(max(3, round(px(s, rng.uniform(7, 15))))) | 1
            sc, ss = float(rng.uniform(20, 60)), px(s, rng.uniform(3, 10))
            src = cv2.bilateralFilter(win, d, sc, ss)
            info.update(filter="bilateral", d=d, sigma_colour=round(sc, 1), sigma_space=round(ss, 2))
        else:
            r = int(max(2, round(px(s, rng.uniform(4, 12)))))
            eps = float(rng.uniform(0.004, 0.03))
            src = guided_filter(win, r, eps)
            info.update(filter="guided", radius=r, eps=round(eps, 4))
    else:
        sl = px(s, float(rng.uniform(3, 8)))
        low = cv2.GaussianBlur(win.astype(np.float32), (0, 0), sl)
        high = win.astype(np.float32) - low
        s2 = px(s, float(rng.uniform(2, 8)))
        keep = float(rng.uniform(0.15, 0.6))
        src = np.clip(cv2.GaussianBlur(low, (0, 0), s2) + high * keep + 0.5, 0, 255).astype(np.uint8)
        info.update(low_sigma=round(sl, 2), tone_sigma=round(s2, 2), high_keep=round(keep, 3))
    strength = float(rng.uniform(0.6, 1.0))
    a = feather(area[y0:y1, x0:x1], sig) * strength
    alpha[y0:y1, x0:x1] = a
    out = img.copy()
    out[y0:y1, x0:x1] = alpha_blend(win, src, a)
    info.update(feather=round(sig, 2), strength=round(strength, 3))
    return out, alpha, name, info


def _inpaint_window(img: np.ndarray, hole: np.ndarray, radius: float, ns: bool) -> np.ndarray:
    s = img.shape[0]
    box = bbox(hole, int(radius) + 6, s)
    if box is None:
        return img
    y0, y1, x0, x1 = box
    out = img.copy()
    out[y0:y1, x0:x1] = cv2.inpaint(np.ascontiguousarray(img[y0:y1, x0:x1]), hole[y0:y1, x0:x1].astype(np.uint8), radius, cv2.INPAINT_NS if ns else cv2.INPAINT_TELEA)
    return out


def _spot_heal(rec: FaceRecord, img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str, dict[str, object]]:
    s = rec.crop.shape[0]
    n = int(rng.integers(3, 11))
    r = max(1.5, px(s, float(rng.uniform(3, 8))))
    pts = _contrast_points(rec, skin_mask(rec), n, rng, r)
    hole = np.zeros((s, s), np.uint8)
    for x, y in pts:
        cv2.circle(hole, (x, y), int(round(r * rng.uniform(0.8, 1.3))), 1, -1)
    ns = bool(rng.random() < 0.5)
    out = _inpaint_window(img, hole.astype(bool), max(2.0, r), ns)
    names = {region_at(rec, x, y) for x, y in pts}
    name = names.pop() if len(names) == 1 else "skin"
    return out, dilate(hole, 1).astype(np.float32), name, {"op": "spot_heal", "spots": len(pts), "radius": round(r, 2), "method": "ns" if ns else "telea"}


def _clone_stamp(rec: FaceRecord, img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str, dict[str, object]]:
    s = rec.crop.shape[0]
    skin = skin_mask(rec)
    out = img.copy()
    alpha = np.zeros((s, s), np.float32)
    stamps = []
    name = "skin"
    for _ in range(int(rng.integers(1, 5))):
        r = max(3.0, px(s, float(rng.uniform(8, 26))))
        ok = erode(skin, r)
        ys, xs = np.nonzero(ok)
        if ys.size < 2:
            break
        i = int(rng.integers(0, ys.size))
        dx, dy = int(xs[i]), int(ys[i])
        # Source: another skin point 1.5 to 6 radii away.
        dist = np.hypot(xs - dx, ys - dy)
        cand = np.nonzero((dist > 1.5 * r) & (dist < 6 * r))[0]
        if cand.size == 0:
            continue
        j = int(cand[int(rng.integers(0, cand.size))])
        sx, sy = int(xs[j]), int(ys[j])
        hard = float(rng.uniform(0.0, 0.6))  # brush hardness
        rr = int(np.ceil(r)) + 2
        yy, xx = np.mgrid[-rr : rr + 1, -rr : rr + 1].astype(np.float32)
        d = np.sqrt(xx * xx + yy * yy) / r
        a = np.clip((1.0 - d) / max(1.0 - hard, 1e-3), 0.0, 1.0)
        a = a * a * (3 - 2 * a)  # smoothstep edge
        y0, y1, x0, x1 = dy - rr, dy + rr + 1, dx - rr, dx + rr + 1
        v0, v1, u0, u1 = sy - rr, sy + rr + 1, sx - rr, sx + rr + 1
        if min(y0, x0, v0, u0) < 0 or max(y1, x1, v1, u1) > s:
            continue
        out[y0:y1, x0:x1] = alpha_blend(out[y0:y1, x0:x1], img[v0:v1, u0:u1], a)
        alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], a)
        name = region_at(rec, dx, dy) if not stamps else "skin"
        stamps.append({"to": [dx, dy], "from": [sx, sy], "radius": round(r, 2), "hardness": round(hard, 2)})
    return out, alpha, name, {"op": "clone_stamp", "stamps": stamps}


def retouch(rec: FaceRecord, rng: np.random.Generator, ops: str | Sequence[str] | None = None, p_two: float = 0.3,
            all_skin: bool = True) -> SynthSample:
    """Skin retouching: one op of :data:`RETOUCH_OPS` (two with probability ``p_two``).

    ``all_skin=False``: smoothing and frequency separation brush one skin area, never all of the
    skin. Why: a retouch of the whole skin is what a beauty mode does to a photo before anyone edits
    it (``synth.beauty``); trained with retouched hosts (``TrainConfig.beauty``) the whole-skin
    brush would label the same look forged in one pair and untouched in the next."""
    s = rec.crop.shape[0]
    if ops is None:
        n = 2 if rng.random() < p_two else 1
        ops = tuple(str(o) for o in rng.choice(RETOUCH_OPS, size=n, replace=False, p=np.asarray(RETOUCH_WEIGHTS) / sum(RETOUCH_WEIGHTS)))
    elif isinstance(ops, str):
        ops = (ops,)
    img = rec.crop
    alpha = np.zeros((s, s), np.float32)
    infos, names = [], []
    for op in ops:
        if op in ("skin_smooth", "freq_sep"):
            img, a, name, info = _smooth(rec, img, rng, op, all_skin)
        elif op == "spot_heal":
            img, a, name, info = _spot_heal(rec, img, rng)
        elif op == "clone_stamp":
            img, a, name, info = _clone_stamp(rec, img, rng)
        else:
            raise ValueError(f"unknown retouch op {op!r}; expected one of {RETOUCH_OPS}")
        alpha = np.maximum(alpha, a)
        infos.append(info)
        names.append(name)
    return finish(rec, img, alpha, "retouch", "+".join(dict.fromkeys(names)), {"ops": list(ops), "per_op": infos})


# -- inpainting -----------------------------------------------------------------------------

def inpaint_hole(rec: FaceRecord, target: str, rng: np.random.Generator) -> np.ndarray:
    """The pixels an editor would select to remove ``target`` (one of INPAINT_TARGETS)."""
    s = rec.crop.shape[0]
    lm = rec.landmarks
    iod = face_scale(rec)
    hole = np.zeros((s, s), np.uint8)
    if target in ("left_brow", "right_brow"):
        return dilate(part_mask(rec, target), px(s, float(rng.uniform(2, 6)))) & rec.face_mask
    if target == "mole":
        r = max(2.5, px(s, float(rng.uniform(6, 14))))
        pts = _contrast_points(rec, skin_mask(rec), 1, rng, r)
        if pts:
            cv2.ellipse(hole, pts[0], (int(round(r)), int(round(r * rng.uniform(0.7, 1.0)))), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif target == "glabella":
        c = (lm[9] + lm[168]) / 2
        cv2.ellipse(hole, (int(round(c[0])), int(round(c[1]))), (max(2, int(iod * rng.uniform(0.12, 0.2))), max(2, int(iod * rng.uniform(0.1, 0.18)))), 0, 0, 360, 1, -1)
    elif target in ("left_nasolabial", "right_nasolabial"):
        a, b = (lm[358], lm[291]) if target == "left_nasolabial" else (lm[129], lm[61])
        out_dir = np.sign(a[0] - lm[1, 0])
        a = a + np.array([out_dir * 0.04 * iod, 0.02 * iod])
        b = b + np.array([out_dir * 0.08 * iod, 0.0])
        w = max(2, int(round(iod * rng.uniform(0.05, 0.1))))
        cv2.line(hole, (int(round(a[0])), int(round(a[1]))), (int(round(b[0])), int(round(b[1]))), 1, w)
    elif target in ("left_under_eye", "right_under_eye"):
        ring = lm[[263, 362]] if target == "left_under_eye" else lm[[33, 133]]
        c = ring.mean(0) + np.array([0.0, 0.22 * iod])
        cv2.ellipse(hole, (int(round(c[0])), int(round(c[1]))), (max(2, int(iod * rng.uniform(0.22, 0.3))), max(2, int(iod * rng.uniform(0.06, 0.1)))), 0, 0, 360, 1, -1)
    else:
        raise ValueError(f"unknown inpaint target {target!r}; expected one of {INPAINT_TARGETS}")
    return hole.astype(bool) & rec.face_mask


def _patch_fill(rec: FaceRecord, hole: np.ndarray, rng: np.random.Generator, feather_px: float) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Fill ``hole`` with skin shifted from above or beside it, colour-matched to the hole's rim."""
    s = rec.crop.shape[0]
    ys, xs = np.nonzero(hole)
    h, w = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
    skin = skin_mask(rec) | rec.regions["forehead"]
    best, best_ok = (0, -h), -1.0
    for dy, dx in ((-1.3 * h, 0), (1.3 * h, 0), (0, -1.2 * w), (0, 1.2 * w), (-1.0 * h, 0.6 * w), (-1.0 * h, -0.6 * w)):
        dy, dx = int(round(dy)), int(round(dx))
        sy, sx = ys + dy, xs + dx
        inside = (sy >= 0) & (sy < s) & (sx >= 0) & (sx < s)
        ok = float(skin[sy[inside], sx[inside]].mean()) * inside.mean() if inside.any() else 0.0
        ok += rng.uniform(0, 0.05)
        if ok > best_ok:
            best, best_ok = (dy, dx), ok
    dy, dx = best
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    src = cv2.warpAffine(rec.crop, m, (s, s), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101)
    rim = dilate(hole, px(s, 6)) & ~hole
    alpha = feather(hole, feather_px, grow=feather_px)
    if rim.any():
        shift = rec.crop[rim].astype(np.float32).mean(0) - src[hole].astype(np.float32).mean(0)
        src = np.clip(src.astype(np.float32) + shift, 0, 255).astype(np.uint8)
    return alpha_blend(rec.crop, src, alpha), alpha, [dx, dy]


def inpaint(rec: FaceRecord, rng: np.random.Generator, target: str | None = None, method: str | None = None) -> SynthSample:
    """Remove ``target`` (one of :data:`INPAINT_TARGETS`) by Telea / Navier-Stokes inpainting or a patch fill."""
    s = rec.crop.shape[0]
    target = target or str(rng.choice(INPAINT_TARGETS, p=np.asarray(INPAINT_WEIGHTS) / sum(INPAINT_WEIGHTS)))
    method = method or str(rng.choice(("telea", "ns", "patch"), p=(0.4, 0.3, 0.3)))
    hole = inpaint_hole(rec, target, rng)
    params: dict[str, object] = {"target": target, "method": method, "hole_px": int(hole.sum())}
    if hole.sum() < 4:
        return finish(rec, rec.crop.copy(), np.zeros((s, s), np.float32), "inpaint", target, params)
    if method == "patch":
        fp = px(s, float(rng.uniform(1.5, 5)))
        out, alpha, shift = _patch_fill(rec, hole, rng, fp)
        params.update(shift=shift, feather=round(fp, 2))
    else:
        r = px(s, float(rng.uniform(3, 8)))
        out = _inpaint_window(rec.crop, hole, max(2.0, r), method == "ns")
        alpha = dilate(hole, 1).astype(np.float32)
        params["radius"] = round(r, 2)
        if rng.random() < 0.4:  # retouchers often soften the filled area's texture seam with a blur
            sig = px(s, float(rng.uniform(0.8, 2.0)))
            soft = feather(hole, sig, grow=sig)
            out = alpha_blend(out, cv2.GaussianBlur(out, (0, 0), sig), soft * 0.7)
            alpha = np.maximum(alpha, soft)
            params["soften"] = round(sig, 2)
    return finish(rec, out, alpha, "inpaint", target, params)
