"""A whole-face retouch (forgetalk.synth.beauty) as processing of both twins, never as the edit.

Why it exists (docs/localizer_history.md, sixteenth session): the shipped engine flags most untouched
portraits once their skin is smoothed as a beauty mode does, because the ``retouch`` family taught
it that smooth skin is a forgery. The trainer's ``beauty`` option retouches the host before the
edit, so both twins carry it; off (0) it must draw nothing, so every shipped recipe replays.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from click.testing import CliRunner

from forgetalk.engines.localizer.model import LocalizerConfig
from forgetalk.synth import FaceRecord
from forgetalk.synth.beauty import Beauty, beauty_finish, draw_beauty
from forgetalk.synth.common import skin_mask
from forgetalk.synth.samples import public_domain_face
from forgetalk.train.loop import TrainConfig, family_pair, make_batch

TINY = LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))


def _rec() -> FaceRecord:
    f = public_domain_face()
    return FaceRecord.from_crop(f.crop, f.dense_landmarks, 256)


def _texture(img: np.ndarray, mask: np.ndarray) -> float:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(g - cv2.GaussianBlur(g, (0, 0), 1.5))[mask].mean())


def test_the_retouch_smooths_the_skin_and_leaves_the_rest_alone() -> None:
    rec = _rec()
    skin = skin_mask(rec)
    flat = Beauty(sigma_colour=40.0, sigma_space=6.0, amount=0.9, gamma=1.0, contrast=1.0)  # no tone change: only the smoothing
    out = beauty_finish(rec.crop, skin, flat)
    assert np.array_equal(out, beauty_finish(rec.crop, skin, flat))  # deterministic
    assert _texture(out, skin) < 0.85 * _texture(rec.crop, skin)  # 0.80 on this face at 256 px, 0.76 at 512
    far = ~cv2.dilate(skin.astype(np.uint8), np.ones((81, 81), np.uint8)).astype(bool)  # beyond the feathered edge
    assert np.abs(out.astype(int) - rec.crop)[far].max() <= 1
    lifted = beauty_finish(rec.crop, np.zeros_like(skin), replace(flat, gamma=0.85))
    assert lifted.astype(int).mean() > rec.crop.astype(int).mean() + 3  # the tone curve reaches the whole photo


def test_drawn_retouches_stay_in_their_ranges() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        b = draw_beauty(rng)
        assert 20 <= b.sigma_colour <= 45 and 3 <= b.sigma_space <= 8 and 0.5 <= b.amount <= 0.9
        assert 0.85 <= b.gamma <= 1.0 and 1.0 <= b.contrast <= 1.1
    assert set(b.as_dict()) == {"sigma_colour", "sigma_space", "amount", "gamma", "contrast"}


def test_off_the_pair_draws_nothing_more_and_on_both_twins_carry_it() -> None:
    rec = _rec()
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    off = family_pair(rec, a, [rec], ("part_swap", "retouch"), True)
    default = family_pair(rec, b, [rec], ("part_swap", "retouch"), True, beauty=0.0)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(off, default, strict=True))
    assert a.bit_generator.state == b.bit_generator.state and "beauty" not in off[0].params
    twin, fake = family_pair(rec, np.random.default_rng(3), [rec], ("eye_colour",), False, beauty=1.0)
    assert twin.params["beauty"] == fake.params["beauty"]  # one retouch, both twins
    skin = skin_mask(rec)
    assert _texture(twin.image, skin) < _texture(rec.crop, skin)  # the untouched twin is the retouched host


def test_batches_say_which_hosts_were_retouched() -> None:
    recs = [_rec()] * 2
    cfg = TrainConfig(model=TINY, families=("part_swap",), chain=True)
    plain = make_batch(recs, np.random.default_rng(1), cfg, 8)
    assert not plain["beauty"].any()
    every = make_batch(recs, np.random.default_rng(1), replace(cfg, beauty=1.0), 8)
    assert every["beauty"].all()
    half = make_batch(recs, np.random.default_rng(2), replace(cfg, beauty=0.5), 40)
    pairs = half["beauty"].view(-1, 2)
    assert (pairs[:, 0] == pairs[:, 1]).all() and 0 < int(pairs[:, 0].sum()) < 20  # twins alike; some pairs, not all


def test_beauty_needs_family_training() -> None:
    from forgetalk.cli import main

    out = CliRunner().invoke(main, ["train", "localizer", "--bundle", __file__, "--no-calibrate", "--beauty", "0.5"])
    assert out.exit_code == 2 and "--beauty needs family training" in out.output


def test_the_screen_splits_its_scores_by_retouched_hosts() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from localizer_screen import beauty_aucs

    score = np.array([0.9, 0.1, 0.8, 0.95, 0.2, 0.7])
    forged = np.array([1, 0, 1, 0, 1, 0], bool)
    retouched = np.array([0, 0, 0, 1, 1, 1], bool)
    got = beauty_aucs(score, forged, retouched)
    assert got["plain pairs"] == 1.0  # 0.9, 0.8 above 0.1
    assert got["retouched pairs"] == 0.0  # 0.2 below 0.95 and 0.7
    assert got["plain forged vs retouched untouched"] == 0.5  # 0.9, 0.8 against 0.95, 0.7
    assert got["retouched forged vs plain untouched"] == 1.0  # 0.2 above 0.1


def test_the_local_brush_never_smooths_all_of_the_skin() -> None:
    from forgetalk.synth.retouch import retouch

    rec = _rec()
    areas = {True: set(), False: set()}
    for seed in range(24):
        for all_skin in (True, False):
            smp = retouch(rec, np.random.default_rng(seed), ops="skin_smooth", all_skin=all_skin)
            areas[all_skin].add(smp.params["per_op"][0]["area"])
    assert "skin" in areas[True] and "skin" not in areas[False] and areas[False]
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(retouch(rec, a).image, retouch(rec, b, all_skin=True).image)  # the default is the shipped draw


def test_the_trainer_swaps_in_the_local_brush_only_when_asked() -> None:
    rec = _rec()
    seen = {"all": set(), "local": set()}
    for seed in range(24):
        for brush in seen:
            _, fake = family_pair(rec, np.random.default_rng(seed), [rec], ("retouch",), False, retouch_brush=brush)
            seen[brush].update(op.get("area") for op in fake.params["per_op"] if op["op"] in ("skin_smooth", "freq_sep"))
    assert "skin" in seen["all"] and "skin" not in seen["local"]
