"""Error level analysis (ELA): a visual aid for the report's appendix, never a verdict.

Owns one pure function. The analysed pixels are re-saved as JPEG at a fixed quality and the
absolute difference is amplified. Regions that were pasted or re-saved differently can
stand out, but so do edges, texture and saturated colours on any photo: the report labels
the picture accordingly and no number from it enters a finding or the face score.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

#: Re-save quality and amplification of the difference (the appendix states both).
QUALITY = 90
AMPLIFY = 20.0
#: Longest side a JPEG can have (libjpeg's JPEG_MAX_DIMENSION). Saving a wider picture fails, and
#: libjpeg prints its own line on stderr first.
JPEG_MAX_SIDE = 65500
#: A JPEG's minimum coded unit with Pillow's default 4:2:0 chroma subsampling: 16x16 px (2x2 luma
#: blocks of 8x8 and one chroma block of each kind). Tiles start on this grid.
MCU_PX = 16
#: Tile length along a side over :data:`JPEG_MAX_SIDE` (a multiple of :data:`MCU_PX`).
TILE_PX = 32768
#: Pixels re-saved around each tile and then cut away (a multiple of :data:`MCU_PX`): decoders
#: interpolate chroma across block borders, so a tile needs its neighbours' blocks around it.
TILE_MARGIN_PX = 2 * MCU_PX


def error_level(rgb: np.ndarray, quality: int = QUALITY, amplify: float = AMPLIFY, max_side: int = JPEG_MAX_SIDE) -> np.ndarray:
    """|rgb - JPEG(rgb, quality)| x amplify, clipped to uint8 (HxWx3); Pillow's C code does the arithmetic.

    A side over ``max_side`` (JPEG's limit, e.g. a 100000x2 strip) is cut into tiles of
    :data:`TILE_PX` that start on the photo's JPEG grid; each is re-saved with a margin of
    :data:`TILE_MARGIN_PX` around it, which is then cut away. The result is the same, pixel for
    pixel, as one re-save of the whole picture would be if JPEG allowed it: every 8x8 block (and
    16x16 unit) is the same block of the photo, quantised at the same quality, and decoded with
    the same neighbours (tests/test_ela.py compares the two on small pictures).
    """
    src = np.ascontiguousarray(rgb, dtype=np.uint8)
    lut = [min(255, int(round(v * amplify))) for v in range(256)] * 3
    h, w = src.shape[:2]
    if max(h, w) <= max_side:
        return _amplified_difference(src, quality, lut)
    step = max(MCU_PX, min(TILE_PX, max_side - 2 * TILE_MARGIN_PX) // MCU_PX * MCU_PX)
    step_y, step_x = (h if h <= max_side else step), (w if w <= max_side else step)
    out = np.empty_like(src)
    for y0 in range(0, h, step_y):
        y1 = min(h, y0 + step_y)
        ty0, ty1 = (0, h) if step_y == h else (max(0, y0 - TILE_MARGIN_PX), min(h, y1 + TILE_MARGIN_PX))
        for x0 in range(0, w, step_x):
            x1 = min(w, x0 + step_x)
            tx0, tx1 = (0, w) if step_x == w else (max(0, x0 - TILE_MARGIN_PX), min(w, x1 + TILE_MARGIN_PX))
            diff = _amplified_difference(np.ascontiguousarray(src[ty0:ty1, tx0:tx1]), quality, lut)
            out[y0:y1, x0:x1] = diff[y0 - ty0:y1 - ty0, x0 - tx0:x1 - tx0]
    return out


def _amplified_difference(src: np.ndarray, quality: int, lut: list[int]) -> np.ndarray:
    """One JPEG re-save of ``src`` (both sides within JPEG's limit) and its amplified difference."""
    from PIL import ImageChops

    img = Image.fromarray(src)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    resaved = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return np.asarray(ImageChops.difference(img, resaved).point(lut))
