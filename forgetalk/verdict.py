"""Face- and image-level verdicts from calibrated engine scores.

The threshold comes from the engine (chosen on real faces at a stated false-positive
rate, see ``meta['threshold']``/``meta['target_fpr']``); when an engine is uncalibrated the
verdict says so instead of pretending. Conditions under which forensic traces are not
reliable (tiny faces, heavy JPEG compression) turn "no evidence" into "inconclusive":
absence of traces there is not evidence of authenticity.
"""

from __future__ import annotations

from collections.abc import Sequence

from .engines.base import EngineOutput
from .faces import AlignedFace
from .io import InputInfo
from .results import VERDICT_INCONCLUSIVE, VERDICT_MANIPULATED, VERDICT_NO_EVIDENCE, FaceResult

MIN_FACE_PX = 64
MIN_JPEG_QUALITY = 50
DEFAULT_THRESHOLD = 0.5


def face_verdict(face: AlignedFace, out: EngineOutput, info: InputInfo | None = None) -> tuple[str, str]:
    thr = out.meta.get("threshold")
    fpr = out.meta.get("measured_fpr", out.meta.get("target_fpr"))
    if thr is None:
        thr_f = DEFAULT_THRESHOLD
        basis = f"uncalibrated threshold {thr_f:.2f}"
    else:
        thr_f = float(thr)  # type: ignore[arg-type]
        basis = f"threshold {thr_f:.3f}" + (f" (false-positive rate {float(fpr) * 100:.1f}% on real faces)" if fpr is not None else "")  # type: ignore[arg-type]
    size = face.detection.size
    if size < MIN_FACE_PX:
        return VERDICT_INCONCLUSIVE, f"face too small ({size:.0f} px < {MIN_FACE_PX} px) for reliable forensic traces; score {out.score:.3f} vs {basis}"
    if out.score >= thr_f:
        reason = f"score {out.score:.3f} >= {basis}"
        if info is not None and info.jpeg_quality is not None and info.jpeg_quality < MIN_JPEG_QUALITY:
            reason += f"; caution: heavy JPEG compression (quality ~{info.jpeg_quality})"
        return VERDICT_MANIPULATED, reason
    if info is not None and info.jpeg_quality is not None and info.jpeg_quality < MIN_JPEG_QUALITY:
        return VERDICT_INCONCLUSIVE, f"too compressed (JPEG quality ~{info.jpeg_quality} < {MIN_JPEG_QUALITY}) to rule out manipulation; score {out.score:.3f} < {basis}"
    return VERDICT_NO_EVIDENCE, f"score {out.score:.3f} < {basis}"


def image_verdict(faces: Sequence[FaceResult]) -> tuple[str, float]:
    """Most severe face verdict wins; the image score is the highest face score."""
    score = max((f.score for f in faces), default=0.0)
    verdicts = {f.verdict for f in faces}
    for v in (VERDICT_MANIPULATED, VERDICT_INCONCLUSIVE, VERDICT_NO_EVIDENCE):
        if v in verdicts:
            return v, score
    return VERDICT_NO_EVIDENCE, score
