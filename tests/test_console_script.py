"""The console script's own stderr: what an analyst's terminal shows besides the command's output."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from _helpers import ENTRY

from forgetalk.errors import one_line_warning

REPO = Path(__file__).resolve().parent.parent


def test_a_warning_is_one_line_without_python_internals(tmp_path: Path) -> None:
    """ForgeryTalker asked for on the CPU warns, then stops on its missing weights (exit 5): two
    lines, ``warning: ...`` and ``error: ...``. Python's default printed the warning's source file,
    line number and line of code (``return entry.load()(**kwargs)``) too."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "1", "FORGETALK_WEIGHTS": str(tmp_path / "no-weights-here")}
    (tmp_path / "no-weights-here").mkdir()
    proc = subprocess.run([*ENTRY, "analyze", "--json", str(REPO / "examples" / "grace_hopper.jpg"), "--engine", "forgerytalker"],
                          capture_output=True, text=True, env=env, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 5, proc.stderr
    assert [ln.split(":", 1)[0] for ln in lines] == ["warning", "error"], proc.stderr
    assert "ForgeryTalker on CPU" in lines[0] and ".py:" not in proc.stderr


def test_one_line_warning_prints_the_first_line_only(capsys: pytest.CaptureFixture[str]) -> None:
    one_line_warning(RuntimeWarning("first\nsecond"), RuntimeWarning, "x.py", 3)
    one_line_warning(UserWarning(""), UserWarning, "x.py", 3)
    assert capsys.readouterr().err == "warning: first\nwarning: UserWarning\n"
    with warnings.catch_warnings():  # the library itself keeps Python's handling
        assert warnings.showwarning is not one_line_warning


def test_a_run_writes_nothing_outside_its_outputs_and_switches_onnxruntime_telemetry_off(tmp_path: Path) -> None:
    """onnxruntime 1.32 writes a device id and a telemetry event cache under the user's cache
    folder on import; forgetalk switches that off before onnxruntime starts, even when the
    environment asks for it (ORT_DISABLE_TELEMETRY=0). Found by a hostile test pass."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    cache.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "1", "HOME": str(home), "XDG_CACHE_HOME": str(cache), "ORT_DISABLE_TELEMETRY": "0"}
    proc = subprocess.run([*ENTRY, "analyze", str(REPO / "examples" / "grace_hopper.jpg"), "--json-out", str(tmp_path / "out" / "r.json"), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (*home.rglob("*"), *cache.rglob("*"))) == []


def test_hugging_face_libraries_are_forced_offline_whatever_the_environment_says() -> None:
    """The CLI set HF_HUB_OFFLINE only where unset, so an inherited HF_HUB_OFFLINE=0 left the
    hub free to download at run time; importing forgetalk now forces every offline switch."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "0"}
    code = ("import forgetalk, os, huggingface_hub.constants as c; "
            "print(os.environ['HF_HUB_OFFLINE'], os.environ['TRANSFORMERS_OFFLINE'], os.environ['HF_HUB_DISABLE_TELEMETRY'], c.HF_HUB_OFFLINE)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "1", "1", "True"]


def test_quant_given_to_a_cpu_engine_is_named_as_ignored() -> None:
    """--quant nf4 with the fused or evidence engine ran at float32 without a word."""
    from forgetalk.engines.base import warn_ignored_options

    with pytest.warns(RuntimeWarning, match="--quant nf4 applies to model engines .* the fused engine ignores it"):
        warn_ignored_options("fused", {"quant": "nf4"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_ignored_options("fused", {})  # nothing given, nothing said
