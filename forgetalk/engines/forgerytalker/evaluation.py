"""MMTT-format evaluation: mask IoU / precision / recall and caption metrics.

Annotation JSON: a list of records with ``image_id``, ``caption``, ``img_path``,
``mask_path`` (relative to the dataset root) and ``multilabel`` (21 x 0/1). Mask metrics
follow the released ``evaluate_metrics.py``: prediction binarised at 0.5, resized to the
ground-truth size with nearest neighbour, GT = grey > 127, per-image IoU/P/R with its
empty-mask conventions, averaged over images. Text metrics: :mod:`forgetalk.metrics_text`.

Two record protocols (:data:`PROTOCOLS`):

* ``official`` (default) - the released script's semantics: one record per ``image_id``,
  the **last** one in the file (its caption is the single reference and its mask the
  ground truth); an image whose ground-truth mask file (or saved prediction mask) is
  missing or unreadable is skipped for the mask metrics only (``masks`` < ``images`` in
  the summary); text is PTB tokenised.
* ``legacy`` - this project's earlier protocol: every caption of an ``image_id`` is a
  reference, the mask comes from its first record, a missing or unreadable mask file is an
  error (:class:`~forgetalk.errors.InputError`, exit 3), and text uses the simple
  ``[a-z0-9]+`` tokeniser.

Under both, **every image of the annotations counts**, whether or not it has a prediction:
scoring only the predicted images would let a partial prediction file report a perfect score.
An image without a prediction is scored as an empty caption and, where its ground-truth mask
can be read, IoU, precision and recall of 0; the summary's ``missing_predictions`` says how
many there were (rows carry ``"missing_prediction": true``). A prediction whose mask is
``null`` predicts an empty mask (scored with the script's empty-mask conventions), it is not
skipped. Predictions for images not in the annotations are ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ...errors import InputError
from ...io import DEFAULT_MAX_PIXELS, NotARegularFile, open_regular, read_regular_text
from ...metrics_text import caption_scores


@dataclass(frozen=True)
class MMTTRecord:
    image_id: str
    caption: str
    img_path: str
    mask_path: str | None
    multilabel: tuple[int, ...] | None


_MMTT_FIELDS = "image_id, caption, img_path, mask_path, multilabel"


def _json_kind(value: Any) -> str:
    """What a decoded JSON value is, in JSON's own words (for one-line messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{where}: image_id must be a string or an integer, not {_json_kind(value)}")
    return str(value)


def _opt_str(r: dict[str, Any], key: str, where: str) -> str | None:
    value = r.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where}: {key} must be a string or null, not {_json_kind(value)}")
    return value


def _whole(x: Any) -> bool:
    """An integer (a 0/1 label), also as ``1.0``; not true/false, NaN or infinity."""
    return (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer())


def _read_json(path: Path) -> Any:
    """The decoded file; ValueError (never RecursionError) for text that is not JSON or nests too deep.

    Also ValueError for a FIFO or device (``/dev/zero``): reading one blocked forever or
    filled memory until the process died; the file is opened only if it is a regular file.
    """
    try:
        return json.loads(read_regular_text(path))
    except NotARegularFile as exc:
        raise ValueError(f"{path}: {exc.strerror}, not a JSON file") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None


def _record_list(raw: Any, path: Path, what: str, fields: str) -> list[Any]:
    items = raw.get("annotations") if isinstance(raw, dict) and what == "records" else raw
    if isinstance(raw, dict) and what == "records" and "annotations" not in raw:
        raise ValueError(f"{path}: not MMTT-shaped: a JSON object without \"annotations\" (expected a list of records with {fields})")
    if not isinstance(items, list):
        where = '"annotations" is' if items is not raw else "it is"
        shape = "not MMTT-shaped" if what == "records" else "not saved predictions"
        raise ValueError(f"{path}: {shape}: {where} {_json_kind(items)}, not a list of {what} with {fields}")
    return items


def load_mmtt(path: Path) -> list[MMTTRecord]:
    """Records of an MMTT annotation file (a JSON list, or {"annotations": [...]}).

    Raises ValueError (one line naming the file and the record) for anything else: JSON that
    does not decode, a top level that is not such a list or object, a record that is not an
    object or lacks ``image_id``/``img_path``, a field of the wrong type."""
    path = Path(path)
    raw = _read_json(path)
    out = []
    for i, r in enumerate(_record_list(raw, path, "records", _MMTT_FIELDS)):
        where = f"{path}: record {i}"
        if not isinstance(r, dict):
            raise ValueError(f"{where} is not MMTT-shaped: {_json_kind(r)}, not an object with {_MMTT_FIELDS}")
        try:
            image_id = _id(r["image_id"], where)
            img_path = r["img_path"]
            if not isinstance(img_path, str) or not img_path:
                raise ValueError(f"{where}: img_path must be a non-empty string, not {_json_kind(img_path)}")
            caption = _opt_str(r, "caption", where) or ""
            mask_path = _opt_str(r, "mask_path", where)
            ml = r.get("multilabel")
            if ml is not None and (not isinstance(ml, list) or not all(_whole(x) for x in ml)):
                raise ValueError(f"{where}: multilabel must be a list of 0/1 or null")
            out.append(MMTTRecord(image_id, caption, img_path, mask_path, tuple(int(x) for x in ml) if ml is not None else None))
        except KeyError as exc:
            raise ValueError(f"{where} is not MMTT-shaped (no {exc} field)") from None
    return out


_PREDICTION_FIELDS = "image_id, caption, mask_path"


def load_predictions(path: Path) -> dict[str, dict[str, Any]]:
    """Saved predictions: a JSON list of {image_id, caption, mask_path} -> {image_id: {"caption", "mask_path"}}.

    ``caption`` and ``mask_path`` may be absent or null (an empty caption, an empty mask).
    Raises ValueError (one line) for anything else; a later entry for the same image wins."""
    path = Path(path)
    raw = _read_json(path)
    preds: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(_record_list(raw, path, "predictions", _PREDICTION_FIELDS)):
        where = f"{path}: prediction {i}"
        if not isinstance(p, dict) or "image_id" not in p:
            raise ValueError(f"{where} is not {{{_PREDICTION_FIELDS}}}" + ("" if isinstance(p, dict) else f" but {_json_kind(p)}"))
        preds[_id(p["image_id"], where)] = {"caption": _opt_str(p, "caption", where) or "", "mask_path": _opt_str(p, "mask_path", where)}
    return preds


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


def _gray(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A mask file as 8-bit grey.

    Opened only if it is a regular file (a FIFO named by a record blocked the evaluation
    forever), and refused before decoding when it declares more than ``max_pixels``
    pixels: forgetalk turns Pillow's own bomb check off, and a few-kB PNG can declare
    gigapixels. Both raise what :data:`_UNREADABLE` lists.
    """
    with os.fdopen(open_regular(path), "rb") as fh, Image.open(fh) as im:
        if im.width * im.height > max_pixels:
            raise Image.DecompressionBombError(f"{im.width}x{im.height} pixels, over the {max_pixels}-pixel limit")
        return np.asarray(im.convert("L"))


#: What reading a mask file can raise besides a bug: absent, unreadable, not an image, a folder, over PIL's pixel limit.
_UNREADABLE = (OSError, Image.DecompressionBombError)


def _gray_input(path: Path, what: str) -> np.ndarray:
    """A mask the legacy protocol requires: one that cannot be read is an unusable input (exit 3)."""
    try:
        return _gray(path)
    except _UNREADABLE as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        raise InputError(f"{path}: {what} is not a usable image ({reason})") from None


def score(records: Iterable[MMTTRecord], predictions: dict[str, dict[str, Any]], root: Path, protocol: str = "official") -> EvalResult:
    """Score predictions {image_id: {"caption": str, "mask": prob array | None, "mask_path": str | None}} (see module doc).

    Every image of ``records`` counts; one missing from ``predictions`` scores as described in the module doc."""
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
        p = predictions.get(image_id)
        row = _row(image_id, p)
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


def _row(image_id: str, p: dict[str, Any] | None) -> dict[str, Any]:
    if p is None:
        return {"image_id": image_id, "caption": "", "missing_prediction": True}
    return {"image_id": image_id, "caption": p.get("caption") or ""}


def _official_mask(r: MMTTRecord, p: dict[str, Any] | None, root: Path) -> tuple[float, float, float] | None:
    """IoU/P/R of one image, or None when a mask file is missing or unreadable (the released script skips those).

    No prediction at all (``p`` None): 0, 0, 0. A prediction without a mask: an empty mask."""
    if not r.mask_path:
        return None
    try:
        gt = _gray(root / r.mask_path)
        if p is None:
            return 0.0, 0.0, 0.0
        mask = p.get("mask")
        if mask is None:
            mask = _gray(root / p["mask_path"]).astype(np.float32) / 255.0 if p.get("mask_path") else np.zeros(gt.shape, np.float32)
    except _UNREADABLE:
        return None
    return mask_iou_pr(np.asarray(mask), gt)


def _summarise(rows: list[dict[str, Any]], ious: list[float], precs: list[float], recs_: list[float], refs: dict[str, list[str]],
               tokenizer: str) -> EvalResult:
    hyps = {row["image_id"]: row["caption"] for row in rows}
    summary: dict[str, float] = {"images": float(len(rows)), "masks": float(len(ious)),
                                 "missing_predictions": float(sum(1 for row in rows if row.get("missing_prediction")))}
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
        if r.image_id in seen:
            continue
        seen.add(r.image_id)
        p = predictions.get(r.image_id)
        row = _row(r.image_id, p)
        if r.mask_path:
            gt = _gray_input(root / r.mask_path, f"the ground-truth mask of image {r.image_id}")
            if p is None:
                iou = pr = rc = 0.0
            else:
                mask = p.get("mask")
                if mask is None:
                    mask = (_gray_input(root / p["mask_path"], f"the predicted mask of image {r.image_id}").astype(np.float32) / 255.0
                            if p.get("mask_path") else np.zeros(gt.shape, np.float32))
                iou, pr, rc = mask_iou_pr(np.asarray(mask), gt)
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
