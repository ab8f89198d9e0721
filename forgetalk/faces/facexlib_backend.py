"""Optional face stack on facexlib: RetinaFace detection + FFHQ alignment + BiSeNet parsing.

Why it exists beside the default backend: face *parsing* gives pixel-accurate eyes, brows,
nose, lips and skin, and it is the only source of a **hair** mask. The price is weights the
user must place by hand in ``weights/facexlib/`` (no registry package ships them) and the
optional ``requirements-facexlib.txt`` install.

Safety and offline rules, all enforced here rather than left to facexlib:

* weights are located and their SHA-256 checked through :mod:`forgetalk.weights` *before*
  facexlib is imported or called, so a missing file is our one-line :class:`WeightsError`
  (file, folder, sha256) and never facexlib's downloader;
* facexlib's ``init_*_model`` helpers are not used at all: they default to ``cuda``, call
  ``load_file_from_url`` and unpickle with plain ``torch.load``. We build facexlib's model
  classes ourselves and load ``torch.load(..., weights_only=True)`` state_dicts into them
  with ``strict=True`` on an explicit device;
* torchvision (which facexlib imports) is made importable on CPU-only torch by
  :mod:`forgetalk.faces._tvshim` when its compiled extension cannot load.

Alignment is :mod:`forgetalk.faces.align`, identical to the default backend, so crops and
engines are interchangeable between backends.
"""

from __future__ import annotations

import importlib.metadata as md
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import EngineError, WeightsError
from ..weights import file_sha256, load_manifest, resolve, weights_root
from .align import crop_detection, outside_share, restrict_to_valid
from .base import CROP_SIZE, AlignedFace, DetectedFace
from .regions import BISENET_CLASSES, parsing_face_fraction, regions_from_5pts, regions_from_parsing
from .upright import detect_any_way_up

COMPONENT = "facexlib"

#: facexlib model name -> (weights file, facexlib RetinaFace network_name).
DETECTORS: dict[str, tuple[str, str]] = {
    "retinaface_resnet50": ("detection_Resnet50_Final.pth", "resnet50"),
    "retinaface_mobile0.25": ("detection_mobilenet0.25_Final.pth", "mobile0.25"),
}
#: Parsing nets supported here. ParseNet is left out on purpose: ~4 s per face on 2 CPU cores.
PARSERS: dict[str, str] = {"bisenet": "parsing_bisenet.pth"}

INSTALL_HINT = (
    "the 'facexlib' face backend needs the optional facexlib stack: "
    "pip install -r requirements-facexlib.txt (pins torchvision to match torch 2.13 so the CPU torch is kept)"
)

#: Below this fraction of the geometric oval, the parse is treated as failed (occlusion, profile).
MIN_PARSE_FRACTION = 0.25
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _version(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "absent"


# -- weights ---------------------------------------------------------------------------------


def resolve_weight(name: str, root: Path | None = None, verify: bool = True) -> tuple[Path, str | None]:
    """Path of a weights file and its pinned sha256 (None if unpinned), or a WeightsError.

    :func:`forgetalk.weights.resolve` decides (existence, sha256 of pinned files and of the
    ones ``weights fetch`` recorded); facexlib's release page publishes no hashes, so some
    entries are unpinned, and ``info()`` then reports the file's actual hash.
    """
    path = resolve(COMPONENT, name, root, verify=verify)
    return path, load_manifest(COMPONENT, root).get(name).sha256


def load_state_dict(path: Path) -> dict[str, Any]:
    """A plain tensor state_dict, unpickled with ``weights_only=True``; strips DataParallel's ``module.``."""
    import torch

    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise WeightsError(f"{path}: not a plain PyTorch state_dict that loads with weights_only=True ({str(exc).splitlines()[0]})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsError(f"{path}: expected a state_dict, found {type(sd).__name__}")
    return OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in sd.items())


def _load_into(model: Any, path: Path) -> Any:
    try:
        model.load_state_dict(load_state_dict(path), strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: does not match the facexlib architecture ({str(exc).splitlines()[0]})") from None
    return model.eval()


def _default_detector(root: Path | None) -> str:
    """R50 (accurate) when its file is present, else mobile0.25 if that one is; else R50 (its error)."""
    folder = (root or weights_root()) / COMPONENT
    for name, (fname, _) in DETECTORS.items():
        if (folder / fname).is_file():
            return name
    return "retinaface_resnet50"


def _import_facexlib() -> str:
    """Import facexlib (after the torchvision shim) or raise EngineError with the install hint."""
    try:
        from . import _tvshim

        mode = _tvshim.ensure_torchvision()
        import facexlib  # noqa: F401
    except ImportError as exc:
        raise EngineError(f"{INSTALL_HINT} ({exc})") from None
    except RuntimeError as exc:  # torchvision import failed even with the shim
        raise EngineError(f"{INSTALL_HINT}; torchvision failed to import: {exc}") from None
    return mode


# -- backend ---------------------------------------------------------------------------------


class FacexlibBackend:
    """RetinaFace (R50 or mobile0.25) + FFHQ 5-point alignment + BiSeNet regions, on an explicit device."""

    name = "facexlib"

    def __init__(
        self,
        detector: str | None = None,
        parser: str = "bisenet",
        device: str = "cpu",
        score_threshold: float = 0.8,
        nms_threshold: float = 0.4,
        max_faces: int = 32,
        max_side: int = 1600,
        weights_dir: str | Path | None = None,
        verify: bool = True,
        **_: object,
    ) -> None:
        self._root = Path(weights_dir) if weights_dir is not None else None
        if detector is None:
            detector = _default_detector(self._root)
        if detector not in DETECTORS:
            raise EngineError(f"unknown facexlib detector {detector!r}; choose from {', '.join(DETECTORS)}")
        if parser not in PARSERS:
            raise EngineError(f"unknown facexlib parser {parser!r}; choose from {', '.join(PARSERS)}")
        self.detector_name = detector
        self.parser_name = parser
        self.device = str(device)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_faces = int(max_faces)
        self.max_side = int(max_side)
        # Weights first: a missing file must be our message, before any facexlib import.
        self._det_path, self._det_sha = resolve_weight(DETECTORS[detector][0], self._root, verify)
        self._parse_path, self._parse_sha = resolve_weight(PARSERS[parser], self._root, verify)
        self._tv_mode = _import_facexlib()
        self._det: Any = None
        self._parse: Any = None

    # -- models ------------------------------------------------------------------------
    def _torch_device(self) -> Any:
        import torch

        return torch.device(self.device)

    def detection_model(self) -> Any:
        if self._det is None:
            from facexlib.detection.retinaface import RetinaFace

            dev = self._torch_device()
            with warnings.catch_warnings():  # torchvision's resnet50(pretrained=False) deprecation noise
                warnings.simplefilter("ignore")
                net = RetinaFace(network_name=DETECTORS[self.detector_name][1], half=False, phase="test", device=dev)
            self._det = _load_into(net, self._det_path).to(dev)
        return self._det

    def parsing_model(self) -> Any:
        if self._parse is None:
            from facexlib.parsing.bisenet import BiSeNet

            self._parse = _load_into(BiSeNet(num_class=19), self._parse_path).to(self._torch_device())
        return self._parse

    # -- detection ---------------------------------------------------------------------
    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Faces, largest first, whichever way up (:mod:`.upright`): one lying on its side gets its
        landmarks from a copy of the photo turned upright. Without the check for an upside-down
        face read as upright, and without levelling tilted faces: both were measured on the default
        detector (RetinaFace-mobilenet in ONNX), not on this one, whose weights are not here."""
        return detect_any_way_up(self._detect_as_is, rgb, half_turn_check=False, level=False)

    def _detect_as_is(self, rgb: np.ndarray) -> list[DetectedFace]:
        import torch

        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / float(max(h, w)))
        img = rgb if scale >= 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(img[:, :, ::-1])  # RetinaFace subtracts BGR means
        with torch.inference_mode():
            dets = self.detection_model().detect_faces(bgr, conf_threshold=self.score_threshold, nms_threshold=self.nms_threshold, use_origin_size=True)
        out: list[DetectedFace] = []
        for row in np.asarray(dets, dtype=np.float32).reshape(-1, 15):
            box = row[:4] / scale
            lm = (row[5:15].reshape(5, 2) / scale).astype(np.float32)
            out.append(DetectedFace(box=tuple(float(v) for v in box), score=float(row[4]), landmarks5=lm))  # type: ignore[arg-type]
        out.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return out[: self.max_faces]

    # -- parsing -----------------------------------------------------------------------
    def parse(self, crop: np.ndarray) -> np.ndarray:
        """Per-pixel BiSeNet class ids (uint8, 512x512) for an aligned RGB crop."""
        import torch

        x = (crop.astype(np.float32) / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self._torch_device())
        with torch.inference_mode():
            logits = self.parsing_model()(t)[0]
        return logits.argmax(1)[0].to("cpu").numpy().astype(np.uint8)

    # -- alignment ---------------------------------------------------------------------
    def align(self, rgb: np.ndarray, faces: list[DetectedFace]) -> list[AlignedFace]:
        aligned: list[AlignedFace] = []
        for i, det in enumerate(faces):
            m, inv, crop, lm_crop, notes, valid = crop_detection(rgb, det)
            labels = self.parse(crop)
            if parsing_face_fraction(labels, lm_crop, BISENET_CLASSES) >= MIN_PARSE_FRACTION:
                regions, oval = regions_from_parsing(labels, lm_crop, CROP_SIZE, BISENET_CLASSES)
            else:
                regions, oval = regions_from_5pts(lm_crop, CROP_SIZE)
                regions["hair"] = np.zeros((CROP_SIZE, CROP_SIZE), bool)
                notes.append("face parsing found too little face (occlusion or profile): coarse geometric regions used, no hair mask")
            outside = outside_share(oval, valid)
            regions, oval = restrict_to_valid(regions, oval, valid)
            aligned.append(AlignedFace(index=i, detection=det, crop=crop, matrix=m, inverse=inv, regions=regions, face_mask=oval, dense_landmarks=None, notes=tuple(notes), outside_share=outside))
        return aligned

    def info(self) -> dict[str, object]:
        def _sha(path: Path, pinned: str | None) -> str:
            return pinned if pinned else f"unpinned (actual {file_sha256(path)})"

        return {
            "backend": self.name,
            "detector": f"facexlib {_version('facexlib')} {self.detector_name} ({self._det_path.name} sha256 {_sha(self._det_path, self._det_sha)})",
            "parser": f"facexlib {_version('facexlib')} {self.parser_name} ({self._parse_path.name} sha256 {_sha(self._parse_path, self._parse_sha)})",
            "alignment": "5-point similarity to FFHQ 512 template (cv2 LMEDS)",
            "torchvision": f"{_version('torchvision')} ({self._tv_mode})",
            "device": self.device,
            "score_threshold": self.score_threshold,
        }
