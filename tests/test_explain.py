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
    vocab = EngineVocabulary(cues=(CueSpec("mapper", "learned mapper", reference="probability"),))
    out = EngineOutput(heatmap=heat, score=0.5, cues={"mapper": prob}, vocabulary=vocab)
    sentences = region_sentences("mouth", (), out, np.ones((512, 512), bool))
    assert "The learned mapper marks 50% of the lips / mouth as manipulated (mean probability 0.40)." in sentences
    assert not any("mapper" in s for s in region_sentences("mouth", (), EngineOutput(heatmap=heat, score=0.5, cues={"mapper": prob}), np.ones((512, 512), bool)))


def test_the_evidence_engine_describes_every_cue_it_measures() -> None:
    from forgetalk.engines.evidence.consistency import FAMILIES
    from forgetalk.engines.evidence.cues import CUE_NAMES

    names = [c.name for c in EVIDENCE_VOCABULARY.cues]
    assert names == [*CUE_NAMES, *FAMILIES]
    assert all(c.label != c.name for c in EVIDENCE_VOCABULARY.cues)
    assert FORGERYTALKER_VOCABULARY.words_for("mouth") == ("lip", "mouth", "tooth", "tongue", "mustache")
