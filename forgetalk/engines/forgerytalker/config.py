"""One config object for the whole ForgeryTalker network (sizes only, no weights).

``official()`` is the released DFF / InstructBLIP-Flan-T5-XL layout (paper.md section 2);
``tiny()`` keeps every structural feature (cross-attention every 2nd Q-Former layer, the
two conv branches of the prompter, 21 prompt tokens + CLS in the mask decoder, the
gated-GELU T5) at toy widths so that tests run on a CPU in seconds. Widths in ``tiny()``
are multiples of 64 because bitsandbytes' packed CPU 4-bit kernel needs that.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .vocab import REGION_WORDS


@dataclass
class VisionCfg:
    """EVA-CLIP ViT-g/14 as trimmed by BLIP-2 (39 blocks, no final norm; ln_vision after)."""

    hidden_size: int = 1408
    intermediate_size: int = 6144
    num_layers: int = 39
    num_heads: int = 16
    image_size: int = 224
    patch_size: int = 14
    layer_norm_eps: float = 1e-6
    ln_vision_eps: float = 1e-5  # LAVIS' ln_vision is a plain LayerNorm (eps 1e-5)


@dataclass
class QFormerCfg:
    """BERT-base Q-Former with cross-attention every 2nd layer and a [DEC] token (vocab 30523)."""

    vocab_size: int = 30523
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    cross_attention_frequency: int = 2
    max_position_embeddings: int = 512
    num_query_tokens: int = 32
    layer_norm_eps: float = 1e-12


@dataclass
class PrompterCfg:
    """Face-ViT: ViT-H/14 with a CoordConv branch and a conv branch feeding blocks 0 and 1."""

    hidden_size: int = 1280
    mlp_dim: int = 5120
    num_layers: int = 32
    num_heads: int = 16
    image_size: int = 224
    patch_size: int = 14
    num_classes: int = len(REGION_WORDS)


@dataclass
class MaskCfg:
    """SAM-style two-way transformer decoder over 21 region-prompt tokens + the EVA CLS token."""

    depth: int = 2
    num_heads: int = 8
    mlp_dim: int = 2048
    attention_downsample_rate: int = 2
    prompt_len: int = 21
    mask_size: int = 224
    cross_attention_heads: int = 8


@dataclass
class GenerationCfg:
    """Beam search as in the released eval script (5 beams, 100 new tokens, min 5)."""

    num_beams: int = 5
    max_new_tokens: int = 100
    min_length: int = 5
    repetition_penalty: float = 1.5
    length_penalty: float = 1.0
    suppress_tokens: list[int] = field(default_factory=list)  # empty for the real model (tiny test models set <pad>)


def _flan_t5_xl() -> dict[str, Any]:
    # Published google/flan-t5-xl config values; dense_act_fn "gelu" is LAVIS' override.
    return {
        "vocab_size": 32128, "d_model": 2048, "d_kv": 64, "d_ff": 5120, "num_layers": 24, "num_decoder_layers": 24,
        "num_heads": 32, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
        "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu", "is_gated_act": True, "tie_word_embeddings": False,
        "layer_norm_epsilon": 1e-6, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0,
    }


@dataclass
class ForgeryTalkerConfig:
    """Everything needed to build the network; serialised as ``forgerytalker_config.json``."""

    vision: VisionCfg = field(default_factory=VisionCfg)
    qformer: QFormerCfg = field(default_factory=QFormerCfg)
    prompter: PrompterCfg = field(default_factory=PrompterCfg)
    mask: MaskCfg = field(default_factory=MaskCfg)
    generation: GenerationCfg = field(default_factory=GenerationCfg)
    t5: dict[str, Any] = field(default_factory=_flan_t5_xl)
    max_txt_len: int = 128
    region_threshold: float = 0.5
    # CLIP normalisation used by LAVIS' blip_image_eval processor (bicubic resize first).
    image_mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    image_std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

    @classmethod
    def official(cls) -> ForgeryTalkerConfig:
        return cls()

    @classmethod
    def tiny(cls, t5_vocab_size: int = 256, qformer_vocab_size: int = 128) -> ForgeryTalkerConfig:
        """Toy widths, same structure; the vocab sizes come from tokenizers trained in tests."""
        h = 64
        return cls(
            vision=VisionCfg(hidden_size=h, intermediate_size=128, num_layers=2, num_heads=4, image_size=56, patch_size=14),
            qformer=QFormerCfg(vocab_size=qformer_vocab_size, hidden_size=h, num_layers=2, num_heads=4, intermediate_size=128,
                               max_position_embeddings=160, num_query_tokens=4),
            prompter=PrompterCfg(hidden_size=h, mlp_dim=128, num_layers=3, num_heads=4, image_size=56, patch_size=14),
            mask=MaskCfg(depth=2, num_heads=8, mlp_dim=128, prompt_len=21, mask_size=32, cross_attention_heads=8),
            generation=GenerationCfg(num_beams=2, max_new_tokens=8, min_length=4),
            t5={**_flan_t5_xl(), "vocab_size": t5_vocab_size, "d_model": h, "d_kv": 16, "d_ff": 128, "num_layers": 2,
                "num_decoder_layers": 2, "num_heads": 4},
            max_txt_len=128,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_mean"], d["image_std"] = list(self.image_mean), list(self.image_std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForgeryTalkerConfig:
        subs = {"vision": VisionCfg, "qformer": QFormerCfg, "prompter": PrompterCfg, "mask": MaskCfg, "generation": GenerationCfg}
        known = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if k not in known:
                continue
            if k in subs:
                kw[k] = subs[k](**v)
            elif k in ("image_mean", "image_std"):
                kw[k] = tuple(v)
            else:
                kw[k] = v
        return cls(**kw)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ForgeryTalkerConfig:
        """Read a saved config; a FIFO or device in its place raises instead of blocking."""
        from ...io import read_regular_text

        return cls.from_dict(json.loads(read_regular_text(path)))

    def oversized(self) -> list[str]:
        """``section.field=value`` for every integer size that exceeds the released model's (or is not a non-negative integer).

        Why: a config read from disk (a converted folder, the Flan-T5 ``config.json``) is
        untrusted, and its sizes alone decide how much memory the network takes, or how many
        modules even a meta-device build creates, before any weight is read: one edited
        number (``num_layers: 1000000``, ``num_beams: 1000000``) would exhaust the machine.
        No ForgeryTalker checkpoint is larger than the release, so its sizes are the ceiling;
        T5 keys the release does not have are refused too (transformers aliases such as
        ``num_hidden_layers`` would bypass the check).
        """
        top = ForgeryTalkerConfig.official()
        bad = [f"t5.{k}={v!r}" for k, v in self.t5.items() if k not in top.t5]
        pairs = [(f"t5.{k}", v, top.t5[k]) for k, v in self.t5.items() if k in top.t5]
        pairs.append(("max_txt_len", self.max_txt_len, top.max_txt_len))
        for sec in ("vision", "qformer", "prompter", "mask", "generation"):
            mine, ref = getattr(self, sec), getattr(top, sec)
            pairs += [(f"{sec}.{f.name}", getattr(mine, f.name), getattr(ref, f.name)) for f in fields(mine)]
        for name, value, cap in pairs:
            if _is_int(cap) and not (_is_int(value) and 0 <= value <= cap):
                bad.append(f"{name}={value!r}")
        return bad


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
