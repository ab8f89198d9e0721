"""Precision / quantization modes and the bitsandbytes swap, with the skip list that matters.

Modes: ``nf4`` and ``int8`` (bitsandbytes), ``bf16``, ``fp16``, ``fp32``. The default is
nf4 on CUDA when bitsandbytes imports, bf16 on CUDA otherwise, and fp32 on CPU.

Kept out of 4/8-bit on purpose (``SKIP_MODULES``): Flan-T5's FFN output projections
``wo`` and ``lm_head`` (quantizing them is the known cause of garbage InstructBLIP-T5
text, transformers#24884), the whole mask branch (``mask_decoder``, ``prompt_proj``,
``cross_attention_layer``: its MultiheadAttention reads ``out_proj.weight`` directly and
cannot take a bnb layer), and the prompter's 21-way ``head`` (a tiny layer whose 0.5
threshold decides the prompt). With fp16 compute ``wo`` stays fp32 (T5 overflows in fp16).
"""

from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

QUANT_MODES = ("nf4", "int8", "bf16", "fp16", "fp32")

#: Module-name components never quantized (matched against dotted names, see :func:`is_skipped`).
SKIP_MODULES: tuple[str, ...] = ("wo", "lm_head", "mask_decoder", "prompt_proj", "cross_attention_layer", "multi_label_classifier.head")


class QuantizationError(RuntimeError):
    """The requested mode cannot run here (e.g. bitsandbytes missing)."""


def default_quant(device: str) -> str:
    """nf4 on CUDA with bitsandbytes, bf16 on CUDA without it, fp32 on CPU."""
    if device.startswith("cuda"):
        return "nf4" if bnb_available() else "bf16"
    return "fp32"


def bnb_available() -> bool:
    try:
        _import_bnb()
    except ImportError:
        return False
    return True


def _import_bnb():  # noqa: ANN202 - returns the module
    # Harmless CPU-backend notice about the optional "kernels" package: keep it off stderr.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    import bitsandbytes as bnb

    return bnb


def compute_dtype(mode: str, device: str) -> torch.dtype:
    """The dtype non-quantized weights and activations use for a mode."""
    if mode == "fp32":
        return torch.float32
    if mode == "fp16":
        return torch.float16
    if mode == "bf16":
        return torch.bfloat16
    # nf4 / int8: bf16 compute (fp16 makes Flan-T5 overflow); CPU bnb kernels also want bf16.
    return torch.bfloat16


def is_skipped(name: str, skip: tuple[str, ...] = SKIP_MODULES) -> bool:
    """True when a dotted module name matches a skip entry as whole components."""
    parts = name.split(".")
    for s in skip:
        sp = s.split(".")
        for i in range(len(parts) - len(sp) + 1):
            if parts[i:i + len(sp)] == sp:
                return True
    return False


def _replace_linears(model: nn.Module, mode: str, cdtype: torch.dtype, skip: tuple[str, ...]) -> list[str]:
    bnb = _import_bnb()
    replaced: list[str] = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if type(child) is not nn.Linear or is_skipped(full, skip):
                continue
            w = child.weight.data
            bias = child.bias.data.to(cdtype) if child.bias is not None else None
            if mode == "nf4":
                new = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=bias is not None, compute_dtype=cdtype, quant_type="nf4",
                                        compress_statistics=True, device="meta")
                new.weight = bnb.nn.Params4bit(w.to(cdtype), requires_grad=False, quant_type="nf4", compress_statistics=True)
            else:
                new = bnb.nn.Linear8bitLt(child.in_features, child.out_features, bias=bias is not None, has_fp16_weights=False, threshold=6.0, device="meta")
                new.weight = bnb.nn.Int8Params(w.to(torch.float16), requires_grad=False, has_fp16_weights=False)
            if bias is not None:
                new.bias = nn.Parameter(bias, requires_grad=False)
            setattr(module, child_name, new)
            replaced.append(full)
    return replaced


def apply_quantization(model: nn.Module, mode: str, device: str, skip: tuple[str, ...] = SKIP_MODULES) -> dict[str, object]:
    """Cast / quantize ``model`` in place and move it to ``device``; returns a summary for the report.

    Call on a model whose weights are already loaded (real values, not meta). On CPU the
    4-bit kernels run (bitsandbytes 0.50 has a CPU backend) but slowly; a warning says so.
    """
    if mode not in QUANT_MODES:
        raise QuantizationError(f"unknown quantization {mode!r}; choose one of {', '.join(QUANT_MODES)}")
    cdtype = compute_dtype(mode, device)
    notes: list[str] = []
    if not device.startswith("cuda") and mode != "fp32":
        notes.append(f"{mode} on CPU: supported for checking, but expect minutes per face; use a CUDA GPU for real work")
    if device.startswith("cuda") is False and mode == "fp16":
        notes.append("fp16 matmuls are slow or unsupported on many CPUs; prefer fp32 or bf16 on CPU")
    for n in notes:
        warnings.warn(n, RuntimeWarning, stacklevel=2)
    model.to(dtype=cdtype)
    if cdtype == torch.float16:
        for name, mod in model.named_modules():
            if name.endswith(".wo") and isinstance(mod, nn.Linear):
                mod.to(torch.float32)  # T5 casts activations to wo's dtype when they differ
    replaced: list[str] = []
    if mode in ("nf4", "int8"):
        try:
            replaced = _replace_linears(model, mode, cdtype, skip)
        except ImportError as exc:
            raise QuantizationError(f"--quant {mode} needs bitsandbytes ({exc}); install it or use --quant bf16") from None
    model.to(device)
    model.eval()
    return {"quant": mode, "compute_dtype": str(cdtype).replace("torch.", ""), "quantized_linears": len(replaced),
            "skip_modules": list(skip), "notes": notes}


def quantized_module_names(model: nn.Module) -> list[str]:
    """Names of modules that are bitsandbytes layers (for tests and the report)."""
    return [n for n, m in model.named_modules() if type(m).__module__.startswith("bitsandbytes")]
