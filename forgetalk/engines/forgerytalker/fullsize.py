"""The real-size ForgeryTalker with random weights, built under the precision policy with a low memory peak.

Memory depends on shapes and dtypes, not on values, so this answers "does the released
model fit?" without the release files: nothing is read from disk or the network (the
T5 config is :func:`.config.ForgeryTalkerConfig.official`, the tokenizers are trained
on the spot by :func:`.tiny.tiny_tokenizers`). The network is built on the meta device
and materialised component by component directly in its policy dtype; quantized T5
linears are materialised, filled and quantized one layer at a time, so the host never
holds an fp32 or bf16 copy of Flan-T5. Used by ``benchmarks/forgerytalker_fullsize.py``.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from .config import ForgeryTalkerConfig
from .model import ForgeryTalkerModel
from .precision import ComponentPrecision, policy
from .quant import DTYPES, component_memory, is_skipped, quantizable_linears, quantize_linear

INIT_STD = 0.02


def _is_norm(module: nn.Module) -> bool:
    return "Norm" in type(module).__name__


def _fill_(name: str, t: torch.Tensor, owner: nn.Module, gen: torch.Generator) -> None:
    """Plausible random values: norms weight 1 / bias 0, BatchNorm statistics 0/1, other weights N(0, 0.02)."""
    with torch.no_grad():
        if name == "position_ids":
            t.copy_(torch.arange(t.shape[-1], device=t.device).expand(t.shape))
        elif not t.is_floating_point():
            t.zero_()
        elif name == "running_var" or (_is_norm(owner) and name == "weight"):
            t.fill_(1.0)
        elif name in ("bias", "running_mean"):
            t.zero_()
        else:
            t.normal_(0.0, INIT_STD, generator=gen)


def materialize_(root: nn.Module, device: str, dtype: torch.dtype, gen: torch.Generator, fp32_modules: tuple[str, ...] = (),
                 memo: dict[int, nn.Parameter] | None = None) -> None:
    """Replace every meta parameter/buffer under ``root`` by a filled tensor on ``device`` (tied parameters stay tied)."""
    memo = {} if memo is None else memo
    for mod_name, module in root.named_modules():
        dt = torch.float32 if fp32_modules and mod_name and is_skipped(mod_name, fp32_modules) else dtype
        for pname, p in list(module._parameters.items()):
            if p is None or not p.is_meta:
                continue
            if id(p) not in memo:
                t = torch.empty(p.shape, dtype=dt if p.is_floating_point() else p.dtype, device=device)
                _fill_(pname, t, module, gen)
                memo[id(p)] = nn.Parameter(t, requires_grad=False)
            module._parameters[pname] = memo[id(p)]
        for bname, b in list(module._buffers.items()):
            if b is None or not b.is_meta:
                continue
            t = torch.empty(b.shape, dtype=dt if b.is_floating_point() else b.dtype, device=device)
            _fill_(bname, t, module, gen)
            module._buffers[bname] = t


def _build_component(model: ForgeryTalkerModel, cp: ComponentPrecision, device: str, gen: torch.Generator) -> int:
    """Materialise one component in its policy dtype; returns the number of quantized linears."""
    dt = DTYPES[cp.dtype]
    nq = 0
    for name in cp.modules:
        obj = getattr(model, name)
        if isinstance(obj, nn.Parameter):
            t = torch.empty(obj.shape, dtype=dt, device=device)
            _fill_(name, t, model, gen)
            setattr(model, name, nn.Parameter(t, requires_grad=False))
            continue
        if cp.quant:
            for parent, child_name, _full in list(quantizable_linears(obj, name, cp.quant_skip)):
                lin = getattr(parent, child_name)
                materialize_(lin, device, dt, gen)  # one layer in bf16 ...
                setattr(parent, child_name, quantize_linear(lin, cp.quant, dt).to(device))  # ... quantized at once
                del lin
                nq += 1
        materialize_(obj, device, dt, gen, cp.fp32_modules)
    return nq


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def build_random(cfg: ForgeryTalkerConfig, mode: str, device: str, seed: int = 0) -> tuple[ForgeryTalkerModel, dict[str, Any]]:
    """(model, build report): the network under ``policy(mode, device)`` with random weights.

    The report has per component the policy, parameter count, bytes held, dtypes seen,
    build seconds and the process RSS after it (CPU memory; on CUDA the allocator's
    ``memory_allocated`` too).
    """
    pol = policy(mode, device)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    with torch.device("meta"):
        model = ForgeryTalkerModel(cfg)
    steps: dict[str, dict[str, float]] = {}
    for cp in pol:
        t = time.perf_counter()
        nq = _build_component(model, cp, device, gen)
        step: dict[str, float] = {"seconds": round(time.perf_counter() - t, 2), "rss_after_gib": round(_rss_bytes() / 2**30, 3), "quantized": nq}
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            step["cuda_allocated_after_gib"] = round(torch.cuda.memory_allocated() / 2**30, 3)
        steps[cp.component] = step
    model.tie_t5_embeddings()
    left = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.is_meta]
    if left:
        raise RuntimeError(f"not materialised: {left[:5]}")
    model.eval()
    rows = component_memory(model, pol)
    for r in rows:
        r.update(steps[str(r["component"])])
    return model, {"mode": mode, "device": device, "components": rows}
