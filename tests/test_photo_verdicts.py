"""A photo of several faces: the verdict's false-positive rate is per face (forgetalk.verdict.photo_verdicts).

Untouched collages of 4, 9 and 16 test portraits were "likely manipulated" 30 %, 35 % and 68 % of
the time (benchmarks/group_photos.py); an untouched collage of 24 faces in the development photos
was, by one face at 0.878 against the threshold 0.874."""

from __future__ import annotations

import pytest

from forgetalk.engines.base import RealScoreTail
from forgetalk.results import VERDICT_INCONCLUSIVE, VERDICT_MANIPULATED, VERDICT_NO_EVIDENCE, FaceCompression, FaceResult
from forgetalk.verdict import photo_verdicts

#: 100 real validation scores 0.00-0.99: a real face scores s or more on (100 - 100 s) of them.
TAIL = RealScoreTail(tuple(i / 100 for i in range(100)), 0.05)
REASON = "score {:.3f} >= threshold 0.950 (false-positive rate 5.0% on real faces)"


def _face(i: int, score: float, verdict: str = VERDICT_NO_EVIDENCE, size: float = 200.0, **kw) -> FaceResult:  # noqa: ANN003
    reason = REASON.format(score) if verdict == VERDICT_MANIPULATED else f"score {score:.3f} < threshold 0.950"
    return FaceResult(index=i, box=(0.0, 0.0, 10.0, 10.0), detection_score=0.99, face_size_px=size, score=score, verdict=verdict,
                      verdict_reason=reason, regions=(), **kw)


def test_a_face_flagged_in_a_photo_of_many_faces_is_inconclusive_unless_rare_enough_for_the_photo() -> None:
    faces = [_face(0, 0.96, VERDICT_MANIPULATED), *(_face(i, 0.3) for i in range(1, 4))]
    out = photo_verdicts(faces, TAIL)
    assert out[0].verdict == VERDICT_INCONCLUSIVE and out[1:] == tuple(faces[1:])
    reason = out[0].verdict_reason
    # 4 of 100 real faces score 0.96 or more: an untouched photo of 4 faces has one that high 1 - 0.96^4 = 15 % of the time
    assert reason.startswith("one of 4 faces judged in this photo: 4 of 100 untouched validation items score this high") and "about 15 %" in reason
    assert reason.endswith("; " + REASON.format(0.96))  # the face's own comparison kept after the cause
    rare = [_face(0, 0.99, VERDICT_MANIPULATED), *faces[1:]]  # 1 of 100: 1 - 0.99^4 = 3.9 % <= 5 %
    assert photo_verdicts(rare, TAIL)[0].verdict == VERDICT_MANIPULATED


def test_one_judged_face_no_tail_or_a_compression_finding_leave_verdicts_alone() -> None:
    flagged = _face(0, 0.96, VERDICT_MANIPULATED)
    assert photo_verdicts([flagged], TAIL) == (flagged,)
    tiny = [flagged, _face(1, 0.2, size=40.0), _face(2, 0.2, outside_share=0.5)]  # too small / cut: not judged
    assert photo_verdicts(tiny, TAIL) == tuple(tiny)
    pair = [flagged, _face(1, 0.2)]
    assert photo_verdicts(pair, None) == tuple(pair)  # an engine without real scores (ForgeryTalker, evidence)
    comp = FaceCompression(0.0, 1.0, (), ("mouth",), 6.0, 0.5, "test")
    by_history = _face(0, 0.96, VERDICT_MANIPULATED, compression=comp)
    assert photo_verdicts([by_history, _face(1, 0.2)], TAIL)[0] is by_history


def test_a_greyscale_face_is_read_against_the_greyscale_tail() -> None:
    """A face judged against the greyscale threshold (``meta["threshold_basis"]``) is compared with
    the grey untouched items' scores, and the reason says so; without that tail it is left alone."""
    grey_tail = RealScoreTail(tuple(i / 200 for i in range(100)), 0.05)  # grey faces score lower: 0.00-0.495
    grey = _face(0, 0.49, VERDICT_MANIPULATED, engine_meta={"threshold_basis": "greyscale"})
    pair = [grey, _face(1, 0.2, engine_meta={"threshold_basis": "greyscale"})]
    out = photo_verdicts(pair, TAIL, grey_tail)  # 2 of 100 grey items at 0.49 or more: 1 - 0.98^2 = 4.0 % <= 5 %
    assert out[0].verdict == VERDICT_MANIPULATED
    lower = [_face(0, 0.47, VERDICT_MANIPULATED, engine_meta={"threshold_basis": "greyscale"}), pair[1]]  # 6 of 100: 11.6 %
    reason = photo_verdicts(lower, TAIL, grey_tail)[0].verdict_reason
    assert reason.startswith("one of 2 faces judged in this photo: 6 of 100 greyscale copies of untouched validation items score this high")
    assert photo_verdicts(lower, TAIL, None) == tuple(lower)  # no grey tail: the colour scores do not stand in


@pytest.mark.parametrize("score,hits", [(0.0, 100), (0.5, 50), (0.995, 0), (0.99, 1)])
def test_the_tail_counts_real_scores_at_or_above(score: float, hits: int) -> None:
    assert TAIL.share_at_or_above(score) == (hits, 100)


def test_the_calibration_lists_its_real_scores_sorted_and_the_shipped_engine_reads_them() -> None:
    import json
    from pathlib import Path

    from forgetalk.engines import get_engine
    from forgetalk.engines.fused import FusedCalibration

    recipe = json.loads((Path(__file__).resolve().parents[1] / "weights" / "localizer" / "recipe.json").read_text())
    section = dict(recipe["calibration"])
    cal = FusedCalibration.from_dict(section)
    assert len(cal.real_scores_oof) == section["n_val_real"] == 549
    assert "real_scores_oof" not in cal.info() and cal.info()["real_scores_oof_n"] == 549  # not copied into every report
    hits, total = RealScoreTail(cal.real_scores_oof, 0.05).share_at_or_above(float(section["threshold"]))
    assert abs(hits / total - float(section["measured_fpr"])) <= 1 / total  # the stated rate, read back from the list
    with pytest.raises(ValueError, match="not sorted"):
        FusedCalibration.from_dict({**section, "real_scores_oof": [0.5, 0.2]})
    tail = get_engine("fused").real_score_tail
    assert tail is not None and tail.scores == cal.real_scores_oof and tail.target_fpr == 0.05
    assert getattr(get_engine("evidence"), "real_score_tail", None) is None  # its calibration lists no scores: verdicts as they are
