"""Face-photo listing, the deterministic train/val/test split and the aligned-crop cache.

Why a cache: detection + FaceMesh cost ~0.5 s per photo on 2 cores; training and the
benchmark need the same aligned crops and dense landmarks many times. The cache holds
derived pixels of the photos, so it lives outside the repository (``~/.cache/forgetalk``
by default, or ``$FORGETALK_CACHE``) and is never committed.

Why split by source photo: several faces of one photo (and the same face at other crops)
must never straddle train and test, or the benchmark would measure memorisation.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLIT_SALT = "forgetalk-localizer-split-v1"
#: Fractions of photos in train / val; the rest is test.
SPLIT_FRACTIONS = (0.70, 0.15)
#: Public-domain photos that tests use to build forgeries: always held out of training.
FORCED_TEST = ("packages/matplotlib/grace_hopper.jpg", "packages/scikit-image/astronaut.png")
#: Faces smaller than this (photo px, DetectedFace.size) are not used for training/benchmarks.
MIN_FACE_PX = 48


def cache_root() -> Path:
    env = os.environ.get("FORGETALK_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "forgetalk"


def list_photos(faces_dir: Path) -> list[str]:
    """Relative POSIX paths of all images under ``faces_dir``, sorted (the split is defined on these)."""
    faces_dir = Path(faces_dir)
    out = [p.relative_to(faces_dir).as_posix() for p in faces_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS]
    return sorted(out)


def split_of(rel_path: str, seed: int = 0) -> str:
    """Deterministic split of one photo: sha256(salt, seed, relative path) -> uniform [0, 1)."""
    if rel_path in FORCED_TEST:
        return "test"
    h = hashlib.sha256(f"{SPLIT_SALT}:{seed}:{rel_path}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    if u < SPLIT_FRACTIONS[0]:
        return "train"
    if u < SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]:
        return "val"
    return "test"


def split_photos(photos: list[str], seed: int = 0) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for p in photos:
        out[split_of(p, seed)].append(p)
    return out


def split_rule_text(seed: int = 0) -> str:
    return (
        f"photo -> test if in {list(FORCED_TEST)}; else u = int(sha256('{SPLIT_SALT}:{seed}:' + relative_path)[:8 bytes]) / 2**64; "
        f"train if u < {SPLIT_FRACTIONS[0]}, val if u < {SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]}, else test"
    )


@dataclass(frozen=True)
class CachedFace:
    """One aligned face from one photo: the crop, its 478 mesh points and provenance."""

    photo: str  # relative path of the source photo
    index: int  # face index in the photo (largest first)
    crop: np.ndarray  # (512, 512, 3) uint8 RGB
    landmarks: np.ndarray  # (478, 2) float32 crop coords
    face_px: float  # DetectedFace.size in the photo


def _cache_file(faces_dir: Path, rel: str) -> Path:
    key = hashlib.sha256(f"{Path(faces_dir).resolve()}::{rel}".encode()).hexdigest()[:24]
    return cache_root() / "crops" / f"{key}.npz"


def cache_photo(faces_dir: Path, rel: str, backend=None) -> list[CachedFace]:  # noqa: ANN001 - FaceBackend
    """Aligned faces of one photo, computed once and then read from the cache."""
    path = _cache_file(faces_dir, rel)
    if path.is_file():
        with np.load(path) as z:
            n = int(z["n"])
            return [CachedFace(rel, i, z[f"crop{i}"], z[f"lm{i}"], float(z[f"px{i}"])) for i in range(n)]
    from ..errors import ForgetalkError
    from ..io import load_image

    if backend is None:
        from ..faces import get_backend

        backend = get_backend("default")
    faces: list[CachedFace] = []
    try:
        rgb = load_image(Path(faces_dir) / rel).rgb
        dets = [d for d in backend.detect(rgb) if d.size >= MIN_FACE_PX]
        for i, af in enumerate(backend.align(rgb, dets)):
            if af.dense_landmarks is None:
                continue
            faces.append(CachedFace(rel, i, af.crop, af.dense_landmarks.astype(np.float32), float(af.detection.size)))
    except ForgetalkError:
        faces = []
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"n": np.array(len(faces))}
    for i, f in enumerate(faces):
        arrays[f"crop{i}"] = f.crop
        arrays[f"lm{i}"] = f.landmarks
        arrays[f"px{i}"] = np.array(f.face_px)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # unique: several processes may warm the cache at once
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return faces


def load_split_faces(faces_dir: Path, split: str, seed: int = 0, log=None) -> list[CachedFace]:  # noqa: ANN001
    """All cached faces of the photos in one split (building the cache as needed)."""
    backend = None
    out: list[CachedFace] = []
    photos = split_photos(list_photos(faces_dir), seed)[split]
    for k, rel in enumerate(photos):
        if backend is None and not _cache_file(faces_dir, rel).is_file():
            from ..faces import get_backend

            backend = get_backend("default", score_threshold=0.8)
        out.extend(cache_photo(faces_dir, rel, backend))
        if log and (k + 1) % 20 == 0:
            log(f"[cache] {split}: {k + 1}/{len(photos)} photos, {len(out)} faces")
    return out


def split_summary(faces_dir: Path, seed: int = 0) -> dict[str, object]:
    sp = split_photos(list_photos(faces_dir), seed)
    return {"rule": split_rule_text(seed), "seed": seed, "photos": {k: v for k, v in sp.items()}}


if __name__ == "__main__":  # pragma: no cover - `python -m forgetalk.train.data DIR` warms the cache
    import sys

    d = Path(sys.argv[1])
    for s in ("train", "val", "test"):
        fs = load_split_faces(d, s, log=print)
        print(json.dumps({"split": s, "faces": len(fs)}))
