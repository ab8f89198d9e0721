"""Cross-face part swap: an eye, brow, nose, mouth, lips or chin pasted from another person.

Imitates the hand-made edit: an editor cuts a part out of another photo, lines it up by eye
(so it is a little off in scale, angle and position), leaves the colour as it is or matches it
partly, and blends it with a hard cut, a feathered brush, Photoshop-style Poisson healing or a
multi-band (Laplacian pyramid) blend. Donor faces are real aligned faces (:class:`FaceRecord`),
registered to the host on the part's FaceMesh points by a least-squares similarity.

The cut follows the part's exact outline when a label map is available (``FaceRecord.parts``:
donor part warped into the host, union with the host part so the original is fully covered,
grown by a random margin); otherwise the FaceMesh part geometry. The ground truth is the set of
pixels whose blend weight exceeds ``ALPHA_MIN`` and whose value changed (as in ``generate``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from ..faces import regions as R
from .common import PART_POINTS, PARTS, alpha_blend, bbox, dilate, feather, finish, part_mask, px
from .generate import FaceRecord, SynthSample

#: Parts drawn for single-part swaps, with weights (eyes and mouth are what people edit most).
SWAP_PARTS: tuple[str, ...] = PARTS
SWAP_WEIGHTS: tuple[float, ...] = (0.11, 0.11, 0.14, 0.06, 0.06, 0.07, 0.14, 0.14, 0.09, 0.08)
#: Part combinations for multi-part swaps from one donor.
MULTI_PARTS: tuple[tuple[str, ...], ...] = (("eyes", "mouth"), ("nose", "mouth"), ("eyes", "nose"), ("eyes", "brows"), ("left_eye", "mouth"), ("eyes", "nose", "mouth"))
BLENDS: tuple[str, ...] = ("hard", "feathered", "poisson", "laplacian")
BLEND_WEIGHTS: tuple[float, ...] = (0.15, 0.4, 0.25, 0.2)
#: Landmarks compared by :func:`pick_donor` (outline, eyes, nose, lips).
POSE_POINTS: list[int] = R.MESH_OVAL_PATH + R.MESH_LEFT_EYE + R.MESH_RIGHT_EYE + R.MESH_NOSE + R.MESH_LIPS


# -- geometry ---------------------------------------------------------------------------

def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping ``src`` points onto ``dst``: a 2x3 matrix."""
    s = np.asarray(src, np.float64)
    d = np.asarray(dst, np.float64)
    ms, md = s.mean(0), d.mean(0)
    sc, dc = s - ms, d - md
    var = (sc**2).sum() / len(s)
    cov = dc.T @ sc / len(s)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    rot = u @ e @ vt
    k = float((sig * np.diag(e)).sum() / max(var, 1e-9))
    t = md - k * rot @ ms
    return np.hstack([k * rot, t[:, None]]).astype(np.float64)


def pose_distance(a: np.ndarray, b: np.ndarray) -> float:
    """RMS landmark residual after similarity alignment of ``b`` onto ``a``, relative to ``a``'s size."""
    pa = np.asarray(a, np.float64)[POSE_POINTS]
    pb = np.asarray(b, np.float64)[POSE_POINTS]
    m = similarity(pb, pa)
    res = pb @ m[:, :2].T + m[:, 2] - pa
    return float(np.sqrt((res**2).sum(1).mean()) / max(np.sqrt(((pa - pa.mean(0)) ** 2).sum(1).mean()), 1e-6))


def pick_donor(rec: FaceRecord, donors: Sequence[FaceRecord] | None, rng: np.random.Generator, same_pose_prob: float = 0.5, pool: int = 16) -> FaceRecord | None:
    """A donor face other than ``rec``: with probability ``same_pose_prob`` the one among a random
    subset of ``pool`` whose landmarks (after similarity normalisation) are closest to ``rec``'s;
    otherwise a uniformly random one. None when there is no other face."""
    cands = [d for d in (donors or ()) if d is not rec and d.crop is not rec.crop]
    if not cands:
        return None
    if len(cands) == 1:
        return cands[0]
    if rng.random() >= same_pose_prob:
        return cands[int(rng.integers(0, len(cands)))]
    idx = rng.choice(len(cands), size=min(pool, len(cands)), replace=False)
    dists = [pose_distance(rec.landmarks, cands[int(i)].landmarks) for i in idx]
    return cands[int(idx[int(np.argmin(dists))])]


def self_donor(rec: FaceRecord, rng: np.random.Generator) -> FaceRecord:
    """Stand-in donor when no other face is given: the same face resampled and re-coloured
    (another camera), same landmarks and parts. Swaps from it still carry offset, colour and
    sharpness mismatch; real training passes other faces."""
    s = rec.crop.shape[0]
    f = rng.uniform(0.45, 0.75)
    img = cv2.resize(cv2.resize(rec.crop, (max(8, int(s * f)),) * 2, interpolation=cv2.INTER_AREA), (s, s), interpolation=cv2.INTER_CUBIC)
    gain = rng.uniform(0.88, 1.12, 3)
    img = np.clip(img.astype(np.float32) * gain + rng.uniform(-10, 10, 3), 0, 255).astype(np.uint8)
    return dataclasses.replace(rec, crop=img)


# -- pixel operations -------------------------------------------------------------------

def match_colour_lab(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, t: float = 1.0) -> np.ndarray:
    """Lab mean/std transfer of ``src`` towards ``dst`` statistics inside ``mask``, by fraction ``t``."""
    if mask.sum() < 10 or t <= 0:
        return src
    s = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    d = cv2.cvtColor(dst, cv2.COLOR_RGB2LAB).astype(np.float32)
    ms, ss = s[mask].mean(0), s[mask].std(0) + 1e-3
    md, sd = d[mask].mean(0), d[mask].std(0) + 1e-3
    sd = np.minimum(sd, ss * 2.5)  # a flat host patch must not blow up the donor's texture
    matched = (s - ms) / ss * sd + md
    out = s + t * (matched - s)
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def relight(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """Lighting/cast mismatch of a pasted part: L gain, a linear L gradient, an a/b cast."""
    h, w = img.shape[:2]
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
    gain = float(rng.uniform(0.85, 1.15))
    ang = float(rng.uniform(0, 2 * np.pi))
    grad = float(rng.uniform(-12, 12))
    cast = rng.uniform(-6, 6, 2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((xx / max(w - 1, 1) - 0.5) * np.cos(ang) + (yy / max(h - 1, 1) - 0.5) * np.sin(ang)) * grad
    lab[..., 0] = lab[..., 0] * gain + ramp
    lab[..., 1:] += cast
    out = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return out, {"gain": round(gain, 3), "gradient": round(grad, 2), "cast_a": round(float(cast[0]), 2), "cast_b": round(float(cast[1]), 2)}


def resharpen(img: np.ndarray, rng: np.random.Generator, size: int) -> tuple[np.ndarray, dict[str, object]]:
    """Sharpness mismatch: the donor photo was softer, resampled, or sharpened."""
    op = str(rng.choice(("blur", "resample", "sharpen"), p=(0.4, 0.4, 0.2)))
    if op == "blur":
        sig = float(rng.uniform(0.5, 1.8)) * size / 512
        return cv2.GaussianBlur(img, (0, 0), max(sig, 0.3)), {"op": op, "sigma": round(sig, 2)}
    if op == "resample":
        f = float(rng.uniform(0.35, 0.8))
        h, w = img.shape[:2]
        small = cv2.resize(img, (max(2, int(w * f)), max(2, int(h * f))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=(cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(0, 2))]), {"op": op, "factor": round(f, 3)}
    amt = float(rng.uniform(0.4, 1.2))
    blur = cv2.GaussianBlur(img, (0, 0), max(0.3, 1.2 * size / 512)).astype(np.float32)
    return np.clip(img.astype(np.float32) * (1 + amt) - blur * amt + 0.5, 0, 255).astype(np.uint8), {"op": op, "amount": round(amt, 2)}


def laplacian_blend(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-band blend (Burt & Adelson): Laplacian pyramids of ``src``/``dst`` mixed with the
    Gaussian pyramid of ``alpha``. Returns the uint8 image and the effective blend weight
    (per pixel, the largest weight any band applied there), which defines the truth mask."""
    d = [dst.astype(np.float32)]
    s = [src.astype(np.float32)]
    a = [alpha.astype(np.float32)]
    for _ in range(levels):
        d.append(cv2.pyrDown(d[-1]))
        s.append(cv2.pyrDown(s[-1]))
        a.append(cv2.pyrDown(a[-1]))
    out = s[-1] * a[-1][..., None] + d[-1] * (1 - a[-1][..., None])
    eff = a[-1]
    for lv in range(levels - 1, -1, -1):
        size = (d[lv].shape[1], d[lv].shape[0])
        ld = d[lv] - cv2.pyrUp(d[lv + 1], dstsize=size)
        ls = s[lv] - cv2.pyrUp(s[lv + 1], dstsize=size)
        al = a[lv][..., None]
        out = cv2.pyrUp(out, dstsize=size) + ls * al + ld * (1 - al)
        eff = np.maximum(cv2.pyrUp(eff, dstsize=size), a[lv])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), np.clip(eff, 0, 1)


def poisson_blend(dst: np.ndarray, src: np.ndarray, mask: np.ndarray, mixed: bool) -> np.ndarray | None:
    """cv2.seamlessClone of ``src`` into ``dst`` in place (same coordinates); None if it cannot run.

    OpenCV places the mask's bounding box centred on ``p`` with its top-left at
    ``p - size // 2``, after clearing the mask's outer 1 px frame."""
    m = mask.astype(np.uint8) * 255
    m[0, :] = m[-1, :] = 0
    m[:, 0] = m[:, -1] = 0
    x, y, w, h = cv2.boundingRect(m)
    if w < 3 or h < 3:
        return None
    try:
        return cv2.seamlessClone(src, dst, m, (x + w // 2, y + h // 2), cv2.MIXED_CLONE if mixed else cv2.NORMAL_CLONE)
    except cv2.error:
        return None


# -- the family -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Style:
    """What one editing session chose (shared by all parts pasted from one donor)."""

    blend: str
    colour: str  # none | partial | full
    colour_t: float
    lighting: bool
    sharpness: bool
    feather_rel: float  # feather sigma as a fraction of the part's size (sqrt of one component's area)
    mixed: bool
    margin: float


def _draw_style(rng: np.random.Generator, size: int, blend: str | None, colour: str | None) -> _Style:
    blend = blend or str(rng.choice(BLENDS, p=BLEND_WEIGHTS))
    colour = colour or str(rng.choice(("none", "partial", "full"), p=(0.45, 0.25, 0.3)))
    t = {"none": 0.0, "full": 1.0}.get(colour, float(rng.uniform(0.3, 0.8)))
    return _Style(
        blend=blend,
        colour=colour,
        colour_t=round(t, 3),
        lighting=bool(colour != "full" and rng.random() < 0.35),
        sharpness=bool(rng.random() < 0.4),
        feather_rel=round(float(rng.uniform(0.03, 0.09)), 4),
        mixed=bool(rng.random() < 0.3),
        margin=round(float(rng.uniform(0.0, 6.0)) * size / 512, 2),
    )


def _swap_one(img: np.ndarray, rec: FaceRecord, donor: FaceRecord, part: str, st: _Style, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Paste ``donor``'s ``part`` into ``img`` (the host, possibly already edited)."""
    s = rec.crop.shape[0]
    idx = PART_POINTS[part]
    m = similarity(donor.landmarks[idx], rec.landmarks[idx])
    c = rec.landmarks[idx].mean(0)
    scale = float(rng.uniform(0.9, 1.12))
    angle = float(rng.uniform(-6, 6))
    shift = rng.uniform(-3, 3, 2) * s / 512
    p = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), angle, scale)
    p[:, 2] += shift
    a = (np.vstack([p, [0, 0, 1]]) @ np.vstack([m, [0, 0, 1]]))[:2]

    host_m = part_mask(rec, part)
    src_label = "parts" if rec.parts is not None else "mesh"
    mask = host_m
    if donor.parts is not None:
        dm = cv2.warpAffine(part_mask(donor, part).astype(np.uint8), a, (s, s), flags=cv2.INTER_NEAREST, borderValue=0).astype(bool)
        mask = host_m | dm
        src_label += "+donor_parts"
    mask = dilate(mask, st.margin)
    n_comp = max(1, cv2.connectedComponents(mask.astype(np.uint8))[0] - 1)
    sigma = max(0.7, st.feather_rel * float(np.sqrt(mask.sum() / n_comp)))

    reach = int(np.ceil(3 * sigma + sigma * 1.5)) + 4 if st.blend in ("feathered", "poisson") else 4
    if st.blend == "laplacian":
        win0 = bbox(mask, 0, s)
        short = min(win0[1] - win0[0], win0[3] - win0[2]) if win0 else 8
        levels = int(np.clip(np.log2(max(short, 8) / 4), 2, 5))
        reach = int(2.5 * 2**levels) + 4
    box = bbox(mask, reach, s)
    if box is None:
        return img, np.zeros((s, s), np.float32), {"part": part}
    y0, y1, x0, x1 = box
    # Warp only the window: shift the transform so the window's origin maps to (0, 0).
    aw = a.copy()
    aw[:, 2] -= (x0, y0)
    src = cv2.warpAffine(donor.crop, aw, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    dst = img[y0:y1, x0:x1]
    mw = mask[y0:y1, x0:x1]
    info: dict[str, object] = {"part": part, "scale": round(scale, 4), "angle": round(angle, 2), "shift": [round(float(v), 2) for v in shift], "mask": src_label}
    if st.sharpness:
        src, info["sharpness"] = resharpen(src, rng, s)
    if st.lighting:
        src, info["lighting"] = relight(src, rng)
    if st.colour_t > 0:
        ring = dilate(mw, px(s, 8))
        src = match_colour_lab(src, dst, ring, st.colour_t)

    alpha_w = mw.astype(np.float32)
    out_w: np.ndarray | None = None
    blend = st.blend
    if blend == "poisson":
        out_w = poisson_blend(dst, src, mw, st.mixed)
        if out_w is None:
            blend = "feathered"
        else:
            # The solver works on the mask's bounding rectangle: pixels outside the mask there
            # move a little too, so all of the rectangle may count (if they changed visibly).
            alpha_w = np.zeros(mw.shape, np.float32)
            bx, by, bw, bh = cv2.boundingRect(mw.astype(np.uint8))
            alpha_w[max(0, by - 1) : by + bh + 1, max(0, bx - 1) : bx + bw + 1] = 1.0
            info["poisson"] = "mixed" if st.mixed else "normal"
    if blend == "laplacian":
        soft = feather(mw, max(0.5, sigma / 4))
        out_w, alpha_w = laplacian_blend(dst, src, soft, levels)
        info["levels"] = levels
    elif blend == "feathered":
        grow = sigma * float(rng.uniform(0.5, 1.5))
        alpha_w = feather(mw, sigma, grow)
        info["feather_sigma"] = round(sigma, 2)
        out_w = alpha_blend(dst, src, alpha_w)
    elif blend == "hard":
        out_w = alpha_blend(dst, src, alpha_w)
    info["blend"] = blend
    out = img.copy()
    out[y0:y1, x0:x1] = out_w
    alpha = np.zeros((s, s), np.float32)
    alpha[y0:y1, x0:x1] = alpha_w
    return out, alpha, info


def part_swap(
    rec: FaceRecord,
    rng: np.random.Generator,
    donors: Sequence[FaceRecord] | None = None,
    target: str | Sequence[str] | None = None,
    donor: FaceRecord | None = None,
    blend: str | None = None,
    colour: str | None = None,
    same_pose_prob: float = 0.5,
    p_multi: float = 0.2,
) -> SynthSample:
    """Paste one part (or, with probability ``p_multi``, several) of another face into ``rec``.

    ``target`` is one of :data:`PARTS` or a sequence of them; ``blend`` one of :data:`BLENDS`;
    ``colour`` one of none / partial / full (Lab mean/std match). ``sample.target`` is the part
    name, parts joined by "+" for multi-part swaps.
    """
    s = rec.crop.shape[0]
    if target is None:
        if rng.random() < p_multi:
            parts = MULTI_PARTS[int(rng.integers(0, len(MULTI_PARTS)))]
        else:
            parts = (str(rng.choice(SWAP_PARTS, p=np.asarray(SWAP_WEIGHTS) / sum(SWAP_WEIGHTS))),)
    else:
        parts = (target,) if isinstance(target, str) else tuple(target)
    for p in parts:
        if p not in PARTS:
            raise ValueError(f"unknown part {p!r}; expected one of {PARTS}")
    donor_kind = "given"
    if donor is None:
        donor = pick_donor(rec, donors, rng, same_pose_prob)
        donor_kind = "pool"
        if donor is None:
            donor = self_donor(rec, rng)
            donor_kind = "self"
    st = _draw_style(rng, s, blend, colour)
    img = rec.crop
    alpha = np.zeros((s, s), np.float32)
    infos = []
    for p in parts:
        img, a, info = _swap_one(img, rec, donor, p, st, rng)
        alpha = np.maximum(alpha, a)
        infos.append(info)
    params: dict[str, object] = {
        "parts": list(parts),
        "donor": donor_kind,
        "blend": infos[0].get("blend", st.blend),
        "colour": st.colour,
        "colour_t": st.colour_t,
        "margin_px": st.margin,
        "per_part": infos,
    }
    return finish(rec, img, alpha, "part_swap", "+".join(parts), params)
