"""Shared helpers of the forgery families: part masks, feathering, windows, sample assembly.

Why one place: every family builds its ground truth the same way as
:mod:`forgetalk.synth.generate` (blend weight > ``ALPHA_MIN`` and the pixel visibly changed),
and every family that aims at "the nose" or "the lips" must mean the same pixels, whether the
face comes with an exact part label map (``FaceRecord.parts``) or only FaceMesh landmarks.
Sizes are given for a 512 px crop and scaled by ``S / 512`` (:func:`px`).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..faces import regions as R
from .generate import FaceRecord, target_mask
from .generate import finish as finish  # re-exported: the families build their samples through common

#: Part label ids of ``FaceRecord.parts`` (``forgetalk.train.parsing.PART_NAMES`` order;
#: written out so that synth does not import the training package; a test checks they agree).
LABEL: dict[str, int] = {
    "background": 0, "skin": 1, "nose": 2, "eyeglasses": 3, "left_eye": 4, "right_eye": 5, "left_brow": 6,
    "right_brow": 7, "left_ear": 8, "right_ear": 9, "mouth": 10, "upper_lip": 11, "lower_lip": 12, "hair": 13,
}  # fmt: skip

#: Parts a cross-face swap (and other part-level families) can aim at.
PARTS: tuple[str, ...] = ("left_eye", "right_eye", "eyes", "left_brow", "right_brow", "brows", "nose", "mouth", "lips", "chin")

#: Label-map classes of each part ("chin" has no class: it is cut out of the skin geometrically).
PART_LABELS: dict[str, tuple[int, ...]] = {
    "left_eye": (LABEL["left_eye"],),
    "right_eye": (LABEL["right_eye"],),
    "eyes": (LABEL["left_eye"], LABEL["right_eye"]),
    "left_brow": (LABEL["left_brow"],),
    "right_brow": (LABEL["right_brow"],),
    "brows": (LABEL["left_brow"], LABEL["right_brow"]),
    "nose": (LABEL["nose"],),
    "mouth": (LABEL["mouth"], LABEL["upper_lip"], LABEL["lower_lip"]),
    "lips": (LABEL["upper_lip"], LABEL["lower_lip"]),
    "chin": (),
}

#: REGION_NAMES regions that contain each part (what "most forged pixels lie on the target" means).
PART_REGIONS: dict[str, tuple[str, ...]] = {
    "left_eye": ("left_eye",),
    "right_eye": ("right_eye",),
    "eyes": ("left_eye", "right_eye"),
    "left_brow": ("left_brow",),
    "right_brow": ("right_brow",),
    "brows": ("left_brow", "right_brow"),
    "nose": ("nose",),
    "mouth": ("mouth",),
    "lips": ("mouth",),
    "chin": ("chin_jaw",),
    "jaw": ("face_boundary", "chin_jaw", "left_cheek", "right_cheek"),
    # inpainting targets (forgetalk.synth.retouch.INPAINT_TARGETS)
    "mole": ("skin",),
    "glabella": ("left_brow", "right_brow", "nose", "forehead", "skin"),
    "left_nasolabial": ("left_cheek", "nose", "mouth", "chin_jaw"),
    "right_nasolabial": ("right_cheek", "nose", "mouth", "chin_jaw"),
    "left_under_eye": ("left_eye", "left_cheek", "skin"),
    "right_under_eye": ("right_eye", "right_cheek", "skin"),
}

# Ordered FaceMesh contours (closed polygons).
MESH_LIPS_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
MESH_LIPS_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]
MESH_RIGHT_EYE_RING = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
MESH_LEFT_EYE_RING = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]
#: Points that register each part between two faces (the part plus a little stable context).
PART_POINTS: dict[str, list[int]] = {
    "left_eye": R.MESH_LEFT_EYE + R.MESH_LEFT_BROW[:4],
    "right_eye": R.MESH_RIGHT_EYE + R.MESH_RIGHT_BROW[:4],
    "eyes": R.MESH_LEFT_EYE + R.MESH_RIGHT_EYE,
    "left_brow": R.MESH_LEFT_BROW + R.MESH_LEFT_EYE[:4],
    "right_brow": R.MESH_RIGHT_BROW + R.MESH_RIGHT_EYE[:4],
    "brows": R.MESH_LEFT_BROW + R.MESH_RIGHT_BROW,
    "nose": R.MESH_NOSE,
    "mouth": R.MESH_LIPS,
    "lips": R.MESH_LIPS,
    "chin": [152, 148, 176, 149, 377, 400, 378, 17, 84, 314, 18, 200, 199, 175],
}


def px(size: int, v512: float) -> float:
    """A length given for a 512 px crop, at crop size ``size``."""
    return float(v512) * size / 512.0


def disk(r: float) -> np.ndarray:
    k = max(1, int(round(r)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))


def dilate(mask: np.ndarray, r: float) -> np.ndarray:
    if r < 0.5:
        return mask.astype(bool)
    return cv2.dilate(mask.astype(np.uint8), disk(r)).astype(bool)


def erode(mask: np.ndarray, r: float) -> np.ndarray:
    if r < 0.5:
        return mask.astype(bool)
    return cv2.erode(mask.astype(np.uint8), disk(r)).astype(bool)


def feather(mask: np.ndarray, sigma: float, grow: float = 0.0) -> np.ndarray:
    """Float alpha from a binary mask: grow by ``grow`` px, then Gaussian blur (peak rescaled to 1)."""
    m = dilate(mask, grow).astype(np.float32)
    if sigma < 0.3:
        return m
    a = cv2.GaussianBlur(m, (0, 0), sigma)
    return np.clip(a / max(float(a.max()), 1e-6), 0.0, 1.0)


def poly_mask(points: np.ndarray, size: int) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    cv2.fillPoly(m, [np.round(points).astype(np.int32).reshape(-1, 1, 2)], 1)
    return m.astype(bool)


def bbox(mask: np.ndarray, margin: int, size: int) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the mask grown by ``margin`` and clipped to the image; None if empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return (max(0, int(ys.min()) - margin), min(size, int(ys.max()) + margin + 1), max(0, int(xs.min()) - margin), min(size, int(xs.max()) + margin + 1))


def face_scale(rec: FaceRecord) -> float:
    """Inter-ocular distance (eye centre to eye centre) in crop pixels."""
    lm = rec.landmarks
    return float(np.linalg.norm(lm[R.MESH_LEFT_EYE].mean(0) - lm[R.MESH_RIGHT_EYE].mean(0)))


def chin_mask(rec: FaceRecord) -> np.ndarray:
    """The chin: the part of the face oval below the lower lip, within the mouth's width (+25 %)."""
    s = rec.crop.shape[0]
    lm = rec.landmarks
    lip_y = float(lm[17, 1])
    chin_y = float(lm[152, 1])
    mw = float(np.linalg.norm(lm[291] - lm[61]))
    cx = float(lm[[17, 152], 0].mean())
    m = np.zeros((s, s), np.uint8)
    cy = (lip_y + chin_y) / 2 + 0.05 * (chin_y - lip_y)
    cv2.ellipse(m, (int(round(cx)), int(round(cy))), (max(2, int(0.62 * mw)), max(2, int(0.58 * (chin_y - lip_y)))), 0, 0, 360, 1, -1)
    out = m.astype(bool) & rec.face_mask
    out &= ~dilate(rec.regions["mouth"], px(s, 2))
    if rec.parts is not None:
        out &= np.isin(rec.parts, (LABEL["skin"],))
    return out


def mesh_part_mask(rec: FaceRecord, part: str) -> np.ndarray:
    """The part from FaceMesh alone (region hulls, lip ring, chin ellipse)."""
    s = rec.crop.shape[0]
    if part == "chin":
        return chin_mask(rec)
    if part == "brows":
        return rec.regions["left_brow"] | rec.regions["right_brow"]
    if part in ("mouth", "lips"):
        outer = dilate(poly_mask(rec.landmarks[MESH_LIPS_OUTER], s), px(s, 3))
        if part == "mouth":
            return outer
        inner = poly_mask(rec.landmarks[MESH_LIPS_INNER], s)
        return outer & ~erode(inner, px(s, 1))
    return target_mask(rec, part)


def part_mask(rec: FaceRecord, part: str, exact: bool = True) -> np.ndarray:
    """Pixels of ``part`` (one of PARTS): the label map's exact outline when the record has one
    (and ``exact``), else FaceMesh geometry. Falls back to FaceMesh if the label map lacks the part."""
    labels = PART_LABELS[part]
    if exact and rec.parts is not None and labels:
        m = np.isin(rec.parts, labels)
        if m.sum() >= 0.2 * max(1, int(mesh_part_mask(rec, part).sum())):
            return m
    if exact and rec.parts is not None and part == "chin":
        return chin_mask(rec)
    return mesh_part_mask(rec, part)


def target_area(rec: FaceRecord, part: str, grow512: float = 12.0) -> np.ndarray:
    """Where a forgery aimed at ``part`` may legitimately touch: its regions and mask, grown."""
    s = rec.crop.shape[0]
    m = part_mask(rec, part) if part in PART_LABELS else np.zeros((s, s), bool)
    for r in PART_REGIONS.get(part, (part,) if part in rec.regions else ()):
        m = m | rec.regions[r]
    return dilate(m, px(s, grow512))


def alpha_blend(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None].astype(np.float32)
    return np.clip(src.astype(np.float32) * a + dst.astype(np.float32) * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def skin_mask(rec: FaceRecord) -> np.ndarray:
    """Skin inside the face, away from the boundary band and organs (label map's skin class if any)."""
    s = rec.crop.shape[0]
    m = rec.regions["skin"] & ~rec.regions["face_boundary"]
    for r in ("left_eye", "right_eye", "left_brow", "right_brow", "mouth"):
        m &= ~dilate(rec.regions[r], px(s, 4))
    m &= ~erode(rec.regions["nose"], px(s, 6))  # the nose's flanks are skin, its tip and nostrils are not
    if rec.parts is not None:
        lab = rec.parts == LABEL["skin"]
        if lab.sum() > 0.3 * m.sum():
            m &= erode(lab, px(s, 2))
    return m
