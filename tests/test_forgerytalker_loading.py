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


def _official_layout(ft, folder, extra_dff: dict | None = None, drop_dff: str | None = None, extra_t5: dict | None = None,
                     extra_eva: dict | None = None) -> None:
    """Write the five sources the way the release ships them (names, wrappers, formats)."""
    from safetensors.torch import save_file

    sd = {k: v.clone() for k, v in ft.model.state_dict().items()}
    lav = to_lavis(sd)
    nv = ft.config.vision.num_layers
    eva = {k[len("visual_encoder."):]: v for k, v in lav.items() if k.startswith("visual_encoder.")}
    for k in [k for k in eva if k.startswith("blocks.0.")]:  # the 40th EVA block BLIP-2 drops
        eva[k.replace("blocks.0.", f"blocks.{nv}.", 1)] = eva[k].clone()
    eva["norm.weight"] = torch.ones(ft.config.vision.hidden_size)
    eva.update(extra_eva or {})
    torch.save(eva, folder / loading.EVA)
    (folder / loading.T5_DIR).mkdir()
    t5 = {k[len("t5_model."):]: v for k, v in sd.items() if k.startswith("t5_model.") and ".embed_tokens." not in k}
    t5.update(extra_t5 or {})
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


def test_unexpected_keys_warn_and_are_reported_missing_tensors_fail_by_name(ft, tmp_path):
    from forgetalk.engines.forgerytalker.model import ForgeryTalkerModel

    t5_ignored = "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"
    _official_layout(ft, tmp_path, extra_dff={"some_new_head.weight": torch.zeros(1)}, extra_t5={t5_ignored: torch.zeros(32, 4)},
                     extra_eva={"blocks.0.attn.relative_position_bias_table": torch.zeros(3, 4), "mystery.weight": torch.zeros(2)})
    with torch.device("meta"):
        model = ForgeryTalkerModel(ft.config)
    with pytest.warns(RuntimeWarning, match="unexpected key") as rec:
        report = loading.assemble(model, loading.official_sources(tmp_path))
    assert report[loading.DFF]["unexpected_keys"] == ["some_new_head.weight"]
    assert set(report[loading.EVA]["unexpected_keys"]) == {"blocks.0.attn.relative_position_bias_table", "mystery.weight"}
    # transformers itself ignores this T5 key: dropped with its reason, no warning for T5
    assert report[loading.T5_DIR]["unexpected"] == 0 and any("transformers" in r for r in report[loading.T5_DIR]["drop_reasons"])
    assert not [w for w in rec if loading.T5_DIR in str(w.message)]
    for label, r in report.items():
        assert r["consumed"] + r["dropped"] + r["unexpected"] == r["source_keys"], label
    want = ft.model.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, want[k]), k

    (tmp_path / "b").mkdir()
    _official_layout(ft, tmp_path / "b", drop_dff="mask_decoder.output_hypernetworks_mlps.layers.2")
    with torch.device("meta"):
        model = ForgeryTalkerModel(ft.config)
    with pytest.raises(WeightsError) as err:
        loading.assemble(model, loading.official_sources(tmp_path / "b"))
    msg = str(err.value)
    assert "\n" not in msg and "2 model tensor(s) missing" in msg
    assert "mask_decoder.output_hypernetworks_mlps.layers.2.weight" in msg and "mask_decoder.output_hypernetworks_mlps.layers.2.bias" in msg
    assert err.value.exit_code == 5


def test_t5_ignored_keys_match_transformers():
    from transformers import T5ForConditionalGeneration

    from forgetalk.engines.forgerytalker.namemap import T5_IGNORED_KEYS

    assert set(T5_IGNORED_KEYS) <= set(T5ForConditionalGeneration._keys_to_ignore_on_load_unexpected)


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
    assert is_skipped("t5_model.lm_head") and not is_skipped("t5_model.encoder.block.0.layer.0.SelfAttention.o")
    assert not is_skipped("t5_model.encoder.block.0.layer.1.DenseReluDense.wi_0")


def test_nf4_load_on_cpu_quantizes_only_t5_linears(ft, tmp_path):
    pytest.importorskip("bitsandbytes")
    from forgetalk.engines.forgerytalker.quant import SKIP_MODULES, is_skipped, quantized_module_names
    from forgetalk.engines.forgerytalker.runtime import load_pretrained

    ft.save_pretrained(tmp_path / "m")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = load_pretrained(tmp_path / "m", device="cpu", quant="nf4")
    assert any("CPU" in str(w.message) for w in caught)
    names = quantized_module_names(q.model)
    t5_linears = [n for n, m in ft.model.named_modules() if type(m) is torch.nn.Linear and n.startswith("t5_model.")]
    assert sorted(names) == sorted(n for n in t5_linears if not is_skipped(n, SKIP_MODULES))
    assert any(".wi_0" in n for n in names) and not [n for n in names if ".wo" in n or "lm_head" in n]
    assert all(type(m).__name__ == "Linear4bit" for n, m in q.model.named_modules() if n in names)
    assert type(q.model.t5_model.lm_head) is torch.nn.Linear and q.model.t5_model.lm_head.weight.dtype == torch.bfloat16
    assert q.model.t5_model.encoder.block[0].layer[1].DenseReluDense.wo.weight.dtype == torch.bfloat16
    for prefix in ("vision_model.", "qformer.", "query_tokens", "t5_proj.", "multi_label_classifier.", "prompt_proj.", "cross_attention_layer.", "mask_decoder."):
        dts = {p.dtype for n, p in q.model.named_parameters() if n.startswith(prefix)}
        assert dts == {torch.float32}, (prefix, dts)  # EVA fp32 on CPU; fp16 only on CUDA
    bn = q.model.multi_label_classifier.coord_conv_branch[1]
    assert bn.running_mean.dtype == torch.float32
    assert q.quant_info["quant"] == "nf4" and q.quant_info["quantized_linears"] == len(names)
    prec = q.quant_info["precision"]
    assert prec["t5"]["policy"] == "nf4 linears (not wo, lm_head), rest bf16"
    assert prec["vision"]["dtypes_seen"] == ["float32"] and prec["prompter"]["dtypes_seen"] == ["float32"]
    assert "uint8" in prec["t5"]["dtypes_seen"] and prec["t5"]["bytes"] < ft.model.t5_model.num_parameters() * 4
    pred = q.predict(np.random.default_rng(5).integers(0, 256, (512, 512, 3), dtype=np.uint8))
    assert pred.mask.shape == (32, 32) and np.isfinite(pred.mask).all() and isinstance(pred.text, str)
    # region words and mask come from fp32 parts only: identical to the fp32 model's
    ref = ft.predict(np.random.default_rng(5).integers(0, 256, (512, 512, 3), dtype=np.uint8))
    assert pred.region_probs == pytest.approx(ref.region_probs, abs=1e-6)
