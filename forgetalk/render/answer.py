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
from .labels import flatten

VERDICT_MANIPULATED = "likely manipulated"


@dataclass(frozen=True)
class ErrorRate:
    """How reliable the verdict is: the threshold and what it does on validation faces."""

    threshold: float | None
    fpr: float | None  # share of validation real faces at or above the threshold
    tpr: float | None  # share of validation forgeries at or above it
    n_real: int | None  # untouched validation items behind fpr
    n_fake: int | None
    n_faces: int | None = None  # distinct faces behind n_real, where each came in several versions


@dataclass(frozen=True)
class TopRegion:
    face: int  # 1-based, as on the overlay
    rank: int
    label: str
    suspicion: float | None
    saliency: float
    sentence: str


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


def top_face(rep: Mapping[str, Any]) -> Mapping[str, Any] | None:
    faces = rep.get("faces") or []
    return max(faces, key=lambda f: f.get("score") or 0.0) if faces else None


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
                     n_faces=int(n_faces) if n_faces is not None else None)


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


def compression_clause(rep: Mapping[str, Any]) -> str | None:
    """The measured words for a verdict set by the compression history, or None."""
    found = compression_finding(rep)
    if found is None:
        return None
    face, row = found
    label = next((str(r.get("label")) for r in face.get("regions") or [] if r.get("name") == row.get("region")), str(row.get("region", "")))
    who = f" of face {int(face.get('index', 0)) + 1}" if len(rep.get("faces") or []) > 1 else ""
    excess, z = _num(row.get("excess")), _num(row.get("z"))
    nums = f" ({excess:+.2f} log-odds per coefficient above the rest of the face, {z:.0f} standard errors)" if excess is not None and z is not None else ""
    return f"the JPEG compression history finds the {label}{who} compressed once where the rest of the face was compressed twice{nums}"


def _first_frame(rep: Mapping[str, Any]) -> str:
    """" in its first frame (...)" for a file of several frames or pages, of which only the first is
    analysed: "no face found" read as if the file held none (a face on page 2 of a TIFF)."""
    frames = (rep.get("input") or {}).get("frames")
    return f" in its first frame (the only one analysed; the file holds {frames})" if isinstance(frames, int) and not isinstance(frames, bool) and frames > 1 else ""


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
    if er.threshold is None or er.fpr is None:
        return f"Verdict: {verdict}", f"Score {s} (face {face.get('index', 0) + 1}). The engine reports no calibrated threshold: treat the score as a ranking, not a probability."
    side = "at or above" if (score or 0.0) >= er.threshold else "below"
    s, thr = score_and_threshold(score or 0.0, er.threshold) if score is not None else (s, f"{er.threshold:.2f}")
    n = f" (n = {er.n_real})" if er.n_real else ""
    if er.n_real and er.n_faces and er.n_faces != er.n_real:  # several post-edit versions of each face
        n = f" (n = {er.n_real} untouched versions of {er.n_faces} faces)"
    tpr = f"; at this threshold it caught {pct(er.tpr, 1)} of validation forgeries" if er.tpr is not None else ""
    units = er.n_faces or er.n_real
    ci = ""
    if units:  # versions of one face are not independent: the interval counts faces (wider, honest)
        lo, hi = wilson_interval(er.fpr, units)
        ci = f"; 95 % interval {100 * lo:.1f}-{100 * hi:.1f} %{', counting faces, not versions' if er.n_faces and er.n_faces != er.n_real else ''}"
    clause = compression_clause(rep)
    also = (f" The verdict also rests on the compression history: {clause}; its false-report rate is measured on its own "
            f"(docs/provenance.md).") if clause else ""
    return (f"Verdict: {verdict}",
            f"Score {s}, {side} the threshold {thr}. Error rate: {pct(er.fpr, 1)} of real validation faces{n} score "
            f"at or above this threshold (false positives{ci}){tpr}.{also}")


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
    for r in face.get("regions") or []:
        if r.get("name") in skip:
            continue
        out.append(TopRegion(face=int(face.get("index", 0)) + 1, rank=int(r.get("rank", 0)), label=str(r.get("label", r.get("name", ""))),
                             suspicion=_num(r.get("suspicion")), saliency=_num(r.get("saliency")) or 0.0, sentence=one_sentence(r)))
        if len(out) == k:
            break
    return out


def region_strength(r: TopRegion) -> str:
    if r.suspicion is not None:
        return f"more unusual than on {pct(r.suspicion)} of real faces"
    return f"saliency {r.saliency:.2f}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def plain_summary(rep: Mapping[str, Any]) -> str:
    """A short paragraph in plain language, every clause read off a measurement."""
    name = str((rep.get("input") or {}).get("name", "the file"))
    faces = rep.get("faces") or []
    if not faces:
        return f"No face was found in {name}{_first_frame(rep)}, so nothing was analysed. This is not a statement about the authenticity of the image."
    face = top_face(rep) or {}
    er = error_rate(rep)
    n = len(faces)
    parts = [f"{name} contains {n} face{'s' if n != 1 else ''} that the tool examined."]
    score = _num(face.get("score")) or 0.0
    who = f"face {int(face.get('index', 0)) + 1}" if n > 1 else "the face"
    clause = compression_clause(rep)
    if er.threshold is not None and er.fpr is not None:
        above = score >= er.threshold
        because = (f", {'and' if above else 'but'} {clause}, so" if clause else ", so")
        s, thr = score_and_threshold(score, er.threshold)
        parts.append(f"The highest score, {s} for {who}, is {'above' if above else 'below'} the threshold of "
                     f"{thr}, which {pct(er.fpr, 1)} of real validation faces also reach{because} the verdict is \u201c{rep.get('verdict')}\u201d.")
    elif clause:
        parts.append(f"The highest score is {score:.2f} for {who} (the engine is not calibrated), and {clause}, so the verdict is "
                     f"\u201c{rep.get('verdict')}\u201d.")
    else:
        parts.append(f"The highest score is {score:.2f} for {who}; the engine is not calibrated, so the verdict \u201c{rep.get('verdict')}\u201d is a ranking.")
    tops = top_regions(rep)
    if tops:
        first = tops[0]
        rest = [f"the {t.label} ({pct(t.suspicion) if t.suspicion is not None else f'{t.saliency:.2f}'})" for t in tops[1:]]
        if first.sentence.startswith("Compression history:"):
            parts.append(f"The region ranked first is the {first.label}, for its compression history ({region_strength(first)} by the "
                         f"engine's measure)" + (f", followed by {_join(rest)}." if rest else "."))
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
        parts.append(f"At this threshold the tool caught {pct(er.tpr, 1)} of validation forgeries: a flag is a lead for the examiner and "
                     "not proof, and the absence of one does not clear the photo.")
    return " ".join(parts)
