"""The JSON sidecar: the report dataclasses plus rendering parameters.

The PDF prints numbers only from :class:`forgetalk.results.AnalysisReport`, so
``report.to_dict()`` already carries all of them; we add the overlay settings so the
PNG can be reproduced. Two repairs keep the file strictly valid UTF-8 JSON, whatever the
input was called: non-finite floats become ``null`` (``json`` would write ``NaN``), and
undecodable file-name bytes (lone surrogates) become ``\\xNN`` text, the same form the PDF
shows, instead of making the UTF-8 encode fail.
"""

from __future__ import annotations

import math
from typing import Any

from ..results import Analysis
from .case import CaseInfo
from .fonts import visible
from .overlay import render_params


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {_clean(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in obj):
        return visible(obj)
    return obj


def report_json(analysis: Analysis, case: CaseInfo | None = None) -> dict[str, Any]:
    """``analysis.report.to_dict()`` made strictly JSON-safe, plus ``render`` settings and the analyst's ``case`` line."""
    d = _clean(analysis.report.to_dict())
    d["case"] = _clean((case or CaseInfo()).to_dict())
    d["render"] = render_params()
    from .answer import error_rate_record

    d["verdict_error_rate"] = _clean(error_rate_record(d))
    return d
