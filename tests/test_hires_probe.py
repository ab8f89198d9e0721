"""The full-resolution residual probe (benchmarks/hires_probe.py) sees only what its finding in
docs/localizer_history.md says it sees, and its tables compare what they say they compare."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers import load_benchmark

from forgetalk.engines.localizer.infer import Localizer
from forgetalk.engines.localizer.model import LocalizerConfig, build_localizer
from forgetalk.synth import FaceRecord
from forgetalk.synth.samples import public_domain_face


@pytest.fixture(scope="module")
def probe():  # noqa: ANN201
    return load_benchmark("hires_probe")


def test_the_network_sees_no_colour_or_shading_only_fine_detail(probe) -> None:  # noqa: ANN001
    """A flat colour or a linear shading gives a zero residual; a fine texture does not."""
    k = probe._gauss(probe.SIGMA)
    flat = torch.full((1, 3, 32, 32), 0.3)
    flat[:, 1] = 0.8
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32).repeat(1, 3, 32, 1)
    assert probe.highpass(flat, k).abs().max() < 1e-5
    assert probe.highpass(ramp, k)[..., 4:-4].abs().max() < 1e-4  # inside the reflected border
    checker = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2).float().expand(1, 3, 32, 32)
    assert probe.highpass(checker, k).abs().mean() > 1.0


def test_patches_stay_inside_the_crop(probe) -> None:  # noqa: ANN001
    assert probe.patch_corner(5, 500, 512, 256) == (0, 256)
    assert probe.patch_corner(300, 300, 512, 256) == (172, 172)


def test_a_tiny_run_trains_scores_and_summarizes(probe) -> None:  # noqa: ANN001
    """Forge, train a few steps, score every validation face x family, and tabulate: twins and
    forgeries alternate, every row's AUCs are numbers, and the stacked score is out of fold."""
    f = public_domain_face()
    recs = [FaceRecord.from_crop(f.crop, f.dense_landmarks, 160, source=s) for s in ("faces", "parsing", "parsing", "faces", "parsing")]
    pool = probe.forge_pool(recs, 0, 3, patch=64)
    assert pool.x.shape == (3, 2, 2, 64, 64, 3) and pool.mask[:, 0].any()
    assert not np.array_equal(pool.x[:, 0, 0], pool.x[:, 0, 1])  # the forgery differs from its twin on the edit
    x, m = probe.batch_of(pool, np.random.default_rng(0), 2, crop=32)
    assert x.shape == (4, 3, 32, 32) and m[0::2].sum() == 0  # the twin's target is empty
    net, info = probe.train_probe(pool, minutes=0, steps=2, device="cpu", pairs=2, crop=32, log=lambda s: None)
    assert info["steps"] == 2
    loc = Localizer(build_localizer(LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))))
    rows = probe.score_validation(net, loc, recs, 1, log=lambda s: None)
    n = len(recs) * len(probe.FAMILIES) * 2
    assert all(len(v) == n for v in rows.values())
    assert rows["forged"].tolist() == [0.0, 1.0] * (n // 2)
    summary = probe.summarize(rows, [r.source for r in recs], [f"p{i}" for i in range(len(recs))])
    assert set(summary) >= {"residual", "localizer"}
    assert "| residual |" in probe.table(summary)
    for row in summary.values():
        assert 0.0 <= row["all"] <= 1.0


def test_parallel_forging_writes_each_slice_to_disk_as_one_process_would(probe, tmp_path) -> None:  # noqa: ANN001
    """Two processes fill their own slices of a file-backed pool; each slice equals the same
    seed's pairs forged here (nothing comes back through a pipe, so no copy)."""
    from forgetalk.train.bundle import load, pack

    f = public_domain_face()

    class _Face:
        crop, landmarks, parts = f.crop, f.dense_landmarks, None

    pack([_Face(), _Face()], 160, {"split": "train"}, tmp_path / "b.npz")
    (tmp_path / "pool").mkdir()
    got = probe.forge_parallel(tmp_path / "b.npz", 3, 2, 7, tmp_path / "pool", patch=64)
    recs = load(tmp_path / "b.npz").records
    want = probe.empty_pool(3, 64)
    probe.fill_pool(want, recs, 7, 0, 2)
    probe.fill_pool(want, recs, 8, 2, 1)
    assert np.array_equal(np.asarray(got.x), want.x) and np.array_equal(np.asarray(got.mask), want.mask)
    assert np.array_equal(np.asarray(got.family), want.family)
