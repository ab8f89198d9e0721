"""ForgeryTalker (DFF, ACL 2026) as a forgetalk engine: mask + 21 region words + written report.

Importing this package registers the engine and stays cheap: torch and transformers are
imported only when the factory runs. See docs/forgerytalker.md.
"""

from __future__ import annotations

from typing import Any

from ..base import register_engine
from .vocab import REGION_WORDS, WORD_TO_REGIONS, link_sentences

__all__ = ["REGION_WORDS", "WORD_TO_REGIONS", "create", "link_sentences"]


@register_engine("forgerytalker", "ForgeryTalker/DFF: InstructBLIP-FlanT5-XL + Face-ViT prompter + mask decoder; mask, region words and report (GPU, nf4)")
def create(**kwargs: Any) -> Any:
    """Build the engine (``device``, ``quant``, and for tests ``model`` or ``model_dir``)."""
    from .engine import build_engine

    return build_engine(**kwargs)
