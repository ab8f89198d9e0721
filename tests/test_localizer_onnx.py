"""The shipped ONNX localizer is the shipped torch localizer: same outputs, pinned by sha256."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from forgetalk.engines.localizer.common import ONNX_FILE, WEIGHTS_COMPONENT, WEIGHTS_FILE  # noqa: E402
from forgetalk.engines.localizer.infer import Localizer, load_localizer  # noqa: E402
from forgetalk.engines.localizer.onnx_runtime import OnnxLocalizer  # noqa: E402
from forgetalk.weights import resolve  # noqa: E402


def test_onnx_matches_torch_on_a_real_face(default_backend, grace_rgb: np.ndarray) -> None:  # noqa: ANN001
    face = default_backend.align(grace_rgb, default_backend.detect(grace_rgb))[0]
    torch_loc = Localizer(load_localizer(resolve(WEIGHTS_COMPONENT, WEIGHTS_FILE)))
    onnx_loc = OnnxLocalizer(resolve(WEIGHTS_COMPONENT, ONNX_FILE))
    assert onnx_loc.config_dict == torch_loc.config_dict
    a = torch_loc.predict(face.crop, face.regions)
    b = onnx_loc.predict(face.crop, face.regions)
    assert np.abs(a.prob - b.prob).max() < 1e-4
    for name, v in a.region_probs.items():
        assert abs(v - b.region_probs[name]) < 1e-4
        assert abs(a.region_from_mask[name] - b.region_from_mask[name]) < 1e-4


def test_fused_engine_uses_onnx_on_cpu_without_importing_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from forgetalk.engines import get_engine; e = get_engine('fused', device='cpu'); "
        "print(e.info()['localizer']['runtime'], 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["onnxruntime", "False"]
