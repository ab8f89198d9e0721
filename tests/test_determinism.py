"""Reproducibility: a report names everything its numbers depend on, and the same photo gives the same numbers.

Why: "reports carry what is needed to reproduce a run" is a forensic requirement. The weights
and calibrations are pinned by sha256, so a report must quote the hash of each file that shaped
its numbers (the region calibration ranks every region), and the software around them
(``environment``: Python, platform, library versions). On one machine the numbers must not depend
on the thread count: a scan's workers run onnxruntime and OpenCV with their share of the cores,
``analyze`` with all of them, and both must write the same sidecar and the same overlay pixels.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from forgetalk.engines.regioncal import load_region_calibration
from forgetalk.environment import PACKAGE_DIR, describe, digest_of_sources, runtime_environment
from forgetalk.pipeline import Analyzer
from forgetalk.render import render_overlay, report_json
from forgetalk.weights import load_manifest

#: A cross-face mouth swap: faces, regions, cues and the JPEG compression map all report numbers.
PHOTO = Path(__file__).resolve().parents[1] / "examples" / "grace_hopper_mouth_from_astronaut.jpg"
#: Keys that hold wall-clock values (tests/test_golden_json.py's list, less path and environment,
#: which two runs in one process share).
TIMINGS = {"started_at", "finished_at", "timings_s", "elapsed_s", "seconds"}


def _without_timings(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


@pytest.mark.parametrize("component", ["localizer", "evidence"])
def test_region_calibration_reports_the_hash_it_was_loaded_with(component: str) -> None:
    """Every rank and percentile comes from this file; before, the report named neither it nor its hash."""
    pinned = {f.name: f.sha256 for f in load_manifest(component).files}["region_calibration.json"]
    cal = load_region_calibration(component)
    assert cal is not None
    info = cal.info()
    assert info["sha256"] == pinned
    assert info["file"] == f"weights/{component}/region_calibration.json"
    assert cal.for_size(100.0).info()["sha256"] == pinned  # a size band keeps the file's identity


def test_environment_names_python_platform_and_library_versions() -> None:
    env = runtime_environment()
    assert {"python", "platform", "machine", "cpu", "libraries"} <= env.keys()
    libs = env["libraries"]
    assert isinstance(libs, dict)
    for dist in ("numpy", "onnxruntime", "pillow", "mediapipe", "reportlab"):
        assert libs[dist] == md.version(dist)
    assert any(k.startswith("opencv") for k in libs)
    env["libraries"]["numpy"] = "tampered"  # type: ignore[index]
    assert runtime_environment()["libraries"]["numpy"] == md.version("numpy")  # type: ignore[index]
    line = describe(runtime_environment())
    assert f"numpy {md.version('numpy')}" in line and "Python " in line


def test_the_code_itself_is_named_by_a_digest_that_follows_every_source_change(tmp_path: Path) -> None:
    """``tool_version`` is 0.1.0 whatever the code; the digest of the package's files is what tells
    two reports' code apart (a changed byte, a renamed module), and compiled caches do not count."""
    env = runtime_environment()
    assert env["forgetalk_source"] == digest_of_sources(PACKAGE_DIR)
    assert len(env["forgetalk_source"]["sha256"]) == 64 and env["forgetalk_source"]["files"] > 100  # type: ignore[index]
    assert f"forgetalk code sha256 {env['forgetalk_source']['sha256']}" in describe(env)  # type: ignore[index]
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    first = digest_of_sources(pkg)
    assert first["files"] == 2 and first == digest_of_sources(pkg)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-311.py").write_text("cache")
    (pkg / "notes.txt").write_text("not code")
    assert digest_of_sources(pkg) == first
    (pkg / "a.py").write_text("x = 2\n")
    changed = digest_of_sources(pkg)
    assert changed["sha256"] != first["sha256"]
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").rename(pkg / "b.py")  # same bytes, another module
    assert digest_of_sources(pkg)["sha256"] not in (first["sha256"], changed["sha256"])
    (pkg / "b.py").chmod(0)
    if os.access(pkg / "b.py", os.R_OK):  # root reads anything: nothing to test
        return
    unreadable = digest_of_sources(pkg)
    assert unreadable["sha256"] is None and "PermissionError" in unreadable["error"]  # type: ignore[operator]
    assert "forgetalk code" not in describe({**env, "forgetalk_source": unreadable})


def _run(path: str, threads: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """The sidecar, the photo heatmap and the overlay pixels with onnxruntime and OpenCV on ``threads``."""
    analyzer = Analyzer()
    analyzer.backend.threads = threads  # read when the sessions are built, on first use (as a scan worker sets them)
    analyzer.engine.localizer.threads = threads
    before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        analysis = analyzer.analyze_path(path)
    finally:
        cv2.setNumThreads(before)
    return report_json(analysis), analysis.heatmap, render_overlay(analysis)


def test_same_numbers_and_pixels_whatever_the_thread_count() -> None:
    one, heat_one, overlay_one = _run(str(PHOTO), 1)
    two, heat_two, overlay_two = _run(str(PHOTO), 2)
    assert one["environment"] == two["environment"] and one["environment"]["libraries"]
    assert json.dumps(_without_timings(one), sort_keys=True) == json.dumps(_without_timings(two), sort_keys=True)
    assert heat_one.tobytes() == heat_two.tobytes()
    assert overlay_one.tobytes() == overlay_two.tobytes()
