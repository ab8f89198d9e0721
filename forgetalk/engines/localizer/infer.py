"""Load the shipped localizer (safetensors only) and run it on one aligned face.

Why safetensors only: a pickled checkpoint can execute code on load, which an evidence
tool must never do; the config travels in the safetensors metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .common import (  # noqa: F401 - re-exported for callers of the torch runtime
    ONNX_FILE,
    REGION_SATURATION,
    WEIGHTS_COMPONENT,
    WEIGHTS_FILE,
    LocalizerOutput,
    finish_outputs,
    input_names,
    prepare_all,
    prepare_inputs,
    region_scores_from_mask,
    region_stack,
)
from .model import LocalizerConfig, LocalizerNet, build_localizer

#: numpy dtype -> safetensors dtype tag (the dtypes a LocalizerNet state dict holds, and a few more).
_ST_DTYPES = {"float32": "F32", "float16": "F16", "float64": "F64", "int64": "I64", "int32": "I32",
              "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """A safetensors file whose bytes depend only on its tensors and metadata.

    Why not ``safetensors.torch.save_file``: it writes the metadata keys in an order that varies
    between runs (seen on the v3/v5 average: same tensors, different sha256), so "retrain or
    re-average and compare hashes" failed. Here the header is JSON with sorted keys, tensors laid
    out in name order, the header padded with spaces to 8 bytes as the format asks; any
    safetensors reader loads it.
    """
    header: dict[str, object] = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    chunks, offset = [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
        tag = _ST_DTYPES.get(a.dtype.name)
        if tag is None:
            raise ValueError(f"{name}: dtype {a.dtype} has no safetensors tag here")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": tag, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def save_localizer(model: LocalizerNet, path: Path, extra: dict[str, str] | None = None) -> None:
    """Weights plus config in the metadata, written atomically; same model and extra -> same bytes."""
    from ...io import atomic_write_bytes

    meta = {"config": json.dumps(model.config.to_dict()), "format": "forgetalk-localizer-v1"}
    meta.update(extra or {})
    state = {k: v.detach().contiguous().cpu().numpy() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, safetensors_bytes(state, meta))


def load_localizer(path: Path | bytes, device: str = "cpu") -> LocalizerNet:
    """From a safetensors file, or from its verified bytes (what is loaded is what was hashed)."""
    from safetensors.torch import load as load_bytes

    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    # The safetensors header: 8-byte little-endian length, then JSON with "__metadata__".
    try:
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + n].decode("utf-8")).get("__metadata__") or {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{'localizer weights' if isinstance(path, bytes) else path}: not a safetensors file ({exc})") from None
    if "config" not in meta:
        raise ValueError(f"{'localizer weights' if isinstance(path, bytes) else path}: not a forgetalk localizer (no config metadata)")
    model = build_localizer(LocalizerConfig.from_dict(json.loads(meta["config"])))
    model.load_state_dict({k: v.to(device) for k, v in load_bytes(data).items()})
    return model.to(device).eval()


class Localizer:
    """A loaded LocalizerNet plus the pre/post-processing that matches training."""

    runtime = "torch"

    def __init__(self, model: LocalizerNet, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.device = device

    @property
    def config(self) -> LocalizerConfig:
        return self.model.config

    @property
    def config_dict(self) -> dict[str, object]:
        return self.config.to_dict()

    @torch.no_grad()
    def predict(self, crop: np.ndarray, regions: dict[str, np.ndarray]) -> LocalizerOutput:
        names, sizes = self.config.region_names, self.config.input_sizes
        feed = prepare_all(crop, regions, sizes, names)
        logits, rlog = self.model(*(torch.from_numpy(feed[k]).to(self.device) for k in input_names(sizes)))
        return finish_outputs(logits.cpu().numpy(), rlog.cpu().numpy(), crop.shape[:2], names, regions)


def export_onnx(model: LocalizerNet, path: Path) -> Path:
    """Export to ONNX (opset 17) with the config in the graph metadata; written atomically.

    Needs the ``onnx`` package at export time only (requirements-dev.txt); inference uses
    onnxruntime, a runtime dependency already (face detection).
    """
    import io

    import onnx

    from ...io import atomic_write_bytes

    model = model.eval()
    sizes, n = model.config.input_sizes, len(model.config.region_names)
    dummy = tuple(t for s in sizes for t in (torch.zeros(1, 3, s, s), torch.zeros(1, n, s, s)))
    buf = io.BytesIO()
    torch.onnx.export(model, dummy, buf, input_names=input_names(sizes),
                      output_names=["mask_logits", "region_logits"], dynamo=False, opset_version=17)
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = "config", json.dumps(model.config.to_dict())
    atomic_write_bytes(path, proto.SerializeToString())
    return Path(path)
