"""Real faces with exact part masks (CelebAMask-HQ style parsing sets) as hosts and donors.

Why: the FaceMesh regions of ``../shared/faces`` are polygons; a pasted eye or mouth in a real
edit follows the part's true outline. A parsing set gives that outline per pixel, so cross-face
part swaps can cut and paste the exact part and keep an exact ground-truth mask.

Each photo is aligned with the product's own face stack (detector + FFHQ 5-point alignment +
FaceMesh), exactly as ``forgetalk analyze`` will see it, and its label map is warped into the
same crop with nearest-neighbour sampling. Left/right labels in the source masks are not
consistent (see the set's MANIFEST), so eyes, brows and ears are re-labelled by image side in
the crop: ``PART_*_L`` is always the *subject's* left (image right), like ``REGION_NAMES``.

The split is by file name with its own salt (70 / 15 / 15) and is recorded in every recipe.
The cache holds derived pixels of the photos, so it lives outside the repository like
:mod:`forgetalk.train.data`'s cache and is never committed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .data import cache_root

PARSING_SPLIT_SALT = "forgetalk-parsing-split-v1"
SPLIT_FRACTIONS = (0.70, 0.15)

#: Canonical crop-space part labels (CelebAMask-HQ order, sides fixed to the subject's).
PART_NAMES: tuple[str, ...] = (
    "background", "skin", "nose", "eyeglasses", "left_eye", "right_eye", "left_brow", "right_brow",
    "left_ear", "right_ear", "mouth", "upper_lip", "lower_lip", "hair", "hat", "earring", "necklace", "neck", "cloth",
)
PART = {n: i for i, n in enumerate(PART_NAMES)}
#: Source class pairs whose left/right labels are re-assigned by image side.
_SIDED = ((4, 5), (6, 7), (8, 9))


@dataclass(frozen=True)
class ParsedFace:
    """One aligned real face with its crop-space part label map."""

    name: str  # file stem in the parsing set
    crop: np.ndarray = field(repr=False)  # (512, 512, 3) uint8 RGB
    landmarks: np.ndarray = field(repr=False)  # (478, 2) float32 crop coords
    parts: np.ndarray = field(repr=False)  # (512, 512) uint8, PART_NAMES indices
    face_px: float = 0.0


def split_of(name: str, seed: int = 0) -> str:
    h = hashlib.sha256(f"{PARSING_SPLIT_SALT}:{seed}:{name}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    if u < SPLIT_FRACTIONS[0]:
        return "train"
    return "val" if u < SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1] else "test"


def split_rule_text(seed: int = 0) -> str:
    return (f"parsing image -> u = int(sha256('{PARSING_SPLIT_SALT}:{seed}:' + file stem)[:8 bytes]) / 2**64; "
            f"train if u < {SPLIT_FRACTIONS[0]}, val if u < {SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]}, else test")


def list_parsing(root: Path) -> list[str]:
    """Stems that have both an image and a mask, sorted."""
    root = Path(root)
    imgs = {p.stem for p in (root / "images").glob("*.jpg")}
    masks = {p.stem for p in (root / "masks").glob("*.png")}
    return sorted(imgs & masks)


def canonical_sides(labels: np.ndarray) -> np.ndarray:
    """Re-label sided parts by image side in the aligned crop (subject's left = image right)."""
    out = labels.copy()
    mid = labels.shape[1] / 2.0
    for a, b in _SIDED:
        both = (labels == a) | (labels == b)
        if not both.any():
            continue
        n, cc = cv2.connectedComponents(both.astype(np.uint8))
        for k in range(1, n):
            comp = cc == k
            xs = np.nonzero(comp)[1]
            out[comp] = a if xs.mean() >= mid else b  # a = subject's left (image right)
    return out


def read_label_map(path: Path) -> np.ndarray:
    """Palette PNG -> class indices (cv2 would return the palette colours)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.array(im)


def _cache_file(root: Path, name: str) -> Path:
    key = hashlib.sha256(f"{Path(root).resolve()}::{name}".encode()).hexdigest()[:24]
    return cache_root() / "parsing" / f"{key}.npz"


def cache_parsed(root: Path, name: str, backend=None) -> ParsedFace | None:  # noqa: ANN001 - FaceBackend
    """Aligned face + warped part map of one image (computed once, then read from the cache)."""
    path = _cache_file(root, name)
    if path.is_file():
        with np.load(path) as z:
            if int(z["ok"]) == 0:
                return None
            return ParsedFace(name, z["crop"], z["lm"], z["parts"], float(z["px"]))
    from ..io import load_image

    if backend is None:
        from ..faces import get_backend

        backend = get_backend("default", score_threshold=0.8)
    rgb = load_image(Path(root) / "images" / f"{name}.jpg").rgb
    labels = read_label_map(Path(root) / "masks" / f"{name}.png")
    if labels.shape[:2] != rgb.shape[:2]:
        labels = cv2.resize(labels, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
    dets = backend.detect(rgb)
    face = None
    if dets:
        aligned = backend.align(rgb, dets[:1])
        if aligned and aligned[0].dense_landmarks is not None:
            face = aligned[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # unique: several processes may warm the cache at once
    if face is None:
        np.savez_compressed(tmp, ok=np.array(0))
        tmp.replace(path)
        return None
    s = face.crop.shape[0]
    parts = cv2.warpAffine(labels, face.matrix, (s, s), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    parts = canonical_sides(parts.astype(np.uint8))
    pf = ParsedFace(name, face.crop, face.dense_landmarks.astype(np.float32), parts, float(face.detection.size))
    np.savez_compressed(tmp, ok=np.array(1), crop=pf.crop, lm=pf.landmarks, parts=pf.parts, px=np.array(pf.face_px))
    tmp.replace(path)
    return pf


def load_parsing_split(root: Path, split: str, seed: int = 0, limit: int | None = None, log=None) -> list[ParsedFace]:  # noqa: ANN001
    names = [n for n in list_parsing(root) if split_of(n, seed) == split]
    if limit is not None:
        names = names[:limit]
    backend = None
    out: list[ParsedFace] = []
    for k, n in enumerate(names):
        if backend is None and not _cache_file(root, n).is_file():
            from ..faces import get_backend

            backend = get_backend("default", score_threshold=0.8)
        pf = cache_parsed(root, n, backend)
        if pf is not None:
            out.append(pf)
        if log and (k + 1) % 50 == 0:
            log(f"[parsing cache] {split}: {k + 1}/{len(names)} images, {len(out)} faces")
    return out


if __name__ == "__main__":  # pragma: no cover - `python -m forgetalk.train.parsing ROOT` warms the cache
    import sys

    r = Path(sys.argv[1])
    for sp in sys.argv[2:] or ["train", "val", "test"]:
        fs = load_parsing_split(r, sp, log=lambda m: print(m, flush=True))
        print(f"{sp}: {len(fs)} faces", flush=True)
