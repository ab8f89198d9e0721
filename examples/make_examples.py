"""Regenerate the example forgeries from the public-domain photo in this folder.

``grace_hopper.jpg`` is the US Navy portrait of Grace Hopper (public domain, a US
government work) as shipped in matplotlib's ``mpl-data/sample_data``. For each region below
the script replaces it with a mirrored, resampled, re-coloured copy of itself, blends it,
pastes it back into the photo through the inverse alignment and saves the photo as JPEG
quality 92, with the ground-truth mask of replaced pixels as a PNG. ``CROSS_FACE`` is a
cross-face part swap: the astronaut's mouth pasted into Grace Hopper's face, registered on
the mouth's landmarks, colour left unmatched, feathered blend. Seed 1 is the seed the
ranking tests use (tests/test_forgery_rank.py); these are demonstrations, not a measurement --
the benchmark table in the README is the measurement.
"""

from __future__ import annotations

from pathlib import Path

from forgetalk.faces import get_backend
from forgetalk.io import atomic_write_bytes, encode_png, load_image
from forgetalk.synth.photo import cross_face_swap, encode_jpeg, forge_photo

HERE = Path(__file__).resolve().parent
EXAMPLES = {"nose": "grace_hopper_nose_swap", "mouth": "grace_hopper_mouth_swap"}
SEED = 1
#: Cross-face part swap: ``astronaut.png`` is NASA's portrait of Eileen Collins (public domain),
#: as shipped in the scikit-image wheel (skimage/data/astronaut.png, scikit-image 0.26.0).
CROSS_FACE = {"stem": "grace_hopper_mouth_from_astronaut", "part": "mouth", "donor": "astronaut.png", "blend": "feathered", "colour": "none"}


def main() -> None:
    src = load_image(HERE / "grace_hopper.jpg").rgb
    backend = get_backend("default")
    for region, stem in EXAMPLES.items():
        forged = forge_photo(src, backend, region, seed=SEED)
        atomic_write_bytes(HERE / f"{stem}.jpg", encode_jpeg(forged.rgb, 92))
        atomic_write_bytes(HERE / f"{stem}.mask.png", encode_png((forged.mask[..., None].repeat(3, 2) * 255).astype("uint8")))
        print(f"wrote {stem}.jpg and its mask")
    c = CROSS_FACE
    donor = load_image(HERE / c["donor"]).rgb
    forged = cross_face_swap(src, donor, backend, c["part"], seed=SEED, blend=c["blend"], colour=c["colour"])
    atomic_write_bytes(HERE / f"{c['stem']}.jpg", encode_jpeg(forged.rgb, 92))
    atomic_write_bytes(HERE / f"{c['stem']}.mask.png", encode_png((forged.mask[..., None].repeat(3, 2) * 255).astype("uint8")))
    print(f"wrote {c['stem']}.jpg and its mask")


if __name__ == "__main__":
    main()
