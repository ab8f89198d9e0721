"""The validation screen's pure helpers (benchmarks/localizer_screen.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from forgetalk.faces import REGION_NAMES

_SPEC = importlib.util.spec_from_file_location("localizer_screen", Path(__file__).resolve().parent.parent / "benchmarks" / "localizer_screen.py")
screen = importlib.util.module_from_spec(_SPEC)  # type: ignore[arg-type]
_SPEC.loader.exec_module(screen)  # type: ignore[union-attr]


def test_combinations_list_every_pass_once() -> None:
    assert screen.parse_combo("v3") == [("v3", False)]
    assert screen.parse_combo("v3+v6~flip") == [("v3", False), ("v6", False), ("v6", True)]


def test_mirrored_channels_swap_left_and_right_only() -> None:
    perm = screen.mirrored_channels(REGION_NAMES)
    for i, name in enumerate(REGION_NAMES):
        other = REGION_NAMES[perm[i]]
        if name.startswith("left_"):
            assert other == "right_" + name[5:]
        elif name.startswith("right_"):
            assert other == "left_" + name[6:]
        else:
            assert other == name
    assert sorted(perm) == list(range(len(REGION_NAMES)))
