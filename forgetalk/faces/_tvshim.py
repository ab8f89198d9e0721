"""Make PyPI torchvision importable beside a CPU-only torch, for the optional facexlib backend.

Why this exists: the PyPI ``torchvision`` wheels are CUDA builds whose ``_C`` extension
links ``libtorch_cuda.so``. Beside ``torch==2.13.0+cpu`` that extension fails to load
silently, and ``torchvision/_meta_registrations.py`` then raises at import time
(``RuntimeError: operator torchvision::nms does not exist``). facexlib imports torchvision
for three things only: ``IntermediateLayerGetter``, the ``resnet50`` definition and
``ops.nms``. None of them needs the compiled extension except ``nms``.

So, *only when the native extension cannot be loaded*, we register a pure-torch CPU
``torchvision::nms`` (and ``qnms``, whose fake kernel torchvision also registers
unconditionally) before torchvision is imported, then tell torchvision its ops are present.
Every other compiled op (roi_align, deform_conv, ...) stays unavailable and raises as
before; forgetalk never calls them. With a working native torchvision this module does
nothing. It is imported only by :mod:`forgetalk.faces.facexlib_backend`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

#: The Library object must stay referenced: dropping it deregisters the operators.
_LIB: torch.library.Library | None = None
#: "native", "shim" or None (not yet decided); reported by the backend's info().
MODE: str | None = None


def _nms_cpu(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS with torchvision's semantics (x1,y1,x2,y2 boxes, no +1, indices by score)."""
    if dets.numel() == 0:
        return torch.empty((0,), dtype=torch.long, device=dets.device)
    boxes = dets.float()
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = torch.argsort(scores, descending=True, stable=True)
    keep: list[int] = []
    while order.numel() > 0:
        i = int(order[0])
        keep.append(i)
        if order.numel() == 1:
            break
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter).clamp(min=1e-12)
        order = rest[iou <= iou_threshold]
    return torch.tensor(keep, dtype=torch.long, device=dets.device)


def _qnms_cpu(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    return _nms_cpu(dets.dequantize(), scores.dequantize(), iou_threshold)


def _native_extension_loads() -> bool:
    """True if torchvision's compiled ``_C`` loads here (then no shim is wanted)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("torchvision is not installed")
    pkg = Path(next(iter(spec.submodule_search_locations)))
    libs = sorted(pkg.glob("_C*.so")) + sorted(pkg.glob("_C*.pyd"))
    for lib in libs:
        try:
            torch.ops.load_library(str(lib))
            return True
        except (OSError, RuntimeError):
            return False
    return False


def _register_pure_torch_ops() -> None:
    global _LIB
    if _LIB is not None:
        return
    lib = torch.library.Library("torchvision", "DEF")  # noqa: TOR901 - deliberate, see module docstring
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor qdets, Tensor qscores, float iou_threshold) -> Tensor")
    lib.impl("nms", _nms_cpu, "CPU")
    lib.impl("qnms", _qnms_cpu, "QuantizedCPU")
    _LIB = lib


_PREPARED: str | None = None


def prepare() -> str | None:
    """Cheap and import-free: make a *later* ``import torchvision`` succeed in this process.

    Returns ``"native"`` (compiled ops load; nothing done), ``"shim"`` (pure-torch ``nms``
    registered) or ``None`` (torchvision not installed, or already imported). Why it is public:
    once torchvision is installed beside CPU torch, *any* importer breaks, including
    transformers' image processors; calling this at process start (before transformers or
    torchvision is imported) keeps them working. It never imports torchvision itself.
    """
    global _PREPARED
    if _PREPARED is not None:
        return _PREPARED
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return None
    _PREPARED = "native" if _native_extension_loads() else "shim"
    if _PREPARED == "shim":
        _register_pure_torch_ops()
    return _PREPARED


def ensure_torchvision() -> str:
    """Import torchvision, shimming ``nms`` if its native extension cannot load.

    Returns how torchvision was made available: ``"native"`` or ``"shim"``. Raises
    ImportError if torchvision is not installed or still fails to import.
    """
    global MODE
    if MODE is not None:
        return MODE
    if "torchvision" in sys.modules:  # someone imported it already: it works or it raised there
        MODE = _PREPARED or ("native" if _has_native_nms() else "shim")
        if MODE == "shim":
            _patch_has_ops()
        return MODE
    if importlib.util.find_spec("torchvision") is None:
        raise ImportError("torchvision is not installed")
    mode = prepare()
    import torchvision  # noqa: F401

    if mode == "shim":
        _patch_has_ops()
    MODE = mode or "native"
    return MODE


def _patch_has_ops() -> None:
    import torchvision.extension as ext

    if not ext._has_ops():
        ext._has_ops = lambda: True  # type: ignore[assignment]  # nms is now served by _nms_cpu


def _has_native_nms() -> bool:
    try:
        import torchvision.extension as ext

        return bool(ext._has_ops()) and _LIB is None
    except Exception:  # pragma: no cover - diagnostic only
        return False
