"""Engines and face backends come from static tables: importing registers nothing, every entry
resolves, and plugins add names by one explicit call (the import structure is checked in
test_layers.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from forgetalk.engines import base as engines_base
from forgetalk.errors import UnknownNameError
from forgetalk.faces import base as faces_base
from forgetalk.registry import Entry, Registry

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "forgetalk"

#: Run in a fresh interpreter: this test process may hold engines other tests added.
_IMPORT_EVERYTHING = """
import sys
import forgetalk.engines, forgetalk.faces
lazy = [m for m in sys.modules if m.startswith(("forgetalk.engines.evidence", "forgetalk.engines.fused", "forgetalk.engines.forgerytalker",
                                                "forgetalk.faces.default_backend", "forgetalk.faces.facexlib_backend"))]
assert not lazy, f"imported by forgetalk.engines / forgetalk.faces: {lazy}"
import forgetalk.engines.evidence, forgetalk.engines.fused, forgetalk.engines.forgerytalker
import forgetalk.faces.default_backend, forgetalk.faces.facexlib_backend
from forgetalk.engines.base import BUILTIN_ENGINES, added_engines, available_engines
from forgetalk.faces.base import BUILTIN_BACKENDS, added_backends, available_backends
assert dict(added_engines()) == {} and dict(added_backends()) == {}, (dict(added_engines()), dict(added_backends()))
assert list(available_engines()) == sorted(BUILTIN_ENGINES) and available_backends() == sorted(BUILTIN_BACKENDS)
print("ok")
"""


def test_importing_registers_nothing() -> None:
    res = subprocess.run([sys.executable, "-c", _IMPORT_EVERYTHING], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


@pytest.mark.parametrize(("table", "name"), [*((engines_base.BUILTIN_ENGINES, n) for n in engines_base.BUILTIN_ENGINES),
                                             *((faces_base.BUILTIN_BACKENDS, n) for n in faces_base.BUILTIN_BACKENDS)])
def test_every_table_entry_resolves(table: dict[str, Entry], name: str) -> None:
    entry = table[name]
    assert isinstance(entry.factory, str)  # the table names factories; it holds no imported object
    assert callable(entry.load())


def test_engine_descriptions_are_listed_without_building() -> None:
    engines = engines_base.available_engines()
    assert {"evidence", "fused", "forgerytalker"} <= set(engines)
    assert all(engines[n] for n in engines_base.BUILTIN_ENGINES)
    assert {"default", "facexlib"} <= set(faces_base.available_backends())


def test_unknown_names_list_what_exists() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown engine 'nope'; available: .*evidence.*fused"):
        engines_base.get_engine("nope")
    with pytest.raises(UnknownNameError, match=r"unknown face backend 'nope'; available: default, facexlib"):
        faces_base.get_backend("nope")


class _Plugin:
    name = "plugin"

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs


def test_run_time_additions_by_name_and_by_object() -> None:
    reg: Registry[object] = Registry("engine", {"builtin": Entry(f"{__name__}:_Plugin", "built in")})
    reg.add("by-name", f"{__name__}:_Plugin", "imported when built")
    reg.add("by-object", _Plugin)
    assert list(reg.entries()) == ["builtin", "by-name", "by-object"] and set(reg.added) == {"by-name", "by-object"}
    built = reg.create("by-name", device="cpu")
    assert isinstance(built, _Plugin) and built.kwargs == {"device": "cpu"}
    assert isinstance(reg.create("by-object"), _Plugin)
    reg.add("by-object", f"{__name__}:_Plugin")  # a plugin module imported twice replaces its own entry
    with pytest.raises(ValueError, match="built in"):
        reg.add("builtin", _Plugin)
    with pytest.raises(ValueError, match="module:callable"):
        Entry("no_colon").load()


def test_decorator_shims_add_through_the_explicit_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines_base, "_ENGINES", Registry("engine", engines_base.BUILTIN_ENGINES))
    monkeypatch.setattr(faces_base, "_BACKENDS", Registry("face backend", faces_base.BUILTIN_BACKENDS))
    assert engines_base.register_engine("shim", "a plugin")(_Plugin) is _Plugin
    assert engines_base.available_engines()["shim"] == "a plugin"
    assert isinstance(engines_base.get_engine("shim"), _Plugin)
    engines_base.add_engine("lazy", f"{__name__}:_Plugin", "by name")
    assert isinstance(engines_base.get_engine("lazy"), _Plugin)
    faces_base.register_backend("shim")(_Plugin)
    assert "shim" in faces_base.available_backends() and isinstance(faces_base.get_backend("shim"), _Plugin)
    with pytest.raises(ValueError):
        engines_base.add_engine("fused", _Plugin)
