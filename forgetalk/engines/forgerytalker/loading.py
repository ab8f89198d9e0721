"""Assemble the released ForgeryTalker checkpoints into :class:`.model.ForgeryTalkerModel`.

Files come from ``weights/forgerytalker/`` (manifest-checked by :mod:`forgetalk.weights`).
Load order follows the released code, later sources overriding earlier ones:
EVA ViT-g -> Flan-T5-XL -> Face-ViT -> InstructBLIP trimmed -> DFF ``2111`` fine-tune.
The network is built on the meta device and filled with ``assign=True`` so the fp32
model never has to exist in RAM at once; ``.pth``/``.bin`` files are opened with
``torch.load(weights_only=True, mmap=True)``, which refuses arbitrary pickled objects.
Every file is read from where ``source`` says (the descriptor that was hashed, see
:class:`forgetalk.weights.HashedFiles`), and what stays on the CPU is copied out of the
files' memory maps once loaded (:func:`own_memory`).
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from ...errors import WeightsError
from .config import ForgeryTalkerConfig
from .loadreport import REPORT_KEYS, check_sizes, missing_error, unusable_reason, warn_unexpected
from .model import ForgeryTalkerModel
from .namemap import Converted, NameMapError, convert

COMPONENT = "forgerytalker"
EVA = "eva_vit_g.pth"
INSTRUCT = "instruct_blip_flanxl_trimmed.pth"
DFF = "2111_checkpoint_best.pth"
FACEVIT = "Fakeface-ViT-H_14-add_cnn_branch_3_5-add_max_pool-21_class-weight_1_02-bce_focal_dice_jaccard_loss_checkpoint.bin"
T5_DIR = "flan-t5-xl"
BERT_DIR = "bert-base-uncased"
#: The Flan-T5 weight shards of the google/flan-t5-xl snapshot (as the manifest lists them).
T5_SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


def _same(path: Path) -> Path:
    """The default ``source``: read each file by its name."""
    return path


def safe_torch_load(path: Path, source: Path | None = None) -> dict[str, Any]:
    """``torch.load`` restricted to tensors and plain containers; a clear error otherwise.

    The bytes are read from ``source`` (the hashed descriptor, ``/proc/self/fd/N``) when given;
    messages name ``path``. A legacy (non-zip) file is first checked by :func:`refuse_legacy_overclaim`.
    """
    src = source or path
    try:
        try:
            obj = torch.load(str(src), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # mmap needs torch's zip format; legacy files load without it
            if "mmap" not in str(exc):
                raise
            obj = _load_legacy(src, path)
    except WeightsError:
        raise
    except Exception as exc:  # UnpicklingError and friends: never fall back to full unpickling
        raise WeightsError(f"{path}: refused to load: not a plain tensor checkpoint, weights_only loading failed ({type(exc).__name__}: "
                           f"{load_failure(exc)}); nothing in it was executed") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a state_dict, found {type(obj).__name__}")
    return obj


def _load_legacy(src: Path, shown: Path) -> Any:
    """A legacy-format file, loaded (without mmap) from the descriptor its storage sizes were checked on."""
    from ...io import open_regular

    with os.fdopen(open_regular(src), "rb") as fh:
        refuse_legacy_overclaim(fh, shown)
        fh.seek(0)
        return torch.load(fh, map_location="cpu", weights_only=True)


#: Bytes per element of the storage classes a legacy torch file names (``torch.FloatStorage`` ...);
#: a name not here counts one byte (torch's weights-only unpickler refuses it anyway).
_LEGACY_ELEMENT_BYTES: dict[str, int] = {
    **dict.fromkeys(("ByteStorage", "CharStorage", "BoolStorage", "QUInt8Storage", "QInt8Storage", "QUInt4x2Storage", "QUInt2x4Storage"), 1),
    **dict.fromkeys(("ShortStorage", "HalfStorage", "BFloat16Storage"), 2),
    **dict.fromkeys(("IntStorage", "FloatStorage", "QInt32Storage"), 4),
    **dict.fromkeys(("LongStorage", "DoubleStorage", "ComplexFloatStorage"), 8),
    "ComplexDoubleStorage": 16,
}


def refuse_legacy_overclaim(fh: Any, shown: Path) -> None:
    """Refuse a legacy (non-zip) torch file whose storages declare more bytes than follow its pickle.

    Why: torch's legacy loader allocates each storage at the size its pickle declares while
    unpickling, and only then reads the data (and finds it missing: "unexpected EOF"). A file of
    a few hundred bytes can so claim terabytes: refused by the allocator, or granted (as virtual
    memory that other processes then cannot commit) under overcommit. The declared sizes are read
    here without allocating or importing anything (:class:`_LegacyScan`: every global is a stub),
    and the check is a lower bound of what a consistent file holds after the pickle (each
    storage's bytes plus an 8-byte count). A file that does not start with the legacy header
    passes (torch then says what is wrong with it); an object pickle that breaks off is still
    checked on the storages it declared before the break, which torch allocates first. Zip-format
    files need no such check: torch compares each declared size with its record's.
    """
    size = os.fstat(fh.fileno()).st_size
    capped = _Capped(fh, size)
    declared: dict[Any, int] = {}
    try:
        if _LegacyScan(capped, {}).load() != _LEGACY_MAGIC:
            return
        _LegacyScan(capped, {}).load()  # protocol version
        _LegacyScan(capped, {}).load()  # sys_info
    except Exception:  # noqa: BLE001 - not the legacy layout: torch's own load reports it
        return
    try:
        _LegacyScan(capped, declared).load()
        left = size - fh.tell()
    except _Overclaim as exc:
        raise WeightsError(f"{shown}: refused to load: a legacy (non-zip) torch file declaring {exc}; nothing was allocated") from None
    except Exception:  # noqa: BLE001 - torch fails here too, but only after allocating the storages declared before
        left = size
    total = sum(declared.values())
    if total > left:
        raise WeightsError(f"{shown}: refused to load: a legacy (non-zip) torch file whose {len(declared)} storage(s) declare {total} bytes, "
                           f"more than the {left} bytes that follow its pickle (torch would allocate them before reading); nothing was allocated")


#: torch.serialization.MAGIC_NUMBER, the first pickle of a legacy file.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Overclaim(Exception):
    """A storage size that is not a count of elements."""


class _Capped:
    """A file object whose reads stop at the size it had when opened, so that a length field in
    the pickle (``BINUNICODE`` of 4 GB) never makes a read buffer larger than the file."""

    def __init__(self, fh: Any, size: int) -> None:
        self.fh, self.size = fh, size

    def read(self, n: int = -1) -> bytes:
        left = max(self.size - self.fh.tell(), 0)
        return self.fh.read(left if n < 0 else min(n, left))

    def readline(self, n: int = -1) -> bytes:
        left = max(self.size - self.fh.tell(), 0)
        return self.fh.readline(left if n < 0 else min(n, left))


class _Stub:
    """Stands for every global a scanned pickle names: nothing is imported, nothing runs."""

    __slots__ = ()
    element_bytes = 1

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> _Stub:
        return _Stub()

    def __setstate__(self, state: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def append(self, value: object) -> None:
        pass

    def extend(self, values: object) -> None:
        pass

    def add(self, value: object) -> None:
        pass


#: One stub class per storage class name (a fixed set: a class per name the file invents would cost
#: a kilobyte of memory for a few bytes of pickle).
_STORAGE_STUBS = {name: type(name, (_Stub,), {"__slots__": (), "element_bytes": n}) for name, n in _LEGACY_ELEMENT_BYTES.items()}


class _LegacyScan(pickle.Unpickler):
    """Reads a legacy file's pickles as torch's loader does, recording the first size declared for
    each storage key (``("storage", type, key, location, numel, view)``, as torch's ``_legacy_save``
    writes them) in ``declared`` as bytes, instead of allocating it."""

    def __init__(self, fh: Any, declared: dict[Any, int]) -> None:
        super().__init__(fh)
        self.declared = declared

    def find_class(self, module: str, name: str) -> type[_Stub]:
        return _STORAGE_STUBS.get(name, _Stub) if module == "torch" else _Stub

    def persistent_load(self, pid: Any) -> _Stub:
        typename = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if typename == "storage":
            storage_type, key, _location, numel, _view = pid[1:]
            if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
                raise _Overclaim(f"a storage of {numel!r:.40} elements" if isinstance(numel, int) else
                                 f"a storage size that is not a count ({type(numel).__name__})")
            if key not in self.declared:
                self.declared[key] = numel * getattr(storage_type, "element_bytes", 1)
        return _Stub()


def load_failure(exc: BaseException) -> str:
    """The part of a ``torch.load`` failure that says what is wrong with the file (at most 200 characters).

    Why not the message's start: for a refused pickle, torch opens with advice to re-run
    with ``weights_only=False`` ("will likely succeed") or to allowlist the global, the
    one thing a checkpoint from an untrusted source must never get; the reason
    (``Unsupported global: GLOBAL posix.system``, ``Unsupported operand 149``) comes lines later.
    """
    text = str(exc)
    if not text.startswith("Weights only load failed"):
        return (text.splitlines() or [""])[0][:200]
    for line in text.splitlines():
        line = line.strip().removeprefix("WeightsUnpickler error:").strip()
        if "nsupported" in line:  # "Unsupported global/operand ...", "Trying to load unsupported GLOBAL ..."
            return line.split(" Please use ")[0][:200]
    return "refused by the weights-only unpickler"


def _model_state(obj: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """LAVIS runner checkpoints wrap the weights in ``{"model": ...}``; bare dicts pass through."""
    state = obj.get("model", obj)
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: 'model' entry is not a state_dict")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _t5_state(folder: Path, shards: tuple[str, ...], source: Callable[[Path], Path] = _same) -> dict[str, torch.Tensor]:
    """The Flan-T5 tensors of exactly the named shards.

    Why not every ``*.safetensors`` in the folder: only the manifest's files are hashed and
    recorded in the report, and a later shard overrides an earlier one, so a file dropped
    beside them (``zz.safetensors``) would replace T5's weights without a trace.
    """
    from safetensors.torch import load_file

    if not shards:
        raise WeightsError(f"{folder}: no Flan-T5 *.safetensors shards named")
    out: dict[str, torch.Tensor] = {}
    for name in shards:
        out.update(load_file(str(source(folder / name))))
    return out


def config_from_t5_folder(folder: Path, source: Callable[[Path], Path] = _same) -> ForgeryTalkerConfig:
    """Official config with the T5 block taken from the snapshot's ``config.json`` (act forced to gelu, as LAVIS)."""
    from ...io import read_regular_text

    cfg = ForgeryTalkerConfig.official()
    raw = json.loads(read_regular_text(source(folder / "config.json")))
    if not isinstance(raw, dict):
        raise WeightsError(f"{folder / 'config.json'}: not a T5 config (a JSON object)")
    keep = ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads", "relative_attention_num_buckets",
            "relative_attention_max_distance", "feed_forward_proj", "layer_norm_epsilon", "pad_token_id", "eos_token_id", "decoder_start_token_id",
            "tie_word_embeddings")
    cfg.t5.update({k: raw[k] for k in keep if k in raw})
    cfg.t5["dense_act_fn"] = "gelu"
    cfg.t5["is_gated_act"] = True
    return check_sizes(cfg, folder / "config.json")


def assemble(model: ForgeryTalkerModel, sources: list[tuple[str, str, Callable[[], dict[str, torch.Tensor]]]]) -> dict[str, Any]:
    """Fill ``model`` (possibly on meta) from (label, kind, loader) sources.

    Like the released ``strict=False`` load, keys the model does not know are ignored, but
    never silently: each source's unexpected keys are warned about and listed in the
    returned report (per-source counts of mapped / dropped / unexpected keys, drop
    reasons). Raises :class:`WeightsError` naming every model tensor left unfilled, and
    on a shape mismatch.
    """
    expected = model.state_dict()
    merged: dict[str, torch.Tensor] = {}
    report: dict[str, Any] = {}
    nv = model.config.vision.num_layers
    for label, kind, load in sources:
        try:
            state = load()
            conv: Converted = convert(state, kind, nv)
        except NameMapError as exc:
            raise WeightsError(f"{label}: {exc}") from None
        unexpected = sorted(conv.unexpected)
        for k in [k for k in conv.tensors if k not in expected]:
            src = conv.origin.get(k, k)
            unexpected.append(src)
            del conv.tensors[k]
            conv.consumed.discard(src)
        for k, t in conv.tensors.items():
            if (why := unusable_reason(t, expected[k])) is not None:
                src = conv.origin.get(k, k)
                raise WeightsError(f"{label}: {src}{'' if src == k else f' ({k})'} {why}")
        merged.update(conv.tensors)
        warn_unexpected(label, unexpected)
        report[label] = {"source_keys": len(state), "consumed": len(conv.consumed), "dropped": len(conv.dropped),
                         "unexpected": len(unexpected), "unexpected_keys": unexpected[:REPORT_KEYS],
                         "drop_reasons": sorted(set(conv.dropped.values()))}
        del state
    missing = [k for k in expected if k not in merged]
    if missing:
        raise missing_error(missing, "the loaded files (" + ", ".join(report) + ")")
    model.load_state_dict(merged, strict=True, assign=True)
    model.tie_t5_embeddings()
    _materialize_buffers(model)
    return report


def _materialize_buffers(model: torch.nn.Module) -> None:
    """Non-persistent buffers are not in any checkpoint; rebuild the ones left on meta."""
    for name, buf in list(model.named_buffers()):
        if not buf.is_meta:
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        if attr == "position_ids":
            owner.register_buffer(attr, torch.arange(buf.shape[-1]).expand(buf.shape), persistent=False)
        else:
            raise WeightsError(f"buffer {name} has no source and cannot be rebuilt")


def official_sources(folder: Path, t5_shards: tuple[str, ...] = T5_SHARDS,
                     source: Callable[[Path], Path] = _same) -> list[tuple[str, str, Callable[[], dict[str, torch.Tensor]]]]:
    """The five released sources in load order (later ones override earlier ones); ``t5_shards`` are names inside ``flan-t5-xl/``;
    ``source(path)`` is where each file's bytes are read (:meth:`forgetalk.weights.HashedFiles.source`)."""
    def torch_file(name: str) -> Callable[[], dict[str, torch.Tensor]]:
        return lambda: _model_state(safe_torch_load(folder / name, source(folder / name)), folder / name)

    return [
        (EVA, "eva", torch_file(EVA)),
        (T5_DIR, "t5", lambda: _t5_state(folder / T5_DIR, t5_shards, source)),
        (FACEVIT, "prompter", torch_file(FACEVIT)),
        (INSTRUCT, "lavis", torch_file(INSTRUCT)),
        (DFF, "lavis", torch_file(DFF)),
    ]


def own_memory(model: torch.nn.Module) -> None:
    """Copy each plain CPU parameter and buffer of ``model`` into memory of its own.

    Why: ``torch.load(mmap=True)`` and safetensors' ``load_file`` hand out tensors that read the
    checkpoint's pages, and ``assign=True`` puts them in the model as they are: a weights file
    rewritten in place after its hash and identity were checked (:class:`forgetalk.weights.HashedFiles`)
    would change the weights of the running model, under a report naming the hash that was
    checked. Copied, they are fixed before the check. On CUDA the move to the GPU already copied
    everything; on the CPU, inference reads every weight anyway, so they are in RAM either way.
    Quantized parameters (bitsandbytes subclasses) were computed from the file, not mapped.
    """
    seen: set[int] = set()
    for module in model.modules():
        for p in module._parameters.values():
            if p is not None and id(p) not in seen and type(p) is torch.nn.Parameter and p.device.type == "cpu":
                seen.add(id(p))
                p.data = p.data.clone()
        for name, b in module._buffers.items():
            if b is not None and b.device.type == "cpu":
                module._buffers[name] = b.clone()


def iter_required_files() -> Iterator[str]:
    """Manifest file names the engine cannot run without (for error messages)."""
    yield from (EVA, INSTRUCT, DFF, FACEVIT, f"{T5_DIR}/config.json", f"{T5_DIR}/tokenizer.json", f"{BERT_DIR}/tokenizer.json")


def t5_shards_of(names: Iterable[str]) -> tuple[str, ...]:
    """The Flan-T5 shard names among manifest file names (``flan-t5-xl/x.safetensors`` -> ``x.safetensors``)."""
    return tuple(n[len(T5_DIR) + 1:] for n in names if n.startswith(T5_DIR + "/") and n.endswith(".safetensors"))


def load_official(folder: Path, device: str, quant: str, cfg: ForgeryTalkerConfig | None = None,
                  t5_shards: tuple[str, ...] = T5_SHARDS, source: Callable[[Path], Path] = _same) -> tuple[Any, dict[str, Any]]:
    """Build the real model from ``folder`` and quantize it; returns (ForgeryTalker, load report).

    ``source(path)`` is where each weights file is read from (default: ``path``); tokenizers are
    read from their folders."""
    from .quant import apply_quantization
    from .runtime import ForgeryTalker, load_tokenizer

    cfg = cfg or config_from_t5_folder(folder / T5_DIR, source)
    with torch.device("meta"):
        model = ForgeryTalkerModel(cfg)
    report = assemble(model, official_sources(folder, t5_shards, source))
    info = apply_quantization(model, quant, device)
    own_memory(model)
    ft = ForgeryTalker(model, load_tokenizer(folder / T5_DIR), load_tokenizer(folder / BERT_DIR, add_dec=True), device=device, quant_info=info,
                       load_report=report)
    return ft, report
