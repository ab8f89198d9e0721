"""Model + tokenizers + preprocessing: one RGB face in, mask / region words / report out.

Two ways to build it: :func:`load_pretrained` reads a *converted* folder written by
:meth:`ForgeryTalker.save_pretrained` (``forgerytalker_config.json``, ``model.safetensors``,
``t5_tokenizer/``, ``qformer_tokenizer/``; also how tests round-trip tiny models), and
:func:`.loading.load_official` assembles the released checkpoints. Weights are only
ever read with safetensors or ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import ForgeryTalkerConfig
from .model import ForgeryTalkerModel
from .vocab import REGION_WORDS, build_prompt, mask_label, selected_words

CONFIG_NAME = "forgerytalker_config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class Prediction:
    """One face: 224-grid mask probabilities, 21 word probabilities, the prompt and report."""

    mask: np.ndarray  # float32 (S, S) in [0, 1]
    region_probs: dict[str, float]
    selected: list[str]
    prompt: str
    text: str
    timings_s: dict[str, float] = field(default_factory=dict)


class ForgeryTalker:
    """Inference wrapper; holds no global state so several can coexist (tests, benchmarks)."""

    def __init__(self, model: ForgeryTalkerModel, t5_tokenizer: Any, qformer_tokenizer: Any, device: str = "cpu",
                 quant_info: dict[str, object] | None = None, load_report: dict[str, Any] | None = None) -> None:
        self.model = model.eval()
        self.config: ForgeryTalkerConfig = model.config
        self.t5_tokenizer = t5_tokenizer
        self.qformer_tokenizer = qformer_tokenizer
        self.device = device
        if quant_info is None:  # an injected model (tests): record what it actually holds under the fp32 policy
            from .precision import policy
            from .quant import component_memory, precision_record

            quant_info = {"quant": "fp32", "compute_dtype": "float32", "quantized_linears": 0,
                          "precision": precision_record(component_memory(model, policy("fp32", device)))}
        self.quant_info = quant_info
        self.load_report = load_report or {}
        # Released code truncates prompts from the left (keeps the region list's tail).
        for tok in (t5_tokenizer, qformer_tokenizer):
            tok.truncation_side = "left"

    # -- preprocessing ------------------------------------------------------------------
    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """uint8 RGB (H, W, 3) -> normalised (1, 3, S, S); bicubic resize as LAVIS' blip_image_eval."""
        from PIL import Image

        s = self.config.vision.image_size
        img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).resize((s, s), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.config.image_mean).view(3, 1, 1)
        std = torch.tensor(self.config.image_std).view(3, 1, 1)
        return ((x - mean) / std)[None]

    def _tok(self, tok: Any, texts: list[str], **kw: Any) -> dict[str, torch.Tensor]:
        enc = tok(texts, return_tensors="pt", truncation=True, **kw)
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def encode_texts(self, prompts: list[str], labels: list[str]) -> dict[str, torch.Tensor]:
        """Token tensors for the Q-Former prompt, the T5 prompt and the 21-token mask label."""
        q = self._tok(self.qformer_tokenizer, prompts, padding="longest", max_length=self.config.max_txt_len)
        t = self._tok(self.t5_tokenizer, prompts, padding="longest", max_length=self.config.max_txt_len)
        m = self._tok(self.t5_tokenizer, labels, padding="max_length", max_length=self.config.mask.prompt_len)
        return {"qformer_input_ids": q["input_ids"], "qformer_attention_mask": q["attention_mask"], "input_ids": t["input_ids"],
                "attention_mask": t["attention_mask"], "mask_input_ids": m["input_ids"]}

    # -- inference ----------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, rgb: np.ndarray, generate_text: bool = True, **gen_kwargs: Any) -> Prediction:
        """Full ForgeryTalker inference on one face image (any size; resized to the model's input)."""
        t0 = time.perf_counter()
        px = self.preprocess(rgb)
        return self.predict_pixels(px, generate_text, _t0=t0, **gen_kwargs)

    @torch.no_grad()
    def predict_pixels(self, pixel_values: torch.Tensor, generate_text: bool = True, _t0: float | None = None, **gen_kwargs: Any) -> Prediction:
        """:meth:`predict` on an already preprocessed (1, 3, S, S) tensor (benchmarks; no Pillow needed)."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter() if _t0 is None else _t0
        px = pixel_values.to(self.device)
        img = self.model.image_embeds(px)
        self._sync()
        timings["vision"] = time.perf_counter() - t0
        t = time.perf_counter()
        probs = torch.sigmoid(self.model.region_logits(px))[0].tolist()
        words = selected_words(probs, self.config.region_threshold)
        prompt, label = build_prompt(words), mask_label(words)
        timings["prompter"] = time.perf_counter() - t
        enc = self.encode_texts([prompt], [label])
        t = time.perf_counter()
        mask = torch.sigmoid(self.model.mask_logits(img, enc["mask_input_ids"]))[0]
        self._sync()
        timings["mask"] = time.perf_counter() - t
        text = ""
        if generate_text:
            t = time.perf_counter()
            ids = self.model.generate(img, enc["qformer_input_ids"], enc["qformer_attention_mask"], enc["input_ids"], enc["attention_mask"], **gen_kwargs)
            text = self.t5_tokenizer.batch_decode(ids, skip_special_tokens=True)[0].strip()
            timings["generate"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        return Prediction(mask=mask.float().cpu().numpy().astype(np.float32), region_probs=dict(zip(REGION_WORDS, (float(p) for p in probs), strict=True)),
                          selected=words, prompt=prompt, text=text, timings_s=timings)

    def _sync(self) -> None:
        """Stage timings on a GPU must wait for its queue."""
        if str(self.device).startswith("cuda"):
            torch.cuda.synchronize()

    # -- persistence --------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config, safetensors weights and both tokenizers (unquantized models only)."""
        from safetensors.torch import save_model

        if self.quant_info.get("quantized_linears"):
            raise ValueError("save the model before quantizing it; quantized layers are rebuilt at load time")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save(folder / CONFIG_NAME)
        save_model(self.model, str(folder / WEIGHTS_NAME))
        self.t5_tokenizer.save_pretrained(str(folder / "t5_tokenizer"))
        self.qformer_tokenizer.save_pretrained(str(folder / "qformer_tokenizer"))
        return folder


def load_tokenizer(folder: Path, add_dec: bool = False) -> Any:
    """A fast tokenizer from a local folder (``tokenizer.json``); never touches the network.

    Refused with a one-line :class:`WeightsError`: a folder holding a FIFO or device (the
    tokenizer loaders open every file name they know, and a FIFO blocks them forever), no
    ``tokenizer.json``, and a tokenizer without a padding token (a malformed
    ``tokenizer_config.json`` makes the fallback load one, and padding then fails at the
    first face, after the analysis has started).
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from ...errors import WeightsError
    from ...io import special_file_kind

    odd = sorted(f"{p.name} (a {kind})" for p in (folder.iterdir() if folder.is_dir() else ()) if (kind := special_file_kind(p)) and kind != "folder")
    if odd:
        raise WeightsError(f"{folder}: tokenizer folder holds what is not a regular file: {', '.join(odd)}")
    if not (folder / "tokenizer.json").is_file():
        raise WeightsError(f"{folder}: no tokenizer.json (a fast tokenizer file) in the tokenizer folder")
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError):
        tok = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    if tok.pad_token is None:
        raise WeightsError(f"{folder}: the tokenizer has no padding token (is tokenizer_config.json or special_tokens_map.json malformed?)")
    if add_dec and "[DEC]" not in tok.get_vocab():
        tok.add_special_tokens({"bos_token": "[DEC]"})  # LAVIS init_tokenizer: vocab 30522 -> 30523
    return tok


def load_pretrained(folder: str | Path, device: str = "cpu", quant: str = "fp32", source: Path | None = None) -> ForgeryTalker:
    """Load a converted folder (see module doc) and apply the precision policy of ``quant``.

    Unexpected tensors in the file are ignored with a warning and listed in
    ``load_report``; a model tensor the file lacks, or one that cannot fill it (wrong
    dtype kind, NaN/Inf), is a :class:`WeightsError` naming it. The config is untrusted:
    sizes beyond the release are refused, and the network is sized on the meta device and
    compared with the file before any memory is allocated for it. ``source``: where the weights'
    bytes are read from (the descriptor that was hashed, :meth:`forgetalk.weights.HashedFiles.source`);
    messages name ``model.safetensors``.
    """
    from safetensors.torch import load_model

    from ...errors import WeightsError
    from .loadreport import REPORT_KEYS, check_sizes, missing_error, non_finite, warn_unexpected
    from .quant import apply_quantization

    folder = Path(folder)
    weights = folder / WEIGHTS_NAME
    cfg = check_sizes(ForgeryTalkerConfig.load(folder / CONFIG_NAME), folder / CONFIG_NAME)
    with torch.device("meta"):
        check_fits(ForgeryTalkerModel(cfg), weights, source)
    model = ForgeryTalkerModel(cfg)
    loaded = check_tensors(model, weights, source)
    missing, unexpected = load_model(model, str(source or weights), strict=False)  # shared-tensor aliases are not "missing"
    if missing:
        raise missing_error(sorted(missing), str(weights))
    state = model.state_dict()
    if (bad := non_finite((name, state[name]) for name in loaded)) is not None:
        raise WeightsError(f"{weights}: {bad} holds NaN or infinite values")
    unexpected = sorted(unexpected)
    warn_unexpected(WEIGHTS_NAME, unexpected)
    model.tie_t5_embeddings()
    report = {WEIGHTS_NAME: {"unexpected": len(unexpected), "unexpected_keys": unexpected[:REPORT_KEYS]}}
    info = apply_quantization(model, quant, device)
    return ForgeryTalker(model, load_tokenizer(folder / "t5_tokenizer"), load_tokenizer(folder / "qformer_tokenizer"), device=device, quant_info=info,
                         load_report=report)


def check_fits(meta_model: torch.nn.Module, weights: Path, source: Path | None = None) -> None:
    """Refuse a config whose network has more parameters than ``weights`` has bytes.

    Why: every parameter must come from the file (a missing one is an error anyway), at one
    byte per value at the least, so a larger network can only be a doctored config; building
    it for real first would allocate what the config claims (the whole release is 20 GB in
    fp32) before the file is even opened. The file is read at ``source`` when given (as in
    :func:`load_pretrained`); messages name ``weights``.
    """
    from ...errors import WeightsError

    need = sum(p.numel() for p in meta_model.parameters())
    have = (source or weights).stat().st_size
    if need > have:
        raise WeightsError(f"{weights}: {have} bytes cannot hold the {need} parameters its {CONFIG_NAME} describes; refused before allocating them")


def check_tensors(model: torch.nn.Module, weights: Path, source: Path | None = None) -> list[str]:
    """Check the shape and dtype of each tensor of ``weights`` that fills a model tensor, from the
    file's header (:func:`.loadreport.header_reason`; no data read), and return their names: the
    caller checks their values once loaded (:func:`.loadreport.non_finite`).

    Why here: safetensors' ``load_model`` copies an int tensor into a float parameter and
    loads NaN/Inf as they are; shapes it does check, with a multi-line message. Why from the
    header: the values used to be read here and again by ``load_model``, twice the I/O of a
    folder of gigabytes. The file is read at ``source`` when given; messages name ``weights``.
    """
    from safetensors import safe_open

    from ...errors import WeightsError
    from .loadreport import header_reason

    expected = model.state_dict()
    names: list[str] = []
    with safe_open(str(source or weights), framework="pt") as f:
        for name in f.keys():  # noqa: SIM118 - safe_open is not a dict
            if name not in expected:
                continue
            entry = f.get_slice(name)
            if (why := header_reason(entry.get_shape(), entry.get_dtype(), expected[name])) is not None:
                raise WeightsError(f"{weights}: {name} {why}")
            names.append(name)
    return names
