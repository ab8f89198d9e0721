"""The localizer's config is read from the ONNX graph's bytes (forgetalk.ort.model_metadata), not from
a throwaway session; it must say exactly what onnxruntime says, and refuse what is not a graph."""

from __future__ import annotations

from pathlib import Path

import pytest

ort = pytest.importorskip("onnxruntime")

from forgetalk.engines.localizer.common import ONNX_FILE, WEIGHTS_COMPONENT  # noqa: E402
from forgetalk.ort import model_metadata  # noqa: E402
from forgetalk.weights import resolve  # noqa: E402


def _runtime_metadata(model: bytes | Path) -> dict[str, str]:
    src = model if isinstance(model, bytes) else str(model)
    return dict(ort.InferenceSession(src, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map)


def test_shipped_localizer_metadata_matches_onnxruntime() -> None:
    path = resolve(WEIGHTS_COMPONENT, ONNX_FILE)
    meta = model_metadata(path)
    assert "config" in meta
    assert meta == _runtime_metadata(path)
    assert model_metadata(path.read_bytes()) == meta


def test_tiny_graph_with_several_entries_matches_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = {"config": '{"input_size": 192}', "note": "Gesicht ä", "empty": ""}
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    data = model.SerializeToString()
    assert model_metadata(data) == props == _runtime_metadata(data)
    plain = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    plain.ir_version = 8
    assert model_metadata(plain.SerializeToString()) == {}


@pytest.mark.parametrize("data", [b"\x80", b"\x0a\x05ab", b"\x0f", b"\xff" * 11])
def test_malformed_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="not an ONNX graph"):
        model_metadata(data)


def test_a_graph_without_config_is_not_a_localizer() -> None:
    from forgetalk.engines.localizer.onnx_runtime import OnnxLocalizer

    with pytest.raises(ValueError, match="not a forgetalk localizer"):
        OnnxLocalizer(b"")
