"""Evidence-only engine: calibrated hand-made forensic cues (no learned localizer)."""

from ..base import register_engine
from .engine import EvidenceEngine


@register_engine("evidence", "calibrated forensic cues only (noise, sharpness, frequency, colour, seams); CPU, <1 s")
def _build(**kwargs: object) -> EvidenceEngine:
    return EvidenceEngine(**kwargs)  # type: ignore[arg-type]


__all__ = ["EvidenceEngine"]
