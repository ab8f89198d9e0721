"""The ForgeryTalker network on PyTorch / transformers building blocks (no LAVIS).

Sub-module names follow the released checkpoints wherever the released code owns the
module (``t5_proj``, ``t5_model``, ``multi_label_classifier``, ``prompt_proj``,
``cross_attention_layer``, ``mask_decoder``); the EVA ViT-g and the Q-Former reuse the
transformers InstructBLIP classes (``vision_model``, ``qformer``), whose names differ
from LAVIS' and are bridged by the tested map in :mod:`.namemap`. Tensor API only: no
tokenizers and no file I/O here (see :mod:`.runtime`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import InstructBlipQFormerConfig, InstructBlipVisionConfig, T5Config, T5ForConditionalGeneration
from transformers.models.instructblip.modeling_instructblip import InstructBlipQFormerModel, InstructBlipVisionModel

from .config import ForgeryTalkerConfig
from .mask_decoder import MaskDecoder
from .prompter import FaceViT


@dataclass
class ForgeryTalkerForward:
    """What one teacher-forced forward pass returns (used by tests and fine-tuning code)."""

    mask_logits: torch.Tensor  # (B, S, S)
    region_logits: torch.Tensor  # (B, 21)
    lm_logits: torch.Tensor | None
    loss: torch.Tensor | None


def _vision_config(cfg: ForgeryTalkerConfig) -> InstructBlipVisionConfig:
    v = cfg.vision
    return InstructBlipVisionConfig(
        hidden_size=v.hidden_size, intermediate_size=v.intermediate_size, num_hidden_layers=v.num_layers, num_attention_heads=v.num_heads,
        image_size=v.image_size, patch_size=v.patch_size, layer_norm_eps=v.layer_norm_eps, hidden_act="gelu", qkv_bias=True,
    )


def _qformer_config(cfg: ForgeryTalkerConfig) -> InstructBlipQFormerConfig:
    q = cfg.qformer
    return InstructBlipQFormerConfig(
        vocab_size=q.vocab_size, hidden_size=q.hidden_size, num_hidden_layers=q.num_layers, num_attention_heads=q.num_heads,
        intermediate_size=q.intermediate_size, cross_attention_frequency=q.cross_attention_frequency, encoder_hidden_size=cfg.vision.hidden_size,
        max_position_embeddings=q.max_position_embeddings, layer_norm_eps=q.layer_norm_eps, hidden_act="gelu", pad_token_id=0,
    )


class ForgeryTalkerModel(nn.Module):
    """EVA ViT-g + Q-Former + Flan-T5 + Face-ViT prompter + two-way-transformer mask head."""

    def __init__(self, cfg: ForgeryTalkerConfig) -> None:
        super().__init__()
        self.config = cfg
        vh, qh = cfg.vision.hidden_size, cfg.qformer.hidden_size
        self.vision_model = InstructBlipVisionModel(_vision_config(cfg))
        self.vision_model.post_layernorm.eps = cfg.vision.ln_vision_eps  # LAVIS ln_vision uses 1e-5
        self.query_tokens = nn.Parameter(torch.zeros(1, cfg.qformer.num_query_tokens, qh))
        self.qformer = InstructBlipQFormerModel(_qformer_config(cfg))
        self.t5_model = T5ForConditionalGeneration(T5Config(**cfg.t5))
        if not cfg.t5.get("tie_word_embeddings", False):
            self.untie_lm_head()
        d_model = self.t5_model.config.d_model
        self.t5_proj = nn.Linear(qh, d_model)
        self.multi_label_classifier = FaceViT(cfg.prompter)
        self.prompt_proj = nn.Linear(d_model, vh)
        self.cross_attention_layer = nn.MultiheadAttention(vh, cfg.mask.cross_attention_heads)
        self.mask_decoder = MaskDecoder(vh, cfg.mask)

    # -- pieces -------------------------------------------------------------------------
    def untie_lm_head(self) -> None:
        """Give ``lm_head`` its own tensor (Flan-T5 has ``tie_word_embeddings: false``).

        transformers 5 forces ``T5Config.tie_word_embeddings = True`` and ties ``lm_head``
        to ``shared`` at construction (it still reads the original flag to decide whether to
        rescale decoder outputs, ``scale_decoder_outputs``). An untied checkpoint then only
        loads by accident; untying here makes save/load of a converted folder round-trip.
        """
        t5 = self.t5_model
        if t5.lm_head.weight is t5.shared.weight or t5.lm_head.weight.data_ptr() == t5.shared.weight.data_ptr():
            t5.lm_head.weight = nn.Parameter(t5.shared.weight.detach().clone(), requires_grad=t5.shared.weight.requires_grad)
        t5.config.tie_word_embeddings = False  # keep transformers' tie_weights() from re-tying it
        if hasattr(t5, "_tied_weights_keys") and isinstance(t5._tied_weights_keys, dict):
            t5._tied_weights_keys = {k: v for k, v in t5._tied_weights_keys.items() if k != "lm_head.weight"}

    def tie_t5_embeddings(self) -> None:
        """Make T5's encoder/decoder token embeddings the ``shared`` tensor again (after assign-loading); ``lm_head`` stays untied."""
        t5 = self.t5_model
        t5.encoder.embed_tokens.weight = t5.shared.weight
        t5.decoder.embed_tokens.weight = t5.shared.weight

    def image_embeds(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``ln_vision(EVA(x))`` in fp32: (B, 1 + patches, vision width).

        With fp16 EVA weights on CUDA (the precision policy) the forward runs under fp16
        autocast, as the released ``maybe_autocast`` does, so LayerNorm/softmax stay fp32.
        """
        w = self.vision_model.embeddings.patch_embedding.weight
        px = pixel_values.to(w.dtype)
        if w.dtype == torch.float16 and px.is_cuda:
            with torch.autocast("cuda", dtype=torch.float16):
                out = self.vision_model(pixel_values=px).last_hidden_state
        else:
            out = self.vision_model(pixel_values=px).last_hidden_state
        return out.float()

    def region_logits(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Face-ViT logits for the 21 region words (the prompter sees the same 224 input)."""
        w = self.multi_label_classifier.transformer.embeddings.patch_embeddings.weight
        return self.multi_label_classifier(pixel_values.to(w.dtype)).float()

    def mask_logits(self, image_embeds: torch.Tensor, mask_input_ids: torch.Tensor) -> torch.Tensor:
        """Region-text-conditioned mask logits (B, S, S); ``mask_input_ids`` is T5-tokenised, length 21."""
        prompt = self.t5_model.get_input_embeddings()(mask_input_ids)
        prompt = self.prompt_proj(prompt.to(self.prompt_proj.weight.dtype))
        img = image_embeds.to(prompt.dtype)
        attn, _ = self.cross_attention_layer(prompt.transpose(0, 1), img[:, 1:].transpose(0, 1), img[:, 1:].transpose(0, 1), need_weights=False)
        tokens = torch.cat([img[:, :1], attn.transpose(0, 1)], dim=1)
        return self.mask_decoder(tokens).float()

    def t5_encoder_inputs(self, image_embeds: torch.Tensor, qformer_input_ids: torch.Tensor, qformer_attention_mask: torch.Tensor,
                          input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[32 projected query outputs ; prompt token embeddings] and their attention mask."""
        b = image_embeds.shape[0]
        queries = self.query_tokens.expand(b, -1, -1)
        image_embeds = image_embeds.to(queries.dtype)
        nq = queries.shape[1]
        q_att = torch.ones(b, nq, dtype=qformer_attention_mask.dtype, device=image_embeds.device)
        img_att = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        out = self.qformer(
            input_ids=qformer_input_ids, attention_mask=torch.cat([q_att, qformer_attention_mask], dim=1), query_embeds=queries,
            encoder_hidden_states=image_embeds, encoder_attention_mask=img_att,
        ).last_hidden_state[:, :nq]
        emb = self.t5_model.get_input_embeddings()
        vis = self.t5_proj(out)
        text = emb(input_ids)
        embeds = torch.cat([vis.to(text.dtype), text], dim=1)
        att = torch.cat([torch.ones(b, nq, dtype=attention_mask.dtype, device=attention_mask.device), attention_mask], dim=1)
        return embeds, att

    # -- entry points -------------------------------------------------------------------
    def forward(self, pixel_values: torch.Tensor, qformer_input_ids: torch.Tensor, qformer_attention_mask: torch.Tensor,
                input_ids: torch.Tensor, attention_mask: torch.Tensor, mask_input_ids: torch.Tensor,
                labels: torch.Tensor | None = None) -> ForgeryTalkerForward:
        """Teacher-forced pass: mask, region logits, and the report LM loss when ``labels`` is given."""
        img = self.image_embeds(pixel_values)
        regions = self.region_logits(pixel_values)
        masks = self.mask_logits(img, mask_input_ids)
        lm_logits = loss = None
        if labels is not None:
            embeds, att = self.t5_encoder_inputs(img, qformer_input_ids, qformer_attention_mask, input_ids, attention_mask)
            out = self.t5_model(inputs_embeds=embeds, attention_mask=att, labels=labels)
            lm_logits, loss = out.logits, out.loss
        return ForgeryTalkerForward(mask_logits=masks, region_logits=regions, lm_logits=lm_logits, loss=loss)

    @torch.no_grad()
    def generate(self, image_embeds: torch.Tensor, qformer_input_ids: torch.Tensor, qformer_attention_mask: torch.Tensor,
                 input_ids: torch.Tensor, attention_mask: torch.Tensor, **gen_kwargs: object) -> torch.Tensor:
        """Beam-search report token ids (defaults from the config: 5 beams, 100 new tokens)."""
        g = self.config.generation
        kw: dict[str, object] = {
            "num_beams": g.num_beams, "max_new_tokens": g.max_new_tokens, "min_length": g.min_length,
            "repetition_penalty": g.repetition_penalty, "length_penalty": g.length_penalty, "do_sample": False,
        }
        if g.suppress_tokens:
            kw["suppress_tokens"] = list(g.suppress_tokens)
        kw.update(gen_kwargs)
        embeds, att = self.t5_encoder_inputs(image_embeds, qformer_input_ids, qformer_attention_mask, input_ids, attention_mask)
        return self.t5_model.generate(inputs_embeds=embeds, attention_mask=att, **kw)


def mask_to_size(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of (B, S, S) probabilities to (B, size, size), kept in [0, 1]."""
    if mask.shape[-1] == size:
        return mask
    return F.interpolate(mask[:, None].float(), size=(size, size), mode="bilinear", align_corners=False)[:, 0].clamp(0, 1)
