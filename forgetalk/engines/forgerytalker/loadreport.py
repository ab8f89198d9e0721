"""How a load reports keys it could not place: one owner for the wording and the limits.

Why a module of its own: both doors into the model (the official LAVIS checkpoints in
``loading.py`` and a converted folder in ``runtime.py``) must warn and fail the same way,
and neither should import the other for it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ...errors import WeightsError

if TYPE_CHECKING:
    from .config import ForgeryTalkerConfig

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


def check_sizes(cfg: ForgeryTalkerConfig, source: Path) -> ForgeryTalkerConfig:
    """``cfg`` if no size exceeds the released model's (:meth:`.ForgeryTalkerConfig.oversized`), else a one-line error naming ``source``."""
    if bad := cfg.oversized():
        shown = ", ".join(bad[:8]) + (f" (and {len(bad) - 8} more)" if len(bad) > 8 else "")
        raise WeightsError(f"{source}: sizes that are not integers between 0 and the released ForgeryTalker's, refused before building anything: {shown}")
    return cfg


def unusable_reason(tensor: torch.Tensor, expected: torch.Tensor) -> str | None:
    """Why a checkpoint tensor cannot fill the model tensor ``expected``, or None.

    Why: ``load_state_dict`` copies an int or bool tensor into a float parameter without a
    word, and NaN/Inf weights run to the end: the mask is NaN, no region clears the
    threshold and the report says "no evidence of manipulation". A corrupt or doctored
    checkpoint must stop loading instead (exit 5), naming the tensor.
    """
    if tuple(tensor.shape) != tuple(expected.shape):
        return _shape_reason(tensor.shape, expected)
    if tensor.is_meta:
        return "has no data (a meta tensor)"
    if tensor.layout != torch.strided:
        return f"is stored as {tensor.layout}, not as a dense tensor"
    if (why := _kind_reason(tensor.dtype, expected)) is not None:
        return why
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        return "holds NaN or infinite values"
    return None


def _shape_reason(shape: torch.Size | list[int] | tuple[int, ...], expected: torch.Tensor) -> str:
    return f"has shape {tuple(shape)}, model expects {tuple(expected.shape)}"


def _kind_reason(dtype: torch.dtype, expected: torch.Tensor) -> str | None:
    if _kind(torch.empty(0, dtype=dtype)) == _kind(expected):
        return None
    return f"has dtype {str(dtype).removeprefix('torch.')}, the model expects {str(expected.dtype).removeprefix('torch.')}"


def _kind(tensor: torch.Tensor) -> str:
    """float, complex, bool or int: widths may differ (fp16 files fill fp32 parameters), kinds may not."""
    if tensor.dtype == torch.bool:
        return "bool"
    return "float" if tensor.is_floating_point() else "complex" if tensor.is_complex() else "int"


#: safetensors' dtype names in a file's header, as torch dtypes (F8 names where this torch has them).
SAFETENSORS_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
    "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
    **{name: getattr(torch, attr) for name, attr in (("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2")) if hasattr(torch, attr)},
}


def header_reason(shape: list[int] | tuple[int, ...], dtype: str, expected: torch.Tensor) -> str | None:
    """:func:`unusable_reason`'s shape and dtype checks from a safetensors header entry alone
    (``get_slice(name).get_shape()`` / ``.get_dtype()``): no tensor data is read. Why: the values
    are checked once loaded (:func:`non_finite`), so a converted folder's weights, gigabytes, are
    read once instead of twice."""
    if tuple(shape) != tuple(expected.shape):
        return _shape_reason(shape, expected)
    got = SAFETENSORS_DTYPES.get(dtype)
    if got is None:
        return f"has dtype {dtype}, which this torch cannot hold"
    return _kind_reason(got, expected)


def non_finite(tensors: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The first name whose floating tensor holds NaN or an infinity, or None (the value check of
    :func:`unusable_reason`, on tensors already loaded)."""
    return next((name for name, t in tensors if t.is_floating_point() and not bool(torch.isfinite(t).all())), None)
