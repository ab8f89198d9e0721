"""Weights that cannot be used end in one line naming the real file, with the documented exit code.

Regressions: a truncated localizer graph whose manifest entry was updated with it gave a 57-line
traceback and exit 1 (README: exit 5, one line); an unreadable calibration in a ``--weights-dir``
copy was reported as ``weights/evidence/calibration.npz``, the shipped file, not the one read; a
folder or FIFO in a weights file's place was "missing"; and a mistyped ``--weights-dir`` (or
``FORGETALK_WEIGHTS``) ran silently on the shipped weights (now exit 2), while an existing empty
folder keeps falling back to them (README "Weights").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forgetalk import weights as w
from forgetalk.errors import EXIT_USAGE, UsageError, WeightsError

REPO = Path(__file__).resolve().parent.parent
GRACE = REPO / "examples" / "grace_hopper.jpg"


def copy_weights(tmp_path: Path, *components: str) -> Path:
    root = tmp_path / "wt"
    for comp in components:
        shutil.copytree(REPO / "weights" / comp, root / comp)
    return root.resolve()


def replace_pinned(root: Path, component: str, name: str, data: bytes) -> Path:
    """Write ``data`` as ``name`` and update its manifest entry to match, as a careless (or hostile) edit would."""
    (root / component / name).write_bytes(data)
    mpath = root / component / "manifest.json"
    manifest = json.loads(mpath.read_text())
    for f in manifest["files"]:
        if f["name"] == name:
            f["sha256"], f["size"] = hashlib.sha256(data).hexdigest(), len(data)
    mpath.write_text(json.dumps(manifest, indent=2))
    return root / component / name


def forgetalk(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "CI": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **env}
    return subprocess.run([sys.executable, "-m", "forgetalk.cli", *map(str, args)], capture_output=True, text=True, timeout=300, env=full_env)


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, res.stderr
    return lines[0]


# ----------------------------------------------------------------------------- unloadable graphs (exit 5)


def test_truncated_onnx_graph_with_its_manifest_updated_is_a_weights_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forgetalk.engines.fused import FusedEngine

    root = copy_weights(tmp_path, "localizer")
    onnx = replace_pinned(root, "localizer", "localizer.onnx", (REPO / "weights" / "localizer" / "localizer.onnx").read_bytes()[:1000])
    monkeypatch.setenv(w.ENV_WEIGHTS, str(root))
    with pytest.raises(WeightsError) as ei:
        FusedEngine(device="cpu")
    msg = str(ei.value)
    assert msg.startswith(f"{onnx}: unloadable ONNX localizer graph (") and "truncated protobuf field" in msg and "\n" not in msg


def test_truncated_onnx_graph_exits_5_with_one_line(tmp_path: Path) -> None:
    root = copy_weights(tmp_path, "localizer")
    onnx = replace_pinned(root, "localizer", "localizer.onnx", (REPO / "weights" / "localizer" / "localizer.onnx").read_bytes()[:1000])
    res = forgetalk("--weights-dir", root, "analyze", GRACE, "--report", tmp_path / "o" / "r.pdf", "--no-progress")
    assert res.returncode == 5, res.stderr
    assert str(onnx) in one_line_error(res)
    assert not (tmp_path / "o" / "r.pdf").exists()


def test_a_graph_onnxruntime_refuses_at_first_use_names_the_file() -> None:
    """Metadata intact, graph not: the session is built lazily (a scan worker sets its threads first),
    so the refusal comes at the first face, and is a weights error naming the file then too."""
    from forgetalk.engines.localizer.onnx_runtime import OnnxLocalizer

    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    graph = field(14, field(1, b"config") + field(2, b'{"region_names": []}'))  # ModelProto with metadata_props only
    loc = OnnxLocalizer(graph, label="/w/localizer/localizer.onnx")
    with pytest.raises(WeightsError, match=r"^/w/localizer/localizer\.onnx: unloadable ONNX graph \("):
        loc.session()


def test_truncated_torch_weights_are_a_weights_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forgetalk.engines.fused import FusedEngine

    root = copy_weights(tmp_path, "localizer")
    st = replace_pinned(root, "localizer", "localizer.safetensors",
                        (REPO / "weights" / "localizer" / "localizer.safetensors").read_bytes()[:100_000])
    monkeypatch.setenv(w.ENV_WEIGHTS, str(root))
    with pytest.raises(WeightsError, match=f"^{st}: unloadable localizer weights"):
        FusedEngine(device="cpu", runtime="torch")


# ----------------------------------------------------------------------------- messages name the file read


def _evidence() -> object:
    from forgetalk.engines.evidence.engine import EvidenceEngine

    return EvidenceEngine()


def _fused() -> object:
    from forgetalk.engines.fused import FusedEngine

    return FusedEngine(device="cpu")


@pytest.mark.parametrize("component, name, words, build", [
    ("evidence", "calibration.npz", "unreadable calibration", _evidence),
    ("evidence", "consistency.json", "unusable consistency calibration", _evidence),
    ("evidence", "region_calibration.json", "malformed region calibration", _evidence),
    ("localizer", "recipe.json", "malformed recipe", _fused),
    ("localizer", "region_calibration.json", "malformed region calibration", _fused),
])
def test_an_unparsable_weights_file_is_named_by_the_path_read(component: str, name: str, words: str, build, tmp_path: Path,  # noqa: ANN001
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_weights(tmp_path, component)
    bad = replace_pinned(root, component, name, b"\x00garbage, not a " + name.encode())
    monkeypatch.setenv(w.ENV_WEIGHTS, str(root))
    with pytest.raises(WeightsError) as ei:
        build()
    msg = str(ei.value)
    assert msg.startswith(f"{bad}: {words}"), msg  # the copy that was read, not "weights/<component>/<name>"
    assert "\n" not in msg


def test_cli_names_the_calibration_copy_that_was_read(tmp_path: Path) -> None:
    root = copy_weights(tmp_path, "evidence")
    bad = replace_pinned(root, "evidence", "calibration.npz", os.urandom(3000))
    res = forgetalk("--weights-dir", root, "analyze", GRACE, "--report", tmp_path / "r.pdf", "--engine", "evidence", "--no-progress")
    assert res.returncode == 5, res.stderr
    assert one_line_error(res).startswith(f"error: {bad}: unreadable calibration (")


# ----------------------------------------------------------------------------- not a regular file (exit 5)


@pytest.mark.parametrize("kind", ["folder", "FIFO"])
def test_a_folder_or_fifo_in_a_weights_files_place_is_not_missing(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_weights(tmp_path, "evidence")
    cal = root / "evidence" / "calibration.npz"
    cal.unlink()
    cal.mkdir() if kind == "folder" else os.mkfifo(cal)
    monkeypatch.setenv(w.ENV_WEIGHTS, str(root))
    for load in (lambda: w.read_verified("evidence", "calibration.npz"), lambda: w.resolve("evidence", "calibration.npz"), _evidence):
        with pytest.raises(WeightsError) as ei:
            load()
        msg = str(ei.value)
        assert msg.startswith(f"{cal}: not a regular file (a {kind})") and "missing" not in msg, msg
    status = {s.name: s for s in w.verify_manifest(w.load_manifest("evidence"))}["calibration.npz"]
    assert status.status == "mismatch" and status.note == f"not a regular file (a {kind})"


def test_an_optional_file_replaced_by_a_folder_is_an_error_not_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """consistency.json is optional (absent: the cues are not compared with real faces); a folder in
    its place used to count as absent, silently changing the analysis."""
    root = copy_weights(tmp_path, "evidence")
    (root / "evidence" / "consistency.json").unlink()
    (root / "evidence" / "consistency.json").mkdir()
    monkeypatch.setenv(w.ENV_WEIGHTS, str(root))
    with pytest.raises(WeightsError, match="consistency.json: not a regular file"):
        _evidence()


def test_fetch_refuses_to_replace_a_folder(tmp_path: Path) -> None:
    (tmp_path / "demo" / "a.bin").mkdir(parents=True)
    manifest = w.Manifest("demo", tmp_path / "demo", (w.WeightFile("a.bin", None, url="file:///nowhere"),))
    with pytest.raises(WeightsError, match=r"a\.bin: not a regular file \(a folder\)"):
        w.fetch_file(manifest, manifest.files[0], opener=lambda url: pytest.fail("nothing may be downloaded"))


# ----------------------------------------------------------------------------- the weights folder itself (exit 2)


def test_a_weights_folder_that_does_not_exist_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(w.ENV_WEIGHTS, str(tmp_path / "no-such-folder"))
    for call in (w.weights_root, lambda: w.load_manifest("evidence"), w.list_components):
        with pytest.raises(UsageError, match=f"weights folder {tmp_path / 'no-such-folder'} does not exist") as ei:
            call()
        assert ei.value.exit_code == EXIT_USAGE
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv(w.ENV_WEIGHTS, str(tmp_path / "afile"))
    with pytest.raises(UsageError, match="is a file, not a folder"):
        w.weights_root()


def test_an_existing_empty_weights_folder_falls_back_to_the_shipped_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(w.ENV_WEIGHTS, str(tmp_path / "empty"))
    assert w.weights_root() == (tmp_path / "empty").resolve()
    assert w.load_manifest("evidence").folder == w.shipped_root() / "evidence"


@pytest.mark.parametrize("how", ["option", "env"])
def test_cli_refuses_a_mistyped_weights_folder(how: str, tmp_path: Path) -> None:
    missing = tmp_path / "wieghts"
    args: list[str | Path] = ["--weights-dir", missing] if how == "option" else []
    env = {w.ENV_WEIGHTS: str(missing)} if how == "env" else {}
    res = forgetalk(*args, "analyze", GRACE, "--report", tmp_path / "o" / "r.pdf", "--engine", "evidence", "--no-progress", **env)
    assert res.returncode == 2, res.stderr
    line = one_line_error(res)  # refused as the option is parsed (click names the option and its env var)
    assert "--weights-dir" in line and f"'{missing}' does not exist" in line
    assert not (tmp_path / "o").exists()


def test_cli_refuses_a_mistyped_weights_folder_for_every_command(tmp_path: Path) -> None:
    """Checked where the option is parsed, so commands that never load weights (verify, engines)
    refuse it too, instead of running and leaving the mistake unnoticed."""
    res = forgetalk("--weights-dir", tmp_path / "wieghts", "engines")
    assert res.returncode == 2 and "does not exist" in one_line_error(res)


def test_cli_with_an_existing_empty_weights_folder_runs_on_the_shipped_weights(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = forgetalk("--weights-dir", tmp_path / "empty", "analyze", GRACE, "--report", tmp_path / "r.pdf", "--engine", "evidence", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "r.pdf").is_file()
