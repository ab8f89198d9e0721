"""Assemble the released ForgeryTalker checkpoints into :class:`.model.ForgeryTalkerModel`.

Files come from ``weights/forgerytalker/`` (manifest-checked by :mod:`forgetalk.weights`).
Load order follows the released code, later sources overriding earlier ones:
EVA ViT-g -> Flan-T5-XL -> Face-ViT -> InstructBLIP trimmed -> DFF ``2111`` fine-tune.
The network is built on the meta device and filled with ``assign=True`` so the fp32
model never has to exist in RAM at once; ``.pth``/``.bin`` files are opened with
``torch.load(weights_only=True, mmap=True)``, which refuses arbitrary pickled objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from ...errors import WeightsError
from .config import ForgeryTalkerConfig
from .loadreport import REPORT_KEYS, check_sizes, missing_error, unusable_reason, warn_unexpected
from .model import ForgeryTalkerModel
from .namemap import Converted, NameMapError, convert

COMPONENT = "forgerytalker"
EVA = "eva_vit_g.pth"
INSTRUCT = "instruct_blip_flanxl_trimmed.pth"
DFF = "2111_checkpoint_best.pth"
FACEVIT = "Fakeface-ViT-H_14-add_cnn_branch_3_5-add_max_pool-21_class-weight_1_02-bce_focal_dice_jaccard_loss_checkpoint.bin"
T5_DIR = "flan-t5-xl"
BERT_DIR = "bert-base-uncased"
#: The Flan-T5 weight shards of the google/flan-t5-xl snapshot (as the manifest lists them).
T5_SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


def safe_torch_load(path: Path) -> dict[str, Any]:
    """``torch.load`` restricted to tensors and plain containers; a clear error otherwise."""
    def _load(mmap: bool) -> Any:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)

    try:
        try:
            obj = _load(True)
        except RuntimeError as exc:  # mmap needs torch's zip format; legacy files load without it
            if "mmap" not in str(exc):
                raise
            obj = _load(False)
    except Exception as exc:  # UnpicklingError and friends: never fall back to full unpickling
        raise WeightsError(f"{path}: refused to load: not a plain tensor checkpoint, weights_only loading failed ({type(exc).__name__}: "
                           f"{load_failure(exc)}); nothing in it was executed") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a state_dict, found {type(obj).__name__}")
    return obj


def load_failure(exc: BaseException) -> str:
    """The part of a ``torch.load`` failure that says what is wrong with the file (at most 200 characters).

    Why not the message's start: for a refused pickle, torch opens with advice to re-run
    with ``weights_only=False`` ("will likely succeed") or to allowlist the global, the
    one thing a checkpoint from an untrusted source must never get; the reason
    (``Unsupported global: GLOBAL posix.system``, ``Unsupported operand 149``) comes lines later.
    """
    text = str(exc)
    if not text.startswith("Weights only load failed"):
        return (text.splitlines() or [""])[0][:200]
    for line in text.splitlines():
        line = line.strip().removeprefix("WeightsUnpickler error:").strip()
        if "nsupported" in line:  # "Unsupported global/operand ...", "Trying to load unsupported GLOBAL ..."
            return line.split(" Please use ")[0][:200]
    return "refused by the weights-only unpickler"


def _model_state(obj: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """LAVIS runner checkpoints wrap the weights in ``{"model": ...}``; bare dicts pass through."""
    state = obj.get("model", obj)
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: 'model' entry is not a state_dict")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _t5_state(folder: Path, shards: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The Flan-T5 tensors of exactly the named shards.

    Why not every ``*.safetensors`` in the folder: only the manifest's files are hashed and
    recorded in the report, and a later shard overrides an earlier one, so a file dropped
    beside them (``zz.safetensors``) would replace T5's weights without a trace.
    """
    from safetensors.torch import load_file

    if not shards:
        raise WeightsError(f"{folder}: no Flan-T5 *.safetensors shards named")
    out: dict[str, torch.Tensor] = {}
    for name in shards:
        out.update(load_file(str(folder / name)))
    return out


def config_from_t5_folder(folder: Path) -> ForgeryTalkerConfig:
    """Official config with the T5 block taken from the snapshot's ``config.json`` (act forced to gelu, as LAVIS)."""
    from ...io import read_regular_text

    cfg = ForgeryTalkerConfig.official()
    raw = json.loads(read_regular_text(folder / "config.json"))
    if not isinstance(raw, dict):
        raise WeightsError(f"{folder / 'config.json'}: not a T5 config (a JSON object)")
    keep = ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads", "relative_attention_num_buckets",
            "relative_attention_max_distance", "feed_forward_proj", "layer_norm_epsilon", "pad_token_id", "eos_token_id", "decoder_start_token_id",
            "tie_word_embeddings")
    cfg.t5.update({k: raw[k] for k in keep if k in raw})
    cfg.t5["dense_act_fn"] = "gelu"
    cfg.t5["is_gated_act"] = True
    return check_sizes(cfg, folder / "config.json")


def assemble(model: ForgeryTalkerModel, sources: list[tuple[str, str, Callable[[], dict[str, torch.Tensor]]]]) -> dict[str, Any]:
    """Fill ``model`` (possibly on meta) from (label, kind, loader) sources.

    Like the released ``strict=False`` load, keys the model does not know are ignored, but
    never silently: each source's unexpected keys are warned about and listed in the
    returned report (per-source counts of mapped / dropped / unexpected keys, drop
    reasons). Raises :class:`WeightsError` naming every model tensor left unfilled, and
    on a shape mismatch.
    """
    expected = model.state_dict()
    merged: dict[str, torch.Tensor] = {}
    report: dict[str, Any] = {}
    nv = model.config.vision.num_layers
    for label, kind, load in sources:
        try:
            state = load()
            conv: Converted = convert(state, kind, nv)
        except NameMapError as exc:
            raise WeightsError(f"{label}: {exc}") from None
        unexpected = sorted(conv.unexpected)
        for k in [k for k in conv.tensors if k not in expected]:
            src = conv.origin.get(k, k)
            unexpected.append(src)
            del conv.tensors[k]
            conv.consumed.discard(src)
        for k, t in conv.tensors.items():
            if (why := unusable_reason(t, expected[k])) is not None:
                src = conv.origin.get(k, k)
                raise WeightsError(f"{label}: {src}{'' if src == k else f' ({k})'} {why}")
        merged.update(conv.tensors)
        warn_unexpected(label, unexpected)
        report[label] = {"source_keys": len(state), "consumed": len(conv.consumed), "dropped": len(conv.dropped),
                         "unexpected": len(unexpected), "unexpected_keys": unexpected[:REPORT_KEYS],
                         "drop_reasons": sorted(set(conv.dropped.values()))}
        del state
    missing = [k for k in expected if k not in merged]
    if missing:
        raise missing_error(missing, "the loaded files (" + ", ".join(report) + ")")
    model.load_state_dict(merged, strict=True, assign=True)
    model.tie_t5_embeddings()
    _materialize_buffers(model)
    return report


def _materialize_buffers(model: torch.nn.Module) -> None:
    """Non-persistent buffers are not in any checkpoint; rebuild the ones left on meta."""
    for name, buf in list(model.named_buffers()):
        if not buf.is_meta:
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        if attr == "position_ids":
            owner.register_buffer(attr, torch.arange(buf.shape[-1]).expand(buf.shape), persistent=False)
        else:
            raise WeightsError(f"buffer {name} has no source and cannot be rebuilt")


def official_sources(folder: Path, t5_shards: tuple[str, ...] = T5_SHARDS) -> list[tuple[str, str, Callable[[], dict[str, torch.Tensor]]]]:
    """The five released sources in load order (later ones override earlier ones); ``t5_shards`` are names inside ``flan-t5-xl/``."""
    return [
        (EVA, "eva", lambda: _model_state(safe_torch_load(folder / EVA), folder / EVA)),
        (T5_DIR, "t5", lambda: _t5_state(folder / T5_DIR, t5_shards)),
        (FACEVIT, "prompter", lambda: _model_state(safe_torch_load(folder / FACEVIT), folder / FACEVIT)),
        (INSTRUCT, "lavis", lambda: _model_state(safe_torch_load(folder / INSTRUCT), folder / INSTRUCT)),
        (DFF, "lavis", lambda: _model_state(safe_torch_load(folder / DFF), folder / DFF)),
    ]


def iter_required_files() -> Iterator[str]:
    """Manifest file names the engine cannot run without (for error messages)."""
    yield from (EVA, INSTRUCT, DFF, FACEVIT, f"{T5_DIR}/config.json", f"{T5_DIR}/tokenizer.json", f"{BERT_DIR}/tokenizer.json")


def t5_shards_of(names: Iterable[str]) -> tuple[str, ...]:
    """The Flan-T5 shard names among manifest file names (``flan-t5-xl/x.safetensors`` -> ``x.safetensors``)."""
    return tuple(n[len(T5_DIR) + 1:] for n in names if n.startswith(T5_DIR + "/") and n.endswith(".safetensors"))


def load_official(folder: Path, device: str, quant: str, cfg: ForgeryTalkerConfig | None = None,
                  t5_shards: tuple[str, ...] = T5_SHARDS) -> tuple[Any, dict[str, Any]]:
    """Build the real model from ``folder`` and quantize it; returns (ForgeryTalker, load report)."""
    from .quant import apply_quantization
    from .runtime import ForgeryTalker, load_tokenizer

    cfg = cfg or config_from_t5_folder(folder / T5_DIR)
    with torch.device("meta"):
        model = ForgeryTalkerModel(cfg)
    report = assemble(model, official_sources(folder, t5_shards))
    info = apply_quantization(model, quant, device)
    ft = ForgeryTalker(model, load_tokenizer(folder / T5_DIR), load_tokenizer(folder / BERT_DIR, add_dec=True), device=device, quant_info=info,
                       load_report=report)
    return ft, report
