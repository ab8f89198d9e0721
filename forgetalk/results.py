"""Result dataclasses: the single source for the PDF, the overlay labels and the JSON sidecar.

Everything numeric that a report shows lives here, so the JSON sidecar (``to_dict``) is
guaranteed to carry every number the PDF prints. Pixel arrays live in :class:`Analysis`,
which is not serialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .io import InputInfo
from .provenance.model import ProvenanceReport

SCHEMA_VERSION = "forgetalk.report/1"

VERDICT_MANIPULATED = "likely manipulated"
VERDICT_NO_EVIDENCE = "no evidence of manipulation found"
VERDICT_INCONCLUSIVE = "inconclusive"
VERDICT_NO_FACE = "no face found"


@dataclass(frozen=True)
class CueEvidence:
    """One measured cue in one region, compared either with the rest of the same face
    (``compared_with == "rest_of_face"``: ``rest_value`` and ``ratio``) or with real faces
    (``"real_faces"``: the consistency cues; ``real_median`` and the real-face 1st/99th
    percentiles, no rest value and no ratio, which would mean nothing there)."""

    cue: str  # machine name, e.g. "noise_residual"
    label: str  # human name, e.g. "noise-level inconsistency"
    region_value: float  # the statistic measured for the region (in ``unit`` when one is given)
    rest_value: float | None  # same statistic over the rest of the face; None when compared with real faces
    ratio: float | None  # region / rest; None when compared with real faces, or when the rest is ~0
    z: float  # how unusual the ratio (or, against real faces, the value) is among real faces, in real-face SDs; 0 when uncalibrated
    fired: bool  # z above the engine's firing threshold
    compared_with: str = "rest_of_face"  # or "real_faces"
    real_median: float | None = None  # real faces' median of the value (compared_with "real_faces")
    real_q01: float | None = None  # real faces' 1st percentile (compared_with "real_faces")
    real_q99: float | None = None  # real faces' 99th percentile (compared_with "real_faces")
    unit: str | None = None  # unit of region_value and real_*: "ln ..." marks a natural log of a ratio


@dataclass(frozen=True)
class RegionResult:
    name: str
    label: str
    rank: int  # 1 = most suspicious (by suspicion when the engine is calibrated, else by saliency)
    saliency: float  # [0, 1]: raw heat (mean of region and of its hottest quarter, plus the engine's region score)
    mean_heat: float  # plain mean of the heatmap inside the region
    area_px: int  # area in the aligned crop
    evidence: tuple[CueEvidence, ...] = ()
    explanations: tuple[str, ...] = ()
    region_word_prob: float | None = None  # ForgeryTalker prompter probability, when available
    #: Fraction of held-out real faces whose same region had lower saliency (the engine's
    #: region calibration); None for an engine without one. The ranking key when present.
    suspicion: float | None = None
    #: (saliency - real-face median) / (real-face 99th percentile - median): the ranking key
    #: (1.0 = as high as the top 1 % of real faces); None without a region calibration.
    real_excess: float | None = None


@dataclass(frozen=True)
class RegionCompression:
    """One region's JPEG blocks read in the compression-history map (:mod:`forgetalk.compression`)."""

    region: str
    blocks: float  # JPEG blocks of the photo (8x8 px) the region covers
    coefficients: float  # informative (non-zero, tested) DCT coefficients in them
    log_odds: float  # log-odds of one compression against two, per coefficient
    excess: float  # log_odds minus the face reference's
    z: float  # excess in standard errors (the reference's per-coefficient spread, both counts)
    single: bool  # z and excess over their thresholds and log_odds > 0: reported as compressed once


@dataclass(frozen=True)
class FaceCompression:
    """What the compression-history map says inside one face. A reported region is ranked first and sets the
    verdict (see :mod:`forgetalk.verdict`); the face score stays the engine's."""

    reference_log_odds: float  # per coefficient, over the face's skin outside the parts
    reference_spread: float  # per-coefficient standard deviation there (from its blocks' sums, floored)
    regions: tuple[RegionCompression, ...]
    single_regions: tuple[str, ...]  # regions reported as compressed once, most excess first
    z_threshold: float
    excess_threshold: float
    method: str


@dataclass(frozen=True)
class FaceResult:
    index: int
    box: tuple[float, float, float, float]
    detection_score: float
    face_size_px: float
    score: float  # face-level suspicion in [0, 1]
    verdict: str
    verdict_reason: str
    regions: tuple[RegionResult, ...]
    model_text: str | None = None
    notes: tuple[str, ...] = ()
    engine_meta: dict[str, Any] = field(default_factory=dict)
    #: JPEG compression history per region; None unless the file was found compressed twice and mapped.
    compression: FaceCompression | None = None
    #: Share of the face oval outside the photo (a face cut by the frame), 0 to 1.
    outside_share: float = 0.0

    @property
    def top_region(self) -> RegionResult | None:
        return self.regions[0] if self.regions else None


@dataclass(frozen=True)
class SelfTestResult:
    """The known-answer self-test (:mod:`forgetalk.selftest`): the reference photos analysed again
    and compared with the answers recorded for this code's weights.

    ``status``: ``passed``; ``failed`` (a score, a verdict, the first region or the heat moved past
    its tolerance, or a reference photo or face is not what was recorded); ``not comparable`` (the
    engine's weights are not the ones the answers were recorded with, so nothing could be checked).
    """

    status: str
    answers_sha256: str  # the known-answers file as read
    images: int
    faces: int
    max_score_diff: float | None  # largest |score - recorded| over the faces compared
    max_heat_diff: float | None  # largest mean |heat - recorded| on a face's coarse heat grid
    score_tolerance: float
    heat_tolerance: float
    problems: tuple[str, ...]
    seconds: float
    recorded_with: str  # the forgetalk_source digest of the code that recorded the answers
    #: Where the test ran: always the CPU (the answers are the CPU's), whatever device the run then uses.
    device: str = "cpu"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SelfTestResult:
        """The result from its JSON form (a scan carries it as a dict to its workers and its index);
        a TypeError when the keys are not this class's (an index written by other code)."""
        return cls(**{**d, "problems": tuple(d.get("problems") or ())})

    def describe(self) -> str:
        """One line for a terminal."""
        return f"known-answer self-test {self.outcome()}"

    def outcome(self) -> str:
        """The result without the test's name (a report row already names it), in the JSON's precision."""
        if self.passed:
            return (f"passed on the {self.device.upper()}: {self.images} reference photos, {self.faces} faces within {self.score_tolerance:g} of their recorded "
                    f"scores (largest difference {_six(self.max_score_diff)}) and {self.heat_tolerance:g} of their recorded heat "
                    f"({_six(self.max_heat_diff)}); verdicts and first regions the same")
        return f"{self.status}: {self.problems[0] if self.problems else 'no reference photo compared'}"


def _six(x: float | None) -> str:
    """A difference as the JSON stores it (six decimals): 3.7e-07 printed there as 0.0 read as a contradiction."""
    v = round(x or 0.0, 6)
    return "under 0.000001" if v == 0.0 else f"{v:.6f}"


@dataclass(frozen=True)
class AnalysisReport:
    schema: str
    tool_version: str
    engine: str
    engine_info: dict[str, Any]
    face_backend: dict[str, Any]
    parameters: dict[str, Any]
    input: InputInfo
    started_at: str
    finished_at: str
    timings_s: dict[str, float]
    verdict: str
    score: float  # max face score; 0 when no face
    faces: tuple[FaceResult, ...]
    warnings: tuple[str, ...] = ()
    #: What the file itself says (metadata, C2PA, JPEG structure): beside the verdict, never in it.
    provenance: ProvenanceReport | None = None
    #: Python, platform, CPU and library versions of the run (:mod:`forgetalk.environment`): what an
    #: examiner needs to tell why a rerun elsewhere differs in the last digits.
    environment: dict[str, Any] = field(default_factory=dict)
    #: The known-answer self-test run before this analysis (``--self-test``); None when not asked.
    self_test: SelfTestResult | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input"]["notes"] = list(self.input.notes)
        if self.provenance is not None:
            d["provenance"]["flags"] = list(self.provenance.flags)
        return _jsonable(d)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float):
        return round(obj, 6)
    return obj


@dataclass(frozen=True)
class FaceArtifacts:
    """Per-face pixels for rendering (never serialised)."""

    crop: np.ndarray = field(repr=False)  # (512,512,3) uint8
    heatmap: np.ndarray = field(repr=False)  # (512,512) float32
    regions: dict[str, np.ndarray] = field(repr=False)
    inverse: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Analysis:
    """A report plus the pixels needed to draw it."""

    report: AnalysisReport
    image: np.ndarray = field(repr=False)  # photo RGB uint8
    heatmap: np.ndarray = field(repr=False)  # photo-size float32 [0,1]
    faces: tuple[FaceArtifacts, ...] = ()
