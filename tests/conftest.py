"""Shared fixtures: public-domain faces and hostile files generated at test time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
GRACE = REPO / "examples" / "grace_hopper.jpg"  # US Navy photo, public domain


@pytest.fixture(scope="session")
def grace_path() -> Path:
    return GRACE


@pytest.fixture(scope="session")
def grace_rgb() -> np.ndarray:
    return np.asarray(Image.open(GRACE).convert("RGB"))


@pytest.fixture(scope="session")
def default_backend():
    from forgetalk.faces import get_backend

    return get_backend("default")
