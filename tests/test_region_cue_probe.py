"""The probe's vectorised region score (benchmarks/region_cue_probe.py) is the engine's, row for row.

Why: the probe restates ``fused.with_region_cues`` and ``region_saliency``'s even blend of heat
saliency and region score in numpy, to score thousands of rows per variant; this pins the two
together so a change of the product's rule cannot leave the probe measuring something else.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import load_benchmark


@pytest.fixture(scope="module")
def probe():  # noqa: ANN201
    return load_benchmark("region_cue_probe")


def test_probe_region_score_matches_the_engine(probe) -> None:  # noqa: ANN001
    from forgetalk.engines.fused import raised_region_scores

    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        reg = {}
        for k in ("left_eye", "right_eye", "nose"):
            heat_sal, head = float(rng.uniform(0.05, 0.6)), float(rng.uniform(0.05, 0.9))
            z = {"iris_colour": float(rng.uniform(-1, 4))} if k != "nose" else {"part_size": 3.0}
            reg[k] = {"sal": 0.5 * heat_sal + 0.5 * head, "head": head, "z": z, "heat_sal": heat_sal}
        rows.append({"fake": i % 2 == 1, "kind": "eye_colour" if i % 2 else "real", "primary": ["left_eye"] if i % 2 else [], "photo": f"p{i}", "copy": 0,
                     "ff": {}, "reg": reg})
    table = probe.RegionTable(rows)
    for weights, floor in (({"iris_colour": 2.0}, 0.0), ({"iris_colour": 12.0}, 1.0), ({"iris_colour": 1.0, "part_size": 0.5}, 1.0)):
        got = table.with_cues(weights, floor)
        want = []
        for r in rows:
            stats = {c: {f"{k}.z": v["z"][c] for k, v in r["reg"].items() if c in v["z"]} for c in ("iris_colour", "part_size")}
            scores, _ = raised_region_scores({k: v["head"] for k, v in r["reg"].items()}, stats, weights, floor)
            want += [0.5 * v["heat_sal"] + 0.5 * scores[k] for k, v in r["reg"].items()]
        assert np.allclose(got, want, atol=1e-3)
