"""5-point similarity alignment to the FFHQ 512 template (pure functions).

The template is the one FFHQ and facexlib's FaceRestoreHelper use, so crops made here
match what face-forensics models (including ForgeryTalker's data) were trained on.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import CROP_SIZE, DetectedFace

#: Faces smaller than this (photo pixels, see DetectedFace.size) get a "tiny face" note.
TINY_FACE_PX = 64
#: Faces smaller than this get a note with their native size and the crop's upsampling factor.
SMALL_FACE_PX = 128

#: FFHQ 5-point template at 512x512: image-left eye, image-right eye, nose, mouth corners.
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float32,
)


#: ``DetectedFace.size`` (2.5 inter-ocular distances) of a face aligned to the 512 px template:
#: the unit that turns a face's size in the photo into the crop's native size and back.
FACE_PX_AT_512 = 2.5 * float(FFHQ_TEMPLATE_512[1, 0] - FFHQ_TEMPLATE_512[0, 0])
#: The smallest native crop the localizer is trained on (``forgetalk.synth.chain``'s native range
#: starts at a 128 px crop), as a face size in photo pixels: 79 px.
TRAINED_MIN_FACE_PX = round(128 * FACE_PX_AT_512 / 512)


def crop_upsampling(face_px: float) -> float:
    """How many times the 512 px analysis crop enlarges the photo's pixels for a face of
    ``face_px`` (``DetectedFace.size``); below 1 the crop reduces them."""
    return FACE_PX_AT_512 / max(float(face_px), 1.0)


def estimate_alignment(landmarks5: np.ndarray, size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Similarity transform photo->crop and its inverse, from 5 landmarks.

    LMEDS keeps one bad landmark (e.g. an occluded mouth corner) from skewing the crop.
    """
    template = FFHQ_TEMPLATE_512 * (size / 512.0)
    src = np.asarray(landmarks5, dtype=np.float32).reshape(5, 2)
    m, _ = cv2.estimateAffinePartial2D(src, template, method=cv2.LMEDS)
    if m is None:  # degenerate landmarks: fall back to least squares on all points
        m, _ = cv2.estimateAffinePartial2D(src, template, method=0)
    if m is None:
        raise ValueError("cannot estimate alignment from degenerate landmarks")
    inv = cv2.invertAffineTransform(m)
    return m.astype(np.float64), inv.astype(np.float64)


def warp_to_crop(rgb: np.ndarray, matrix: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Aligned crop; pixels outside the photo are black, never invented.

    Why not mirror: a tight face photo (a 160 px crop, say) puts much of the crop outside the
    photo, and reflected skin there is content that was never photographed, which both the cues
    and the localizer would then analyse. Padding is excluded from every region mask instead
    (:func:`valid_in_crop`); the localizer is trained on the same black padding.
    """
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def valid_in_crop(matrix: np.ndarray, photo_hw: tuple[int, int], size: int = CROP_SIZE) -> np.ndarray:
    """Bool (size, size): crop pixels that come from inside the photo (not padding).

    Maps the crop's pixel centres back through the inverse affine instead of warping a
    photo-sized mask, so the cost does not grow with the photo (16 MP photos are common).
    """
    h, w = photo_hw
    inv = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    px = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    py = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    return (px >= -0.5) & (px < w - 0.5) & (py >= -0.5) & (py < h - 0.5)


def outside_share(oval: np.ndarray, valid: np.ndarray) -> float:
    """Share of the face oval (before :func:`restrict_to_valid`) that lies outside the photo.

    Why: a face cut by the photo's edge is analysed on a crop padded with black, which no training
    or calibration item looked like; untouched faces with about a third of their box outside the
    frame were flagged 31.8 % of the time against 5.3 % uncut (``benchmarks/edge_faces.py``), so
    the verdict needs to know how much of the face the photo holds.
    """
    n = int(np.count_nonzero(oval))
    # Rounded here, once: the verdict, the image score's rule and the JSON then read the same number.
    return 0.0 if n == 0 else round(float(np.count_nonzero(oval & ~valid)) / n, 4)


def restrict_to_valid(regions: dict[str, np.ndarray], oval: np.ndarray, valid: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Region masks and face oval without padded pixels (there is nothing there to analyse)."""
    if valid.all():
        return regions, oval
    return {k: v & valid for k, v in regions.items()}, oval & valid


def warp_map_to_crop(values: np.ndarray, matrix: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Warp a float map (photo coords) into the crop."""
    return cv2.warpAffine(values.astype(np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_map_to_photo(values: np.ndarray, inverse: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """Warp a crop-space float map back onto the photo; outside the crop is 0."""
    h, w = shape_hw
    return cv2.warpAffine(values.astype(np.float32), inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def crop_detection(rgb: np.ndarray, det: DetectedFace, size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """The steps every backend shares for one detection.

    Returns (photo->crop matrix, inverse, aligned crop, the 5 landmarks in crop coordinates,
    notes, valid mask of the crop), so backends differ only in how they derive region masks
    from the crop (and restrict them to the valid pixels).
    """
    m, inv = estimate_alignment(det.landmarks5, size)
    crop = warp_to_crop(rgb, m, size)
    lm_crop = (np.c_[det.landmarks5, np.ones(5)] @ m.T).astype(np.float32)
    notes = face_size_notes(det.size, size)
    if det.turned:
        lying = "upside down" if det.turned % 4 == 2 else "on its side"
        notes.append(f"face lying {lying} in the photo: its landmarks were found on a copy turned upright by whole quarter turns "
                     "(nothing resampled), as the detector's landmarks on turned faces are unreliable")
    if det.levelled:
        notes.append(f"face tilted {abs(det.levelled):.0f} degrees in the photo: its landmarks were found on a copy of its surroundings "
                     "turned level (resampled for that detection only; the crop is made from the photo), as the detector's "
                     "landmarks on tilted faces are unreliable")
    valid = valid_in_crop(m, rgb.shape[:2], size)
    if not valid.all():
        notes.append("part of the aligned crop lies outside the photo: padded with black and left out of every region")
    return m, inv, crop, lm_crop, notes, valid


def face_size_notes(face_px: float, size: int = CROP_SIZE) -> list[str]:
    """What the report must say about a face's native resolution (it is upsampled to the crop)."""
    notes: list[str] = []
    if face_px < TINY_FACE_PX:
        notes.append(f"tiny face ({face_px:.0f} px): forensic traces are unreliable at this size")
    elif face_px < SMALL_FACE_PX:
        up = crop_upsampling(face_px) * size / 512
        where = (f"below the {TRAINED_MIN_FACE_PX} px (a 128 px crop) the localizer was trained down to" if face_px < TRAINED_MIN_FACE_PX
                 else f"the localizer was trained and its verdict calibrated on faces down to {TRAINED_MIN_FACE_PX} px")
        notes.append(f"small face ({face_px:.0f} px native, the analysis crop upsampled x{up:.1f}): fine traces are lost at this size; {where}; "
                     "the verdict's false-positive rate on untouched whole photos with faces this small is measured by "
                     "benchmarks/verdict_fpr_photos.py")
    return notes
