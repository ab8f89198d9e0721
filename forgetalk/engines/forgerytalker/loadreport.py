"""How a load reports keys it could not place: one owner for the wording and the limits.

Why a module of its own: both doors into the model (the official LAVIS checkpoints in
``loading.py`` and a converted folder in ``runtime.py``) must warn and fail the same way,
and neither should import the other for it.
"""

from __future__ import annotations

import warnings

from ...errors import WeightsError

#: How many unexpected key names the load report keeps per source (the count is always exact).
REPORT_KEYS = 50


def missing_error(missing: list[str], where: str) -> WeightsError:
    """One-line error naming the model tensors no source provided."""
    shown = ", ".join(missing[:20]) + (f" (and {len(missing) - 20} more)" if len(missing) > 20 else "")
    return WeightsError(f"{len(missing)} model tensor(s) missing from {where}: {shown}")


def warn_unexpected(label: str, keys: list[str]) -> None:
    """Warn once per source about keys that were ignored (also listed in the report appendix)."""
    if keys:
        shown = ", ".join(keys[:5]) + (" ..." if len(keys) > 5 else "")
        warnings.warn(f"{label}: {len(keys)} unexpected key(s) ignored (listed in the report's load_report): {shown}", RuntimeWarning, stacklevel=3)
