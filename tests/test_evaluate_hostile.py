"""``forgetalk evaluate`` under hostile inputs, through the real Click group.

* F1: ``--json-out`` never replaces an input (DATA, --predictions, a file the records name) nor a
  file the command did not write, and refuses devices and links (exit 2, nothing written); a re-run
  over its own earlier output works.
* F2: DATA that is JSON but not MMTT-shaped is one ``error:`` line and exit 2 (a JSON error document
  under ``--json``), before any weights load.
* F6: every image of DATA counts; one without a prediction scores 0 and is counted; a ``null``
  prediction mask is an empty mask; empty DATA or predictions matching nothing are refused.
* F8: under ``--protocol legacy`` a ground-truth or predicted mask that is not an image is an
  unusable input: exit 3, one line.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from forgetalk.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CAPTION = "the mouth was pasted from another face"


def invoke(*args: str | Path):
    res = CliRunner().invoke(main, ["evaluate", *(str(a) for a in args)], env={"CI": "1"})
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


def one_error(res, code: int, json_doc: bool = False) -> str:
    """The run failed with ``code``, one ``error:`` line on stderr and no traceback; returns the line."""
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.stderr, res.stderr
    if json_doc:
        doc = json.loads(res.stdout)
        assert doc["status"] == "error" and doc["exit_code"] == code, doc
    else:
        assert res.stdout == ""
    return lines[0]


@pytest.fixture()
def ds(tmp_path: Path) -> Path:
    """Two records over the example photo and its mask; predictions for image ``a`` only (a perfect one)."""
    shutil.copy(EXAMPLES / "grace_hopper_mouth_swap.jpg", tmp_path / "photo.jpg")
    shutil.copy(EXAMPLES / "grace_hopper_mouth_swap.mask.png", tmp_path / "photo.mask.png")
    recs = [{"image_id": i, "caption": CAPTION, "img_path": "photo.jpg", "mask_path": "photo.mask.png", "multilabel": None} for i in ("a", "b")]
    (tmp_path / "data.json").write_text(json.dumps(recs))
    (tmp_path / "preds.json").write_text(json.dumps([{"image_id": "a", "caption": CAPTION, "mask_path": "photo.mask.png"}]))
    (tmp_path / "all_preds.json").write_text(json.dumps([{"image_id": i, "caption": CAPTION, "mask_path": "photo.mask.png"} for i in ("a", "b")]))
    return tmp_path


# --- F1: --json-out -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["data.json", "all_preds.json", "photo.mask.png", "photo.jpg", "notes.txt"])
def test_json_out_never_replaces_an_input_or_a_foreign_file(ds: Path, target: str) -> None:
    (ds / "notes.txt").write_text("case notes, not ours\n")
    before = (ds / target).read_bytes()
    line = one_error(invoke(ds / "data.json", "--predictions", ds / "all_preds.json", "--json-out", ds / target), 2)
    assert "--json-out" in line
    assert (ds / target).read_bytes() == before


def test_json_out_refuses_a_file_named_only_by_a_record_that_limit_leaves_out(ds: Path) -> None:
    recs = json.loads((ds / "data.json").read_text())
    shutil.copy(ds / "photo.mask.png", ds / "b.mask.png")
    recs[1]["mask_path"] = "b.mask.png"
    (ds / "data.json").write_text(json.dumps(recs))
    before = (ds / "b.mask.png").read_bytes()
    one_error(invoke(ds / "data.json", "--predictions", ds / "all_preds.json", "--limit", "1", "--json-out", ds / "b.mask.png"), 2)
    assert (ds / "b.mask.png").read_bytes() == before


def test_json_out_through_links_and_dotdot_is_still_the_input(ds: Path) -> None:
    before = (ds / "data.json").read_bytes()
    os.link(ds / "data.json", ds / "hard.json")
    (ds / "sym.json").symlink_to(ds / "data.json")
    for out in (ds / "hard.json", ds / "sym.json", ds / "nowhere" / ".." / "data.json"):
        one_error(invoke(ds / "data.json", "--predictions", ds / "all_preds.json", "--json-out", out), 2)
    assert (ds / "data.json").read_bytes() == before


def test_json_out_dev_null_is_usage_with_a_json_error_document(ds: Path) -> None:
    one_error(invoke(ds / "data.json", "--predictions", ds / "all_preds.json", "--json-out", "/dev/null", "--json"), 2, json_doc=True)
    one_error(invoke(ds / "data.json", "--predictions", ds / "all_preds.json", "--json-out", ""), 2)


def test_json_out_rerun_over_its_own_output(ds: Path) -> None:
    out = ds / "new" / "rows.json"  # a missing parent folder is created, as analyze does
    for _ in range(2):
        res = invoke(ds / "data.json", "--predictions", ds / "all_preds.json", "--json-out", out)
        assert res.exit_code == 0, res.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == "forgetalk.evaluation/1" and len(doc["rows"]) == 2
    # a file written before the schema line existed is recognised too
    del doc["schema"]
    out.write_text(json.dumps(doc, indent=2))
    assert invoke(ds / "data.json", "--predictions", ds / "all_preds.json", "--json-out", out).exit_code == 0


# --- F2: DATA that is JSON but not MMTT-shaped ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["null", "5", '"text"', '{"annotations": 5}', '{"annotations": null}', '{"a": 1}', "[5]", "[null]",
                                  '[{"image_id": "a"}]', '[{"image_id": null, "img_path": "x.png"}]', '[{"image_id": "a", "img_path": 5}]',
                                  '[{"image_id": "a", "img_path": "x.png", "mask_path": 3}]', '[{"image_id": "a", "img_path": "x.png", "caption": 7}]',
                                  '[{"image_id": "a", "img_path": "x.png", "multilabel": [1e400]}]', '[{"image_id": "a", "img_path": "x.png", "multilabel": 3}]'])
def test_data_not_mmtt_shaped_is_usage(ds: Path, text: str) -> None:
    (ds / "bad.json").write_text(text)
    line = one_error(invoke(ds / "bad.json", "--predictions", ds / "all_preds.json", "--json"), 2, json_doc=True)
    assert "bad.json" in line


@pytest.mark.parametrize("text", ["null", "{}", '{"a": 1}', "[5]", '[{"caption": "x"}]', '[{"image_id": "a", "caption": 5}]',
                                  '[{"image_id": "a", "mask_path": 3}]'])
def test_predictions_not_shaped_is_usage(ds: Path, text: str) -> None:
    (ds / "bad.json").write_text(text)
    line = one_error(invoke(ds / "data.json", "--predictions", ds / "bad.json", "--json"), 2, json_doc=True)
    assert "--predictions" in line


def test_object_data_is_refused_before_any_weights_load(ds: Path) -> None:
    (ds / "bad.json").write_text('{"a": 1}')
    line = one_error(invoke(ds / "bad.json", "--model-dir", ds / "no-such-model"), 2)
    assert "not MMTT-shaped" in line


# --- F6: images without a prediction ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["official", "legacy"])
def test_missing_prediction_scores_zero_and_is_counted(ds: Path, protocol: str) -> None:
    out = ds / "rows.json"
    res = invoke(ds / "data.json", "--predictions", ds / "preds.json", "--protocol", protocol, "--json", "--json-out", out)
    assert res.exit_code == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["images"] == 2 and s["missing_predictions"] == 1 and s["masks"] == 2
    assert s["IoU"] == pytest.approx(0.5) and s["Precision"] == pytest.approx(0.5) and s["Recall"] == pytest.approx(0.5)
    assert s["ROUGE_L"] == pytest.approx(0.5) and s["Bleu_1"] < 0.5  # b's empty caption counts
    rows = {r["image_id"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["b"]["missing_prediction"] is True and rows["b"]["iou"] == 0.0 and rows["b"]["caption"] == ""
    assert "missing_prediction" not in rows["a"]
    assert "no prediction" in res.stderr


def test_all_predictions_present_reports_none_missing(ds: Path) -> None:
    res = invoke(ds / "data.json", "--predictions", ds / "all_preds.json", "--json")
    s = json.loads(res.stdout)
    assert res.exit_code == 0 and s["images"] == 2 and s["missing_predictions"] == 0 and s["IoU"] == pytest.approx(1.0)


@pytest.mark.parametrize("protocol", ["official", "legacy"])
def test_null_prediction_mask_is_an_empty_mask_not_skipped(ds: Path, protocol: str) -> None:
    (ds / "p.json").write_text(json.dumps([{"image_id": i, "caption": CAPTION, "mask_path": None} for i in ("a", "b")]))
    res = invoke(ds / "data.json", "--predictions", ds / "p.json", "--protocol", protocol, "--json")
    assert res.exit_code == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["masks"] == 2 and s["IoU"] == 0.0 and s["Recall"] == 0.0


def test_empty_prediction_mask_against_empty_ground_truth_is_right(ds: Path) -> None:
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(ds / "empty.png")
    recs = [{"image_id": "a", "caption": CAPTION, "img_path": "photo.jpg", "mask_path": "empty.png"}]
    (ds / "d.json").write_text(json.dumps(recs))
    (ds / "p.json").write_text(json.dumps([{"image_id": "a", "caption": CAPTION}]))
    s = json.loads(invoke(ds / "d.json", "--predictions", ds / "p.json", "--json").stdout)
    assert s["masks"] == 1 and s["IoU"] == 1.0  # the script's convention: both empty


@pytest.mark.parametrize("text", ["[]", '{"annotations": []}'])
def test_empty_data_is_usage(ds: Path, text: str) -> None:
    (ds / "empty.json").write_text(text)
    one_error(invoke(ds / "empty.json", "--predictions", ds / "all_preds.json", "--json"), 2, json_doc=True)


@pytest.mark.parametrize("preds", [[], [{"image_id": "zz", "caption": CAPTION}], [{"image_id": 1, "caption": CAPTION}]])
def test_predictions_matching_no_image_are_usage(ds: Path, preds: list) -> None:
    (ds / "p.json").write_text(json.dumps(preds))
    line = one_error(invoke(ds / "data.json", "--predictions", ds / "p.json"), 2)
    assert "no prediction matches" in line


def test_limit_zero_or_negative_is_usage(ds: Path) -> None:
    for n in ("0", "-1"):
        one_error(invoke(ds / "data.json", "--predictions", ds / "all_preds.json", "--limit", n), 2)


# --- F8: legacy protocol and unusable mask files -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["ground truth", "prediction"])
@pytest.mark.parametrize("bad", ["not_an_image.png", "missing.png"])
def test_legacy_unusable_mask_is_exit_3(ds: Path, which: str, bad: str) -> None:
    (ds / "not_an_image.png").write_text("this is not a PNG")
    recs = json.loads((ds / "data.json").read_text())
    preds = json.loads((ds / "all_preds.json").read_text())
    (recs if which == "ground truth" else preds)[0]["mask_path"] = bad
    (ds / "d.json").write_text(json.dumps(recs))
    (ds / "p.json").write_text(json.dumps(preds))
    line = one_error(invoke(ds / "d.json", "--predictions", ds / "p.json", "--protocol", "legacy", "--json"), 3, json_doc=True)
    assert bad in line
    # official: such an image is skipped for the mask metrics only (documented)
    res = invoke(ds / "d.json", "--predictions", ds / "p.json", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["masks"] == 1


def test_deeply_nested_json_is_usage_not_a_traceback(ds: Path) -> None:
    (ds / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    one_error(invoke(ds / "deep.json", "--predictions", ds / "all_preds.json"), 2)
    one_error(invoke(ds / "data.json", "--predictions", ds / "deep.json"), 2)
