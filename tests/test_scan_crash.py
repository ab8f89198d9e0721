"""A worker death is blamed on the file that caused it, never on the files in flight beside it.

The real-crash test runs a multi-worker scan whose workers import this module (``--preload
test_scan_crash``, as the other scan tests preload ``_helpers``). It registers a variant of the
fake engine that SIGKILLs its own worker process, as a native crash or an OOM kill would, when
it is handed a grayscale face (R == G == B in every pixel): only the poison photo is grayscale.
The colour photos are slowed down (``FORGETALK_FAKE_DELAY``, read by the fake engine) so that
they are certainly in flight when the poison file kills a worker. Before the fix, every file in
flight was retried together, the poison file killed the second pool too, and the colour photos
were recorded ``error/worker_crash`` with it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from _helpers import _FakeEngine, grace_hopper_path, make_faces, run_cli
from click.testing import CliRunner
from PIL import Image

from forgetalk.engines.base import register_engine
from forgetalk.scan.isolation import MAX_SOLO_CRASHES, CrashIsolation, Outcome
from forgetalk.scan.records import ScanRecord, Status
from forgetalk.scan.worker import Task

CRASH_ENGINE = "scancrash"
POISON = "a_poison.jpg"  # first in name order: submitted first, with the colour photos behind it


class _CrashEngine(_FakeEngine):
    name = CRASH_ENGINE

    def analyze_face(self, face: object):  # type: ignore[no-untyped-def]
        crop = np.asarray(face.crop)  # type: ignore[attr-defined]
        gray = np.array_equal(crop[..., 0], crop[..., 1]) and np.array_equal(crop[..., 1], crop[..., 2])
        if gray and multiprocessing.parent_process() is not None:  # a scan worker, never the test process itself
            os.kill(os.getpid(), signal.SIGKILL)
        return super().analyze_face(face)


register_engine(CRASH_ENGINE, "test-only: kills its worker process on a grayscale face")(_CrashEngine)


def _crash_scan(src: Path, out: Path, workers: int) -> tuple[int, dict]:
    from forgetalk.cli import main

    res = CliRunner().invoke(
        main,
        ["scan", str(src), "--out", str(out), "--engine", CRASH_ENGINE, "--preload", __name__, "--workers", str(workers),
         "--json", "--no-progress"],
        env={"FORGETALK_FAKE_DELAY": "1"}, catch_exceptions=False)
    lines = res.stdout.strip().splitlines()
    return res.exit_code, json.loads(lines[-1]) if lines else {}


@pytest.mark.slow
def test_worker_death_is_blamed_only_on_the_file_that_kills_it_alone(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    innocents = [Path(p).name for p in make_faces(src, 3)]
    Image.open(grace_hopper_path()).convert("L").save(src / POISON)

    code, summary = _crash_scan(src, out, workers=2)

    rows = {r["file"]: r for r in json.loads((out / "index.json").read_text())["items"]}
    assert rows[POISON]["status"] == "error" and rows[POISON]["error_kind"] == "worker_crash", rows[POISON]
    for name in innocents:  # in flight when the poison file killed the pool: retried alone, analysed normally
        assert (rows[name]["status"], rows[name]["error_kind"]) == ("analysed", None), rows[name]["reason"]
        assert rows[name]["overlay"] and (out / rows[name]["overlay"]).is_file()
    assert code == 1 and summary["counts"]["analysed"] == 3 and summary["counts"]["failed"] == 1
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    items = [r for r in journal if r.get("type") == "item"]
    assert sorted(r["rel"] for r in items) == sorted([POISON, *innocents])  # each journaled once
    assert run_cli("verify", str(out))[0] == 0


# ----------------------------------------------------------------------------- the policy, without processes


class _FakePool:
    """Like a process pool: one death fails every task in flight. ``poison`` names kill a worker."""

    def __init__(self, poison: set[str]) -> None:
        self.capacity = 4
        self.poison = poison
        self.running: list[Task] = []
        self.batches: list[list[str]] = []  # the files in flight each time the pool ran

    def submit(self, task: Task) -> None:
        self.running.append(task)

    def in_flight(self) -> int:
        return len(self.running)

    def next_done(self) -> list[tuple[Task, Outcome]]:
        batch, self.running = self.running, []
        self.batches.append(sorted(t.rel for t in batch))
        if any(t.rel in self.poison for t in batch):
            return [(t, None) for t in batch]
        return [(t, _ok(t)) for t in batch]

    def close(self, cancel: bool = False) -> None:
        pass


def _ok(task: Task) -> ScanRecord:
    return ScanRecord(status=Status.NO_FACE, verdict="no face found", score=0.0, faces=0, sha256=task.sha256, path=task.path, rel=task.rel,
                      size_bytes=task.size)


def _drive(backend: CrashIsolation, names: list[str]) -> dict[str, tuple[str, int]]:
    """The runner's loop: submit below capacity, else absorb; (status, attempt) per file."""
    got: dict[str, tuple[str, int]] = {}

    def absorb() -> None:
        for task, rec in backend.next_done():
            assert isinstance(rec, ScanRecord) and task.rel not in got
            got[task.rel] = (str(rec.status), task.attempt)

    for i, name in enumerate(names):
        while backend.in_flight() >= backend.capacity:
            absorb()
        backend.submit(Task(f"/in/{name}", name, f"{i:064x}", 1))
    while backend.in_flight():
        absorb()
    return got


def test_suspects_run_alone_and_only_a_file_that_dies_alone_twice_is_blamed() -> None:
    pool = _FakePool({"p.jpg"})
    got = _drive(CrashIsolation(pool), ["a.jpg", "p.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"])
    assert got["p.jpg"] == ("error", 1 + MAX_SOLO_CRASHES)  # with company once, then alone twice
    assert {n: s for n, (s, _) in got.items() if n != "p.jpg"} == dict.fromkeys(["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"], "no_face")
    first, *later = pool.batches
    assert first == ["a.jpg", "b.jpg", "c.jpg", "p.jpg"]
    suspects = later[: 4 + 1]  # the four taken down, each alone (the poison twice), before any new file is sent
    assert all(len(b) == 1 for b in suspects) and sorted(n for b in suspects for n in b) == ["a.jpg", "b.jpg", "c.jpg", "p.jpg", "p.jpg"]
    assert later[5:] == [["d.jpg", "e.jpg"]]  # held back until every suspect was cleared


def test_a_file_alone_from_the_start_is_blamed_after_two_deaths() -> None:
    pool = _FakePool({"p.jpg"})
    assert _drive(CrashIsolation(pool), ["p.jpg"]) == {"p.jpg": ("error", MAX_SOLO_CRASHES)}
    assert pool.batches == [["p.jpg"], ["p.jpg"]]
