"""`forgetalk verify RESULTS`: unchanged -> 0; any changed or missing output / changed input -> 7."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _helpers import FAKE_ENGINE, FAKE_ENGINE_MODULE, make_faces, scan_cli
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


def test_an_output_changed_with_a_rehashed_manifest_fails_against_the_hash_the_scan_printed(results: tuple[Path, Path]) -> None:
    """The manifest vouches for every output, and nothing vouched for the manifest: an output changed
    and the manifest re-hashed to match passed verify. The hash the scan printed, kept elsewhere,
    now catches it; a mistyped hash is a usage error, not a "change"."""
    import hashlib

    _, out = results
    printed = _verify(out)[1]["manifest_sha256"]
    assert _verify(out, "--manifest-sha256", printed.upper()) == (0, _verify(out)[1])
    overlay = next(out.glob("items/*/*.overlay.png"))
    overlay.write_bytes(overlay.read_bytes() + b"\0")
    manifest = json.loads((out / "manifest.json").read_text())
    rel = overlay.relative_to(out).as_posix()
    entry = next(o for o in manifest["outputs"] if o["path"] == rel)
    entry["sha256"] = hashlib.sha256(overlay.read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert _verify(out)[0] == 0  # what a re-hashed manifest hides from verify alone
    code, rep = _verify(out, "--manifest-sha256", printed)
    assert code == EXIT_INTEGRITY
    assert [(p["status"], p["what"], p["expected"], p["found"]) for p in rep["problems"]] == [("changed", "manifest", printed, rep["manifest_sha256"])]
    res = CliRunner().invoke(main, ["verify", str(out), "--manifest-sha256", printed])
    assert res.exit_code == EXIT_INTEGRITY and "CHANGED" in res.stdout and "manifest" in res.stdout
    for bad in (printed[:12], printed[:-1] + "g"):
        res = CliRunner().invoke(main, ["verify", str(out), "--manifest-sha256", bad])
        assert res.exit_code == 2 and "64 hex characters" in res.output
    # (hostile pass) a manifest replaced by something that is no manifest at all: with the printed
    # hash that is a change (7), not "unknown schema" (2); without it, still the usage error
    (out / "manifest.json").write_text("{}")
    code, rep = _verify(out, "--manifest-sha256", printed)
    assert code == EXIT_INTEGRITY and [p["what"] for p in rep["problems"]] == ["manifest"]
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 2


def test_verify_hashes_the_manifest_bytes_it_parses(results: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """(hostile pass) The manifest was parsed in one read and hashed in another: a forged manifest
    read for the checks and the genuine one back in place for the hash passed against the printed hash."""
    import forgetalk.scan.verify as V

    _, out = results
    printed = _verify(out)[1]["manifest_sha256"]
    genuine = (out / "manifest.json").read_bytes()
    forged = genuine + b" "  # what a swap would have the checks read; the file on disk stays genuine
    real = V.manifest_bytes
    monkeypatch.setattr(V, "manifest_bytes", lambda results: (real(results)[0], forged))
    code, rep = _verify(out, "--manifest-sha256", printed)
    assert code == EXIT_INTEGRITY and rep["manifest_sha256"] != printed
    assert (out / "manifest.json").read_bytes() == genuine


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


def test_output_or_item_folder_replaced_by_a_link_fails_verify_and_is_redone(results: tuple[Path, Path], tmp_path: Path) -> None:
    """An output (or its item folder) replaced by a symbolic link to an identical copy outside
    RESULTS hashed as recorded, since hashing follows links: ``verify`` said "no change" and a
    re-run reused it (for a linked item folder, the re-run exited 0 on results that ``verify``
    then failed as "unlisted"). Both are reported as ``notafile`` now, and the re-run redoes them,
    writing real files in a real folder without touching the link targets."""
    src, out = results
    overlay = next(out.glob("items/*/*.overlay.png"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = elsewhere / overlay.name
    shutil.copyfile(overlay, copy)
    overlay.unlink()
    overlay.symlink_to(copy)
    other_item = next(d for d in (out / "items").iterdir() if d != overlay.parent)
    shutil.copytree(other_item, elsewhere / "item")
    shutil.rmtree(other_item)
    other_item.symlink_to(elsewhere / "item", target_is_directory=True)

    code, rep = _verify(out)
    linked = {p["path"] for p in rep["problems"] if p["status"] == "notafile"}
    assert code == EXIT_INTEGRITY and overlay.relative_to(out).as_posix() in linked
    assert sum(p.startswith(other_item.relative_to(out).as_posix() + "/") for p in linked) == 3

    code, summary, err = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 0, err
    assert summary["counts"]["redone"] == 2 and summary["counts"]["resumed_from_journal"] == 0
    assert not overlay.is_symlink() and not other_item.is_symlink() and other_item.is_dir()
    assert copy.read_bytes() == overlay.read_bytes() and len(list((elsewhere / "item").iterdir())) == 3  # targets untouched
    assert _verify(out)[0] == 0


def test_names_with_newlines_stay_on_one_line_in_scan_progress_and_verify(tmp_path: Path) -> None:
    """A file name is the evidence's: a newline in one split the scan's "one line per file" in two
    (here a forged "analysed" line) and verify's problem list likewise. Both escape it now."""
    src, out = tmp_path / "in", tmp_path / "results"
    make_faces(src, 1)
    forged = src / "x\nscan: forged.jpg: analysed 0.001.jpg"
    (src / "face_000.jpg").rename(forged)
    res = CliRunner().invoke(main, ["scan", str(src), "--out", str(out), "--engine", FAKE_ENGINE, "--preload", FAKE_ENGINE_MODULE, "--workers", "0"],
                             env={"FORGETALK_NO_PROGRESS": ""})
    assert res.exit_code == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("scan: ")]
    assert lines == ["scan: x\\x0ascan: forged.jpg: analysed 0.001.jpg: analysed " + lines[0].rsplit(" ", 1)[1]], res.stderr
    forged.unlink()
    res = CliRunner().invoke(main, ["verify", str(out)])
    assert res.exit_code == 0
    assert [ln for ln in res.stdout.splitlines() if "forged" in ln] == [f"MISSING  input  {src}/x\\x0ascan: forged.jpg: analysed 0.001.jpg"]


def test_an_edited_journal_fails_verify_and_refuses_a_resume(results: tuple[Path, Path]) -> None:
    """The journal feeds the next run's index (a score, a status), yet it was in no manifest: an
    edited score passed verify and entered the next index. The manifest now pins the journal's
    lines so far; lines appended after them (a later run) are not an edit."""
    src, out = results
    journal = out / "journal.jsonl"
    pinned = json.loads((out / "manifest.json").read_text())["journal"]
    assert pinned["size"] == journal.stat().st_size and pinned["path"] == "journal.jsonl"
    original = journal.read_bytes()
    journal.write_bytes(original + b"\n")  # appended after the pinned bytes (a torn line sealed by a later run)
    assert _verify(out)[0] == 0
    journal.write_bytes(original)

    lines = original.decode().splitlines(keepends=True)
    k = next(i for i, line in enumerate(lines) if json.loads(line).get("type") == "item")
    rec = json.loads(lines[k])
    rec["score"] = 0.0 if rec.get("score") else 0.5  # the kind of edit that would reorder the triage list
    lines[k] = json.dumps(rec) + "\n"
    journal.write_text("".join(lines))
    code, rep = _verify(out)
    assert code == EXIT_INTEGRITY and [(p["status"], p["what"]) for p in rep["problems"]] == [("changed", "journal")]
    code, _, err = scan_cli([str(src), "--out", str(out), "--workers", "1"])
    assert code == 2 and "journal" in err and "edited" in err

    journal.write_bytes(original[:-10])  # cut
    code, rep = _verify(out)
    assert code == EXIT_INTEGRITY and "cut" in rep["problems"][0]["found"]
    journal.write_bytes(original)
    assert _verify(out)[0] == 0
    code, _, _ = scan_cli([str(src), "--out", str(out), "--workers", "1"])  # an untouched journal resumes, and is pinned anew
    assert code == 0 and _verify(out)[0] == 0
    assert json.loads((out / "manifest.json").read_text())["journal"]["size"] == journal.stat().st_size > len(original)


def test_verify_refuses_a_results_folder_a_scan_is_writing(results: tuple[Path, Path]) -> None:
    """verify beside a running scan read its in-progress writes as changes (exit 7, a false alarm
    about evidence); now the scan's lock makes verify stop with one line, exit 2, and a scan
    started while verify reads is refused the same way."""
    import fcntl
    import os

    from forgetalk.scan.runner import LOCK_NAME, ScanUsageError, results_lock, results_read_lock

    src, out = results
    with results_lock(out):  # what a running scan holds
        res = CliRunner().invoke(main, ["verify", str(out)])
        assert res.exit_code == 2 and "a scan is writing" in res.stderr and res.stderr.count("\n") == 1
    assert _verify(out)[0] == 0  # released: verify reads again
    with results_read_lock(out), pytest.raises(ScanUsageError, match="verify is reading"), results_lock(out):
        pass
    (out / LOCK_NAME).unlink()  # results copied without the lock file (read-only media): verify creates none
    assert _verify(out)[0] == 0 and not (out / LOCK_NAME).exists()
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # another reader: verify shares
        assert _verify(out)[0] == 0
    finally:
        os.close(fd)
