"""The optional facexlib face backend: weights errors, safe loading, regions from parsing.

Real facexlib weights are never available in CI, so the loading tests save *randomly
initialised* nets of the same architecture into a tmp weights folder with a tmp manifest
holding their real sha256. Random nets detect nothing, so align/parse is exercised on a
supplied detection. Tests needing facexlib skip (with the reason) where it is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from forgetalk.errors import EngineError, WeightsError
from forgetalk.faces.base import CROP_SIZE, REGION_NAMES, DetectedFace
from forgetalk.faces.regions import BISENET_CLASSES, regions_from_parsing
from forgetalk.io import sha256_file

REPO_MANIFEST = Path(__file__).resolve().parent.parent / "weights" / "facexlib" / "manifest.json"
HAVE_FACEXLIB = importlib.util.find_spec("facexlib") is not None and importlib.util.find_spec("torchvision") is not None
needs_facexlib = pytest.mark.skipif(not HAVE_FACEXLIB, reason="facexlib/torchvision not installed (optional: pip install -r requirements-facexlib.txt)")

# Photo-space landmarks of a frontal face about 200 px wide in a 400x400 photo.
LM5 = np.array([[160, 180], [240, 180], [200, 225], [168, 265], [232, 265]], dtype=np.float32)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket (e.g. facexlib's downloader) fails the test."""

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _write_manifest(folder: Path, files: dict[str, str | None]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    entries = [{"name": n, "sha256": h, "url": f"https://example.invalid/{n}", "required": True} for n, h in files.items()]
    (folder / "manifest.json").write_text(json.dumps({"component": "facexlib", "files": entries}), encoding="utf-8")


def test_repo_manifest_lists_real_file_names() -> None:
    raw = json.loads(REPO_MANIFEST.read_text(encoding="utf-8"))
    names = {f["name"]: f for f in raw["files"]}
    assert set(names) == {"detection_Resnet50_Final.pth", "detection_mobilenet0.25_Final.pth", "parsing_bisenet.pth"}
    for f in names.values():
        assert f["url"].startswith("https://github.com/xinntao/facexlib/releases/download/v0.")
        assert f["sha256"] is None or len(f["sha256"]) == 64


def test_missing_weights_name_file_folder_and_sha(tmp_path: Path, no_network: None) -> None:
    from forgetalk.faces.facexlib_backend import FacexlibBackend

    sha = "468e13ca13a9b43cc0881a9f99083a430e9c0a38abd935431d1c28ee94b26567"
    _write_manifest(tmp_path / "facexlib", {"detection_mobilenet0.25_Final.pth": None, "parsing_bisenet.pth": sha})
    (tmp_path / "facexlib" / "detection_mobilenet0.25_Final.pth").write_bytes(b"x")
    with pytest.raises(WeightsError) as err:
        FacexlibBackend(detector="retinaface_mobile0.25", weights_dir=tmp_path)
    msg = str(err.value)
    assert "parsing_bisenet.pth" in msg and str(tmp_path / "facexlib") in msg and sha in msg


def test_missing_unpinned_detector_says_unpinned(tmp_path: Path, no_network: None) -> None:
    from forgetalk.faces.facexlib_backend import FacexlibBackend

    _write_manifest(tmp_path / "facexlib", {"detection_Resnet50_Final.pth": None, "parsing_bisenet.pth": "0" * 64})
    with pytest.raises(WeightsError, match=r"detection_Resnet50_Final\.pth.*(unpinned|no published sha256)"):
        FacexlibBackend(weights_dir=tmp_path)


def test_hash_mismatch_is_refused(tmp_path: Path) -> None:
    from forgetalk.faces.facexlib_backend import resolve_weight

    _write_manifest(tmp_path / "facexlib", {"parsing_bisenet.pth": "0" * 64})
    (tmp_path / "facexlib" / "parsing_bisenet.pth").write_bytes(b"not the release")
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve_weight("parsing_bisenet.pth", tmp_path)


def test_unknown_detector_is_an_engine_error(tmp_path: Path) -> None:
    from forgetalk.faces.facexlib_backend import FacexlibBackend

    with pytest.raises(EngineError):
        FacexlibBackend(detector="yolo", weights_dir=tmp_path)


def test_backend_is_registered() -> None:
    from forgetalk.faces import available_backends

    assert "facexlib" in available_backends()


def _synthetic_parse() -> tuple[np.ndarray, np.ndarray]:
    """A cartoon BiSeNet label map around the FFHQ template landmarks."""
    import cv2

    from forgetalk.faces.align import FFHQ_TEMPLATE_512 as T

    c = BISENET_CLASSES
    lab = np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)
    cv2.ellipse(lab, (256, 150), (190, 120), 0, 180, 360, c["hair"], -1)
    cv2.ellipse(lab, (256, 290), (140, 180), 0, 0, 360, c["skin"], -1)
    for (x, y), eye, brow in ((T[0], c["l_eye"], c["l_brow"]), (T[1], c["r_eye"], c["r_brow"])):
        cv2.ellipse(lab, (int(x), int(y)), (28, 12), 0, 0, 360, eye, -1)
        cv2.ellipse(lab, (int(x), int(y) - 35), (34, 8), 0, 0, 360, brow, -1)
    cv2.ellipse(lab, (256, 295), (22, 40), 0, 0, 360, c["nose"], -1)
    cv2.ellipse(lab, (256, 365), (55, 10), 0, 0, 360, c["u_lip"], -1)
    cv2.ellipse(lab, (256, 380), (55, 10), 0, 0, 360, c["l_lip"], -1)
    return lab, T.copy()


def test_regions_from_parsing_geometry() -> None:
    lab, lm = _synthetic_parse()
    regions, oval = regions_from_parsing(lab, lm)
    assert list(regions) == list(REGION_NAMES)
    for name, m in regions.items():
        assert m.shape == (CROP_SIZE, CROP_SIZE) and m.dtype == bool, name
        assert m.any(), f"{name} is empty"
    xs = lambda m: np.nonzero(m)[1].mean()  # noqa: E731
    ys = lambda m: np.nonzero(m)[0].mean()  # noqa: E731
    # Subject's left is on the image's right, whatever the class names say.
    assert xs(regions["left_eye"]) > 256 > xs(regions["right_eye"])
    assert xs(regions["left_cheek"]) > 256 > xs(regions["right_cheek"])
    assert ys(regions["forehead"]) < ys(regions["left_eye"]) < ys(regions["mouth"]) < ys(regions["chin_jaw"])
    assert not (regions["skin"] & regions["hair"]).any()
    assert not (regions["forehead"] & regions["hair"]).any()
    assert oval[300, 256] and not oval[20, 20]


def _tmp_facexlib_weights(tmp_path: Path) -> Path:
    """Random same-architecture nets saved as the manifest's file names, hashes pinned."""
    import torch

    from forgetalk.faces._tvshim import ensure_torchvision

    ensure_torchvision()
    from facexlib.detection.retinaface import RetinaFace
    from facexlib.parsing.bisenet import BiSeNet

    torch.manual_seed(0)
    folder = tmp_path / "facexlib"
    folder.mkdir(parents=True)
    det = RetinaFace(network_name="mobile0.25", half=False, device=torch.device("cpu"))
    # Stored the way the release is: DataParallel "module." prefixes that loading must strip.
    torch.save({f"module.{k}": v for k, v in det.state_dict().items()}, folder / "detection_mobilenet0.25_Final.pth")
    torch.save(BiSeNet(num_class=19).state_dict(), folder / "parsing_bisenet.pth")
    _write_manifest(folder, {n: sha256_file(folder / n) for n in ("detection_mobilenet0.25_Final.pth", "parsing_bisenet.pth")})
    return tmp_path


@needs_facexlib
def test_random_weights_load_on_cpu_and_align(tmp_path: Path, no_network: None) -> None:
    import torch

    from forgetalk.faces.facexlib_backend import FacexlibBackend

    root = _tmp_facexlib_weights(tmp_path)
    backend = FacexlibBackend(weights_dir=root)  # auto-picks mobile0.25: the only detector present
    assert backend.detector_name == "retinaface_mobile0.25"
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)
    dets = backend.detect(rgb)  # random weights: any number of boxes, but it must run on CPU
    assert all(d.landmarks5.shape == (5, 2) for d in dets)
    assert next(backend.detection_model().parameters()).device == torch.device("cpu")

    faces = backend.align(rgb, [DetectedFace(box=(120, 120, 280, 300), score=1.0, landmarks5=LM5)])
    assert len(faces) == 1
    f = faces[0]
    assert f.crop.shape == (CROP_SIZE, CROP_SIZE, 3) and f.crop.dtype == np.uint8
    assert f.face_mask.shape == (CROP_SIZE, CROP_SIZE)
    assert set(f.regions) == set(REGION_NAMES)
    for name, m in f.regions.items():
        assert m.shape == (CROP_SIZE, CROP_SIZE) and m.dtype == bool, name
    info = backend.info()
    assert info["backend"] == "facexlib" and "parsing_bisenet.pth" in str(info["parser"])


@needs_facexlib
def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    import torch

    from forgetalk.faces.facexlib_backend import load_state_dict

    path = tmp_path / "evil.pth"
    torch.save({"x": torch.zeros(1), "obj": Path("/etc/passwd")}, path)  # a non-tensor global needs full unpickling
    with pytest.raises(WeightsError, match="weights_only"):
        load_state_dict(path)


def test_pure_torch_nms_matches_torchvision_semantics() -> None:
    import torch

    from forgetalk.faces._tvshim import _nms_cpu

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert _nms_cpu(boxes, scores, 0.5).tolist() == [3, 2]  # highest first, overlaps (IoU>0.5) dropped
    assert _nms_cpu(boxes, scores, 0.99).tolist() == [3, 1, 2]  # box 0 duplicates box 3 (IoU 1)
    assert _nms_cpu(boxes[:0], scores[:0], 0.5).numel() == 0
