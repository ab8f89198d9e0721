"""Explanations quote only what was measured, and model sentences land on the regions they name."""

from __future__ import annotations

import numpy as np

from forgetalk.engines.base import DEFAULT_FIRE_Z, CueSpec, EngineOutput, EngineVocabulary
from forgetalk.engines.evidence.engine import VOCABULARY as EVIDENCE_VOCABULARY
from forgetalk.engines.forgerytalker.engine import VOCABULARY as FORGERYTALKER_VOCABULARY
from forgetalk.explain import link_text_to_regions, region_evidence, region_sentences

CUE_WORDS = {"noise": "noise level", "sharpness": "crispness", "frequency": "DCT energy", "colour": "Lab units", "seam": "seam strength"}


def _out(zs: dict[str, float]) -> EngineOutput:
    stats = {cue: {"mouth.region": 1.0, "mouth.rest": 0.5, "mouth.ratio": 1.8, "mouth.z": z} for cue, z in zs.items()}
    heat = np.zeros((512, 512), np.float32)
    heat[300:360, 200:300] = 0.9
    return EngineOutput(heatmap=heat, score=0.7, cue_region_stats=stats, vocabulary=EVIDENCE_VOCABULARY)


def test_only_fired_cues_are_described() -> None:
    out = _out({"noise": 5.2, "sharpness": -4.1, "frequency": 0.4, "colour": 1.0, "seam": 2.9})
    mask = np.zeros((512, 512), bool)
    mask[300:360, 200:300] = True
    ev = region_evidence(out, "mouth")
    assert [e.cue for e in ev if e.fired] == ["noise", "sharpness"]
    text = " ".join(region_sentences("mouth", ev, out, mask))
    assert CUE_WORDS["noise"] in text and CUE_WORDS["sharpness"] in text
    for cue in ("frequency", "colour", "seam"):
        assert CUE_WORDS[cue] not in text, cue
    assert "mean 0.90" in text and "100% of its pixels" in text


def test_nothing_fired_says_so_with_the_strongest_measurement() -> None:
    out = _out({"noise": 0.5, "seam": 1.2})
    mask = np.ones((512, 512), bool)
    ev = region_evidence(out, "mouth")
    sentences = region_sentences("mouth", ev, out, mask)
    assert any("No hand-made cue" in s and "+1.2 SDs" in s for s in sentences)


def test_model_sentences_link_to_named_regions() -> None:
    text = "The left eye looks blurred and its iris is asymmetric. The lips have an unnatural colour. Overall lighting is flat."
    names = ["left_eye", "right_eye", "mouth", "nose"]
    links = link_text_to_regions(text, names, FORGERYTALKER_VOCABULARY)
    assert list(links) == ["left_eye", "mouth"]
    assert "left eye" in links["left_eye"][0] and "lips" in links["mouth"][0]


def test_the_engine_vocabulary_decides_label_sides_and_threshold() -> None:
    stats = {"glow": {"mouth.region": 2.0, "mouth.rest": 1.0, "mouth.ratio": 2.0, "mouth.z": -2.5}}
    heat = np.zeros((512, 512), np.float32)
    vocab = EngineVocabulary(cues=(CueSpec("glow", "glow mismatch", two_sided=True, fire_z=2.0),))
    described = region_evidence(EngineOutput(heatmap=heat, score=0.5, cue_region_stats=stats, vocabulary=vocab), "mouth")
    assert [(e.label, e.fired) for e in described] == [("glow mismatch", True)]
    # Undescribed, the same cue is one-sided at the default threshold and named as measured.
    bare = region_evidence(EngineOutput(heatmap=heat, score=0.5, cue_region_stats=stats), "mouth")
    assert [(e.label, e.fired) for e in bare] == [("glow", False)]
    sentences = region_sentences("mouth", bare, EngineOutput(heatmap=heat, score=0.5, cue_region_stats=stats), np.ones((512, 512), bool))
    assert any(f"by {DEFAULT_FIRE_Z:.0f} SDs" in s for s in sentences)


def test_text_is_linked_only_by_an_engine_that_links_it() -> None:
    text = "The lips have an unnatural colour."
    assert link_text_to_regions(text, ["mouth"], EngineVocabulary()) == {}
    assert link_text_to_regions(text, ["mouth"], FORGERYTALKER_VOCABULARY) == {"mouth": [f'Model: "{text}"']}


def test_probability_cues_are_quoted_as_the_engine_names_them() -> None:
    heat = np.zeros((512, 512), np.float32)
    prob = np.zeros((512, 512), np.float32)
    prob[:256] = 0.8
    vocab = EngineVocabulary(cues=(CueSpec("mapper", "learned mapper", reference="heat_map"),))
    out = EngineOutput(heatmap=heat, score=0.5, cues={"mapper": prob}, vocabulary=vocab)
    sentences = region_sentences("mouth", (), out, np.ones((512, 512), bool))
    assert "The learned mapper's own heat over the lips / mouth: mean 0.40, 50% of its pixels at or above 0.5. This is heat, not a probability" in " ".join(sentences)
    assert not any("mapper" in s for s in region_sentences("mouth", (), EngineOutput(heatmap=heat, score=0.5, cues={"mapper": prob}), np.ones((512, 512), bool)))


def test_a_localizer_map_is_heat_not_a_probability_of_manipulation() -> None:
    """The fused engine's map is the localizer's heat after raw**gamma, cut at 0.5: "marks 100% of
    the left eyebrow as manipulated (mean probability 0.95)" stood on an untouched photo."""
    heat = np.zeros((512, 512), np.float32)
    prob = np.full((512, 512), 0.95, np.float32)
    vocab = EngineVocabulary(cues=(CueSpec("localizer", "learned localizer", reference="heat_map"),))
    text = " ".join(region_sentences("left_brow", (), EngineOutput(heatmap=heat, score=0.5, cues={"localizer": prob}, vocabulary=vocab), np.ones((512, 512), bool)))
    assert "manipulated" not in text and "mean probability" not in text
    assert "not a probability" in text and "percentile against real faces" in text


def test_a_localizer_map_that_is_the_heat_map_is_stated_once() -> None:
    """At fusion weight 1 the heat map is the localizer's map: two sentences repeated the same numbers."""
    prob = np.zeros((512, 512), np.float32)
    prob[:128] = 0.9
    vocab = EngineVocabulary(cues=(CueSpec("localizer", "learned localizer", reference="heat_map"),))
    out = EngineOutput(heatmap=prob.copy(), score=0.5, cues={"localizer": prob}, vocabulary=vocab, meta={"fusion_weight": 1.0})
    sentences = region_sentences("left_eye", (), out, np.ones((512, 512), bool))
    quoting = [s for s in sentences if "mean 0.22" in s]
    assert len(quoting) == 1, sentences
    assert quoting[0].startswith("Heatmap over the left eye (the learned localizer's alone, fusion weight 1): mean 0.22, 25% of its pixels at or above 0.5. "
                                 "This is heat, not a probability")
    # Blended with other evidence, the localizer's own map is a separate measurement and stays.
    out = EngineOutput(heatmap=prob * 0.5, score=0.5, cues={"localizer": prob}, vocabulary=vocab, meta={"fusion_weight": 0.5})
    sentences = region_sentences("left_eye", (), out, np.ones((512, 512), bool))
    assert sentences[0] == "Heatmap over the left eye: mean 0.11, 0% of its pixels at or above 0.5."
    assert any(s.startswith("The learned localizer's own heat over the left eye: mean 0.22, 25%") for s in sentences)
    # Equal numbers by coincidence, not by weight: still said once, without claiming the weight.
    out = EngineOutput(heatmap=prob.copy(), score=0.5, cues={"localizer": prob}, vocabulary=vocab, meta={"fusion_weight": 0.8})
    sentences = region_sentences("left_eye", (), out, np.ones((512, 512), bool))
    assert len([s for s in sentences if "mean 0.22" in s]) == 1 and "fusion weight" not in " ".join(sentences)
    assert "the same numbers as the learned localizer's own heat" in sentences[0]


def _real_face_out(cue: str, value: float, median: float, q01: float, q99: float, z: float) -> EngineOutput:
    stats = {cue: {"nose.region": value, "nose.rest": median, "nose.ratio": value / median, "nose.z": z, "nose.q01": q01, "nose.q99": q99},
             "noise": {"nose.region": 1.2, "nose.rest": 1.0, "nose.ratio": 1.2, "nose.z": 0.5}}
    return EngineOutput(heatmap=np.zeros((512, 512), np.float32), score=0.5, cue_region_stats=stats, vocabulary=EVIDENCE_VOCABULARY)


def test_a_cue_against_real_faces_keeps_its_real_face_numbers_under_their_own_names() -> None:
    """The engine stores the real-face median where a face cue stores the rest of the face; the
    evidence called it "rest of face" and divided the value by it (a ratio of two logs)."""
    out = _real_face_out("eye_area", -0.190, -0.010, -0.2, 0.19, 19.08)
    by_cue = {e.cue: e for e in region_evidence(out, "nose")}
    e = by_cue["eye_area"]
    assert e.compared_with == "real_faces" and e.rest_value is None and e.ratio is None
    assert (e.real_median, e.real_q01, e.real_q99) == (-0.010, -0.2, 0.19)
    assert e.unit is not None and e.unit.startswith("ln of") and e.fired
    face = by_cue["noise"]
    assert face.compared_with == "rest_of_face" and face.rest_value == 1.0 and face.ratio == 1.2 and face.real_median is None


def test_a_log_cue_quotes_its_value_and_the_real_face_range_on_one_scale() -> None:
    """ "x0.48 (log -0.74; real faces: median 0.067, ...)" put the range in log units unsaid."""
    import math

    out = _real_face_out("border_noise", -0.74, 0.067, -0.476, 0.826, -3.5)
    ev = region_evidence(out, "nose")
    text = " ".join(region_sentences("nose", ev, out, np.ones((512, 512), bool)))
    assert f"x{math.exp(-0.74):.2f}" in text
    assert f"median x{math.exp(0.067):.2f}, 1st-99th percentile x{math.exp(-0.476):.2f} to x{math.exp(0.826):.2f}" in text
    assert "log" not in text and "0.067" not in text


def test_the_evidence_engine_describes_every_cue_it_measures() -> None:
    from forgetalk.engines.evidence.consistency import FAMILIES
    from forgetalk.engines.evidence.cues import CUE_NAMES

    names = [c.name for c in EVIDENCE_VOCABULARY.cues]
    assert names == [*CUE_NAMES, *FAMILIES]
    assert all(c.label != c.name for c in EVIDENCE_VOCABULARY.cues)
    assert FORGERYTALKER_VOCABULARY.words_for("mouth") == ("lip", "mouth", "tooth", "tongue", "mustache")
