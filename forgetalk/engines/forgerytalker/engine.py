"""The ForgeryTalker engine: one aligned face -> :class:`EngineOutput` (mask, 21 words, report).

Weights resolution order: an injected ``model`` (tests), a converted ``model_dir``
(``forgerytalker_config.json`` + ``model.safetensors`` + tokenizers), else the released
files in ``weights/forgerytalker/`` checked against their manifest. Nothing downloads.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ...errors import DeviceError, EngineError, ForgetalkError, WeightsError
from ..base import EngineOutput, EngineVocabulary
from .vocab import WORD_TO_REGIONS, link_sentences

if TYPE_CHECKING:
    from ...faces import AlignedFace
    from .runtime import ForgeryTalker, Prediction

T = TypeVar("T")

ENGINE_VERSION = "1.0"
SCORE_SOURCE = "99th percentile of the mask probability inside the crop"
#: No measured cues; its 21 region words name face regions, and its report is cut into region sentences.
VOCABULARY = EngineVocabulary(word_regions=WORD_TO_REGIONS, link_sentences=link_sentences)


def _resize_prob(mask: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if mask.shape == (size, size):
        return mask.astype(np.float32)
    img = Image.fromarray(mask.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def resolve_official(device: str, quant: str, root: Path | None = None) -> tuple[ForgeryTalker, dict[str, Any]]:
    """Load the released checkpoints after checking the manifest; one error lists every missing file.

    Each file is loaded from the descriptor its sha256 was computed on, and the load is refused
    if any file changed meanwhile (:class:`forgetalk.weights.HashedFiles`): the files are
    gigabytes, too large to hash and parse the same bytes in memory as the small weights are.
    """
    from ...io import special_file_kind
    from ...weights import HashedFiles, expected_sha256, load_manifest, not_regular_error
    from .loading import COMPONENT, load_official, t5_shards_of

    manifest = load_manifest(COMPONENT, root)
    for wf in manifest.files:  # a folder, FIFO or device in a file's place is not "missing" (and is never opened)
        if kind := special_file_kind(manifest.folder / wf.name):
            raise not_regular_error(manifest.folder / wf.name, kind, manifest, wf)
    missing = [wf for wf in manifest.files if wf.required and not (manifest.folder / wf.name).is_file()]
    if missing:
        lines = "\n".join(f"  - {wf.name}" + (f"  <- {wf.url}" if wf.url else "") for wf in missing)
        raise WeightsError(
            f"ForgeryTalker weights are incomplete: {len(missing)} file(s) missing from {manifest.folder}/:\n{lines}\n"
            f"Place them there (same relative paths), or run `forgetalk weights fetch {COMPONENT}` on a connected machine and copy the folder."
        )
    # Every file is hashed at every start (no cache that could be forged) and nothing is
    # recorded here: only `weights fetch` records hashes of unpinned files.
    hashes: dict[str, str] = {}
    with HashedFiles() as held:
        for wf in manifest.files:
            path = manifest.folder / wf.name
            if not path.is_file():
                continue
            got = held.sha256(path)
            want, kind = expected_sha256(manifest, wf)
            if want and got != want:
                raise WeightsError(f"{path}: sha256 mismatch ({kind} {want}, found {got}); re-fetch it or restore the original file")
            hashes[wf.name] = got

        def source(path: Path) -> Path:
            return held.source(path) if path in held else path

        ft, report = _loaded(lambda: load_official(manifest.folder, device, quant, t5_shards=t5_shards_of(wf.name for wf in manifest.files),
                                                   source=source),
                             f"the ForgeryTalker weights in {manifest.folder}/", f"check the files with `forgetalk weights verify {COMPONENT}`")
        held.check_unchanged()
    pinned = {wf.name: bool(wf.sha256) for wf in manifest.files}
    return ft, {"weights": hashes, "pinned": pinned, "load_report": report}


def _loaded(load: Callable[[], T], what: str, hint: str) -> T:
    """``load()``, with any failure that is not already one line turned into a :class:`WeightsError` (exit 5).

    Why: the files are hand-placed or converted by someone else, and transformers,
    safetensors and torch each fail in their own words (a multi-line ``load_state_dict``
    report, a ``TypeError`` from a config field): one line naming the folder, not a traceback.
    """
    try:
        return load()
    except (ForgetalkError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a file that is not what its name promises
        first = (str(exc).splitlines() or [""])[0][:300]
        raise WeightsError(f"cannot load {what} ({exc.__class__.__name__}: {first}); {hint}") from None


class ForgeryTalkerEngine:
    """Implements :class:`forgetalk.engines.base.Engine` over a :class:`.runtime.ForgeryTalker`."""

    name = "forgerytalker"

    def __init__(self, ft: ForgeryTalker, weights_info: dict[str, Any], generate_text: bool = True) -> None:
        self.ft = ft
        self.weights_info = weights_info
        self.generate_text = generate_text

    def predict_image(self, rgb: np.ndarray) -> Prediction:
        """Raw model output on a whole image (MMTT crops are evaluated this way, no face detection)."""
        return self.ft.predict(rgb, generate_text=self.generate_text)

    def analyze_face(self, face: AlignedFace) -> EngineOutput:
        t = time.perf_counter()
        pred = self.predict_image(face.crop)
        heat = _resize_prob(pred.mask, face.crop.shape[0])
        score = float(np.quantile(pred.mask, 0.99))
        meta: dict[str, object] = {
            "quant": self.ft.quant_info.get("quant"), "compute_dtype": self.ft.quant_info.get("compute_dtype"),
            "score_source": SCORE_SOURCE, "selected_region_words": list(pred.selected), "prompt": pred.prompt,
            "mask_grid": int(pred.mask.shape[0]), "timings_s": {k: round(v, 4) for k, v in pred.timings_s.items()},
            "seconds": round(time.perf_counter() - t, 4),
        }
        return EngineOutput(heatmap=heat, score=score, region_words=dict(pred.region_probs), text=pred.text or None, meta=meta,
                            vocabulary=VOCABULARY)

    def info(self) -> dict[str, object]:
        g = self.ft.config.generation
        return {
            "name": self.name, "version": ENGINE_VERSION, "device": self.ft.device, **{k: v for k, v in self.ft.quant_info.items()},
            "generation": {"num_beams": g.num_beams, "max_new_tokens": g.max_new_tokens, "min_length": g.min_length,
                           "repetition_penalty": g.repetition_penalty, "length_penalty": g.length_penalty},
            "region_threshold": self.ft.config.region_threshold, "score_source": SCORE_SOURCE, **self.weights_info,
        }


def build_engine(device: str = "cpu", quant: str | None = None, model: ForgeryTalker | None = None, model_dir: str | Path | None = None,
                 weights_root: str | Path | None = None, generate_text: bool = True, **_ignored: object) -> ForgeryTalkerEngine:
    """Factory behind ``get_engine("forgerytalker", ...)``; heavy imports happen here, not at import time."""
    from .quant import QUANT_MODES, default_quant

    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise DeviceError("--device cuda was requested but no CUDA GPU is visible to torch")
    mode = quant or default_quant(device)
    if mode not in QUANT_MODES:
        raise EngineError(f"unknown --quant {mode!r}; choose one of {', '.join(QUANT_MODES)}")
    if not device.startswith("cuda") and model is None:
        warnings.warn("ForgeryTalker on CPU: this is a ~5B-parameter model; expect minutes per face. Use --device cuda for casework.",
                      RuntimeWarning, stacklevel=2)
    if model is not None:
        return ForgeryTalkerEngine(model, {"weights": "in-memory model (injected)"}, generate_text)
    if model_dir is not None:
        from ...weights import HashedFiles
        from .runtime import WEIGHTS_NAME, load_pretrained

        folder = Path(model_dir)
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise WeightsError(f"{folder}: no {WEIGHTS_NAME}; expected a folder written by ForgeryTalker.save_pretrained")
        # The recorded hash is of the bytes loaded: hashed first, loaded from that descriptor, refused if the file changed meanwhile
        # (it was hashed by name after the load, so a file swapped in between was recorded, not the one that ran).
        with HashedFiles() as held:
            digest = held.sha256(weights)
            ft = _loaded(lambda: load_pretrained(folder, device=device, quant=mode, source=held.source(weights)),
                         f"the converted ForgeryTalker folder {folder}/", "write it again with ForgeryTalker.save_pretrained")
            held.check_unchanged()
        return ForgeryTalkerEngine(ft, {"weights": {WEIGHTS_NAME: digest}, "model_dir": str(folder), "load_report": ft.load_report},
                                   generate_text)
    ft, info = resolve_official(device, mode, Path(weights_root) if weights_root else None)
    return ForgeryTalkerEngine(ft, info, generate_text)
