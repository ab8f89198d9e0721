"""A tiny deterministic engine for scan tests (no tests here; imported by workers via --preload).

Score and heatmap come from the crop's pixels, so different variants of one photo get
different, reproducible scores, and analysis costs milliseconds. ``FORGETALK_FAKE_DELAY``
(seconds) slows each face down so a test can kill a scan mid-way.
"""

from __future__ import annotations

import os
import time

import numpy as np

from forgetalk.engines.base import EngineOutput, register_engine

NAME = "scantest"


class _FakeEngine:
    name = NAME

    def __init__(self, **_: object) -> None:
        self.delay = float(os.environ.get("FORGETALK_FAKE_DELAY", "0") or 0)

    def analyze_face(self, face: object) -> EngineOutput:
        crop = np.asarray(face.crop, dtype=np.float32)  # type: ignore[attr-defined]
        if self.delay:
            time.sleep(self.delay)
        gray = crop.mean(axis=2)
        heat = np.clip(np.abs(gray - gray.mean()) / 128.0, 0, 1).astype(np.float32)
        score = float(np.clip((crop[..., 0].mean() - crop[..., 2].mean()) / 64.0 + 0.5, 0.0, 1.0))
        return EngineOutput(heatmap=heat, score=score, meta={"threshold": 0.5})

    def info(self) -> dict[str, object]:
        return {"name": NAME, "version": "test", "weights": {}}


register_engine(NAME, "test-only fake engine")(_FakeEngine)
