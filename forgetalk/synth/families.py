"""Registry of forgery families: stable name -> generator ``(rec, rng, donors) -> SynthSample``.

Training mixes and leave-one-family-out benchmarks pick families by these names, so the names
are part of recorded recipes and must not change. The registry is a plain dict literal (no
import-time registration); every entry has the same signature, and families that need another
face pick one from ``donors`` (:func:`forgetalk.synth.parts.pick_donor`), falling back to a
resampled, re-coloured copy of the host when none is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .eyes import eye_colour
from .generate import FaceRecord, SynthSample, local_smoothing, region_swap, self_blend
from .parts import part_swap, pick_donor, self_donor
from .photo import mirrored_copy
from .retouch import inpaint, retouch
from .warps import liquify

Generator = Callable[[FaceRecord, np.random.Generator, Sequence[FaceRecord] | None], SynthSample]

#: A sample whose mask covers less than this fraction of the crop is redrawn.
MIN_MASK_FRACTION = 0.001


def _self_blend(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    return self_blend(rec, rng)


def _region_swap(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    donor = pick_donor(rec, donors, rng, same_pose_prob=0.5) or self_donor(rec, rng)
    return region_swap(rec, donor, rng)


def _local_smoothing(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    return local_smoothing(rec, rng)


def _part_swap(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    return part_swap(rec, rng, donors)


def _liquify(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    return liquify(rec, rng)


def _retouch(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    return retouch(rec, rng)


def _inpaint(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    return inpaint(rec, rng)


def _eye_colour(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    return eye_colour(rec, rng)


def _mirrored_copy(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    return mirrored_copy(rec, rng)


FAMILIES: dict[str, Generator] = {
    "self_blend": _self_blend,
    "region_swap": _region_swap,
    "local_smoothing": _local_smoothing,
    "part_swap": _part_swap,
    "liquify": _liquify,
    "retouch": _retouch,
    "inpaint": _inpaint,
    "eye_colour": _eye_colour,
    # never trained on (forgetalk.train.loop.GUARD_FAMILIES): guard checks and benchmark only
    "mirrored_copy": _mirrored_copy,
}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)


def retouch_local(rec: FaceRecord, rng: np.random.Generator, donors: Sequence[FaceRecord] | None = None) -> SynthSample:
    """The ``retouch`` family with its smoothing brushes on one skin area only (``retouch(all_skin=False)``)."""
    return retouch(rec, rng, all_skin=False)


def random_sample(
    rec: FaceRecord,
    rng: np.random.Generator,
    donors: Sequence[FaceRecord] | None,
    families: Sequence[str] = FAMILY_NAMES,
    weights: Sequence[float] | None = None,
    tries: int = 8,
    overrides: Mapping[str, Generator] | None = None,
) -> SynthSample:
    """A forgery from one of ``families`` (drawn with ``weights``, uniform if None).

    A sample whose mask is nearly empty (< ``MIN_MASK_FRACTION`` of the crop: a perturbation
    too weak to change pixels) is redrawn, family included; after ``tries`` draws the one with
    the largest mask is returned. ``overrides`` replaces the generator of a named family (the
    trainer's local-only retouch, ``retouch_local``), keeping its name, weight and draws.
    """
    names = list(families)
    if not names:
        raise ValueError("no families to draw from")
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown forgery families {unknown}; known: {', '.join(FAMILY_NAMES)}")
    if weights is None:
        p = np.full(len(names), 1.0 / len(names))
    else:
        if len(weights) != len(names):
            raise ValueError("weights and families differ in length")
        p = np.asarray(weights, np.float64)
        if (p < 0).any() or p.sum() <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        p = p / p.sum()
    best: SynthSample | None = None
    for _ in range(max(1, tries)):
        name = names[int(rng.choice(len(names), p=p))]
        smp = (overrides or {}).get(name, FAMILIES[name])(rec, rng, donors)
        if smp.mask.sum() >= MIN_MASK_FRACTION * smp.mask.size:
            return smp
        if best is None or smp.mask.sum() > best.mask.sum():
            best = smp
    assert best is not None
    return best
