"""Explicit key map from the released checkpoints to :class:`.model.ForgeryTalkerModel`.

Sources and their layouts (paper.md section 6):

* ``eva_vit_g.pth`` - raw EVA ViT-g state_dict (``blocks.N.attn.qkv.weight`` ...).
* ``flan-t5-xl/*.safetensors`` - transformers T5 names (``encoder.block.N...``).
* Face-ViT ``.bin`` - released ``VisionTransformer`` names (identical to ours).
* ``instruct_blip_flanxl_trimmed.pth`` and ``2111_checkpoint_best.pth`` - LAVIS runner
  checkpoints ``{"model": state_dict, ...}`` with LAVIS names (``visual_encoder.*``,
  ``ln_vision.*``, ``Qformer.bert.*``, ``query_tokens``, ``t5_proj.*``, mask branch ...).

Every source key is mapped, dropped for a stated reason, or listed as *unexpected*
(the released code loads with ``strict=False``; the loader warns and the report lists
them). Keys transformers itself ignores when loading T5 are dropped. What keeps a
changed release from loading half-initialised is the other direction: every model
tensor must be filled, or loading fails naming the missing tensors (:mod:`.loading`). EVA's separate
``q_bias``/``v_bias`` become the fused ``qkv.bias = [q_bias, 0, v_bias]`` that the
transformers vision attention expects (the LAVIS forward builds the same vector).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

#: Source kinds accepted by :func:`convert`.
SOURCES = ("eva", "t5", "prompter", "lavis")

#: LAVIS key prefixes that exist only for training (losses / tag gating) and are dropped.
#: The tag-gate values are computed by the released code but never change the prompt.
TRAINING_ONLY_PREFIXES: dict[str, str] = {
    "seg_proj.": "unused auxiliary segmentation projection",
    "mlm_head.": "masked-language-model pre-training head",
    "text_proj.": "contrastive pre-training projection",
    "fc_layer.": "tag-gating head (does not affect the prompt)",
    "trans_layer.": "tag-gating projection (does not affect the prompt)",
    "gate_cross_attention_layer.": "tag-gating attention (does not affect the prompt)",
    "bert_model.": "tag-gating BERT encoder (does not affect the prompt)",
    "Qformer.cls.": "Q-Former LM head, removed by InstructBLIP",
}

#: Keys transformers' ``T5ForConditionalGeneration._keys_to_ignore_on_load_unexpected`` lists
#: (an unused cross-attention relative bias some T5 checkpoints carry); dropped, not unexpected.
T5_IGNORED_KEYS: tuple[str, ...] = ("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",)

_SAME_PREFIXES = ("query_tokens", "t5_proj.", "t5_model.", "multi_label_classifier.", "mask_decoder.", "prompt_proj.", "cross_attention_layer.")

_EVA_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^cls_token$"), "vision_model.embeddings.class_embedding"),
    (re.compile(r"^pos_embed$"), "vision_model.embeddings.position_embedding"),
    (re.compile(r"^patch_embed\.proj\.(weight|bias)$"), r"vision_model.embeddings.patch_embedding.\1"),
    (re.compile(r"^blocks\.(\d+)\.norm1\.(weight|bias)$"), r"vision_model.encoder.layers.\1.layer_norm1.\2"),
    (re.compile(r"^blocks\.(\d+)\.norm2\.(weight|bias)$"), r"vision_model.encoder.layers.\1.layer_norm2.\2"),
    (re.compile(r"^blocks\.(\d+)\.attn\.qkv\.weight$"), r"vision_model.encoder.layers.\1.self_attn.qkv.weight"),
    (re.compile(r"^blocks\.(\d+)\.attn\.proj\.(weight|bias)$"), r"vision_model.encoder.layers.\1.self_attn.projection.\2"),
    (re.compile(r"^blocks\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)$"), r"vision_model.encoder.layers.\1.mlp.\2.\3"),
]
_EVA_BIAS = re.compile(r"^blocks\.(\d+)\.attn\.(q_bias|v_bias)$")
_EVA_BLOCK = re.compile(r"^blocks\.(\d+)\.")
_EVA_HEAD = re.compile(r"^(norm|fc_norm|head|lm_head)\.")


class NameMapError(ValueError):
    """A checkpoint key that the map does not know (a different or corrupted release)."""


@dataclass
class Converted:
    """Result of mapping one source: our keys -> tensors, plus what was dropped and why."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)  # source key -> reason
    consumed: set[str] = field(default_factory=set)  # source keys that went into ``tensors``
    unexpected: dict[str, str] = field(default_factory=dict)  # source key -> why it is not known
    origin: dict[str, str] = field(default_factory=dict)  # our key -> source key


def _eva(key: str, num_layers: int) -> tuple[str | None, str | None]:
    """(our key, None) or (None, drop reason) for a raw EVA key; raises on unknown keys."""
    m = _EVA_BLOCK.match(key)
    if m and int(m.group(1)) >= num_layers:
        return None, f"EVA block {m.group(1)} is beyond the {num_layers} blocks BLIP-2 keeps"
    if _EVA_HEAD.match(key):
        return None, "EVA final norm / classifier, unused by BLIP-2 (ln_vision replaces it)"
    if key in ("rel_pos_bias.relative_position_bias_table",) or key.endswith("relative_position_index"):
        return None, "relative position bias is disabled in BLIP-2's EVA"
    for rx, repl in _EVA_RULES:
        if rx.match(key):
            return rx.sub(repl, key), None
    raise NameMapError(f"unknown EVA ViT-g key {key!r}")


def _qformer(key: str) -> str:
    rest = key[len("Qformer.bert."):]
    if rest == "embeddings.LayerNorm.weight" or rest == "embeddings.LayerNorm.bias":
        return "qformer.embeddings.layernorm." + rest.rsplit(".", 1)[1]
    if rest.startswith("embeddings.word_embeddings.") or rest.startswith("embeddings.position_embeddings."):
        return "qformer." + rest
    m = re.match(r"^encoder\.layer\.(\d+)\.(attention|crossattention)\.self\.(.+)$", rest)
    if m:
        return f"qformer.encoder.layer.{m.group(1)}.{m.group(2)}.attention.{m.group(3)}"
    if re.match(r"^encoder\.layer\.\d+\.", rest):
        return "qformer." + rest
    raise NameMapError(f"unknown Q-Former key {key!r}")


def lavis_key(key: str, num_vision_layers: int) -> tuple[str | None, str | None]:
    """Map one LAVIS model key: (our key, None), (None, drop reason), or raise."""
    for prefix, reason in TRAINING_ONLY_PREFIXES.items():
        if key.startswith(prefix):
            return None, reason
    if key == "Qformer.bert.embeddings.position_ids":
        return None, "position-id buffer, rebuilt at run time"
    if key.startswith("visual_encoder."):
        return _eva(key[len("visual_encoder."):], num_vision_layers)
    if key.startswith("ln_vision."):
        return "vision_model.post_layernorm." + key[len("ln_vision."):], None
    if key.startswith("Qformer.bert."):
        return _qformer(key), None
    if key.startswith("t5_model.") and key[len("t5_model."):] in T5_IGNORED_KEYS:
        return None, "ignored by transformers' T5 (_keys_to_ignore_on_load_unexpected)"
    if key.startswith(_SAME_PREFIXES):
        return key, None
    raise NameMapError(f"unknown LAVIS checkpoint key {key!r}")


def convert(state: Mapping[str, torch.Tensor], source: str, num_vision_layers: int) -> Converted:
    """Map a whole source state_dict to our names (see module doc for ``source``)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    out = Converted()
    biases: dict[str, dict[str, tuple[str, torch.Tensor]]] = {}
    for key, tensor in state.items():
        if source == "t5":
            ours, reason = ("t5_model." + key, None) if key not in T5_IGNORED_KEYS else (None, "ignored by transformers' T5 (_keys_to_ignore_on_load_unexpected)")
        elif source == "prompter":
            ours, reason = "multi_label_classifier." + key, None
        else:
            eva_key = key if source == "eva" else key[len("visual_encoder."):] if key.startswith("visual_encoder.") else None
            mb = _EVA_BIAS.match(eva_key) if eva_key is not None else None
            if mb:
                if int(mb.group(1)) >= num_vision_layers:
                    out.dropped[key] = f"EVA block {mb.group(1)} is beyond the {num_vision_layers} blocks BLIP-2 keeps"
                else:
                    biases.setdefault(mb.group(1), {})[mb.group(2)] = (key, tensor)
                continue
            try:
                ours, reason = _eva(key, num_vision_layers) if source == "eva" else lavis_key(key, num_vision_layers)
            except NameMapError as exc:
                out.unexpected[key] = str(exc)
                continue
        if ours is None:
            out.dropped[key] = reason or "dropped"
        else:
            out.tensors[ours] = tensor
            out.origin[ours] = key
            out.consumed.add(key)
    for block, parts in biases.items():
        if set(parts) != {"q_bias", "v_bias"}:
            raise NameMapError(f"EVA block {block}: found only {sorted(parts)} of q_bias/v_bias")
        (qk, q), (vk, v) = parts["q_bias"], parts["v_bias"]
        out.tensors[f"vision_model.encoder.layers.{block}.self_attn.qkv.bias"] = torch.cat([q, torch.zeros_like(q), v])
        out.consumed.update((qk, vk))
    if source == "t5" and "t5_model.shared.weight" in out.tensors:
        for alias in ("t5_model.encoder.embed_tokens.weight", "t5_model.decoder.embed_tokens.weight"):
            out.tensors.setdefault(alias, out.tensors["t5_model.shared.weight"])
    return out


def to_lavis(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse map for our vision / Q-Former keys (used to build synthetic official-layout checkpoints in tests)."""
    out: dict[str, torch.Tensor] = {}
    for key, t in state.items():
        if key.startswith("vision_model."):
            k = key[len("vision_model."):]
            if k.startswith("post_layernorm."):
                out["ln_vision." + k[len("post_layernorm."):]] = t
                continue
            m = re.match(r"^encoder\.layers\.(\d+)\.self_attn\.qkv\.bias$", k)
            if m:
                n = t.shape[0] // 3
                out[f"visual_encoder.blocks.{m.group(1)}.attn.q_bias"] = t[:n]
                out[f"visual_encoder.blocks.{m.group(1)}.attn.v_bias"] = t[2 * n:]
                continue
            for a, b in (("embeddings.class_embedding", "cls_token"), ("embeddings.position_embedding", "pos_embed"),
                         ("embeddings.patch_embedding.", "patch_embed.proj."), ("encoder.layers.", "blocks."), (".layer_norm1.", ".norm1."),
                         (".layer_norm2.", ".norm2."), (".self_attn.qkv.", ".attn.qkv."), (".self_attn.projection.", ".attn.proj.")):
                k = k.replace(a, b)
            out["visual_encoder." + k] = t
        elif key.startswith("qformer."):
            k = key[len("qformer."):].replace("embeddings.layernorm.", "embeddings.LayerNorm.")
            k = re.sub(r"\.(attention|crossattention)\.attention\.", r".\1.self.", k)
            out["Qformer.bert." + k] = t
        else:
            out[key] = t
    return out
