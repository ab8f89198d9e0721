"""The engine contract and registry.

An engine looks at one aligned face (512x512 RGB crop plus region masks, see
:class:`forgetalk.faces.AlignedFace`) and returns an :class:`EngineOutput`: a saliency
heatmap in [0, 1] in crop coordinates, optional per-cue maps (the measured evidence the
explanation layer may cite), optional region-word probabilities and free text (for
language models), and a face-level score. Engines never do file I/O on inputs or
outputs; they only read their own weights when built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import UnknownNameError

if TYPE_CHECKING:
    from ..faces import AlignedFace


@dataclass(frozen=True)
class EngineOutput:
    """Everything an engine measured on one face."""

    heatmap: np.ndarray = field(repr=False)  # float32 (512, 512) in [0, 1], crop coords
    score: float  # face-level suspicion in [0, 1] (calibrated where the engine says so)
    cues: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # name -> float32 (512,512), >= 0, ~1 = face baseline
    cue_region_stats: dict[str, dict[str, float]] = field(default_factory=dict)  # cue -> region -> measured value
    region_scores: dict[str, float] = field(default_factory=dict)  # engine's own per-region score, if any
    region_words: dict[str, float] = field(default_factory=dict)  # ForgeryTalker's 21-word probabilities
    text: str | None = None  # model-written explanation, if any
    meta: dict[str, object] = field(default_factory=dict)


class Engine(Protocol):
    name: str

    def analyze_face(self, face: AlignedFace) -> EngineOutput:
        ...

    def info(self) -> dict[str, object]:
        """Engine name, version, parameters and weights hashes for the report."""
        ...


EngineFactory = Callable[..., Engine]
_REGISTRY: dict[str, EngineFactory] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register_engine(name: str, description: str = "") -> Callable[[EngineFactory], EngineFactory]:
    def deco(factory: EngineFactory) -> EngineFactory:
        _REGISTRY[name] = factory
        _DESCRIPTIONS[name] = description
        return factory

    return deco


def _ensure_builtin() -> None:
    # Lazy so that heavy engines (torch, transformers) load only when asked for.
    import importlib

    for mod in ("evidence", "fused", "forgerytalker"):
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"{__package__}.{mod}"):
                continue  # engine not part of this build
            raise


def available_engines() -> dict[str, str]:
    _ensure_builtin()
    return dict(sorted(_DESCRIPTIONS.items()))


def get_engine(name: str, **kwargs: object) -> Engine:
    _ensure_builtin()
    if name not in _REGISTRY:
        raise UnknownNameError(f"unknown engine {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)
