"""A fixed, seeded set of forged and untouched faces for calibration and benchmarks.

Why shared: validation (fusion weight, threshold) and the test benchmark must use the
same forgery protocol, so numbers measured on one mean the same on the other. Donors for
region swaps come from the same split only, so test forgeries never contain a pixel of a
training face.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from ..faces.align import FACE_PX_AT_512
from ..faces.base import AlignedFace, DetectedFace
from ..faces.regions import regions_from_mesh
from ..synth import FaceRecord, random_forgery
from ..synth.chain import CROP_REF, ChainParams
from ..synth.generate import jpeg_recompress

#: Region truth for ranking: regions covered at least this fraction of the best-covered one.
PRIMARY_RELATIVE = 0.5


def primary_regions(coverage: dict[str, float], floor: float = 0.2) -> tuple[str, ...]:
    """The regions an analyst should be pointed to: the most-covered region and any covered nearly as much."""
    if not coverage:
        return ()
    top = max(coverage.values())
    if top <= 0:
        return ()
    cut = max(PRIMARY_RELATIVE * top, min(floor, top))
    return tuple(sorted((k for k, v in coverage.items() if v >= cut), key=lambda k: -coverage[k]))


@dataclass(frozen=True)
class EvalItem:
    face: AlignedFace = field(repr=False)
    mask: np.ndarray = field(repr=False)  # bool (512, 512); all False for real faces
    fake: bool
    kind: str
    target: str
    primary: tuple[str, ...]
    photo: str
    jpeg_quality: int | None
    copy: int = 0  # which untouched copy of its face (0 for forgeries and the first copy)
    native_px: int = 512  # the face's size in its post-edit chain (resampled to it and back; 512 = not resampled)


def aligned_from_record(rec: FaceRecord, crop: np.ndarray, face_px: float, index: int = 0) -> AlignedFace:
    """An AlignedFace around a (possibly forged) crop, with the regions of the real face it came from."""
    iod = face_px / 2.5
    lm5 = np.array([[0, 0], [iod, 0], [iod / 2, iod / 2], [0, iod], [iod, iod]], np.float32)
    det = DetectedFace(box=(0.0, 0.0, float(face_px), float(face_px)), score=1.0, landmarks5=lm5)
    eye = np.eye(2, 3)
    return AlignedFace(index=index, detection=det, crop=crop, matrix=eye, inverse=eye, regions=rec.regions, face_mask=rec.face_mask, dense_landmarks=rec.landmarks)


#: Dense landmarks of a crop as the product finds them (the face backend's FaceMesh on the aligned
#: crop, ``RetinaMeshBackend.dense_landmarks``), or None where FaceMesh finds no face.
LandmarksOf = Callable[[np.ndarray], "np.ndarray | None"]


def product_landmarks() -> LandmarksOf:
    """The landmarks function an analysis uses: the default face backend's FaceMesh on the
    aligned crop (the calibration and both benchmarks measure their items with it)."""
    from ..faces import get_backend

    return get_backend("default").dense_landmarks


def relandmarked(face: AlignedFace, landmarks_of: LandmarksOf) -> tuple[AlignedFace, bool]:
    """``face`` with landmarks, regions and face oval measured again on its own (edited, chained) crop.

    Why: an analyst's run finds the landmarks on the photo it is given, so a pasted part that is
    too large, a liquified eye or a shifted mouth moves them; the real face's landmarks, which an
    item carries otherwise, hide every such change from the geometry cues (part size and offset,
    eye symmetry), whose AUC on the validation items was then exactly 0.5. Returns the face
    unchanged, and False, where FaceMesh finds no face on the crop.
    """
    found = landmarks_of(face.crop)
    if found is None:
        return face, False
    dense = np.asarray(found, np.float32)
    regions, oval = regions_from_mesh(dense, face.crop.shape[0])
    return replace(face, regions=regions, face_mask=oval, dense_landmarks=dense), True


def greyscale_crop(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as a greyscale photo decodes: ITU-R 601 luma (PIL's "L") in all three channels (pure)."""
    luma = np.rint(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).clip(0, 255).astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=2)


def greyscale_item(item: EvalItem, landmarks_of: LandmarksOf | None) -> tuple[EvalItem, bool]:
    """``item`` with its crop made greyscale after its chain, then its landmarks measured on that
    crop as an analysis of a greyscale photo would (kept when ``landmarks_of`` is None); the flag is
    False where FaceMesh found no face on the grey crop. Why: the colour calibration's threshold
    caught 7 % of grey forgeries instead of 19 % (grey faces score lower, untouched ones included),
    so the calibration sets a threshold of its own on grey copies of its items, and the localization
    benchmark measures grey photos with the same items."""
    face = replace(item.face, crop=greyscale_crop(item.face.crop))
    ok = True
    if landmarks_of is not None:
        face, ok = relandmarked(face, landmarks_of)
    return replace(item, face=face), ok


def face_name(face: object) -> str:
    """Source photo of a cached face (CachedFace.photo) or parsing-set stem (ParsedFace.name)."""
    return str(getattr(face, "photo", None) or getattr(face, "name", ""))


def chain_face_px(face_px: float, params: ChainParams) -> float:
    """The face's size in the photo an item stands for (``DetectedFace.size``, what an analysis
    reads as the face's native size): a chain that resampled the crop to ``native_px`` made it a
    face of that crop size, unless the source face was smaller still."""
    if not params.resample:
        return float(face_px)
    return min(float(face_px), params.native_px * FACE_PX_AT_512 / CROP_REF)


def _untouched_item(face, rec: FaceRecord, rng: np.random.Generator, copy: int = 0) -> EvalItem:  # noqa: ANN001 - CachedFace | ParsedFace
    """The untouched copy of a face through one drawn post-edit chain (one ``draw_chain`` call)."""
    from ..synth.chain import apply_chain, draw_chain

    cp = draw_chain(rng)
    return EvalItem(aligned_from_record(rec, apply_chain(rec.crop, cp), chain_face_px(face.face_px, cp)), np.zeros(rec.crop.shape[:2], bool), False, "real", "", (), face_name(face),
                    cp.jpeg[-1] if cp.jpeg else None, copy, cp.native_px)


def untouched_eval_items(faces: list, seed: int, size: int = 512, landmarks_of: LandmarksOf | None = None) -> list[EvalItem]:  # noqa: ANN001
    """Only the untouched copies, each through its own seeded chain (region calibrations);
    ``landmarks_of`` as in :func:`build_family_eval_set`."""
    rng = np.random.default_rng(seed)
    items = [_untouched_item(f, FaceRecord.from_crop(f.crop, f.landmarks, size, getattr(f, "parts", None)), rng) for f in faces]
    if landmarks_of is not None:
        items = [replace(it, face=relandmarked(it.face, landmarks_of)[0]) for it in items]
    return items


def build_family_eval_set(faces: list, seed: int, families: tuple[str, ...], forgeries_per_face: int = 2, size: int = 512,  # noqa: ANN001
                          balanced: bool = False, untouched_per_face: int = 1, landmarks_of: LandmarksOf | None = None,
                          log: Callable[[str], None] | None = None) -> list[EvalItem]:
    """Like :func:`build_eval_set` for the v2 families: per face ``untouched_per_face`` untouched
    copies and ``forgeries_per_face`` forgeries, each (real copies included) through its own
    post-edit chain, so resolution and compression are spread alike over real and forged items.
    More than one untouched copy gives a verdict threshold more real scores to stand on (each copy
    a different resize/JPEG/sharpen/noise chain); with the default of one, the draws are those of
    earlier versions.

    ``balanced=False`` draws each forgery's family at random (the validation set of
    :mod:`forgetalk.train.calibrate`; its draws are unchanged). ``balanced=True`` assigns
    families round-robin over the whole set from a seeded offset, so every family gets the same
    count within one, and a face with ``forgeries_per_face == len(families)`` gets each family
    once (the test benchmark, ``benchmarks/localization.py``).

    ``landmarks_of`` (the product's FaceMesh): every item, untouched copies included, gets its
    landmarks, regions and oval measured on its own final crop (:func:`relandmarked`), as an
    analysis would; items where FaceMesh finds no face keep the real face's (counted in ``log``).
    The draws do not depend on it. None: every item carries its real face's (earlier versions).
    """
    counts = [0, 0]  # items, items whose landmarks were kept (FaceMesh found no face)
    items = list(iter_family_eval_set(faces, seed, families, forgeries_per_face, size, balanced, untouched_per_face, landmarks_of, counts))
    if landmarks_of is not None and log:
        log(f"[evalset] landmarks re-measured on {counts[0] - counts[1]} of {counts[0]} items ({counts[1]} kept the real face's: FaceMesh found no face)")
    return items


def iter_family_eval_set(faces: list, seed: int, families: tuple[str, ...], forgeries_per_face: int = 2, size: int = 512,  # noqa: ANN001
                         balanced: bool = False, untouched_per_face: int = 1, landmarks_of: LandmarksOf | None = None,
                         counts: list[int] | None = None) -> Iterator[EvalItem]:
    """:func:`build_family_eval_set`'s items one at a time, in the same order with the same draws
    (the landmarks are measured as each item is made; that draws nothing).

    Why: a benchmark that holds every item holds every 512 px crop with its masks, about 5 MB an
    item: three items a face of every family on the 176 test faces peaked at 22 GB of a 23 GB
    machine. Consumed one at a time, only the current face's are in memory. ``counts`` (optional,
    [items, items that kept the real face's landmarks]) is updated as they are made."""
    from ..synth.chain import apply_chain, draw_chain
    from ..synth.families import random_sample

    if not families:
        raise ValueError("no forgery families given")
    tally = counts if counts is not None else [0, 0]

    def finish(it: EvalItem) -> EvalItem:
        tally[0] += 1
        if landmarks_of is None:
            return it
        face, ok = relandmarked(it.face, landmarks_of)
        tally[1] += not ok
        return replace(it, face=face)

    rng = np.random.default_rng(seed)
    cursor = int(rng.integers(0, len(families))) if balanced else 0
    recs = [FaceRecord.from_crop(f.crop, f.landmarks, size, getattr(f, "parts", None)) for f in faces]
    for f, rec in zip(faces, recs, strict=True):
        donors = [r for r in recs if r is not rec]
        name = face_name(f)
        for copy in range(untouched_per_face):
            yield finish(_untouched_item(f, rec, rng, copy))
        for _ in range(forgeries_per_face):
            if balanced:
                fam = families[cursor % len(families)]
                cursor += 1
            else:
                fam = families[int(rng.integers(0, len(families)))]
            smp = random_sample(rec, rng, donors, (fam,), None)
            cp = draw_chain(rng)
            img = apply_chain(smp.image, cp)
            yield finish(EvalItem(aligned_from_record(rec, img, chain_face_px(f.face_px, cp)), smp.mask, True, smp.kind, smp.target, primary_regions(smp.coverage), name,
                                  cp.jpeg[-1] if cp.jpeg else None, native_px=cp.native_px))


def build_eval_set(faces: list, seed: int, forgeries_per_face: int = 3, p_jpeg: float = 0.7, size: int = 512) -> list[EvalItem]:  # noqa: ANN001 - list[CachedFace]
    """For each face: one untouched copy and ``forgeries_per_face`` forgeries (same JPEG protocol for both)."""
    rng = np.random.default_rng(seed)
    recs = [FaceRecord.from_crop(f.crop, f.landmarks, size) for f in faces]
    items: list[EvalItem] = []
    for f, rec in zip(faces, recs, strict=True):
        donors = [r for r in recs if r is not rec] or None
        img = rec.crop
        q = None
        if rng.random() < p_jpeg:
            q = int(rng.integers(60, 97))
            img = jpeg_recompress(img, q)
        items.append(EvalItem(aligned_from_record(rec, img, f.face_px), np.zeros(img.shape[:2], bool), False, "real", "", (), f.photo, q))
        for _ in range(forgeries_per_face):
            smp = random_forgery(rec, rng, donors, p_real=0.0, p_jpeg=p_jpeg)
            items.append(EvalItem(aligned_from_record(rec, smp.image, f.face_px), smp.mask, True, smp.kind, smp.target, primary_regions(smp.coverage), f.photo, smp.jpeg_quality))
    return items
