"""Tiny random ForgeryTalker with tokenizers trained on the spot: for tests and benchmarks.

Same architecture as the real model at toy widths (see ``ForgeryTalkerConfig.tiny``);
the tokenizers are trained in ~10 ms from a small built-in corpus, so nothing is read
from disk or the network. Outputs are random text and masks: this proves plumbing,
shapes, dtypes and quantization paths, never quality.
"""

from __future__ import annotations

from typing import Any

import torch

from .config import ForgeryTalkerConfig
from .model import ForgeryTalkerModel
from .runtime import ForgeryTalker
from .vocab import REGION_WORDS, build_prompt

_CORPUS = [
    "The left eye is blurred and the pupil shape is irregular.",
    "The lips look smooth and lack texture; the mouth corners are distorted.",
    "The skin on the cheek is unnaturally smooth compared with the forehead.",
    "The nose bridge is deformed and the nostrils are asymmetric.",
    "The eyebrow is partly missing and the hairline is blurred.",
    "The teeth are unclear and the chin has a visible seam near the jaw.",
    build_prompt(list(REGION_WORDS)),
    build_prompt([]),
    " ".join(REGION_WORDS),
]


def tiny_tokenizers(t5_vocab: int = 256, qformer_vocab: int = 128) -> tuple[Any, Any]:
    """(T5-style tokenizer: <pad>=0, </s>=1, <unk>=2; BERT-style WordPiece with [DEC])."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(_CORPUS, trainers.BpeTrainer(vocab_size=t5_vocab, special_tokens=["<pad>", "</s>", "<unk>"],
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    t5 = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")

    wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wp.normalizer = normalizers.BertNormalizer(lowercase=True)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.decoder = decoders.WordPiece()
    wp.train_from_iterator(_CORPUS, trainers.WordPieceTrainer(vocab_size=qformer_vocab - 1, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls_id, sep_id = wp.token_to_id("[CLS]"), wp.token_to_id("[SEP]")
    wp.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    qf = PreTrainedTokenizerFast(tokenizer_object=wp, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    qf.add_special_tokens({"bos_token": "[DEC]"})  # as LAVIS' init_tokenizer
    return t5, qf


def tiny_forgerytalker(seed: int = 0, device: str = "cpu") -> ForgeryTalker:
    """A random tiny model (fp32) wrapped with freshly trained tokenizers."""
    t5_tok, qf_tok = tiny_tokenizers()
    cfg = ForgeryTalkerConfig.tiny(t5_vocab_size=len(t5_tok), qformer_vocab_size=len(qf_tok))
    # An untrained T5 tends to emit <pad> forever, which decodes to "": forbid it so the
    # text path (decode, sentence linking, reports) is exercised with real tokens.
    cfg.generation.suppress_tokens = [t5_tok.pad_token_id]
    torch.manual_seed(seed)
    model = ForgeryTalkerModel(cfg)
    with torch.no_grad():  # zero-init parameters would make every output identical; give them scale
        for name, p in model.named_parameters():
            if p.dim() >= 2 or name.endswith(("query_tokens", "class_embedding", "cls_token", "mask_tokens")):
                if not p.abs().sum():
                    p.normal_(0, 0.02)
    return ForgeryTalker(model.eval(), t5_tok, qf_tok, device=device)
