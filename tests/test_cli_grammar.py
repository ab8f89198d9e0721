"""One command-line grammar (issue 12), through the real Click group.

* ``--json`` means the same on every command: one JSON document on stdout; on a user error
  ``{"status": "error", "error": ..., "exit_code": N}`` there and one ``error:`` line on stderr.
* Every user error (malformed manifest, empty training folder, bad options, unusable input)
  ends in exactly one line and its documented exit code, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import pytest
from _helpers import FAKE_ENGINE, FAKE_ENGINE_MODULE, make_faces
from click.testing import CliRunner

from forgetalk.cli import main

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
GRACE = REPO / "examples" / "grace_hopper.jpg"


def leaf_commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += leaf_commands(cmd, (*prefix, name))
        else:
            out.append(((*prefix, name), cmd))
    return out


def invoke(*args: str | Path, env: dict[str, str] | None = None):
    res = CliRunner().invoke(main, [str(a) for a in args], env={"CI": "1", **(env or {})})
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


def test_every_command_has_the_same_json_flag() -> None:
    for path, cmd in leaf_commands():
        opts = {o: p for p in cmd.params if isinstance(p, click.Option) for o in p.opts}
        assert "--json" in opts, path
        p = opts["--json"]
        assert p.is_flag and p.name == "as_json", path  # a flag everywhere: never a file path
        assert not any(o.startswith("--json") and o != "--json" and o != "--json-out" for o in opts), path


def _error_doc(res, code: int) -> dict:
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    doc = json.loads(res.stdout)
    assert doc["status"] == "error" and doc["exit_code"] == code and doc["error"]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.stderr, res.stderr
    return doc


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("grammar")
    make_faces(base / "in", 2, size=256)
    sys.path.insert(0, str(TESTS))
    res = invoke("scan", base / "in", "--out", base / "out", "--engine", FAKE_ENGINE, "--preload", FAKE_ENGINE_MODULE, "--workers", "0",
                 "--no-progress", "--json")
    assert res.exit_code == 0, res.output
    json.loads(res.stdout)
    return base / "out"


def test_json_success_is_one_document_on_stdout(tmp_path: Path, scanned: Path) -> None:
    """Each command with --json prints exactly one JSON document on stdout (progress and notes go to stderr)."""
    preds = tmp_path / "p.json"
    data = tmp_path / "d.json"
    data.write_text(json.dumps([{"image_id": "a", "img_path": "a.png", "mask_path": None, "caption": "the nose is blurred"}]))
    preds.write_text(json.dumps([{"image_id": "a", "caption": "the nose is blurred", "mask_path": None}]))
    runs = {
        "analyze": ["analyze", GRACE, "--engine", "evidence", "--json", "--no-progress"],
        "scan": ["scan", scanned.parent / "in", "--out", scanned, "--engine", FAKE_ENGINE, "--preload", FAKE_ENGINE_MODULE,
                 "--workers", "0", "--no-progress", "--json"],
        "verify": ["verify", scanned, "--json"],
        "engines": ["engines", "--json"],
        "selftest": ["selftest", "--json", "--no-progress"],
        "weights list": ["weights", "list", "--json"],
        "weights verify": ["weights", "verify", "evidence", "--json"],
        "weights fetch": ["weights", "fetch", "evidence", "--json"],  # everything present: nothing downloaded
        "evaluate": ["evaluate", data, "--predictions", preds, "--json"],
    }
    for name, args in runs.items():
        res = invoke(*args)
        assert res.exit_code == 0, (name, res.stdout, res.stderr)
        doc = json.loads(res.stdout)
        assert isinstance(doc, dict), name
    assert json.loads(invoke(*runs["analyze"]).stdout)["status"] == "ok"


def test_json_errors_are_one_document_on_stdout_and_one_line_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "bad.json").write_text("{not json")
    cases = {
        "analyze": (["analyze", tmp_path / "empty.jpg", "--json", "--no-progress"], 3),
        "scan": (["scan", tmp_path / "nodir", "--out", tmp_path / "o", "--json"], 2),
        "verify": (["verify", tmp_path / "empty", "--json"], 2),
        "engines": (["engines", "--json", "--nope"], 2),
        "selftest": (["selftest", "--json", "--nope"], 2),
        "weights list": (["weights", "list", "--json", "--nope"], 2),
        "weights verify": (["weights", "verify", "no-such-component", "--json"], 2),
        "weights fetch": (["weights", "fetch", "no-such-component", "--json"], 2),
        "train localizer": (["train", "localizer", "--faces", tmp_path / "empty", "--json"], 2),
        "evaluate": (["evaluate", tmp_path / "bad.json", "--predictions", tmp_path / "bad.json", "--json"], 2),
    }
    assert {" ".join(p) for p, _ in leaf_commands()} == set(cases)  # every command is covered
    for name, (args, code) in cases.items():
        assert _error_doc(invoke(*args), code)["exit_code"] == code, name


def _malformed_manifest(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "w" / "broken").mkdir(parents=True)
    (tmp_path / "w" / "broken" / "manifest.json").write_text('{"files": {"not": "a list"}}')
    return {"FORGETALK_WEIGHTS": str(tmp_path / "w")}


def _unparsable_manifest(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "w" / "broken").mkdir(parents=True)
    (tmp_path / "w" / "broken" / "manifest.json").write_text("{oops")
    return {"FORGETALK_WEIGHTS": str(tmp_path / "w")}


#: (name, command line with {tmp} for the test folder, environment builder, documented exit code)
USER_ERRORS = [
    ("malformed manifest: weights list", ["weights", "list"], _malformed_manifest, 5),
    ("unparsable manifest: weights list", ["weights", "list"], _unparsable_manifest, 5),
    ("malformed manifest: weights verify", ["weights", "verify"], _malformed_manifest, 5),
    ("empty training folder", ["train", "localizer", "--faces", "{tmp}/empty"], None, 2),
    ("training folder without images", ["train", "localizer", "--faces", "{tmp}/notes"], None, 2),
    ("unknown option", ["analyze", str(GRACE), "--no-such-option"], None, 2),
    ("missing IMAGE", ["analyze"], None, 2),
    ("unknown command", ["analyse", str(GRACE)], None, 2),
    ("bad choice", ["analyze", str(GRACE), "--device", "tpu"], None, 2),
    ("out of range", ["analyze", str(GRACE), "--max-pixels", "0"], None, 2),
    ("unknown engine", ["analyze", str(GRACE), "--engine", "no-such-engine", "--no-progress"], None, 2),
    ("output is the input", ["analyze", str(GRACE), "--report", str(GRACE)], None, 2),
    ("empty image", ["analyze", "{tmp}/empty.jpg", "--engine", "evidence", "--no-progress"], None, 3),
    ("not a folder to scan", ["scan", "{tmp}/empty.jpg", "--out", "{tmp}/res"], None, 2),
    ("verify without a manifest", ["verify", "{tmp}/empty"], None, 2),
    ("unknown weights component", ["weights", "verify", "nope"], None, 2),
    ("malformed evaluation data", ["evaluate", "{tmp}/notes/readme.txt", "--predictions", "{tmp}/notes/readme.txt"], None, 2),
    ("scan --workers negative", ["scan", "{tmp}/empty", "--out", "{tmp}/res", "--workers", "-1"], None, 2),
    ("scan --top negative", ["scan", "{tmp}/empty", "--out", "{tmp}/res", "--top", "-5"], None, 2),
    ("case id too long", ["analyze", str(GRACE), "--case-id", "C" * 201], None, 2),
    ("mistyped weights folder", ["--weights-dir", "{tmp}/wieghts", "engines"], None, 2),
]


@pytest.mark.parametrize(("name", "args", "env", "code"), USER_ERRORS, ids=[u[0] for u in USER_ERRORS])
def test_user_error_is_one_line_and_documented_exit_code(tmp_path: Path, name: str, args: list[str], env, code: int) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not images")
    (tmp_path / "empty.jpg").write_bytes(b"")
    res = invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args], env=env(tmp_path) if env else None)
    assert res.exit_code == code, (name, res.exit_code, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), (name, res.stderr)
    assert res.stdout == "", (name, res.stdout)


def test_user_errors_in_a_fresh_process_have_no_traceback(tmp_path: Path) -> None:
    """The installed entry point takes the same single error path (not only CliRunner)."""
    import subprocess

    env = {**os.environ, **_malformed_manifest(tmp_path), "CI": "1"}
    res = subprocess.run([sys.executable, "-m", "forgetalk.cli", "weights", "list"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 5 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_deprecated_json_path_is_parsed_without_ambiguity() -> None:
    from forgetalk.commands.analyze import command, rewrite_deprecated_json

    def rw(*a: str) -> list[str]:
        return rewrite_deprecated_json(command, list(a))

    assert rw("--json", "a.jpg") == ["--json", "a.jpg"]  # the flag, then IMAGE
    assert rw("a.jpg", "--json", "a.json") == ["a.jpg", "--json-out", "a.json"]  # old spelling
    assert rw("--json", "a.json", "a.jpg") == ["--json-out", "a.json", "a.jpg"]
    assert rw("a.jpg", "--json=a.json") == ["a.jpg", "--json-out=a.json"]
    assert rw("a.jpg", "--json", "--report", "r.pdf") == ["a.jpg", "--json", "--report", "r.pdf"]
    assert rw("--report", "r.pdf", "--json", "a.jpg") == ["--report", "r.pdf", "--json", "a.jpg"]  # r.pdf is --report's value


def test_scan_summary_pdf_index_then_flagged_pages(scanned: Path) -> None:
    """summary.pdf: chain of custody and the index sorted by suspicion, then one page per flagged photo."""
    import pypdfium2 as pdfium

    rows = json.loads((scanned / "index.json").read_text())["items"]
    doc = pdfium.PdfDocument(str(scanned / "summary.pdf"))
    texts = [" ".join(doc[i].get_textpage().get_text_range().split()) for i in range(len(doc))]
    joined = " ".join(texts)
    assert "Index (2 files" in texts[0] and joined.index("Index (") < joined.index("Chain of custody")
    flagged = [r for r in rows if r.get("verdict") == "likely manipulated" and not r.get("duplicate_of")]
    assert flagged  # the fake engine flags both photos
    pages = [t for t in texts if "Verdict: likely manipulated" in t and "Where and why" in t]
    assert len(pages) == len(flagged)
    for r, t in zip(flagged, pages, strict=True):
        assert f"#{r['rank']} {r['file']}" in t and r["sha256"] in t


@pytest.mark.parametrize(("name", "compression_first"), [("grace_hopper.jpg", False), ("grace_hopper_mouth_from_astronaut.jpg", True)])
def test_text_summary_says_what_orders_the_regions(tmp_path: Path, name: str, compression_first: bool) -> None:
    """The list is ordered by the % it shows (the real-face percentile; regions at 100 % by how far
    above), so its numbers never rise down the list, except that regions the JPEG compression
    history reports go first, which the summary then says. Ordered by the excess alone it read
    "lips / mouth 100%, left eye 71%, chin / jaw 92%" (reported twice by hostile test passes)."""
    import re

    photo = Path(__file__).resolve().parent.parent / "examples" / name
    res = invoke("analyze", photo, "--json-out", tmp_path / "r.json")
    assert res.exit_code == 0, res.output
    order = next(line.strip() for line in res.output.splitlines() if line.strip().startswith("(% = "))
    tail = "; regions the JPEG compression history reports come first)" if compression_first else ")"
    assert order == "(% = share of real faces whose same region scored lower; regions ranked by it, those at 100% by how far above" + tail
    top = next(line for line in res.output.splitlines() if "top regions:" in line)
    pcts = [int(v) for v in re.findall(r"(\d+)%", top.split("top regions:", 1)[1])]
    ranked = pcts[1:] if compression_first else pcts  # the reported region is put first whatever its %
    assert len(pcts) == 3 and ranked == sorted(ranked, reverse=True), top


def test_ctrl_c_wrapped_in_an_import_error_is_an_interruption() -> None:
    """Ctrl-C while OpenCV imports numpy surfaced as "ImportError: numpy._core.multiarray failed
    to import" and a 45-line traceback; the chain is searched for the KeyboardInterrupt."""
    from forgetalk.errors import caused_by_interrupt

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as inner:
            raise ImportError("numpy._core.multiarray failed to import") from inner
    except ImportError as outer:
        assert caused_by_interrupt(outer)
    assert not caused_by_interrupt(ImportError("no module named x"))


def test_an_empty_output_path_is_quoted_as_given(tmp_path: Path) -> None:
    """click's Path type turned "" into ".", so the one-line error named a path nobody typed."""
    for flag in ("--report", "--summary", "--overlay", "--json-out"):
        res = invoke("analyze", tmp_path / "photo.jpg", flag, "")
        assert res.exit_code == 2, (flag, res.exit_code, res.stderr)
        assert res.stderr.strip() == f"error: {flag} '' names no file: give a file path", res.stderr


def test_a_scan_that_selects_nothing_says_so(tmp_path: Path) -> None:
    """A --pattern that matches no file (or a folder without images) ran, analysed nothing and exited
    0 without a word, as a clean folder would; now one warning line says what was selected."""
    (tmp_path / "D").mkdir()
    (tmp_path / "D" / "photo.jpg").write_bytes(GRACE.read_bytes())
    (tmp_path / "E").mkdir()
    (tmp_path / "E" / "notes.txt").write_text("no images")
    res = invoke("scan", tmp_path / "D", "--out", tmp_path / "R1", "--pattern", "/etc/*", "--workers", "0", "--no-progress")
    assert res.exit_code == 0 and "warning: --pattern '/etc/*' matched no file in" in res.stderr, res.stderr
    res = invoke("scan", tmp_path / "E", "--out", tmp_path / "R2", "--workers", "0", "--no-progress")
    assert res.exit_code == 0 and "warning: no image file in" in res.stderr and "-r" in res.stderr, res.stderr


def test_scan_prints_its_paths_escaped(tmp_path: Path) -> None:
    """The written files' lines (under RESULTS, the analyst's name) and the nothing-selected warning
    (naming DIR) printed a newline or ESC sequence in a path raw: a line of its own, a cleared screen."""
    ev = tmp_path / "D\nverdict: clean\x1b[2J"
    ev.mkdir()
    (ev / "notes.txt").write_text("no images")
    out = tmp_path / "R\nindex_csv: /forged\x1b[2J"
    res = invoke("scan", ev, "--out", out, "--workers", "0", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.stdout + res.stderr and "\nverdict" not in res.stderr, res.stderr
    assert "D\\x0averdict: clean\\x1b[2J" in res.stderr
    lines = res.stdout.splitlines()
    assert not any(line.startswith("index_csv: /forged") for line in lines), res.stdout
    assert f"index_csv: {out}/index.csv".replace("\n", "\\x0a").replace("\x1b", "\\x1b") in lines, res.stdout
    assert (out / "index.csv").is_file()


def test_running_out_of_memory_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MemoryError (a huge photo, too many workers on a small machine) ended in a traceback as
    if it were a bug; it is the machine's limit, said in one line with what to lower."""
    import forgetalk.engines as engines_pkg

    def exhausted(*_a: object, **_k: object) -> None:
        raise MemoryError

    monkeypatch.setattr(engines_pkg, "available_engines", exhausted)
    res = CliRunner().invoke(main, ["engines"])
    assert res.exit_code == 1 and res.stderr.startswith("error: out of memory") and res.stderr.count("\n") == 1
    assert res.exception is None or isinstance(res.exception, SystemExit)
