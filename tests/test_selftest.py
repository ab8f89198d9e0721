"""The known-answer self-test: the shipped installation passes it, and every kind of difference it
exists to catch fails it (a moved score or heat, another first region, a changed reference photo,
other weights), through the API and the CLI, where a failure stops `analyze` before the evidence."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from _helpers import run_cli

import forgetalk.selftest as st
from forgetalk.errors import SelfTestError
from forgetalk.pipeline import Analyzer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(st.self_test_options())


def _copy(tmp_path: Path, edit=None) -> Path:  # noqa: ANN001
    """The reference folder copied, its answers edited by ``edit(doc)``."""
    folder = tmp_path / "ref"
    folder.mkdir()
    for name in (*st.REFERENCE_PHOTOS, st.ANSWERS_NAME):
        shutil.copyfile(EXAMPLES / name, folder / name)
    if edit is not None:
        doc = json.loads((folder / st.ANSWERS_NAME).read_text())
        edit(doc)
        (folder / st.ANSWERS_NAME).write_text(json.dumps(doc))
    return folder


def test_the_shipped_installation_reproduces_its_known_answers(analyzer: Analyzer) -> None:
    """Also the guard that the answers are re-recorded when the shipped weights change
    (`python -m forgetalk.selftest --record`): recorded with other weights, they are not comparable."""
    r = st.run_self_test(analyzer)
    assert r.status == "passed", r.problems
    assert r.images == len(st.REFERENCE_PHOTOS) == 4 and r.faces == 4 and not r.problems
    assert r.max_score_diff is not None and r.max_score_diff < 1e-5 and r.max_heat_diff is not None and r.max_heat_diff < 1e-4
    assert "passed on the CPU: 4 reference photos, 4 faces" in r.describe()
    assert st.require_passed(r) is r


def test_a_moved_score_fails(analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch) -> None:
    import forgetalk.engines.fused as fused

    real = fused.face_score
    monkeypatch.setattr(fused, "face_score", lambda feats, cal: min(real(feats, cal) + 0.05, 1.0))
    r = st.run_self_test(analyzer)
    assert r.status == "failed" and r.max_score_diff is not None and r.max_score_diff > 0.04
    assert "score" in r.problems[0] and "recorded" in r.problems[0]
    with pytest.raises(SelfTestError, match="known-answer self-test failed: .*nothing was analysed"):
        st.require_passed(r)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["photos"]["grace_hopper.jpg"]["faces"][0].update(heat=[[v + 0.05 for v in row] for row in d["photos"]["grace_hopper.jpg"]["faces"][0]["heat"]]),
     "grace_hopper.jpg face 1: heat differs from the recorded heat by 0.050 on average"),
    (lambda d: d["photos"]["grace_hopper_nose_swap.jpg"]["faces"][0].update(first_region="mouth"),
     "grace_hopper_nose_swap.jpg face 1: first region nose, recorded mouth"),
    (lambda d: d["photos"]["grace_hopper.jpg"]["faces"][0].update(verdict="likely manipulated"),
     "grace_hopper.jpg face 1: verdict 'no evidence of manipulation found', recorded 'likely manipulated'"),
    (lambda d: d["photos"]["grace_hopper.jpg"]["faces"].append(d["photos"]["grace_hopper.jpg"]["faces"][0]),
     "grace_hopper.jpg: 1 face(s) found, 2 recorded"),
])
def test_answers_that_differ_fail(analyzer: Analyzer, tmp_path: Path, edit, expected: str) -> None:  # noqa: ANN001
    r = st.run_self_test(analyzer, _copy(tmp_path, edit), pinned=None)
    assert r.status == "failed" and r.problems == (expected,)


def test_a_changed_reference_photo_fails(analyzer: Analyzer, tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    with open(folder / "grace_hopper.jpg", "ab") as fh:  # still a readable JPEG, no longer the recorded one
        fh.write(b"\0")
    r = st.run_self_test(analyzer, folder)
    assert r.status == "failed" and r.problems[0].startswith("grace_hopper.jpg: the reference photo is not the recorded one (sha256 ")


def test_answers_recorded_with_other_weights_are_not_comparable(analyzer: Analyzer, tmp_path: Path) -> None:
    r = st.run_self_test(analyzer, _copy(tmp_path, lambda d: d["models"].update({"localizer.sha256": "0" * 64})), pinned=None)
    assert r.status == "not comparable" and not r.passed and r.faces == 0
    assert r.problems == ("the engine's models are not the ones the answers were recorded with (localizer.sha256)",)


@pytest.mark.parametrize("content", [None, b"{not json", b'{"schema": "other/1", "photos": {}}'])
def test_no_usable_answers_is_one_line(tmp_path: Path, content: bytes | None) -> None:
    folder = _copy(tmp_path)
    if content is None:
        (folder / st.ANSWERS_NAME).unlink()
    else:
        (folder / st.ANSWERS_NAME).write_bytes(content)
    with pytest.raises(SelfTestError, match=r"^known-answer self-test: .*known_answers.json (cannot be read|is not a usable forgetalk.known-answers/1 file)"):
        st.run_self_test(None, folder, pinned=None)


def test_the_released_answers_are_pinned_and_an_edited_file_is_refused(tmp_path: Path) -> None:
    """(hostile pass) The answers decided what a pass is: an emptied file passed "0 reference
    photos", a tolerance of 1e9 or a NaN score passed anything. The released file is pinned by
    its sha256 in the code (re-record with `python -m forgetalk.selftest --record` and update
    ANSWERS_SHA256 when the shipped weights change)."""
    import hashlib

    assert hashlib.sha256((EXAMPLES / st.ANSWERS_NAME).read_bytes()).hexdigest() == st.ANSWERS_SHA256, \
        "examples/known_answers.json changed: re-record it and set ANSWERS_SHA256 in forgetalk/selftest.py"
    folder = _copy(tmp_path, lambda d: d.update(photos={}))
    with pytest.raises(SelfTestError, match=r"known_answers.json is not the answers file this forgetalk was released with \(sha256 [0-9a-f]{64}, expected "):
        st.run_self_test(None, folder)


@pytest.mark.parametrize(("edit", "why"), [
    (lambda d: d.update(photos={}), "the photos must be exactly grace_hopper.jpg"),
    (lambda d: d["photos"].pop("grace_hopper.jpg"), "the photos must be exactly"),
    (lambda d: d["photos"].update({"/etc/hostname": d["photos"]["grace_hopper.jpg"]}), "the photos must be exactly"),
    (lambda d: d.update(score_tolerance=1e9), "other tolerances than this code's (0.02, 0.02)"),
    (lambda d: d["photos"]["grace_hopper.jpg"]["faces"][0].update(score=float("nan")), "a face without a finite score"),
    (lambda d: d["photos"]["grace_hopper.jpg"]["faces"][0].update(score="abc"), "a face without a finite score"),
    (lambda d: d["photos"]["grace_hopper.jpg"]["faces"][0].pop("verdict"), "a face without a finite score, a verdict"),
    (lambda d: d["photos"]["grace_hopper.jpg"]["faces"][0].update(heat=[]), "heat is not a 16 x 16 grid of finite numbers"),
    (lambda d: d["photos"]["grace_hopper.jpg"]["faces"][0].update(heat=[[float("nan")] * 16] * 16), "heat is not a 16 x 16 grid"),
    (lambda d: d["photos"]["grace_hopper.jpg"].update(faces={"a": 1}), "no sha256 or no faces"),
    (lambda d: d["photos"].update({"grace_hopper.jpg": [1]}), "no sha256 or no faces"),
])
def test_malformed_answers_are_one_line_not_a_pass_or_a_traceback(tmp_path: Path, edit, why: str) -> None:  # noqa: ANN001
    with pytest.raises(SelfTestError, match=re.escape(why)):
        st.run_self_test(None, _copy(tmp_path, edit), pinned=None)


def test_cli_selftest_and_analyze_self_test_record_it(tmp_path: Path) -> None:
    from test_render import pdf_text

    code, out, _ = run_cli("selftest", "--no-progress")
    assert code == 0 and out.startswith("known-answer self-test passed on the CPU: 4 reference photos")
    code, out, _ = run_cli("selftest", "--json")
    assert code == 0 and json.loads(out)["self_test"]["status"] == "passed"
    report = tmp_path / "case.pdf"
    code, out, err = run_cli("analyze", str(EXAMPLES / "grace_hopper_mouth_swap.jpg"), "--report", str(report), "--self-test", "--no-progress")
    assert code == 0, err
    assert "known-answer self-test passed" in out
    sidecar = json.loads((tmp_path / "case.json").read_text())
    assert sidecar["self_test"]["status"] == "passed" and len(sidecar["self_test"]["answers_sha256"]) == 64
    text = " ".join(pdf_text(report.read_bytes()).split())
    assert "Known-answer self-test passed on the CPU: 4 reference photos" in text and "self-test known-answer" not in text
    # the differences are printed in the JSON's precision (3.7e-07 there read as 0.0)
    st_json = sidecar["self_test"]
    assert (st_json["max_score_diff"] == 0.0) == ("largest difference under 0.000001" in text)
    plain = tmp_path / "plain.json"
    assert run_cli("analyze", str(EXAMPLES / "grace_hopper.jpg"), "--json-out", str(plain), "--no-progress")[0] == 0
    assert json.loads(plain.read_text())["self_test"] is None


def test_a_failed_self_test_stops_analyze_before_the_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy(tmp_path, lambda d: d["photos"]["grace_hopper.jpg"]["faces"][0].update(score=0.1))
    monkeypatch.setattr(st, "reference_dir", lambda: folder)
    monkeypatch.setattr(st, "ANSWERS_SHA256", hashlib.sha256((folder / st.ANSWERS_NAME).read_bytes()).hexdigest())
    out = tmp_path / "out"
    code, stdout, err = run_cli("analyze", str(EXAMPLES / "grace_hopper.jpg"), "--report", str(out / "r.pdf"), "--self-test", "--no-progress")
    assert code == 8 and not out.exists()
    real = json.loads((EXAMPLES / st.ANSWERS_NAME).read_text())["photos"]["grace_hopper.jpg"]["faces"][0]["score"]
    assert err.strip().splitlines() == [f"error: known-answer self-test failed: grace_hopper.jpg face 1: score {real:.3f}, recorded 0.100; "
                                        "nothing was analysed (`forgetalk selftest` lists every difference)"]
    code, stdout, err = run_cli("selftest", "--json")
    assert code == 8 and json.loads(stdout)["exit_code"] == 8 and json.loads(stdout)["self_test"]["status"] == "failed"
    assert err.strip().splitlines() == [f"error: known-answer self-test failed: grace_hopper.jpg face 1: score {real:.3f}, recorded 0.100"]


def test_self_test_is_refused_for_an_engine_without_answers(tmp_path: Path) -> None:
    code, _, err = run_cli("analyze", str(EXAMPLES / "grace_hopper.jpg"), "--engine", "evidence", "--self-test", "--json-out", str(tmp_path / "r.json"))
    assert code == 2 and "known answers are recorded for engine fused with face backend default only" in err
    assert not (tmp_path / "r.json").exists()


def test_scan_self_test_is_recorded_in_the_run_line_the_index_and_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_render import pdf_text

    evidence = tmp_path / "in"
    evidence.mkdir()
    shutil.copyfile(EXAMPLES / "grace_hopper_nose_swap.jpg", evidence / "a.jpg")
    out = tmp_path / "res"
    code, _, err = run_cli("scan", str(evidence), "--out", str(out), "--self-test", "--workers", "0", "--no-progress")
    assert code == 0, err
    assert "known-answer self-test passed" in err
    index = json.loads((out / "index.json").read_text())
    assert index["self_test"]["status"] == "passed"
    item = next((out / "items").rglob("*.json"))  # each item's sidecar carries it too (an item's report is often handed on alone)
    assert json.loads(item.read_text())["self_test"]["answers_sha256"] == index["self_test"]["answers_sha256"]
    run_line = json.loads((out / "journal.jsonl").read_text().splitlines()[0])
    assert run_line["type"] == "run" and run_line["self_test"]["answers_sha256"] == index["self_test"]["answers_sha256"]
    summary = " ".join(pdf_text((out / "summary.pdf").read_bytes()).split())
    assert "Known-answer self-test passed on the CPU: 4 reference photos" in summary and "self-test known-answer" not in summary
    # a failed test stops the scan before RESULTS exists
    folder = _copy(tmp_path, lambda d: d["photos"]["grace_hopper.jpg"]["faces"][0].update(first_region="chin"))
    monkeypatch.setattr(st, "reference_dir", lambda: folder)
    monkeypatch.setattr(st, "ANSWERS_SHA256", hashlib.sha256((folder / st.ANSWERS_NAME).read_bytes()).hexdigest())
    code, _, err = run_cli("scan", str(evidence), "--out", str(tmp_path / "res2"), "--self-test", "--workers", "0", "--no-progress")
    assert code == 8 and not (tmp_path / "res2").exists()
    assert err.strip().splitlines()[-1].startswith("error: known-answer self-test failed: grace_hopper.jpg face 1: first region left_eye, recorded chin")


def test_a_wheel_installs_the_reference_set_where_the_self_test_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """setup.cfg's data_files name every file the test reads, and an install without a checkout
    (``<prefix>/share/forgetalk/examples``) is found."""
    import configparser
    import sys

    import forgetalk.weights as w

    cfg = configparser.ConfigParser()
    cfg.read(EXAMPLES.parent / "setup.cfg")
    listed = {Path(f.strip()).name for f in cfg["options.data_files"]["share/forgetalk/examples"].split(",")}
    assert listed == {*st.REFERENCE_PHOTOS, st.ANSWERS_NAME}
    installed = tmp_path / "prefix" / "share" / "forgetalk" / "examples"
    installed.mkdir(parents=True)
    monkeypatch.setattr(w, "_CHECKOUT_WEIGHTS", tmp_path / "no-checkout" / "weights")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    assert st.reference_dir() == installed.resolve()


def test_a_resumed_scan_says_which_runs_ran_the_self_test(tmp_path: Path) -> None:
    """(hostile pass) A scan resumed with --self-test after a run without it made the index and the
    summary say "passed" over results no test had preceded."""
    from test_render import pdf_text

    evidence = tmp_path / "in"
    evidence.mkdir()
    shutil.copyfile(EXAMPLES / "grace_hopper.jpg", evidence / "a.jpg")
    out = tmp_path / "res"
    assert run_cli("scan", str(evidence), "--out", str(out), "--workers", "0", "--no-progress")[0] == 0
    shutil.copyfile(EXAMPLES / "grace_hopper_nose_swap.jpg", evidence / "b.jpg")
    code, _, err = run_cli("scan", str(evidence), "--out", str(out), "--self-test", "--workers", "0", "--no-progress")
    assert code == 0, err
    index = json.loads((out / "index.json").read_text())
    first, second = index["self_tests_by_run"]
    assert (first["items"], first["self_test"], second["items"], second["self_test"]) == (1, None, 1, "passed")
    assert second["run_id"] == index["run_id"] and index["self_test"]["status"] == "passed"
    text = " ".join(pdf_text((out / "summary.pdf").read_bytes()).split())
    assert f"{first['run_id']}, 1 item(s): self-test not run; {second['run_id']}, 1 item(s): passed" in text
