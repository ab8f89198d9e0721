"""ForgeryTalker (DFF, ACL 2026) as a forgetalk engine: mask + 21 region words + written report.

Listed as ``forgerytalker`` in :data:`forgetalk.engines.base.BUILTIN_ENGINES` (factory
:func:`.engine.build_engine`). Importing this package registers nothing and stays cheap:
torch and transformers are imported only when the factory runs. See docs/forgerytalker.md.
"""

from __future__ import annotations

from .vocab import REGION_WORDS, WORD_TO_REGIONS, link_sentences

__all__ = ["REGION_WORDS", "WORD_TO_REGIONS", "link_sentences"]
