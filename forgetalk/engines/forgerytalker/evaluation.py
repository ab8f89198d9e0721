"""MMTT-format evaluation: mask IoU / precision / recall and caption metrics.

Annotation JSON: a list of records with ``image_id``, ``caption``, ``img_path``,
``mask_path`` (relative to the dataset root) and ``multilabel`` (21 x 0/1). Mask metrics
follow the released ``evaluate_metrics.py``: prediction binarised at 0.5, resized to the
ground-truth size with nearest neighbour, GT = grey > 127, per-image IoU/P/R with its
empty-mask conventions, averaged over images. Text metrics: :mod:`forgetalk.metrics_text`.

Two record protocols (:data:`PROTOCOLS`):

* ``official`` (default) - the released script's semantics: one record per ``image_id``,
  the **last** one in the file (its caption is the single reference and its mask the
  ground truth); every image with a prediction counts for the text metrics; an image
  whose ground-truth mask file (or saved prediction mask) is missing or unreadable is
  skipped for the mask metrics only (``masks`` < ``images`` in the summary); text is PTB
  tokenised.
* ``legacy`` - this project's earlier protocol: every caption of an ``image_id`` is a
  reference, the mask comes from its first record, a missing mask file is an error,
  and text uses the simple ``[a-z0-9]+`` tokeniser.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ...metrics_text import caption_scores


@dataclass(frozen=True)
class MMTTRecord:
    image_id: str
    caption: str
    img_path: str
    mask_path: str | None
    multilabel: tuple[int, ...] | None


def load_mmtt(path: Path) -> list[MMTTRecord]:
    """Records of an MMTT annotation file (a JSON list, or {"annotations": [...]})."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    items = raw.get("annotations", []) if isinstance(raw, dict) else raw
    out = []
    for i, r in enumerate(items):
        try:
            out.append(MMTTRecord(str(r["image_id"]), str(r.get("caption", "")), str(r["img_path"]), r.get("mask_path"),
                                  tuple(int(x) for x in r["multilabel"]) if r.get("multilabel") is not None else None))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: record {i} is not MMTT-shaped ({exc})") from None
    return out


def mask_iou_pr(pred_prob: np.ndarray, gt_gray: np.ndarray, threshold: float = 0.5) -> tuple[float, float, float]:
    """(IoU, precision, recall) of one image, conventions of the released evaluation script."""
    pred_img = Image.fromarray(((pred_prob > threshold) * 255).astype(np.uint8))
    pred = np.asarray(pred_img.resize((gt_gray.shape[1], gt_gray.shape[0]), Image.NEAREST)) > 127
    gt = gt_gray > 127
    inter, union = int(np.logical_and(pred, gt).sum()), int(np.logical_or(pred, gt).sum())
    ps, gs = int(pred.sum()), int(gt.sum())
    iou = 1.0 if union == 0 else inter / union
    precision = inter / ps if ps else (1.0 if gs == 0 else 0.0)
    recall = inter / gs if gs else (1.0 if ps == 0 else 0.0)
    return iou, precision, recall


PROTOCOLS: tuple[str, ...] = ("official", "legacy")


@dataclass
class EvalResult:
    summary: dict[str, float]
    rows: list[dict[str, Any]] = field(default_factory=list)


def _gray(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def score(records: Iterable[MMTTRecord], predictions: dict[str, dict[str, Any]], root: Path, protocol: str = "official") -> EvalResult:
    """Score predictions {image_id: {"caption": str, "mask": prob array | None, "mask_path": str | None}} (see module doc)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}")
    recs = list(records)
    if protocol == "legacy":
        return _score_legacy(recs, predictions, root)
    last: dict[str, MMTTRecord] = {}
    for r in recs:
        last.pop(r.image_id, None)  # re-insert: order of the last occurrence, the record kept is the last
        last[r.image_id] = r
    rows, ious, precs, recs_ = [], [], [], []
    for image_id, r in last.items():
        if image_id not in predictions:
            continue
        p = predictions[image_id]
        row: dict[str, Any] = {"image_id": image_id, "caption": p.get("caption", "")}
        res = _official_mask(r, p, root)
        if res is None:
            row["mask_skipped"] = True
        else:
            row.update(iou=res[0], precision=res[1], recall=res[2])
            ious.append(res[0])
            precs.append(res[1])
            recs_.append(res[2])
        rows.append(row)
    refs = {row["image_id"]: [last[row["image_id"]].caption] for row in rows}
    return _summarise(rows, ious, precs, recs_, refs, "ptb")


def _official_mask(r: MMTTRecord, p: dict[str, Any], root: Path) -> tuple[float, float, float] | None:
    """IoU/P/R of one image, or None when a mask file is missing or unreadable (the released script skips those)."""
    if not r.mask_path:
        return None
    try:
        gt = _gray(root / r.mask_path)
        mask = p.get("mask")
        if mask is None:
            if not p.get("mask_path"):
                return None
            mask = _gray(root / p["mask_path"]).astype(np.float32) / 255.0
    except OSError:
        return None
    return mask_iou_pr(np.asarray(mask), gt)


def _summarise(rows: list[dict[str, Any]], ious: list[float], precs: list[float], recs_: list[float], refs: dict[str, list[str]],
               tokenizer: str) -> EvalResult:
    hyps = {row["image_id"]: row["caption"] for row in rows}
    summary: dict[str, float] = {"images": float(len(rows)), "masks": float(len(ious))}
    if ious:
        summary.update(IoU=float(np.mean(ious)), Precision=float(np.mean(precs)), Recall=float(np.mean(recs_)))
    if hyps and any(hyps.values()):
        summary.update(caption_scores({k: refs[k] for k in hyps}, hyps, tokenizer=tokenizer))
    return EvalResult(summary=summary, rows=rows)


def _score_legacy(recs: list[MMTTRecord], predictions: dict[str, dict[str, Any]], root: Path) -> EvalResult:
    refs: dict[str, list[str]] = {}
    for r in recs:
        refs.setdefault(r.image_id, []).append(r.caption)
    rows, ious, precs, recs_ = [], [], [], []
    seen: set[str] = set()
    for r in recs:
        if r.image_id in seen or r.image_id not in predictions:
            continue
        seen.add(r.image_id)
        p = predictions[r.image_id]
        row: dict[str, Any] = {"image_id": r.image_id, "caption": p.get("caption", "")}
        mask = p.get("mask")
        if mask is None and p.get("mask_path"):
            mask = _gray(root / p["mask_path"]).astype(np.float32) / 255.0
        if r.mask_path and mask is not None:
            iou, pr, rc = mask_iou_pr(np.asarray(mask), _gray(root / r.mask_path))
            row.update(iou=iou, precision=pr, recall=rc)
            ious.append(iou)
            precs.append(pr)
            recs_.append(rc)
        rows.append(row)
    return _summarise(rows, ious, precs, recs_, refs, "simple")


def _aligned_face(rgb: np.ndarray) -> Any:
    """Treat an MMTT image (already a face crop) as an aligned 512 face, for engines without predict_image."""
    from ...faces.base import CROP_SIZE, AlignedFace, DetectedFace

    crop = np.asarray(Image.fromarray(rgb).resize((CROP_SIZE, CROP_SIZE), Image.BICUBIC))
    eye = np.eye(2, 3, dtype=np.float32)
    det = DetectedFace(box=(0.0, 0.0, float(CROP_SIZE), float(CROP_SIZE)), score=1.0, landmarks5=np.zeros((5, 2), np.float32))
    return AlignedFace(index=0, detection=det, crop=crop, matrix=eye, inverse=eye, regions={}, face_mask=np.ones((CROP_SIZE, CROP_SIZE), bool),
                       notes=("MMTT crop used as-is (no detection)",))


def run_engine(engine: Any, records: list[MMTTRecord], root: Path, on_item: Callable[[int, int], None] | None = None) -> dict[str, dict[str, Any]]:
    """Predictions for each distinct image; ForgeryTalker's native 224 mask is used when available."""
    from ...io import load_image

    preds: dict[str, dict[str, Any]] = {}
    todo = list({r.image_id: r for r in records}.values())
    for i, r in enumerate(todo):
        rgb = load_image(root / r.img_path).rgb
        if hasattr(engine, "predict_image"):
            p = engine.predict_image(rgb)
            preds[r.image_id] = {"caption": p.text, "mask": p.mask, "region_probs": p.region_probs, "seconds": p.timings_s.get("total")}
        else:
            out = engine.analyze_face(_aligned_face(rgb))
            preds[r.image_id] = {"caption": out.text or "", "mask": out.heatmap}
        if on_item:
            on_item(i + 1, len(todo))
    return preds
