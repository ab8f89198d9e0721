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


def _real(stats: dict[str, float], region: str, two_sided: bool) -> str:
    med, q01, q99 = (stats.get(f"{region}.{k}", float("nan")) for k in ("rest", "q01", "q99"))
    rng = f"1st-99th percentile {q01:.2g} to {q99:.2g}" if two_sided else f"99th percentile {q99:.2g}"
    return f"real faces: median {med:.2g}, {rng}"


def _describe_real_faces(spec: CueSpec, region: str, stats: dict[str, float]) -> str:
    """One sentence for a fired cue measured against real faces, quoting the value and the real-face range."""
    cue = spec.name
    label = REGION_LABELS.get(region, region)
    v, z = stats[f"{region}.region"], stats[f"{region}.z"]
    real = _real(stats, region, spec.two_sided)
    zs = f"{abs(z):.1f} real-face SDs {'above' if z > 0 else 'below'} normal"
    if cue == "iris_colour":
        odd = f"; the {label}'s iris is the less typical colour" if stats.get("left_eye.z") is None or stats.get("right_eye.z") is None else ""
        return f"The two irises differ in colour by dE {v:.0f} ({real}; {zs}){odd}."
    if cue == "catchlight_level":
        return f"The catchlights (specular highlights) of the two eyes differ in strength by {v:.0f} L* units ({real}; {zs}); the {label} does not reflect the same light."
    if cue == "catchlight_offset":
        return f"The catchlights sit at different places in the two irises: {v:.2f} iris radii apart ({real}; {zs}), as if lit from different directions."
    if cue in ("eye_openness", "eye_area"):
        what = "opening height/width" if cue == "eye_openness" else "opening area"
        return f"The eyes differ in {what}: left/right ratio x{math.exp(v):.2f} (log {v:+.2f}; {real}; {zs})."
    if cue == "part_size":
        return f"The {label} is {'larger' if v > 0 else 'smaller'} than real faces' proportions predict: x{math.exp(v):.2f} the mean-shape size (log {v:+.2f}; {real}; {zs})."
    if cue == "part_offset":
        return f"The {label} sits away from where real faces put it: standardised offset {v:.1f} ({real}; {zs})."
    if cue == "border_colour":
        return f"Skin just inside the {label}'s border differs in colour from skin just outside it by dE {v:.1f} ({real}; {zs})."
    if cue == "border_noise":
        return f"Noise level changes across the {label}'s border: inside/outside x{math.exp(v):.2f} (log {v:+.2f}; {real}; {zs})."
    if cue == "part_sharpness":
        word = "sharper" if z > 0 else "blurrier"
        return f"The {label} is {word} than the skin around it compared with real faces: interior/surround Laplacian energy x{math.exp(v):.2f} (log {v:+.2f}; {real}; {zs})."
    return f"{spec.label} in the {label}: {v:.3g} ({real}; {zs})."

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


def region_evidence(out: EngineOutput, region: str) -> tuple[CueEvidence, ...]:
    """All measured cues for one region, strongest first (strength and firing as the engine defines them)."""
    vocab = out.vocabulary
    rows = []
    for cue, stats in out.cue_region_stats.items():
        key = f"{region}.z"
        if key not in stats:
            continue
        spec = vocab.cue(cue)
        z = float(stats[key])
        ratio = float(stats.get(f"{region}.ratio", float("nan")))
        rows.append(
            CueEvidence(
                cue=cue,
                label=spec.label,
                region_value=float(stats[f"{region}.region"]),
                rest_value=float(stats[f"{region}.rest"]),
                ratio=ratio if math.isfinite(ratio) else 0.0,
                z=z,
                fired=bool(spec.strength(z) >= spec.fire_z),
            )
        )
    rows.sort(key=lambda e: -vocab.cue(e.cue).strength(e.z))
    return tuple(rows)


def region_sentences(region: str, evidence: tuple[CueEvidence, ...], out: EngineOutput, mask: np.ndarray) -> list[str]:
    label = REGION_LABELS.get(region, region)
    vocab = out.vocabulary
    sentences = []
    heat = out.heatmap[mask] if mask.any() else np.zeros(1, np.float32)
    hot = float((heat >= 0.5).mean()) * 100.0
    sentences.append(f"Heatmap over the {label}: mean {float(heat.mean()):.2f}, {hot:.0f}% of its pixels at or above 0.5.")
    fired = [e for e in evidence if e.fired]
    for e in fired[:3]:
        spec = vocab.cue(e.cue)
        if spec.reference == "real_faces":
            sentences.append(_describe_real_faces(spec, region, out.cue_region_stats[e.cue]))
            continue
        sentences.append(_describe(spec, e.ratio, e.z, region, e.rest_value, e.region_value))
    for spec in vocab.cues:
        if spec.reference == "probability" and spec.name in out.cues and mask.any():
            p = out.cues[spec.name][mask]
            sentences.append(f"The {spec.label} marks {float((p >= 0.5).mean()) * 100:.0f}% of the {label} as manipulated (mean probability {float(p.mean()):.2f}).")
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
