"""Weights home: user-placed weights under $FORGETALK_WEIGHTS / --weights-dir, shipped weights from the install.

A wheel installs the shipped weights under ``<prefix>/share/forgetalk/weights`` (setup.cfg
``data_files``); these tests stand in a temporary prefix for it and hide the checkout.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from forgetalk import weights as w
from forgetalk.cli import main
from forgetalk.errors import WeightsError


def _component(folder: Path, files: dict[str, bytes], pinned: bool = True) -> None:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "manifest.json").write_text(json.dumps({"component": folder.name, "files": [
        {"name": n, "sha256": hashlib.sha256(d).hexdigest() if pinned else None} for n, d in files.items()]}))


@pytest.fixture()
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An install without a checkout: shipped 'demo' under the prefix, an empty user home."""
    prefix = tmp_path / "prefix"
    shipped = prefix.joinpath(*w._DATA_SUBDIR)
    _component(shipped / "demo", {"a.bin": b"alpha"})
    monkeypatch.setattr(w, "_CHECKOUT_WEIGHTS", tmp_path / "no-checkout")
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.delenv(w.ENV_WEIGHTS, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return shipped


def test_shipped_weights_are_read_from_the_install_and_verified(installed: Path, tmp_path: Path) -> None:
    assert w.shipped_root() == installed.resolve()
    assert w.weights_root() == tmp_path / "xdg" / "forgetalk" / "weights"
    assert w.read_verified("demo", "a.bin") == b"alpha"
    assert "demo" in w.list_components()
    (installed / "demo" / "a.bin").write_bytes(b"ALPHA")  # pinned hash still checked at every load
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        w.read_verified("demo", "a.bin")


def test_user_folder_overrides_and_user_placed_files_go_there(installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "mine"
    _component(user / "demo", {"a.bin": b"other"})
    monkeypatch.setenv(w.ENV_WEIGHTS, str(user))
    assert w.read_verified("demo", "a.bin") == b"other"  # the user's own manifest and file win
    # A shipped manifest whose files are not shipped (e.g. ForgeryTalker): files are expected in the user folder.
    _component(installed / "big", {"model.bin": b"weights"})
    (installed / "big" / "model.bin").unlink()
    with pytest.raises(WeightsError, match=str(user / "big")):
        w.read_verified("big", "model.bin")
    (user / "big").mkdir()
    (user / "big" / "model.bin").write_bytes(b"weights")
    assert w.read_verified("big", "model.bin") == b"weights"  # pinned by the shipped manifest


def test_weights_dir_option_sets_the_user_folder(installed: Path, tmp_path: Path) -> None:
    user = tmp_path / "opt"
    _component(user / "extra", {"x.bin": b"x"})
    res = CliRunner().invoke(main, ["--weights-dir", str(user), "weights", "list", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["root"] == str(user.resolve())
    assert {r["component"] for r in doc["components"]} >= {"demo", "extra"}


def test_unreadable_weights_are_a_weights_error_naming_folder_and_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A weights file the user cannot read (mode 0600, another account) ended in exit 1 with a
    bare "Permission denied"; it is exit 5 now, naming the file, its folder and the pinned hash."""

    def denied(path: object) -> str:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(w, "sha256_file", denied)
    monkeypatch.setattr(w, "open_regular", denied)
    for call in (lambda: w.resolve("localizer", "localizer.safetensors"), lambda: w.read_verified("localizer", "region_calibration.json")):
        with pytest.raises(WeightsError) as ei:
            call()
        msg = str(ei.value)
        assert ei.value.exit_code == 5 and "Permission denied" in msg and "folder" in msg and "expected sha256" in msg
