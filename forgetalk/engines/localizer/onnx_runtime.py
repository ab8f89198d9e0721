"""Run the shipped localizer with onnxruntime, so `forgetalk analyze` never imports torch.

Why: importing torch costs about a second per process on a 2-core laptop, more than the
whole analysis of a photo once models are warm. The ONNX graph is exported from the
safetensors weights (``forgetalk.engines.localizer.infer.export_onnx``), pinned by sha256 in
the same manifest, and tested to give the torch model's outputs (tests/test_localizer_onnx.py).
ONNX files are protobuf data, not pickles: loading one cannot execute code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...ort import model_metadata, ort_session
from .common import LocalizerOutput, finish_outputs, input_sizes, prepare_all


class OnnxLocalizer:
    """Same ``predict`` contract as the torch ``Localizer``."""

    runtime = "onnxruntime"

    def __init__(self, path: Path | bytes, threads: int | None = None, label: str | None = None) -> None:
        #: A path, or the verified bytes of the graph (forgetalk.weights.read_verified), so that
        #: what runs is exactly what was hashed.
        self.path: Path | bytes = path if isinstance(path, bytes) else Path(path)
        #: The file named when onnxruntime refuses the graph (the bytes alone do not say where they came from).
        self.label = label if label is not None else (None if isinstance(path, bytes) else str(path))
        #: intra-op threads (None = one per core); batch workers set their share before first use
        self.threads = threads
        self._session = None
        self.config_dict = self._read_config()

    def _read_config(self) -> dict[str, object]:
        # Read from the graph's bytes, not a session: the real session is built on first use,
        # after a batch worker has had the chance to set ``threads``.
        meta = model_metadata(self.path)
        if "config" not in meta:
            raise ValueError(f"{'ONNX graph' if isinstance(self.path, bytes) else self.path}: not a forgetalk localizer (no config metadata)")
        cfg = json.loads(meta["config"])
        cfg.setdefault("arch", "unet")  # graphs exported before architectures were named
        return cfg

    def session(self):  # noqa: ANN201 - onnxruntime.InferenceSession
        if self._session is None:
            self._session = ort_session(self.path, self.threads, label=self.label)
        return self._session

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self.config_dict["region_names"])  # type: ignore[union-attr]

    def predict(self, crop: np.ndarray, regions: dict[str, np.ndarray]) -> LocalizerOutput:
        names = self.region_names
        cfg = self.config_dict
        feed = prepare_all(crop, regions, input_sizes(int(cfg["input_size"]), cfg.get("member_sizes") or ()), names)  # type: ignore[arg-type, call-overload]
        mask_logits, region_logits = self.session().run(None, feed)
        return finish_outputs(mask_logits, region_logits, crop.shape[:2], names, regions)
