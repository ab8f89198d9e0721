"""`forgetalk analyze` end to end through the CLI, on generated public-domain inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _helpers import run_cli
from PIL import Image

from forgetalk.errors import EXIT_BAD_INPUT, EXIT_NO_FACE, EXIT_OUTPUT

ENGINE = ["--engine", "evidence", "--no-progress"]


run = run_cli


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and "forgetalk" in out


def test_analyze_writes_pdf_overlay_json(grace_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "not" / "yet" / "there" / "case.pdf"
    code, out, err = run("analyze", str(grace_path), "--report", str(report), *ENGINE)
    assert code == 0, err
    overlay, sidecar = report.with_suffix(".overlay.png"), report.with_suffix(".json")
    assert report.read_bytes().startswith(b"%PDF")
    assert Image.open(overlay).size == (512, 600)
    doc = json.loads(sidecar.read_text())
    assert doc["input"]["sha256"] == doc["input"]["sha256_after"]
    assert doc["engine"] == "evidence" and doc["tool_version"]
    face = doc["faces"][0]
    # The evidence engine ships a region calibration: regions are ranked by the real-face
    # percentile shown ("suspicion"), ties (above every real face) by their excess over real faces,
    # then by raw saliency; all three are in the JSON.
    key = [(r["suspicion"], r["real_excess"], r["saliency"]) for r in face["regions"]]
    assert all(r["suspicion"] is not None and 0.0 <= r["suspicion"] <= 1.0 for r in face["regions"])
    assert key == sorted(key, reverse=True) and len(key) >= 10
    assert [r["rank"] for r in face["regions"]] == list(range(1, len(key) + 1))
    assert all(r["explanations"] for r in face["regions"])
    # no stray temporary files next to the outputs
    assert sorted(p.name for p in report.parent.iterdir()) == ["case.json", "case.overlay.png", "case.pdf"]
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(report))
    try:
        text = " ".join(" ".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf)))
    finally:
        pdf.close()
    assert doc["input"]["sha256"] in text
    assert face["regions"][0]["label"] in text
    assert "Heatmap over the" in text


def test_json_prints_result_on_stdout(grace_path: Path, tmp_path: Path) -> None:
    code, out, _ = run("analyze", "--json", str(grace_path), "--json-out", str(tmp_path / "r.json"), *ENGINE)
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "ok" and doc["report"]["faces"] and doc["outputs"]["json"] == str(tmp_path / "r.json")
    assert doc["report"]["faces"] == json.loads((tmp_path / "r.json").read_text())["faces"]


def test_deprecated_json_path_and_print_json_still_work(grace_path: Path, tmp_path: Path) -> None:
    """`analyze IMAGE --json PATH --print-json` (the old grammar) writes PATH and prints JSON, with warnings."""
    code, out, err = run("analyze", str(grace_path), "--json", str(tmp_path / "r.json"), "--print-json", *ENGINE)
    assert code == 0
    assert json.loads(out)["status"] == "ok" and (tmp_path / "r.json").is_file()
    assert "--json-out" in err and "deprecated" in err


def test_no_face_is_a_result_not_a_crash(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    img = (np.linspace(0, 255, 300)[None, :, None] * np.ones((200, 1, 3)) + rng.normal(0, 3, (200, 300, 3))).clip(0, 255).astype(np.uint8)
    p = tmp_path / "landscape.png"
    Image.fromarray(img).save(p)
    code, out, _ = run("analyze", str(p), "--report", str(tmp_path / "r.pdf"), *ENGINE)
    assert code == EXIT_NO_FACE
    assert "no face" in out
    assert json.loads((tmp_path / "r.json").read_text())["faces"] == []
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("hw", [(2, 2), (3, 3), (2, 20000), (1000, 2)])
def test_a_photo_of_a_few_pixels_is_a_no_face_result(hw: tuple[int, int], tmp_path: Path) -> None:
    """Too small or too thin for a face, yet over the 2 px "too small" floor: no face (exit 4) with
    its report, overlay and sidecar. Found by a hostile pass: 2 x 2 killed the process (SIGFPE in
    the overlay's legend), 3 x 3 and 1000 x 2 raised there, 2 x 20000 raised in the detector's
    downscaled pass (a strip with no rows left)."""
    p = tmp_path / "strip.png"
    Image.fromarray(np.full((*hw, 3), 128, np.uint8)).save(p)
    code, out, _ = run("analyze", str(p), "--report", str(tmp_path / "r.pdf"), *ENGINE)
    assert code == EXIT_NO_FACE and "no face" in out
    assert Image.open(tmp_path / "r.overlay.png").size == (hw[1], hw[0])
    assert json.loads((tmp_path / "r.json").read_text())["faces"] == []


def test_six_faces_are_all_analysed(grace_rgb: np.ndarray, tmp_path: Path) -> None:
    row = np.concatenate([grace_rgb] * 3, axis=1)
    grid = np.concatenate([row, row[:, ::-1]], axis=0)
    p = tmp_path / "group.jpg"
    Image.fromarray(grid).save(p, quality=92)
    code, _, err = run("analyze", str(p), "--json-out", str(tmp_path / "g.json"), *ENGINE)
    assert code == 0, err
    doc = json.loads((tmp_path / "g.json").read_text())
    assert len(doc["faces"]) == 6
    assert sorted(f["index"] for f in doc["faces"]) == list(range(6))


def test_tiny_face_is_flagged(grace_rgb: np.ndarray, tmp_path: Path) -> None:
    small = np.asarray(Image.fromarray(grace_rgb).resize((128, 150), Image.LANCZOS))
    canvas = np.full((400, 400, 3), 128, np.uint8)
    canvas[100:250, 100:228] = small
    p = tmp_path / "tiny.png"
    Image.fromarray(canvas).save(p)
    code, _, _ = run("analyze", str(p), "--json-out", str(tmp_path / "t.json"), *ENGINE)
    doc = json.loads((tmp_path / "t.json").read_text())
    if code == EXIT_NO_FACE:
        assert doc["faces"] == []
    else:
        face = doc["faces"][0]
        assert face["verdict"] == "inconclusive" and "too small" in face["verdict_reason"]


@pytest.mark.parametrize("content", [b"", b"plain text pretending to be a photo\n"])
def test_bad_input_one_line_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "evidence.jpg"
    p.write_bytes(content)
    code, out, err = run("analyze", str(p), "--report", str(tmp_path / "r.pdf"), *ENGINE)
    assert code == EXIT_BAD_INPUT
    assert err.strip().count("\n") == 0 and err.startswith("error: ")
    assert not (tmp_path / "r.pdf").exists()


def test_unicode_path_with_spaces(grace_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "affaire n° 42 — 证据"
    folder.mkdir()
    p = folder / "photo d'identité.jpg"
    p.write_bytes(grace_path.read_bytes())
    code, _, err = run("analyze", str(p), "--report", str(folder / "rapport final.pdf"), *ENGINE)
    assert code == 0, err
    assert (folder / "rapport final.pdf").is_file()


def test_unwritable_output_location(grace_path: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run("analyze", str(grace_path), "--report", str(blocker / "r.pdf"), *ENGINE)
    assert code == EXIT_OUTPUT
    assert "cannot write" in err


def test_read_only_folder(grace_path: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        probe = ro / "probe"
        try:
            probe.write_text("x")
            pytest.skip("running with privileges that ignore folder permissions (root)")
        except PermissionError:
            pass
        code, _, err = run("analyze", str(grace_path), "--report", str(ro / "r.pdf"), *ENGINE)
        assert code == EXIT_OUTPUT and "permission" in err.lower()
    finally:
        ro.chmod(0o755)


def test_cuda_without_gpu_is_a_clear_error(grace_path: Path, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    code, _, err = run("analyze", str(grace_path), "--device", "cuda", "--json-out", str(tmp_path / "r.json"), *ENGINE)
    assert code == 2 and "no CUDA GPU" in err and err.count("\n") == 1  # a usage error (README), not exit 1 "internal error"
    assert not (tmp_path / "r.json").exists()


def test_case_line_of_the_longest_allowed_length_is_printed_and_a_longer_one_refused(grace_path: Path, tmp_path: Path) -> None:
    """--case-id/--examiner: up to CASE_TEXT_MAX characters, even as one unbroken word, lay out in
    the report; one longer is a usage error before anything is written (5,000 characters in one
    word made the case table taller than a page: a traceback)."""
    from forgetalk.commands.options import CASE_TEXT_MAX

    word = "C" * CASE_TEXT_MAX
    code, _, err = run("analyze", str(grace_path), "--report", str(tmp_path / "ok" / "r.pdf"), "--case-id", word, "--examiner", "E" * CASE_TEXT_MAX, *ENGINE)
    assert code == 0, err
    assert json.loads((tmp_path / "ok" / "r.json").read_text())["case"]["case_id"] == word
    for flag in ("--case-id", "--examiner"):
        code, _, err = run("analyze", str(grace_path), "--report", str(tmp_path / "no" / "r.pdf"), flag, "C" * 5000, *ENGINE)
        assert code == 2 and f"at most {CASE_TEXT_MAX}" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "no").exists()


def test_a_file_name_cannot_print_lines_of_its_own(grace_path: Path, tmp_path: Path) -> None:
    """The evidence's name is chosen by whoever made the evidence: a newline in it printed a forged
    verdict line above the real one, an ESC sequence could erase lines on a terminal."""
    p = tmp_path / "ev.jpg\nverdict: no evidence of manipulation found (score 0.010, engine fused)\n\x1b[2K.jpg"
    p.write_bytes(grace_path.read_bytes())
    code, out, err = run("analyze", str(p), "--report", str(tmp_path / "r.pdf"), *ENGINE)
    assert code == 0, err
    assert [line for line in out.splitlines() if line.startswith("verdict:")] == [out.splitlines()[1]]
    assert "ev.jpg\\x0averdict: no evidence" in out.splitlines()[0] and "\x1b" not in out
    assert json.loads((tmp_path / "r.json").read_text())["input"]["name"] == p.name  # the JSON keeps the exact name


def test_output_paths_are_printed_escaped(tmp_path: Path) -> None:
    """`--report $'a\\nb\\x1b[2J.pdf'` printed a "report:" line split in two with the ESC sequence in it
    (the input name was escaped, the output paths were not)."""
    src = tmp_path / "wall.png"
    Image.new("RGB", (64, 64), (120, 130, 140)).save(src)
    report = tmp_path / "a\nb\x1b[2J.pdf"
    code, out, err = run("analyze", str(src), "--report", str(report), "--summary", str(tmp_path / "t\rriage.pdf"), *ENGINE)
    assert code == EXIT_NO_FACE, err
    assert "\x1b" not in out and "\r" not in out
    lines = out.splitlines()
    assert {line.split(": ", 1)[0] for line in lines[-4:]} == {"overlay", "report", "summary", "json"}, out
    assert f"report: {tmp_path}/a\\x0ab\\x1b[2J.pdf" in lines and f"summary: {tmp_path}/t\\x0driage.pdf" in lines, out
    assert report.read_bytes().startswith(b"%PDF") and report.with_suffix(".json").is_file()  # the files keep their names


def test_terminal_text_escapes_what_a_terminal_would_act_on() -> None:
    from forgetalk.terminal import terminal_text

    assert terminal_text("photo d'identité 证据 🙂.jpg") == "photo d'identité 证据 🙂.jpg"
    assert terminal_text("a\nb\r\t\x1b[31m\u202egpj.exe\udcff") == "a\\x0ab\\x0d\\x09\\x1b[31m\\u202egpj.exe\\xff"


def test_error_line_escapes_an_evidence_name_s_control_characters(tmp_path: Path) -> None:
    """An error quoting the evidence's name (here: not an image) prints its ESC sequence escaped."""
    bad = tmp_path / "x\x1b[2Jy.jpg"
    bad.write_bytes(b"not an image")
    code, _, err = run_cli("analyze", str(bad), "--no-progress")
    assert code == EXIT_BAD_INPUT and "\x1b" not in err and "x\\x1b[2Jy.jpg" in err
    assert err.count("\n") == 1 and err.startswith("error: ")
