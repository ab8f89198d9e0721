"""Per-pixel forensic cue statistics on an aligned face crop (pure numpy/OpenCV functions).

Every function maps an RGB uint8 crop to a float32 (H, W) map of a *raw statistic*; the
engine then compares each statistic with what real faces show at the same facial location
(see :mod:`.calibration`). Statistics are chosen so that a region pasted or regenerated
from another source tends to differ from the rest of the face:

* ``noise``      log local noise level of a median-filter residual (sensor noise / denoising)
* ``sharpness``  log contrast-normalised band-pass energy (blur or over-sharpening of a region)
* ``frequency``  log ratio of high- to mid-band 8x8 DCT energy (resampling / re-compression traces)
* ``colour``     distance of local chroma from the face's median skin chroma (colour mismatch)
* ``seam``       gradient magnitude of the smoothed noise and chroma fields (blending boundaries)
"""

from __future__ import annotations

import cv2
import numpy as np

CUE_NAMES: tuple[str, ...] = ("noise", "sharpness", "frequency", "colour", "seam")

#: What each cue is evidence of, as reports name it (the engine's :class:`~forgetalk.engines.base.CueSpec` labels).
CUE_LABELS: dict[str, str] = {
    "noise": "noise-level inconsistency",
    "sharpness": "sharpness mismatch",
    "frequency": "resampling/frequency trace",
    "colour": "colour mismatch",
    "seam": "blending seam",
}

#: Cues stored as logarithms (reported exponentiated, so region/rest is a plain ratio).
LOG_CUES = frozenset({"noise", "sharpness", "frequency"})

#: Cues whose deviation matters in both directions (a region can be too clean or too noisy).
TWO_SIDED = frozenset({"noise", "sharpness", "frequency"})

_EPS = 1e-3


def gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def noise_map(rgb: np.ndarray, window: int = 9) -> np.ndarray:
    """log sigma of the residual after a 3x3 median filter, averaged over ``window`` pixels."""
    g8 = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    resid = g8.astype(np.float32) - cv2.medianBlur(g8, 3).astype(np.float32)
    var = cv2.boxFilter(resid * resid, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    return np.log(np.sqrt(np.maximum(var, 0.0)) + 0.5).astype(np.float32)


def sharpness_map(rgb: np.ndarray, window: int = 15) -> np.ndarray:
    """log of band-pass (LoG, sigma 1.5) energy divided by local contrast.

    Normalising by local standard deviation makes the cue about *how crisp* edges are, not
    how many edges there are, so eyes and hairlines are comparable to cheeks.
    """
    g = gray(rgb)
    lap = cv2.Laplacian(cv2.GaussianBlur(g, (0, 0), 1.5), cv2.CV_32F, ksize=3)
    # clamp: the box filter can return tiny negative values by rounding, and sqrt would give NaN
    energy = np.sqrt(np.maximum(cv2.boxFilter(lap * lap, -1, (window, window), borderType=cv2.BORDER_REFLECT), 0.0))
    mean = cv2.boxFilter(g, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    sq = cv2.boxFilter(g * g, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return np.log((energy + 0.5) / (std + 2.0)).astype(np.float32)


def _dct_matrix(n: int = 8) -> np.ndarray:
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


_DCT8 = _dct_matrix(8)
_U, _V = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
_HIGH = (_U + _V) >= 8
_MID = ((_U + _V) >= 2) & ((_U + _V) < 8)


def frequency_map(rgb: np.ndarray) -> np.ndarray:
    """log(high-band / mid-band) DCT energy per 8x8 block, bilinearly upsampled.

    Interpolation (upscaling a pasted patch) removes the top band; a second JPEG pass with
    different tables changes it; both show as a block-level departure from the face.
    """
    g = gray(rgb)
    h, w = g.shape
    hb, wb = h // 8, w // 8
    blocks = g[: hb * 8, : wb * 8].reshape(hb, 8, wb, 8).transpose(0, 2, 1, 3)
    blocks = blocks - blocks.mean(axis=(2, 3), keepdims=True)
    coef = np.einsum("ij,abjk,lk->abil", _DCT8, blocks, _DCT8, optimize=True)
    energy = coef * coef
    hi = energy[..., _HIGH].sum(-1)
    mid = energy[..., _MID].sum(-1)
    ratio = np.log((hi + 1.0) / (mid + 1.0)).astype(np.float32)
    return cv2.resize(ratio, (w, h), interpolation=cv2.INTER_LINEAR)


def chroma(rgb: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    """Smoothed Lab (a, b) chroma, (H, W, 2) float32."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    ab = lab[..., 1:3]
    return cv2.GaussianBlur(ab, (0, 0), sigma)


def warm_up_lab() -> None:
    """Pay OpenCV's one-time set-up of its Lab conversion tables on a 1-pixel image.

    Why: the first RGB->Lab conversion in a process builds lookup tables, about 0.16 s on
    2 cores, whatever the image size (later conversions of a 512 px crop take 2 ms). A fresh
    ``forgetalk analyze`` calls this from a background thread while the face models run;
    OpenCV releases the GIL, so the set-up overlaps with work it would otherwise follow.
    """
    cv2.cvtColor(np.zeros((1, 1, 3), np.float32), cv2.COLOR_RGB2Lab)


def colour_map(rgb: np.ndarray, skin_mask: np.ndarray) -> np.ndarray:
    """Chroma distance (Lab units) from the face's median skin chroma."""
    ab = chroma(rgb)
    if skin_mask.any():
        ref = np.median(ab[skin_mask], axis=0)
    else:
        ref = np.median(ab.reshape(-1, 2), axis=0)
    return np.linalg.norm(ab - ref[None, None, :], axis=2).astype(np.float32)


def seam_map(noise: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the smoothed noise-level and chroma fields.

    A blend boundary is where two areas with different noise and colour statistics meet;
    ordinary image edges change intensity but rarely both of these at once.
    """
    n = cv2.GaussianBlur(noise, (0, 0), 3.0)
    gx = cv2.Sobel(n, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(n, cv2.CV_32F, 0, 1, ksize=3)
    ab = chroma(rgb, sigma=3.0)
    cx = cv2.Sobel(ab, cv2.CV_32F, 1, 0, ksize=3)
    cy = cv2.Sobel(ab, cv2.CV_32F, 0, 1, ksize=3)
    noise_grad = np.sqrt(gx * gx + gy * gy)
    chroma_grad = np.sqrt((cx * cx + cy * cy).sum(axis=2))
    return (noise_grad * 4.0 + chroma_grad * 0.25).astype(np.float32)


def compute_cues(rgb: np.ndarray, skin_mask: np.ndarray) -> dict[str, np.ndarray]:
    """All raw cue statistics for one aligned crop."""
    noise = noise_map(rgb)
    return {
        "noise": noise,
        "sharpness": sharpness_map(rgb),
        "frequency": frequency_map(rgb),
        "colour": colour_map(rgb, skin_mask),
        "seam": seam_map(noise, rgb),
    }


def centre_on_face(stat: np.ndarray, face_mask: np.ndarray) -> np.ndarray:
    """Subtract the face median so statistics compare within a face, not across cameras."""
    ref = float(np.median(stat[face_mask])) if face_mask.any() else float(np.median(stat))
    return stat - ref
