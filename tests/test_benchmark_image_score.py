"""The image-score benchmark's rules and table code on synthetic records (no ../shared, no analysis)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from _helpers import load_benchmark
from PIL import Image


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("image_score")


def _photo(faces: list[tuple[float, float]]) -> dict:
    recs = [{"size": s, "score": v, "verdict": "likely manipulated" if v >= 0.9 else "no evidence of manipulation found", "det": 0.99} for s, v in faces]
    big = [v for s, v in faces if s >= 64]
    return {"image_score": max(big or [v for _, v in faces], default=0.0), "verdict": recs[0]["verdict"] if recs else "no face found", "faces": recs}


def test_the_rules_differ_only_where_a_face_is_too_small_to_judge(bench) -> None:  # noqa: ANN001
    both = [{"size": 300.0, "score": 0.4}, {"size": 30.0, "score": 0.97}]
    assert bench.RULES["every face (before)"](both) == 0.97
    assert bench.RULES["faces >= MIN_FACE_PX (shipped)"](both) == 0.4
    assert bench.RULES["largest face only"](both) == 0.4
    assert bench.RULES["faces >= MIN_FACE_PX (shipped)"]([{"size": 30.0, "score": 0.7}]) == 0.7  # none judged: the rest
    assert bench.RULES["every face (before)"]([]) == 0.0


def test_saved_scales_the_long_side_and_writes_a_jpeg(bench) -> None:  # noqa: ANN001
    data = bench.saved(np.zeros((512, 400, 3), np.uint8), 160, 90)
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and max(im.size) == 160 and im.size[1] == 160


def test_report_prints_a_table_per_size(bench, capsys) -> None:  # noqa: ANN001
    rows = [{"stem": f"s{i}", "parts": ["nose"], "quality": 90,
             "forged_160": _photo([(100.0, 0.95)]), "untouched_160": _photo([(100.0, 0.3), (40.0, 0.99)])} for i in range(3)]
    bench.report(rows, [160])
    out = capsys.readouterr().out
    assert "### 160 px photos" in out and "a face below 64 px: 3" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("| every face") or ln.startswith("| faces >=")]
    assert lines[0].split("|")[2].strip() == "0.000"  # every face: the tiny background face outranks every forgery
    assert lines[1].split("|")[2].strip() == "1.000" and lines[1].split("|")[-2].strip() == "3"


def test_donor_history_lowers_detail_and_keeps_the_size(bench) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    donor = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    out, params = bench.donor_history(donor, np.random.default_rng(1))
    assert out.shape == donor.shape and out.dtype == np.uint8
    assert 0.3 * 256 - 1 <= params["donor_px"] <= 256 and 60 <= params["donor_quality"] <= 92
    assert np.abs(np.diff(out.astype(float), axis=1)).mean() < np.abs(np.diff(donor.astype(float), axis=1)).mean()
    assert bench._span("6") == (6.0, 6.0) and bench._span("14,30") == (14.0, 30.0)


def test_unpaired_aucs_show_a_source_the_engine_scores_high_untouched(bench, capsys) -> None:  # noqa: ANN001
    # Source A: untouched photos score 0.6-0.7, its forgeries 0.8. Source B scores everything 0.3
    # lower. Each paired AUC is perfect; B's forgeries against A's untouched photos are at chance or worse.
    a = [{"forged_160": _photo([(100.0, 0.8)]), "untouched_160": _photo([(100.0, 0.6 + 0.01 * i)])} for i in range(10)]
    b = [{"forged_160": _photo([(100.0, 0.5)]), "untouched_160": _photo([(100.0, 0.3 + 0.01 * i)])} for i in range(10)]
    c = bench.cross_source(a, b, 160)
    assert c["own"] == 1.0 and c["other"] == 1.0
    assert c["forged_vs_other"] == 1.0 and c["other_vs_own"] == 0.0
    assert c["untouched_median"] > c["other_untouched_median"]
    bench.report_cross(a, b, [160], ("a", "b"))
    row = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| 160 px")][0]
    assert [x.strip() for x in row.split("|")[2:6]] == ["1.000", "1.000", "1.000", "0.000"]
    bench.report_cross(a, [{"forged_600": r["forged_160"], "untouched_600": r["untouched_160"]} for r in b], [160], ("a", "b"))
    assert "| 160 px | b: no photos at this size |" in capsys.readouterr().out  # a run made at other sizes, not nan


def test_retouch_note_rates_come_from_the_largest_face_and_count_verdicts(bench) -> None:  # noqa: ANN001
    """The note's rule (forgetalk.retouch_pattern) on saved records: a skin area first with a hot
    face counts, a feature first does not, a small second face is ignored; old records give None."""
    def photo(top: str, hot: float, flagged: bool, size: float = 300.0) -> dict:
        face = {"size": size, "score": 0.9, "top_region": top, "features": {"hot_frac": hot}}
        small = {"size": 80.0, "score": 0.1, "top_region": "left_cheek", "features": {"hot_frac": 0.9}}
        return {"faces": [small, face], "verdict": "likely manipulated" if flagged else "no evidence of manipulation found"}

    photos = [photo("left_cheek", 0.4, True), photo("skin", 0.3, False), photo("nose", 0.9, True), photo("forehead", 0.1, True)]
    assert bench.retouch_notes(photos).startswith("2/4 (50.0 %") and bench.retouch_notes(photos).endswith("with 1 of the 3 verdicts")
    assert bench.retouch_notes([{"faces": [{"size": 300.0, "score": 0.5}], "verdict": "no evidence of manipulation found"}]) is None
    assert bench.retouch_notes([]) is None


def test_ranking_prior_counts_the_largest_faces_top_region(bench) -> None:  # noqa: ANN001
    """The share of untouched photos whose largest face ranks a region first: a small second face
    does not count, photos without a face are left out, ties go to the first name; old records
    (no top region) give None."""
    def photo(top: str, small_top: str = "mouth") -> dict:
        return {"faces": [{"size": 60.0, "top_region": small_top}, {"size": 300.0, "top_region": top}]}

    photos = [photo("left_eye"), photo("left_eye"), photo("nose"), photo("mouth", "nose"), {"faces": []}]
    assert bench.ranking_prior(photos).startswith("left_eye, 2/4 (50.0 %")
    assert bench.ranking_prior([photo("nose"), photo("mouth")]).startswith("mouth, 1/2")
    assert bench.ranking_prior([{"faces": [{"size": 300.0}]}]) is None
    assert bench.ranking_prior([]) is None


def test_tone_finishes_and_the_greyscale_threshold(bench, capsys) -> None:  # noqa: ANN001
    """``--finish grey`` makes both photos greyscale (three equal channels) and the table then
    counts against the greyscale threshold; ``--finish sepia`` applies the editors' matrix."""
    from forgetalk.io import channels_equal

    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 200
    assert channels_equal(bench.TONES["grey"](colour), step=1) and int(bench.TONES["grey"](colour)[0, 0, 0]) == round(200 * 0.299)
    assert bench.TONES["sepia"](np.full((2, 2, 3), 255, np.uint8))[0, 0].tolist() == [255, 255, 239]
    rows = [{"stem": "s0", "parts": ["nose"], "quality": 90, "finish": "grey",
             "forged_160": _photo([(100.0, 0.95)]), "untouched_160": _photo([(100.0, 0.3)])}]
    bench.report(rows, [160])
    assert f"verdict threshold {bench._threshold(greyscale=True):.3f} (greyscale)" in capsys.readouterr().out
    bench.report([{**rows[0], "finish": "sepia"}], [160])
    assert f"verdict threshold {bench._threshold():.3f};" in capsys.readouterr().out
