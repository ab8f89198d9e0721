"""Turn measurements into sentences, one region at a time.

Rule: a sentence may only state what an engine measured. Every number quoted comes from
``EngineOutput.cue_region_stats`` (hand-made cues), the heatmap, the region head, or the
text a model generated (quoted as the model's words, linked to the regions it names).

What a cue is called, whether it counts in both directions, when it fires and how model
text is cut into region sentences is the engine's word, read from ``EngineOutput.vocabulary``
(:class:`~forgetalk.engines.base.EngineVocabulary`); this module knows no engine's internals.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .engines.base import CueSpec, EngineOutput, EngineVocabulary
from .faces import REGION_LABELS, AlignedFace
from .results import CueEvidence

#: Units of the values of cues measured against real faces (the consistency cues), as the JSON
#: states them (``CueEvidence.unit``). "ln of ..." is a natural log of a ratio: the report
#: prints the ratio itself (x0.83), and the real-face median and percentiles the same way, so a
#: value and the range it is compared with are never on different scales.
REAL_FACE_UNITS: dict[str, str] = {
    "iris_colour": "dE (Lab, L* halved)",
    "catchlight_level": "L* units",
    "catchlight_offset": "iris radii",
    "eye_openness": "ln of the left/right eye opening height/width ratio",
    "eye_area": "ln of the left/right eye opening area ratio",
    "part_size": "ln of the part's size / the real-face mean shape's",
    "part_offset": "standardised offset",
    "border_colour": "dE (Lab, L* halved)",
    "border_noise": "ln of the inside/outside noise-level ratio",
    "part_sharpness": "ln of the interior/surround Laplacian energy ratio",
}
LOG_UNIT_PREFIX = "ln of "


def is_log_unit(unit: str | None) -> bool:
    """True when a value in ``unit`` is the natural log of a ratio (printed as x``exp(value)``)."""
    return bool(unit) and str(unit).startswith(LOG_UNIT_PREFIX)


def real_face_value(cue: str, v: float) -> str:
    """A value of a cue measured against real faces, in the words and units the report uses:
    log ratios as the ratio (x0.83), colour distances as dE, the rest with their unit."""
    if not math.isfinite(v):
        return "n/a"
    unit = REAL_FACE_UNITS.get(cue)
    if is_log_unit(unit):
        return f"x{math.exp(v):.2f}"
    if unit and unit.startswith("dE"):
        return f"dE {v:.1f}"
    if unit == "L* units":
        return f"{v:.0f} L* units"
    if unit == "iris radii":
        return f"{v:.2f} iris radii"
    return f"{v:.2f}" if unit else f"{v:.3g}"


def _real(cue: str, stats: dict[str, float], region: str, two_sided: bool) -> str:
    """The real-face median and range of a cue, in the same units as its value."""
    med, q01, q99 = (real_face_value(cue, stats.get(f"{region}.{k}", float("nan"))) for k in ("rest", "q01", "q99"))
    rng = f"1st-99th percentile {q01} to {q99}" if two_sided else f"99th percentile {q99}"
    return f"real faces: median {med}, {rng}"


def _describe_real_faces(spec: CueSpec, region: str, stats: dict[str, float]) -> str:
    """One sentence for a fired cue measured against real faces, quoting the value and the real-face
    range in the same units (a log ratio is quoted as the ratio, its real-face range too)."""
    cue = spec.name
    label = REGION_LABELS.get(region, region)
    v, z = stats[f"{region}.region"], stats[f"{region}.z"]
    real = _real(cue, stats, region, spec.two_sided)
    val = real_face_value(cue, v)
    zs = f"{abs(z):.1f} real-face SDs {'above' if z > 0 else 'below'} normal"
    if cue == "iris_colour":
        odd = f"; the {label}'s iris is the less typical colour" if stats.get("left_eye.z") is None or stats.get("right_eye.z") is None else ""
        return f"The two irises differ in colour by {val} ({real}; {zs}){odd}."
    if cue == "catchlight_level":
        return f"The catchlights (specular highlights) of the two eyes differ in strength by {val} ({real}; {zs}); the {label} does not reflect the same light."
    if cue == "catchlight_offset":
        return f"The catchlights sit at different places in the two irises: {val} apart ({real}; {zs}), as if lit from different directions."
    if cue in ("eye_openness", "eye_area"):
        what = "opening height/width" if cue == "eye_openness" else "opening area"
        return f"The eyes differ in {what}: left/right ratio {val} ({real}; {zs})."
    if cue == "part_size":
        return f"The {label} is {'larger' if v > 0 else 'smaller'} than real faces' proportions predict: {val} the mean-shape size ({real}; {zs})."
    if cue == "part_offset":
        return f"The {label} sits away from where real faces put it: standardised offset {val} ({real}; {zs})."
    if cue == "border_colour":
        return f"Skin just inside the {label}'s border differs in colour from skin just outside it by {val} ({real}; {zs})."
    if cue == "border_noise":
        return f"Noise level changes across the {label}'s border: inside/outside ratio {val} ({real}; {zs})."
    if cue == "part_sharpness":
        word = "sharper" if z > 0 else "blurrier"
        return f"The {label} is {word} than the skin around it compared with real faces: interior/surround Laplacian energy ratio {val} ({real}; {zs})."
    return f"{spec.label} in the {label}: {val} ({real}; {zs})."


def _describe(spec: CueSpec, ratio: float, z: float, region: str, rest: float, value: float) -> str:
    """One sentence for a fired cue measured against the rest of the same face."""
    cue = spec.name
    label = REGION_LABELS.get(region, region)
    zs = f"{abs(z):.1f} real-face SDs {'above' if z > 0 else 'below'} normal"
    if cue == "noise":
        direction = "noisier" if ratio > 1 else "cleaner (less sensor noise)"
        return f"The {label} is {direction} than the rest of the face: noise level x{ratio:.2f} ({zs})."
    if cue == "sharpness":
        direction = "sharper" if ratio > 1 else "blurrier"
        return f"The {label} is {direction} than the rest of the face: edge crispness x{ratio:.2f} ({zs})."
    if cue == "frequency":
        if ratio < 1:
            return f"The {label} has less fine detail than the rest of the face (high/mid DCT energy x{ratio:.2f}, {zs}), as after resampling or smoothing."
        return f"The {label} has more high-frequency energy than the rest of the face (x{ratio:.2f}, {zs}), as after sharpening or a different compression."
    if cue == "colour":
        return f"Colour in and around the {label} lies {value:.1f} Lab units from the face's median skin tone on average, vs {rest:.1f} over the rest of the face ({zs})."
    if cue == "seam":
        return f"A blending seam runs through the {label}: seam strength x{ratio:.2f} the rest of the face ({zs})."
    return f"{spec.label} in the {label}: x{ratio:.2f} ({zs})."


def _finite(x: object) -> float | None:
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def region_evidence(out: EngineOutput, region: str) -> tuple[CueEvidence, ...]:
    """All measured cues for one region, strongest first (strength and firing as the engine defines them).

    A cue measured against real faces (``CueSpec.reference == "real_faces"``) keeps its real-face
    median and 1st/99th percentiles under their own names and gets no rest value and no ratio: its
    engine stores the real-face median where a face cue stores the rest of the face, and a ratio of
    a value to that median (of two logs, for a log cue) means nothing.
    """
    vocab = out.vocabulary
    rows = []
    for cue, stats in out.cue_region_stats.items():
        key = f"{region}.z"
        if key not in stats:
            continue
        spec = vocab.cue(cue)
        z = float(stats[key])
        common = {"cue": cue, "label": spec.label, "region_value": float(stats[f"{region}.region"]), "z": z, "fired": bool(spec.strength(z) >= spec.fire_z)}
        if spec.reference == "real_faces":
            row = CueEvidence(**common, rest_value=None, ratio=None, compared_with="real_faces", real_median=_finite(stats.get(f"{region}.rest")),
                              real_q01=_finite(stats.get(f"{region}.q01")), real_q99=_finite(stats.get(f"{region}.q99")), unit=REAL_FACE_UNITS.get(cue))
        else:
            row = CueEvidence(**common, rest_value=float(stats[f"{region}.rest"]), ratio=_finite(stats.get(f"{region}.ratio")))
        rows.append(row)
    rows.sort(key=lambda e: -vocab.cue(e.cue).strength(e.z))
    return tuple(rows)


#: What every statement about such a map adds, as a second sentence (page 1 quotes only the first,
#: beside the region's percentile): it is heat, not a probability, and only a comparison with the
#: same region on real faces says whether it is unusual. Each region's list keeps it (the JSON's
#: rows stand alone); the PDF's face page says it once above the region table instead of in every row.
HEAT_CAVEAT = "This is heat, not a probability; 0.5 is the engine's pixel threshold, and the region's percentile against real faces says how unusual it is."


def _heat_numbers(values: np.ndarray) -> tuple[str, str]:
    """(mean, share at or above 0.5) as printed, so two maps can be compared number for number."""
    return f"{float(values.mean()):.2f}", f"{float((values >= 0.5).mean()) * 100.0:.0f}"


def _heat_sentences(label: str, out: EngineOutput, mask: np.ndarray) -> list[str]:
    """The heat map over a region and each per-pixel map the engine reports beside it.

    Such a map (``reference == "heat_map"``, the fused engine's learned localizer) is the
    localizer's heat after a contrast mapping that puts the engine's pixel threshold at 0.5: not a
    probability, and "at or above 0.5" is a pixel cut, not a finding of manipulation (the sentence
    said "marks 100% of the left eyebrow as manipulated (mean probability 0.95)" on an untouched
    photo). Where it repeats the heat map number for number (the fused engine at fusion weight 1
    uses the localizer alone) it is said once, in the heat-map sentence, not as a second piece of
    evidence.
    """
    heat = out.heatmap[mask] if mask.any() else np.zeros(1, np.float32)
    mean, hot = _heat_numbers(heat)
    lead = f"Heatmap over the {label}: mean {mean}, {hot}% of its pixels at or above 0.5."
    extra: list[str] = []
    for spec in out.vocabulary.cues:
        if spec.reference != "heat_map" or spec.name not in out.cues or not mask.any():
            continue
        pmean, phot = _heat_numbers(out.cues[spec.name][mask])
        if (pmean, phot) == (mean, hot):
            weight = out.meta.get("fusion_weight")
            alone = isinstance(weight, (int, float)) and float(weight) == 1.0
            whose = f"the {spec.label}'s alone, fusion weight 1" if alone else f"the same numbers as the {spec.label}'s own heat"
            lead = f"Heatmap over the {label} ({whose}): mean {mean}, {hot}% of its pixels at or above 0.5. {HEAT_CAVEAT}"
        else:
            extra.append(f"The {spec.label}'s own heat over the {label}: mean {pmean}, {phot}% of its pixels at or above 0.5. {HEAT_CAVEAT}")
    return [lead, *extra]


def region_sentences(region: str, evidence: tuple[CueEvidence, ...], out: EngineOutput, mask: np.ndarray) -> list[str]:
    label = REGION_LABELS.get(region, region)
    vocab = out.vocabulary
    heat_lead, *heat_extra = _heat_sentences(label, out, mask)
    sentences = [heat_lead]
    fired = [e for e in evidence if e.fired]
    for e in fired[:3]:
        spec = vocab.cue(e.cue)
        if spec.reference == "real_faces":
            sentences.append(_describe_real_faces(spec, region, out.cue_region_stats[e.cue]))
            continue
        ratio = e.ratio if e.ratio is not None else float("nan")
        sentences.append(_describe(spec, ratio, e.z, region, e.rest_value if e.rest_value is not None else float("nan"), e.region_value))
    sentences += heat_extra
    if evidence and not fired:
        e = evidence[0]
        sentences.append(f"No hand-made cue departs from real faces by {vocab.cue(e.cue).fire_z:.0f} SDs here; the strongest is {e.label} ({e.z:+.1f} SDs).")
    if region in out.region_scores:
        sentences.append(f"Region score from the engine: {out.region_scores[region]:.2f}{_raised_by(region, out)}.")
    return sentences


def _raised_by(region: str, out: EngineOutput) -> str:
    """How a consistency cue raised the region's score (the fused engine's ``region_cue_terms``), so
    that a score the heatmap alone does not explain states what moved it; "" when nothing did."""
    terms = out.meta.get("region_cue_terms")
    t = terms.get(region) if isinstance(terms, dict) else None
    if not isinstance(t, dict) or not t.get("z"):
        return ""
    cues = ", ".join(f"{out.vocabulary.cue(c).label} at {z:+.1f} SDs of real faces" for c, z in t["z"].items())
    return f" (the localizer's {float(t.get('localizer', 0.0)):.2f}, raised by the {cues})"


def link_text_to_regions(text: str | None, region_names: list[str], vocabulary: EngineVocabulary) -> dict[str, list[str]]:
    """Attach each model sentence to every region it names (the engine's own sentence linking).

    A sentence that says only "left" (or only "right") is kept off the other side's region,
    so "the left eye is blurred" is not shown next to the right eye. An engine that links no
    text gets none attached (its text is still reported whole).
    """
    links: dict[str, list[str]] = {}
    if not text or vocabulary.link_sentences is None:
        return links
    for region, sentences in vocabulary.link_sentences(text).items():
        if region not in region_names:
            continue
        for sentence in sentences:
            words = set(re.findall(r"[a-z]+", sentence.lower()))
            if ("left" in words) != ("right" in words):
                side = "left_" if "left" in words else "right_"
                if region.startswith(("left_", "right_")) and not region.startswith(side):
                    continue
            links.setdefault(region, []).append(f'Model: "{sentence}"')
    return links


def explain_face(face: AlignedFace, out: EngineOutput, ranked: list[str]) -> tuple[dict[str, tuple[CueEvidence, ...]], dict[str, list[str]], dict[str, list[str]]]:
    """Evidence, evidence sentences and linked model sentences for every ranked region."""
    evidence = {r: region_evidence(out, r) for r in ranked}
    sentences = {r: region_sentences(r, evidence[r], out, face.regions[r]) for r in ranked}
    links = link_text_to_regions(out.text, ranked, out.vocabulary)
    return evidence, sentences, links
