"""Face detection, alignment and region masks behind a backend registry."""

from .base import (
    CROP_SIZE,
    REGION_LABELS,
    REGION_NAMES,
    SKIN_AREAS,
    AlignedFace,
    DetectedFace,
    FaceBackend,
    add_backend,
    available_backends,
    get_backend,
    register_backend,
)

__all__ = [
    "CROP_SIZE",
    "REGION_LABELS",
    "REGION_NAMES",
    "SKIN_AREAS",
    "AlignedFace",
    "DetectedFace",
    "FaceBackend",
    "add_backend",
    "available_backends",
    "get_backend",
    "register_backend",
]
