"""Regression tests for issue 8 (evidence safety), each through the real CLI in a subprocess.

Every test runs the exact command a hostile test pass used and checks three things: the
documented exit code, one clear line on stderr (never a traceback), and that the evidence
is byte-for-byte what it was. Scans use the millisecond fake engine of
``_helpers`` (via ``--preload``); single-photo runs use the ``evidence`` engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _helpers import ENTRY, FAKE_ENGINE, FAKE_ENGINE_MODULE, make_faces
from PIL import Image

from forgetalk.scan.runner import MANIFEST_SCHEMA

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
GRACE = REPO / "examples" / "grace_hopper.jpg"
CLI = [sys.executable, "-m", "forgetalk.cli"]
EVIDENCE = ["--engine", "evidence", "--no-progress"]
FAKE_SCAN = ["--engine", FAKE_ENGINE, "--preload", FAKE_ENGINE_MODULE, "--workers", "0", "--no-progress"]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(REPO), env.get("PYTHONPATH", "")])
    env["CI"] = "1"
    env.update(extra)
    return env


def _ctrl_c_as_in_a_terminal() -> None:
    """``preexec_fn`` for a child that is sent Ctrl-C: SIGINT at its default action, as a terminal
    user's process has it, however this test run started. A run started in the background of a
    non-interactive shell (`pytest &`, a CI wrapper) ignores SIGINT and children inherit that; the
    child then (rightly) keeps ignoring it and runs to the end instead of stopping."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ft(*args: str | Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``forgetalk ARGS`` as a fresh process, as an analyst would."""
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=_env(**env))


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    """The single ``error: ...`` line a failure must print (warnings aside), never a traceback."""
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Name -> (sha256, mtime_ns) of every file under ``folder`` (symlinks not followed)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(folder).as_posix()] = (sha(p), p.stat().st_mtime_ns)
        else:
            out[p.relative_to(folder).as_posix()] = ("", 0)
    return out


@pytest.fixture()
def ev(tmp_path: Path) -> Path:
    p = tmp_path / "ev.jpg"
    shutil.copyfile(GRACE, p)
    return p


def _scan(src: Path, out: Path, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return ft("scan", src, "--out", out, *FAKE_SCAN, "--json", *extra, **env)


@pytest.fixture()
def scanned(tmp_path: Path) -> tuple[Path, Path]:
    src, out = tmp_path / "in", tmp_path / "results"
    make_faces(src, 2, size=256)
    res = _scan(src, out)
    assert res.returncode == 0, res.stderr
    return src, out


# --------------------------------------------------------------------------- 1, 3: analyze outputs


@pytest.mark.parametrize("flag", ["--report", "--json-out", "--json", "--overlay"])  # --json PATH: the deprecated alias
def test_1_analyze_output_equal_to_input_is_refused(ev: Path, flag: str) -> None:
    before = snapshot(ev.parent)
    res = ft("analyze", ev, flag, ev, *EVIDENCE)
    assert res.returncode == 2
    assert "refusing to overwrite the evidence" in one_line_error(res)
    assert snapshot(ev.parent) == before


def test_1_default_sidecar_equal_to_input_is_refused(ev: Path) -> None:
    photo = ev.with_name("ev.json")  # a photo that happens to be named .json
    ev.rename(photo)
    before = snapshot(photo.parent)
    res = ft("analyze", photo, "--report", photo.with_name("ev.pdf"), *EVIDENCE)
    assert res.returncode == 2 and "--json" in one_line_error(res)
    assert snapshot(photo.parent) == before  # no ev.pdf, no overlay: refused before writing anything


def test_1_output_through_symlink_dotdot_or_hard_link_is_refused(ev: Path) -> None:
    (ev.parent / "sub").mkdir()
    (ev.parent / "link.pdf").symlink_to(ev)
    os.link(ev, ev.parent / "hard.json")
    before = snapshot(ev.parent)
    for flag, target in (("--report", ev.parent / "link.pdf"), ("--overlay", ev.parent / "sub" / ".." / "ev.jpg"),
                         ("--json-out", ev.parent / "hard.json")):
        res = ft("analyze", ev, flag, target, *EVIDENCE)
        assert res.returncode == 2, (flag, res.stderr)
        one_line_error(res)
    assert snapshot(ev.parent) == before


def test_3_two_outputs_on_one_path_are_refused(ev: Path) -> None:
    p = ev.parent / "P"
    res = ft("analyze", ev, "--json-out", p, "--overlay", p, *EVIDENCE)
    assert res.returncode == 2 and "same file" in one_line_error(res)
    assert not p.exists()


# --------------------------------------------------------------------------- 2: scan RESULTS


def test_2_scan_into_the_evidence_folder_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "DIR"
    make_faces(src, 2, size=128)
    before = snapshot(src)
    res = _scan(src, src)
    assert res.returncode == 2 and "evidence folder" in res.stdout + res.stderr
    assert snapshot(src) == before  # no index, summary, manifest, journal or lock in the evidence


def test_2_scan_refuses_a_foreign_non_empty_folder_and_a_parent_of_dir(tmp_path: Path) -> None:
    src = tmp_path / "case" / "DIR"
    make_faces(src, 1, size=128)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    before = snapshot(tmp_path)
    for out in (other, tmp_path / "case"):
        res = ft("scan", src, "--out", out, *FAKE_SCAN)
        assert res.returncode == 2, res.stderr
        one_line_error(res)
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_2_scan_accepts_new_empty_and_its_own_results_folder(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "empty"
    make_faces(src, 1, size=128)
    out.mkdir()
    assert _scan(src, out).returncode == 0
    res = _scan(src, out)  # the same kind of folder: resume
    assert res.returncode == 0 and json.loads(res.stdout)["counts"]["resumed_from_journal"] == 1


# --------------------------------------------------------------------------- 4: verify never blocks


@pytest.mark.parametrize("replacement", ["fifo", "dev_zero"])
def test_4_verify_does_not_hang_on_a_fifo_or_dev_zero(scanned: tuple[Path, Path], replacement: str) -> None:
    src, out = scanned
    victim = sorted(src.iterdir())[0]
    victim.unlink()
    if replacement == "fifo":
        os.mkfifo(victim)
    else:
        victim.symlink_to("/dev/zero")
    res = ft("verify", out, "--json", timeout=60)
    assert res.returncode == 7, res.stderr
    (problem,) = json.loads(res.stdout)["problems"]
    assert problem["status"] == "notafile" and problem["path"] == str(victim)


def test_4_verify_does_not_hang_on_an_output_replaced_by_a_fifo(scanned: tuple[Path, Path]) -> None:
    _, out = scanned
    overlay = next(out.glob("items/*/*.overlay.png"))
    overlay.unlink()
    os.mkfifo(overlay)
    res = ft("verify", out, timeout=60)
    assert res.returncode == 7 and "NOTAFILE" in res.stdout


def test_4_verify_does_not_hang_on_a_fifo_manifest(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "manifest.json")
    res = ft("verify", tmp_path, timeout=60)
    assert res.returncode == 2 and "not a regular file" in one_line_error(res)


# --------------------------------------------------------------------------- 5, 7, 8: weights


def _weights_copy(tmp_path: Path, *components: str) -> Path:
    root = tmp_path / "weights"
    for comp in components:
        shutil.copytree(REPO / "weights" / comp, root / comp)
    return root


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_5_bad_calibration_is_exit_5_not_a_silent_fallback(ev: Path, tmp_path: Path, damage: str) -> None:
    root = _weights_copy(tmp_path, "evidence", "localizer")
    cal = root / "evidence" / "calibration.npz"
    if damage == "corrupt":
        data = bytearray(cal.read_bytes())
        data[len(data) // 2] ^= 0xFF
        cal.write_bytes(bytes(data))
    else:
        cal.unlink()
    for engine in ("evidence", "fused"):
        res = ft("analyze", ev, "--report", tmp_path / f"{engine}.pdf", "--engine", engine, "--no-progress",
                 FORGETALK_WEIGHTS=str(root))
        assert res.returncode == 5, (engine, res.stderr)
        assert "calibration.npz" in one_line_error(res)
        assert not (tmp_path / f"{engine}.pdf").exists()


@pytest.mark.slow
def test_7_forgerytalker_start_records_nothing(ev: Path, tmp_path: Path) -> None:
    root = tmp_path / "weights"
    comp = root / "forgerytalker"
    comp.mkdir(parents=True)
    shutil.copyfile(REPO / "weights" / "forgerytalker" / "manifest.json", comp / "manifest.json")
    for f in json.loads((comp / "manifest.json").read_text())["files"]:  # hand-placed files that cannot load
        (comp / f["name"]).parent.mkdir(parents=True, exist_ok=True)
        (comp / f["name"]).write_bytes(b"not a checkpoint")
    res = ft("analyze", ev, "--engine", "forgerytalker", "--no-progress", FORGETALK_WEIGHTS=str(root))
    assert res.returncode == 5 and "ForgeryTalker" in one_line_error(res)
    assert not (comp / "recorded_sha256.json").exists()
    res = ft("weights", "verify", "forgerytalker", FORGETALK_WEIGHTS=str(root))
    assert "recorded at fetch" not in res.stdout and "none recorded" in res.stdout


def test_7_only_fetch_records_count(tmp_path: Path) -> None:
    """A record left by an old start-up (no ``source: fetch``) is not presented as a fetch record."""
    root = tmp_path / "weights"
    comp = root / "demo"
    comp.mkdir(parents=True)
    (comp / "a.bin").write_bytes(b"alpha")
    (comp / "manifest.json").write_text(json.dumps({"component": "demo", "files": [{"name": "a.bin", "sha256": None}]}))
    (comp / "recorded_sha256.json").write_text(json.dumps({"a.bin": {"sha256": hashlib.sha256(b"alpha").hexdigest(), "size": 5, "mtime_ns": 1}}))
    res = ft("weights", "verify", "demo", FORGETALK_WEIGHTS=str(root))
    assert res.returncode == 0 and "recorded at fetch" not in res.stdout and "none recorded" in res.stdout


def test_8_forged_size_mtime_record_does_not_let_a_modified_localizer_run(ev: Path, tmp_path: Path) -> None:
    root = _weights_copy(tmp_path, "evidence", "localizer")
    onnx = root / "localizer" / "localizer.onnx"
    pinned = next(f["sha256"] for f in json.loads((root / "localizer" / "manifest.json").read_text())["files"] if f["name"] == "localizer.onnx")
    st = onnx.stat()
    data = bytearray(onnx.read_bytes())
    data[-100] ^= 0x01  # same size
    onnx.write_bytes(bytes(data))
    os.utime(onnx, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    forged = {"sha256": pinned, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    (root / "localizer" / "recorded_sha256.json").write_text(json.dumps({"localizer.onnx": forged}))
    res = ft("analyze", ev, "--report", tmp_path / "r.pdf", "--engine", "fused", "--no-progress", FORGETALK_WEIGHTS=str(root))
    assert res.returncode == 5, res.stderr
    assert "localizer.onnx" in one_line_error(res) and "mismatch" in res.stderr
    (root / "localizer" / "recorded_sha256.json").write_text(json.dumps({"localizer.onnx": {**forged, "source": "fetch"}}))
    assert ft("analyze", ev, "--report", tmp_path / "r.pdf", "--engine", "fused", "--no-progress",
              FORGETALK_WEIGHTS=str(root)).returncode == 5  # pinned files never consult the record


# --------------------------------------------------------------------------- 6: resume repairs outputs


@pytest.mark.parametrize("damage", ["delete", "modify"])
def test_6_resume_rebuilds_missing_or_changed_outputs(scanned: tuple[Path, Path], damage: str) -> None:
    src, out = scanned
    overlay = next(out.glob("items/*/*.overlay.png"))
    if damage == "delete":
        overlay.unlink()
    else:
        overlay.write_bytes(overlay.read_bytes() + b"\0")
    assert ft("verify", out).returncode == 7
    res = _scan(src, out)
    assert res.returncode == 0, res.stderr
    counts = json.loads(res.stdout)["counts"]
    assert counts["redone"] == 1 and counts["analysed_this_run"] == 1 and counts["resumed_from_journal"] == 1
    assert overlay.is_file()
    res = ft("verify", out)
    assert res.returncode == 0, res.stdout


# --------------------------------------------------------------------------- 10: hand-edited files


@pytest.mark.parametrize("manifest", [
    [],
    {"schema": MANIFEST_SCHEMA, "inputs": [{"file": "a.jpg"}], "outputs": []},
    {"schema": MANIFEST_SCHEMA, "inputs": [], "outputs": [{"path": "index.csv"}]},
    {"schema": MANIFEST_SCHEMA, "inputs": "nope", "outputs": []},
])
def test_10_verify_malformed_manifest_is_one_line_exit_2(tmp_path: Path, manifest: object) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    res = ft("verify", tmp_path)
    assert res.returncode == 2 and "malformed manifest" in one_line_error(res)


def test_10_valid_but_empty_manifest_fails_verify(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": MANIFEST_SCHEMA, "inputs": [], "outputs": []}))
    res = ft("verify", tmp_path)
    assert res.returncode == 7 and "UNLISTED" in res.stdout


def test_10_verify_refuses_output_paths_outside_results(scanned: tuple[Path, Path]) -> None:
    _, out = scanned
    doc = json.loads((out / "manifest.json").read_text())
    doc["outputs"][0]["path"] = "../../../../etc/hostname"
    (out / "manifest.json").write_text(json.dumps(doc))
    res = ft("verify", out, "--json")
    assert res.returncode == 7 and any(p["status"] == "outside" for p in json.loads(res.stdout)["problems"])


@pytest.mark.parametrize("field,value", [("score", "high"), ("outputs", ["x"]), ("sha256", 7), ("faces", "two")])
def test_10_journal_record_with_wrong_types_is_one_line_exit_2(scanned: tuple[Path, Path], field: str, value: object) -> None:
    src, out = scanned
    journal = out / "journal.jsonl"
    lines = journal.read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if json.loads(ln)["type"] == "item")
    rec = json.loads(lines[i])
    rec[field] = value
    lines[i] = json.dumps(rec)
    journal.write_text("\n".join(lines) + "\n")
    res = _scan(src, out)
    assert res.returncode == 2
    msg = json.loads(res.stdout)["error"]
    assert f"line {i + 1}" in msg and "Traceback" not in res.stderr


# --------------------------------------------------------------------------- 11: smaller ones


def _png16_rgb(path: Path, w: int = 64, h: int = 48) -> Path:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = (np.random.default_rng(0).random((h, w, 3)) * 65535).astype(">u2")
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def _report_notes(path: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    res = ft("analyze", path, "--json-out", tmp_path / "out.json", "--json", *EVIDENCE, *extra)
    assert res.returncode in (0, 4), res.stderr
    return res, json.loads(res.stdout)["report"]["warnings"]


def test_11_sixteen_bit_rgb_png_is_noted(tmp_path: Path) -> None:
    _, notes = _report_notes(_png16_rgb(tmp_path / "deep.png"), tmp_path)
    assert any("16-bit RGB PNG reduced to 8 bits" in n for n in notes)


def test_11_invalid_exif_orientation_is_not_reported_as_applied(tmp_path: Path) -> None:
    img = Image.open(GRACE)
    exif = img.getexif()
    exif[0x0112] = 9
    img.save(tmp_path / "o9.jpg", exif=exif.tobytes(), quality=95)
    _, notes = _report_notes(tmp_path / "o9.jpg", tmp_path)
    assert not any("orientation 9 applied" in n for n in notes)
    assert any("invalid value 9" in n for n in notes)


def test_11_pillow_warnings_become_notes_not_stderr(tmp_path: Path) -> None:
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x010E, 2, 100, 26) + struct.pack("<I", 0)
    Image.open(GRACE).save(tmp_path / "badexif.jpg", exif=b"Exif\x00\x00" + tiff, quality=95)
    res, notes = _report_notes(tmp_path / "badexif.jpg", tmp_path)
    assert any(n.startswith("decoder warning:") for n in notes)
    assert res.stderr == ""  # neither Pillow nor TensorFlow Lite / MediaPipe chatter


@pytest.mark.parametrize("command", ["analyze", "scan"])
def test_11_max_pixels_zero_is_a_usage_error(ev: Path, tmp_path: Path, command: str) -> None:
    args = [ev] if command == "analyze" else [ev.parent, "--out", tmp_path / "res"]
    res = ft(command, *args, "--max-pixels", "0", "--no-progress")
    assert res.returncode == 2 and "--max-pixels" in res.stderr and "Traceback" not in res.stderr


def test_11_symlink_to_itself_is_skipped_not_failed(tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_faces(src, 1, size=128)
    (src / "self.jpg").symlink_to("self.jpg")
    res = _scan(src, tmp_path / "res")
    assert res.returncode == 0, res.stderr
    rows = {r["file"]: r for r in json.loads((tmp_path / "res" / "index.json").read_text())["items"]}
    assert rows["self.jpg"]["status"] == "skipped" and "loop" in rows["self.jpg"]["reason"]


def test_11_proc_file_is_not_reported_as_empty() -> None:
    res = ft("analyze", "/proc/self/status", "--no-progress")
    assert res.returncode == 3
    line = one_line_error(res)
    assert "pseudo-file" in line and "empty" not in line


# --------------------------------------------------------------------------- 12: the second hostile pass


def test_12_non_utf8_file_name_is_scanned_and_resumed(tmp_path: Path) -> None:
    """A name that is not UTF-8 (PEP 383 surrogates in Python) once crashed the journal, so the
    scan could never finish; now it is journaled as a JSON escape and the re-run resumes it."""
    src, out = tmp_path / "in", tmp_path / "res"
    make_faces(src, 2, size=128)
    odd = os.fsdecode(os.fsencode(str(src)) + b"/x\xff.jpg")
    try:
        os.rename(src / "face_001.jpg", odd)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses non-UTF-8 names")
    res = _scan(src, out)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert json.loads(res.stdout)["counts"]["analysed"] == 2
    res = _scan(src, out)
    assert res.returncode == 0 and json.loads(res.stdout)["counts"]["resumed_from_journal"] == 2, res.stderr
    assert ft("verify", out, "--require-inputs").returncode == 0


def test_12_rescan_keeps_a_deleted_input_in_custody(tmp_path: Path) -> None:
    """A re-run after an input was deleted used to drop it from the manifest, and verify then
    passed. Now the scan exits 7 with one line, the manifest keeps the entry marked departed,
    verify fails on it (with or without --require-inputs), and once the file is back as
    recorded everything passes again."""
    src, out = tmp_path / "in", tmp_path / "res"
    faces = [Path(f) for f in make_faces(src, 2, size=128)]
    kept = faces[0].read_bytes()
    assert _scan(src, out).returncode == 0
    faces[0].unlink()
    res = _scan(src, out)
    assert res.returncode == 7, res.stderr
    assert "1 input(s)" in one_line_error(res) and f"{faces[0].name} (missing)" in res.stderr
    summary = json.loads(res.stdout)
    assert [(d["file"], d["sha256"], d["departed"]["status"]) for d in summary["departed_inputs"]] == [(faces[0].name, hashlib.sha256(kept).hexdigest(), "missing")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum("departed" in i for i in manifest["inputs"]) == 1
    index = json.loads((out / "index.json").read_text())  # the triage list still shows it, and says why
    row = next(r for r in index["items"] if r["file"] == faces[0].name)
    assert row["reason"].startswith("kept from an earlier run, departed: missing") and row["status"] == "analysed" and row["json"]
    assert summary["counts"]["files_seen"] == 1
    assert sum(o.get("input_sha256") == hashlib.sha256(kept).hexdigest() for o in manifest["outputs"]) >= 2  # its outputs stay listed
    for extra in ((), ("--require-inputs",)):
        res = ft("verify", out, "--json", *extra)
        assert res.returncode == 7 and [p["status"] for p in json.loads(res.stdout)["problems"]] == ["departed"]
    res = _scan(src, out)  # still gone: still 7, still the run that first noticed
    assert res.returncode == 7 and json.loads(res.stdout)["departed_inputs"][0]["departed"]["noticed_by"] == summary["run_id"]
    faces[0].write_bytes(kept)
    res = _scan(src, out)
    assert res.returncode == 0 and json.loads(res.stdout)["departed_inputs"] == [], res.stderr
    assert ft("verify", out, "--require-inputs").returncode == 0


def test_12_a_narrower_rescan_keeps_earlier_results_in_the_index(tmp_path: Path) -> None:
    """A re-run with a narrower --pattern kept the other inputs in the manifest but dropped them
    from the triage index, so earlier results vanished from the analyst's list. They are listed
    with their journaled results and a reason; this run's counts are its own walk's."""
    src, out = tmp_path / "in", tmp_path / "res"
    faces = [Path(f) for f in make_faces(src, 3, size=128)]
    assert _scan(src, out).returncode == 0
    res = _scan(src, out, "--pattern", faces[0].name)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["counts"]["analysed_this_run"] + summary["counts"]["resumed_from_journal"] == 1 and summary["departed_inputs"] == []
    index = json.loads((out / "index.json").read_text())
    assert sorted(r["file"] for r in index["items"]) == sorted(f.name for f in faces)  # once each, no bare "skipped" row
    assert index["carried_rows"] == 2
    for r in index["items"]:
        walked = r["file"] == faces[0].name
        assert (r["reason"] is None) == walked and r["status"] == "analysed" and r["json"], r
        assert walked or r["reason"].startswith("kept from an earlier run, not selected by this run")
    assert sorted(r["rank"] for r in index["items"]) == [1, 2, 3]
    assert ft("verify", out, "--require-inputs").returncode == 0


def test_12_a_carried_failed_row_begins_with_the_carried_mark(tmp_path: Path) -> None:
    """Every carried row's reason begins "kept from an earlier run" (docs/scan.md), failed rows
    too: a failed row's own reason came first, so a filter on the mark missed it."""
    from forgetalk.scan.custody import CARRIED_MARK

    src, out = tmp_path / "in", tmp_path / "res"
    faces = [Path(f) for f in make_faces(src, 1, size=128)]
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a picture")
    assert _scan(src, out).returncode == 1  # a file failed (exit 1, documented), the rest analysed
    res = _scan(src, out, "--pattern", faces[0].name)
    assert res.returncode == 0, res.stderr
    rows = {r["file"]: r for r in json.loads((out / "index.json").read_text())["items"]}
    broken = rows["broken.jpg"]
    assert broken["status"] in ("failed", "error") and broken["reason"].startswith(CARRIED_MARK + ", not selected by this run"), broken
    assert "not a recognised image format" in broken["reason"] or "corrupt" in broken["reason"] or "truncated" in broken["reason"], broken


def test_12_deleting_the_manifest_does_not_launder_a_departed_input(tmp_path: Path) -> None:
    """The journal records every hashed input too: with manifest.json deleted, the next run
    still finds the deleted evidence (it used to write a clean manifest without it)."""
    src, out = tmp_path / "in", tmp_path / "res"
    faces = [Path(f) for f in make_faces(src, 2, size=128)]
    assert _scan(src, out).returncode == 0
    faces[0].unlink()
    assert _scan(src, out).returncode == 7
    (out / "manifest.json").unlink()
    res = _scan(src, out)
    assert res.returncode == 7 and [d["file"] for d in json.loads(res.stdout)["departed_inputs"]] == [faces[0].name]
    assert ft("verify", out).returncode == 7


def test_12_rescan_keeps_content_replaced_under_its_name(tmp_path: Path) -> None:
    """Same name, other content: the new content is analysed and listed, the old entry stays
    as departed ("changed"); both cannot stand at one path again, so this chain of custody
    keeps failing (the message says to start a new one in a new --out)."""
    src, out = tmp_path / "in", tmp_path / "res"
    faces = [Path(f) for f in make_faces(src, 2, size=128)]
    old = hashlib.sha256(faces[1].read_bytes()).hexdigest()
    assert _scan(src, out).returncode == 0
    faces[1].write_bytes(faces[0].read_bytes()[:-2] + b"\xff\xd9")
    res = _scan(src, out)
    assert res.returncode == 7 and f"{faces[1].name} (changed)" in one_line_error(res)
    assert [(d["sha256"], d["departed"]["status"]) for d in json.loads(res.stdout)["departed_inputs"]] == [(old, "changed")]
    listed = [i for i in json.loads((out / "manifest.json").read_text())["inputs"] if i["file"] == faces[1].name]
    assert sorted("departed" in i for i in listed) == [False, True]
    assert ft("verify", out).returncode == 7


def test_12_results_of_one_folder_refuse_another(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "res"
    make_faces(a, 1, size=128)
    make_faces(b, 1, size=128, prefix="other")
    assert _scan(a, out).returncode == 0
    before = snapshot(out)
    res = _scan(b, out)
    assert res.returncode == 2 and "another folder" in json.loads(res.stdout)["error"]
    assert snapshot(out) == before


def test_12_verify_reports_a_file_planted_in_results(scanned: tuple[Path, Path]) -> None:
    _, out = scanned
    assert ft("verify", out).returncode == 0
    item = next(out.glob("items/*/"))
    (item / "planted.png").write_bytes(b"x")
    res = ft("verify", out, "--json")
    assert res.returncode == 7
    assert [p["path"] for p in json.loads(res.stdout)["problems"] if p["status"] == "unlisted"] == [(item / "planted.png").relative_to(out).as_posix()]


def test_12_verify_reports_an_empty_folder_planted_in_results(scanned: tuple[Path, Path]) -> None:
    """A planted folder holds no file to be found by; verify names it. An item folder whose
    outputs are gone is reported through its listed files, never as a planted folder."""
    _, out = scanned
    item = next(out.glob("items/*/"))
    (item / "extra").mkdir()
    (out / "notes").mkdir()
    res = ft("verify", out, "--json")
    assert res.returncode == 7
    unlisted = [p for p in json.loads(res.stdout)["problems"] if p["status"] == "unlisted"]
    assert sorted(p["path"] for p in unlisted) == sorted(["notes/", (item / "extra").relative_to(out).as_posix() + "/"])
    assert all("folder" in p["expected"] for p in unlisted)
    (item / "extra").rmdir()
    (out / "notes").rmdir()
    for f in item.iterdir():
        f.unlink()
    problems = json.loads(ft("verify", out, "--json").stdout)["problems"]
    assert problems and {p["status"] for p in problems} == {"missing"}


@pytest.mark.parametrize("plant", ["symlink_to_input", "fifo"])
def test_12_rescan_replaces_a_link_or_fifo_planted_at_an_output(scanned: tuple[Path, Path], plant: str) -> None:
    """RESULTS is the scan's own folder: what was planted at an item's output path is removed and
    the output written again (the link's target, here the evidence, is never touched), while an
    analyst's own output paths refuse links and FIFOs (the test below)."""
    src, out = scanned
    before = snapshot(src)
    overlay = next(out.glob("items/*/*.overlay.png"))
    overlay.unlink()
    if plant == "fifo":
        os.mkfifo(overlay)
    else:
        overlay.symlink_to(next(src.glob("*.jpg")))
    res = _scan(src, out)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["counts"]["redone"] == 1
    assert overlay.is_file() and not overlay.is_symlink()
    assert ft("verify", out, "--require-inputs").returncode == 0 and snapshot(src) == before


@pytest.mark.parametrize("what", ["fifo", "symlink", "dangling_symlink", "empty", "folder_slash"])
def test_12_outputs_never_replace_links_fifos_or_nameless_paths(ev: Path, tmp_path: Path, what: str) -> None:
    """The atomic rename replaced whatever stood at an output path: run as root, --report
    /dev/stdout replaced the system's symlink and --json-out /dev/null the device. Refused now,
    before anything runs (a FIFO stands in for a device: making one needs no privileges)."""
    target = tmp_path / "other.txt"
    target.write_text("someone else's file")
    out = {"fifo": tmp_path / "pipe", "symlink": tmp_path / "link.pdf", "dangling_symlink": tmp_path / "dangling.pdf",
           "empty": "", "folder_slash": f"{tmp_path}{os.sep}"}[what]
    if what == "fifo":
        os.mkfifo(out)
    elif what == "symlink":
        out.symlink_to(target)
    elif what == "dangling_symlink":
        out.symlink_to(tmp_path / "nowhere.pdf")
    before = snapshot(tmp_path)
    res = ft("analyze", ev, "--report", out, *EVIDENCE)
    assert res.returncode == 2
    assert any(w in one_line_error(res) for w in ("FIFO", "symbolic link", "names no file", "directory"))
    assert snapshot(tmp_path) == before


def test_12_analyze_never_overwrites_a_file_it_did_not_write(ev: Path, tmp_path: Path) -> None:
    """--report notes.pdf or --overlay exhibit2.png silently replaced those files; now refused
    (exit 2, nothing written), while a re-run over the command's own outputs still works."""
    notes, other = tmp_path / "notes.pdf", tmp_path / "exhibit2.png"
    notes.write_text("the examiner's notes")
    shutil.copyfile(REPO / "examples" / "astronaut.png", other)
    before = snapshot(tmp_path)
    for args in (("--report", notes), ("--report", tmp_path / "r.pdf", "--overlay", other)):
        res = ft("analyze", ev, *args, *EVIDENCE)
        assert res.returncode == 2 and "not a forgetalk output" in one_line_error(res)
        assert snapshot(tmp_path) == before
    for _ in range(2):
        res = ft("analyze", ev, "--report", tmp_path / "r.pdf", "--summary", tmp_path / "t.pdf", *EVIDENCE)
        assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("delay", [0.15, 0.4])
def test_12_ctrl_c_in_analyze_is_one_line_exit_130_and_writes_nothing(ev: Path, tmp_path: Path, delay: float) -> None:
    """Ctrl-C used to give a blank line, "error: aborted" and exit 1 (or a traceback while the
    CLI was still importing); now exit 130, as for scan, and no partial set of outputs."""
    proc = subprocess.Popen([*ENTRY, "analyze", str(ev), "--report", str(tmp_path / "out" / "r.pdf"), *EVIDENCE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), preexec_fn=_ctrl_c_as_in_a_terminal)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and [ln for ln in err.splitlines() if ln.strip()] == ["error: interrupted"]
    assert not (tmp_path / "out").exists()


def test_12_a_run_started_with_ctrl_c_ignored_keeps_ignoring_it(ev: Path, tmp_path: Path) -> None:
    """A script's background job starts with SIGINT ignored so that the script's Ctrl-C does not
    stop it; the console script installed its own handler over that and stopped with exit 130.
    Now it keeps the signal ignored, as Python does, and finishes its work."""
    proc = subprocess.Popen([*ENTRY, "analyze", str(ev), "--report", str(tmp_path / "out" / "r.pdf"), *EVIDENCE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    for delay in (0.5, 0.5):  # after the handler used to be installed, and again while analysing
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (tmp_path / "out" / "r.pdf").is_file()


_SWALLOWING_IMPORT = """
import importlib.abc, importlib.util, os, signal, sys
how, module = sys.argv[1], sys.argv[2]
class Loader(importlib.abc.Loader):
    def create_module(self, spec):
        return None
    def exec_module(self, mod):
        if how == 'imported':  # Ctrl-C lands while the module imports
            os.kill(os.getpid(), signal.SIGINT)
        else:  # ...inside a C extension's import, which prints it and raises a bare ImportError
            try:
                os.kill(os.getpid(), signal.SIGINT)
                sum(range(1000))
            except KeyboardInterrupt:
                pass
            raise ImportError('numpy.core.multiarray failed to import')
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, Loader()) if name == module else None
sys.meta_path.insert(0, Finder())
sys.argv = ['forgetalk', *sys.argv[3:]]
from forgetalk.entry import run
run()
"""


@pytest.mark.parametrize("how", ["swallowed", "imported"])
@pytest.mark.parametrize("module", ["forgetalk.cli", "forgetalk.pipeline"])
def test_12_ctrl_c_during_an_import_is_exit_130_even_when_an_extension_swallows_it(ev: Path, tmp_path: Path, how: str,
                                                                                    module: str) -> None:
    """CI caught Ctrl-C landing inside numpy's C import (under OpenCV, imported when analyze
    starts): numpy printed the KeyboardInterrupt and raised a bare ImportError, so the chain held
    no interrupt and the command exited 1 with a traceback. Ctrl-C is now counted by the console
    script's handler; this lands it in the CLI's import and in the analysis pipeline's."""
    args = ["analyze", str(ev), "--report", str(tmp_path / "out" / "r.pdf"), *EVIDENCE]
    res = subprocess.run([sys.executable, "-c", _SWALLOWING_IMPORT, how, module, *args], capture_output=True, text=True,
                         env=_env(), timeout=120, preexec_fn=_ctrl_c_as_in_a_terminal)
    assert res.returncode == 130, res.stderr
    assert res.stderr == "error: interrupted\n" and res.stdout == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_12_ctrl_c_to_the_process_group_while_workers_start_is_one_line(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group. While a `-j 2` scan's workers were
    still starting their interpreters, they printed "Fatal Python error: init_import_site" and a
    traceback under the scan's own line. Workers now start with SIGINT blocked and ignore it."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        shutil.copyfile(GRACE, src / f"g{i}.jpg")
    for delay in (0.3, 0.5, 0.7, 0.9, 1.2):
        out = tmp_path / f"out{delay}"
        proc = subprocess.Popen([sys.executable, "-m", "forgetalk", "scan", str(src), "--out", str(out), "-j", "2", *EVIDENCE], env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                preexec_fn=_ctrl_c_as_in_a_terminal)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert "Traceback" not in err and "Fatal Python error" not in err, (delay, err)
        assert proc.returncode in (0, 130) and len(lines) <= 1, (delay, proc.returncode, err)


def test_12_ctrl_c_after_the_command_is_done_changes_nothing() -> None:
    """A terminal's Ctrl-C that met a short scan's exit killed the finished process silently
    (status -2 instead of 0, seen in CI): Python's shutdown had put SIGINT back to the default
    action. The console script ignores Ctrl-C once its command is over; here the Ctrl-C is sent
    from the last exit handler, when the old handler would have raised in the middle of shutdown."""
    code = ("import atexit, os, signal, sys\n"
            "atexit.register(os.kill, os.getpid(), signal.SIGINT)\n"  # registered first, so it runs last
            "sys.argv = ['forgetalk', '--version']\n"
            "from forgetalk.entry import run\n"
            "run()\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120,
                         preexec_fn=_ctrl_c_as_in_a_terminal)
    assert res.returncode == 0 and res.stderr == "", (res.returncode, res.stderr)
    assert "forgetalk" in res.stdout


def test_12_only_a_closed_stdout_is_a_quiet_broken_pipe(tmp_path: Path) -> None:
    """Every BrokenPipeError used to be re-raised for Click to exit 1 silently, so a worker
    pool's broken pipe left a scan with no message at all; only stdout's reader leaving is quiet now."""
    probe = "import sys, time; time.sleep(0.5); from forgetalk.cli import _stdout_gone; sys.stderr.write(repr(_stdout_gone()))"
    proc = subprocess.Popen([sys.executable, "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    proc.stdout.close()  # the reader of `forgetalk ... | head` goes away
    assert proc.stderr.read() == "True" and proc.wait(timeout=60) == 0
    with open(tmp_path / "out.txt", "w") as fh:
        res = subprocess.run([sys.executable, "-c", probe], stdout=fh, stderr=subprocess.PIPE, text=True, env=_env(), timeout=60)
    assert res.stderr == "False"


def test_12_one_pixel_image_is_too_small_not_corrupt(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    res = ft("analyze", tmp_path / "dot.png", *EVIDENCE)
    assert res.returncode == 3 and "1x1 pixels, too small" in one_line_error(res)


def test_12_a_folder_given_to_analyze_is_an_unusable_input(tmp_path: Path) -> None:
    res = ft("analyze", tmp_path, *EVIDENCE)
    assert res.returncode == 3 and "forgetalk scan" in one_line_error(res)


def test_12_analyze_never_writes_into_scan_results(scanned: tuple[Path, Path], ev: Path) -> None:
    """--json-out RESULTS/manifest.json replaced a scan's manifest (it is a forgetalk file too)."""
    _, out = scanned
    before = snapshot(out)
    for args in (("--json-out", out / "manifest.json"), ("--report", out / "summary.pdf"), ("--report", out / "items" / "new.pdf")):
        res = ft("analyze", ev, *args, *EVIDENCE)
        assert res.returncode == 2 and "inside the scan results" in one_line_error(res)
    assert snapshot(out) == before and ft("verify", out).returncode == 0


@pytest.mark.parametrize("plant", ["item_folder", "items", "journal"])
def test_12_scan_never_writes_through_a_link_planted_in_results(tmp_path: Path, plant: str) -> None:
    """A symbolic link planted in RESULTS pointing at the evidence folder had the re-run write
    sidecars over evidence (item folder), delete the evidence's .part files, or append journal
    records to an evidence file. Now links are removed (item folders) or refused (the journal)."""
    src, out = tmp_path / "in", tmp_path / "res"
    make_faces(src, 1, size=128)
    assert _scan(src, out).returncode == 0
    (src / "face_000.json").write_text("the phone's own sidecar")
    (src / ".x.jpg.part").write_text("evidence too")
    (src / "notes.dat").write_text("")
    before = snapshot(src)
    item = next((out / "items").iterdir())
    if plant == "item_folder":
        shutil.rmtree(item)
        item.symlink_to(src)
    elif plant == "items":
        shutil.rmtree(out / "items")
        (out / "items").symlink_to(src)
    else:
        (out / "journal.jsonl").unlink()
        (out / "journal.jsonl").symlink_to(src / "notes.dat")
    res = _scan(src, out)
    assert snapshot(src) == before, res.stderr
    if plant == "journal":
        assert res.returncode == 2 and "symbolic link" in one_line_error(res)
    else:
        assert res.returncode == 0, res.stderr
        assert not (out / "items").is_symlink() and not any(p.is_symlink() for p in (out / "items").iterdir())


# --------------------------------------------------------------------------- README promises


@pytest.mark.slow
def test_readme_evidence_is_never_modified(tmp_path: Path) -> None:
    """`analyze` and `scan` leave every input byte, mtime and folder listing as it was."""
    src = tmp_path / "evidence"
    make_faces(src, 2, size=256)
    shutil.copyfile(GRACE, src / "grace.jpg")
    os.chmod(src / "grace.jpg", 0o444)
    before = snapshot(src)
    res = ft("analyze", src / "grace.jpg", "--report", tmp_path / "out" / "r.pdf", *EVIDENCE)
    assert res.returncode == 0, res.stderr
    assert _scan(src, tmp_path / "results").returncode == 0
    assert snapshot(src) == before
    doc = json.loads((tmp_path / "out" / "r.json").read_text())
    assert doc["input"]["sha256"] == doc["input"]["sha256_after"] == before["grace.jpg"][0]


def _interrupted_scan(tmp_path: Path) -> int:
    src, out = tmp_path / "slow", tmp_path / "slow-results"
    make_faces(src, 6, size=128)
    proc = subprocess.Popen([*CLI, "scan", str(src), "--out", str(out), *FAKE_SCAN], env=_env(FORGETALK_FAKE_DELAY="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    deadline = time.monotonic() + 60
    while not (out / "journal.jsonl").exists() or '"type":"item"' not in (out / "journal.jsonl").read_text():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "re-run" in err, (proc.returncode, err)
    return proc.returncode


@pytest.mark.slow
def test_readme_every_exit_code(ev: Path, tmp_path: Path, scanned: tuple[Path, Path]) -> None:
    """Each code of the README's exit-code table, produced by the situation it documents."""
    src, out = scanned
    Image.new("RGB", (200, 160), (120, 130, 140)).save(tmp_path / "blank.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "afile").write_text("x")
    noweights = _weights_copy(tmp_path, "evidence")  # a user copy of the evidence weights missing its calibration
    (noweights / "evidence" / "calibration.npz").unlink()
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copyfile(ev, broken / "ok.jpg")
    (broken / "bad.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 300)
    expected = {
        0: ft("analyze", ev, "--report", tmp_path / "r0.pdf", *EVIDENCE),
        1: _scan(broken, tmp_path / "r1"),
        2: ft("analyze", ev, "--engine", "no-such-engine", "--no-progress"),
        3: ft("analyze", tmp_path / "empty.jpg", *EVIDENCE),
        4: ft("analyze", tmp_path / "blank.png", "--report", tmp_path / "r4.pdf", *EVIDENCE),
        5: ft("analyze", ev, *EVIDENCE, FORGETALK_WEIGHTS=str(noweights)),
        6: ft("analyze", ev, "--report", tmp_path / "afile" / "r.pdf", *EVIDENCE),
    }
    for code, res in expected.items():
        assert res.returncode == code, (code, res.stderr)
        assert "Traceback" not in res.stderr
    assert (tmp_path / "r4.pdf").is_file()  # no face: a report is still written
    (sorted(src.iterdir())[0]).write_bytes(b"changed")
    assert ft("verify", out).returncode == 7
    assert _interrupted_scan(tmp_path) == 130
