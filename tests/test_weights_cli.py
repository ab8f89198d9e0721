"""``forgetalk weights`` over a temporary weights root (file:// URLs: no network)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from forgetalk.commands.weights import command
from forgetalk.weights import RECORD_NAME, load_manifest, resolve


@pytest.fixture()
def root(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(b"alpha")
    (src / "b.bin").write_bytes(b"bravo")
    comp = tmp_path / "w" / "demo"
    comp.mkdir(parents=True)
    manifest = {"component": "demo", "description": "test", "files": [
        {"name": "a.bin", "sha256": hashlib.sha256(b"alpha").hexdigest(), "size": 5, "url": (src / "a.bin").as_uri()},
        {"name": "sub/b.bin", "sha256": None, "size": None, "url": (src / "b.bin").as_uri()},
        {"name": "opt.bin", "sha256": None, "required": False},
    ]}
    (comp / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("FORGETALK_WEIGHTS", str(tmp_path / "w"))
    return comp


def _run(*args: str):
    return CliRunner().invoke(command, list(args))


def test_list_and_verify_missing(root: Path):
    r = _run("list", "--json")
    assert r.exit_code == 0
    rows = {row["component"]: row for row in json.loads(r.output)["components"]}  # the shipped components are listed too
    row = rows["demo"]
    assert row["component"] == "demo" and row["present"] == 0 and row["pinned"] == 1
    r = _run("verify", "demo", "--json")
    assert r.exit_code == 5
    statuses = {f["file"]: f["status"] for f in json.loads(r.output)["files"]}
    assert statuses == {"a.bin": "missing", "sub/b.bin": "missing", "opt.bin": "missing"}


def test_fetch_verifies_pinned_and_records_unpinned(root: Path):
    r = _run("fetch", "demo", "--json")
    assert r.exit_code == 0, r.output
    res = {f["file"]: f for f in json.loads(r.output)["files"]}
    assert res["a.bin"]["pinned"] and not res["sub/b.bin"]["pinned"] and res["opt.bin"]["status"] == "manual"
    rec = json.loads((root / RECORD_NAME).read_text())
    assert rec["sub/b.bin"]["sha256"] == hashlib.sha256(b"bravo").hexdigest()
    r = _run("verify", "demo")
    assert r.exit_code == 0, r.output
    assert "ok        demo/a.bin" in r.output and "unpinned  demo/sub/b.bin" in r.output and "recorded at fetch" in r.output
    assert resolve("demo", "sub/b.bin") == root / "sub" / "b.bin"
    # Tampering after fetch is caught for unpinned files too (against the recorded hash).
    (root / "sub" / "b.bin").write_bytes(b"BRAVO")
    r = _run("verify", "demo", "--json")
    assert r.exit_code == 5 and any(f["status"] == "mismatch" for f in json.loads(r.output)["files"])


def test_fetch_rejects_wrong_pinned_hash(root: Path, tmp_path: Path):
    (tmp_path / "src" / "a.bin").write_bytes(b"tampered")
    r = _run("fetch", "demo", "--file", "a.bin")
    assert r.exit_code == 5 and "does not match" in r.output
    assert not (root / "a.bin").exists() and not list(root.glob("*.part"))


def test_forgerytalker_manifest_is_well_formed():
    m = load_manifest("forgerytalker", Path(__file__).resolve().parent.parent / "weights")
    names = {f.name for f in m.files}
    assert {"2111_checkpoint_best.pth", "eva_vit_g.pth", "instruct_blip_flanxl_trimmed.pth", "flan-t5-xl/config.json"} <= names
    assert all(f.url and f.url.startswith("https://") for f in m.files)
    assert all(f.sha256 is None for f in m.files)  # unpinned on purpose: see the manifest description


def test_engine_names_every_missing_file(tmp_path, monkeypatch):
    import shutil

    from forgetalk.engines.forgerytalker.engine import resolve_official
    from forgetalk.errors import WeightsError

    dst = tmp_path / "forgerytalker"
    dst.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "weights" / "forgerytalker" / "manifest.json", dst)
    with pytest.raises(WeightsError) as exc:
        resolve_official("cpu", "fp32", root=tmp_path)
    msg = str(exc.value)
    assert "2111_checkpoint_best.pth" in msg and "flan-t5-xl/tokenizer.json" in msg and str(dst) in msg and "weights fetch forgerytalker" in msg


def test_json_documents_carry_status_and_exit_code(root: Path):
    """Like every command's --json document (README): a failed verify or fetch says so on stdout."""
    r = _run("verify", "demo", "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 5 and doc["status"] == "error" and doc["exit_code"] == 5 and doc["ok"] is False
    r = _run("fetch", "demo", "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["status"] == "ok" and doc["exit_code"] == 0
    r = _run("verify", "demo", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "ok"


def test_fetch_of_a_file_the_manifest_does_not_list_is_a_usage_error(root: Path):
    """A mistyped --file fetched nothing, printed nothing and exited 0."""
    r = _run("fetch", "demo", "--file", "a.bim")
    assert r.exit_code == 2 and "a.bim not in demo's manifest" in r.output and "a.bin" in r.output
    assert not (root / "a.bim").exists() and not (root / "a.bin").exists()


def test_verify_of_everything_lists_a_fetched_component_with_no_file_as_not_installed(root: Path):
    """A fresh checkout has no ForgeryTalker files by design; `weights verify` exited 5 for it while
    every shipped engine was intact. Named explicitly, the component still fails (exit 5)."""
    m = json.loads((root / "manifest.json").read_text())
    m["files"] = [f for f in m["files"] if f.get("url")]  # a fetched component: every file downloadable
    (root / "manifest.json").write_text(json.dumps(m))
    r = _run("verify")
    assert r.exit_code == 0, r.output
    assert "not installed demo (2 files" in r.output
    r = _run("verify", "demo", "--json")
    assert r.exit_code == 5 and {f["status"] for f in json.loads(r.output)["files"]} == {"missing"}
    (root / "a.bin").write_bytes(b"alpha")  # partly present: a broken install, not an absent one
    r = _run("verify")
    assert r.exit_code == 5 and "missing   demo/sub/b.bin" in r.output
