"""Regenerate the example forgery from the public-domain photo in this folder.

``grace_hopper.jpg`` is the US Navy portrait of Grace Hopper (public domain, a US
government work) as shipped in matplotlib's ``mpl-data/sample_data``. The script replaces
her mouth with a mirrored, resampled, re-coloured copy of itself, blended and pasted back
into the photo, then saves it as JPEG quality 92 together with the ground-truth mask.
"""

from __future__ import annotations

from pathlib import Path

from forgetalk.faces import get_backend
from forgetalk.io import atomic_write_bytes, encode_png, load_image
from forgetalk.synth.photo import encode_jpeg, forge_photo

HERE = Path(__file__).resolve().parent


def main() -> None:
    src = load_image(HERE / "grace_hopper.jpg").rgb
    forged = forge_photo(src, get_backend("default"), "mouth", seed=7)
    atomic_write_bytes(HERE / "grace_hopper_mouth_swap.jpg", encode_jpeg(forged.rgb, 92))
    atomic_write_bytes(HERE / "grace_hopper_mouth_swap.mask.png", encode_png((forged.mask[..., None].repeat(3, 2) * 255).astype("uint8")))
    print("wrote grace_hopper_mouth_swap.jpg and its mask")


if __name__ == "__main__":
    main()
