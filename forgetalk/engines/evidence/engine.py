"""The ``evidence`` engine: hand-made forensic cues, calibrated on real faces, fused to a heatmap.

It is deliberately transparent: every pixel of the heatmap and every region score is a
function of the five measured cues in :mod:`.cues`, and the per-region measurements are
returned so that explanations can quote them. Built with ``use_calibration=False`` it runs
uncalibrated, comparing each face only with itself, and says so in ``meta``; by default a
missing or mismatched calibration file is a :class:`WeightsError` (exit 5).
"""

from __future__ import annotations

import io
import math
import time

import cv2
import numpy as np

from ...errors import WeightsError
from ...faces import AlignedFace
from ...weights import load_manifest, load_verified, read_verified
from ..base import CueSpec, EngineOutput, EngineVocabulary, warn_ignored_options
from ..regioncal import load_region_calibration
from .calibration import Calibration, load_calibration, region_differences
from .consistency import (
    CONSISTENCY_FILE,
    FAMILIES,
    FAMILY_LABELS,
    TWO_SIDED_FAMILIES,
    ConsistencyCalibration,
    calibration_from_json,
    consistency_report,
    region_stats,
)
from .cues import CUE_LABELS, CUE_NAMES, LOG_CUES, TWO_SIDED, centre_on_face, compute_cues

#: Relative weight of each cue in the fused heatmap; seams and noise are the most specific.
CUE_WEIGHTS: dict[str, float] = {"noise": 1.0, "sharpness": 0.7, "frequency": 0.7, "colour": 0.8, "seam": 1.2}
#: A cue "fires" in a region when its region-vs-rest difference is this many real-face SDs out.
FIRE_Z = 3.0
#: Pixel z below this is treated as normal variation.
PIXEL_Z_FLOOR = 1.5

COMPONENT = "evidence"
CALIBRATION_FILE = "calibration.npz"

#: How reports may word this engine's cues: the five map cues compare a region with the rest of
#: the face, the consistency families compare the face with real faces; both fire at FIRE_Z.
VOCABULARY = EngineVocabulary(cues=(
    *(CueSpec(c, CUE_LABELS[c], two_sided=c in TWO_SIDED, fire_z=FIRE_Z) for c in CUE_NAMES),
    *(CueSpec(f, FAMILY_LABELS[f], two_sided=f in TWO_SIDED_FAMILIES, fire_z=FIRE_Z, reference="real_faces") for f in FAMILIES),
))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _robust_spread(centred: np.ndarray, face_mask: np.ndarray) -> float:
    """The face's own spread of a cue (MAD scaled to a normal SD, floored): the yardstick when
    no real-face calibration is available, so an uncalibrated face is compared with itself."""
    vals = centred[face_mask] if face_mask.any() else centred.ravel()
    return float(np.median(np.abs(vals - np.median(vals)))) * 1.4826 + 1e-3


def _load_consistency() -> tuple[ConsistencyCalibration | None, str | None]:
    """The consistency cues' real-face statistics, verified against the manifest.

    Absent from the manifest or the folder: ``(None, None)`` (the cues are then measured but
    not compared with real faces, and ``meta`` says so). Present but with a sha256 mismatch
    or unusable content: :class:`WeightsError`, never a silent fallback.
    """
    try:
        manifest = load_manifest(COMPONENT)
        entry = manifest.get(CONSISTENCY_FILE)
    except WeightsError:
        return None, None
    path = manifest.folder / CONSISTENCY_FILE
    if not (path.exists() or path.is_symlink()):  # absent; a folder or FIFO in its place is an error, not "absent"
        return None, None
    data = read_verified(COMPONENT, CONSISTENCY_FILE)  # the hashed bytes are the parsed bytes
    return calibration_from_json(data, str(path)), entry.sha256


class EvidenceEngine:
    name = "evidence"

    def __init__(
        self,
        device: str = "cpu",
        calibration: Calibration | None = None,
        use_calibration: bool = True,
        consistency: ConsistencyCalibration | None = None,
        **options: object,
    ) -> None:
        warn_ignored_options(self.name, options)
        self.calibration = calibration
        self.consistency, self.consistency_sha256 = consistency, None
        if consistency is None and use_calibration:
            self.consistency, self.consistency_sha256 = _load_consistency()
        self.calibration_sha256: str | None = None
        #: Per-region saliency on held-out real faces (ranking by suspicion; forgetalk.train.region_calibrate).
        self.region_calibration = load_region_calibration(COMPONENT) if use_calibration else None
        if calibration is None and use_calibration:
            # Missing, modified or unparsable calibration is a weights error (exit 5), never a
            # silent fall-back to uncalibrated mode: that would change verdicts without a word.
            # The hashed bytes are the loaded bytes; any parse failure of a pinned file is a weights
            # problem, named with the path actually read (a --weights-dir copy, not the shipped file).
            self.calibration = load_verified(COMPONENT, CALIBRATION_FILE, lambda data: load_calibration(io.BytesIO(data)),  # type: ignore[arg-type]
                                             "unreadable calibration")
            self.calibration_sha256 = load_manifest(COMPONENT).get(CALIBRATION_FILE).sha256

    # ----------------------------------------------------------------------------- maps
    def _pixel_z(self, cue: str, centred: np.ndarray, face_mask: np.ndarray) -> np.ndarray:
        size = centred.shape[0]
        if self.calibration is not None and cue in self.calibration.loc_mean:
            mean, std = self.calibration.loc(cue, size)
            z = (centred - mean) / std
        else:
            z = centred / _robust_spread(centred, face_mask)
        z = np.abs(z) if cue in TWO_SIDED else np.maximum(z, 0.0)
        return cv2.GaussianBlur(z.astype(np.float32), (0, 0), 3.0)

    def _region_z(self, cue: str, region: str, diff: float, centred: np.ndarray, face_mask: np.ndarray) -> float:
        cal = self.calibration
        if cal is not None and region in cal.region_mean.get(cue, {}):
            return (diff - cal.region_mean[cue][region]) / cal.region_std[cue][region]
        return diff / _robust_spread(centred, face_mask)

    def analyze_face(self, face: AlignedFace) -> EngineOutput:
        t0 = time.perf_counter()
        crop, face_mask = face.crop, face.face_mask
        skin = face.regions.get("skin", face_mask)
        raw = compute_cues(crop, skin)
        heat_acc = np.zeros(face_mask.shape, np.float32)
        cue_maps: dict[str, np.ndarray] = {}
        stats: dict[str, dict[str, float]] = {}
        region_z: dict[str, dict[str, float]] = {}
        for cue in CUE_NAMES:
            centred = centre_on_face(raw[cue], face_mask)
            ref = float(raw[cue][face_mask].mean() - centred[face_mask].mean()) if face_mask.any() else 0.0
            z = self._pixel_z(cue, centred, face_mask)
            cue_maps[cue] = z
            heat_acc += CUE_WEIGHTS[cue] * np.maximum(z - PIXEL_Z_FLOOR, 0.0)
            stats[cue] = {}
            for region, (a, b, d) in region_differences(centred, face.regions, face_mask).items():
                rz = self._region_z(cue, region, d, centred, face_mask)
                # Report values in the statistic's natural units (not centred): log-statistics
                # are exponentiated (noise sigma in grey levels, contrast-normalised edge energy,
                # high/mid DCT energy ratio); colour and seam are already in Lab / gradient units.
                ra, rb = a + ref, b + ref
                if cue in LOG_CUES:
                    ra, rb = math.exp(ra), math.exp(rb)
                ratio = ra / rb if rb > 1e-6 else float("nan")
                stats[cue][f"{region}.region"] = ra
                stats[cue][f"{region}.rest"] = rb
                stats[cue][f"{region}.ratio"] = ratio
                stats[cue][f"{region}.z"] = rz
                region_z.setdefault(region, {})[cue] = rz
        heat_acc /= sum(CUE_WEIGHTS.values())
        heat = (1.0 - np.exp(-heat_acc / 1.5)).astype(np.float32)
        heat *= cv2.dilate(face_mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(np.float32)

        # Face score: strongest region evidence, combining its two strongest cues.
        def strength(zs: dict[str, float]) -> float:
            vals = sorted((abs(v) if c in TWO_SIDED else max(v, 0.0) for c, v in zs.items()), reverse=True)
            return float(np.mean(vals[:2])) if vals else 0.0

        region_strength = {r: strength(zs) for r, zs in region_z.items() if r not in ("skin",)}
        top = max(region_strength.values()) if region_strength else 0.0
        score = _sigmoid((top - FIRE_Z) / 1.0)
        region_scores = {r: float(1.0 - math.exp(-max(s - 1.0, 0.0) / 3.0)) for r, s in region_strength.items()}
        meta: dict[str, object] = {
            "calibrated": self.calibration is not None,
            "fire_z": FIRE_Z,
            "score_definition": "sigmoid(strongest region evidence z - 3): mean of its two largest cue z-scores",
            "seconds": round(time.perf_counter() - t0, 4),
        }
        if self.calibration is not None:
            for key in ("threshold", "target_fpr", "measured_fpr", "n_faces"):
                if key in self.calibration.meta:
                    meta[key] = self.calibration.meta[key]
        # Consistency cues (iris colour, catchlights, eye symmetry, part geometry, border
        # continuity): every number in meta; per-region statistics beside the other cues.
        consistency = consistency_report(face, self.consistency, fire_z=FIRE_Z)
        meta["consistency"] = consistency.to_meta()
        stats.update(region_stats(consistency))
        meta["seconds"] = round(time.perf_counter() - t0, 4)
        return EngineOutput(heatmap=heat, score=float(score), cues=cue_maps, cue_region_stats=stats, region_scores=region_scores, meta=meta,
                            vocabulary=VOCABULARY)

    def info(self) -> dict[str, object]:
        cal = self.calibration
        return {
            "name": self.name,
            "cues": list(CUE_NAMES),
            "cue_weights": CUE_WEIGHTS,
            "fire_z": FIRE_Z,
            "calibration": None if cal is None else {"file": f"weights/{COMPONENT}/{CALIBRATION_FILE}", "sha256": self.calibration_sha256, **{k: v for k, v in cal.meta.items() if k != "photos"}},
            "region_calibration": None if self.region_calibration is None else self.region_calibration.info(),
            "consistency_calibration": None if self.consistency is None else {"file": f"weights/{COMPONENT}/{CONSISTENCY_FILE}", "sha256": self.consistency_sha256, "n_faces": self.consistency.meta.get("n_faces")},
        }
