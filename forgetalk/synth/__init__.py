"""Pseudo-forgeries made from real aligned faces, each with its exact pixel mask.

Why: the project has real faces but no licensed forgery data; a localizer trained on
self-made blends learns the traces every face edit leaves (blend seams, colour and
frequency mismatch, resampling) rather than one generator's fingerprint.
Everything works in aligned-crop space at any square size, so two faces aligned to the
same template line up for region swaps. See :mod:`forgetalk.synth.generate`.
"""

from .generate import (
    KINDS,
    SWAP_REGIONS,
    FaceRecord,
    SynthSample,
    blend_mask,
    jpeg_recompress,
    local_smoothing,
    random_forgery,
    region_coverage,
    region_swap,
    self_blend,
)

__all__ = [
    "KINDS",
    "SWAP_REGIONS",
    "FaceRecord",
    "SynthSample",
    "blend_mask",
    "jpeg_recompress",
    "local_smoothing",
    "random_forgery",
    "region_coverage",
    "region_swap",
    "self_blend",
]
