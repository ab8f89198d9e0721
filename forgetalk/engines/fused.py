"""The default ``fused`` engine: the project's learned localizer blended with the evidence engine.

Why fuse: the localizer finds blend/resampling traces the hand-made cues miss, while the
evidence engine's cue maps are what the explanation layer can quote in measured units.
The blend weight, the face-score model and its threshold were chosen on the validation
split of the training faces (never on evaluation photos) and are read from
``weights/localizer/recipe.json``; ``meta`` carries threshold, target and measured
false-positive rate so the report can state how the verdict was decided.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..errors import WeightsError
from ..faces import AlignedFace
from ..io import channels_equal
from ..weights import load_manifest, load_verified, resolve, weights_path
from .base import GREYSCALE_BASIS, CueSpec, EngineOutput, RealScoreTail, get_engine, warn_ignored_options
from .localizer.common import ONNX_FILE, WEIGHTS_COMPONENT, WEIGHTS_FILE, LocalizerOutput
from .regioncal import RegionCalibration, load_region_calibration, region_saliency

#: Used only when recipe.json has no calibration section (reported as uncalibrated).
DEFAULT_CALIBRATION: Mapping[str, object] = MappingProxyType(
    {"fusion_weight": 0.8, "region_source": "mask", "features": ["region_max", "heat_q99", "evidence_score"], "coef": [4.0, 4.0, 1.0], "intercept": -4.0})
#: Regions left out of the face score: hair is outside the face and often edited legitimately.
SCORE_EXCLUDED_REGIONS = ("hair",)
RECIPE_FILE = "recipe.json"
#: The localizer's own map, reported beside the evidence cues (0.5 = the validation best-F1 threshold).
LOCALIZER_CUE = CueSpec("localizer", "learned localizer", reference="heat_map")


def fuse_heatmaps(localizer_prob: np.ndarray, evidence_heat: np.ndarray, weight: float) -> np.ndarray:
    """Convex blend; weight is the localizer's share. Undefined evidence (NaN) counts as none."""
    ev = np.nan_to_num(evidence_heat, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(weight * localizer_prob + (1.0 - weight) * ev, 0.0, 1.0).astype(np.float32)


def calibrate_heat(heat: np.ndarray, gamma: float) -> np.ndarray:
    """Monotone rescaling ``h ** gamma`` that puts the validation best-F1 pixel threshold at 0.5.

    Why: the localizer's raw probabilities are conservative (its best threshold on validation
    is far below 0.5), so an overlay on a 0..1 colour scale would hide what it found. A
    monotone map changes no AUC/F1/IoU at matched thresholds; it only makes 0.5 mean "the
    threshold the project measured as best".
    """
    return np.power(np.clip(heat, 0.0, 1.0), gamma).astype(np.float32)


#: Bounds of a region's excess over real faces used as a feature (a region 50x above the real
#: range is no more forged than one 5x above; the clip keeps one outlier from ruling the fit).
EXCESS_CLIP = (-2.0, 5.0)
#: Side of the box over which the heat is averaged for ``heat_peak`` (pixels of the 512 crop): an
#: iris or a healed spot is a few hundred pixels, under the 1 % that ``heat_q99`` looks at.
PEAK_BOX = 9


def face_features(lo: LocalizerOutput, heat: np.ndarray, face_mask: np.ndarray, evidence_score: float,
                  regions: dict[str, np.ndarray] | None = None, region_cal: RegionCalibration | None = None, region_source: str = "mask",
                  consistency_score: float = 0.0, consistency_cues: Mapping[str, float] | None = None,
                  region_scores: Mapping[str, float] | None = None, face_px: float | None = None) -> dict[str, float]:
    """Face-level statistics the calibrated score is a logistic function of (the calibration
    chooses which, by cross-validation on validation faces; every candidate is computed).

    ``region_max`` is the largest estimated forged fraction of a region (mask head pooled per
    region). ``suspicion_max`` is the highest real-face percentile of any region's saliency
    (0 without a region calibration): a part far hotter than that part is on real faces.
    ``excess_max`` / ``excess_top2`` are the largest and the mean of the two largest region
    excesses over real faces (clipped, see ``EXCESS_CLIP``): unlike the percentile they do not
    saturate. Both use the calibration's pooled quantiles, not the face's size band that ranks
    its regions (:meth:`RegionCalibration.for_size`): a score fitted on three size bands' excesses
    flagged 36.9 % of retouched untouched validation portraits at 600 px, against 14.9 % shipped
    (docs/localizer_history.md, "Region percentiles by face size"), and the score has
    ``resolution_loss`` to ask more of a small face if the data says so.
    ``heat_q999`` and ``heat_peak`` (the hottest ``PEAK_BOX`` box) see small edits that
    ``heat_q99`` averages away; ``hot_frac`` is the share of the face at or above the pixel
    threshold; ``head_max`` the region head's highest score. ``consistency`` is the evidence
    engine's consistency score (iris colour, catchlights, symmetry, geometry, border continuity
    against real faces; 0 when not measured).

    Two open-ended families follow: ``head:<region>``, the region head's score of each region, and
    ``consistency:<cue>``, each consistency cue's strength in real-face SDs (folded for two-sided
    cues; see :func:`consistency_cues_of`). One face-level maximum hides which part is odd: an
    eye-colour change moves the iris-colour cue and little else, a pasted forehead its own head.
    A statistic a face lacks (a cue not measurable on closed eyes) counts as 0 in the score.

    ``region_scores``: the engine's per-region scores that the saliency blends in (the region
    source's scores with the calibration's consistency terms, :func:`with_region_cues`); by
    default the region source's scores as they are.

    ``resolution_loss`` (from ``face_px``, the face's size in the photo): how many octaves the
    analysis crop enlarged the face, ``log2`` of :func:`forgetalk.faces.align.crop_upsampling`,
    clipped to [0, 3]. It carries no evidence by itself (a forgery and its untouched twin share
    it); it is offered to the calibration so that the face score could ask more of a small face,
    whose upsampled JPEG blocks and noise raise the statistics above (untouched held-out faces saved
    at 160 px scored a median of 0.702 against 0.586 at 600 px). On the 2026-11-27 validation
    items the selection did not take it, and forced in it got a weight of -0.03
    (docs/localizer_history.md). 0 when the size is not given.
    """
    import cv2

    rp = [v for k, v in lo.region_from_mask.items() if k not in SCORE_EXCLUDED_REGIONS]
    hp = [v for k, v in lo.region_probs.items() if k not in SCORE_EXCLUDED_REGIONS]
    inside = face_mask.astype(bool) if face_mask.any() else np.ones(heat.shape, bool)
    vals = heat[inside]
    sus = 0.0
    exc: list[float] = []
    if regions is not None and region_cal is not None:
        scores = lo.region_scores(region_source) if region_scores is None else dict(region_scores)
        sal = region_saliency(heat, {k: v for k, v in regions.items() if k not in SCORE_EXCLUDED_REGIONS}, scores or None)
        sus = max((region_cal.percentile(k, v[0]) or 0.0 for k, v in sal.items()), default=0.0)
        exc = sorted((float(np.clip(e, *EXCESS_CLIP)) for k, v in sal.items() if (e := region_cal.excess(k, v[0])) is not None), reverse=True)
    box = cv2.blur(heat.astype(np.float32), (PEAK_BOX, PEAK_BOX))
    return {
        "region_max": float(max(rp)) if rp else 0.0,
        "heat_q99": float(np.quantile(vals, 0.99)),
        "evidence_score": float(np.nan_to_num(evidence_score, nan=0.0)),
        "suspicion_max": float(sus),
        "consistency": float(np.nan_to_num(consistency_score, nan=0.0)),
        "excess_max": exc[0] if exc else 0.0,
        "excess_top2": float(np.mean(exc[:2])) if exc else 0.0,
        "heat_q999": float(np.quantile(vals, 0.999)),
        "heat_peak": float(box[inside].max()),
        "hot_frac": float((vals >= 0.5).mean()),
        "head_max": float(max(hp)) if hp else 0.0,
        "resolution_loss": resolution_loss(face_px),
        **{f"head:{k}": float(v) for k, v in lo.region_probs.items() if k not in SCORE_EXCLUDED_REGIONS},
        **{f"consistency:{k}": float(v) for k, v in (consistency_cues or {}).items()},
    }


def resolution_loss(face_px: float | None) -> float:
    """Octaves by which the analysis crop enlarged a face of ``face_px`` (0 to 3; 0 when unknown)."""
    if face_px is None or not np.isfinite(face_px) or face_px <= 0:
        return 0.0
    from ..faces.align import crop_upsampling

    return float(np.clip(np.log2(crop_upsampling(face_px)), 0.0, 3.0))


def consistency_of(ev: EngineOutput) -> float:
    """The evidence engine's face-level consistency score, when it measured one."""
    c = ev.meta.get("consistency")
    return float(c.get("consistency_score") or 0.0) if isinstance(c, dict) else 0.0


def consistency_cues_of(ev: EngineOutput) -> dict[str, float]:
    """Each measured consistency cue's z against real faces, folded (|z|) where the cue is
    two-sided, so that larger always means "less like a real face"."""
    c = ev.meta.get("consistency")
    cues = c.get("cues") if isinstance(c, dict) else None
    out: dict[str, float] = {}
    for name, cue in (cues or {}).items():
        z = cue.get("z") if isinstance(cue, dict) else None
        if isinstance(z, int | float) and not isinstance(z, bool):
            out[name] = abs(float(z)) if cue.get("two_sided") else float(z)
    return out


#: A consistency cue's z up to this many real-face SDs above the median counts as ordinary and
#: adds nothing to a region's score (see with_region_cues); recorded with the weights in recipe.json.
REGION_CUE_FLOOR = 1.0


def region_cue_terms(cue_region_stats: Mapping[str, Mapping[str, float]], weights: Mapping[str, float], floor: float = REGION_CUE_FLOOR) -> dict[str, dict[str, float]]:
    """region -> {cue: z} of each weighted consistency cue that the evidence engine measured more
    than ``floor`` real-face SDs above the median and filed under that region (a pair cue under its
    odd eye, or under both eyes when the odd one cannot be told: ``consistency.region_stats``);
    empty without weights.
    """
    out: dict[str, dict[str, float]] = {}
    for cue in weights:
        for key, z in (cue_region_stats.get(cue) or {}).items():
            if key.endswith(".z") and isinstance(z, int | float) and math.isfinite(z) and z > floor:
                out.setdefault(key[:-2], {})[cue] = float(z)
    return out


def with_region_cues(scores: Mapping[str, float], terms: Mapping[str, Mapping[str, float]], weights: Mapping[str, float],
                     floor: float = REGION_CUE_FLOOR) -> dict[str, float]:
    """Each region's score with its measured consistency evidence added on the logit scale:
    ``sigmoid(logit(score) + sum_c weight_c * (z_c - floor))`` over the cues of ``terms``.

    Why: the localizer finds a recoloured iris (pixel AUC 0.97) but untouched irises are as hot,
    so on its own it cannot say that an eye, rather than a brow or the nose, was edited; the
    iris-colour cue measures exactly that. Folded into the eyes' scores it moves an edited eye up
    the ranking (test faces, 2026-11-26: an eye-colour edit's eye first on 16 % -> 36 % of
    these forgeries) without touching any region the cue never names. Why the floor: a z within
    one SD of real faces is ordinary; counted from 0, an iris z of 0.8 behind glasses put an eye
    above a brow edit's brow (tests/test_forgery_rank.py). The weights are chosen on validation
    faces (``train/calibrate.py``); none = unchanged.
    """
    out = dict(scores)
    for region, zs in terms.items():
        if region not in out:
            continue
        p = min(max(float(out[region]), 1e-4), 1.0 - 1e-4)
        logit = math.log(p / (1.0 - p)) + sum(weights.get(c, 0.0) * max(z - floor, 0.0) for c, z in zs.items())
        out[region] = 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
    return out


def raised_region_scores(own: Mapping[str, float], cue_region_stats: Mapping[str, Mapping[str, float]], weights: Mapping[str, float],
                         floor: float = REGION_CUE_FLOOR) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(the engine's region scores, the cue terms that raised them): ``own`` (the localizer's scores of
    the calibration's region source) with :func:`with_region_cues` applied. One place for the engine,
    its calibration and the probes, so all three score regions the same way."""
    terms = region_cue_terms(cue_region_stats, weights, floor)
    return with_region_cues(own, terms, weights, floor), terms


#: Verdict facts of the calibration copied into each face's meta, in this order, when present.
VERDICT_KEYS = ("threshold", "target_fpr", "measured_fpr", "pixel_threshold", "n_val_real", "n_val_faces")


def _as_float(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} is not a number: {value!r}")
    return float(value)


def _optional(section: Mapping[str, object], key: str) -> float | None:
    value = section.get(key)
    return None if value is None else _as_float(value, repr(key))


def _list(section: Mapping[str, object], key: str) -> list[object]:
    value = section.get(key)
    if not isinstance(value, list | tuple):
        raise ValueError(f"{key!r} is not a list: {value!r}")
    return list(value)


def _weights(section: Mapping[str, object], key: str) -> dict[str, float]:
    value = section.get(key) or {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key!r} is not an object: {value!r}")
    return {str(k): _as_float(v, f"{key}[{k!r}]") for k, v in value.items()}


def _sorted_scores(section: Mapping[str, object], key: str = "real_scores_oof") -> tuple[float, ...]:
    reals = tuple(_as_float(v, "a real score") for v in _list(section, key)) if key in section else ()
    if list(reals) != sorted(reals):
        raise ValueError(f"{key!r} is not sorted")
    return reals


@dataclass(frozen=True)
class GreyscaleThreshold:
    """The calibration's ``greyscale`` section: the face score's threshold for faces with no colour.

    Why a threshold of its own: the face score is the colour model's, but greyscale faces score
    lower, untouched ones included, so the colour threshold flagged fewer grey untouched faces
    than stated and caught a third as many grey forgeries (``train/calibrate.greyscale_threshold``
    sets this one at the same target rate on grey copies of the validation items)."""

    threshold: float
    target_fpr: float | None = None
    measured_fpr: float | None = None
    #: The grey untouched validation items' out-of-fold scores, sorted (a photo of several faces).
    real_scores_oof: tuple[float, ...] = field(default=(), repr=False)

    @classmethod
    def from_dict(cls, section: Mapping[str, object]) -> GreyscaleThreshold:
        return cls(threshold=_as_float(section.get("threshold"), "'greyscale.threshold'"), target_fpr=_optional(section, "target_fpr"),
                   measured_fpr=_optional(section, "measured_fpr"), real_scores_oof=_sorted_scores(section))

    def verdict_meta(self) -> dict[str, float | str]:
        """The facts that replace the colour ones in a greyscale face's meta."""
        out: dict[str, float | str] = {"threshold": self.threshold, "threshold_basis": GREYSCALE_BASIS}
        out.update({k: v for k in ("target_fpr", "measured_fpr") if (v := getattr(self, k)) is not None})
        return out


@dataclass(frozen=True)
class FusedCalibration:
    """The ``calibration`` section of ``recipe.json``, parsed once when the engine is built.

    Why typed: the engine reads a handful of these values for every face; parsing them here
    means a malformed recipe fails when the engine loads (a weights error, exit 5), not at the
    first face. The section (written by ``train/calibrate.py``, which parses what it
    writes with this class) also holds selection diagnostics the engine never reads; it is
    kept as read in ``section`` so that ``info()`` reports the file key for key.
    """

    fusion_weight: float
    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    #: Exponent of the heat rescaling (see ``calibrate_heat``); 1 = none.
    heat_gamma: float = 1.0
    region_source: str = "head"
    #: Consistency cue -> weight added to a region's score logit per real-face SD above ``region_cue_floor`` (see with_region_cues).
    region_cues: Mapping[str, float] = field(default_factory=dict)
    region_cue_floor: float = REGION_CUE_FLOOR
    #: The verdict facts (VERDICT_KEYS); None where the section does not state them.
    threshold: float | None = None
    target_fpr: float | None = None
    measured_fpr: float | None = None
    pixel_threshold: float | None = None
    n_val_real: int | None = None  # untouched validation items (several post-edit versions per face)
    n_val_faces: int | None = None  # the distinct faces behind them
    #: Every untouched validation item's out-of-fold score, sorted (empty in recipes before 2026-11-28):
    #: how often a real face scores at least a given score (a photo of many faces, forgetalk.verdict).
    real_scores_oof: tuple[float, ...] = field(default=(), repr=False)
    #: The threshold for greyscale faces (None in recipes before 2026-11-29: every face is judged
    #: against the colour threshold).
    greyscale: GreyscaleThreshold | None = None
    section: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, section: Mapping[str, object]) -> FusedCalibration:
        """Raises ValueError on a malformed section (a missing key, a wrong type, unequal lengths)."""
        features = tuple(str(f) for f in _list(section, "features"))
        coef = tuple(_as_float(c, "a coefficient") for c in _list(section, "coef"))
        if len(coef) != len(features):
            raise ValueError(f"{len(features)} features but {len(coef)} coefficients")
        gamma, n_val_real, n_val_faces = _optional(section, "heat_gamma"), _optional(section, "n_val_real"), _optional(section, "n_val_faces")
        grey = section.get("greyscale")
        if grey is not None and not isinstance(grey, Mapping):
            raise ValueError(f"'greyscale' is not an object: {grey!r}")
        return cls(
            fusion_weight=_as_float(section.get("fusion_weight"), "'fusion_weight'"), features=features, coef=coef,
            intercept=_as_float(section.get("intercept"), "'intercept'"), heat_gamma=1.0 if gamma is None else gamma,
            region_source=str(section.get("region_source", "head")), region_cues=MappingProxyType(_weights(section, "region_cues")),
            region_cue_floor=_as_float(section.get("region_cue_floor", REGION_CUE_FLOOR), "'region_cue_floor'"),
            threshold=_optional(section, "threshold"), target_fpr=_optional(section, "target_fpr"), measured_fpr=_optional(section, "measured_fpr"),
            pixel_threshold=_optional(section, "pixel_threshold"), n_val_real=None if n_val_real is None else int(n_val_real),
            n_val_faces=None if n_val_faces is None else int(n_val_faces), real_scores_oof=_sorted_scores(section),
            greyscale=None if grey is None else GreyscaleThreshold.from_dict(grey), section=MappingProxyType(dict(section)),
        )  # fmt: skip

    def verdict_meta(self, greyscale: bool = False) -> dict[str, float | int | str]:
        """The stated verdict facts, for each face's meta; a greyscale face's threshold and rates
        are the ``greyscale`` section's where the recipe has one."""
        out: dict[str, float | int | str] = {k: v for k in VERDICT_KEYS if (v := getattr(self, k)) is not None}
        if greyscale and self.greyscale is not None:
            out.pop("measured_fpr", None)
            out.update(self.greyscale.verdict_meta())
        return out

    def info(self) -> dict[str, object]:
        """The section as read, less the per-face validation features and the real faces' scores
        (large, not settings, and pinned with the recipe's sha256); the number of those scores is kept."""
        out = {k: v for k, v in self.section.items() if k not in ("val_features", "real_scores_oof")}
        if self.real_scores_oof:
            out["real_scores_oof_n"] = len(self.real_scores_oof)
        grey = out.get("greyscale")
        if isinstance(grey, Mapping):
            out["greyscale"] = {**{k: v for k, v in grey.items() if k != "real_scores_oof"}, "real_scores_oof_n": len(grey.get("real_scores_oof") or ())}
        return out


def face_score(features: dict[str, float], cal: FusedCalibration) -> float:
    z = cal.intercept + sum(c * features.get(n, 0.0) for c, n in zip(cal.coef, cal.features, strict=True))
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def _load_localizer(manifest, device: str, runtime: str):  # noqa: ANN001, ANN202
    """ONNX (no torch import) when the manifest ships the exported graph and we run on CPU;
    the torch network otherwise. Both are loaded from the very bytes checked against the
    manifest's sha256 (no window between the check and the load), and a file that cannot be
    loaded (truncated, not a localizer) is a WeightsError naming it (exit 5), never a traceback:
    its hash matches when its manifest entry was changed with it."""
    has_onnx = any(f.name == ONNX_FILE for f in manifest.files)
    if runtime == "onnx" or (runtime == "auto" and has_onnx and device == "cpu"):
        from .localizer.onnx_runtime import OnnxLocalizer

        label = str(manifest.folder / ONNX_FILE)  # also names the file if onnxruntime refuses the graph at first use
        return load_verified(WEIGHTS_COMPONENT, ONNX_FILE, lambda data: OnnxLocalizer(data, label=label), "unloadable ONNX localizer graph")
    from .localizer.infer import Localizer, load_localizer

    # Parsed on the CPU, so that a failure here is the file's, not the device's; moved to the device after.
    model = load_verified(WEIGHTS_COMPONENT, WEIGHTS_FILE, lambda data: load_localizer(data, "cpu"), "unloadable localizer weights")
    return Localizer(model, device)


class FusedEngine:
    name = "fused"

    def __init__(self, device: str = "cpu", evidence: object | None = None, localizer: object | None = None, calibration: Mapping[str, object] | None = None,
                 runtime: str = "auto", **options: object) -> None:
        warn_ignored_options(self.name, options)
        self.weights_sha256: str | None = None
        self.onnx_sha256: str | None = None
        self.recipe_sha256: str | None = None
        self.recipe: dict[str, object] = {}
        #: Per-region saliency on held-out real faces (ranking by suspicion); None when injected parts are used.
        self.region_calibration: RegionCalibration | None = None
        recipe_label = "calibration"  # what a malformed calibration is called: the recipe file when read from one
        if localizer is None:
            resolve(WEIGHTS_COMPONENT, WEIGHTS_FILE)  # WeightsError with what to do, if absent/corrupt
            manifest = load_manifest(WEIGHTS_COMPONENT)
            self.weights_sha256 = manifest.get(WEIGHTS_FILE).sha256
            # The recipe carries the fusion weight and verdict threshold: verified like the weights.
            self.recipe_sha256 = manifest.get(RECIPE_FILE).sha256
            # Pinned but unparsable: a weights error (exit 5) naming the file read.
            self.recipe = load_verified(WEIGHTS_COMPONENT, RECIPE_FILE, lambda data: json.loads(data.decode("utf-8")), "malformed recipe",
                                        errors=(ValueError, UnicodeDecodeError))
            if calibration is None:
                recipe_label = str(weights_path(WEIGHTS_COMPONENT, RECIPE_FILE))
            localizer = _load_localizer(manifest, device, runtime)
            self.region_calibration = load_region_calibration(WEIGHTS_COMPONENT)
            if getattr(localizer, "runtime", "") == "onnxruntime":
                self.onnx_sha256 = manifest.get(ONNX_FILE).sha256
        self.localizer = localizer
        cal = calibration if calibration is not None else self.recipe.get("calibration")
        if cal is not None and not isinstance(cal, Mapping):
            raise WeightsError(f"{recipe_label}: malformed calibration (not an object)")
        self.calibrated = bool(cal)
        try:
            self.calibration = FusedCalibration.from_dict(cal if cal else DEFAULT_CALIBRATION)
        except ValueError as exc:  # pinned but unusable: a weights error (exit 5), as for an unparsable recipe
            raise WeightsError(f"{recipe_label}: malformed calibration ({exc})") from None
        self.evidence = evidence if evidence is not None else get_engine("evidence", device=device)

    @property
    def real_score_tail(self) -> RealScoreTail | None:
        """The calibration's real faces' scores for :func:`forgetalk.verdict.photo_verdicts`; None
        where the recipe lists none or states no target rate."""
        return RealScoreTail.of(self.calibration.real_scores_oof, self.calibration.target_fpr)

    @property
    def greyscale_score_tail(self) -> RealScoreTail | None:
        """The same for greyscale faces (their own untouched scores); None where the recipe has none."""
        grey = self.calibration.greyscale
        return None if grey is None else RealScoreTail.of(grey.real_scores_oof, grey.target_fpr)

    def analyze_face(self, face: AlignedFace) -> EngineOutput:
        t0 = time.perf_counter()
        ev: EngineOutput = self.evidence.analyze_face(face)  # type: ignore[attr-defined]
        lo = self.localizer.predict(face.crop, face.regions)
        w, gamma, source = self.calibration.fusion_weight, self.calibration.heat_gamma, self.calibration.region_source
        heat = calibrate_heat(fuse_heatmaps(lo.prob, ev.heatmap, w), gamma)
        weights, floor = self.calibration.region_cues, self.calibration.region_cue_floor
        own = lo.region_scores(source)
        region_scores, terms = raised_region_scores(own, ev.cue_region_stats, weights, floor)
        feats = face_features(lo, heat, face.face_mask, ev.score, face.regions, self.region_calibration, source, consistency_of(ev), consistency_cues_of(ev),
                              region_scores, face.detection.size)
        score = face_score(feats, self.calibration)
        # Report the named statistics and whichever per-region/per-cue ones the score uses (the
        # others are in region_scores and the evidence engine's consistency block already).
        feats = {k: v for k, v in feats.items() if ":" not in k or k in self.calibration.features}
        cues = dict(ev.cues)
        cues["localizer"] = calibrate_heat(lo.prob, gamma)  # same scale as the heatmap: 0.5 = validation best-F1 threshold
        meta: dict[str, object] = {
            "calibrated": self.calibrated,
            "fusion_weight": w,
            "heat_gamma": gamma,
            "region_source": source,
            "features": feats,
            "evidence_score": float(ev.score),
            # Regions whose score a consistency cue raised: the cue's z, and the localizer's own score before it.
            "region_cue_terms": {r: {"localizer": round(float(own.get(r, 0.0)), 4), "weights": dict(weights), "floor": floor, "z": zs}
                                 for r, zs in terms.items() if r in region_scores},
            "score_definition": "logistic model of " + ", ".join(self.calibration.features) + " (see forgetalk.engines.fused.face_features), fitted on validation real and forged faces",
            "seconds": round(time.perf_counter() - t0, 4),
            # A face with no colour (all three channels equal: a greyscale photo) is judged against
            # the greyscale threshold; the score is the same model's.
            **self.calibration.verdict_meta(greyscale=channels_equal(face.crop)),
        }
        return EngineOutput(heatmap=heat, score=score, cues=cues, cue_region_stats=ev.cue_region_stats, region_scores=region_scores, meta=meta,
                            vocabulary=ev.vocabulary.with_cues(LOCALIZER_CUE))

    def info(self) -> dict[str, object]:
        ev_info = self.evidence.info() if hasattr(self.evidence, "info") else {}
        return {
            "name": self.name,
            "localizer": {"file": f"weights/{WEIGHTS_COMPONENT}/{WEIGHTS_FILE}", "sha256": self.weights_sha256,
                          "runtime": getattr(self.localizer, "runtime", "torch"), "onnx_sha256": self.onnx_sha256,
                          "recipe": f"weights/{WEIGHTS_COMPONENT}/{RECIPE_FILE}", "recipe_sha256": self.recipe_sha256,
                          "config": self.localizer.config_dict,  # type: ignore[attr-defined]
                          "training_seed": (self.recipe.get("train_config") or {}).get("seed")},  # type: ignore[union-attr]
            "calibration": self.calibration.info(),
            "calibrated": self.calibrated,
            "region_calibration": None if self.region_calibration is None else self.region_calibration.info(),
            "evidence": ev_info,
        }
