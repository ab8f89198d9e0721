"""The whole-skin retouch note: said when what the engine found covers the skin, not one part.

Why it exists (forgetalk/retouch_pattern.py, docs/localizer_history.md, sixteenth session): a
beauty mode's retouch makes the fused engine flag most untouched portraits, with a cheek or the skin
first; the note tells an analyst so, without changing the score or the verdict.
"""

from __future__ import annotations

import numpy as np

from forgetalk.engines.base import EngineOutput
from forgetalk.retouch_pattern import HOT_FRAC_MIN, MIN_FACE_PX, retouch_note, retouch_pattern
from tests._helpers import FAKE_ENGINE


def test_the_rule_needs_a_skin_area_first_a_hot_face_and_a_large_enough_face() -> None:
    hot = {"hot_frac": HOT_FRAC_MIN + 0.05}
    assert retouch_pattern("left_cheek", hot, MIN_FACE_PX)
    assert retouch_pattern("skin", hot, 400.0)
    assert not retouch_pattern("mouth", hot, 400.0)  # a part first: what a pasted part does
    assert not retouch_pattern("forehead", {"hot_frac": HOT_FRAC_MIN - 0.05}, 400.0)  # heat too local
    assert not retouch_pattern("forehead", hot, MIN_FACE_PX - 1)  # small faces: untouched ones spread too
    assert not retouch_pattern("forehead", {}, 400.0)  # engines without the statistic
    assert not retouch_pattern(None, hot, 400.0)


def test_the_note_names_the_region_and_the_share() -> None:
    note = retouch_note("left_cheek", 0.31)
    assert "31 % of the face hot" in note and "left cheek" in note.lower() and "pasted part" in note


def test_the_note_reaches_the_face_and_changes_nothing_else(default_backend, grace_rgb: np.ndarray) -> None:  # noqa: ANN001
    from forgetalk.pipeline import AnalyzeOptions, Analyzer

    face = default_backend.align(grace_rgb, default_backend.detect(grace_rgb))[0]
    assert face.detection.size >= MIN_FACE_PX
    an = Analyzer(AnalyzeOptions(engine=FAKE_ENGINE))

    def result(region: str, hot_frac: float):  # noqa: ANN202
        heat = face.regions[region].astype(np.float32) * 0.9
        out = EngineOutput(heatmap=heat, score=0.9, meta={"threshold": 0.8, "features": {"hot_frac": hot_frac}})
        return an._face_result(face, out, None)

    skin = result("left_cheek", 0.4)
    assert skin.regions[0].name in ("left_cheek", "skin")
    assert any("spread over the skin" in n for n in skin.notes)
    assert skin.score == 0.9 and skin.verdict == result("left_cheek", 0.1).verdict  # the verdict is the engine's
    assert not any("spread over the skin" in n for n in result("left_cheek", 0.1).notes)
    assert not any("spread over the skin" in n for n in result("mouth", 0.4).notes)
