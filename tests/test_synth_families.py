"""Forgery families (forgetalk.synth.families and its modules) on the public-domain face.

Host: Grace Hopper's aligned face; donor: the flipped photo's face, colour-shifted, so that
swaps differ visibly. A third record carries a label map drawn from its own FaceMesh geometry
to exercise the exact-outline path without any licence-restricted parsing data.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from forgetalk.synth.chain import ChainParams, apply_chain, chain_sample, draw_chain
from forgetalk.synth.common import LABEL, MESH_LIPS_INNER, MESH_LIPS_OUTER, PART_LABELS, PART_REGIONS, dilate, part_mask, poly_mask, target_area
from forgetalk.synth.eyes import eye_colour
from forgetalk.synth.families import FAMILIES, random_sample
from forgetalk.synth.generate import FaceRecord, target_mask
from forgetalk.synth.parts import BLENDS, part_swap, pick_donor
from forgetalk.synth.samples import public_domain_face
from forgetalk.synth.warps import liquify

SIZE = 256
NEW = ("part_swap", "liquify", "retouch", "inpaint", "eye_colour")


def _fake_parts(rec: FaceRecord) -> np.ndarray:
    """A label map from the record's own FaceMesh geometry (stand-in for a parsing set)."""
    s = rec.crop.shape[0]
    lab = np.zeros((s, s), np.uint8)
    lab[rec.face_mask] = LABEL["skin"]
    lab[rec.regions["nose"]] = LABEL["nose"]
    for side in ("left", "right"):
        lab[rec.regions[f"{side}_brow"]] = LABEL[f"{side}_brow"]
        lab[rec.regions[f"{side}_eye"] & ~rec.regions[f"{side}_brow"]] = LABEL[f"{side}_eye"]
    outer = poly_mask(rec.landmarks[MESH_LIPS_OUTER], s)
    inner = poly_mask(rec.landmarks[MESH_LIPS_INNER], s)
    lab[outer] = LABEL["upper_lip"]
    lab[outer & (np.mgrid[0:s, 0:s][0] > rec.landmarks[14, 1])] = LABEL["lower_lip"]
    lab[inner] = LABEL["mouth"]
    return lab


@pytest.fixture(scope="module")
def faces() -> dict[str, FaceRecord]:
    f = public_domain_face()
    g = public_domain_face(flip=True)
    host = FaceRecord.from_crop(f.crop, f.dense_landmarks, SIZE)
    d = FaceRecord.from_crop(g.crop, g.dense_landmarks, SIZE)
    shifted = np.clip(d.crop.astype(np.float32) * np.array([1.1, 0.95, 0.85]) + 8, 0, 255).astype(np.uint8)
    donor = dataclasses.replace(d, crop=shifted)
    parsed = dataclasses.replace(host, parts=_fake_parts(host))
    parsed_donor = dataclasses.replace(donor, parts=_fake_parts(donor))
    return {"host": host, "donor": donor, "parsed": parsed, "parsed_donor": parsed_donor}


def _target_zone(rec: FaceRecord, target: str, grow: float) -> np.ndarray:
    """Union of the (grown) areas of each "+"-joined target name."""
    s = rec.crop.shape[0]
    zone = np.zeros((s, s), bool)
    for t in target.split("+"):
        if t in PART_LABELS or t in PART_REGIONS:
            zone |= target_area(rec, t, grow)
        elif t in rec.regions:
            zone |= dilate(rec.regions[t], grow * s / 512)
        else:
            zone |= dilate(target_mask(rec, t), grow * s / 512)
    return zone


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_mask_location_and_untouched_rest(faces: dict[str, FaceRecord], family: str) -> None:
    host, donor = faces["host"], faces["donor"]
    for seed in (0, 1):
        smp = FAMILIES[family](host, np.random.default_rng(seed), [donor])
        assert smp.kind == family and smp.target
        assert smp.image.shape == host.crop.shape and smp.image.dtype == np.uint8
        assert smp.mask.dtype == bool and smp.mask.shape == (SIZE, SIZE)
        assert smp.mask.sum() > 0.0005 * smp.mask.size, (family, seed, smp.params)
        # Most forged pixels lie on the aimed-at part (liquify brushes reach further than the part).
        zone = _target_zone(host, smp.target, 40 if family == "liquify" else 24)
        assert (smp.mask & zone).sum() / smp.mask.sum() > 0.85, (family, smp.target)
        # Outside the mask the image is the original (up to blend tails and rounding).
        diff = np.abs(smp.image.astype(int) - host.crop.astype(int)).max(axis=2)
        if family in NEW:
            assert np.percentile(diff[~smp.mask], 99.5) <= 5, (family, seed)
            assert diff[~dilate(smp.mask, 8)].max() <= (16 if family == "liquify" else 6)
        assert abs(sum(smp.coverage.values())) > 0


@pytest.mark.parametrize("family", NEW)
def test_family_is_deterministic(faces: dict[str, FaceRecord], family: str) -> None:
    a = FAMILIES[family](faces["host"], np.random.default_rng(7), [faces["donor"]])
    b = FAMILIES[family](faces["host"], np.random.default_rng(7), [faces["donor"]])
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.params == b.params and a.target == b.target


@pytest.mark.parametrize("blend", BLENDS)
def test_part_swap_blends(faces: dict[str, FaceRecord], blend: str) -> None:
    smp = part_swap(faces["host"], np.random.default_rng(3), [faces["donor"]], target="mouth", blend=blend)
    assert smp.params["blend"] in BLENDS and smp.target == "mouth"
    assert smp.regions and smp.regions[0] == "mouth"
    diff = np.abs(smp.image.astype(int) - faces["host"].crop.astype(int)).max(axis=2)
    assert diff[~dilate(smp.mask, 8)].max() <= 3


def test_part_swap_exact_outline_covers_host_part(faces: dict[str, FaceRecord]) -> None:
    host, donor = faces["parsed"], faces["parsed_donor"]
    for target in ("lips", "left_eye", "nose"):
        smp = part_swap(host, np.random.default_rng(5), [donor], target=target, blend="hard", colour="none")
        assert smp.params["per_part"][0]["mask"] == "parts+donor_parts"
        part = part_mask(host, target)
        assert (smp.mask & part).sum() / part.sum() > 0.8, target
        assert (smp.mask & target_area(host, target)).sum() / smp.mask.sum() > 0.9
    multi = part_swap(host, np.random.default_rng(1), [donor], target=("eyes", "mouth"))
    assert multi.target == "eyes+mouth" and {"mouth", "left_eye", "right_eye"} <= set(multi.regions)


def test_part_swap_without_donors_uses_self(faces: dict[str, FaceRecord]) -> None:
    smp = part_swap(faces["host"], np.random.default_rng(2), [faces["host"]], target="nose")
    assert smp.params["donor"] == "self" and smp.mask.any()


def test_pick_donor_prefers_same_pose(faces: dict[str, FaceRecord]) -> None:
    host = faces["host"]
    near = dataclasses.replace(host, crop=host.crop.copy(), landmarks=host.landmarks + np.random.default_rng(0).normal(0, 0.3, host.landmarks.shape).astype(np.float32))
    squeezed = host.landmarks.copy()
    squeezed[:, 0] = (squeezed[:, 0] - SIZE / 2) * 0.75 + SIZE / 2  # a turned head: narrower, not a similarity
    far = dataclasses.replace(host, crop=host.crop.copy(), landmarks=squeezed)
    rng = np.random.default_rng(0)
    assert all(pick_donor(host, [far, near], rng, same_pose_prob=1.0) is near for _ in range(5))
    assert pick_donor(host, [host], rng) is None and pick_donor(host, None, rng) is None


def test_liquify_and_eye_colour_targets(faces: dict[str, FaceRecord]) -> None:
    host = faces["host"]
    smp = liquify(host, np.random.default_rng(0), "eyes_bigger")
    assert smp.target == "eyes" and {"left_eye", "right_eye"} & set(smp.regions)
    one = eye_colour(host, np.random.default_rng(0), sides="left_eye", colour="blue")
    assert one.target == "left_eye" and one.mask.any()
    assert not (one.mask & dilate(host.regions["right_eye"], 4)).any()


def test_chain_is_identical_on_twins(faces: dict[str, FaceRecord]) -> None:
    host = faces["host"]
    forged = FAMILIES["part_swap"](host, np.random.default_rng(0), [faces["donor"]])
    seen_resample = seen_jpeg = False
    for seed in range(6):
        p = draw_chain(np.random.default_rng(seed))
        assert 128 <= p.native_px <= 1024 and all(60 <= q <= 95 for q in p.jpeg)
        assert len(set(p.jpeg)) == len(p.jpeg)
        twin1 = apply_chain(host.crop, p)
        twin2 = apply_chain(host.crop.copy(), p)
        assert np.array_equal(twin1, twin2) and twin1.shape == host.crop.shape
        out = chain_sample(forged, p)
        assert np.array_equal(out.mask, forged.mask) and out.params["chain"]["native_px"] == p.native_px
        seen_resample |= p.resample
        seen_jpeg |= bool(p.jpeg)
    assert seen_resample and seen_jpeg
    full = ChainParams(native_px=200, resample=True, sharpen_amount=0.5, noise_sigma=2.0, noise_seed=3, jpeg=(90, 70))
    a, b = apply_chain(host.crop, full), apply_chain(host.crop, full)
    assert np.array_equal(a, b) and not np.array_equal(a, host.crop)
    assert np.array_equal(apply_chain(host.crop, ChainParams()), host.crop)
    big = apply_chain(host.crop, ChainParams(native_px=900, resample=True))
    assert np.abs(big.astype(int) - host.crop.astype(int)).mean() < 3


def test_chain_saves_a_small_face_at_its_native_size(faces: dict[str, FaceRecord]) -> None:
    """With ``at_native`` the JPEG save happens at the face's own size and the crop is scaled up
    afterwards (as an analysis scales a small face); without it, on the crop after resampling."""
    import cv2

    from forgetalk.synth.generate import jpeg_recompress

    crop = faces["host"].crop
    s = crop.shape[0]
    n = round(s * 160 / 512)
    small = cv2.resize(crop, (n, n), interpolation=cv2.INTER_AREA)
    native = ChainParams(native_px=160, resample=True, down_interp="area", up_interp="cubic", jpeg=(60,), at_native=True)
    expect = cv2.resize(jpeg_recompress(small, 60), (s, s), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(apply_chain(crop, native), expect)
    on_crop = ChainParams(native_px=160, resample=True, down_interp="area", up_interp="cubic", jpeg=(60,))
    assert np.array_equal(apply_chain(crop, on_crop), jpeg_recompress(cv2.resize(small, (s, s), interpolation=cv2.INTER_CUBIC), 60))
    drawn = [draw_chain(np.random.default_rng(seed)) for seed in range(400)]
    share = np.mean([p.at_native for p in drawn if p.resample])
    assert 0.7 < share < 0.9 and not any(p.at_native for p in drawn if not p.resample)


def test_random_sample_respects_families(faces: dict[str, FaceRecord]) -> None:
    rng = np.random.default_rng(0)
    kinds = {random_sample(faces["host"], rng, [faces["donor"]], ["liquify", "eye_colour"], [0.5, 0.5]).kind for _ in range(6)}
    assert kinds <= {"liquify", "eye_colour"} and kinds
    assert random_sample(faces["host"], rng, None, ["inpaint"]).kind == "inpaint"
    with pytest.raises(ValueError):
        random_sample(faces["host"], rng, None, ["nope"])
    assert set(FAMILIES) == {"self_blend", "region_swap", "local_smoothing", "part_swap", "liquify", "retouch", "inpaint", "eye_colour", "mirrored_copy"}


def test_guard_only_families_are_in_no_training_mix() -> None:
    """mirrored_copy stays an edit no localizer was trained on: not in ALL_FAMILIES (what
    --families all trains on), refused by the trainer, known to the guard and the benchmark."""
    from forgetalk.train.loop import ALL_FAMILIES, GUARD_FAMILIES, TrainConfig, train_localizer

    assert GUARD_FAMILIES == ("mirrored_copy",) and not set(GUARD_FAMILIES) & set(ALL_FAMILIES)
    assert set(FAMILIES) == {*ALL_FAMILIES, *GUARD_FAMILIES}
    with pytest.raises(ValueError, match="guard-only"):
        train_localizer([], [], TrainConfig(families=("part_swap", "mirrored_copy")), log=lambda m: None)


def test_mirrored_copy_is_the_photo_level_edit_on_the_crop() -> None:
    """At 512 px the crop-level family equals forge_face_region's edit of the same crop (same
    donor draw, same grow/feather), so the guard measures the ranking tests' kind of edit."""
    from forgetalk.synth.photo import forge_face_region, mirrored_copy

    f = public_domain_face()
    rec = FaceRecord.from_crop(f.crop, f.dense_landmarks, 512)
    smp = mirrored_copy(rec, np.random.default_rng(5), "nose")
    face = dataclasses.replace(f, regions=rec.regions, inverse=np.eye(2, 3))  # the crop is the photo
    photo = forge_face_region(f.crop, face, "nose", np.random.default_rng(5))
    assert np.abs(smp.image.astype(int) - photo.rgb.astype(int)).max() <= 1
    assert smp.target == "nose" and "nose" in smp.regions


def test_families_at_512(faces: dict[str, FaceRecord]) -> None:
    f = public_domain_face()
    host = FaceRecord.from_crop(f.crop, f.dense_landmarks, 512)
    donor = FaceRecord.from_crop(cv2.resize(faces["donor"].crop, (512, 512)), faces["donor"].landmarks * 2.0, 512)
    for name in NEW:
        smp = FAMILIES[name](host, np.random.default_rng(11), [donor])
        assert smp.mask.shape == (512, 512) and smp.mask.sum() > 0.0005 * smp.mask.size, name


def test_label_ids_match_parsing() -> None:
    parsing = pytest.importorskip("forgetalk.train.parsing")
    for name, idx in LABEL.items():
        assert parsing.PART[name] == idx
