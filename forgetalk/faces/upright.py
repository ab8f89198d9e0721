"""Faces turned or tilted in the photo: landmarks, or the faces themselves, found on a copy of the
photo turned upright, or of the face's surroundings turned level.

Why: RetinaFace finds a face lying on its side (a phone photo whose EXIF orientation was lost, a
person lying down), but its five landmarks there are off by 20-100 px on a 512 px portrait
(measured on the parsing set's test faces turned 90 degrees), so the aligned crop is skewed and
shifted. Untouched faces turned 90 degrees were then flagged 13.6 % of the time against 5.9 %
upright (lossless PNG, 173 test photos). Detected again on the photo turned by whole quarter turns
(``np.rot90``: a permutation of pixels, nothing resampled) the landmarks are the upright face's
exactly, and mapped back to the photo they give the same crop as an upright photo would.

A photo in which the detector finds no face at all is searched the same way: a face upside down
(half a turn, no EXIF orientation saying so) was never detected, and the report said "no face".

An upside-down face the detector does find is the hard case: on about half of them (88 of 170 test
faces turned half a turn) it reports the face as if upright, its landmarks level with the eyes above
the mouth, and the crop is analysed upside down (52 % of those untouched faces flagged). Nothing in
the landmarks shows it, and FaceMesh on the crop does not either (it fits its mesh upright whatever
the crop holds). The detector's own confidence does. Measured on every photo of the development
and parsing sets (all three splits; the largest faces and every other face the detector found), a
face read level whose same face on the photo turned half a turn also reads level: of 666 upside-down
faces read as upright, the half-turned copy was more confident on 663 (by more than 1 in log-odds
on 660), and of 665 upright faces on 3 (by 0.77 in log-odds at most). The margin, 1 in log-odds,
was chosen on the training split (upright at most 0.77 there; 478 of 481 upside-down faces above
it); on the validation and test splits it turns 94 of 96 and 88 of 89 upside-down faces and none of
184 upright ones. Upside-down faces read as upright scored at most 0.9990 as they are, upright
faces often more (the median 0.9994), so only a face under :data:`HALF_TURN_GATE` is checked,
which spares the extra detection on about 40 % of upright photos.

A face only tilted (a leaning head, a photo straightened by an editor) has the same problem at
smaller angles: its landmarks are read on a copy turned level (:func:`levelled`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import cv2
import numpy as np

from ..metrics import box_iou
from .base import DetectedFace

#: A face tilted more than this (degrees, :func:`tilt_degrees`) is detected again on the photo
#: turned by each of the three quarter turns. Lower than 45: on a face lying on its side the
#: detector's own landmarks can read as little as 27, 29 or 44 degrees (three of the test faces
#: turned 270 degrees); a face that is only tilted is read on a levelled copy instead
#: (:func:`levelled`), which competes with the quarter turns by confidence.
MAX_TILT_DEG = 25.0
#: Least box overlap (intersection over union) for the upright detection to be the same face.
MIN_MATCH_IOU = 0.3
#: A face that reads level but was detected with less confidence than this is looked for again on
#: the photo turned half a turn (one more detection per photo, about 30 ms at 1024 px). Upside-down
#: faces read as upright scored at most 0.99893 on the training split (0.99895 on validation); the
#: gate only saves the detection, the decision is :data:`MIN_HALF_TURN_GAIN`.
HALF_TURN_GATE = 0.9995
#: How much more confident (log-odds) the half-turned copy's detection of the same face must be
#: for the face to be taken as upside down (module docstring: upright faces gained 0.77 at most).
MIN_HALF_TURN_GAIN = 1.0
#: A face whose eye line is tilted more than this (degrees) after the quarter turns is detected
#: again on a copy of its surroundings turned level (:func:`levelled`).
LEVEL_MIN_DEG = 15.0
#: The levelled copy holds the face at most this large (px across its box; larger faces are
#: shrunk for this one detection), in a square LEVEL_MARGIN times that: a small detection.
LEVEL_FACE_PX = 256
LEVEL_MARGIN = 2.5


def roll_degrees(landmarks5: np.ndarray) -> float:
    """The eye line's angle from level, in degrees (0: upright; +-90: on its side; 180: upside down)."""
    d = np.asarray(landmarks5, np.float64)[1] - np.asarray(landmarks5, np.float64)[0]
    return math.degrees(math.atan2(d[1], d[0]))


def turn_points(points: np.ndarray, quarter_turns: int, shape_hw: tuple[int, int]) -> np.ndarray:
    """Pixel coordinates (x, y) in a photo of ``shape_hw`` as they are in ``np.rot90(photo, k)``."""
    p = np.asarray(points, np.float64).reshape(-1, 2).copy()
    h, w = shape_hw
    for _ in range(quarter_turns % 4):
        p = np.stack([p[:, 1], (w - 1) - p[:, 0]], axis=1)
        h, w = w, h
    return p


def _box_of(points: np.ndarray) -> tuple[float, float, float, float]:
    return float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max())


def _corners(box: Sequence[float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], np.float64)


def tilt_degrees(landmarks5: np.ndarray) -> float:
    """How far the face's own "down" is from the photo's, in degrees (0 to 180): the larger of the
    eye line's angle from level and the eyes-to-mouth line's angle from straight down.

    Why both: on a face lying on its side the detector's landmarks can be so far off that the eye
    line reads within 45 degrees of level (19 of 175 test faces turned 270 degrees) while the mouth
    sits beside the eyes.
    """
    p = np.asarray(landmarks5, np.float64)
    down = p[3:5].mean(axis=0) - p[:2].mean(axis=0)
    fall = abs(math.degrees(math.atan2(-down[0], down[1])))  # 0 when the mouth is straight below the eyes
    return max(abs(roll_degrees(p)), fall)


def turned_upright(detect: Callable[[np.ndarray], list[DetectedFace]], rgb: np.ndarray, faces: list[DetectedFace],
                   half_turn_check: bool = True, level: bool = True) -> list[DetectedFace]:
    """``faces`` with every face tilted past ``MAX_TILT_DEG`` replaced by its most confident upright
    detection on the photo turned by one, two or three quarter turns, and every level face detected
    with less than ``HALF_TURN_GATE`` confidence by its detection on the photo turned half a turn
    where that one is ``MIN_HALF_TURN_GAIN`` more confident in log-odds (an upside-down face read as
    upright; module docstring), each mapped back to the photo's coordinates (``turned`` records the
    turns). Upright: within
    ``MAX_TILT_DEG`` and half the face's own tilt; the same face: boxes overlapping by
    ``MIN_MATCH_IOU``. Otherwise the face keeps its own detection. Why the most confident, not the
    least tilted: an upside-down copy's landmarks can read upright too (least tilt chose it for 9
    of 175 test faces turned 90 degrees). Each turned copy is detected at most once per photo, and
    only when a face needs it. ``half_turn_check=False`` leaves level faces as detected: the
    confidence margin was measured for the default backend's detector only. With ``level``, the
    reading on a copy turned by the face's own eye-line angle (:func:`levelled`) competes with
    the quarter turns by the same confidence: a face only tilted 30-60 degrees was otherwise taken
    from a quarter-turned copy that misread it (flagged 24-40 % of the time); and every face left
    more than ``LEVEL_MIN_DEG`` from level and from a quarter turn is read on a levelled copy."""
    shape = rgb.shape[:2]
    copies: dict[int, tuple[list[DetectedFace], tuple[int, int]]] = {}

    def upright_match(face: DetectedFace, k: int, limit: float) -> DetectedFace | None:
        if k not in copies:
            turned = np.ascontiguousarray(np.rot90(rgb, k))
            copies[k] = (detect(turned), turned.shape[:2])
        candidates, turned_shape = copies[k]
        want = _box_of(turn_points(_corners(face.box), k, shape))
        match = max(candidates, key=lambda d: box_iou(d.box, want), default=None)
        if match is None or box_iou(match.box, want) < MIN_MATCH_IOU or tilt_degrees(match.landmarks5) > limit:
            return None
        return _mapped_back(match, k, turned_shape)

    out: list[DetectedFace] = []
    for face in faces:
        own = tilt_degrees(face.landmarks5)
        if own <= MAX_TILT_DEG:
            if half_turn_check and face.score < HALF_TURN_GATE:
                flipped = upright_match(face, 2, MAX_TILT_DEG)
                if flipped is not None and log_odds(flipped.score) - log_odds(face.score) > MIN_HALF_TURN_GAIN:
                    face = flipped
            out.append(levelled(detect, rgb, face) if level else face)
            continue
        # At most half the face's own tilt, so a face only tilted (its landmarks right) is not
        # swapped for a turned copy's detection that happens to read level.
        limit = min(MAX_TILT_DEG, own / 2)
        found = [(m.score, m) for m in (upright_match(face, k, limit) for k in (1, 2, 3)) if m is not None]
        reading = _level_reading(detect, rgb, face) if level and not _near_quarter_turn(face) else None
        if reading is not None:
            found.append(reading)
        best = max(found, key=lambda c: c[0], default=(0.0, face))[1]
        if level and best is not face and not best.levelled:  # a quarter-turned copy's face, still tilted there
            best = levelled(detect, rgb, best)
        out.append(best)
    return out


def log_odds(p: float) -> float:
    """log(p / (1 - p)), finite at the detector's saturated confidences (0 and 1 clipped by 1e-7)."""
    p = min(max(float(p), 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def _mapped_back(det: DetectedFace, k: int, turned_shape: tuple[int, int]) -> DetectedFace:
    """A detection on ``np.rot90(photo, k)`` in the photo's own coordinates (``turned=k``)."""
    back = 4 - k
    return replace(det, box=_box_of(turn_points(_corners(det.box), back, turned_shape)),
                   landmarks5=turn_points(det.landmarks5, back, turned_shape).astype(np.float32), turned=k)


def levelled(detect: Callable[[np.ndarray], list[DetectedFace]], rgb: np.ndarray, face: DetectedFace) -> DetectedFace:
    """``face`` with its landmarks read on a copy of its surroundings turned so that its eye line
    is level, mapped back (``levelled`` records the angle); box and score stay the photo's.

    Why: RetinaFace's landmarks on a tilted face are off (the largest of the five by a median 12 %
    of the inter-ocular distance at 30 degrees, 20 % at 45), so the aligned crop was skewed and
    untouched faces tilted 30 or 45 degrees were flagged 10.5 % and 16.0 % of the time; aligned with
    the upright photo's landmarks, turned exactly, 5.3 % at both (173 test photos, PNG). The copy
    is resampled for this one detection only; the crop is made from the photo, as for any face.
    A face within ``LEVEL_MIN_DEG`` of level or of a quarter turn (the quarter turns' case) is kept.
    """
    if _near_quarter_turn(face):
        return face  # level, or within reach of a quarter turn (found on a turned copy, or not at all)
    reading = _level_reading(detect, rgb, face)
    return face if reading is None else reading[1]


def _near_quarter_turn(face: DetectedFace) -> bool:
    """Whether the face's eye line lies within ``LEVEL_MIN_DEG`` of level or of a quarter turn,
    where a turned copy (``np.rot90``, nothing resampled) serves it better than a levelled one."""
    angle = roll_degrees(face.landmarks5)
    return abs(angle - 90 * round(angle / 90)) <= LEVEL_MIN_DEG


def _level_reading(detect: Callable[[np.ndarray], list[DetectedFace]], rgb: np.ndarray, face: DetectedFace) -> tuple[float, DetectedFace] | None:
    """(the copy's detection confidence, ``face`` with the landmarks read level on it and mapped
    back), or None where nothing near the copy's centre reads level (:func:`levelled`)."""
    angle = roll_degrees(face.landmarks5)
    x1, y1, x2, y2 = face.box
    side = max(x2 - x1, y2 - y1, 1.0)
    scale = min(1.0, LEVEL_FACE_PX / side)
    n = max(32, int(round(side * scale * LEVEL_MARGIN)))
    m = cv2.getRotationMatrix2D(((x1 + x2) / 2, (y1 + y2) / 2), angle, scale)  # counter-clockwise by the eye line's angle
    m[:, 2] += np.array([n / 2, n / 2]) - np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    copy = cv2.warpAffine(rgb, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    near = [d for d in detect(copy) if abs(roll_degrees(d.landmarks5)) <= LEVEL_MIN_DEG]

    def off_centre(d: DetectedFace) -> float:
        return math.hypot((d.box[0] + d.box[2]) / 2 - n / 2, (d.box[1] + d.box[3]) / 2 - n / 2)

    match = min(near, key=off_centre, default=None)
    if match is None or off_centre(match) > 0.35 * side * scale:
        return None
    inv = cv2.invertAffineTransform(m)
    back = (np.c_[match.landmarks5.astype(np.float64), np.ones(5)] @ inv.T).astype(np.float32)
    return float(match.score), replace(face, landmarks5=back, levelled=round(float(angle), 1))


def detect_any_way_up(detect: Callable[[np.ndarray], list[DetectedFace]], rgb: np.ndarray, half_turn_check: bool = True,
                      level: bool = True) -> list[DetectedFace]:
    """The faces of ``rgb`` whichever way up they are: :func:`turned_upright` over the detector's
    faces; where it finds none, the upright faces of the first turn of the photo (half a turn, then
    one and three quarter turns) that has any, mapped back; with ``level``, every face still
    tilted past ``LEVEL_MIN_DEG`` gets its landmarks from a levelled copy (:func:`levelled`).
    Costs one more detection on a photo with a level face under ``HALF_TURN_GATE`` (none where
    every face is above it), one small one per tilted face, and three more before "no face" on a
    photo without any."""
    faces = detect(rgb)
    if faces:
        return turned_upright(detect, rgb, faces, half_turn_check, level)
    for k in (2, 1, 3):  # half a turn first: a face on its side is usually found as it is
        turned = np.ascontiguousarray(np.rot90(rgb, k))
        found = [_mapped_back(d, k, turned.shape[:2]) for d in detect(turned) if tilt_degrees(d.landmarks5) <= MAX_TILT_DEG]
        if found:
            return [levelled(detect, rgb, f) if level else f for f in found]
    return []
