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


def error_level(rgb: np.ndarray, quality: int = QUALITY, amplify: float = AMPLIFY) -> np.ndarray:
    """|rgb - JPEG(rgb, quality)| x amplify, clipped to uint8 (HxWx3); Pillow's C code does the arithmetic."""
    from PIL import ImageChops

    src = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    buf = io.BytesIO()
    src.save(buf, "JPEG", quality=quality)
    resaved = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    lut = [min(255, int(round(v * amplify))) for v in range(256)] * 3
    return np.asarray(ImageChops.difference(src, resaved).point(lut))
