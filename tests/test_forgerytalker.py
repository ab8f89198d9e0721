"""ForgeryTalker on CPU with a tiny random instance of the exact architecture (seconds, no network)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from forgetalk.engines.forgerytalker import vocab  # noqa: E402
from forgetalk.engines.forgerytalker.tiny import tiny_forgerytalker  # noqa: E402
from forgetalk.faces.base import REGION_NAMES  # noqa: E402


@pytest.fixture(scope="module")
def ft():
    return tiny_forgerytalker(seed=0)


def _face(rgb: np.ndarray):
    from forgetalk.faces.base import AlignedFace, DetectedFace

    det = DetectedFace(box=(0.0, 0.0, 512.0, 512.0), score=1.0, landmarks5=np.zeros((5, 2), np.float32))
    eye = np.eye(2, 3, dtype=np.float32)
    return AlignedFace(index=0, detection=det, crop=rgb, matrix=eye, inverse=eye, regions={}, face_mask=np.ones((512, 512), bool))


def test_vocab_is_torch_free_and_maps_to_pipeline_regions():
    src = Path(vocab.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|from)\s+torch", src, re.M)
    assert len(vocab.REGION_WORDS) == 21 and set(vocab.WORD_TO_REGIONS) == set(vocab.REGION_WORDS)
    for regions in vocab.WORD_TO_REGIONS.values():
        assert regions and set(regions) <= set(REGION_NAMES)
    assert vocab.caption_multilabel("Both eyes are deformed and the teeth are blurry.")[vocab.REGION_WORDS.index("tooth")] == 1
    links = vocab.link_sentences("The left eyebrow is missing. The lips lack texture! Overall it looks odd.")
    assert links["left_brow"] == ["The left eyebrow is missing."] and links["mouth"] == ["The lips lack texture!"]
    assert links["face"] == ["Overall it looks odd."]
    assert vocab.build_prompt(["eye", "lip"]).startswith("The following facial areas may have been modified by AI: eye, lip.")
    assert vocab.selected_words([0.5] * 20 + [0.51]) == ["dimple"]  # strictly greater than 0.5, as released


def test_forward_shapes_and_loss(ft):
    enc = ft.encode_texts([vocab.build_prompt(["eye"])], [vocab.mask_label(["eye"])])
    assert enc["mask_input_ids"].shape == (1, 21)
    px = ft.preprocess(np.zeros((300, 200, 3), np.uint8))
    assert px.shape == (1, 3, 56, 56)
    labels = ft.t5_tokenizer(["The eye is blurred."], return_tensors="pt").input_ids
    out = ft.model(px, labels=labels, **enc)
    assert out.mask_logits.shape == (1, 32, 32) and out.region_logits.shape == (1, 21)
    assert out.lm_logits.shape[:2] == labels.shape and torch.isfinite(out.loss)


def test_analyze_face_on_random_crop(ft):
    from forgetalk.engines.forgerytalker.engine import ForgeryTalkerEngine

    eng = ForgeryTalkerEngine(ft, {"weights": "test"})
    rgb = np.random.default_rng(1).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    out = eng.analyze_face(_face(rgb))
    assert out.heatmap.shape == (512, 512) and out.heatmap.dtype == np.float32
    assert 0.0 <= out.heatmap.min() and out.heatmap.max() <= 1.0 and 0.0 <= out.score <= 1.0
    assert list(out.region_words) == list(vocab.REGION_WORDS)
    assert isinstance(out.text, str) and out.text  # min_length forces some tokens
    assert out.meta["quant"] == "fp32" and "generate" in out.meta["timings_s"]
    assert eng.info()["generation"]["num_beams"] == ft.config.generation.num_beams


def test_official_config_shapes():
    from forgetalk.engines.forgerytalker.config import ForgeryTalkerConfig

    cfg = ForgeryTalkerConfig.official()
    assert (cfg.vision.hidden_size, cfg.vision.num_layers, cfg.qformer.num_query_tokens, cfg.t5["d_model"]) == (1408, 39, 32, 2048)
    assert (cfg.prompter.hidden_size, cfg.prompter.num_layers, cfg.mask.mask_size, cfg.mask.prompt_len) == (1280, 32, 224, 21)
    assert (cfg.generation.num_beams, cfg.generation.max_new_tokens) == (5, 100)
    assert ForgeryTalkerConfig.from_dict(cfg.to_dict()) == cfg


def test_official_module_shapes_on_meta():
    """The full-size network builds (on meta, no memory) with the released tensor shapes."""
    from forgetalk.engines.forgerytalker.config import ForgeryTalkerConfig
    from forgetalk.engines.forgerytalker.model import ForgeryTalkerModel

    with torch.device("meta"):
        m = ForgeryTalkerModel(ForgeryTalkerConfig.official())
    sd = m.state_dict()
    assert sd["vision_model.embeddings.position_embedding"].shape == (1, 257, 1408)
    assert sd["qformer.embeddings.word_embeddings.weight"].shape == (30523, 768)
    assert sd["query_tokens"].shape == (1, 32, 768) and sd["t5_proj.weight"].shape == (2048, 768)
    assert sd["mask_decoder.output_upscaling_mlp.layers.2.weight"].shape == (224 * 224, 1408)
    assert sd["mask_decoder.output_hypernetworks_mlps.layers.2.weight"].shape == (22, 1408)
    assert sd["multi_label_classifier.coord_conv_branch.0.conv.weight"].shape == (1280, 7, 3, 3)
    assert sd["multi_label_classifier.head.weight"].shape == (21, 1280)
    assert sd["prompt_proj.weight"].shape == (1408, 2048) and sd["cross_attention_layer.in_proj_weight"].shape == (3 * 1408, 1408)
    assert "qformer.encoder.layer.0.crossattention.attention.key.weight" in sd and "qformer.encoder.layer.1.crossattention.attention.key.weight" not in sd
    assert sd["qformer.encoder.layer.0.crossattention.attention.key.weight"].shape == (768, 1408)


def test_save_load_round_trip(ft, tmp_path):
    from forgetalk.engines import get_engine
    from forgetalk.engines.forgerytalker.runtime import load_pretrained

    rgb = np.random.default_rng(2).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    before = ft.predict(rgb)
    ft.save_pretrained(tmp_path / "m")
    again = load_pretrained(tmp_path / "m").predict(rgb)
    np.testing.assert_allclose(again.mask, before.mask, atol=1e-6)
    assert again.region_probs == pytest.approx(before.region_probs, abs=1e-6) and again.text == before.text
    eng = get_engine("forgerytalker", device="cpu", quant="fp32", model_dir=str(tmp_path / "m"))
    assert len(eng.info()["weights"]["model.safetensors"]) == 64


def test_region_linking_on_lowercase_unpunctuated_report():
    """The released model writes lowercase reports without full stops: each region gets its clauses only."""
    text = ("the left eye is blurred and the pupil shape is irregular the lips lack texture, the skin of the cheek is too smooth "
            "while the eyes and the nose are deformed the hairline is blurred and looks unnatural")
    links = vocab.link_sentences(text)
    eye = ["the left eye is blurred and the pupil shape is irregular", "the eyes and the nose are deformed"]
    assert links["left_eye"] == eye and links["right_eye"] == eye
    assert links["mouth"] == ["the lips lack texture"]
    assert links["skin"] == ["the skin of the cheek is too smooth"] == links["left_cheek"]
    assert links["nose"] == ["the eyes and the nose are deformed"]
    assert links["hair"] == ["the hairline is blurred and looks unnatural"]
    assert "face" not in links and all(text not in v for v in links.values())
    assert vocab.link_sentences("the surface of the nose and the lips is odd") == {
        "nose": ["the surface of the nose and the lips is odd"], "mouth": ["the surface of the nose and the lips is odd"]}
