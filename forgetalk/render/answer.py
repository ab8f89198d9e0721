"""The answer an analyst reads first, as plain values and sentences (no drawing).

Why a separate module: the case report's page 1, the one-page triage form and the scan
summary's page per flagged photo say the same things (verdict, its error rate, the top
regions with one sentence each, a short summary). They are computed here, once, from the
report's JSON form (``AnalysisReport.to_dict()`` / a scan item's sidecar), so the three
documents cannot disagree, and a scan summary can be drawn from sidecars without pixels.

Every sentence is generated from a measured number in that dictionary; nothing here
guesses or adds claims the measurements do not carry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..metrics import wilson_interval
from ..verdict import MIN_FACE_PX, deciding_index
from .labels import FAMILY_WORDS, flatten

VERDICT_MANIPULATED = "likely manipulated"
VERDICT_INCONCLUSIVE = "inconclusive"

#: The compression-history trigger's measured false reports, as docs/provenance.md ("Compression
#: history per facial region") gives them: none among the untouched files of the parsing set's test
#: split (67 + 39 + 33 saved again, 139 originals), none among the development photos' faces (18 of
#: them mapped as the files came, 114 after saving them all again). Why constants: the verdict's
#: other trigger, the engine, carries its rates in its calibration; this one's are a benchmark's,
#: and tests/test_report_pdf.py checks that the document still says these numbers.
COMPRESSION_FALSE_REPORTS = (0, 278)
COMPRESSION_DEV_FACES = (0, 307, 18, 114)


@dataclass(frozen=True)
class ErrorRate:
    """How reliable the verdict is: the threshold and what it does on validation faces."""

    threshold: float | None
    fpr: float | None  # share of validation real faces at or above the threshold
    tpr: float | None  # share of validation forgeries at or above it
    n_real: int | None  # untouched validation items behind fpr
    n_fake: int | None
    n_faces: int | None = None  # distinct faces behind n_real, where each came in several versions
    #: Forgery families of the validation forgeries behind ``tpr`` (the engine's calibration), () when not stated.
    families: tuple[str, ...] = ()

    def forgeries(self) -> str:
        """"validation forgeries", with their families where the calibration names them."""
        return forgeries_phrase(self.families)


def forgeries_phrase(families: tuple[str, ...]) -> str:
    """"validation forgeries (cross-face part swaps and region swaps)": what a detection rate was
    measured on. Why: the fused engine's face score is fitted, and its detection rate measured, on
    part and region swaps only (docs/localizer_history.md, "The calibration's families"); a rate
    read as one over every kind of edit would overstate what the verdict catches."""
    if not families:
        return "validation forgeries"
    words = [FAMILY_WORDS.get(f, f.replace("_", " ")) for f in families]
    kinds = " and ".join(words) if len(words) <= 2 else f"{len(words)} kinds of edit"
    return f"validation forgeries ({kinds})"


def calibration_families(info: Mapping[str, Any]) -> tuple[str, ...]:
    """The forgery families an engine's calibration names (``engine_info.calibration.families``), () if none."""
    cal = info.get("calibration")
    fams = cal.get("families") if isinstance(cal, Mapping) else None
    return tuple(str(f) for f in fams) if isinstance(fams, list | tuple) else ()


@dataclass(frozen=True)
class TopRegion:
    face: int  # 1-based, as on the overlay
    rank: int
    label: str
    suspicion: float | None
    saliency: float
    sentence: str
    #: The real faces its percentile is over (:func:`region_real_items`), for a region above them all.
    real_items: tuple[int, str] | None = None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _find(tree: Mapping[str, Any], *leaves: str, contains: str | None = None) -> float | None:
    """First numeric value whose key ends with one of ``leaves`` (in the order given), else,
    with ``contains``, whose last key part contains it (engines name their calibration freely;
    pixel-level thresholds are not the verdict's)."""
    flat = list(flatten(tree))
    for leaf in leaves:
        for k, v in flat:
            if k.rsplit(".", 1)[-1] == leaf and _num(v) is not None:
                return _num(v)
    if contains:
        for k, v in flat:
            last = k.rsplit(".", 1)[-1].lower()
            if contains in last and "pixel" not in last and "target" not in last and _num(v) is not None:
                return _num(v)
    return None


def _size(face: Mapping[str, Any]) -> float:
    """The face's size in the photo (px); unknown counts as large enough to judge."""
    v = _num(face.get("face_size_px"))
    return math.inf if v is None else v


def top_face(rep: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The face whose score is the image's score, by the verdict's own rule
    (:func:`forgetalk.verdict.deciding_index`: faces under ``MIN_FACE_PX``, or cut by the frame,
    count only when no other face is there). Why not the highest score: a 40 px background face's 0.710 made page 1 say "Score
    0.710 ... face 2" and rank that face's regions, where the terminal and the JSON gave 0.604."""
    faces = list(rep.get("faces") or [])
    i = deciding_index([_num(f.get("score")) or 0.0 for f in faces], [_size(f) for f in faces], [_num(f.get("outside_share")) or 0.0 for f in faces])
    return None if i is None else faces[i]


def left_out_small(rep: Mapping[str, Any]) -> bool:
    """Whether a face under ``MIN_FACE_PX`` was left out of the image's score (a larger one counts)."""
    sizes = [_size(f) for f in rep.get("faces") or []]
    return any(x < MIN_FACE_PX for x in sizes) and any(x >= MIN_FACE_PX for x in sizes)


@dataclass(frozen=True)
class VerdictCause:
    """Why the image has its verdict, read off the face that sets it (its ``verdict_reason``)."""

    face: Mapping[str, Any]
    cause: str  # the reason without its score clause; "" when the score alone decided
    caution: str | None  # "heavy JPEG compression (quality ~30)" appended to a score's verdict


_SCORE_CLAUSE = r"(?:engine )?score (?:-?\d|nan|-?inf)"
_REASON_SPLIT = re.compile(rf";\s+(?={_SCORE_CLAUSE}|caution: )")


def reason_parts(reason: str) -> tuple[str, str | None]:
    """(cause, caution) of a face's ``verdict_reason`` (:func:`forgetalk.verdict.face_verdict`): the
    clauses other than the score comparison, and the caution it appends, if any."""
    cause, caution = [], None
    for part in _REASON_SPLIT.split(reason.strip()):
        if part.startswith("caution: "):
            caution = part[len("caution: "):].strip()
        elif not re.match(_SCORE_CLAUSE, part):
            cause.append(part.strip())
    return "; ".join(x for x in cause if x), caution


def verdict_cause(rep: Mapping[str, Any]) -> VerdictCause | None:
    """The face whose verdict is the image's (the deciding face when it has it, else the highest
    score among those that have it) and why: page 1 said "below the threshold ..., so the verdict is
    inconclusive" where the reason was a 45 px face, and never showed a verdict's caution."""
    verdict = rep.get("verdict")
    same = [f for f in rep.get("faces") or [] if f.get("verdict") == verdict]
    if not same:
        return None
    top = top_face(rep)
    face = top if any(f is top for f in same) else max(same, key=lambda f: _num(f.get("score")) or 0.0)
    cause, caution = reason_parts(str(face.get("verdict_reason") or ""))
    return VerdictCause(face, cause, caution)


def _face_name(rep: Mapping[str, Any], face: Mapping[str, Any]) -> str:
    return f"face {int(face.get('index', 0)) + 1}" if len(rep.get("faces") or []) > 1 else "the face"


def why_words(rep: Mapping[str, Any]) -> str:
    """" Why inconclusive: ..." and " Caution: ..." sentences (with a leading space), or ""."""
    vc = verdict_cause(rep)
    if vc is None:
        return ""
    out = ""
    if rep.get("verdict") == VERDICT_INCONCLUSIVE and vc.cause:
        who = f" ({_face_name(rep, vc.face)})" if len(rep.get("faces") or []) > 1 else ""
        out += f" Why inconclusive{who}: {vc.cause}."
    if vc.caution:
        out += f" Caution: {vc.caution}."
    return out


@dataclass(frozen=True)
class BandRate:
    """The verdict threshold's false-positive rate measured on validation faces of one size band."""

    band: str  # "faces of 160-315 px"
    n_real: int
    fpr: float


def band_words(lo: float | None, hi: float | None) -> str:
    """A face-size band in words, as :meth:`forgetalk.engines.regioncal.SizeBand.describe` says it."""
    if hi is None:
        return f"faces of {lo or 0.0:.0f} px and up"
    if not lo:
        return f"faces under {hi:.0f} px"
    return f"faces of {lo:.0f}-{hi:.0f} px"


def _tree_list(tree: Mapping[str, Any], leaf: str) -> list[Mapping[str, Any]]:
    """The first list of mappings stored under a key named ``leaf`` anywhere in ``tree``."""
    for k, v in flatten(tree):
        if k.rsplit(".", 1)[-1] == leaf and isinstance(v, list) and all(isinstance(x, Mapping) for x in v):
            return list(v)
    return []


def band_rate(rep: Mapping[str, Any], face: Mapping[str, Any]) -> BandRate | None:
    """The calibration's rate at the threshold for ``face``'s size band (``rates_by_face_px``), or
    None. Why: the pooled 4.9 % hides that faces of 160-315 px, a portrait's usual size, were
    flagged at 6.35 % of 252 untouched items."""
    size = _size(face)
    if not math.isfinite(size):
        return None
    for row in _tree_list(rep.get("engine_info") or {}, "rates_by_face_px"):
        edges = row.get("face_px") or [None, None]
        lo = _num(edges[0]) or 0.0
        hi = _num(edges[1]) if len(edges) > 1 else None
        fpr, n = _num(row.get("fpr")), _num(row.get("n_real"))
        if lo <= size and (hi is None or size < hi) and fpr is not None and n:
            return BandRate(band_words(lo, hi), int(n), fpr)
    return None


def count_of(rate: float, n: int) -> str:
    """"16 of 252" when the stored rate (4 decimals) is that count exactly, else "n = 252"."""
    k = round(rate * n)
    return f"{k} of {n}" if abs(k / n - rate) <= 5e-5 + 1e-12 else f"n = {n}"


def band_clause(rep: Mapping[str, Any], face: Mapping[str, Any]) -> str:
    """"; for faces of 160-315 px in the photo, like this one (213 px): 6.3 % (16 of 252 untouched items)", or ""."""
    br = band_rate(rep, face)
    if br is None:
        return ""
    who = f"face {int(face.get('index', 0)) + 1}" if len(rep.get("faces") or []) > 1 else "this one"
    return f"; for {br.band} in the photo, like {who} ({_size(face):.0f} px): {pct(br.fpr, 1)} ({count_of(br.fpr, br.n_real)} untouched items)"


def region_real_items(engine_info: Mapping[str, Any], face_px: float | None) -> tuple[int, str] | None:
    """How many real faces a region of a face of ``face_px`` is ranked against, and what they are:
    (371, "real-face items of its size band, 157 px and up") from the region calibration's size
    bands, else the pooled (549, "real-face items") or (183, "real faces"); None when unknown. Why: a
    region above every one of them printed "more unusual than on 100 % of real faces", more than a
    few hundred items can show."""
    if face_px is not None and math.isfinite(face_px):
        for b in _tree_list(engine_info, "face_px_bands"):
            lo, hi, n = _num(b.get("min_px")) or 0.0, _num(b.get("max_px")), _num(b.get("n_items"))
            if n and lo <= face_px and (hi is None or face_px < hi):
                return int(n), f"real-face items of its size band, {band_words(lo, hi).removeprefix('faces ').removeprefix('of ')}"
    items = _find(engine_info, "n_real_items")
    if items:
        return int(items), "real-face items"
    faces = _find(engine_info, "n_real_faces")
    return (int(faces), "real faces") if faces else None


def above_all(real_items: tuple[int, str] | None, short: bool = False) -> str:
    """A saturated percentile in words: "above all 371 real-face items of its size band, 157 px and
    up" ("above all 371" in a list that already said what they are)."""
    if real_items is None:
        return "above every real face of the calibration"
    n, what = real_items
    return f"above all {n}" if short else f"above all {n} {what}"


def share_below(suspicion: float) -> str:
    """A region's percentile as a whole percentage that never reads 100 % short of 1.0 (99.6 % is
    "99 %": "more unusual than on 100 %" claims every real face)."""
    v = round(100 * suspicion)
    return f"{min(v, 99) if suspicion < 1.0 else v} %"


def fpr_interval(er: ErrorRate) -> tuple[float, float] | None:
    """95 % Wilson interval of the threshold's false-positive rate, counting distinct faces where
    each came in several versions (versions of one face are not independent: wider, honest)."""
    units = er.n_faces or er.n_real
    if er.fpr is None or not units:
        return None
    return wilson_interval(er.fpr, units)


def error_rate_record(rep: Mapping[str, Any]) -> dict[str, Any] | None:
    """The verdict's error rate as page 1 states it, interval included, for the JSON (every number
    in the PDF is in the sidecar: the interval was computed for page 1 only)."""
    er = error_rate(rep)
    if er.threshold is None:
        return None
    interval = fpr_interval(er)
    return {"threshold": er.threshold, "false_positive_rate": er.fpr, "n_untouched_items": er.n_real, "n_faces": er.n_faces,
            "false_positive_rate_95ci": None if interval is None else [round(interval[0], 6), round(interval[1], 6)],
            "interval_counts": "faces" if er.n_faces else "items", "detection_rate": er.tpr, "n_forgeries": er.n_fake}


def error_rate(rep: Mapping[str, Any]) -> ErrorRate:
    """The verdict threshold and its validation error rates: the deciding face's, else the engine's."""
    face = top_face(rep) or {}
    meta = face.get("engine_meta") or {}
    info = rep.get("engine_info") or {}

    def pick(*leaves: str, contains: str | None = None) -> float | None:
        v = _find(meta, *leaves, contains=contains)
        return v if v is not None else _find(info, *leaves, contains=contains)

    n_real, n_fake = pick("n_val_real", "n_val_faces"), pick("n_val_fake")
    n_faces = _find(meta, "n_val_faces") if _find(meta, "n_val_real") is not None else None  # the same engine's pair only
    return ErrorRate(threshold=pick("threshold", contains="threshold"), fpr=pick("measured_fpr", "fpr", contains="fpr"),
                     tpr=pick("tpr_at_threshold_val", "tpr"),
                     n_real=int(n_real) if n_real is not None else None, n_fake=int(n_fake) if n_fake is not None else None,
                     n_faces=int(n_faces) if n_faces is not None else None,
                     families=calibration_families(info))


def pct(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def compression_finding(rep: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """(face, region row) of the first region the JPEG compression history reports: the deciding
    face's if it has one, else the first face that has; None when no face has one."""
    faces = list(rep.get("faces") or [])
    top = top_face(rep)
    for face in ([top] if top is not None else []) + faces:
        comp = face.get("compression") or {}
        names = list(comp.get("single_regions") or [])
        if names:
            row = next((r for r in comp.get("regions") or [] if r.get("region") == names[0]), {})
            return face, row
    return None


def compression_clause(rep: Mapping[str, Any], numbers: bool = True) -> str | None:
    """The measured words for a verdict set by the compression history, or None (``numbers=False``:
    without the measurement, for the summary that follows the verdict box which gives it)."""
    found = compression_finding(rep)
    if found is None:
        return None
    face, row = found
    label = next((str(r.get("label")) for r in face.get("regions") or [] if r.get("name") == row.get("region")), str(row.get("region", "")))
    who = f" of face {int(face.get('index', 0)) + 1}" if len(rep.get("faces") or []) > 1 else ""
    excess, z = _num(row.get("excess")), _num(row.get("z"))
    nums = f" ({excess:+.2f} log-odds per coefficient above the rest of the face, {z:.0f} standard errors)" if numbers and excess is not None and z is not None else ""
    return f"the JPEG compression history finds the {label}{who} compressed once where the rest of the face was compressed twice{nums}"


def compression_rule(rep: Mapping[str, Any]) -> str:
    """The rule by which the compression history reports a region, with the thresholds the face's
    record carries (``faces[].compression``)."""
    found = compression_finding(rep)
    comp = (found[0].get("compression") or {}) if found else {}
    excess, z = _num(comp.get("excess_threshold")), _num(comp.get("z_threshold"))
    if excess is None or z is None:
        return "a region is reported when its blocks favour one compression well above the rest of the face"
    return (f"a region is reported when its own log-odds of one compression are positive and exceed those of the face's "
            f"skin by at least {excess:g} per DCT coefficient and {z:g} standard errors")


def compression_false_reports() -> str:
    """The compression-history trigger's measured false-report rate, as docs/provenance.md gives it."""
    k, n = COMPRESSION_FALSE_REPORTS
    lo, hi = wilson_interval(k / n, n)
    return f"{k} of {n} untouched test files reported (95 % interval {100 * lo:.1f}-{100 * hi:.1f} %; docs/provenance.md)"


def compression_decides(rep: Mapping[str, Any], threshold: float | None) -> str | None:
    """"only" when the compression history alone made the verdict "likely manipulated" (the engine's
    score is below its threshold), "also" when the engine flags the image too, None when it did not
    act. Why: page 1 said "the verdict also rests on the compression history" where it rested on
    nothing else, and quoted the engine's 4.9 % as that verdict's error rate."""
    if rep.get("verdict") != VERDICT_MANIPULATED or compression_finding(rep) is None:
        return None
    score = _num((top_face(rep) or {}).get("score"))
    return "also" if threshold is not None and score is not None and score >= threshold else "only"


def _first_frame(rep: Mapping[str, Any]) -> str:
    """" in its first frame (...)" for a file of several frames or pages, of which only the first is
    analysed: "no face found" read as if the file held none (a face on page 2 of a TIFF)."""
    frames = (rep.get("input") or {}).get("frames")
    return f" in its first frame (the only one analysed; the file holds {frames})" if isinstance(frames, int) and not isinstance(frames, bool) and frames > 1 else ""


def _which(rep: Mapping[str, Any], face: Mapping[str, Any]) -> str:
    """" (face 1; faces under 64 px are left out of the image score)" where there are several faces."""
    if len(rep.get("faces") or []) < 2:
        return ""
    small = f"; faces under {MIN_FACE_PX} px are left out of the image score" if left_out_small(rep) else ""
    return f" (face {int(face.get('index', 0)) + 1}{small})"


def verdict_words(rep: Mapping[str, Any]) -> tuple[str, str]:
    """(headline, one sentence on the error rate) for the verdict box."""
    verdict = str(rep.get("verdict", ""))
    face = top_face(rep)
    if face is None:
        return f"Verdict: {verdict}", (f"No face was detected{_first_frame(rep)}, so no face-forgery analysis was performed; "
                                       "this says nothing about the rest of the image.")
    er = error_rate(rep)
    score = _num(face.get("score"))
    s = f"{score:.2f}" if score is not None else "n/a"
    why = why_words(rep)
    which = _which(rep, face)
    trigger = compression_decides(rep, er.threshold)
    history = ""
    if trigger == "also":  # the engine's threshold made the verdict too: its rate stands, the rule is in Methods
        history = f" The verdict also rests on a second trigger: {compression_clause(rep)}; its own false reports: {compression_false_reports()}."
    elif trigger == "only":
        history = (f" The verdict rests only on a second trigger: {compression_clause(rep)}. Rule: {compression_rule(rep)}. Its false-report "
                   f"rate, measured on its own: {compression_false_reports()}.")
    if er.threshold is None or er.fpr is None:
        return f"Verdict: {verdict}", (f"Score {s}{which}. The engine reports no calibrated threshold: treat the score as a ranking, not a "
                                       f"probability.{history}{why}")
    side = "at or above" if (score or 0.0) >= er.threshold else "below"
    s, thr = score_and_threshold(score or 0.0, er.threshold) if score is not None else (s, f"{er.threshold:.2f}")
    n = f" (n = {er.n_real})" if er.n_real else ""
    if er.n_real and er.n_faces and er.n_faces != er.n_real:  # several post-edit versions of each face
        n = f" (n = {er.n_real} untouched versions of {er.n_faces} faces)"
    tpr = f"; at this threshold it caught {pct(er.tpr, 1)} of {er.forgeries()}" if er.tpr is not None else ""
    interval = fpr_interval(er)
    ci = ""
    if interval is not None:
        lo, hi = interval
        ci = f"; 95 % interval {100 * lo:.1f}-{100 * hi:.1f} %{', counting faces, not versions' if er.n_faces and er.n_faces != er.n_real else ''}"
    if trigger == "only":  # the engine's error rate is not this verdict's
        return (f"Verdict: {verdict}",
                f"Score {s}{which}, below the engine's threshold {thr}: the engine alone does not flag "
                f"{'any face' if which else 'this face'}, and its error rate is not this verdict's.{history}{why}")
    return (f"Verdict: {verdict}",
            f"Score {s}{which}, {side} the threshold {thr}. Error rate: {pct(er.fpr, 1)} of real validation faces{n} score "
            f"at or above this threshold (false positives{ci}){band_clause(rep, face)}{tpr}.{history}{why}")


def score_and_threshold(score: float, threshold: float) -> tuple[str, str]:
    """Score and threshold as the JSON and the terminal give the threshold (three decimals; two
    when that is exact), with more decimals (up to six) where the printed pair would otherwise read
    against the comparison. Why: a score of 0.834 against a threshold of 0.8349 printed "Score 0.83,
    below the threshold 0.83", and every page 1 gave 0.835 as 0.83."""
    d = 2 if round(threshold, 2) == round(threshold, 3) else 3
    while d < 6:
        a, b = f"{score:.{d}f}", f"{threshold:.{d}f}"
        if (float(a) >= float(b)) == (score >= threshold):
            return a, b
        d += 1
    return f"{score:.6f}", f"{threshold:.6f}"


_SD = re.compile(r"real-face SDs?", re.I)


def _first_sentence(text: str) -> str:
    m = re.search(r"(?<=[.!?])\s+(?=[A-Z])", text)
    return text[: m.start()] if m else text


def one_sentence(region: Mapping[str, Any]) -> str:
    """The single most informative explanation of a region.

    The compression history's finding (it ranks the region first) says the most, then a cue that
    departs from real faces (quoted with its z-score), then the learned localizer's share of the
    region, then whatever the engine said first.
    """
    ex = [str(x) for x in region.get("explanations") or []]
    history = [x for x in ex if x.startswith("Compression history:")]
    if history:  # the measured reason this region is ranked first
        return _first_sentence(history[0])
    fired = [x for x in ex if _SD.search(x) and not x.startswith("No ")]
    loc = [x for x in ex if "localizer" in x]
    pick = (fired or loc or ex or ["No explanation was produced for this region."])[0]
    return _first_sentence(pick)


def top_regions(rep: Mapping[str, Any], k: int = 3, skip: frozenset[str] = frozenset()) -> list[TopRegion]:
    """The top ``k`` regions of the deciding face, in the report's order, with their rank numbers
    (the overlay's numbers).

    Why nothing is skipped by default: page 1 used to leave the facial skin out, so its sentence read
    "the nose, followed by the left cheek" where the terminal, the JSON and the report's own table
    ranked the skin second (and, with the skin first, named the second region "the region that
    differs most"). The overlay still draws no label on the skin, which covers the face; its rank
    number is skipped there, visibly."""
    face = top_face(rep)
    if face is None:
        return []
    out = []
    items = region_real_items(rep.get("engine_info") or {}, _size(face))
    for r in face.get("regions") or []:
        if r.get("name") in skip:
            continue
        out.append(TopRegion(face=int(face.get("index", 0)) + 1, rank=int(r.get("rank", 0)), label=str(r.get("label", r.get("name", ""))),
                             suspicion=_num(r.get("suspicion")), saliency=_num(r.get("saliency")) or 0.0, sentence=one_sentence(r),
                             real_items=items))
        if len(out) == k:
            break
    return out


def region_strength(r: TopRegion) -> str:
    """How unusual the region is against real faces; above them all, how many those were (a
    percentile that saturates is not "100 % of real faces", only every one of a few hundred)."""
    if r.suspicion is not None:
        if r.suspicion >= 1.0:
            return above_all(r.real_items)
        return f"more unusual than on {share_below(r.suspicion)} of real faces"
    return f"saliency {r.saliency:.2f}"


def short_strength(r: TopRegion) -> str:
    """The region's strength in a list after the first: "93 %", "above all 371"."""
    if r.suspicion is None:
        return f"{r.saliency:.2f}"
    return above_all(r.real_items, short=True) if r.suspicion >= 1.0 else share_below(r.suspicion)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


_SKIPPED = re.compile(r"(\d+) faces detected; only the (\d+) largest were analysed")


def examined_words(rep: Mapping[str, Any]) -> str:
    """How many faces the file holds and how many were examined: with --max-faces, "contains 5 faces
    that the tool examined" hid 3 more that it did not (the count is only in the report's note)."""
    name = str((rep.get("input") or {}).get("name", "the file"))
    n = len(rep.get("faces") or [])
    for w in rep.get("warnings") or []:
        m = _SKIPPED.search(str(w))
        if m and int(m.group(1)) > n:
            return f"{name} holds {m.group(1)} detected faces; the tool examined the {n} largest (--max-faces) and not the other {int(m.group(1)) - n}."
    return f"{name} contains {n} face{'s' if n != 1 else ''} that the tool examined."


def band_short(rep: Mapping[str, Any], face: Mapping[str, Any]) -> str:
    """" (6.3 % of those of this face's size)", or "": the verdict box above gives the band and its n."""
    br = band_rate(rep, face)
    return "" if br is None else f" ({pct(br.fpr, 1)} of those of this face's size)"


_NOTE_ORDER = ("damaged", "--max-faces", "analysed at 1/", "frame", "not mapped", "decoder warning")


def key_notes(rep: Mapping[str, Any], k: int = 3, limit: int = 240) -> tuple[list[str], int]:
    """The report's notes (``warnings``) that change how the result reads first (damaged picture
    data, faces not examined, a reduced photo, other frames, an unmapped compression history), at
    most ``k``, each cut to ``limit`` characters; and how many were left out. Why: the triage form
    showed none of them, so a damaged or partly examined photo read like a clean one."""
    notes = [str(w) for w in rep.get("warnings") or []]
    rank = {w: next((i for i, key in enumerate(_NOTE_ORDER) if key in w), len(_NOTE_ORDER)) for w in notes}
    ordered = sorted(notes, key=lambda w: rank[w])  # stable: the report's order within a kind
    shown = [w if len(w) <= limit else w[: limit - 1].rstrip() + "\u2026" for w in ordered[:k]]
    return shown, len(notes) - len(shown)


def plain_summary(rep: Mapping[str, Any]) -> str:
    """A short paragraph in plain language, every clause read off a measurement."""
    name = str((rep.get("input") or {}).get("name", "the file"))
    faces = rep.get("faces") or []
    if not faces:
        return f"No face was found in {name}{_first_frame(rep)}, so nothing was analysed. This is not a statement about the authenticity of the image."
    face = top_face(rep) or {}
    er = error_rate(rep)
    n = len(faces)
    parts = [examined_words(rep)]
    score = _num(face.get("score")) or 0.0
    who = _face_name(rep, face)
    verdict = f"\u201c{rep.get('verdict')}\u201d"
    clause = compression_clause(rep, numbers=False)
    trigger = compression_decides(rep, er.threshold)
    vc = verdict_cause(rep)
    other = ""  # a condition, not the score, set the verdict (inconclusive)
    if vc is not None and vc.cause and trigger is None:
        other = f"The verdict {verdict} does not come from the score{f' but from {_face_name(rep, vc.face)}' if n > 1 else ''}: {vc.cause}."
    highest = f"The highest score{f' among the faces of {MIN_FACE_PX} px and up' if left_out_small(rep) else ''}"
    measured = f" (that trigger's own false-report rate: {COMPRESSION_FALSE_REPORTS[0]} of {COMPRESSION_FALSE_REPORTS[1]} untouched test files)" if trigger == "only" else ""
    if er.threshold is not None and er.fpr is not None:
        above = score >= er.threshold
        s, thr = score_and_threshold(score, er.threshold)
        lead = (f"{highest}, {s} for {who}, is {'above' if above else 'below'} the threshold of {thr}, which {pct(er.fpr, 1)} of real "
                f"validation faces also reach{band_short(rep, face)}")
        if trigger:
            parts.append(f"{lead}, {'and' if above else 'but'} {clause}, so the verdict is {verdict}{measured}.")
        elif other:
            parts += [f"{lead}.", other]
        else:
            parts.append(f"{lead}, so the verdict is {verdict}.")
    elif trigger:
        parts.append(f"{highest} is {score:.2f} for {who} (the engine is not calibrated), and {clause}, so the verdict is {verdict}{measured}.")
    elif other:
        parts += [f"{highest} is {score:.2f} for {who}; the engine is not calibrated, so the score is a ranking.", other]
    else:
        parts.append(f"{highest} is {score:.2f} for {who}; the engine is not calibrated, so the verdict {verdict} is a ranking.")
    if vc is not None and vc.caution:
        parts.append(f"Caution: {vc.caution}.")
    tops = top_regions(rep)
    if tops:
        first = tops[0]
        rest = [f"the {t.label} ({short_strength(t)})" for t in tops[1:]]
        if first.sentence.startswith("Compression history:"):
            parts.append(f"The region ranked first is the {first.label}, for its compression history (by the engine's measure, "
                         f"{region_strength(first)})" + (f", followed by {_join(rest)}." if rest else "."))
        else:
            parts.append(f"The region that differs most from real faces is the {first.label} ({region_strength(first)})"
                         + (f", followed by {_join(rest)}." if rest else "."))
        region = next((r for r in face.get("regions") or [] if int(r.get("rank", 0)) == first.rank), {})
        fired = [str(e.get("label")) for e in region.get("evidence") or [] if e.get("fired")]
        if fired:
            parts.append(f"In the {first.label}, {len(fired)} hand-made cue{'s' if len(fired) != 1 else ''} depart{'s' if len(fired) == 1 else ''} "
                         f"from real faces by the firing threshold: {_join(fired)}.")
        else:
            parts.append(f"No hand-made cue in the {first.label} departs from real faces by the firing threshold; its rank comes from the heat map.")
    if er.tpr is not None:
        parts.append(f"At this threshold the tool caught {pct(er.tpr, 1)} of {er.forgeries()}: a flag is a lead for the examiner and "
                     "not proof, and the absence of one does not clear the photo.")
    return " ".join(parts)
