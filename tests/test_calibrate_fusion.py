"""The fused calibration end to end on a tiny localizer and four copies of the public-domain face.

Why: ``calibrate_fusion`` writes the section every shipped verdict rests on; the selection rules
are tested on synthetic tables (test_calibrate_selection.py), this runs the whole path once
(items, engines, region calibration, feature selection, out-of-fold threshold, the records)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from forgetalk.engines.fused import FusedCalibration
from forgetalk.engines.localizer.infer import save_localizer
from forgetalk.engines.localizer.model import LocalizerConfig, build_localizer
from forgetalk.synth.samples import public_domain_face
from forgetalk.train.calibrate import calibrate_fusion
from forgetalk.train.data import CachedFace
from forgetalk.train.parsing import ParsedFace


def test_calibration_section_records_sources_and_table(tmp_path: Path) -> None:
    faces = []
    for flip in (False, True):
        f = public_domain_face(flip=flip)
        lm, crop, px = np.asarray(f.dense_landmarks, np.float32), f.crop, float(f.detection.size)
        faces.append(CachedFace(photo=f"web/{int(flip)}.jpg", index=0, crop=crop, landmarks=lm, face_px=px))
        faces.append(ParsedFace(name=f"p{int(flip)}", crop=crop, landmarks=lm, parts=np.zeros(crop.shape[:2], np.uint8), face_px=px))
    save_localizer(build_localizer(LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))).eval(), tmp_path / "localizer.safetensors")
    cal = calibrate_fusion(tmp_path, faces, families=("region_swap", "local_smoothing"), relandmark=False, log=lambda m: None,
                           table_out=tmp_path / "table.npz")
    FusedCalibration.from_dict(cal)
    assert set(cal["image_auc_by_photo_source"]) <= {"faces", "parsing", "faces forged vs parsing untouched", "parsing forged vs faces untouched"}
    assert {"faces", "parsing"} <= set(cal["image_auc_by_photo_source"])
    assert all(0.0 <= v <= 1.0 for v in cal["image_auc_by_photo_source"].values())
    t = np.load(tmp_path / "table.npz")
    n = cal["n_val_real"] + cal["n_val_fake"]
    assert t["table"].shape == (n, len(t["candidates"])) and sorted(set(t["source"])) == ["faces", "parsing"]
    assert int(t["y"].sum()) == cal["n_val_fake"]
    for src in ("head", "mask", "mean"):  # every selectable source's raw saliency, item by region
        assert t[f"region_sal_{src}"].shape == t["region_sal"].shape
    chosen = t[f"region_sal_{cal['region_source']}"]
    if not cal["region_cues"]:  # without consistency terms the chosen source's rows are the shipped ones
        np.testing.assert_allclose(chosen, t["region_sal"], equal_nan=True)
    assert json.loads((tmp_path / "region_calibration.json").read_text())["engine"] == "fused"


def test_the_greyscale_section_rests_on_grey_copies_of_the_same_items(tmp_path: Path) -> None:
    """The calibration scores grey copies of its items with the colour model (out of fold) and sets
    a threshold of its own at the same target on the untouched ones; the colour numbers are the
    same with and without it."""
    f = public_domain_face()
    lm, crop, px = np.asarray(f.dense_landmarks, np.float32), f.crop, float(f.detection.size)
    faces = [CachedFace(photo=f"web/{k}.jpg", index=0, crop=np.ascontiguousarray(crop[:, ::-1] if k % 2 else crop), landmarks=lm, face_px=px)
             for k in range(2)]
    save_localizer(build_localizer(LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))).eval(), tmp_path / "localizer.safetensors")
    kw = {"families": ("region_swap",), "relandmark": False, "log": lambda m: None}
    cal = calibrate_fusion(tmp_path, faces, **kw)
    grey = cal["greyscale"]
    parsed = FusedCalibration.from_dict(cal).greyscale
    assert parsed is not None and parsed.threshold == grey["threshold"] and parsed.target_fpr == cal["target_fpr"]
    assert len(grey["real_scores_oof"]) == grey["n_val_real"] == cal["n_val_real"] and grey["n_val_fake"] == cal["n_val_fake"]
    reals = grey["real_scores_oof"]
    above = sum(r >= grey["threshold"] + 1e-6 for r in reals)  # the list is rounded to 6 decimals
    assert reals == sorted(reals) and above / len(reals) == grey["measured_fpr"] <= cal["target_fpr"]
    without = calibrate_fusion(tmp_path, faces, greyscale=False, **kw)
    assert "greyscale" not in without
    assert {k: v for k, v in without.items() if k != "seconds"} == {k: v for k, v in cal.items() if k not in ("seconds", "greyscale")}
