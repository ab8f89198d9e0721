"""SIGKILL a real `forgetalk scan` mid-way, re-run it, and check nothing was lost or doubled."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _helpers import FAKE_ENGINE, FAKE_ENGINE_MODULE, make_faces
from PIL import Image

TESTS = Path(__file__).resolve().parent


def _cmd(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "forgetalk.cli", "scan", str(src), "--out", str(out), "--engine", FAKE_ENGINE,
            "--preload", FAKE_ENGINE_MODULE, "--workers", "2", "--no-progress", "--json"]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def _journal_items(out: Path) -> list[dict]:
    path = out / "journal.jsonl"
    if not path.exists():
        return []
    items = []
    for line in path.read_bytes().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a torn last line is allowed after SIGKILL
        if rec.get("type") == "item":
            items.append(rec)
    return items


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigkill_midway_then_resume(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "results"
    faces = make_faces(src, 14, size=256)
    shutil.copyfile(faces[3], src / "zz_duplicate.jpg")
    (src / "zz_corrupt.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(500))
    Image.new("RGB", (200, 200), (90, 90, 90)).save(src / "zz_blank.png")
    unique = {hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir()}
    assert len(unique) == 16

    log = open(tmp_path / "killed.log", "wb")
    proc = subprocess.Popen(_cmd(src, out), env=_env(FORGETALK_FAKE_DELAY="0.4"), stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while len(_journal_items(out)) < 4:
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()
            assert time.monotonic() < deadline, "scan made no progress"
            time.sleep(0.05)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # only the parent: its workers must notice and exit
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    done_before = {r["sha256"] for r in _journal_items(out)}
    assert 4 <= len(done_before) < 16, "the kill must land mid-way"
    assert not (out / "index.json").exists() and not (out / "manifest.json").exists()
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers):
        assert time.monotonic() < deadline, "orphaned workers kept running after the scan was killed"
        time.sleep(0.1)

    res = subprocess.run(_cmd(src, out), env=_env(), capture_output=True, timeout=240)
    assert res.returncode == 1, res.stderr.decode(errors="replace")[-3000:]  # exit 1: the corrupt file
    summary = json.loads(res.stdout.decode().strip().splitlines()[-1])
    assert summary["counts"]["resumed_from_journal"] == len(done_before)
    assert summary["counts"]["analysed_this_run"] == 16 - len(done_before)

    # Every unique file analysed (journaled) exactly once across both runs.
    items = _journal_items(out)
    shas = [r["sha256"] for r in items]
    assert sorted(shas) == sorted(unique)
    index = json.loads((out / "index.json").read_text())["items"]
    assert len(index) == 17
    status = {r["file"]: r["status"] for r in index}
    assert status["zz_corrupt.jpg"] == "failed" and status["zz_blank.png"] == "no_face"
    assert sum(s == "analysed" for s in status.values()) == 15
    assert next(r for r in index if r["file"] == "zz_duplicate.jpg")["duplicate_of"] == "face_003.jpg"

    # No corrupt output: no temp files, every JSON parses, every PNG decodes, hashes match the journal.
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    for rec in items:
        for o in (rec.get("outputs") or {}).values():
            p = out / o["path"]
            assert hashlib.sha256(p.read_bytes()).hexdigest() == o["sha256"], p
            if p.suffix == ".json":
                assert json.loads(p.read_text())["input"]["sha256"] == rec["sha256"]
            else:
                with Image.open(p) as im:
                    im.load()
    ver = subprocess.run([sys.executable, "-m", "forgetalk.cli", "verify", str(out)], env=_env(), capture_output=True, timeout=60)
    assert ver.returncode == 0, ver.stdout.decode()


def test_sigterm_midway_is_an_interrupt_then_resume(tmp_path: Path) -> None:
    """SIGTERM (``kill``, ``timeout``, a batch scheduler) ends a scan like Ctrl-C: one ``error:``
    line, exit 130, workers shut down; the re-run analyses exactly what was not journaled.

    Before, SIGTERM's default action killed the scan on the spot (status -15, no error line) and
    multiprocessing's resource tracker printed a "leaked semaphore objects" warning after it."""
    src, out = tmp_path / "in", tmp_path / "results"
    make_faces(src, 6, size=128)
    unique = {hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir()}
    cmd = [*_cmd(src, out)[:-4], "--workers", "1", "--no-progress", "--json"]
    proc = subprocess.Popen(cmd, env=_env(FORGETALK_FAKE_DELAY="0.5"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(_journal_items(out)) < 1:
            assert proc.poll() is None and time.monotonic() < deadline, "scan ended or made no progress before SIGTERM"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = stderr.decode(errors="replace")
    assert proc.returncode == 130, err
    assert [ln for ln in err.splitlines() if ln.strip()] == [ln for ln in err.splitlines() if ln.startswith("error: interrupted")], err
    assert json.loads(stdout.decode().splitlines()[-1])["exit_code"] == 130
    done_before = {r["sha256"] for r in _journal_items(out)}
    assert 1 <= len(done_before) < len(unique), "SIGTERM must land mid-way"

    res = subprocess.run(cmd, env=_env(), capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    counts = json.loads(res.stdout.decode().splitlines()[-1])["counts"]
    assert counts["resumed_from_journal"] == len(done_before) and counts["analysed_this_run"] == len(unique) - len(done_before)
    shas = [r["sha256"] for r in _journal_items(out)]
    assert sorted(shas) == sorted(unique)  # each file journaled exactly once across both runs
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
