"""End-to-end scan of a folder mixing good faces, bad files, duplicates and junk.

Uses the real face backend with a tiny fake engine (tests/_helpers.py) loaded
in the spawned workers through the hidden ``--preload`` option, so each scan takes seconds.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from _helpers import make_faces, scan_cli
from PIL import Image

from forgetalk.environment import source_digest

HOSTILE = "<b>&amp; face.jpg"  # must survive reportlab's paragraph markup in the summary PDF


def _mixed_folder(root: Path) -> Path:
    src = root / "in"
    faces = make_faces(src, 3)
    shutil.copyfile(make_faces(root / "tmp", 4)[3], src / HOSTILE)
    shutil.copyfile(faces[0], src / "z_copy_of_0.jpg")
    (src / "sub").mkdir()
    shutil.copyfile(faces[0], src / "sub" / "again.jpg")
    os.symlink(src, src / "sub" / "loop")
    (src / "corrupt.jpg").write_bytes(os.urandom(2048))
    (src / "truncated.jpg").write_bytes(Path(faces[1]).read_bytes()[:4000])
    (src / "empty.jpg").write_bytes(b"")
    (src / "=cmd.jpg").write_bytes(b"=1+1")  # spreadsheet formula injection through a file name
    Image.new("1", (20000, 20000)).save(src / "huge.png")  # 400 Mpx declared: decompression-bomb limit
    Image.new("RGB", (320, 320), (120, 130, 140)).save(src / "blank.png")  # valid image, no face
    (src / "notes.txt").write_text("not evidence")
    shutil.copyfile(faces[2], src / ".hidden.jpg")
    return src


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, dict]:
    root = tmp_path_factory.mktemp("scan")
    src = _mixed_folder(root)
    out = root / "results"
    code, summary, _ = scan_cli([str(src), "--out", str(out), "--recursive", "--workers", "1"])
    return src, out, code, summary


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "index.json").read_text())["items"]


def test_mixed_folder_index(scanned: tuple[Path, Path, int, dict]) -> None:
    src, out, code, summary = scanned
    assert code == 1, "bad files are failures: exit 1"
    by_file = {r["file"]: r for r in _rows(out)}
    assert set(by_file) == {"face_000.jpg", "face_001.jpg", "face_002.jpg", HOSTILE, "z_copy_of_0.jpg", "sub/again.jpg", "corrupt.jpg",
                            "truncated.jpg", "empty.jpg", "=cmd.jpg", "huge.png", "blank.png", "notes.txt", ".hidden.jpg", "sub/loop"}
    for name in ("face_000.jpg", "face_001.jpg", "face_002.jpg", HOSTILE):
        r = by_file[name]
        assert r["status"] == "analysed" and r["faces"] == 1 and r["top_region"] and 0.0 <= r["score"] <= 1.0
        assert (out / r["overlay"]).is_file() and json.loads((out / r["json"]).read_text())["input"]["sha256"] == r["sha256"]
    for name in ("z_copy_of_0.jpg", "sub/again.jpg"):
        assert by_file[name]["duplicate_of"] == "face_000.jpg" and by_file[name]["json"] == by_file["face_000.jpg"]["json"]
    assert by_file["blank.png"]["status"] == "no_face"
    expect_fail = {"corrupt.jpg": "not_an_image", "truncated.jpg": "truncated", "empty.jpg": "empty", "=cmd.jpg": "not_an_image", "huge.png": "too_large"}
    for name, kind in expect_fail.items():
        assert by_file[name]["status"] == "failed" and by_file[name]["error_kind"] == kind and by_file[name]["reason"], name
    for name in ("notes.txt", ".hidden.jpg", "sub/loop"):
        assert by_file[name]["status"] == "skipped"
    c = summary["counts"]
    assert (c["analysed"], c["no_face"], c["failed"], c["skipped"], c["duplicates"], c["unique_inputs"]) == (6, 1, 5, 3, 2, 10)
    # Analysed once per content: the journal has one record per unique input.
    items = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines() if '"type":"item"' in line]
    assert len(items) == len({i["sha256"] for i in items}) == 10


def test_index_sorted_by_suspicion_then_failures(scanned: tuple[Path, Path, int, dict]) -> None:
    _, out, _, _ = scanned
    rows = _rows(out)
    statuses = [r["status"] for r in rows]
    assert statuses == sorted(statuses, key=["analysed", "no_face", "failed", "skipped"].index)
    scores = [r["score"] for r in rows if r["status"] == "analysed"]
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    with open(out / "index.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["file"] for r in table] == [("'" + r["file"]) if r["file"].startswith("=") else r["file"] for r in rows]
    assert all(len(r["sha256"]) == 64 for r in table if r["status"] != "skipped")


def test_chain_of_custody_header_and_summary(scanned: tuple[Path, Path, int, dict]) -> None:
    src, out, _, _ = scanned
    header = json.loads((out / "index.json").read_text())
    assert header["tool_version"] and header["engine_info"]["name"] == "scantest" and header["face_backend"]
    assert header["tool_source"] == source_digest()  # the code, which the version string does not name
    run_line = json.loads(next(line for line in (out / "journal.jsonl").read_text().splitlines() if '"type":"run"' in line))
    assert run_line["tool_source"] == source_digest()
    assert header["parameters"]["analyze"]["engine"] == "scantest" and header["parameters"]["recursive"] is True
    assert "weights_manifests" in header and header["input_dir"] == str(src)
    pdf = (out / "summary.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    manifest = json.loads((out / "manifest.json").read_text())
    assert {o["kind"] for o in manifest["outputs"]} >= {"overlay", "json", "thumb", "index_csv", "index_json", "summary_pdf"}
    assert not list(out.rglob("*.part")), "no temp files left behind"


def test_rerun_skips_finished_and_refuses_other_parameters(scanned: tuple[Path, Path, int, dict]) -> None:
    src, out, _, _ = scanned
    before = {r["file"]: (r["status"], r["score"], r["sha256"]) for r in _rows(out)}
    code, summary, _ = scan_cli([str(src), "--out", str(out), "--recursive", "--workers", "1"])
    assert code == 1 and summary["counts"]["analysed_this_run"] == 0 and summary["counts"]["resumed_from_journal"] == 10
    assert {r["file"]: (r["status"], r["score"], r["sha256"]) for r in _rows(out)} == before
    code, summary, _ = scan_cli([str(src), "--out", str(out), "--recursive", "--pdf"])
    assert code == 2 and "different parameters" in summary["error"]


def test_retry_failed_reanalyses_only_failures(scanned: tuple[Path, Path, int, dict]) -> None:
    src, out, _, _ = scanned
    code, summary, _ = scan_cli([str(src), "--out", str(out), "--recursive", "--workers", "1", "--retry-failed"])
    assert code == 1 and summary["counts"]["analysed_this_run"] == 5 and summary["counts"]["failed"] == 5


def test_good_and_no_face_only_exit_zero(tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_faces(src, 2)
    Image.new("RGB", (300, 300), (200, 190, 180)).save(src / "wall.png")
    code, summary, _ = scan_cli([str(src), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert code == 0 and summary["counts"]["analysed"] == 2 and summary["counts"]["no_face"] == 1
    code, summary, _ = scan_cli([str(tmp_path / "nope"), "--out", str(tmp_path / "out2")])
    assert code == 2


def test_a_resume_by_other_code_says_the_index_mixes_two_programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tool_version is 0.1.0 whatever the code: a scan resumed after an update kept the earlier
    results under the same version string and said nothing. Now it names the earlier runs made by
    other code (the code digest each run line records), on stderr, in the summary and the index."""
    import forgetalk.scan.runner as runner

    src, out = tmp_path / "in", tmp_path / "out"
    make_faces(src, 2)
    code, first, err = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 0 and first["other_code_runs"] == [] and "other forgetalk code" not in err
    code, same, err = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 0 and same["other_code_runs"] == [] and "other forgetalk code" not in err
    monkeypatch.setattr(runner, "source_digest", lambda: {"sha256": "0" * 64, "files": 1})
    code, later, err = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 0 and later["other_code_runs"] == [first["run_id"], same["run_id"]]
    assert "2 earlier run(s) of these results used other forgetalk code" in err
    assert json.loads((out / "index.json").read_text())["other_code_runs"] == [first["run_id"], same["run_id"]]
    assert runner.other_code_runs([], runner.RunRecord(run_id="r", fingerprint="f")) == ()
    assert runner.other_code_runs([runner.RunRecord(run_id="old", fingerprint="f")], runner.RunRecord(run_id="r", fingerprint="f", tool_source={"sha256": "a"})) == ("old",)
    unknown = {"sha256": None, "files": 3, "error": "PermissionError"}  # (hostile pass) None == None is no evidence of the same code
    assert runner.other_code_runs([runner.RunRecord(run_id="u", fingerprint="f", tool_source=unknown)],
                                  runner.RunRecord(run_id="r", fingerprint="f", tool_source=unknown)) == ("u",)


def test_a_valid_1x1_png_is_too_small_not_corrupt(tmp_path: Path) -> None:
    """`analyze` says "image is 1x1 pixels, too small to hold a face"; the scan index called the same
    valid PNG `corrupt`."""
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (1, 1), (10, 20, 30)).save(src / "dot.png")
    Image.new("RGB", (1, 5), (10, 20, 30)).save(src / "truncated.png")  # the name must not decide the kind
    (src / "permission denied.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(64))
    out = tmp_path / "out"
    code, summary, _ = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 1 and summary["counts"]["failed"] == 3
    rows = {r["file"]: r for r in _rows(out)}
    assert rows["dot.png"]["status"] == "failed" and rows["dot.png"]["error_kind"] == "too_small", rows["dot.png"]
    assert "1x1 pixels, too small to hold a face" in rows["dot.png"]["reason"]
    assert rows["truncated.png"]["error_kind"] == "too_small"
    assert rows["permission denied.jpg"]["error_kind"] == "truncated", rows["permission denied.jpg"]  # was "unreadable"
    with open(out / "index.csv", newline="") as fh:
        assert {r["file"]: r["error_kind"] for r in csv.DictReader(fh)}["dot.png"] == "too_small"
    assert (out / "summary.pdf").read_bytes().startswith(b"%PDF")


def test_classify_error_reads_the_words_after_the_file_name() -> None:
    from forgetalk.errors import InputError
    from forgetalk.scan.worker import classify_error

    assert classify_error(InputError("/ev/a.png: image is 1x1 pixels, too small to hold a face"), "/ev/a.png") == "too_small"
    assert classify_error(InputError("/ev/a.png: image is 1x1 pixels, too small to hold a face")) == "too_small"
    name = "/ev/permission denied truncated.jpg"
    assert classify_error(InputError(f"{name}: corrupt image (broken PNG file)"), name) == "corrupt"
    assert classify_error(InputError(f"{name}: permission denied"), name) == "unreadable"


def test_running_out_of_memory_while_decoding_is_the_machines_state_not_a_corrupt_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """forgetalk.io turned a MemoryError while decoding into an input error: exit 3 ("not a usable
    image") from analyze, and `corrupt`, never retried, in a scan."""
    import forgetalk.io as fio
    from forgetalk.errors import EXIT_FAILED, OutOfMemory
    from forgetalk.scan.worker import classify_error

    def no_memory(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise MemoryError

    monkeypatch.setattr(fio, "_to_rgb8", no_memory)
    photo = tmp_path / "a.png"
    Image.new("RGB", (64, 64)).save(photo)
    with pytest.raises(OutOfMemory, match=r"a.png: not enough memory to decode 64x64 pixels \(lower --max-pixels") as caught:
        fio.load_image(photo)
    assert caught.value.exit_code == EXIT_FAILED and classify_error(caught.value, str(photo)) == "memory"


def test_a_scan_record_names_the_face_whose_score_is_the_images(tmp_path: Path) -> None:
    """A tiny background face with the highest score gave a scan row its thumbnail, top face and
    top region, while the row's score (the image score) was the large face's (hostile review)."""
    from dataclasses import replace

    from test_render import _with_faces, make_analysis

    from forgetalk.scan import worker
    from forgetalk.scan.worker import Task, WorkerConfig

    a = make_analysis(2, size=(400, 800))
    a = _with_faces(a, {}, {"score": 0.95, "face_size_px": 40.0}, verdict="likely manipulated", score=0.8)
    assert a.report.faces[0].score == 0.8 and a.report.faces[0].face_size_px >= 64
    monkey = worker._STATE.config
    try:
        worker._STATE.config = WorkerConfig(options=None, results_dir=str(tmp_path))
        rec = worker._write_outputs(Task(path=str(tmp_path / "x.jpg"), rel="x.jpg", sha256="ab" * 32, size=1), replace(a))
    finally:
        worker._STATE.config = monkey
    assert rec.top_face == 0 and rec.top_region == a.report.faces[0].regions[0].name and rec.score == 0.8
