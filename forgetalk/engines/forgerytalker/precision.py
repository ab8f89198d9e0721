"""Precision policy: the dtype and quantization of every ForgeryTalker component, per ``--quant`` mode.

This module is the one place that decides precision; :mod:`.quant` applies it, the
benchmark builds from it, ``forgetalk engines`` prints it and the report records it.
It mirrors the released inference (LAVIS ``blip2_t5_instruct`` as used by DFF):

* EVA ViT-g + ``ln_vision`` run under fp16 autocast on a GPU (``maybe_autocast``);
  here its weights are stored in fp16 on CUDA and it runs under fp16 autocast, so
  LayerNorm and softmax still compute in fp32 as in the release. fp32 on CPU.
* The Face-ViT prompter (CoordConv and conv branches included), the mask branch
  (``prompt_proj``, ``cross_attention_layer``, the two-way decoder), the Q-Former with
  its query tokens and ``t5_proj`` stay fp32: they decide the prompt words and the mask.
* Flan-T5-XL is the only part in reduced precision: bf16 in the release. ``nf4``/``int8``
  quantize T5's ``nn.Linear`` layers only, never the FFN output projections ``wo`` nor
  ``lm_head`` (quantizing them is the known cause of garbage InstructBLIP-T5 text,
  transformers#24884); the rest of T5 (embeddings, norms, ``wo``, ``lm_head``) is bf16.
* ``fp16`` is T5 in fp16 with ``wo`` kept fp32 (T5 overflows in fp16); ``fp32`` is
  everything in fp32 (the reference mode, EVA included).

Pure Python (no torch import) so that the CLI can show the table without loading torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

QUANT_MODES: tuple[str, ...] = ("nf4", "int8", "bf16", "fp16", "fp32")

#: T5 linear layers that are never quantized (matched as whole dotted-name components).
T5_QUANT_SKIP: tuple[str, ...] = ("wo", "lm_head")


@dataclass(frozen=True)
class Component:
    """A named group of top-level sub-modules (or parameters) of ``ForgeryTalkerModel``."""

    key: str
    label: str
    modules: tuple[str, ...]


COMPONENTS: tuple[Component, ...] = (
    Component("vision", "EVA ViT-g/14 + ln_vision", ("vision_model",)),
    Component("qformer", "Q-Former + 32 query tokens", ("qformer", "query_tokens")),
    Component("t5_proj", "t5_proj (Q-Former -> T5)", ("t5_proj",)),
    Component("t5", "Flan-T5-XL", ("t5_model",)),
    Component("prompter", "Face-ViT prompter (incl. CoordConv + conv branch)", ("multi_label_classifier",)),
    Component("mask", "mask branch (prompt_proj, cross-attention, two-way decoder)", ("prompt_proj", "cross_attention_layer", "mask_decoder")),
)


SHORT: dict[str, str] = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


@dataclass(frozen=True)
class ComponentPrecision:
    """Precision of one component under one mode on one device."""

    component: str
    label: str
    modules: tuple[str, ...]
    dtype: str  # storage dtype of every parameter that is not quantized
    quant: str | None = None  # "nf4" / "int8": the component's quantized linears
    quant_skip: tuple[str, ...] = ()  # linears of a quantized component that stay in ``dtype``
    fp32_modules: tuple[str, ...] = ()  # sub-modules kept fp32 inside a reduced-precision component
    autocast: str | None = None  # dtype of torch.autocast around the component's forward

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["modules"], d["quant_skip"], d["fp32_modules"] = list(self.modules), list(self.quant_skip), list(self.fp32_modules)
        return d

    def summary(self) -> str:
        """Short human form, e.g. ``nf4 linears (not wo, lm_head), rest bf16``."""
        if self.quant:
            return f"{self.quant} linears (not {', '.join(self.quant_skip)}), rest {SHORT[self.dtype]}"
        s = SHORT[self.dtype]
        if self.fp32_modules:
            s += f" ({', '.join(self.fp32_modules)} fp32)"
        if self.autocast:
            s += f" + {SHORT[self.autocast]} autocast"
        return s


def _is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def policy(mode: str, device: str) -> tuple[ComponentPrecision, ...]:
    """Per-component precision for ``--quant mode`` on ``device`` (see module doc)."""
    if mode not in QUANT_MODES:
        raise ValueError(f"unknown quantization {mode!r}; choose one of {', '.join(QUANT_MODES)}")
    out = []
    for c in COMPONENTS:
        kw: dict[str, object] = {"dtype": "float32"}
        if mode != "fp32":
            if c.key == "vision" and _is_cuda(device):
                kw = {"dtype": "float16", "autocast": "float16"}
            elif c.key == "t5":
                if mode in ("nf4", "int8"):
                    kw = {"dtype": "bfloat16", "quant": mode, "quant_skip": T5_QUANT_SKIP}
                elif mode == "fp16":
                    kw = {"dtype": "float16", "fp32_modules": ("wo",)}
                else:
                    kw = {"dtype": "bfloat16"}
        out.append(ComponentPrecision(component=c.key, label=c.label, modules=c.modules, **kw))  # type: ignore[arg-type]
    return tuple(out)


def t5_compute_dtype(mode: str) -> str:
    """The dtype T5 (the only reduced-precision part besides EVA on CUDA) computes in."""
    return {"fp32": "float32", "fp16": "float16"}.get(mode, "bfloat16")


def policy_table(devices: tuple[str, ...] = ("cuda", "cpu")) -> list[dict[str, object]]:
    """Every mode x device as rows {mode, device, <component key>: summary} (``forgetalk engines``)."""
    rows = []
    for mode in QUANT_MODES:
        for dev in devices:
            row: dict[str, object] = {"mode": mode, "device": dev}
            row.update({p.component: p.summary() for p in policy(mode, dev)})
            rows.append(row)
    return rows


__all__ = ["COMPONENTS", "QUANT_MODES", "T5_QUANT_SKIP", "Component", "ComponentPrecision", "policy", "policy_table", "t5_compute_dtype"]
