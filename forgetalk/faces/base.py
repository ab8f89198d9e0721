"""Face data types, the region vocabulary and the backend registry.

A backend turns an RGB photo into :class:`AlignedFace` objects: a detection in photo
coordinates, a 512x512 FFHQ-aligned crop, the affine that maps photo -> crop, and boolean
region masks in crop coordinates. Engines only ever see aligned faces, so every backend
is interchangeable for them.

Backends are found through a static table (:data:`BUILTIN_BACKENDS`, see
:mod:`forgetalk.registry`): this module imports no backend, and no backend registers itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..registry import Entry, Registry

CROP_SIZE = 512

#: Region names in display order; masks use these keys. Left/right are the *subject's*.
REGION_NAMES: tuple[str, ...] = (
    "left_eye",
    "right_eye",
    "left_brow",
    "right_brow",
    "nose",
    "mouth",
    "left_cheek",
    "right_cheek",
    "forehead",
    "chin_jaw",
    "face_boundary",
    "skin",
    "hair",
)
#: The regions that are skin areas rather than facial features (in this order: the retouch
#: family draws from it by index). "skin" is the rest of the face's skin, beside them.
SKIN_AREAS: tuple[str, ...] = ("left_cheek", "right_cheek", "forehead", "chin_jaw")

REGION_LABELS: dict[str, str] = {
    "left_eye": "left eye",
    "right_eye": "right eye",
    "left_brow": "left eyebrow",
    "right_brow": "right eyebrow",
    "nose": "nose",
    "mouth": "lips / mouth",
    "left_cheek": "left cheek",
    "right_cheek": "right cheek",
    "forehead": "forehead",
    "chin_jaw": "chin / jaw",
    "face_boundary": "face boundary",
    "skin": "facial skin",
    "hair": "hair",
}


@dataclass(frozen=True)
class DetectedFace:
    """A detection in photo pixel coordinates; landmarks5 = eyes (image-left first), nose, mouth corners."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks5: np.ndarray = field(repr=False)  # (5, 2) float32
    #: Quarter turns (``np.rot90``) of the photo on which this face's landmarks were found: 0 as
    #: detected; otherwise a face lying on its side, detected again upright (:mod:`.upright`).
    turned: int = 0
    #: Degrees a copy of the face's surroundings was turned (counter-clockwise) to read its
    #: landmarks level: 0 as detected; otherwise a tilted face (:func:`.upright.levelled`).
    levelled: float = 0.0

    @property
    def size(self) -> float:
        """Face size in photo pixels (inter-ocular distance x 2.5, robust to loose boxes)."""
        eyes = self.landmarks5[:2]
        iod = float(np.linalg.norm(eyes[1] - eyes[0]))
        return max(iod * 2.5, 1.0)


@dataclass(frozen=True)
class AlignedFace:
    """A face warped to the canonical crop, with everything needed to map results back."""

    index: int
    detection: DetectedFace
    crop: np.ndarray = field(repr=False)  # (512, 512, 3) uint8 RGB
    matrix: np.ndarray = field(repr=False)  # (2, 3) photo -> crop affine
    inverse: np.ndarray = field(repr=False)  # (2, 3) crop -> photo affine
    regions: dict[str, np.ndarray] = field(repr=False)  # name -> bool (512, 512)
    face_mask: np.ndarray = field(repr=False)  # bool (512, 512): whole face oval
    dense_landmarks: np.ndarray | None = field(default=None, repr=False)  # (N, 2) crop coords
    notes: tuple[str, ...] = ()
    #: Share of the face oval outside the photo (:func:`.align.outside_share`); 0 for a face the
    #: photo holds whole.
    outside_share: float = 0.0


class FaceBackend(Protocol):
    """What the pipeline needs from a face stack."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """All faces in an RGB photo, largest first."""
        ...

    def align(self, rgb: np.ndarray, faces: list[DetectedFace]) -> list[AlignedFace]:
        """Aligned crops and region masks for the given detections."""
        ...

    def info(self) -> dict[str, object]:
        """Versions and weights hashes for the report."""
        ...


BackendFactory = Callable[..., FaceBackend]

#: The built-in face stacks: name -> factory (imported only when that backend is asked for).
BUILTIN_BACKENDS: Mapping[str, Entry] = {
    "default": Entry("forgetalk.faces.default_backend:RetinaMeshBackend"),
    "facexlib": Entry("forgetalk.faces.facexlib_backend:FacexlibBackend"),
}
_BACKENDS: Registry[FaceBackend] = Registry("face backend", BUILTIN_BACKENDS)


def add_backend(name: str, factory: str | BackendFactory) -> None:
    """Make a plugin's or a test's face backend available to :func:`get_backend` in this process.

    ``factory`` is ``"package.module:callable"`` (imported when first built) or the callable.
    """
    _BACKENDS.add(name, factory)


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """``register_backend(name)(factory)``: the decorator form of :func:`add_backend`, kept for
    plugins written against it. It adds the backend when called, nothing more."""

    def deco(factory: BackendFactory) -> BackendFactory:
        add_backend(name, factory)
        return factory

    return deco


def added_backends() -> Mapping[str, Entry]:
    """Backends added at run time (plugins, tests); empty unless someone called :func:`add_backend`."""
    return _BACKENDS.added


def available_backends() -> list[str]:
    """Every backend name, built in or added; imports nothing."""
    return list(_BACKENDS.entries())


def require_backend(name: str) -> None:
    """Refuse (UnknownNameError, exit 2) a face backend name that is not registered, without building it."""
    _BACKENDS.require(name)


def get_backend(name: str = "default", **kwargs: object) -> FaceBackend:
    """Build backend ``name`` (its module is imported now, on first use); UnknownNameError if none."""
    return _BACKENDS.create(name, **kwargs)
