"""Face data types, the region vocabulary and the backend registry.

A backend turns an RGB photo into :class:`AlignedFace` objects: a detection in photo
coordinates, a 512x512 FFHQ-aligned crop, the affine that maps photo -> crop, and boolean
region masks in crop coordinates. Engines only ever see aligned faces, so every backend
is interchangeable for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import UnknownNameError

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
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    def deco(factory: BackendFactory) -> BackendFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def _ensure_builtin() -> None:
    # Imported lazily so that `import forgetalk` stays cheap and optional stacks stay optional.
    from . import default_backend  # noqa: F401

    try:
        from . import facexlib_backend  # noqa: F401
    except ImportError:  # pragma: no cover - module itself has no heavy imports
        pass


def available_backends() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY)


def get_backend(name: str = "default", **kwargs: object) -> FaceBackend:
    _ensure_builtin()
    if name not in _REGISTRY:
        raise UnknownNameError(f"unknown face backend {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)
