"""Regenerate docs/img/synth_families.jpg: one row per forgery family on public-domain faces only.

Host: Grace Hopper (examples/grace_hopper.jpg, US Navy photo, public domain). Donor: scikit-image's
astronaut (NASA, public domain; examples/astronaut.png) when present, else a flipped, colour-shifted copy of
Grace Hopper. Each row: the forged crop, the same with the ground-truth mask outlined, and the
forgery after a post-processing chain (native resolution, JPEG ...). Never use faces from ../shared.

    .venv/bin/python docs/make_synth_grid.py
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forgetalk.synth.chain import apply_chain, draw_chain  # noqa: E402
from forgetalk.synth.eyes import eye_colour  # noqa: E402
from forgetalk.synth.families import FAMILIES  # noqa: E402
from forgetalk.synth.generate import FaceRecord, SynthSample, region_swap  # noqa: E402
from forgetalk.synth.parts import part_swap  # noqa: E402
from forgetalk.synth.retouch import inpaint, retouch  # noqa: E402
from forgetalk.synth.samples import public_domain_face  # noqa: E402
from forgetalk.synth.warps import liquify  # noqa: E402

SIZE = 256
#: The part of each crop shown (rows, columns): the face, without most of the background.
VIEW = (slice(40, 240), slice(28, 228))
OUT = ROOT / "docs" / "img" / "synth_families.jpg"


def donor_record() -> tuple[FaceRecord, str]:
    path = ROOT / "examples" / "astronaut.png"  # NASA, public domain (scikit-image 0.26.0 wheel, skimage/data)
    if path.is_file():
        from forgetalk.faces import get_backend
        from forgetalk.io import load_image

        rgb = load_image(path).rgb
        backend = get_backend("default")
        faces = backend.align(rgb, backend.detect(rgb)[:1])
        if faces and faces[0].dense_landmarks is not None:
            return FaceRecord.from_crop(faces[0].crop, faces[0].dense_landmarks, SIZE), "scikit-image astronaut (examples/astronaut.png)"
    g = public_domain_face(flip=True)
    rec = FaceRecord.from_crop(g.crop, g.dense_landmarks, SIZE)
    shifted = np.clip(rec.crop.astype(np.float32) * np.array([1.1, 0.95, 0.85]) + 8, 0, 255).astype(np.uint8)
    return dataclasses.replace(rec, crop=shifted), "flipped, colour-shifted Grace Hopper"


def samples(host: FaceRecord, donor: FaceRecord) -> list[tuple[str, SynthSample]]:
    r = np.random.default_rng
    return [
        ("self_blend", FAMILIES["self_blend"](host, r(4), [donor])),
        ("region_swap", region_swap(host, donor, r(1), target="nose", method="alpha")),
        ("local_smoothing", FAMILIES["local_smoothing"](host, r(2), [donor])),
        ("part_swap", part_swap(host, r(3), [donor], target=("eyes", "mouth"), blend="laplacian", colour="none")),
        ("liquify", liquify(host, r(0), ("eyes_bigger", "jaw_slimmer"))),
        ("retouch", retouch(host, r(5), ("skin_smooth", "clone_stamp"))),
        ("inpaint", inpaint(host, r(1), target="left_brow", method="telea")),
        ("eye_colour", eye_colour(host, r(0), sides="eyes", colour="blue")),
        ("mirrored_copy", FAMILIES["mirrored_copy"](host, r(6), [donor])),
    ]


def outline(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    o = img.copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(o, contours, -1, (0, 255, 0), 1)
    return o


def label(tile: np.ndarray, text: str) -> np.ndarray:
    t = tile.copy()
    cv2.rectangle(t, (0, 0), (t.shape[1], 18), (0, 0, 0), -1)
    cv2.putText(t, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return t


def main() -> None:
    f = public_domain_face()
    host = FaceRecord.from_crop(f.crop, f.dense_landmarks, SIZE)
    donor, donor_name = donor_record()
    rows = []
    for k, (name, smp) in enumerate(samples(host, donor)):
        chain = draw_chain(np.random.default_rng(100 + k), p_resample=1.0, p_jpeg=1.0)
        chained = apply_chain(smp.image, chain)
        desc = f"native {chain.native_px}px, JPEG {'/'.join(map(str, chain.jpeg))}"
        tiles = [smp.image, outline(smp.image, smp.mask), chained]
        texts = [f"{name}: {smp.target}", "mask outline", desc]
        rows.append(np.hstack([label(np.ascontiguousarray(t[VIEW]), x) for t, x in zip(tiles, texts, strict=True)]))
    grid = np.vstack(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {OUT.relative_to(ROOT)} ({grid.shape[1]}x{grid.shape[0]}); donor: {donor_name}")


if __name__ == "__main__":
    main()
