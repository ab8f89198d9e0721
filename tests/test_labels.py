"""Appendix B labels: what each engine, calibration and provenance value is, in words and units.

Each test pins a defect a hostile read of the case report found: a key that holds a dot split
into two words ("top1 by weight iris colour 1: 0"), a face's verdict facts under a generic label
("Number of validation real 549 count"), forgeries counted as faces, a list of records printed
as a Python dict, and EXIF fields the file lacks shown as empty cells.
"""

from __future__ import annotations

from forgetalk.render.labels import format_value, humanise, labelled_rows

RATES = [
    {"face_px": [0.0, 100.0], "n_real": 71, "n_fake": 143, "fpr": 0.0423, "tpr": 0.1259},
    {"face_px": [315.0, None], "n_real": 115, "n_fake": 234, "fpr": 0.0174, "tpr": 0.1752},
]


def _rows(tree: dict, prefix: str = "") -> dict[str, tuple[str, str]]:
    rows, _ = labelled_rows(tree, prefix)
    return {label: (value, unit) for label, value, unit in rows}


def test_a_selection_diagnostic_is_left_to_the_json_and_a_dotted_key_stays_whole() -> None:
    tree = {"calibration": {"region_cue_selection": {"top1_by_weight": {"iris_colour": {"1.0": 0.4117, "2.0": 0.4117}}, "top1_selected": 0.4144},
                            "region_cue_floor": 1.0}}
    rows, left = labelled_rows(tree)
    assert left == 3 and not any("selection" in label.lower() for label, _, _ in rows)
    assert humanise(("weights", "1.0")) == "Weights: 1.0"
    assert [label for label, _, _ in labelled_rows({"by_weight": {"1.0": 2}})[0]] == ["By weight: 1.0"]


def test_a_faces_verdict_facts_are_labelled_as_in_the_calibration() -> None:
    rows = _rows({"threshold": 0.8349, "measured_fpr": 0.049, "n_val_real": 549, "n_val_faces": 183, "pixel_threshold": 0.5})
    assert rows["Validation untouched items (each face in its post-edit versions)"] == ("549", "items")
    assert rows["Validation faces"] == ("183", "faces")
    assert rows["Verdict threshold"][0] == "0.8349"
    assert rows["Measured false-positive rate (validation real faces)"] == ("4.9", "%")
    assert not any(label.startswith("Number of") for label in rows)


def test_forgeries_and_items_are_counted_as_what_they_are() -> None:
    rows = _rows({"calibration": {"n_val_fake": 1098, "region_calibration": {"n_real_items": 549}, "other": {"n_val_items": 3}}})
    assert rows["Validation forgeries (forged versions of the validation faces)"] == ("1098", "items")
    assert rows["Region calibration: real items (each face in its post-edit versions)"] == ("549", "items")
    assert rows["Calibration other: number of validation items"] == ("3", "items")


def test_a_list_of_small_records_reads_one_line_each() -> None:
    text = format_value(RATES, "")
    assert "{" not in text and "'" not in text
    lines = text.split("\n")
    assert lines == ["faces 0-100 px: 71 untouched items, 4.2 % flagged (false positives); 143 forgeries, 12.6 % caught",
                     "faces 315 px and up: 115 untouched items, 1.7 % flagged (false positives); 234 forgeries, 17.5 % caught"]
    assert _rows({"calibration": {"rates_by_face_px": RATES}})["Rates at the verdict threshold by face size in the photo (validation)"][0] == text
    # Unknown keys are still printed, as words.
    assert format_value([{"added": "head_max", "cv_auc": 0.6481}], "") == "added head_max; cv AUC 0.6481"


def test_exif_fields_the_file_lacks_read_absent() -> None:
    from forgetalk.provenance.model import ExifInfo, ProvenanceReport
    from forgetalk.render.provenance import provenance_appendix

    prov = ProvenanceReport(format="JPEG", exif=ExifInfo(present=True, make=None, model=None, lens=None, software=None))
    texts = []
    for flowable in provenance_appendix(prov):
        for row in getattr(flowable, "_cellvalues", []):
            texts.append(tuple(getattr(c, "text", c) for c in row))
    exif = {k: v for k, v in texts}
    assert exif["Camera"] == "absent" and exif["Lens"] == "absent" and exif["Software"] == "absent"
