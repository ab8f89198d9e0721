"""The generalization benchmark's metric and table code on a tiny synthetic result set (no models, no ../shared)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from _helpers import load_benchmark
from PIL import Image

from forgetalk.metrics import pixel_summary, roc_auc

S = 32  # image side


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("localization")


def _regions() -> dict[str, np.ndarray]:
    out = {}
    for name, (y0, y1, x0, x1) in {"left_eye": (2, 10, 2, 14), "right_eye": (2, 10, 18, 30), "nose": (12, 20, 12, 20), "mouth": (22, 30, 8, 24)}.items():
        m = np.zeros((S, S), bool)
        m[y0:y1, x0:x1] = True
        out[name] = m
    return out


def _item(kind: str, region: str | None, regions: dict[str, np.ndarray]) -> SimpleNamespace:
    mask = regions[region].copy() if region else np.zeros((S, S), bool)
    face = SimpleNamespace(regions=regions, face_mask=np.ones((S, S), bool), detection=SimpleNamespace(size=300.0))
    return SimpleNamespace(kind=kind, fake=region is not None, primary=(region,) if region else (), mask=mask, face=face)


class _Cal:
    """A region calibration stand-in: suspicion = excess = saliency (monotone, like the real ones)."""

    def percentile(self, region: str, value: float) -> float:
        return value

    def excess(self, region: str, value: float) -> float:
        return value

    def for_size(self, face_px: float | None) -> _Cal:  # one distribution for every face size
        return self


@pytest.fixture(scope="module")
def synthetic(bench):
    rng = np.random.default_rng(0)
    regions = _regions()
    fams = {"part_swap": "nose", "retouch": "mouth"}
    items = []
    for _ in range(6):
        items.append(_item("real", None, regions))
        items += [_item(k, r, regions) for k, r in fams.items()]
    records, heats = [], {"fused": [], "evidence": []}
    for idx, it in enumerate(items):
        noise = rng.random((S, S)).astype(np.float32) * 0.3
        good = np.clip(noise + 0.6 * it.mask, 0, 1)  # localizes every forgery
        poor = rng.random((S, S)).astype(np.float32)  # knows nothing
        records.append(bench.record_pixel_item("fused", idx, it, good, 0.9 if it.fake else 0.1, 0.01, None, _Cal(), 0.5, "faces"))
        records.append(bench.record_pixel_item("evidence", idx, it, poor, float(rng.random()), 0.01, None, None, 0.5, "parsing"))
        records.append(bench.record_pixel_item("lofo-part_swap", idx, it, poor if it.kind == "part_swap" else good, 0.2 if it.kind == "part_swap" else (0.9 if it.fake else 0.4),
                                               0.01, None, None, 0.5, "faces"))
        records.append(bench.ItemRecord("MesoNet Meso4_DF", idx, it.kind, it.fake, "faces", float(rng.random()), 0.01, it.primary))
        if it.fake:
            heats["fused"].append((good, it.mask))
            heats["evidence"].append((poor, it.mask))
    infos = [bench.EngineInfo("evidence", "pixel", 0.5, 0.5), bench.EngineInfo("fused", "pixel", 0.5, 0.5, region_calibrated=True),
             bench.EngineInfo("lofo-part_swap", "pixel", 0.5, 0.5, group="variant"), bench.EngineInfo("MesoNet Meso4_DF", "image", 0.5, group="peer")]
    fam_order = ("self_blend", "part_swap", "retouch")
    return SimpleNamespace(records=records, infos=infos, heats=heats, summary=bench.summarize(records, infos, fam_order), families=fam_order)


def test_hist_auc_matches_roc_auc_on_binned_scores(bench):
    rng = np.random.default_rng(1)
    pos, neg = rng.integers(0, 50, 400), rng.integers(10, 60, 300)
    hp, hn = np.bincount(pos, minlength=64), np.bincount(neg, minlength=64)
    assert bench.hist_auc(hp, hn) == pytest.approx(roc_auc(np.r_[pos, neg], np.r_[np.ones(400), np.zeros(300)]), abs=1e-12)
    assert np.isnan(bench.hist_auc(hp, np.zeros(64)))


def test_pixel_metrics_agree_with_metrics_pixel_summary(bench, synthetic):
    for name in ("fused", "evidence"):
        hm, masks = zip(*synthetic.heats[name], strict=True)
        ref = pixel_summary(list(hm), list(masks), 0.5)
        got = bench.pixel_metrics([r for r in synthetic.records if r.engine == name and r.fake])
        assert got["best_f1"] == pytest.approx(ref.best_f1, abs=1e-9)
        assert got["best_threshold"] == pytest.approx(ref.best_threshold)
        assert got["iou_best"] == pytest.approx(ref.iou_best, abs=1e-9)
        assert got["f1_shipped"] == pytest.approx(ref.f1_at) and got["iou_shipped"] == pytest.approx(ref.iou_at)
        assert got["pixel_auc"] == pytest.approx(ref.auc, abs=2e-3)  # 1024-bin histograms


def test_summary_per_family_region_auc_prior_and_lofo(bench, synthetic):
    by = {s["engine"]: s for s in synthetic.summary}
    fused, meso = by["fused"], by["MesoNet Meso4_DF"]
    assert fused["n_fake"] == 12 and fused["n_real"] == 6
    assert fused["image_auc"] == 1.0 and fused["tpr"] == 1.0 and fused["fpr"] == 0.0
    assert fused["top1"] == 1.0 and fused["pixel_auc"] > 0.95
    ps = fused["by_family"]["part_swap"]
    assert ps["n"] == 6 and ps["image_auc"] == 1.0 and ps["top1"] == 1.0
    assert ps["region_auc"]["nose"] == {"auc": 1.0, "n": 6} and ps["region_auc_mean"] == 1.0
    assert ps["region_auc_suspicion_mean"] == 1.0  # calibrated engine: suspicion AUC reported too
    assert "region_auc_suspicion_mean" not in by["evidence"]["by_family"]["part_swap"]
    assert "self_blend" not in fused["by_family"]  # absent families are left out, not zero
    assert set(meso["by_family"]["retouch"]) == {"n", "image_auc", "tpr"} and "pixel_auc" not in meso and "prior" not in meso
    prior = fused["prior"]
    assert sum(prior["shares"].values()) == pytest.approx(1.0)
    assert prior["max_share"] == max(prior["shares"].values()) and prior["shares"][prior["max_region"]] == prior["max_share"]
    (row,) = bench.lofo_rows(synthetic.summary)
    assert row["variant"] == "lofo-part_swap" and row["family"] == "part_swap" and row["n"] == 6
    assert row["image_auc_shipped"] == 1.0 and row["image_auc_variant"] == 0.0 and row["top1_shipped"] == 1.0


def test_image_auc_by_face_size_pairs_each_bin_with_its_own_untouched_faces(bench):
    """by_resolution: forgeries of one chain size against untouched faces of the same size only."""
    rec = lambda fake, score, px, kind="part_swap": bench.ItemRecord("fused", 0, kind if fake else "real", fake, "faces", score, 0.0, native_px=px)  # noqa: E731
    fakes = [rec(True, 0.9, 1024), rec(True, 0.8, 512), rec(True, 0.2, 200), rec(True, 0.3, 300, "retouch")]
    reals = [rec(False, 0.5, 600), rec(False, 0.1, 150), rec(False, 0.95, 400)]
    out = bench.by_resolution(fakes, reals, ("part_swap", "retouch"))
    assert list(out) == ["128-255 px", "256-511 px", "512-1024 px"]
    assert out["512-1024 px"] == {"n_fake": 2, "n_real": 1, "image_auc": 1.0, "by_family": {"part_swap": 1.0}}
    assert out["128-255 px"]["image_auc"] == 1.0 and out["256-511 px"]["image_auc"] == 0.0  # 0.3 against its own bin's 0.95
    assert out["256-511 px"]["by_family"] == {"retouch": 0.0}


def test_render_write_and_json(bench, synthetic, tmp_path):
    md = bench.render(synthetic.summary, synthetic.families)
    for needle in ("| engine | pixel AUC |", "**Image AUC per family**", "**Pixel AUC / IoU @shipped per family**", "**Region top-1 per family**",
                   "**Per-region AUC per family**", "**Per-region AUC on part_swap, region x engine**", "**Per-region AUC, region x family: fused**",
                   "**Real-face ranking prior**", "**Leave-one-family-out**", "**Image AUC by the face's size in its post-edit chain**",
                   "**Image AUC by face size and family: fused**", "| MesoNet Meso4_DF | — |", "| part_swap (6) |"):
        assert needle in md, needle
    header = next(line for line in md.splitlines() if line.startswith("| family (n forged) |"))
    assert all(e in header for e in ("evidence", "fused", "lofo-part_swap", "MesoNet Meso4_DF"))  # engines side by side
    assert "self_blend" not in md.split("**Image AUC per family**")[1].split("**Pixel AUC")[0]
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{bench.START}\nold numbers\n{bench.END}\noutro\n", encoding="utf-8")
    bench.write_between_markers(doc, md)
    text = doc.read_text(encoding="utf-8")
    assert "old numbers" not in text and text.startswith("intro\n") and text.endswith(f"{bench.END}\noutro\n") and md in text
    json.dumps(bench.json_ready({"summary": synthetic.summary, "lofo": bench.lofo_rows(synthetic.summary)}), allow_nan=False)


def test_shared_evidence_runs_once_per_face(bench):
    calls = []
    eng = SimpleNamespace(analyze_face=lambda f: calls.append(f) or len(calls), name="evidence")
    shared = bench.SharedEvidence(eng)
    a, b = object(), object()
    assert shared.analyze_face(a) == 1 and shared.analyze_face(a) == 1 and shared.hits == 1
    assert shared.analyze_face(b) == 2 and shared.name == "evidence"
    shared.reset()
    assert shared.analyze_face(b) == 3


def test_weighted_auc_is_the_auc_of_the_resample(bench):
    """Integer weights give the AUC of the resample that repeats each item that often (ties half)."""
    rng = np.random.default_rng(3)
    s = np.round(rng.random(60), 1)  # many ties
    y = rng.random(60) < 0.4
    assert bench.weighted_auc(s, y, np.ones(60)) == pytest.approx(roc_auc(s, y), abs=1e-12)
    w = rng.integers(0, 4, 60).astype(float)
    rep = np.repeat(np.arange(60), w.astype(int))
    assert bench.weighted_auc(s, y, w) == pytest.approx(roc_auc(s[rep], y[rep]), abs=1e-12)
    assert np.isnan(bench.weighted_auc(s, np.zeros(60, bool), np.ones(60)))


def test_photo_bootstrap_intervals_and_paired_differences(bench):
    """Intervals contain the point estimate; a variant that scores like the shipped engine differs by
    exactly 0 on every resample (paired), one that is better by a margin has an interval above 0;
    peers get no per-family intervals."""
    rng = np.random.default_rng(4)
    recs = []
    for i in range(120):
        photo, fake = f"p{i // 3}", i % 3 != 0
        kind = "real" if not fake else ("part_swap" if i % 3 == 1 else "retouch")
        base = float(rng.normal(0.6 if fake else 0.4, 0.2))
        for engine, score in (("fused", base), ("same", base), ("better", base + (0.5 if fake else 0.0)), ("meso", float(rng.random()))):
            recs.append(bench.ItemRecord(engine, i, kind, fake, "faces", score, 0.0, photo=photo))
    infos = [bench.EngineInfo("fused", "pixel", None), bench.EngineInfo("same", "pixel", None, group="variant"),
             bench.EngineInfo("better", "pixel", None, group="variant"), bench.EngineInfo("meso", "image", None, group="peer")]
    boot = bench.photo_bootstrap(recs, infos, ("part_swap", "retouch"), resamples=200)
    fused = boot["fused"]
    assert fused["photos"] == 40 and "minus_shipped" not in fused
    point = roc_auc(np.array([r.score for r in recs if r.engine == "fused"]), np.array([r.fake for r in recs if r.engine == "fused"]))
    lo, hi = fused["image_auc_ci"]
    assert lo < point < hi and hi - lo < 0.4
    assert boot["same"]["minus_shipped"] == {"diff": 0.0, "ci": [0.0, 0.0]}
    assert boot["better"]["minus_shipped"]["diff"] > 0 and boot["better"]["minus_shipped"]["ci"][0] > 0
    assert set(boot["better"]["by_family"]) == {"part_swap", "retouch"} and boot["meso"]["by_family"] == {}
    summary = bench.summarize(recs, infos, ("part_swap", "retouch"))
    md = bench.interval_tables(summary, ("part_swap", "retouch"))
    header = next(line for line in md.splitlines() if line.startswith("| family |"))
    assert "**Image AUC with 95 % intervals**" in md and "same minus fused" in header and "better minus fused" in header and "meso" not in header
    assert "| same | " in md and "+0.000 [+0.000, +0.000]" in md


def test_bootstrap_per_region_auc_matches_the_per_region_table(bench, synthetic):
    """The per-region intervals are built on the same definition as the per-region table: the full
    sample's difference equals the table's difference, and a perfect localizer's interval is [1, 1]."""
    by = {s["engine"]: s for s in synthetic.summary}
    fused = by["fused"]["bootstrap"]["by_family"]["part_swap"]
    assert fused["region_auc_ci"] == [1.0, 1.0]
    lofo = by["lofo-part_swap"]
    cell = lofo["bootstrap"]["by_family"]["part_swap"]["region_minus_shipped"]
    table = lofo["by_family"]["part_swap"]["region_auc_mean"] - by["fused"]["by_family"]["part_swap"]["region_auc_mean"]
    assert cell["diff"] == pytest.approx(table, abs=1e-12) and cell["ci"][1] <= 0.0
    assert "region_auc_ci" not in (by["MesoNet Meso4_DF"]["bootstrap"]["by_family"].get("part_swap") or {})
    md = bench.interval_tables(synthetic.summary, synthetic.families)
    assert "**Per-region AUC per family with 95 % intervals: fused" in md


def test_bootstrap_interval_of_the_ranking_prior(bench, synthetic):
    """The prior goal's statistic (the largest first-ranked share on untouched faces) gets an interval
    around its point estimate, and the table prints it after the verdict on the goal."""
    fused = next(s for s in synthetic.summary if s["engine"] == "fused")
    lo, hi = fused["bootstrap"]["prior_max_share_ci"]
    assert 0.0 < lo <= fused["prior"]["max_share"] <= hi <= 1.0
    assert "ok [" in bench.prior_table(synthetic.summary) or "above goal [" in bench.prior_table(synthetic.summary)


def test_image_auc_across_photo_sources(bench):
    # Untouched parsing-set faces score as high as the web photos' forgeries: each source alone is
    # ranked perfectly, its forgeries against the other's untouched faces are not.
    recs = []
    for i, (src, fake, score) in enumerate([("faces", False, 0.2), ("faces", True, 0.6), ("parsing", False, 0.7), ("parsing", True, 0.9)] * 3):
        recs.append(bench.ItemRecord("MesoNet Meso4_DF", i, "part_swap" if fake else "real", fake, src, score + 0.01 * i, 0.0, ()))
    s = bench.summarize_engine(recs, bench.EngineInfo("MesoNet Meso4_DF", "image", None, group="peer"), ("part_swap",))
    assert s["by_source"] == {"faces": 1.0, "parsing": 1.0, "faces forged vs parsing untouched": 0.0, "parsing forged vs faces untouched": 1.0}
    table = bench.source_table([s])
    assert "faces forged vs parsing untouched" in table and table.strip().splitlines()[-1].split("|")[1:6] == [" MesoNet Meso4_DF ", " 1.000 ", " 1.000 ", " 0.000 ", " 1.000 "]
    assert bench.source_table([bench.summarize_engine(recs[:2], bench.EngineInfo("x", "image", None), ())]) == ""  # one source: no table


def test_bootstrap_interval_of_the_region_top1_and_its_paired_difference(bench, synthetic):
    """Region top-1 gets an interval, and a variant its difference from the shipped engine on the same
    resamples: the full sample's difference is the summary's, a perfect ranking's interval is [1, 1],
    a variant that ranks worse on one family has an interval at or below 0; score-only peers get none."""
    by = {s["engine"]: s for s in synthetic.summary}
    assert by["fused"]["top1"] == 1.0 and by["fused"]["bootstrap"]["top1_ci"] == [1.0, 1.0]
    cell = by["lofo-part_swap"]["bootstrap"]["top1_minus_shipped"]
    assert cell["diff"] == pytest.approx(by["lofo-part_swap"]["top1"] - by["fused"]["top1"], abs=1e-12)
    assert cell["diff"] < 0 and cell["ci"][1] <= 0.0
    assert "top1_ci" not in by["MesoNet Meso4_DF"]["bootstrap"]
    md = bench.interval_tables(synthetic.summary, synthetic.families)
    assert "**Region top-1 with 95 % intervals**" in md and "| fused | 100.0% [100.0%, 100.0%] |" in md


def test_greyscale_items_keep_their_draws_and_get_landmarks_measured_on_the_grey_crop(bench) -> None:  # noqa: ANN001
    """``--greyscale``: the same item made greyscale (luma in all three channels), its landmarks
    measured on that crop; a crop FaceMesh cannot read keeps its landmarks and is counted."""
    from forgetalk.faces.base import AlignedFace, DetectedFace
    from forgetalk.train.evalset import EvalItem

    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (S, S, 3), dtype=np.uint8)
    regions = _regions()
    face = AlignedFace(0, DetectedFace((0.0, 0.0, 10.0, 10.0), 0.99, np.zeros((5, 2), np.float32)), crop, np.eye(2, 3), np.eye(2, 3),
                       regions, np.ones((S, S), bool))
    item = EvalItem(face, regions["nose"], True, "part_swap", "nose", ("nose",), "p", 90)
    seen: list[np.ndarray] = []

    def landmarks_of(img: np.ndarray):  # noqa: ANN202
        seen.append(img)
        return None

    counts = [1, 0]
    grey = bench.greyscale_item(item, landmarks_of, counts)
    g = grey.face.crop
    assert g.shape == crop.shape and g.dtype == np.uint8 and (g == g[..., :1]).all()
    want = np.asarray(Image.fromarray(crop).convert("L"))
    assert np.abs(g[..., 0].astype(int) - want).max() <= 1  # the luma PIL gives
    assert seen and seen[0] is g and counts == [1, 1]  # measured on the grey crop; not found: counted
    assert grey.mask is item.mask and grey.kind == item.kind and grey.face.regions is regions
    assert bench.greyscale_item(item, None, counts).face.regions is regions and counts == [1, 1]  # --real-landmarks
