"""Evidence-only engine: calibrated hand-made forensic cues (no learned localizer).

Listed as ``evidence`` in :data:`forgetalk.engines.base.BUILTIN_ENGINES`; importing this
package registers nothing.
"""

from .engine import VOCABULARY, EvidenceEngine

__all__ = ["VOCABULARY", "EvidenceEngine"]
