"""Double JPEG compression evidence from DCT coefficient histograms.

A JPEG saved once has, at each DCT frequency, a smooth histogram of quantized values. Saved
a first time with step q1 and again with a different step q2, the values pass through two
roundings, which leaves periodic gaps and peaks in the histogram. We test that the way
Lukas and Fridrich (2003) estimate a primary quantization table: the decoded luminance is
re-transformed on the JPEG grid (the observed histogram) and on a grid shifted by 4 pixels,
which breaks the compression grid and gives an estimate of the coefficients before any
quantization; that estimate is quantized once (q2) and twice (every plausible q1, then q2),
and the hypothesis whose simulated histogram lies closest to the observed one wins. A
frequency votes "double" when the best double hypothesis is clearly closer than the single
one; the share of voting frequencies is the score, and the confidence is stated from it.

Limits (said in the report): a second save at a *lower* quality than the first (q2 > q1)
leaves weak traces and is often missed; a first step that divides the second is
indistinguishable from one save; resizing or cropping off the 8-pixel grid between the
saves erases the evidence.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .model import DoubleCompression

#: Low and middle AC frequencies (row, column): enough non-zero coefficients on photos.
FREQUENCIES = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1), (2, 2), (0, 3), (3, 0))
#: Histogram range in quantized units (values beyond are clipped into the last bins).
BINS = 12
#: A frequency votes "double" when the best double hypothesis is this much closer.
VOTE_RATIO = 0.55
MIN_NONZERO = 300  # non-zero coefficients a frequency needs to be tested
MAX_SIDE = 1024  # analysed area: the central crop, grid-aligned (bounded cost on big photos)
MAX_PIXELS_TESTED = 50_000_000  # larger JPEGs are not tested: decoding them at full size costs 3 bytes a pixel
METHOD = ("DCT histograms of the decoded luminance on the JPEG grid against one and two simulated quantizations "
          "of a grid-shifted (calibrated) estimate (after Lukas and Fridrich 2003)")


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    d = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    d[0] /= np.sqrt(2)
    return d


_D = _dct_matrix()


def blocks_of(y: np.ndarray) -> np.ndarray:
    """(n, 64) float32: every whole 8x8 block of ``y`` in raster order, one row each (contiguous)."""
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    return np.ascontiguousarray(y[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64), np.float32)


def block_dct(y: np.ndarray, freqs: tuple[tuple[int, int], ...] = FREQUENCIES, blocks: np.ndarray | None = None) -> np.ndarray:
    """(n, len(freqs)) orthonormal 2-D DCT (JPEG's FDCT) coefficients of every whole 8x8 block of ``y``
    (or of ``blocks``, :func:`blocks_of` already applied).

    Only the requested frequencies are computed: one (n, 64) x (64, k) product with the rows of
    the separable DCT's Kronecker matrix.
    """
    b = blocks_of(y) if blocks is None else blocks
    basis = np.stack([np.outer(_D[u], _D[v]).ravel() for u, v in freqs], axis=1).astype(np.float32)
    return b @ basis


_WIDTH = 2 * BINS + 1


def _hists(k: np.ndarray) -> np.ndarray:
    """Normalised histograms over [-BINS, BINS] (zero bin left out: blocking and flat areas dominate it) of each row of ``k``."""
    rows = k.shape[0]
    idx = np.clip(k, -BINS, BINS).astype(np.int64) + BINS + (np.arange(rows) * _WIDTH)[:, None]
    h = np.bincount(idx.ravel(), minlength=rows * _WIDTH).reshape(rows, _WIDTH).astype(np.float64)
    h[:, BINS] = 0.0
    s = h.sum(axis=1, keepdims=True)
    return np.divide(h, s, out=np.zeros_like(h), where=s > 0)


@dataclass
class _Decoded:
    """The bytes a :func:`decoded_once` block is about and, once decoded, their Y plane."""

    data: bytes
    done: bool = False
    plane: np.ndarray | None = None


#: The current :func:`decoded_once` block's photo, so the test and the compression map decode it once.
_DECODED: ContextVar[_Decoded | None] = ContextVar("forgetalk_decoded_luma", default=None)


def _y_plane(data: bytes) -> np.ndarray | None:
    """The decoder's own Y plane (no colour conversion) of the whole image as uint8; None for CMYK
    and other modes, and over :data:`MAX_PIXELS_TESTED` (the full-size decode would break the
    memory budget). Kept in 8 bits: a float copy of a 40 MP plane costs 160 MB."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = Image.open(io.BytesIO(data))
        if img.mode not in ("L", "RGB") or img.size[0] * img.size[1] > MAX_PIXELS_TESTED:
            return None
        if img.mode == "RGB":
            img.draft("YCbCr", img.size)
        img.load()
        return np.asarray(img if img.mode == "L" else img.getchannel(0))


@contextmanager
def decoded_once(data: bytes) -> Iterator[None]:
    """Within the block, :func:`luminance` of these very bytes decodes them only the first time.

    Why: the double-compression test reads the central crop and the compression map the whole
    plane of the same file, one after the other; each decoded it in full (about 25 ms for a
    1024 px photo). Scoped, not a module cache, so no plane outlives the photo's inspection."""
    token = _DECODED.set(_Decoded(data))
    try:
        yield
    finally:
        _DECODED.reset(token)


def _plane(data: bytes) -> np.ndarray | None:
    scope = _DECODED.get()
    if scope is None or scope.data is not data:
        return _y_plane(data)
    if not scope.done:
        scope.plane, scope.done = _y_plane(data), True
    return scope.plane


def luminance(data: bytes, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS_TESTED) -> np.ndarray | None:
    """The decoder's own Y plane (no colour conversion) of the central, grid-aligned crop of at
    most ``max_side`` pixels a side, float, level-shifted by -128. None for CMYK and other modes,
    and for photos over ``max_pixels`` (the full-size decode would break the memory budget).
    """
    y = _plane(data)
    if y is None or y.shape[0] * y.shape[1] > max_pixels:
        return None
    h, w = y.shape
    cw, ch = min(w, max_side), min(h, max_side)
    x0, y0 = ((w - cw) // 2) // 8 * 8, ((h - ch) // 2) // 8 * 8  # the JPEG grid starts at the top-left corner
    return y[y0:y0 + ch, x0:x0 + cw].astype(np.float32) - 128.0


def detect(data: bytes, luma_table: tuple[int, ...]) -> DoubleCompression:
    """Test the main image for double compression; never raises on a decodable JPEG."""
    try:
        y = luminance(data)
    except Exception as exc:  # noqa: BLE001 - a note, never a failure
        return DoubleCompression(method=METHOD, note=f"not tested: luminance could not be decoded ({exc.__class__.__name__})")
    if y is None or min(y.shape) < 64:
        return DoubleCompression(method=METHOD, note=f"not tested: image too small, over {MAX_PIXELS_TESTED // 1_000_000} MP, "
                                 "or not a greyscale/YCbCr JPEG")
    q = np.asarray(luma_table, np.float64).reshape(8, 8)
    aligned = block_dct(y)
    shifted = block_dct(y[4:, 4:])
    tested = votes = 0
    steps: dict[str, int] = {}
    for i, (u, v) in enumerate(FREQUENCIES):
        q2 = float(q[u, v])
        obs_k = np.rint(aligned[:, i] / q2)
        if np.count_nonzero(obs_k) < MIN_NONZERO:
            continue
        obs = _hists(obs_k[None, :])[0]
        c = shifted[:, i]
        # Every plausible first step at once; the same step, or a divisor of it, is indistinguishable from one save.
        q1s = np.array([q1 for q1 in range(1, int(min(3 * q2 + 8, 64)) + 1) if q1 != q2 and q2 % q1 != 0], np.float32)
        single = _hists(np.rint(c / q2)[None, :])[0]
        d_single = float(np.abs(single - obs).sum())
        sims = _hists(np.rint(np.rint(c[None, :] / q1s[:, None]) * q1s[:, None] / q2))
        d = np.abs(sims - obs[None, :]).sum(axis=1)
        best = int(np.argmin(d))
        tested += 1
        if d[best] < VOTE_RATIO * d_single:
            votes += 1
            steps[f"{u},{v}"] = int(q1s[best])
    if tested < 3:
        return DoubleCompression(tested=False, method=METHOD, frequencies_tested=tested,
                                 note="not tested: too few non-zero DCT coefficients (flat or tiny image)")
    score = votes / tested
    # benchmarks/double_jpeg.py (84 saves of 7 sources): every double save with a higher second quality
    # scored >= 0.8, every single save <= 0.6 (a synthetic noise texture at quality 60); 0.4-0.7 is "weak", not found.
    confidence = "high" if score >= 0.8 else "moderate" if score >= 0.7 else "low" if score >= 0.4 else "none"
    return DoubleCompression(tested=True, found=score >= 0.7, confidence=confidence, score=round(score, 3),
                             frequencies_tested=tested, frequencies_double=votes, primary_steps=steps, method=METHOD)
