"""Name-map coverage against synthetic checkpoints laid out like the released ones; safe loading; 4-bit."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from forgetalk.engines.forgerytalker import loading  # noqa: E402
from forgetalk.engines.forgerytalker.namemap import to_lavis  # noqa: E402
from forgetalk.engines.forgerytalker.tiny import tiny_forgerytalker  # noqa: E402
from forgetalk.errors import WeightsError  # noqa: E402

TRAINING_ONLY = ("seg_proj.weight", "mlm_head.weight", "text_proj.weight", "fc_layer.weight", "trans_layer.weight",
                 "gate_cross_attention_layer.in_proj_weight", "bert_model.embeddings.word_embeddings.weight")


@pytest.fixture(scope="module")
def ft():
    return tiny_forgerytalker(seed=3)


def _official_layout(ft, folder, extra_dff: dict | None = None, drop_dff: str | None = None) -> None:
    """Write the five sources the way the release ships them (names, wrappers, formats)."""
    from safetensors.torch import save_file

    sd = {k: v.clone() for k, v in ft.model.state_dict().items()}
    lav = to_lavis(sd)
    nv = ft.config.vision.num_layers
    eva = {k[len("visual_encoder."):]: v for k, v in lav.items() if k.startswith("visual_encoder.")}
    for k in [k for k in eva if k.startswith("blocks.0.")]:  # the 40th EVA block BLIP-2 drops
        eva[k.replace("blocks.0.", f"blocks.{nv}.", 1)] = eva[k].clone()
    eva["norm.weight"] = torch.ones(ft.config.vision.hidden_size)
    torch.save(eva, folder / loading.EVA)
    (folder / loading.T5_DIR).mkdir()
    t5 = {k[len("t5_model."):]: v for k, v in sd.items() if k.startswith("t5_model.") and ".embed_tokens." not in k}
    save_file(t5, str(folder / loading.T5_DIR / "model.safetensors"))
    torch.save({k[len("multi_label_classifier."):]: v for k, v in sd.items() if k.startswith("multi_label_classifier.")}, folder / loading.FACEVIT)
    qf = [k for k in lav if k.startswith(("Qformer.", "ln_vision.", "query_tokens", "t5_proj."))]
    # InstructBLIP values are overridden by the DFF fine-tune: perturb them to prove the order.
    instruct = {k: lav[k] + 1.0 for k in qf}
    instruct["Qformer.bert.embeddings.position_ids"] = torch.arange(ft.config.qformer.max_position_embeddings)[None]
    torch.save({"model": instruct}, folder / loading.INSTRUCT)
    trainable = qf + [k for k in lav if k.startswith(("mask_decoder.", "prompt_proj.", "cross_attention_layer."))]
    bn_buffers = [k for k in lav if k.startswith("multi_label_classifier.") and ("running_" in k or "num_batches" in k)]
    dff = {k: lav[k] for k in trainable + bn_buffers}
    dff.update({k: torch.zeros(2, 2) for k in TRAINING_ONLY})
    dff.update(extra_dff or {})
    if drop_dff:
        dff = {k: v for k, v in dff.items() if not k.startswith(drop_dff)}
    torch.save({"model": dff, "optimizer": {"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": [{"lr": 1e-5, "params": [0]}]},
                "config": {"model": {"arch": "blip2_t5_instruct"}}, "scaler": None, "epoch": 3}, folder / loading.DFF)


def test_every_official_key_is_consumed_or_dropped_and_outputs_match(ft, tmp_path):
    from forgetalk.engines.forgerytalker.model import ForgeryTalkerModel
    from forgetalk.engines.forgerytalker.runtime import ForgeryTalker

    _official_layout(ft, tmp_path)
    with torch.device("meta"):
        model = ForgeryTalkerModel(ft.config)
    report = loading.assemble(model, loading.official_sources(tmp_path))
    for label, r in report.items():
        assert r["consumed"] + r["dropped"] == r["source_keys"], label
    assert report[loading.EVA]["dropped"] > 0 and report[loading.FACEVIT]["dropped"] == 0
    assert report[loading.DFF]["dropped"] == len(TRAINING_ONLY)
    assert report[loading.INSTRUCT]["drop_reasons"] == ["position-id buffer, rebuilt at run time"]
    want = ft.model.state_dict()
    got = model.state_dict()
    assert set(got) == set(want)
    for k in want:
        assert torch.equal(got[k], want[k]), k
    assert model.t5_model.encoder.embed_tokens.weight is model.t5_model.shared.weight
    rgb = np.random.default_rng(4).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    a = ft.predict(rgb)
    b = ForgeryTalker(model, ft.t5_tokenizer, ft.qformer_tokenizer).predict(rgb)
    np.testing.assert_allclose(a.mask, b.mask, atol=1e-6)
    assert a.text == b.text


def test_load_official_end_to_end_with_tokenizer_folders(ft, tmp_path):
    _official_layout(ft, tmp_path)
    ft.t5_tokenizer.save_pretrained(str(tmp_path / loading.T5_DIR))
    ft.qformer_tokenizer.save_pretrained(str(tmp_path / loading.BERT_DIR))
    loaded, report = loading.load_official(tmp_path, "cpu", "fp32", cfg=ft.config)
    assert len(loaded.qformer_tokenizer) == len(ft.qformer_tokenizer)  # [DEC] present once
    rgb = np.zeros((512, 512, 3), np.uint8)
    assert loaded.predict(rgb).text == ft.predict(rgb).text


def test_unknown_key_and_missing_tensor_are_errors(ft, tmp_path):
    from forgetalk.engines.forgerytalker.model import ForgeryTalkerModel

    _official_layout(ft, tmp_path, extra_dff={"some_new_head.weight": torch.zeros(1)})
    with torch.device("meta"):
        model = ForgeryTalkerModel(ft.config)
    with pytest.raises(WeightsError, match="some_new_head"):
        loading.assemble(model, loading.official_sources(tmp_path))
    (tmp_path / "b").mkdir()
    _official_layout(ft, tmp_path / "b", drop_dff="mask_decoder.")
    with torch.device("meta"):
        model = ForgeryTalkerModel(ft.config)
    with pytest.raises(WeightsError, match="no source"):
        loading.assemble(model, loading.official_sources(tmp_path / "b"))


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_checkpoints_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": _Evil()}, f)
    with pytest.raises(WeightsError, match="refused"):
        loading.safe_torch_load(path)
    torch.save({"model": _Evil()}, tmp_path / "evil_zip.pth")
    with pytest.raises(WeightsError, match="refused"):
        loading.safe_torch_load(tmp_path / "evil_zip.pth")


def test_skip_list_matching():
    from forgetalk.engines.forgerytalker.quant import is_skipped

    assert is_skipped("t5_model.encoder.block.0.layer.1.DenseReluDense.wo")
    assert is_skipped("t5_model.lm_head") and is_skipped("mask_decoder.output_upscaling_mlp.layers.0")
    assert is_skipped("multi_label_classifier.head")
    assert not is_skipped("multi_label_classifier.transformer.encoder.layer.0.attn.query")
    assert not is_skipped("t5_model.encoder.block.0.layer.1.DenseReluDense.wi_0")


def test_nf4_load_on_cpu_honours_skip_list(ft, tmp_path):
    pytest.importorskip("bitsandbytes")
    from forgetalk.engines.forgerytalker.quant import SKIP_MODULES, is_skipped, quantized_module_names
    from forgetalk.engines.forgerytalker.runtime import load_pretrained

    ft.save_pretrained(tmp_path / "m")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = load_pretrained(tmp_path / "m", device="cpu", quant="nf4")
    assert any("CPU" in str(w.message) for w in caught)
    names = quantized_module_names(q.model)
    assert names and not [n for n in names if is_skipped(n, SKIP_MODULES)]
    assert any(".wi_0" in n for n in names) and any(n.startswith("vision_model.") for n in names)
    assert any(n.startswith("multi_label_classifier.transformer") for n in names)
    assert type(q.model.t5_model.lm_head) is torch.nn.Linear
    assert q.quant_info["quant"] == "nf4" and q.quant_info["quantized_linears"] == len(names)
    pred = q.predict(np.random.default_rng(5).integers(0, 256, (512, 512, 3), dtype=np.uint8))
    assert pred.mask.shape == (32, 32) and np.isfinite(pred.mask).all() and isinstance(pred.text, str)
