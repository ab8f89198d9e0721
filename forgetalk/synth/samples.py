"""Public-domain test faces, aligned once per process.

Why: tests and examples need a real face with real FaceMesh landmarks, and must never use
the project's development photos. Grace Hopper (US Navy photo, public domain) is in the
repository's examples/ and inside matplotlib's wheel; the flipped copy is a second "person" aligned to the same template.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..faces.base import AlignedFace


def grace_hopper_path() -> Path:
    """The copy in the repository's examples/ (no extra dependency), else matplotlib's."""
    local = Path(__file__).resolve().parents[2] / "examples" / "grace_hopper.jpg"
    if local.is_file():
        return local
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@lru_cache(maxsize=4)
def public_domain_face(flip: bool = False) -> AlignedFace:
    """Grace Hopper's aligned face (optionally from the horizontally flipped photo)."""
    from ..faces import get_backend
    from ..io import load_image

    rgb = load_image(grace_hopper_path()).rgb
    if flip:
        rgb = np.ascontiguousarray(rgb[:, ::-1])
    backend = get_backend("default")
    faces = backend.align(rgb, backend.detect(rgb)[:1])
    if not faces or faces[0].dense_landmarks is None:  # pragma: no cover - depends on the mediapipe wheel
        raise RuntimeError("no dense landmarks on the public-domain test face")
    return faces[0]
