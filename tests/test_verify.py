"""`forgetalk verify RESULTS`: unchanged -> 0; any changed or missing output / changed input -> 7."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _helpers import make_faces, scan_cli
from click.testing import CliRunner

from forgetalk.cli import main
from forgetalk.errors import EXIT_INTEGRITY


@pytest.fixture()
def results(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "in"
    make_faces(src, 2)
    out = tmp_path / "results"
    code, _, _ = scan_cli([str(src), "--out", str(out), "--workers", "1"])
    assert code == 0
    return src, out


def _verify(out: Path, *extra: str) -> tuple[int, dict]:
    res = CliRunner().invoke(main, ["verify", str(out), "--json", *extra])
    return res.exit_code, json.loads(res.stdout)


def test_verify_detects_every_kind_of_change(results: tuple[Path, Path]) -> None:
    src, out = results
    code, rep = _verify(out)
    assert code == 0 and rep["inputs_ok"] == 2 and rep["outputs_ok"] == rep["outputs_total"] >= 2 * 3 + 3

    overlay = next(out.glob("items/*/*.overlay.png"))
    saved = overlay.read_bytes()
    overlay.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))  # one flipped bit
    code, rep = _verify(out)
    assert code == EXIT_INTEGRITY and [(p["status"], p["what"]) for p in rep["problems"]] == [("changed", "output")]
    overlay.unlink()
    code, rep = _verify(out)
    assert code == EXIT_INTEGRITY and rep["problems"][0]["status"] == "missing"
    overlay.write_bytes(saved)
    assert _verify(out)[0] == 0

    (out / "index.csv").write_text((out / "index.csv").read_text().replace("analysed", "no_face", 1))
    assert _verify(out)[0] == EXIT_INTEGRITY


def test_verify_inputs_changed_or_moved(results: tuple[Path, Path]) -> None:
    src, out = results
    first = sorted(src.iterdir())[0]
    shutil.move(str(first), str(src.parent / "moved.jpg"))
    code, rep = _verify(out)
    assert code == 0 and rep["inputs_missing"] == 1  # evidence may live elsewhere when results are checked
    assert _verify(out, "--require-inputs")[0] == EXIT_INTEGRITY
    first.write_bytes((src.parent / "moved.jpg").read_bytes() + b"\0")  # same name, different bytes
    code, rep = _verify(out)
    assert code == EXIT_INTEGRITY and rep["problems"][0]["what"] == "input" and rep["problems"][0]["status"] == "changed"


def test_verify_without_manifest_is_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["verify", str(tmp_path)])
    assert res.exit_code == 2 and "manifest" in res.stderr
