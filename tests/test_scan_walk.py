"""Folder walk and journal: hidden files, non-images, symlink loops, unreadable folders, torn lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from forgetalk.scan.journal import Journal, read_journal
from forgetalk.scan.records import RunRecord, ScanRecord, Status
from forgetalk.scan.walk import Candidate, Skipped, WalkOptions, walk


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    for rel in ("a.jpg", "B.JPEG", "notes.txt", ".DS_Store", "sub/c.png", "sub/deeper/d.webp", ".git/x.jpg"):
        (root / rel).write_bytes(b"x")
    os.symlink(root, root / "sub" / "loop")  # points back to the root: a loop
    os.symlink(root / "missing.jpg", root / "broken.jpg")
    os.symlink(root / "a.jpg", root / "link_to_a.jpg")
    return root


def _split(entries: list[Candidate | Skipped]) -> tuple[list[str], dict[str, Skipped]]:
    return [e.rel for e in entries if isinstance(e, Candidate)], {e.rel: e for e in entries if isinstance(e, Skipped)}


def test_walk_flat_skips_hidden_and_non_images(tmp_path: Path) -> None:
    cands, skipped = _split(list(walk(_tree(tmp_path))))
    assert cands == ["B.JPEG", "a.jpg", "link_to_a.jpg"]
    assert "hidden" in skipped[".DS_Store"].reason and not skipped[".DS_Store"].failed
    assert "hidden" in skipped[".git"].reason
    assert "not an image" in skipped["notes.txt"].reason
    assert skipped["broken.jpg"].failed and "broken symbolic link" in skipped["broken.jpg"].reason


def test_walk_recursive_detects_symlink_loop(tmp_path: Path) -> None:
    cands, skipped = _split(list(walk(_tree(tmp_path), WalkOptions(recursive=True))))
    assert cands == ["B.JPEG", "a.jpg", "link_to_a.jpg", "sub/c.png", "sub/deeper/d.webp"]
    assert "loop" in skipped["sub/loop"].reason and not skipped["sub/loop"].failed


def test_walk_pattern_hidden_and_exclude(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    cands, skipped = _split(list(walk(root, WalkOptions(recursive=True, pattern="*.txt"))))
    assert cands == ["notes.txt"]
    assert skipped["a.jpg"].reason == "does not match --pattern '*.txt'"  # not "not an image file name"
    cands, _ = _split(list(walk(root, WalkOptions(recursive=True, include_hidden=True, exclude=(root / "sub",)))))
    assert ".git/x.jpg" in cands and ".DS_Store" not in cands and not any(c.startswith("sub/") for c in cands)
    cands, skipped = _split(list(walk(root, WalkOptions(follow_symlinks=False))))
    assert "link_to_a.jpg" not in cands and "not followed" in skipped["link_to_a.jpg"].reason


def test_walk_unreadable_folder_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, where chmod 000 does not stop reads: simulate EACCES instead.
    root = _tree(tmp_path)
    real = os.scandir

    def scandir(path: os.PathLike[str] | str):  # type: ignore[no-untyped-def]
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    _, skipped = _split(list(walk(root, WalkOptions(recursive=True))))
    assert skipped["sub"].failed and "permission denied" in skipped["sub"].reason


def test_walk_is_lazy(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(50):
        (root / f"{i:02d}.jpg").write_bytes(b"x")
    it = walk(root)
    first = next(it)
    assert isinstance(first, Candidate) and first.rel == "00.jpg"


def test_journal_survives_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    sha = {k: k * 32 for k in ("aa", "bb", "cc")}

    def item(k: str, status: Status) -> ScanRecord:
        return ScanRecord(sha256=sha[k], status=status, path=f"/in/{k}.jpg", rel=f"{k}.jpg")

    with Journal(path) as j:
        j.append(RunRecord(run_id="r1", fingerprint="f"))
        j.append(item("aa", Status.ANALYSED))
        j.append(item("bb", Status.ERROR))
    with open(path, "ab") as fh:  # a SIGKILL in the middle of a write
        fh.write(b'{"type":"item","sha256":"cc","sta')
    state = read_journal(path)
    assert state.torn_lines == 1 and set(state.items) == {sha["aa"], sha["bb"]}
    assert state.done(sha["aa"]) is not None and state.done(sha["bb"]) is None  # "error" is retried
    with Journal(path) as j:  # the next run seals the torn line, then starts with its run record
        assert read_journal(path).torn_lines == 1  # sealed but not yet followed (a kill right here): still a torn line
        j.append(RunRecord(run_id="r2", fingerprint="f"))
        j.append(item("cc", Status.FAILED))
    state = read_journal(path)
    assert state.torn_lines == 1 and [r.run_id for r in state.runs] == ["r1", "r2"]
    assert state.done(sha["cc"]) is not None and state.done(sha["cc"], retry_failed=True) is None
    assert all(json.loads(line) for line in path.read_text().splitlines()[-1:])


def test_journal_line_garbled_mid_file_is_an_edit_not_a_torn_write(tmp_path: Path) -> None:
    """Only the last line can be torn by a kill (or a line the next run sealed, which that run's
    record follows); a broken line anywhere else used to be skipped, losing its record silently."""
    import pytest

    from forgetalk.scan.journal import JournalError

    path = tmp_path / "journal.jsonl"
    with Journal(path) as j:
        j.append(RunRecord(run_id="r1", fingerprint="f"))
        for k in ("aa", "bb"):
            j.append(ScanRecord(sha256=k * 32, status=Status.ANALYSED, path=f"/in/{k}.jpg", rel=f"{k}.jpg"))
    lines = path.read_text().splitlines()
    lines[1] = "garbage"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(JournalError, match="line 2"):
        read_journal(path)


def test_journal_item_of_a_run_it_never_started_is_an_edit(tmp_path: Path) -> None:
    """An item line pasted from another RESULTS' journal (its run id names no run of this one)
    used to be taken as done: its input, from another evidence folder, joined this index and
    manifest with outputs this folder never held, and the scan exited 0 on results that
    ``verify`` failed at once. It is a hand edit now (exit 2, naming the line)."""
    import pytest

    from forgetalk.scan.journal import JournalError

    path = tmp_path / "journal.jsonl"
    with Journal(path) as j:
        j.append(RunRecord(run_id="r1", fingerprint="f"))
        j.append(ScanRecord(sha256="aa" * 32, status=Status.ANALYSED, path="/in/aa.jpg", rel="aa.jpg", run_id="r1"))
        j.append(ScanRecord(sha256="bb" * 32, status=Status.ANALYSED, path="/other/bb.jpg", rel="bb.jpg", run_id="r0-elsewhere"))
    with pytest.raises(JournalError, match="line 3: item record of run 'r0-elsewhere'"):
        read_journal(path)
    with Journal(path) as j:  # the same run id started later does not make the earlier line this journal's
        j.append(RunRecord(run_id="r0-elsewhere", fingerprint="f"))
    with pytest.raises(JournalError, match="line 3"):
        read_journal(path)


def test_journal_write_failure_is_an_output_error_naming_the_journal(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A full disk during a scan ended in exit 1 and a bare "No space left on device"; it is the
    documented exit 6 now, naming the journal, and closing the journal afterwards does not raise."""
    import errno

    import pytest

    from forgetalk.errors import OutputError

    j = Journal(tmp_path / "journal.jsonl")

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(OutputError, match="journal.jsonl: cannot write the journal") as ei:
        j.append(RunRecord(run_id="r", fingerprint="f"))
    assert ei.value.exit_code == 6
    j.close()
