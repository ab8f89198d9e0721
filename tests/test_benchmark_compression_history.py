"""The compression-history benchmark's forging and table code on tiny synthetic inputs (no ../shared)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from _helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("compression_history")


def _labels(nose_box: tuple[int, int, int, int]) -> np.ndarray:
    from forgetalk.train.parsing import PART

    lab = np.full((128, 128), PART["skin"], np.uint8)
    y0, y1, x0, x1 = nose_box
    lab[y0:y1, x0:x1] = PART["nose"]
    return lab


def test_paste_part_moves_the_donor_part_onto_the_hosts(bench) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    host = np.full((128, 128, 3), 60, np.uint8)
    donor = np.full((128, 128, 3), 200, np.uint8)
    out = bench.paste_part(host, _labels((50, 80, 50, 80)), donor, _labels((40, 70, 44, 74)), "nose", rng)
    assert out is not None
    forged, area = out
    assert area[65, 65] and not area[5, 5]  # the host's nose, not the donor's place or the corner
    assert forged[65, 65].mean() > 120 and forged[5, 5].mean() == 60
    assert bench.paste_part(host, _labels((0, 5, 0, 5)), donor, _labels((40, 70, 44, 74)), "nose", rng) is None  # too small


def test_report_prints_every_table(bench, capsys) -> None:  # noqa: ANN001
    def item(q: int, part: str, forged_excess: float, single: tuple[str, ...]) -> dict:
        mapped = {"face": True, "score": 0.5, "mapped": True, "double_found": True}
        return {"stem": "x", "part": part, "quality": q,
                "forged": {**mapped, "score": 0.7, "excess": {part: forged_excess, "chin_jaw": 0.0}, "single": single},
                "twice": {**mapped, "excess": {part: 0.0, "chin_jaw": 0.05}, "single": ()},
                "once": {"face": True, "score": 0.4, "mapped": False, "double_found": False, "excess": {}, "single": ()}}

    rows = [item(90, "nose", 1.2, ("nose",)), item(92, "mouth", 0.9, ("mouth",)), item(72, "nose", 0.0, ()), item(74, "mouth", -0.1, ())]
    bench.report(rows, SimpleNamespace(split="test", seed=1, resize=None))
    out = capsys.readouterr().out
    assert "| forged: the pasted part itself reported | | 50.0%" in out
    assert "| untouched, saved again | 100.0%" in out and "| 0.0% [" in out
    assert "| final quality above the first (76-97) | 1.000 |" in out
    assert "| nose | 2 |" in out and "| mouth | 2 |" in out


def test_forced_options_keep_every_draw_and_grow_widens_the_area(bench) -> None:  # noqa: ANN001
    """The image-score benchmark's edit-style options force colour and blend without changing
    any other draw, so its baseline photos stay the same whatever the options."""
    host = np.full((128, 128, 3), 60, np.uint8)
    donor = np.full((128, 128, 3), 200, np.uint8)
    hl, dl = _labels((50, 80, 50, 80)), _labels((40, 70, 44, 74))
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    _, tight = bench.paste_part(host, hl, donor, dl, "nose", a)
    _, wide = bench.paste_part(host, hl, donor, dl, "nose", b, grow=14, sigma=6.0, colour=True, blend="feather")
    assert a.random() == b.random()
    assert wide.sum() > tight.sum() and (wide | tight).sum() == wide.sum()
