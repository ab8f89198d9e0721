"""Small and tight faces: padding never invents content, and the report states the native size.

A face photo cropped tightly (the 160 px face photos analysts receive) puts part of the
aligned crop outside the photo. That part must be black and left out of every region, not a
mirror image of the face; faces below the trained size get a note with their native size.
"""

from __future__ import annotations

import numpy as np

from forgetalk.faces.align import TRAINED_MIN_FACE_PX, face_size_notes, restrict_to_valid, valid_in_crop, warp_to_crop


def test_padding_is_black_and_excluded() -> None:
    photo = np.full((100, 100, 3), 200, np.uint8)
    m = np.array([[4.0, 0.0, 56.0], [0.0, 4.0, 56.0]])  # 100 px photo scaled x4 into the middle of the crop
    crop = warp_to_crop(photo, m)
    valid = valid_in_crop(m, photo.shape[:2])
    assert crop[0, 0].tolist() == [0, 0, 0]  # outside the photo: black, not reflected photo content
    assert crop[256, 256].tolist() == [200, 200, 200]
    assert valid[256, 256] and not valid[0, 0] and not valid[511, 511]
    regions = {"skin": np.ones((512, 512), bool)}
    r2, oval2 = restrict_to_valid(regions, np.ones((512, 512), bool), valid)
    assert not r2["skin"][0, 0] and r2["skin"][256, 256] and oval2.sum() == valid.sum()


def test_tight_face_photo_gets_padding_note(default_backend, grace_rgb: np.ndarray) -> None:  # noqa: ANN001
    det = default_backend.detect(grace_rgb)[0]
    x1, y1, x2, y2 = (int(v) for v in det.box)
    tight = np.ascontiguousarray(grace_rgb[max(y1, 0):y2, max(x1, 0):x2])
    faces = default_backend.align(tight, default_backend.detect(tight))
    assert faces, "the tightly cropped face must still be found"
    f = faces[0]
    assert any("outside the photo" in n for n in f.notes), f.notes
    assert f.crop[0, 0].tolist() == [0, 0, 0]
    for name, mask in f.regions.items():
        assert not (mask & (f.crop.sum(axis=2) == 0) & ~valid_in_crop(f.matrix, tight.shape[:2])).any(), name


def test_small_face_notes_state_native_size() -> None:
    assert face_size_notes(300.0) == []
    note = face_size_notes(96.0)  # a 155 px crop side in the photo: within the trained range (crops down to 128 px)
    assert len(note) == 1 and "96 px native" in note[0] and "x3.3" in note[0] and f"down to {TRAINED_MIN_FACE_PX} px" in note[0]
    assert "false-positive rate on untouched whole photos with faces this small is measured by" in note[0]  # said where, not a number that belongs to one calibration
    assert TRAINED_MIN_FACE_PX == 79 and "below the 79 px" in face_size_notes(70.0)[0]
    assert "tiny face" in face_size_notes(40.0)[0]
