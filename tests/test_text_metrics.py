"""Caption metrics against hand-computed values and the COCO toolkit's conventions."""

from __future__ import annotations

import math

import pytest

from forgetalk.metrics_text import bleu, caption_scores, cider_d, rouge_l, tokenize


def test_tokenize_drops_punctuation_and_lowercases():
    assert tokenize("The LEFT eye, blurred!") == ["the", "left", "eye", "blurred"]


def test_identical_captions_score_perfect_bleu_and_rouge():
    refs = {"a": ["the left eye is blurred"], "b": ["the lips lack texture"]}
    hyps = {"a": "The left eye is blurred.", "b": "the lips lack texture"}
    assert bleu(refs, hyps) == pytest.approx([1.0] * 4, abs=1e-6)
    assert rouge_l(refs, hyps) == pytest.approx(1.0)


def test_bleu_hand_computed_with_brevity_penalty():
    # hyp "the eye is blurred" vs ref "the left eye is blurred": 1-gram 4/4, 2-gram 2/3, len 4 vs 5
    b = bleu({"x": ["the left eye is blurred"]}, {"x": "the eye is blurred"})
    bp = math.exp(1 - 5 / 4)
    assert b[0] == pytest.approx(1.0 * bp, rel=1e-6)
    assert b[1] == pytest.approx(math.sqrt(1.0 * 2 / 3) * bp, rel=1e-6)


def test_rouge_l_hand_computed():
    # LCS("the left eye is blurred", "the eye looks blurred") = the, eye, blurred = 3; P = 3/4, R = 3/5
    p, r, b2 = 3 / 4, 3 / 5, 1.2**2
    assert rouge_l({"x": ["the left eye is blurred"]}, {"x": "the eye looks blurred"}) == pytest.approx((1 + b2) * p * r / (r + b2 * p))


def test_cider_rewards_rare_matching_ngrams_and_is_zero_for_disjoint():
    refs = {"a": ["the left eye is blurred"], "b": ["the lips lack texture"], "c": ["the nose is deformed"]}
    good = cider_d(refs, {"a": "the left eye is blurred", "b": "the lips lack texture", "c": "the nose is deformed"})
    bad = cider_d(refs, {"a": "zzz yyy", "b": "zzz yyy", "c": "zzz yyy"})
    assert good == pytest.approx(10.0, rel=1e-6)  # identical captions: cosine 1 at every n, no length penalty
    assert bad == 0.0


def test_caption_scores_names():
    s = caption_scores({"a": ["x y z"]}, {"a": "x y z"})
    assert set(s) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"}
