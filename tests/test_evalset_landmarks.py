"""Evaluation items get their landmarks measured on their own crop, as an analysis does."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forgetalk.faces.regions import regions_from_mesh
from forgetalk.synth.samples import public_domain_face
from forgetalk.train.evalset import build_family_eval_set, relandmarked


@dataclass(frozen=True)
class _Face:
    photo: str
    crop: np.ndarray
    landmarks: np.ndarray
    face_px: float
    parts: np.ndarray | None = None


def _faces() -> list[_Face]:
    a, b = public_domain_face(), public_domain_face(flip=True)
    return [_Face("a.jpg", a.crop, a.dense_landmarks, 300.0), _Face("b.jpg", b.crop, b.dense_landmarks, 300.0)]


def test_landmarks_are_measured_on_each_item_and_the_draws_do_not_change() -> None:
    faces = _faces()
    seen: list[np.ndarray] = []

    def shifted(crop: np.ndarray) -> np.ndarray:  # a stand-in FaceMesh: the real face's points moved 6 px right
        seen.append(crop)
        return (faces[0].landmarks + np.array([6.0, 0.0], np.float32)).astype(np.float32)

    want_regions, want_oval = regions_from_mesh(faces[0].landmarks + np.array([6.0, 0.0], np.float32), 512)
    plain = build_family_eval_set(faces, seed=3, families=("liquify", "eye_colour"), forgeries_per_face=2)
    logs: list[str] = []
    measured = build_family_eval_set(faces, seed=3, families=("liquify", "eye_colour"), forgeries_per_face=2, landmarks_of=shifted, log=logs.append)
    assert len(seen) == len(measured) == len(plain) == 6
    for p, m in zip(plain, measured, strict=True):
        assert np.array_equal(p.face.crop, m.face.crop) and np.array_equal(p.mask, m.mask)
        assert (p.kind, p.target, p.primary, p.fake) == (m.kind, m.target, m.primary, m.fake)
        assert np.allclose(m.face.dense_landmarks, faces[0].landmarks + np.array([6.0, 0.0]))
        # the regions and the oval follow the measured points, not the real face's
        assert all(np.array_equal(m.face.regions[k], want_regions[k]) for k in want_regions) and np.array_equal(m.face.face_mask, want_oval)
    assert logs == ["[evalset] landmarks re-measured on 6 of 6 items (0 kept the real face's: FaceMesh found no face)"]


def test_an_item_without_a_mesh_keeps_the_real_faces_landmarks() -> None:
    item = build_family_eval_set(_faces(), seed=1, families=("retouch",), forgeries_per_face=1)[1]
    face, ok = relandmarked(item.face, lambda crop: None)
    assert not ok and face is item.face


def test_items_made_one_at_a_time_are_the_list_s() -> None:
    """The benchmark consumes the items as they are made (holding them all peaked at 22 GB): the
    generator gives the list's items, in order, with the same draws and the same counts."""
    from forgetalk.train.evalset import iter_family_eval_set

    faces = _faces()
    def shifted(_crop: np.ndarray) -> None:  # FaceMesh finding no face: every item keeps its landmarks, and is counted
        return None

    made = [0, 0]
    listed = build_family_eval_set(faces, seed=5, families=("liquify", "eye_colour", "part_swap"), forgeries_per_face=3, untouched_per_face=2,
                                   balanced=True, landmarks_of=shifted)
    lazily = list(iter_family_eval_set(faces, seed=5, families=("liquify", "eye_colour", "part_swap"), forgeries_per_face=3, untouched_per_face=2,
                                       balanced=True, landmarks_of=shifted, counts=made))
    assert len(listed) == len(lazily) == len(faces) * 5 and made == [len(listed), len(listed)]
    for x, y in zip(listed, lazily, strict=True):
        assert x.kind == y.kind and x.primary == y.primary and np.array_equal(x.face.crop, y.face.crop) and np.array_equal(x.mask, y.mask)
