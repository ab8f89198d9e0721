"""Photo-level pseudo-forgeries: replace one facial region of a real photo, in photo space.

Crop-space generators (:mod:`forgetalk.synth.generate`) are what the localizer trains on;
this module is what an analyst's input looks like: the edit is made on the aligned face and
pasted back into the original photo through the inverse alignment, then the whole photo is
re-encoded. Used for the example forgery, the end-to-end tests and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..faces import AlignedFace, FaceBackend
from ..faces.align import warp_map_to_photo
from .common import finish
from .generate import FaceRecord, SynthSample


@dataclass(frozen=True)
class PhotoForgery:
    rgb: np.ndarray = field(repr=False)  # forged photo, uint8 RGB
    mask: np.ndarray = field(repr=False)  # bool, photo pixels that were replaced
    region: str
    face_index: int


def donor_from_self(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A different-looking source for the region: mirrored, resampled, re-coloured, re-blurred.

    Mirroring moves texture (wrinkles, highlights) so the pasted part is not the original;
    resampling and colour/sharpness shifts mimic a donor photographed with another camera.
    """
    donor = crop[:, ::-1].copy()
    scale = float(rng.uniform(0.45, 0.7))
    small = cv2.resize(donor, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    donor = cv2.resize(small, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_CUBIC)
    gains = rng.uniform(0.9, 1.1, size=3)
    donor = np.clip(donor.astype(np.float32) * gains[None, None, :] + rng.uniform(-8, 8), 0, 255)
    return donor.astype(np.uint8)


def soft_alpha(mask: np.ndarray, grow_px: int = 8, feather: float = 4.0) -> np.ndarray:
    m = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_px + 1, 2 * grow_px + 1)))
    return np.clip(cv2.GaussianBlur(m.astype(np.float32), (0, 0), feather), 0.0, 1.0)


#: Parts the crop-level mirrored copy replaces (those the photo-level ranking tests edit).
MIRROR_TARGETS: tuple[str, ...] = ("mouth", "nose", "left_eye", "right_eye", "left_brow", "right_brow")


def mirrored_copy(rec: FaceRecord, rng: np.random.Generator, target: str | None = None) -> SynthSample:
    """:func:`forge_face_region`'s edit on a crop of any size: one part replaced by the same
    part of a mirrored, resampled, re-coloured copy of the face, feathered in.

    Why a family of its own: it is the edit of the ranking tests (tests/test_forgery_rank.py),
    on which a localizer trained longer on the other families got worse (docs/localizer_history.md, v4).
    It is kept out of every training mix (``train.loop.GUARD_FAMILIES``), so it measures an edit
    no shipped localizer was trained on: a guard for checkpoint selection and a column of the
    benchmark. The grow and feather radii are those of the photo-level edit at 512 px, scaled.
    """
    target = target or str(rng.choice(MIRROR_TARGETS))
    k = rec.crop.shape[0] / 512
    donor = donor_from_self(rec.crop, rng)
    # The photo-level edit blends twice (in the crop, then again when pasting the crop back into
    # the photo), so its effective weight is the square of its soft alpha: the same here.
    alpha = soft_alpha(rec.regions[target], grow_px=max(1, round(8 * k)), feather=4.0 * k) ** 2
    out = rec.crop.astype(np.float32) * (1.0 - alpha[..., None]) + donor.astype(np.float32) * alpha[..., None]
    return finish(rec, np.clip(out + 0.5, 0, 255).astype(np.uint8), alpha, "mirrored_copy", target, {})


def forge_face_region(rgb: np.ndarray, face: AlignedFace, region: str, rng: np.random.Generator, donor_crop: np.ndarray | None = None) -> PhotoForgery:
    """Replace ``region`` of an aligned face and paste the edit back into the photo."""
    crop = face.crop
    donor = donor_crop if donor_crop is not None else donor_from_self(crop, rng)
    alpha = soft_alpha(face.regions[region])
    edited = crop.astype(np.float32) * (1.0 - alpha[..., None]) + donor.astype(np.float32) * alpha[..., None]
    h, w = rgb.shape[:2]
    a_photo = warp_map_to_photo(alpha, face.inverse, (h, w))
    e_photo = cv2.warpAffine(edited.astype(np.float32), face.inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out = rgb.astype(np.float32) * (1.0 - a_photo[..., None]) + e_photo * a_photo[..., None]
    return PhotoForgery(np.clip(out + 0.5, 0, 255).astype(np.uint8), a_photo > 0.1, region, face.index)


def forge_photo(rgb: np.ndarray, backend: FaceBackend, region: str, seed: int = 0) -> PhotoForgery:
    """Forge ``region`` of the largest face in ``rgb`` (raises ValueError if no face)."""
    faces = backend.align(rgb, backend.detect(rgb)[:1])
    if not faces:
        raise ValueError("no face to forge")
    return forge_face_region(rgb, faces[0], region, np.random.default_rng(seed))


def paste_crop_edit(rgb: np.ndarray, face: AlignedFace, edited_crop: np.ndarray, crop_mask: np.ndarray, region: str) -> PhotoForgery:
    """Paste a crop-space edit back into the photo, only where the crop changed (``crop_mask``)."""
    h, w = rgb.shape[:2]
    alpha = cv2.GaussianBlur(crop_mask.astype(np.float32), (0, 0), 1.0)
    a_photo = warp_map_to_photo(alpha, face.inverse, (h, w))
    e_photo = cv2.warpAffine(edited_crop.astype(np.float32), face.inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out = rgb.astype(np.float32) * (1.0 - a_photo[..., None]) + e_photo * a_photo[..., None]
    return PhotoForgery(np.clip(out + 0.5, 0, 255).astype(np.uint8), a_photo > 0.1, region, face.index)


def cross_face_swap(rgb: np.ndarray, donor_rgb: np.ndarray, backend: FaceBackend, part: str, seed: int = 0, blend: str = "feathered", colour: str = "none") -> PhotoForgery:
    """Paste ``part`` of the largest face in ``donor_rgb`` into the largest face of ``rgb``:
    landmark-registered, colour left as the donor's by default, as hand-made part swaps are."""
    from .generate import FaceRecord
    from .parts import part_swap

    host = backend.align(rgb, backend.detect(rgb)[:1])
    donor = backend.align(donor_rgb, backend.detect(donor_rgb)[:1])
    if not host or not donor or host[0].dense_landmarks is None or donor[0].dense_landmarks is None:
        raise ValueError("no face (with dense landmarks) to swap")
    rec = FaceRecord.from_crop(host[0].crop, host[0].dense_landmarks)
    drec = FaceRecord.from_crop(donor[0].crop, donor[0].dense_landmarks)
    smp = part_swap(rec, np.random.default_rng(seed), target=part, donor=drec, blend=blend, colour=colour)
    return paste_crop_edit(rgb, host[0], smp.image, smp.mask, part)


def encode_jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
