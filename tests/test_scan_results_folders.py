"""A scan and the folders forgetalk itself writes.

* Older results inside the evidence folder (a RESULTS copied into DIR, or a scan once made
  with ``--out`` inside DIR) are skipped by the walk, with a row and a progress line that name
  the folder and the marker: their overlays and thumbnails are forgetalk's own renderings, which
  the engines flag as manipulated, and they took the top of the triage index.
* A scan that stops before its first file (unknown engine or face backend name, missing
  weights) does not lock RESULTS to its parameters.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from _helpers import FAKE_ENGINE, FAKE_ENGINE_MODULE, grace_hopper_path, make_faces, scan_cli
from click.testing import CliRunner

from forgetalk.guard import MARKER_NAME
from forgetalk.scan.journal import read_journal
from forgetalk.scan.walk import RESULTS_FOLDER_PREFIX, Candidate, Skipped, WalkOptions, walk


def _rows(out: Path) -> dict[str, dict]:
    return {r["file"]: r for r in json.loads((out / "index.json").read_text())["items"]}


def _evidence(root: Path) -> Path:
    src = root / "D"
    make_faces(src, 2, size=160)
    shutil.copyfile(src / "face_000.jpg", src / "copy.jpg")
    return src


def test_walk_skips_any_folder_with_a_results_marker(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "in", tmp_path / "old"
    for folder in (root / "old_results" / "items" / "abc", root / "bogus", elsewhere / "items"):
        folder.mkdir(parents=True)
    marker = json.dumps({"schema": "forgetalk.results-folder/1", "kind": "scan"})
    for folder in (root / "old_results", elsewhere):
        (folder / MARKER_NAME).write_text(marker)
        (folder / "items" / "x.png").write_bytes(b"x")
    (root / "bogus" / MARKER_NAME).write_text("not a marker")  # not forgetalk's: walked as evidence
    (root / "bogus" / "y.png").write_bytes(b"y")
    os.symlink(elsewhere, root / "linked")
    entries = list(walk(root, WalkOptions(recursive=True, include_hidden=False)))
    cands = [e.rel for e in entries if isinstance(e, Candidate)]
    skipped = {e.rel: e for e in entries if isinstance(e, Skipped)}
    assert cands == ["bogus/y.png"]
    for rel in ("old_results", "linked"):
        assert skipped[rel].reason.startswith(RESULTS_FOLDER_PREFIX) and MARKER_NAME in skipped[rel].reason and not skipped[rel].failed
    assert not any(e.rel.startswith(("old_results/", "linked/")) for e in entries)


def test_rescan_skips_older_results_inside_dir(tmp_path: Path) -> None:
    src = _evidence(tmp_path)
    r1 = tmp_path / "R1"
    assert scan_cli([str(src), "--out", str(r1), "-j0"])[0] == 0
    shutil.copytree(r1, src / "old_results", symlinks=True)
    os.symlink(r1, src / "linked_results")
    code, summary, err = scan_cli([str(src), "--out", str(tmp_path / "R2"), "-r", "-j0"])
    assert code == 0, summary
    rows = _rows(tmp_path / "R2")
    assert sorted(rows) == ["copy.jpg", "face_000.jpg", "face_001.jpg", "linked_results", "old_results"]
    for name in ("old_results", "linked_results"):
        assert rows[name]["status"] == "skipped" and rows[name]["reason"].startswith(RESULTS_FOLDER_PREFIX)
    assert summary["counts"]["analysed"] == 3 and summary["counts"]["unique_inputs"] == 2
    code, err = _scan([str(src), "--out", str(tmp_path / "R2"), "-r", "-j0", "--engine", FAKE_ENGINE], progress=True)
    for name in ("old_results", "linked_results"):  # said in the progress lines too, never silently
        assert f"scan: {name}: skipped: {RESULTS_FOLDER_PREFIX}" in err


def test_rescan_skips_a_results_folder_once_written_inside_dir(tmp_path: Path) -> None:
    src = _evidence(tmp_path)
    assert scan_cli([str(src), "--out", str(src / "res_in"), "-r", "-j0"])[0] == 0
    assert _rows(src / "res_in")["res_in"]["reason"].startswith("results folder of this scan")
    code, summary, _ = scan_cli([str(src), "--out", str(tmp_path / "R5"), "-r", "-j0"])
    rows = _rows(tmp_path / "R5")
    assert code == 0 and sorted(rows) == ["copy.jpg", "face_000.jpg", "face_001.jpg", "res_in"]
    assert rows["res_in"]["status"] == "skipped" and rows["res_in"]["reason"].startswith(RESULTS_FOLDER_PREFIX)


def _scan(args: list[str], env: dict[str, str] | None = None, progress: bool = False) -> tuple[int, str]:
    from forgetalk.cli import main

    res = CliRunner().invoke(main, ["scan", *args, "--preload", FAKE_ENGINE_MODULE, *([] if progress else ["--no-progress"])],
                             env={"FORGETALK_NO_PROGRESS": "", **(env or {})}, catch_exceptions=False)
    return res.exit_code, res.stderr


def _d_with_copies(tmp_path: Path) -> Path:
    src = tmp_path / "D"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copyfile(grace_hopper_path(), src / name)
    return src


def test_unknown_engine_or_face_backend_is_refused_before_results_are_made(tmp_path: Path) -> None:
    src, out = _d_with_copies(tmp_path), tmp_path / "R12"
    for bad in (["--engine", "nosuch"], ["--engine", FAKE_ENGINE, "--face-backend", "nosuch"]):
        code, err = _scan([str(src), "--out", str(out), *bad, "-j0"])
        assert code == 2 and "unknown" in err and "nosuch" in err
        assert "copy of" not in err and not os.path.lexists(out), "nothing walked, nothing written"
    code, err = _scan([str(src), "--out", str(out), "--engine", FAKE_ENGINE, "-j0"])
    assert code == 0, err


def test_scan_stopped_before_its_first_file_does_not_bind_results(tmp_path: Path) -> None:
    src, out = _d_with_copies(tmp_path), tmp_path / "R12"
    empty_weights = tmp_path / "weights"
    empty_weights.mkdir()
    env = {"FORGETALK_WEIGHTS": str(empty_weights)}
    for workers in ("0", "1"):
        code, err = _scan([str(src), "--out", str(out), "--engine", FAKE_ENGINE, "--face-backend", "facexlib", "-j", workers], env=env)
        assert code == 5 and "facexlib" in err, err
        if workers == "0":
            assert "copy of" not in err, "the analyzer is built before the walk starts"
    code, err = _scan([str(src), "--out", str(out), "--engine", FAKE_ENGINE, "-j0"])
    assert code == 0, err  # was refused for ever: "holds results made with different parameters"
    state = read_journal(out / "journal.jsonl")
    assert len(state.runs) == 3 and [r.run_id for r in state.binding_runs()] == [state.runs[2].run_id]
    # Now a file is journaled: its parameters bind the folder.
    code, err = _scan([str(src), "--out", str(out), "--engine", FAKE_ENGINE, "--face-backend", "facexlib", "-j0"], env=env)
    assert code == 2 and "different parameters" in err


def test_results_folder_holding_only_a_marker_temp_file_is_claimed(tmp_path: Path) -> None:
    """All a new RESULTS holds while the first scan writes its marker is the marker's temp file. A
    second scan started at that moment was refused as "not empty and not a forgetalk results
    folder" (instead of meeting the lock), and a temp left by a scan killed right then refused
    every re-run of the command. It is claimed now, and the temp is cleared with the other stale ones."""
    src, out = _evidence(tmp_path), tmp_path / "R"
    out.mkdir()
    (out / f".{MARKER_NAME}.k1ll3d.part").write_text('{"schema": "forgetalk.results')
    code, summary, err = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 0, err
    assert summary["counts"]["analysed_this_run"] == 2
    assert not list(out.glob(".*.part")) and (out / MARKER_NAME).is_file()
    (out / "elsewhere.txt").write_text("not ours")
    other = tmp_path / "R2"
    other.mkdir()
    (other / "notes.txt").write_text("an analyst's folder")
    (other / f".{MARKER_NAME}.x.part").write_text("")
    code, summary, _ = scan_cli([str(src), "--out", str(other), "--workers", "0"])
    assert code == 2 and "not empty" in summary["error"]  # any other file still makes the folder not ours
