"""A link into /proc in the evidence folder is skipped, never hashed: no false chain-of-custody alarm.

Before: ``/proc/self/status`` (a 0-byte "regular" file whose content the kernel makes at each read)
was hashed by the walk, refused by the worker (``failed corrupt``, pseudo-file) and listed in the
manifest with that moment's hash, so ``verify`` reported it CHANGED (exit 7) on every call and a
re-run of the scan marked it departed (exit 7).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _helpers import make_faces, run_cli, scan_cli

from forgetalk.scan.walk import PSEUDO_FILE_REASON, Candidate, Skipped, walk

PROC = "/proc/self/status"
pytestmark = pytest.mark.skipif(not os.path.exists(PROC), reason="needs Linux /proc")


def _folder(root: Path) -> Path:
    src = root / "in"
    make_faces(src, 1)
    os.symlink(PROC, src / "proc.jpg")
    (src / "empty.jpg").write_bytes(b"")  # a stored 0-byte file is still a candidate (and fails as empty)
    return src


def test_walk_skips_a_pseudo_file_without_hashing_it(tmp_path: Path) -> None:
    entries = {e.rel: e for e in walk(_folder(tmp_path))}
    assert isinstance(entries["proc.jpg"], Skipped) and not entries["proc.jpg"].failed
    assert entries["proc.jpg"].reason == PSEUDO_FILE_REASON
    assert isinstance(entries["empty.jpg"], Candidate) and isinstance(entries["face_000.jpg"], Candidate)


def test_proc_link_is_skipped_and_verify_and_rerun_stay_clean(tmp_path: Path) -> None:
    src, out = _folder(tmp_path), tmp_path / "out"
    code, summary, _ = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 1 and summary["departed_inputs"] == []  # 1: empty.jpg fails, as it always did

    for _ in range(2):  # the kernel makes new content at each read: verify must compare no hash of it
        code, stdout, _ = run_cli("verify", str(out))
        assert code == 0 and "proc.jpg" not in stdout, stdout

    code, summary, err = scan_cli([str(src), "--out", str(out), "--workers", "0"])
    assert code == 1 and summary["departed_inputs"] == [] and "no longer there" not in err, err
    assert run_cli("verify", str(out))[0] == 0

    rows = {r["file"]: r for r in json.loads((out / "index.json").read_text())["items"]}
    assert (rows["proc.jpg"]["status"], rows["proc.jpg"]["sha256"], rows["proc.jpg"]["reason"]) == ("skipped", None, PSEUDO_FILE_REASON)
    assert rows["empty.jpg"]["error_kind"] == "empty" and rows["face_000.jpg"]["status"] == "analysed"
    manifest = json.loads((out / "manifest.json").read_text())
    assert "proc.jpg" not in {i["file"] for i in manifest["inputs"]}
