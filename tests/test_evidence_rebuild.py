"""The shipped evidence calibration files are what their builders write, byte for byte.

Why: weights are pinned by sha256, and "reproducible" means a rebuild (``make calibrate``) can
be *checked* against the pin. That holds only if each writer is deterministic (no wall-clock
zip stamps, no timings inside the file) and the shipped files came from these writers; both
are asserted here on the real shipped files. The rebuild itself needs the development faces
(``../shared``) and is documented in the README, not run in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

from forgetalk.engines.evidence.calibration import load_calibration, save_calibration
from forgetalk.engines.evidence.consistency import calibration_from_json, calibration_to_json
from forgetalk.engines.regioncal import RegionCalibration
from forgetalk.io import sha256_bytes
from forgetalk.train.region_calibrate import region_calibration_bytes

EVIDENCE = Path(__file__).resolve().parents[1] / "weights" / "evidence"


def _pinned(name: str) -> str:
    files = json.loads((EVIDENCE / "manifest.json").read_text(encoding="utf-8"))["files"]
    return next(f["sha256"] for f in files if f["name"] == name)


def test_shipped_calibration_npz_reserialises_to_its_pinned_bytes(tmp_path: Path) -> None:
    path = EVIDENCE / "calibration.npz"
    data = save_calibration(load_calibration(path), tmp_path / "x.npz")
    assert sha256_bytes(data) == _pinned("calibration.npz") == sha256_bytes(path.read_bytes())
    # No timings in the file: they would differ on every rebuild.
    assert "seconds" not in load_calibration(path).meta


def test_shipped_consistency_json_reserialises_to_its_pinned_bytes() -> None:
    data = (EVIDENCE / "consistency.json").read_bytes()
    cal = calibration_from_json(data)
    assert sha256_bytes(calibration_to_json(cal)) == _pinned("consistency.json") == sha256_bytes(data)
    assert "seconds" not in cal.meta
    assert cal.meta["builder"] == "forgetalk.train.consistency_calibration"


def test_shipped_region_calibration_reserialises_to_its_pinned_bytes() -> None:
    data = (EVIDENCE / "region_calibration.json").read_bytes()
    cal = RegionCalibration.from_dict(json.loads(data))
    again = region_calibration_bytes(cal)  # the builder's own writer (forgetalk.train.region_calibrate)
    assert sha256_bytes(again) == _pinned("region_calibration.json") == sha256_bytes(data)


def test_pin_in_manifest_replaces_an_entry_in_place(tmp_path: Path) -> None:
    """A rebuild re-pins each file where it was, so reproduced files give a reproduced manifest."""
    from forgetalk.train.manifest import pin_in_manifest

    pin_in_manifest(tmp_path, "a.npz", b"one", "first", "evidence", required=True)
    pin_in_manifest(tmp_path, "b.json", b"two", "second", "evidence")
    before = (tmp_path / "manifest.json").read_bytes()
    pin_in_manifest(tmp_path, "a.npz", b"ONE", "first", "evidence", required=True)
    doc = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert [f["name"] for f in doc["files"]] == ["a.npz", "b.json"]
    assert doc["files"][0] == {"name": "a.npz", "sha256": sha256_bytes(b"ONE"), "size": 3, "required": True, "description": "first"}
    pin_in_manifest(tmp_path, "a.npz", b"one", "first", "evidence", required=True)
    assert (tmp_path / "manifest.json").read_bytes() == before


def test_fused_calibration_names_the_evidence_files_it_was_fitted_against() -> None:
    """The evidence score is a fused feature: the shipped fused calibration must match the shipped evidence files."""
    recipe = json.loads((EVIDENCE.parent / "localizer" / "recipe.json").read_text(encoding="utf-8"))
    pins = recipe["calibration"]["evidence_files"]
    assert pins == {name: _pinned(name) for name in ("calibration.npz", "consistency.json", "region_calibration.json")}
