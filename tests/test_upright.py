"""Faces lying on their side: landmarks from a copy of the photo turned upright (faces.upright).

The detector finds a face turned a quarter turn, but its five landmarks there were off by 20-100 px
on a 512 px portrait, so the aligned crop was skewed; untouched faces turned 90 degrees were
flagged 13.6 % of the time against 5.9 % upright."""

from __future__ import annotations

import numpy as np
import pytest

from forgetalk.faces.base import DetectedFace
from forgetalk.faces.upright import HALF_TURN_GATE, MAX_TILT_DEG, tilt_degrees, turn_points, turned_upright

UPRIGHT = np.array([[40.0, 50.0], [80.0, 50.0], [60.0, 70.0], [45.0, 90.0], [75.0, 90.0]], np.float32)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_turned_points_follow_np_rot90(k: int) -> None:
    img = np.zeros((30, 50), np.uint8)
    img[7, 11] = 255  # row 7, column 11: the point (x=11, y=7)
    turned = np.rot90(img, k)
    y, x = np.argwhere(turned == 255)[0]
    assert turn_points(np.array([[11.0, 7.0]]), k, img.shape).tolist() == [[float(x), float(y)]]
    back = turn_points(turn_points(np.array([[11.0, 7.0]]), k, img.shape), 4 - k, turned.shape)
    assert back.tolist() == [[11.0, 7.0]]


def test_tilt_reads_both_the_eye_line_and_where_the_mouth_is() -> None:
    assert tilt_degrees(UPRIGHT) == 0.0
    on_side = turn_points(UPRIGHT, 1, (120, 120))
    assert abs(tilt_degrees(on_side) - 90.0) < 1e-6
    level_eyes_mouth_beside = UPRIGHT.copy()
    level_eyes_mouth_beside[3:] = [[100.0, 45.0], [100.0, 55.0]]  # eyes level, the mouth to their right
    assert tilt_degrees(level_eyes_mouth_beside) > MAX_TILT_DEG


def test_a_face_on_its_side_takes_the_upright_copys_landmarks_mapped_back() -> None:
    photo = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    k_truth = 1  # the photo holds the face turned by one quarter turn of np.rot90 from upright
    upright_copy = np.rot90(photo, -k_truth)
    upright_shape = upright_copy.shape[:2]
    true_lm = turn_points(UPRIGHT, k_truth, upright_shape).astype(np.float32)
    x1, y1 = true_lm.min(0) - 10
    x2, y2 = true_lm.max(0) + 10
    wrong = DetectedFace((float(x1), float(y1), float(x2), float(y2)), 0.97, (true_lm + np.array([15.0, -12.0], np.float32))[[1, 0, 2, 4, 3]])
    calls: list[int] = []

    def detect(img: np.ndarray) -> list[DetectedFace]:
        calls.append(img.shape[0])
        if np.array_equal(img, upright_copy):  # the copy turned back upright: exact landmarks, high score
            return [DetectedFace((30.0, 40.0, 90.0, 100.0), 0.999, UPRIGHT.copy())]
        return []

    (face,) = turned_upright(detect, photo, [wrong])
    assert face.turned == 3 and face.score == 0.999  # three more quarter turns bring it upright
    assert np.allclose(face.landmarks5, true_lm, atol=1e-4)  # the upright landmarks, in the photo's coordinates
    assert len(calls) == 3  # one detection per quarter turn, once for the photo


def test_an_upright_or_only_tilted_face_is_left_as_detected() -> None:
    photo = np.zeros((120, 160, 3), np.uint8)
    calls: list[int] = []

    def detect(img: np.ndarray) -> list[DetectedFace]:
        calls.append(1)
        return [DetectedFace((0.0, 0.0, 160.0, 160.0), 0.999, UPRIGHT.copy())]  # a turned copy that "reads" level

    upright = DetectedFace((30.0, 40.0, 90.0, 100.0), 0.9999, UPRIGHT.copy())
    assert turned_upright(detect, photo, [upright]) == [upright] and not calls  # level and confident: no extra detection
    c, s = np.cos(np.radians(35)), np.sin(np.radians(35))
    tilted_lm = ((UPRIGHT - 60) @ np.array([[c, s], [-s, c]]) + 60).astype(np.float32)  # a head tilted 35 degrees
    tilted = DetectedFace((20.0, 20.0, 100.0, 110.0), 0.99, tilted_lm)
    assert tilt_degrees(tilted_lm) > MAX_TILT_DEG
    (kept,) = turned_upright(lambda img: [], photo, [tilted])
    assert kept is tilted  # no turned copy found it: kept


def test_a_level_face_read_with_low_confidence_takes_a_more_confident_half_turned_detection() -> None:
    """An upside-down face the detector reads as upright (level landmarks, eyes above the mouth)
    scored 0.90-0.999 on the development and parsing photos, and on the photo turned half a turn
    more than 1 higher in log-odds on 660 of 666; no upright face gained that much (0.77 at most)."""
    photo = np.random.default_rng(2).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    half = np.rot90(photo, 2)
    read_level = DetectedFace((30.0, 40.0, 90.0, 100.0), 0.93, UPRIGHT.copy())
    want = turn_points(_corners_of(read_level.box), 2, photo.shape[:2])
    upright_there = DetectedFace((float(want[:, 0].min()), float(want[:, 1].min()), float(want[:, 0].max()), float(want[:, 1].max())),
                                 0.999, UPRIGHT.copy())
    calls: list[int] = []

    def detect(img: np.ndarray) -> list[DetectedFace]:
        calls.append(1)
        return [upright_there] if np.array_equal(img, half) else []

    (face,) = turned_upright(detect, photo, [read_level])
    assert face.turned == 2 and face.score == 0.999 and len(calls) == 1  # only the half-turned copy
    assert np.allclose(face.landmarks5, turn_points(UPRIGHT, 2, half.shape[:2]))  # mapped back: the mouth above the eyes

    for other in (0.92, 0.95):  # the turned copy less confident, or not by 1 in log-odds (upright faces gained 0.77 at most): kept
        less_sure = DetectedFace(upright_there.box, other, UPRIGHT.copy())
        assert turned_upright(lambda img, d=less_sure: [d] if np.array_equal(img, half) else [], photo, [read_level]) == [read_level]
    confident = DetectedFace(read_level.box, HALF_TURN_GATE, UPRIGHT.copy())
    calls.clear()
    assert turned_upright(detect, photo, [confident]) == [confident] and not calls  # no extra detection


def _corners_of(box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], np.float64)


def test_an_upside_down_face_read_as_upright_gets_the_upright_photos_landmarks(default_backend, grace_rgb: np.ndarray) -> None:  # noqa: ANN001
    """With the real detector on the half-turned copy: the example photo upside down, given the
    detection the detector reports for such faces in half the test photos (the face's box, level
    landmarks in the wrong places, 0.95; the example itself is not misread, so it is written here),
    takes the upright photo's landmarks, mapped."""
    up = default_backend.detect(grace_rgb)[0]
    flipped = np.ascontiguousarray(np.rot90(grace_rgb, 2))
    corners = turn_points(_corners_of(up.box), 2, grace_rgb.shape[:2])
    box = (float(corners[:, 0].min()), float(corners[:, 1].min()), float(corners[:, 0].max()), float(corners[:, 1].max()))
    w, h = box[2] - box[0], box[3] - box[1]
    level = np.array([[0.35, 0.4], [0.65, 0.4], [0.5, 0.55], [0.38, 0.75], [0.62, 0.75]]) * [w, h] + box[:2]
    misread = DetectedFace(box, 0.95, level.astype(np.float32))
    (face,) = turned_upright(default_backend._detect_as_is, flipped, [misread])
    assert face.turned == 2 and face.score > 0.99
    assert np.abs(face.landmarks5 - turn_points(up.landmarks5, 2, grace_rgb.shape[:2])).max() < 1.0


def test_a_face_photographed_on_its_side_is_aligned_as_if_upright(default_backend, grace_rgb: np.ndarray) -> None:  # noqa: ANN001
    """End to end with the real detector: the example photo turned a quarter turn either way, or
    upside down, gives the upright photo's landmarks (mapped), and the face's note says how they
    were found. Turned three quarter turns or half a turn, the detector does not find this face as
    it is (a hostile test pass had reported upside-down faces as "no face found")."""
    up = default_backend.detect(grace_rgb)[0]
    assert not default_backend._detect_as_is(np.ascontiguousarray(np.rot90(grace_rgb, 2)))
    for k in (1, 2, 3):
        turned = np.ascontiguousarray(np.rot90(grace_rgb, k))
        det = default_backend.detect(turned)[0]
        assert det.turned == (4 - k) % 4
        want = turn_points(up.landmarks5, k, grace_rgb.shape[:2])
        assert np.abs(det.landmarks5 - want).max() < 1.0
        face = default_backend.align(turned, [det])[0]
        assert any(("upside down" if k == 2 else "lying on its side") in n for n in face.notes), face.notes
    assert up.turned == 0 and not any("lying" in n for n in default_backend.align(grace_rgb, [up])[0].notes)


def test_a_photo_without_an_upright_face_is_searched_turned_then_given_up() -> None:
    from forgetalk.faces.upright import detect_any_way_up

    photo = np.random.default_rng(1).integers(0, 255, (100, 140, 3), dtype=np.uint8)
    seen: list[np.ndarray] = []

    def nothing(img: np.ndarray) -> list[DetectedFace]:
        seen.append(img)
        return []

    assert detect_any_way_up(nothing, photo) == []
    assert len(seen) == 4  # as it is, then half a turn, one and three quarter turns
    upside_down = np.rot90(photo, 2)

    def only_upside_down(img: np.ndarray) -> list[DetectedFace]:
        return [DetectedFace((10.0, 10.0, 80.0, 90.0), 0.99, UPRIGHT.copy())] if np.array_equal(img, upside_down) else []

    (face,) = detect_any_way_up(only_upside_down, photo)
    assert face.turned == 2 and np.allclose(face.landmarks5, turn_points(UPRIGHT, 2, upside_down.shape[:2]))


def test_a_tilted_face_takes_landmarks_read_on_a_levelled_copy_mapped_back() -> None:
    """RetinaFace's landmarks on a face tilted 30-45 degrees were off by 12-20 % of the inter-ocular
    distance (largest of the five, median), and untouched faces so tilted were flagged 10.5-16 %
    of the time instead of 5.3 % with exact landmarks. The face is read again on a copy turned by
    its eye line's angle; the level reading there, mapped back, keeps the tilt."""
    from forgetalk.faces.upright import LEVEL_MIN_DEG, levelled, roll_degrees

    photo = np.random.default_rng(3).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    tilted_lm = ((UPRIGHT - 60) @ np.array([[c, s], [-s, c]]) + 150).astype(np.float32)
    face = DetectedFace((100.0, 100.0, 200.0, 200.0), 0.97, tilted_lm)
    copies: list[np.ndarray] = []

    def detect(img: np.ndarray) -> list[DetectedFace]:
        copies.append(img)
        n = img.shape[0]
        lm = (UPRIGHT - 60 + n / 2).astype(np.float32)  # a level reading at the copy's centre
        return [DetectedFace((n / 2 - 40, n / 2 - 40, n / 2 + 40, n / 2 + 40), 0.999, lm)]

    out = levelled(detect, photo, face)
    assert len(copies) == 1 and copies[0].shape[0] == copies[0].shape[1] < 300  # one small square copy
    assert out.box == face.box and out.score == face.score  # the photo's detection
    assert out.levelled == round(roll_degrees(tilted_lm), 1) and abs(abs(out.levelled) - 30) < 1
    assert abs(roll_degrees(out.landmarks5) - roll_degrees(tilted_lm)) < 0.5  # the level reading turned back
    assert np.abs(out.landmarks5.mean(0) - tilted_lm.mean(0)).max() < 1.0  # around the same place
    copies.clear()
    c, s = np.cos(np.radians(LEVEL_MIN_DEG - 3)), np.sin(np.radians(LEVEL_MIN_DEG - 3))
    nearly_level = DetectedFace(face.box, 0.97, ((UPRIGHT - 60) @ np.array([[c, s], [-s, c]]) + 150).astype(np.float32))
    on_side = DetectedFace(face.box, 0.97, turn_points(UPRIGHT, 1, (120, 120)).astype(np.float32))
    assert levelled(detect, photo, nearly_level) is nearly_level and levelled(detect, photo, on_side) is on_side and not copies
    assert levelled(lambda img: [], photo, face) is face  # nothing read level there: kept


def test_a_face_photographed_tilted_gets_landmarks_closer_to_the_upright_photos(default_backend, grace_rgb: np.ndarray) -> None:  # noqa: ANN001
    """End to end: the example turned 30 degrees (resampled, grey corners); the upright photo's
    landmarks turned exactly are the truth."""
    from PIL import Image

    up = default_backend.detect(grace_rgb)[0]
    h, w = grace_rgb.shape[:2]
    im = Image.fromarray(grace_rgb).rotate(30, resample=Image.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    r = np.radians(30)
    x, y = up.landmarks5[:, 0] - w / 2, up.landmarks5[:, 1] - h / 2
    truth = np.stack([x * np.cos(r) + y * np.sin(r) + im.width / 2, -x * np.sin(r) + y * np.cos(r) + im.height / 2], 1)
    iod = float(np.linalg.norm(truth[0] - truth[1]))
    rgb = np.asarray(im)
    raw = default_backend._detect_as_is(rgb)[0]
    det = default_backend.detect(rgb)[0]
    assert abs(det.levelled + 30) < 5 and det.turned == 0
    assert np.abs(det.landmarks5 - truth).max() / iod < 0.08 < np.abs(raw.landmarks5 - truth).max() / iod
    note = default_backend.align(rgb, [det])[0].notes
    assert any("turned level" in n for n in note), note
