"""Precision policy, untied lm_head round trip, converted-folder key checks, the full-size builder (tiny config)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from forgetalk.engines.forgerytalker.precision import COMPONENTS, QUANT_MODES, policy, policy_table  # noqa: E402
from forgetalk.engines.forgerytalker.tiny import tiny_forgerytalker  # noqa: E402
from forgetalk.errors import WeightsError  # noqa: E402

FP32_PARTS = ("qformer.", "query_tokens", "t5_proj.", "multi_label_classifier.", "prompt_proj.", "cross_attention_layer.", "mask_decoder.")


def _dtypes(model, prefix: str) -> set:
    return {t.dtype for n, t in [*model.named_parameters(), *model.named_buffers()] if n.startswith(prefix) and t.is_floating_point()}


def test_policy_table():
    for mode in QUANT_MODES:
        for dev in ("cuda", "cpu"):
            pol = {p.component: p for p in policy(mode, dev)}
            assert set(pol) == {c.key for c in COMPONENTS}
            for key in ("qformer", "t5_proj", "prompter", "mask"):
                assert pol[key].dtype == "float32" and pol[key].quant is None and pol[key].autocast is None, (mode, dev, key)
            if mode == "fp32" or dev == "cpu":
                assert pol["vision"].dtype == "float32" and pol["vision"].autocast is None
            else:
                assert pol["vision"].dtype == "float16" and pol["vision"].autocast == "float16"
            t5 = pol["t5"]
            if mode in ("nf4", "int8"):
                assert t5.quant == mode and t5.quant_skip == ("wo", "lm_head") and t5.dtype == "bfloat16"
            else:
                assert t5.quant is None and t5.dtype == {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[mode]
            assert (t5.fp32_modules == ("wo",)) == (mode == "fp16")
    assert len(policy_table()) == 2 * len(QUANT_MODES)
    with pytest.raises(ValueError):
        policy("int4", "cpu")


@pytest.fixture()
def ft():
    return tiny_forgerytalker(seed=7)


def test_bf16_is_t5_only(ft):
    from forgetalk.engines.forgerytalker.quant import apply_quantization

    info = apply_quantization(ft.model, "bf16", "cpu")
    assert _dtypes(ft.model, "t5_model.") == {torch.bfloat16}
    for prefix in (*FP32_PARTS, "vision_model."):
        assert _dtypes(ft.model, prefix) == {torch.float32}, prefix
    # the CoordConv coordinates are computed in the input's dtype: fp32 here
    x = torch.zeros(1, 5, 8, 8)
    assert ft.model.multi_label_classifier.add_coords(x).dtype == torch.float32
    assert info["precision"]["t5"]["policy"] == "bf16" and info["precision"]["vision"]["dtypes_seen"] == ["float32"]
    assert info["precision"]["prompter"]["params"] == sum(p.numel() for p in ft.model.multi_label_classifier.parameters()) + sum(
        b.numel() for b in ft.model.multi_label_classifier.buffers())
    pred = ft.predict(np.zeros((64, 64, 3), np.uint8))
    assert np.isfinite(pred.mask).all()


def test_untied_lm_head_survives_save_and_load(ft, tmp_path):
    from forgetalk.engines.forgerytalker.runtime import load_pretrained

    t5 = ft.model.t5_model
    assert t5.lm_head.weight is not t5.shared.weight and t5.lm_head.weight.data_ptr() != t5.shared.weight.data_ptr()
    assert t5.config.tie_word_embeddings is False and t5.config.scale_decoder_outputs is False  # Flan-T5: no d_model**-0.5 rescale
    with torch.no_grad():
        t5.lm_head.weight.normal_(0, 0.05)  # a genuinely different head, as in Flan-T5
    ft.save_pretrained(tmp_path / "m")
    again = load_pretrained(tmp_path / "m")
    t5b = again.model.t5_model
    assert torch.equal(t5b.lm_head.weight, t5.lm_head.weight) and torch.equal(t5b.shared.weight, t5.shared.weight)
    assert not torch.equal(t5b.lm_head.weight, t5b.shared.weight)
    assert t5b.encoder.embed_tokens.weight is t5b.shared.weight
    rgb = np.random.default_rng(3).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    assert again.predict(rgb).text == ft.predict(rgb).text
    assert again.load_report["model.safetensors"]["unexpected"] == 0


def test_converted_folder_unexpected_keys_warn_missing_tensors_fail(ft, tmp_path):
    from safetensors.torch import load_file, save_file

    from forgetalk.engines.forgerytalker.runtime import WEIGHTS_NAME, load_pretrained

    folder = ft.save_pretrained(tmp_path / "m")
    sd = load_file(str(folder / WEIGHTS_NAME))
    sd["extra_head.weight"] = torch.zeros(3)
    save_file(sd, str(folder / WEIGHTS_NAME))
    with pytest.warns(RuntimeWarning, match="1 unexpected key"):
        loaded = load_pretrained(folder)
    assert loaded.load_report[WEIGHTS_NAME]["unexpected_keys"] == ["extra_head.weight"]
    del sd["mask_decoder.mask_tokens"], sd["t5_model.lm_head.weight"]
    save_file(sd, str(folder / WEIGHTS_NAME))
    with pytest.raises(WeightsError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_pretrained(folder)
    msg = str(err.value)
    assert "2 model tensor(s) missing" in msg and "mask_decoder.mask_tokens" in msg and "t5_model.lm_head.weight" in msg
    assert "\n" not in msg and err.value.exit_code == 5


def test_engines_command_shows_precision():
    from click.testing import CliRunner

    from forgetalk.commands.engines import command

    r = CliRunner().invoke(command, [])
    assert r.exit_code == 0, r.output
    assert "nf4   vision fp16 + fp16 autocast" in r.output and "t5 nf4 linears (not wo, lm_head), rest bf16" in r.output
    assert "(on CPU: vision fp32)" in r.output
    j = json.loads(CliRunner().invoke(command, ["--json"]).output)
    rows = j["precision"]["forgerytalker"]
    assert {"mode": "bf16", "device": "cpu"}.items() <= next(x for x in rows if x["mode"] == "bf16" and x["device"] == "cpu").items()


def test_int8_says_once_what_it_computes_in_instead_of_a_line_per_matmul(ft, caplog):
    """bitsandbytes logged "MatMul8bitLt: inputs will be cast from torch.bfloat16 to float16" at
    every int8 matmul (144 lines a face here); the report now says it once, in its notes."""
    import logging

    pytest.importorskip("bitsandbytes")
    from forgetalk.engines.forgerytalker.quant import INT8_INPUT_NOTE, apply_quantization

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "int8 on CPU: ... expect minutes per face"
        info = apply_quantization(ft.model, "int8", "cpu")
    assert INT8_INPUT_NOTE in info["notes"] and info["compute_dtype"] == "bfloat16"
    with caplog.at_level(logging.WARNING):
        pred = ft.predict(np.zeros((64, 64, 3), np.uint8))
    assert np.isfinite(pred.mask).all()
    assert not [r for r in caplog.records if "will be cast" in r.getMessage()]
    assert INT8_INPUT_NOTE not in apply_quantization(tiny_forgerytalker(seed=7).model, "bf16", "cpu")["notes"]


@pytest.mark.parametrize("mode", ["nf4", "bf16"])
def test_fullsize_builder_on_tiny_config(mode):
    if mode == "nf4":
        pytest.importorskip("bitsandbytes")
    from forgetalk.engines.forgerytalker.config import ForgeryTalkerConfig
    from forgetalk.engines.forgerytalker.fullsize import build_random
    from forgetalk.engines.forgerytalker.quant import SKIP_MODULES, is_skipped, quantized_module_names
    from forgetalk.engines.forgerytalker.runtime import ForgeryTalker
    from forgetalk.engines.forgerytalker.tiny import tiny_tokenizers

    t5_tok, qf_tok = tiny_tokenizers()
    cfg = ForgeryTalkerConfig.tiny(len(t5_tok), len(qf_tok))
    model, rep = build_random(cfg, mode, "cpu", seed=1)
    assert not [n for n, p in model.named_parameters() if p.is_meta]
    t5 = model.t5_model
    assert t5.encoder.embed_tokens.weight is t5.shared.weight and t5.lm_head.weight is not t5.shared.weight
    names = quantized_module_names(model)
    if mode == "nf4":
        with torch.device("meta"):
            from forgetalk.engines.forgerytalker.model import ForgeryTalkerModel

            ref = ForgeryTalkerModel(cfg)
        want = [n for n, m in ref.named_modules() if type(m) is torch.nn.Linear and n.startswith("t5_model.") and not is_skipped(n, SKIP_MODULES)]
        assert sorted(names) == sorted(want)
    else:
        assert names == [] and _dtypes(model, "t5_model.") == {torch.bfloat16}
    for prefix in (*FP32_PARTS, "vision_model."):
        assert _dtypes(model, prefix) == {torch.float32}, prefix
    comps = {r["component"]: r for r in rep["components"]}
    assert comps["vision"]["bytes"] == 4 * comps["vision"]["params"]
    assert set(comps) == {c.key for c in COMPONENTS}
    ft = ForgeryTalker(model, t5_tok, qf_tok)
    pred = ft.predict_pixels(torch.randn(1, 3, 56, 56), max_new_tokens=3, min_new_tokens=3)
    assert pred.mask.shape == (32, 32) and np.isfinite(pred.mask).all()


def test_report_json_records_precision_and_load_report(ft, tmp_path, grace_path):
    """engine_info in the JSON sidecar carries the per-component precision and the load report (PDF appendix: same data)."""
    from forgetalk.engines import get_engine
    from forgetalk.pipeline import AnalyzeOptions, Analyzer
    from forgetalk.render import write_outputs

    folder = ft.save_pretrained(tmp_path / "m")
    analyzer = Analyzer(AnalyzeOptions(engine="evidence"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analyzer.engine = get_engine("forgerytalker", device="cpu", quant="bf16", model_dir=str(folder))
    analysis = analyzer.analyze_path(grace_path)
    out = write_outputs(analysis, pdf=tmp_path / "r.pdf", json_path=tmp_path / "r.json")
    info = json.loads(out["json"].read_text())["engine_info"]
    assert info["quant"] == "bf16"
    assert {k: v["policy"] for k, v in info["precision"].items()} == {
        "vision": "fp32", "qformer": "fp32", "t5_proj": "fp32", "t5": "bf16", "prompter": "fp32", "mask": "fp32"}
    assert info["precision"]["t5"]["dtypes_seen"] == ["bfloat16"] and info["precision"]["t5"]["bytes"] > 0
    assert info["load_report"]["model.safetensors"] == {"unexpected": 0, "unexpected_keys": []}
