"""onnxruntime sessions with an explicit thread budget (face detector, ONNX localizer).

Why one place: a batch scan runs N worker processes on N cores; every session must then
use its share of threads, or the workers oversubscribe the CPU and scale badly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import WeightsError


def ort_session(model: bytes | str | Path, threads: int | None = None, label: str | None = None) -> Any:
    """A CPU ``InferenceSession``; ``threads=None`` lets onnxruntime use one per core.

    A graph onnxruntime refuses (truncated, malformed, an unsupported operator) is a one-line
    :class:`WeightsError` (exit 5) naming ``label`` (else the model's path), not onnxruntime's own
    exception and a traceback: a model is a weights file, whatever engine or backend loads it.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    src = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's exceptions derive from Exception only
        name = label or (src if isinstance(src, str) else "ONNX graph")
        detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise WeightsError(f"{name}: unloadable ONNX graph ({detail}); restore the file from a forgetalk release") from None


#: ModelProto's ``metadata_props`` field (repeated StringStringEntryProto: key = 1, value = 2).
_METADATA_FIELD = 14


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    """One protobuf varint at ``pos``: (value, next position)."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("not an ONNX graph (truncated or malformed protobuf varint)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Top-level (field number, wire type, value) of one protobuf message. Length-delimited values
    are views skipped by their length, so the graph itself is neither copied nor parsed."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield field, wire, value
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise ValueError("not an ONNX graph (truncated protobuf field)")
            yield field, wire, data[pos:pos + size]
            pos += size
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("not an ONNX graph (truncated protobuf field)")
            yield field, wire, data[pos:pos + size]
            pos += size
        else:
            raise ValueError(f"not an ONNX graph (protobuf wire type {wire})")


def model_metadata(model: bytes | str | Path) -> dict[str, str]:
    """The graph's ``metadata_props`` (what onnxruntime calls ``custom_metadata_map``), read from the
    protobuf bytes without building a session.

    Why: the fused engine reads the localizer's config from its graph before the real session is
    built (a batch worker sets its thread share first). A throwaway session for that cost 80-90 ms
    of every fresh process on 2 cores; this takes well under a millisecond. Read-only and
    bounds-checked: a malformed file raises ``ValueError``; the bytes the engine passes have been
    verified against the pinned hash already.
    """
    data = memoryview(model if isinstance(model, bytes) else Path(model).read_bytes())
    meta: dict[str, str] = {}
    for field, wire, value in _fields(data):
        if field != _METADATA_FIELD or wire != 2 or not isinstance(value, memoryview):
            continue
        entry = {f: bytes(v) for f, w, v in _fields(value) if w == 2 and isinstance(v, memoryview)}
        try:
            key = entry.get(1, b"").decode("utf-8")
            val = entry.get(2, b"").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError("not an ONNX graph (metadata is not UTF-8)") from exc
        meta[key] = val
    return meta
