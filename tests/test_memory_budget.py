"""Memory budget (issue 8, item 9): `analyze` on a 150 MP PNG peaks under 1.5 GB.

SLOW (about 30 s on 2 cores): generates a 150 MP PNG (the public-domain portrait upscaled,
so it compresses to ~40 MB) and runs a fresh `forgetalk analyze --report` process on it.
The peak resident set size is the kernel's ``ru_maxrss`` of that child, read by a small
fresh interpreter that starts it (spawned straight from pytest, the child would inherit
pytest's own RSS high-water mark; see ``benchmarks/memory.py``). It measures memory, never time. ``benchmarks/memory.py`` runs the same
measurement on more cases (noise PNG, JPEG, a photo just inside the analysis budget).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers import load_benchmark

bench = load_benchmark("memory")

LIMIT_MIB = 1536


@pytest.mark.slow
def test_analyze_150mp_png_peak_rss_under_1_5_gb(tmp_path: Path) -> None:
    image = bench.make_portrait(tmp_path / "huge.png", 150)
    code, peak, _ = bench.peak_rss_mib(bench.analyze_cmd(image, tmp_path / "r.pdf", "fused"))
    assert code == 0
    assert peak <= LIMIT_MIB, f"peak RSS {peak:.0f} MiB over the {LIMIT_MIB} MiB budget"
    doc = json.loads((tmp_path / "r.json").read_text())
    inp = doc["input"]
    assert (inp["native_width"], inp["native_height"]) == (11313, 13258) and inp["reduction"] == 4
    assert inp["width"] * inp["height"] <= 16_000_000
    assert any("analysed at 1/4 resolution" in w for w in doc["warnings"])
    assert doc["faces"]  # the reduced photo is still analysed end to end
