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
    """|rgb - JPEG(rgb, quality)| x amplify, clipped to uint8 (HxWx3)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "JPEG", quality=quality)
    resaved = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.int16)
    diff = np.abs(rgb.astype(np.int16) - resaved).astype(np.float32) * amplify
    return np.clip(diff, 0, 255).astype(np.uint8)
