"""Applies the precision policy (:mod:`.precision`) to a built model: casts, bitsandbytes swap, device.

Modes: ``nf4`` and ``int8`` (bitsandbytes), ``bf16``, ``fp16``, ``fp32``. The default is
nf4 on CUDA when bitsandbytes imports, bf16 on CUDA otherwise, and fp32 on CPU. What each
mode does to each component is decided in :func:`.precision.policy`, not here: only
Flan-T5's linear layers are ever 4/8-bit, minus ``wo`` and ``lm_head``
(:data:`SKIP_MODULES`); EVA is fp16 on CUDA; everything else stays fp32.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import torch
from torch import nn

from .precision import QUANT_MODES, T5_QUANT_SKIP, ComponentPrecision, policy, t5_compute_dtype

__all__ = ["QUANT_MODES", "SKIP_MODULES", "QuantizationError", "apply_quantization", "component_memory", "default_quant", "is_skipped",
           "quantize_linear", "quantized_module_names"]

#: Linear layers of a quantized component that are never 4/8-bit (whole dotted-name components).
SKIP_MODULES: tuple[str, ...] = T5_QUANT_SKIP

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


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


class _DropInt8CastNotice(logging.Filter):
    """Drops bitsandbytes' "MatMul8bitLt: inputs will be cast from ... to float16" line.

    Why: it is logged at every int8 matmul (144 lines a face with the tiny model, thousands
    with Flan-T5-XL), burying forgetalk's own messages; what it says is recorded once instead,
    in the report's precision notes (:data:`INT8_INPUT_NOTE`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("MatMul8bitLt: inputs will be cast")


#: What an int8 layer really computes in, said once in the report (bitsandbytes quantizes each
#: int8 layer's input from float16, whatever the model's compute dtype; outliers stay fp16).
INT8_INPUT_NOTE = ("int8 layers quantize their inputs from float16 (bitsandbytes casts them from bfloat16; "
                   "outlier features are multiplied in float16); the rest of Flan-T5 computes in bfloat16")


def _import_bnb():  # noqa: ANN202 - returns the module
    # Harmless CPU-backend notice about the optional "kernels" package: keep it off stderr.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    cast_log = logging.getLogger("bitsandbytes.autograd._functions")
    if not any(isinstance(f, _DropInt8CastNotice) for f in cast_log.filters):
        cast_log.addFilter(_DropInt8CastNotice())
    import bitsandbytes as bnb

    return bnb


def compute_dtype(mode: str, device: str = "cpu") -> torch.dtype:
    """The dtype Flan-T5 computes in for a mode (bf16 for nf4/int8: fp16 makes Flan-T5 overflow)."""
    return DTYPES[t5_compute_dtype(mode)]


def is_skipped(name: str, skip: tuple[str, ...] = SKIP_MODULES) -> bool:
    """True when a dotted module name matches a skip entry as whole components."""
    parts = name.split(".")
    for s in skip:
        sp = s.split(".")
        for i in range(len(parts) - len(sp) + 1):
            if parts[i:i + len(sp)] == sp:
                return True
    return False


def quantize_linear(child: nn.Linear, mode: str, cdtype: torch.dtype) -> nn.Module:
    """A bitsandbytes replacement for one ``nn.Linear`` (quantized when moved to a device)."""
    bnb = _import_bnb()
    w = child.weight.data
    bias = child.bias.data.to(cdtype) if child.bias is not None else None
    if mode == "nf4":
        new = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=bias is not None, compute_dtype=cdtype, quant_type="nf4",
                                compress_statistics=True, device="meta")
        new.weight = bnb.nn.Params4bit(w.to(cdtype), requires_grad=False, quant_type="nf4", compress_statistics=True)
    elif mode == "int8":
        new = bnb.nn.Linear8bitLt(child.in_features, child.out_features, bias=bias is not None, has_fp16_weights=False, threshold=6.0, device="meta")
        new.weight = bnb.nn.Int8Params(w.to(torch.float16), requires_grad=False, has_fp16_weights=False)
    else:
        raise QuantizationError(f"{mode} is not a bitsandbytes mode")
    if bias is not None:
        new.bias = nn.Parameter(bias, requires_grad=False)
    return new


def quantizable_linears(root: nn.Module, prefix: str, skip: tuple[str, ...]) -> Iterator[tuple[nn.Module, str, str]]:
    """(parent, child name, full dotted name) of every plain ``nn.Linear`` under ``root`` not in ``skip``."""
    for name, module in list(root.named_modules()):
        for child_name, child in list(module.named_children()):
            full = ".".join(p for p in (prefix, name, child_name) if p)
            if type(child) is nn.Linear and not is_skipped(full, skip):
                yield module, child_name, full


def cast_component(model: nn.Module, cp: ComponentPrecision) -> None:
    """Cast one component's parameters and buffers to its policy dtype (fp32 sub-modules kept fp32)."""
    dt = DTYPES[cp.dtype]
    for name in cp.modules:
        obj = getattr(model, name)
        if isinstance(obj, nn.Parameter):
            obj.data = obj.data.to(dt)
        else:
            obj.to(dt)
            for sub_name, sub in obj.named_modules():
                if cp.fp32_modules and sub_name and is_skipped(sub_name, cp.fp32_modules):
                    sub.to(torch.float32)  # T5 casts activations to wo's dtype when they differ


def _quantize_component(model: nn.Module, cp: ComponentPrecision, device: str | None = None) -> list[str]:
    cdtype = DTYPES[cp.dtype]
    replaced: list[str] = []
    for name in cp.modules:
        for parent, child_name, full in quantizable_linears(getattr(model, name), name, cp.quant_skip):
            new = quantize_linear(getattr(parent, child_name), cp.quant or "", cdtype)
            if device is not None:
                new = new.to(device)  # quantizes now: one layer at a time
            setattr(parent, child_name, new)
            replaced.append(full)
    return replaced


def _tensor_bytes(t: torch.Tensor) -> int:
    n = t.numel() * t.element_size()
    qs = getattr(t, "quant_state", None)  # bitsandbytes 4-bit: absmax (+ nested statistics), code
    if qs is not None:
        for x in (getattr(qs, "absmax", None), getattr(qs, "code", None)):
            if isinstance(x, torch.Tensor):
                n += x.numel() * x.element_size()
        s2 = getattr(qs, "state2", None)
        if s2 is not None:
            for x in (getattr(s2, "absmax", None), getattr(s2, "code", None)):
                if isinstance(x, torch.Tensor):
                    n += x.numel() * x.element_size()
    scb = getattr(t, "SCB", None)  # bitsandbytes int8 row scales
    if isinstance(scb, torch.Tensor):
        n += scb.numel() * scb.element_size()
    return n


def component_memory(model: nn.Module, pol: tuple[ComponentPrecision, ...]) -> list[dict[str, object]]:
    """Per component: policy, parameter count (unquantized equivalent), bytes held, dtypes seen, quantized layers."""
    rows = []
    for cp in pol:
        params = nbytes = nq = 0
        dtypes: set[str] = set()
        for name in cp.modules:
            obj = getattr(model, name)
            tensors = [obj] if isinstance(obj, nn.Parameter) else [*obj.parameters(), *obj.buffers()]
            for t in tensors:
                shape = getattr(getattr(t, "quant_state", None), "shape", None)
                params += int(torch.Size(shape).numel()) if shape is not None else t.numel()
                nbytes += _tensor_bytes(t)
                if t.is_floating_point() or isinstance(t, nn.Parameter):  # not BatchNorm's int64 counters
                    dtypes.add(str(t.dtype).replace("torch.", ""))
            if not isinstance(obj, nn.Parameter):
                nq += sum(1 for m in obj.modules() if type(m).__module__.startswith("bitsandbytes"))
        rows.append({**cp.to_dict(), "summary": cp.summary(), "params": params, "bytes": nbytes, "dtypes_seen": sorted(dtypes),
                     "quantized_linears": nq})
    return rows


def apply_quantization(model: nn.Module, mode: str, device: str, skip: tuple[str, ...] | None = None) -> dict[str, object]:
    """Apply the precision policy to ``model`` in place and move it to ``device``; returns a summary for the report.

    Call on a model whose weights are already loaded (real values, not meta). On CPU the
    4-bit kernels run (bitsandbytes 0.50 has a CPU backend) but slowly; a warning says so.
    ``skip`` overrides the T5 linears kept out of 4/8-bit (tests only).
    """
    if mode not in QUANT_MODES:
        raise QuantizationError(f"unknown quantization {mode!r}; choose one of {', '.join(QUANT_MODES)}")
    pol = policy(mode, device)
    if skip is not None:
        from dataclasses import replace

        pol = tuple(replace(cp, quant_skip=tuple(skip)) if cp.quant else cp for cp in pol)
    notes: list[str] = []
    if not device.startswith("cuda") and mode != "fp32":
        notes.append(f"{mode} on CPU: supported for checking, but expect minutes per face; use a CUDA GPU for real work")
    if not device.startswith("cuda") and mode == "fp16":
        notes.append("fp16 matmuls are slow or unsupported on many CPUs; prefer fp32 or bf16 on CPU")
    for n in notes:
        warnings.warn(n, RuntimeWarning, stacklevel=2)
    if mode == "int8":
        notes.append(INT8_INPUT_NOTE)
    replaced: list[str] = []
    for cp in pol:
        cast_component(model, cp)
        if cp.quant:
            try:
                replaced += _quantize_component(model, cp)
            except ImportError as exc:
                raise QuantizationError(f"--quant {mode} needs bitsandbytes ({exc}); install it or use --quant bf16") from None
    model.to(device)
    model.eval()
    return {"quant": mode, "compute_dtype": str(compute_dtype(mode)).replace("torch.", ""), "quantized_linears": len(replaced),
            "skip_modules": list(next((cp.quant_skip for cp in pol if cp.quant), SKIP_MODULES)), "notes": notes,
            "precision": precision_record(component_memory(model, pol))}


def precision_record(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    """Compact per-component record for the report (JSON ``engine_info.precision`` and the PDF appendix)."""
    return {str(r["component"]): {"policy": r["summary"], "params": r["params"], "bytes": r["bytes"], "dtypes_seen": r["dtypes_seen"]}
            for r in rows}


def quantized_module_names(model: nn.Module) -> list[str]:
    """Names of modules that are bitsandbytes layers (for tests and the report)."""
    return [n for n, m in model.named_modules() if type(m).__module__.startswith("bitsandbytes")]
