"""`train localizer --native-range`: the post-edit chain's native face-crop sizes, so a run can
train more on the small faces of a 160 px photo; the default replays the shipped members' stream."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from forgetalk.synth import FaceRecord
from forgetalk.synth.samples import public_domain_face
from forgetalk.train.loop import TrainConfig, family_pair


def _rec() -> FaceRecord:
    f = public_domain_face()
    return FaceRecord.from_crop(f.crop, f.dense_landmarks, 256)


def test_the_default_range_replays_the_stream_and_a_lower_one_draws_small_faces() -> None:
    rec = _rec()
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    plain = family_pair(rec, a, [rec], ("part_swap",), True)
    explicit = family_pair(rec, b, [rec], ("part_swap",), True, native_range=(128, 1024))
    assert all(np.array_equal(x.image, y.image) for x, y in zip(plain, explicit, strict=True))
    assert a.bit_generator.state == b.bit_generator.state
    sizes = []
    for seed in range(40):
        twin, fake = family_pair(rec, np.random.default_rng(seed), [rec], ("part_swap",), True, native_range=(64, 160))
        cp = fake.params["chain"]
        assert cp is twin.params["chain"]  # one chain, both twins
        if cp.resample:  # a chain without the resample step records 512
            sizes.append(cp.native_px)
    assert len(sizes) > 10 and min(sizes) >= 64 and max(sizes) <= 160 and len(set(sizes)) > 5


def test_the_recipe_records_the_range() -> None:
    assert TrainConfig().to_dict()["native_range"] == [128, 1024]
    assert TrainConfig(native_range=(96, 512)).to_dict()["native_range"] == [96, 512]


@pytest.mark.parametrize(("value", "words"), [("96", "two whole pixel sizes"), ("200,100", "16 <= lo < hi"), ("8,100", "16 <= lo < hi"),
                                              ("a,b", "two whole pixel sizes")])
def test_a_malformed_range_is_a_usage_error(value: str, words: str) -> None:
    from forgetalk.cli import main

    out = CliRunner().invoke(main, ["train", "localizer", "--bundle", __file__, "--no-calibrate", "--families", "part_swap", "--native-range", value])
    assert out.exit_code == 2 and words in out.output, out.output


def test_a_range_without_a_chain_is_a_usage_error() -> None:
    from forgetalk.cli import main

    out = CliRunner().invoke(main, ["train", "localizer", "--bundle", __file__, "--no-calibrate", "--native-range", "96,512"])
    assert out.exit_code == 2 and "needs family training" in out.output, out.output
