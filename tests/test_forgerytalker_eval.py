"""``forgetalk evaluate`` on a two-image MMTT-format set: saved predictions and a tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from forgetalk.commands.evaluate import command
from forgetalk.engines.forgerytalker.evaluation import mask_iou_pr


@pytest.fixture()
def mmtt(tmp_path):
    rng = np.random.default_rng(0)
    recs = []
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
        gt = np.zeros((64, 64), np.uint8)
        gt[:32] = 255
        Image.fromarray(gt).save(tmp_path / f"gt{i}.png")
        recs.append({"image_id": f"sd_{i}", "caption": "the left eye is blurred and the lips lack texture", "img_path": f"img{i}.png",
                     "mask_path": f"gt{i}.png", "multilabel": [1] + [0] * 20})
    (tmp_path / "eval.json").write_text(json.dumps(recs))
    return tmp_path


def test_mask_conventions():
    gt = np.zeros((4, 4), np.uint8)
    assert mask_iou_pr(np.zeros((2, 2)), gt) == (1.0, 1.0, 1.0)  # both empty
    gt[:2] = 255
    iou, p, r = mask_iou_pr(np.array([[0.9, 0.9], [0.9, 0.1]]), gt)
    assert (iou, p, r) == pytest.approx((8 / 12, 8 / 12, 1.0))


def test_evaluate_saved_predictions(mmtt):
    pm = np.zeros((64, 64), np.uint8)
    pm[:16] = 255
    Image.fromarray(pm).save(mmtt / "pred.png")
    preds = [{"image_id": "sd_0", "caption": "the left eye is blurred and the lips lack texture", "mask_path": "pred.png"},
             {"image_id": "sd_1", "caption": "the left eye is blurred", "mask_path": "gt1.png"}]
    (mmtt / "preds.json").write_text(json.dumps(preds))
    r = CliRunner().invoke(command, [str(mmtt / "eval.json"), "--predictions", str(mmtt / "preds.json"), "--json", "--out", str(mmtt / "o.json")])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["IoU"] == pytest.approx(0.75) and s["Precision"] == pytest.approx(1.0) and s["Recall"] == pytest.approx(0.75)
    assert s["ROUGE_L"] > 0.5 and 0 < s["Bleu_4"] <= 1 and "CIDEr" in s
    assert len(json.loads((mmtt / "o.json").read_text())["rows"]) == 2


def test_evaluate_runs_tiny_model(mmtt):
    pytest.importorskip("torch")
    from forgetalk.engines.forgerytalker.tiny import tiny_forgerytalker

    tiny_forgerytalker(seed=1).save_pretrained(mmtt / "model")
    r = CliRunner().invoke(command, [str(mmtt / "eval.json"), "--model-dir", str(mmtt / "model"), "--limit", "1", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("{")))  # warnings may go to stderr
    assert s["images"] == 1 and 0.0 <= s["IoU"] <= 1.0 and "CIDEr" in s


def test_ptb_tokenization_vectors():
    from forgetalk.metrics_text import ptb_tokenize, simple_tokenize

    assert ptb_tokenize("The woman's left eye isn't blue-green.") == ["the", "woman", "'s", "left", "eye", "is", "n't", "blue-green"]
    assert ptb_tokenize("It is 5.5 mm wide, about 1,000 px; e.g. here") == ["it", "is", "5.5", "mm", "wide", "about", "1,000", "px", "e.g.", "here"]
    assert ptb_tokenize("Élodie’s CAFÉ-crème skin looks naïve") == ["élodie", "'s", "café-crème", "skin", "looks", "naïve"]
    assert ptb_tokenize("They're \"odd\" (left) -- cannot tell...") == ["they", "'re", "odd", "-lrb-", "left", "-rrb-", "can", "not", "tell"]
    assert ptb_tokenize("won't can't") == ["wo", "n't", "ca", "n't"]
    # the legacy tokeniser splits these differently
    assert simple_tokenize("woman's isn't blue-green 5.5 café") == ["woman's", "isn't", "blue", "green", "5", "5", "caf"]


def test_official_protocol_last_record_and_missing_masks(tmp_path):
    from forgetalk.engines.forgerytalker.evaluation import load_mmtt, score

    gt = np.zeros((8, 8), np.uint8)
    gt[:4] = 255
    Image.fromarray(gt).save(tmp_path / "gt_last.png")
    Image.fromarray(255 - gt).save(tmp_path / "gt_first.png")
    recs = [
        {"image_id": "a", "caption": "the nose is deformed", "img_path": "a.png", "mask_path": "gt_first.png", "multilabel": None},
        {"image_id": "b", "caption": "the lips lack texture", "img_path": "b.png", "mask_path": "missing.png", "multilabel": None},
        {"image_id": "a", "caption": "the left eye is blurred", "img_path": "a.png", "mask_path": "gt_last.png", "multilabel": None},
    ]
    (tmp_path / "d.json").write_text(json.dumps(recs))
    records = load_mmtt(tmp_path / "d.json")
    pred = np.zeros((8, 8), np.float32)
    pred[:4] = 0.9
    preds = {"a": {"caption": "the left eye is blurred", "mask": pred}, "b": {"caption": "the lips lack texture", "mask": pred}}
    off = score(records, preds, tmp_path)
    assert off.summary["images"] == 2 and off.summary["masks"] == 1  # b's GT mask file is missing: skipped for masks only
    assert off.summary["IoU"] == pytest.approx(1.0)  # a's mask is the LAST record's
    assert off.summary["Bleu_1"] == pytest.approx(1.0) and off.summary["ROUGE_L"] == pytest.approx(1.0)  # single (last) reference each
    assert [r.get("mask_skipped", False) for r in off.rows] == [True, False] or [r["image_id"] for r in off.rows] == ["b", "a"]
    from forgetalk.errors import InputError

    with pytest.raises(InputError, match="missing.png"):
        score(records, preds, tmp_path, protocol="legacy")  # legacy: a missing mask file is an error (exit 3)
    ok = [r for r in records if r.image_id == "a"]
    leg = score(ok, preds, tmp_path, protocol="legacy")
    assert leg.summary["IoU"] == pytest.approx(0.0)  # legacy takes the first record's (inverted) mask
