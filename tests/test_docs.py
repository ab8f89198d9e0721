"""Every command and every (non-hidden) option appears in the README, so the documentation cannot
silently fall behind the CLI (the sqlite-utils habit)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from forgetalk.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


def _documented(word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", README) is not None


def test_every_command_is_in_the_readme() -> None:
    missing = [" ".join(path) for path, _ in _commands(main) if not _documented(f"forgetalk {' '.join(path)}")
               and not (len(path) == 2 and _documented(f"forgetalk {path[0]}") and _documented(path[1]))]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_option_is_in_the_readme() -> None:
    missing = []
    for p in main.params:
        if isinstance(p, click.Option) and not p.hidden:
            missing += [f"forgetalk {o}" for o in p.opts if o.startswith("--") and not _documented(o)]
    for path, cmd in _commands(main):
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                missing += [f"{' '.join(path)} {o}" for o in (*p.opts, *p.secondary_opts) if o.startswith("--") and not _documented(o)]
    assert not missing, f"options missing from README.md: {missing}"
