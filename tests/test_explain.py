"""Explanations quote only what was measured, and model sentences land on the regions they name."""

from __future__ import annotations

import numpy as np

from forgetalk.engines.base import EngineOutput
from forgetalk.explain import link_text_to_regions, region_evidence, region_sentences

CUE_WORDS = {"noise": "noise level", "sharpness": "crispness", "frequency": "DCT energy", "colour": "Lab units", "seam": "seam strength"}


def _out(zs: dict[str, float]) -> EngineOutput:
    stats = {cue: {"mouth.region": 1.0, "mouth.rest": 0.5, "mouth.ratio": 1.8, "mouth.z": z} for cue, z in zs.items()}
    heat = np.zeros((512, 512), np.float32)
    heat[300:360, 200:300] = 0.9
    return EngineOutput(heatmap=heat, score=0.7, cue_region_stats=stats)


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
    links = link_text_to_regions(text, names)
    assert list(links) == ["left_eye", "mouth"]
    assert "left eye" in links["left_eye"][0] and "lips" in links["mouth"][0]
