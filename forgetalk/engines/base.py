"""The engine contract and the engine registry.

An engine looks at one aligned face (512x512 RGB crop plus region masks, see
:class:`forgetalk.faces.AlignedFace`) and returns an :class:`EngineOutput`: a saliency
heatmap in [0, 1] in crop coordinates, optional per-cue maps (the measured evidence the
explanation layer may cite), optional region-word probabilities and free text (for
language models), and a face-level score. Engines never do file I/O on inputs or
outputs; they only read their own weights when built.

Each output also carries the engine's :class:`EngineVocabulary`: how its cues may be
named and judged (label, sidedness, firing threshold) and, for language engines, which
region words name which face regions and how its text is cut into region sentences. The
explanation layer reads only that, so it never imports an engine's internals.

Engines are found through a static table (:data:`BUILTIN_ENGINES`, see
:mod:`forgetalk.registry`): importing this module registers and imports nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from ..registry import Entry, Registry

if TYPE_CHECKING:
    from ..faces import AlignedFace

#: Firing threshold (real-face SDs) for a cue its engine did not describe.
DEFAULT_FIRE_Z = 3.0


@dataclass(frozen=True)
class CueSpec:
    """What may be said about one cue an engine measures, and when it counts as evidence.

    ``reference`` is what the cue's ``cue_region_stats`` compare a region with: ``"face"``,
    the rest of the same face (a region/rest ratio); ``"real_faces"``, the real-face
    distribution (value against the real-face median and 1st/99th percentiles); or
    ``"heat_map"``, a per-pixel heat map in ``EngineOutput.cues`` (0.5 = the engine's pixel
    threshold; heat, not a probability: named so that no sentence built on it calls it one) with
    no per-region statistics.
    """

    name: str
    label: str  # as the report names it, e.g. "blending seam"
    two_sided: bool = False  # True: z counts in both directions (too clean is as odd as too noisy)
    fire_z: float = DEFAULT_FIRE_Z  # the cue "fires" in a region at this strength (real-face SDs)
    reference: Literal["face", "real_faces", "heat_map"] = "face"

    def strength(self, z: float) -> float:
        """Signed z folded by sidedness: what is compared with ``fire_z`` and ranks the cues."""
        return abs(z) if self.two_sided else z


@dataclass(frozen=True)
class EngineVocabulary:
    """How an engine's output may be put into words (empty: nothing beyond numbers)."""

    cues: tuple[CueSpec, ...] = ()
    #: Region word -> the face regions it names (language engines' region-word head).
    word_regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Model text -> {region: the sentences (or clauses) that name it}; None: text is not linked.
    link_sentences: Callable[[str], dict[str, list[str]]] | None = None

    def cue(self, name: str) -> CueSpec:
        """The spec of ``name``; a cue the engine did not describe is one-sided, named as is."""
        for spec in self.cues:
            if spec.name == name:
                return spec
        return CueSpec(name=name, label=name)

    def words_for(self, region: str) -> tuple[str, ...]:
        """Region words that name ``region``, in vocabulary order."""
        return tuple(w for w, regions in self.word_regions.items() if region in regions)

    def with_cues(self, *extra: CueSpec) -> EngineVocabulary:
        """This vocabulary plus ``extra`` cues (an engine that wraps another adds its own)."""
        return replace(self, cues=self.cues + extra)


#: ``meta["threshold_basis"]`` of a face an engine judged against its greyscale threshold (a face
#: with no colour); the verdict says so and reads that threshold's real-face scores.
GREYSCALE_BASIS = "greyscale"


@dataclass(frozen=True)
class RealScoreTail:
    """The calibration's untouched validation items' out-of-fold scores, sorted, and its target
    false-positive rate: how often a real face scores at least a given score."""

    scores: tuple[float, ...]
    target_fpr: float

    @classmethod
    def of(cls, scores: tuple[float, ...], target_fpr: float | None) -> RealScoreTail | None:
        """The tail of ``scores``, or None where a calibration lists no scores or states no target rate."""
        return cls(scores, target_fpr) if scores and target_fpr is not None else None

    def share_at_or_above(self, score: float) -> tuple[int, int]:
        """(real items scoring ``score`` or more, all real items)."""
        return len(self.scores) - bisect_left(self.scores, score), len(self.scores)


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
    vocabulary: EngineVocabulary = field(default_factory=EngineVocabulary, repr=False)  # how to word the above


class Engine(Protocol):
    name: str

    def analyze_face(self, face: AlignedFace) -> EngineOutput:
        ...

    def info(self) -> dict[str, object]:
        """Engine name, version, parameters and weights hashes for the report."""
        ...


EngineFactory = Callable[..., Engine]

#: The built-in engines: name -> factory and the line ``forgetalk engines`` prints.
BUILTIN_ENGINES: Mapping[str, Entry] = {
    "evidence": Entry("forgetalk.engines.evidence.engine:EvidenceEngine",
                      "calibrated forensic cues only (noise, sharpness, frequency, colour, seams); CPU, <1 s"),
    "forgerytalker": Entry("forgetalk.engines.forgerytalker.engine:build_engine",
                           "ForgeryTalker/DFF: InstructBLIP-FlanT5-XL + Face-ViT prompter + mask decoder; mask, region words and report (GPU, nf4)"),
    "fused": Entry("forgetalk.engines.fused:FusedEngine",
                   "learned localizer (trained by the project on pseudo-forgeries) fused with the evidence cues; calibrated verdict"),
}
_ENGINES: Registry[Engine] = Registry("engine", BUILTIN_ENGINES)


def add_engine(name: str, factory: str | EngineFactory, description: str = "") -> None:
    """Make a plugin's or a test's engine available to :func:`get_engine` in this process.

    ``factory`` is ``"package.module:callable"`` (imported when the engine is first built) or
    the callable itself. Scan workers repeat it by importing the plugin module (``--preload``).
    """
    _ENGINES.add(name, factory, description)


def register_engine(name: str, description: str = "") -> Callable[[EngineFactory], EngineFactory]:
    """``register_engine(name, description)(factory)``: the decorator form of :func:`add_engine`,
    kept for plugins written against it. It adds the engine when called, nothing more."""

    def deco(factory: EngineFactory) -> EngineFactory:
        add_engine(name, factory, description)
        return factory

    return deco


def added_engines() -> Mapping[str, Entry]:
    """Engines added at run time (plugins, tests); empty unless someone called :func:`add_engine`."""
    return _ENGINES.added


def available_engines() -> dict[str, str]:
    """Name -> description of every engine, built in or added; imports nothing."""
    return {name: entry.description for name, entry in _ENGINES.entries().items()}


def warn_ignored_options(engine: str, options: Mapping[str, object]) -> None:
    """Say when a CPU engine is given an option meant for model engines (``--quant``): it took the
    option and ran without it, silently, so an analyst could believe a report was made at nf4."""
    if options.get("quant"):
        import warnings

        warnings.warn(f"--quant {options['quant']} applies to model engines (forgerytalker); the {engine} engine ignores it",
                      RuntimeWarning, stacklevel=3)


def require_engine(name: str) -> None:
    """Refuse (UnknownNameError, exit 2) an engine name that is not registered, without building it."""
    _ENGINES.require(name)


def get_engine(name: str, **kwargs: object) -> Engine:
    """Build engine ``name`` (its module is imported now, on first use); UnknownNameError if none."""
    return _ENGINES.create(name, **kwargs)
