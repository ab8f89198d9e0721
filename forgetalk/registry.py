"""Static, lazy name -> factory tables (the engines and the face backends use one each).

Why a table of ``"module:factory"`` strings rather than decorators that fill a dict on
import: the table can be listed (``forgetalk engines``, "unknown name" messages) without
importing anything, a factory's module (torch, onnxruntime, facexlib) is imported only when
its name is asked for, and what is available never depends on which modules happen to have
been imported already. Nothing registers itself, so the registries need no import cycle
(``faces/base.py`` no longer imports the backends that import it).

Plugins and tests still add names at run time, through one explicit call
(:meth:`Registry.add`); those additions live beside the static table, never in it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One name's factory: ``"package.module:callable"`` (imported when first used), or, for
    names added at run time, the callable itself."""

    factory: str | Callable[..., object]
    description: str = ""

    def load(self) -> Callable[..., object]:
        """The factory, importing its module now if it is given by name."""
        if not isinstance(self.factory, str):
            return self.factory
        module, sep, attr = self.factory.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"factory {self.factory!r} is not 'package.module:callable'")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


class Registry(Generic[T]):
    """A static table of built-in names plus the names a plugin or a test added explicitly."""

    def __init__(self, kind: str, builtin: Mapping[str, Entry]) -> None:
        self.kind = kind  # "engine", "face backend": used in messages
        self.builtin: Mapping[str, Entry] = MappingProxyType(dict(builtin))
        self._added: dict[str, Entry] = {}

    def add(self, name: str, factory: str | Callable[..., T], description: str = "") -> None:
        """Make ``name`` available in this process. Re-adding a plugin name replaces it (a plugin
        module imported twice); a built-in name is refused, so a plugin cannot silently replace
        the engine a report names."""
        if name in self.builtin:
            raise ValueError(f"{self.kind} {name!r} is built in and cannot be replaced")
        self._added[name] = Entry(factory, description)

    @property
    def added(self) -> Mapping[str, Entry]:
        """Names added at run time (empty unless a plugin or a test called :meth:`add`)."""
        return MappingProxyType(self._added)

    def entries(self) -> dict[str, Entry]:
        """Every name, built in or added, sorted."""
        return dict(sorted({**self.builtin, **self._added}.items()))

    def require(self, name: str) -> Entry:
        """``name``'s entry, or the one-line UnknownNameError (exit 2) naming what is available.
        Nothing is imported: a command can refuse a bad name before it touches anything."""
        entry = self.builtin.get(name) or self._added.get(name)
        if entry is None:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; available: {', '.join(self.entries())}")
        return entry

    def create(self, name: str, **kwargs: object) -> T:
        """Import ``name``'s factory (first use only) and call it with ``kwargs``."""
        return self.require(name).load()(**kwargs)  # type: ignore[return-value]
