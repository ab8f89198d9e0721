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
    """Aligned crop; pixels outside the photo are reflected so edges do not look like seams."""
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def warp_map_to_crop(values: np.ndarray, matrix: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Warp a float map (photo coords) into the crop."""
    return cv2.warpAffine(values.astype(np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_map_to_photo(values: np.ndarray, inverse: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """Warp a crop-space float map back onto the photo; outside the crop is 0."""
    h, w = shape_hw
    return cv2.warpAffine(values.astype(np.float32), inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def crop_detection(rgb: np.ndarray, det: DetectedFace, size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The steps every backend shares for one detection.

    Returns (photo->crop matrix, inverse, aligned crop, the 5 landmarks in crop coordinates,
    notes), so backends differ only in how they derive region masks from the crop.
    """
    m, inv = estimate_alignment(det.landmarks5, size)
    crop = warp_to_crop(rgb, m, size)
    lm_crop = (np.c_[det.landmarks5, np.ones(5)] @ m.T).astype(np.float32)
    notes: list[str] = []
    if det.size < TINY_FACE_PX:
        notes.append(f"tiny face ({det.size:.0f} px): forensic traces are unreliable at this size")
    return m, inv, crop, lm_crop, notes
