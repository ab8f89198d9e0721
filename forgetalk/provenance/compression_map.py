"""Where in the photo the JPEG blocks were compressed once, in a file compressed twice.

Owns the block-level map that turns the file-level double-compression finding of
:mod:`.double_jpeg` into a "where". A photo saved as JPEG, edited, and saved again carries two
compressions in every 8x8 block that kept its place on the grid. Pixels pasted in from another
photo were resampled to fit (scaled, rotated, shifted), which erases their earlier block grid,
so after the final save those blocks carry *one* compression. Blocks the editor left alone carry
two. This is the aligned double-JPEG test of Bianchi and Piva (2012, "Image forgery localization
via block-grained analysis of JPEG artifacts"), with the primary steps that :mod:`.double_jpeg`
estimated for the whole file.

The model, per tested frequency: with a first step ``q1`` and a second ``q2``, a coefficient
value ``x`` (in units of ``q2``) is reachable from ``n(x)`` first-quantization bins, each ``q1``
wide, so a twice-compressed block shows ``x`` about ``n(x) q1 / q2`` times as often as a
once-compressed one. Empty bins (``n(x) = 0``, the gaps in a double histogram) are values only
a once-compressed block can hold. Each block's score is the sum, over its non-zero tested
coefficients, of ``-log(n(x) q1 / q2)`` (clipped): the log-odds that the block was compressed
once rather than twice. Zero coefficients are left out: flat areas and the histogram's peak at
zero fit both hypotheses. A region is read as the log-odds *per coefficient* over its blocks, so
that smooth skin (few non-zero coefficients) and textured skin are compared on one scale.

Limits (said in the report): only files in which :mod:`.double_jpeg` estimated first-compression
steps are mapped; a second save at a lower quality than the first leaves weak traces; anything that
moves the block grid after the edit (resizing, cropping off the 8-pixel grid, a rotation)
erases the evidence everywhere; a part pasted from a photo that kept its grid alignment (a copy
within the same photo, shifted by a multiple of 8 pixels) looks twice-compressed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .double_jpeg import block_dct, blocks_of, luminance
from .model import ProvenanceReport

#: Frequencies with an estimated primary step that the map needs. The file-level verdict wants
#: 70 % of the tested frequencies; a pasted part pulls that share down (a mouth pasted into a
#: 512 px face left 6 of 10), so the map is built from fewer and judged region by region.
MIN_FREQUENCIES = 3
#: Larger JPEGs are not mapped (a full-size luminance decode costs 4 bytes a pixel as float).
MAX_PIXELS_MAPPED = 40_000_000
#: Per-coefficient log-odds are clipped to this range: one coefficient in a gap of the double
#: histogram is strong evidence, but decoder rounding can put a twice-compressed value there too.
CLIP = (-2.0, 3.0)
#: The decoder rounds pixels to integers (and clips them), which moves a DCT coefficient by up to
#: about this much (two standard deviations of uniform rounding noise, 0.29). With a fine second
#: step (quality 95 and above: steps of 1-2) that is enough to push a twice-compressed value into
#: a gap of the double histogram, so values that close to a reachable bin count as reachable.
DECODER_NOISE = 0.6
#: Level-shifted luminance at or beyond which a block counts as clipped (pixel values 2 and 253).
SATURATED = (-118.0, 117.0)
METHOD = ("per 8x8 block, log-odds of one compression against two from its DCT coefficients on the JPEG grid, "
          "with the primary steps estimated for the whole file (aligned double-JPEG model after Bianchi and Piva 2012)")


@dataclass(frozen=True)
class CompressionMap:
    """Block-level evidence of a single compression, on the stored photo's JPEG grid."""

    log_odds: np.ndarray = field(repr=False)  # (rows, cols) float32: summed log-odds of one compression, per whole 8x8 block
    coefficients: np.ndarray = field(repr=False)  # (rows, cols) float32: non-zero tested coefficients in that sum
    frequencies: tuple[str, ...]  # the DCT frequencies ("u,v") used: those the file-level test found compressed twice
    method: str = METHOD


def reachable_bins(x: np.ndarray, q1: float, q2: float, slack: float = 0.0) -> np.ndarray:
    """n(x): how many first-quantization bins (step q1) the second quantization (step q2) maps to
    ``x``, counting bins whose centre lies up to ``slack`` (in units of q2) beyond x's own bin."""
    lo = np.ceil((x - 0.5 - slack) * q2 / q1 - 1e-9)
    hi = np.ceil((x + 0.5 + slack) * q2 / q1 - 1e-9)
    return np.maximum(hi - lo, 0.0)


def block_log_odds(y: np.ndarray, luma_table: tuple[int, ...], primary_steps: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per whole 8x8 block of ``y`` (level-shifted luminance on the JPEG grid): the summed log-odds
    that it was compressed once (step from ``luma_table``) rather than twice (``primary_steps``
    first), and how many non-zero tested coefficients that sum is over. Both (rows, cols); blocks
    the decoder clipped to black or white count zero coefficients.

    Why the count is kept: a smooth block has few non-zero coefficients, so its sum lies near zero
    whatever its history. Averaged per block, smooth skin looked "less twice-compressed" than
    textured skin and a real nose stood out (Grace Hopper's photo saved twice); averaged per
    coefficient, the evidence does not depend on texture.
    """
    q = np.asarray(luma_table, np.float64).reshape(8, 8)
    freqs = tuple(tuple(int(v) for v in k.split(",")) for k in primary_steps)
    rows, cols = y.shape[0] // 8, y.shape[1] // 8
    total = np.zeros(rows * cols, np.float64)
    count = np.zeros(rows * cols, np.float64)
    blocks = blocks_of(y)
    if freqs and rows and cols:
        coef = block_dct(y, freqs, blocks)  # type: ignore[arg-type]
        for i, (u, v) in enumerate(freqs):
            q2, q1 = float(q[u, v]), float(primary_steps[f"{u},{v}"])
            x = np.rint(coef[:, i] / q2)
            slack = DECODER_NOISE / q2
            n = reachable_bins(x, q1, q2, slack)
            lr = np.where(n > 0, -np.log(np.maximum(n, 1.0) * q1 / (q2 * (1.0 + 2.0 * slack))), CLIP[1])
            informative = x != 0
            total += np.where(informative, np.clip(lr, *CLIP), 0.0)
            count += informative
    total, count = total.reshape(rows, cols), count.reshape(rows, cols)
    if rows and cols:
        # Blocks touching black or white were clipped by the decoder: their coefficients fit neither model.
        clipped = ((blocks.max(axis=1) >= SATURATED[1]) | (blocks.min(axis=1) <= SATURATED[0])).reshape(rows, cols)
        total[clipped] = 0.0
        count[clipped] = 0.0
    return total.astype(np.float32), count.astype(np.float32)


def compression_map(data: bytes, provenance: ProvenanceReport) -> CompressionMap | None:
    """The map for a JPEG in which the provenance stage estimated primary steps (traces of a first
    compression) for at least :data:`MIN_FREQUENCIES` frequencies; None otherwise, or when it cannot
    be built (never raises: the analysis goes on without it)."""
    jpeg = provenance.jpeg
    if jpeg is None:
        return None
    dc = jpeg.double_compression
    table = next((t.values for t in jpeg.quant_tables if t.index == 0), None)
    if not dc.tested or len(dc.primary_steps) < MIN_FREQUENCIES or table is None or len(table) != 64:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = luminance(data, max_side=1 << 30, max_pixels=MAX_PIXELS_MAPPED)
        if y is None:
            return None
        total, count = block_log_odds(y, tuple(table), dc.primary_steps)
    except Exception:  # noqa: BLE001 - an aid, never a failure
        return None
    return CompressionMap(log_odds=total, coefficients=count, frequencies=tuple(dc.primary_steps))


def warp_to_crop(cmap: CompressionMap, photo_to_crop: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The map's two planes in an aligned crop (``size`` = width, height), nearest block per crop
    pixel, each pixel carrying 1/64 of its block's log-odds sum and coefficient count (so a sum
    over crop pixels, divided by the crop's pixels per photo pixel, is a sum over blocks); zero off
    the grid. The block grid is warped directly (block b covers photo pixels 8b..8b+7, centre 8b+3.5)."""
    import cv2

    m = np.asarray(photo_to_crop, np.float64)
    a, t = m[:, :2], m[:, 2]
    block_to_crop = np.hstack([8.0 * a, (a @ np.array([3.5, 3.5]) + t)[:, None]])
    return tuple(cv2.warpAffine(np.ascontiguousarray(plane / 64.0, np.float32), block_to_crop, size, flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
                 for plane in (cmap.log_odds, cmap.coefficients))  # type: ignore[return-value]
