"""Behaviour pin: the JSON written for each example equals the committed one, apart from timings.

Why: structural changes (registries, typed records, engine contracts) must not change a single
reported number or sentence. The goldens are written by the shipped code and weights; regenerate
them only together with a deliberate change of behaviour (new weights, new calibration):

    .venv/bin/python tests/test_golden_json.py --regen

Floats are compared to 1e-4 absolute, because onnxruntime and OpenCV may pick other SIMD kernels on
another CPU; every string (verdicts, explanations) and every other value must match exactly.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = ("grace_hopper.jpg", "astronaut.png", "grace_hopper_mouth_from_astronaut.jpg", "grace_hopper_mouth_swap.jpg", "grace_hopper_nose_swap.jpg")
#: Wall-clock values, the checkout's location and the machine's software (``environment``: Python,
#: platform, library versions, recorded so that a difference can be traced, not pinned): the only
#: parts of a report allowed to differ; so are the face models' file hashes (``model_files_sha256``:
#: what this install's wheels hold, recorded like ``environment``; tests/test_facemesh_import.py checks them).
VOLATILE = {"started_at", "finished_at", "timings_s", "elapsed_s", "seconds", "path", "environment", "model_files_sha256"}
FLOAT_TOL = 1e-4


def stable(obj):
    """The report with volatile keys removed (recursively)."""
    if isinstance(obj, dict):
        return {k: stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [stable(v) for v in obj]
    return obj


def differences(got, want, where: str = "$") -> list[str]:
    """Human-readable paths where ``got`` differs from ``want`` (floats within FLOAT_TOL agree)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{where}.{k}: missing" for k in want if k not in got]
        out += [f"{where}.{k}: unexpected" for k in got if k not in want]
        for k in want.keys() & got.keys():
            out += differences(got[k], want[k], f"{where}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{where}: length {len(got)} != {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True)) for d in differences(g, w, f"{where}[{i}]")]
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return [] if math.isclose(got, want, abs_tol=FLOAT_TOL) else [f"{where}: {got!r} != {want!r}"]
    return [] if got == want and type(got) is type(want) else [f"{where}: {got!r} != {want!r}"]


def report_for(name: str, tmp: Path) -> dict:
    """The JSON sidecar the CLI writes for examples/NAME (run in-process, default engine)."""
    from _helpers import run_cli

    out = tmp / (Path(name).stem + ".json")
    code, _, err = run_cli("analyze", str(ROOT / "examples" / name), "--json-out", str(out), "--no-progress")
    assert code == 0, err
    return stable(json.loads(out.read_text()))


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_json_unchanged(name: str, tmp_path: Path) -> None:
    want = json.loads((GOLDEN / (Path(name).stem + ".json")).read_text())
    diffs = differences(report_for(name, tmp_path), want)
    assert not diffs, f"{len(diffs)} differences, first: " + "; ".join(sorted(diffs)[:8])


if __name__ == "__main__" and "--regen" in sys.argv:
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for example in EXAMPLES:
            rep = report_for(example, Path(tmp))
            (GOLDEN / (Path(example).stem + ".json")).write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n")
            print("wrote", GOLDEN / (Path(example).stem + ".json"))
