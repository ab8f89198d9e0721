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
    first, second = loading.T5_SHARDS  # split over the two shards the manifest names, as the snapshot is
    names = sorted(t5)
    save_file({k: t5[k] for k in names[: len(names) // 2]}, str(folder / loading.T5_DIR / first))
    save_file({k: t5[k] for k in names[len(names) // 2:]}, str(folder / loading.T5_DIR / second))
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


# ----------------------------------------------------------------------------- hostile checkpoints


def _rewrite_dff(folder, change) -> None:  # noqa: ANN001
    obj = torch.load(folder / loading.DFF, weights_only=True)
    change(obj["model"])
    torch.save(obj, folder / loading.DFF)


@pytest.mark.parametrize("bad, words", [
    (lambda t: torch.full_like(t, float("nan")), "holds NaN or infinite values"),
    (lambda t: torch.full_like(t, float("inf")), "holds NaN or infinite values"),
    (lambda t: t.to(torch.int64), "has dtype int64, the model expects float32"),
    (lambda t: t.to(torch.bool), "has dtype bool, the model expects float32"),
    (lambda t: t.to_sparse(), "is stored as torch.sparse_coo, not as a dense tensor"),
])
def test_non_finite_or_non_float_weights_stop_loading_naming_the_tensor(ft, tmp_path, bad, words):
    """NaN weights used to load and run: the mask was NaN, no region cleared the threshold, and
    the report said "no evidence of manipulation". An int or bool tensor was cast silently."""
    from forgetalk.engines.forgerytalker.model import ForgeryTalkerModel

    _official_layout(ft, tmp_path)
    _rewrite_dff(tmp_path, lambda m: m.update({"mask_decoder.mask_tokens": bad(m["mask_decoder.mask_tokens"])}))
    with torch.device("meta"):
        model = ForgeryTalkerModel(ft.config)
    with pytest.raises(WeightsError) as err:
        loading.assemble(model, loading.official_sources(tmp_path))
    assert str(err.value) == f"{loading.DFF}: mask_decoder.mask_tokens {words}" and err.value.exit_code == 5


def test_wider_or_narrower_float_weights_still_load(ft, tmp_path):
    """The LAVIS EVA file is fp16: float widths differ from the model's and are cast by the precision policy."""
    from forgetalk.engines.forgerytalker.model import ForgeryTalkerModel

    _official_layout(ft, tmp_path)
    _rewrite_dff(tmp_path, lambda m: m.update({k: v.double() for k, v in m.items() if k.startswith("mask_decoder.")}))
    with torch.device("meta"):
        model = ForgeryTalkerModel(ft.config)
    loading.assemble(model, loading.official_sources(tmp_path))


def test_a_shard_dropped_beside_the_manifests_is_never_loaded(ft, tmp_path):
    """Every ``*.safetensors`` in flan-t5-xl/ used to be loaded, a later name overriding: an unhashed,
    unreported ``zz.safetensors`` replaced T5's weights."""
    from safetensors.torch import save_file

    from forgetalk.engines.forgerytalker.model import ForgeryTalkerModel

    _official_layout(ft, tmp_path)
    t5 = {k[len("t5_model."):]: torch.full_like(v, 7.0) for k, v in ft.model.state_dict().items() if k.startswith("t5_model.")}
    save_file({k: v for k, v in t5.items() if ".embed_tokens." not in k}, str(tmp_path / loading.T5_DIR / "zz-planted.safetensors"))
    with torch.device("meta"):
        model = ForgeryTalkerModel(ft.config)
    loading.assemble(model, loading.official_sources(tmp_path))
    assert torch.equal(model.t5_model.shared.weight, ft.model.t5_model.shared.weight)
    assert loading.t5_shards_of(["flan-t5-xl/config.json", *(f"flan-t5-xl/{n}" for n in loading.T5_SHARDS), "eva_vit_g.pth"]) == loading.T5_SHARDS


class _WritesAFile:
    def __init__(self, path) -> None:  # noqa: ANN001
        self.path = str(path)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.path, "w"))  # unpickling this creates the file


@pytest.mark.parametrize("zip_format", [True, False])
def test_a_pickle_payload_is_refused_with_its_reason_and_never_runs(tmp_path, zip_format):
    """The message used to be torch's first 200 characters: advice to re-run with ``weights_only=False``
    ("will likely succeed"), cut before its warning and before the reason."""
    marker = tmp_path / "payload-ran"
    path = tmp_path / loading.DFF
    if zip_format:
        torch.save({"model": {"w": torch.zeros(2)}, "epoch": _WritesAFile(marker)}, path)
    else:
        path.write_bytes(pickle.dumps({"model": _WritesAFile(marker)}, protocol=2))
    with pytest.raises(WeightsError) as err:
        loading.safe_torch_load(path)
    msg = str(err.value)
    assert not marker.exists()
    assert "\n" not in msg and "weights_only` set to `False" not in msg and "nothing in it was executed" in msg
    assert "nsupported" in msg and "open" in msg, msg  # the refused global is named
    assert "add_safe_globals" not in msg


def test_t5_config_sizes_beyond_the_release_are_refused_before_building(tmp_path):
    """``num_layers: 1000000`` in flan-t5-xl/config.json built a million meta blocks (gigabytes) before any weight was read."""
    import json

    (tmp_path / "config.json").write_text(json.dumps({"num_layers": 1_000_000, "d_model": 2048}))
    with pytest.raises(WeightsError, match=r"config\.json: sizes that are not integers between 0 and the released .*t5\.num_layers=1000000"):
        loading.config_from_t5_folder(tmp_path)
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(WeightsError, match="not a T5 config"):
        loading.config_from_t5_folder(tmp_path)
