"""Face- and image-level verdicts from calibrated engine scores.

The threshold comes from the engine (chosen on real faces at a stated false-positive
rate, see ``meta['threshold']``/``meta['target_fpr']``); when an engine is uncalibrated the
verdict says so instead of pretending. Conditions under which forensic traces are not
reliable (tiny faces, heavy JPEG compression) turn "no evidence" into "inconclusive":
absence of traces there is not evidence of authenticity. Damaged JPEG picture data (libjpeg's
warnings, :mod:`forgetalk.jpeg_damage`) makes every face "inconclusive", whatever its score: the
engine read blocks the decoder made up, and garbled cheeks scored "likely manipulated". So does a
face cut by the photo's edge (``MAX_OUTSIDE_SHARE`` of its oval or more outside the frame): its
crop is padded with black, and untouched faces cut that much scored "likely manipulated" six
times as often as whole ones.

A second, independent trigger: a region that the JPEG compression history reports as compressed
once in a file compressed twice (:mod:`forgetalk.compression`) makes the face "likely manipulated"
whatever the engine's score, and the reason says so. Its false-report rate is measured on its own
(docs/provenance.md: 0 of 278 untouched parsing-set files; 0 of 307 faces in the development
photos, as they came or saved again); the score stays the engine's.

A photo of several faces is asked a question per face, and the stated false-positive rate is per
face: untouched collages of 4, 9 and 16 test portraits were "likely manipulated" 30 %, 35 % and
68 % of the time (``benchmarks/group_photos.py``), as independent faces predict. Where the engine's
calibration lists its real faces' scores (:class:`RealScoreTail`), a face flagged by its score in
a photo of N judged faces stays "likely manipulated" only if an untouched photo of N faces has a
face that high no more often than the target rate; otherwise it is "inconclusive" and the reason
gives that rate (:func:`photo_verdicts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .engines.base import GREYSCALE_BASIS, EngineOutput, RealScoreTail
from .faces import AlignedFace
from .io import InputInfo
from .results import VERDICT_INCONCLUSIVE, VERDICT_MANIPULATED, VERDICT_NO_EVIDENCE, FaceCompression, FaceResult

MIN_FACE_PX = 64
MIN_JPEG_QUALITY = 50
DEFAULT_THRESHOLD = 0.5
#: A face with this share of its oval or more outside the photo (cut by the frame) is inconclusive.
#: Why: untouched faces cut that much were flagged 29.7 % of the time at the shipped threshold
#: (181 of 610 cut versions of 170 untouched test photos; below 15 %: 6.6 %, 38 of 576), the
#: padded crop being unlike anything the engine was trained or calibrated on
#: (``benchmarks/edge_faces.py``, 2026-11-28; docs/localizer_history.md, "Faces cut by the frame").
MAX_OUTSIDE_SHARE = 0.15
#: What the reason quotes: the measured rate above and its counts.
EDGE_FLAGGED = (181, 610, 170)


def compression_reason(compression: FaceCompression) -> str:
    """The verdict's reason when the compression history reports a region."""
    top = next(r for r in compression.regions if r.region == compression.single_regions[0])
    names = ", ".join(compression.single_regions)
    return (f"JPEG compression history: {names} compressed once where the rest of the face was compressed twice "
            f"({top.region}: {top.excess:+.2f} log-odds per coefficient, {top.z:.0f} standard errors)")


def edge_reason(share: float) -> str:
    """Why a face cut by the photo's edge is inconclusive, with the rate that says so."""
    flagged, versions, photos = EDGE_FLAGGED
    return (f"{100 * share:.0f} % of the face lies outside the photo (cut by its edge): untouched faces cut by "
            f"{100 * MAX_OUTSIDE_SHARE:.0f} % or more were flagged {100 * flagged / versions:.0f} % of the time ({flagged} of {versions} cut "
            f"versions of {photos} test photos), so the score cannot be read either way")


def face_verdict(face: AlignedFace, out: EngineOutput, info: InputInfo | None = None,
                 compression: FaceCompression | None = None) -> tuple[str, str]:
    thr = out.meta.get("threshold")
    fpr = out.meta.get("measured_fpr", out.meta.get("target_fpr"))
    if thr is None:
        thr_f = DEFAULT_THRESHOLD
        basis = f"uncalibrated threshold {thr_f:.2f}"
    else:
        thr_f = float(thr)  # type: ignore[arg-type]
        grey = out.meta.get("threshold_basis") == GREYSCALE_BASIS
        basis = (f"{'greyscale ' if grey else ''}threshold {thr_f:.3f}"
                 + (f" (false-positive rate {float(fpr) * 100:.1f}% on {'greyscale copies of ' if grey else ''}real faces)" if fpr is not None else ""))  # type: ignore[arg-type]
    size = face.detection.size
    if size < MIN_FACE_PX:
        return VERDICT_INCONCLUSIVE, f"face too small ({size:.0f} px < {MIN_FACE_PX} px) for reliable forensic traces; score {out.score:.3f} vs {basis}"
    if info is not None and info.picture_damage:  # before any trigger: the coefficients and pixels are partly the decoder's
        return VERDICT_INCONCLUSIVE, (f"the JPEG's picture data is damaged (libjpeg: {info.picture_damage}): parts of the picture are "
                                      f"the decoder's filling, not the file's; score {out.score:.3f} vs {basis}")
    if compression is not None and compression.single_regions:
        engine = f"score {out.score:.3f} {'>=' if out.score >= thr_f else '<'} {basis}"
        return VERDICT_MANIPULATED, f"{compression_reason(compression)}; engine {engine}"
    if face.outside_share >= MAX_OUTSIDE_SHARE:
        return VERDICT_INCONCLUSIVE, f"{edge_reason(face.outside_share)}; score {out.score:.3f} vs {basis}"
    if out.score >= thr_f:
        reason = f"score {out.score:.3f} >= {basis}"
        if info is not None and info.jpeg_quality is not None and info.jpeg_quality < MIN_JPEG_QUALITY:
            reason += f"; caution: heavy JPEG compression (quality ~{info.jpeg_quality})"
        return VERDICT_MANIPULATED, reason
    if info is not None and info.jpeg_quality is not None and info.jpeg_quality < MIN_JPEG_QUALITY:
        return VERDICT_INCONCLUSIVE, f"too compressed (JPEG quality ~{info.jpeg_quality} < {MIN_JPEG_QUALITY}) to rule out manipulation; score {out.score:.3f} < {basis}"
    return VERDICT_NO_EVIDENCE, f"score {out.score:.3f} < {basis}"


def is_judged(size: float, outside: float = 0.0) -> bool:
    """Whether a face's score is read at all: ``MIN_FACE_PX`` or more and less than
    ``MAX_OUTSIDE_SHARE`` of it outside the photo (the image score's and the photo rule's faces)."""
    return size >= MIN_FACE_PX and outside < MAX_OUTSIDE_SHARE


def photo_rate(hits: int, total: int, n_faces: int) -> float:
    """How often an untouched photo of ``n_faces`` faces has one scoring as high as a score that
    ``hits`` of ``total`` real items reach (faces taken as independent)."""
    return 1.0 - (1.0 - hits / total) ** n_faces


#: What a real-score tail's scores are of, as the reason names them.
REAL_ITEMS = "untouched validation items"
GREY_ITEMS = "greyscale copies of untouched validation items"


def many_faces_reason(n_faces: int, hits: int, total: int, target: float, items: str = REAL_ITEMS) -> str:
    """Why a flagged face of a photo of ``n_faces`` judged faces is inconclusive (``items``: what the scores are of)."""
    return (f"one of {n_faces} faces judged in this photo: {hits} of {total} {items} score this high, so an "
            f"untouched photo of {n_faces} faces has one that high about {100 * photo_rate(hits, total, n_faces):.0f} % of the "
            f"time, more than the {100 * target:.0f} % the verdict allows")


def photo_verdicts(faces: Sequence[FaceResult], tail: RealScoreTail | None, greyscale_tail: RealScoreTail | None = None) -> tuple[FaceResult, ...]:
    """``faces`` with every face flagged by its score alone turned "inconclusive" where an untouched
    photo of as many judged faces would have a face scoring that high more often than the target
    rate (1 - (1 - p)^N, p the share of real validation faces at or above the score; faces taken
    as independent, which collages of untouched portraits bore out). A face flagged by the JPEG
    compression history, a photo of one judged face, or an engine whose calibration lists no real
    scores (``tail`` None) is left as it is. A face judged against the greyscale threshold is read
    against ``greyscale_tail`` (the grey untouched items' scores; left as it is where None).

    Why: the verdict's rate is per face. Read as the photo's, "likely manipulated" on the highest of
    24 faces at 0.878 (threshold 0.874) would be wrong about seven untouched photos in ten."""
    n = sum(is_judged(f.face_size_px, f.outside_share) for f in faces)
    if n < 2:
        return tuple(faces)
    out: list[FaceResult] = []
    for f in faces:
        grey = f.engine_meta.get("threshold_basis") == GREYSCALE_BASIS
        t = greyscale_tail if grey else tail
        # A face flagged by score is a judged one: face_verdict makes tiny and cut faces inconclusive first.
        if t is not None and t.scores and f.verdict == VERDICT_MANIPULATED and not (f.compression is not None and f.compression.single_regions):
            hits, total = t.share_at_or_above(f.score)
            if photo_rate(hits, total, n) > t.target_fpr:
                f = replace(f, verdict=VERDICT_INCONCLUSIVE, verdict_reason=f"{many_faces_reason(n, hits, total, t.target_fpr, GREY_ITEMS if grey else REAL_ITEMS)}; {f.verdict_reason}")
        out.append(f)
    return tuple(out)


def image_score(faces: Sequence[FaceResult]) -> float:
    """The highest score among the faces large enough to be judged (``MIN_FACE_PX``) and not cut
    by the frame (``MAX_OUTSIDE_SHARE``); where there are none, the highest score of the rest.

    Why not simply the highest face score: a face below ``MIN_FACE_PX`` is upsampled to the
    analysis size, and its score is noise the verdict already refuses to read ("inconclusive:
    face too small"). Out-of-focus people behind the subject score high (blur looks like
    smoothing): on a real 600 px portrait of the parsing set, a 28 px background face scored
    0.973 and became the image's score, ranking an untouched photo above most forgeries in any
    triage sorted by it (``benchmarks/image_score.py``). Every face keeps its own score in the
    report.
    """
    i = deciding_index([f.score for f in faces], [f.face_size_px for f in faces], [f.outside_share for f in faces])
    return 0.0 if i is None else faces[i].score


def deciding_index(scores: Sequence[float], sizes: Sequence[float], outside: Sequence[float] | None = None) -> int | None:
    """Position of the face whose score is the image's (:func:`image_score`'s rule, on plain
    numbers): the highest-scoring face of at least ``MIN_FACE_PX`` with less than
    ``MAX_OUTSIDE_SHARE`` of it outside the photo (``outside``; None: every face whole), else the
    highest-scoring of all; None without faces. A face cut by the frame is left out for the same
    reason as a tiny one: its verdict refuses to read its score (an untouched group selfie's cut
    border face, 0.899, would top a scan's triage index).

    Why plain numbers: the report's page 1 reads the JSON form, the terminal and the sidecar the
    dataclasses; with one rule for both, page 1 cannot name a tiny background face (``Score 0.710
    ... face 2``) while the image score (0.604) is another face's.
    """
    every = range(len(scores))
    judged = [i for i in every if is_judged(sizes[i], 0.0 if outside is None else outside[i])]
    return max(judged or every, key=lambda i: scores[i], default=None)


def image_verdict(faces: Sequence[FaceResult]) -> tuple[str, float]:
    """Most severe face verdict wins; the image score is :func:`image_score`."""
    score = image_score(faces)
    verdicts = {f.verdict for f in faces}
    for v in (VERDICT_MANIPULATED, VERDICT_INCONCLUSIVE, VERDICT_NO_EVIDENCE):
        if v in verdicts:
            return v, score
    return VERDICT_NO_EVIDENCE, score
