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


def test_outside_share_is_the_share_of_the_oval_in_the_padding() -> None:
    from forgetalk.faces.align import outside_share

    oval = np.zeros((512, 512), bool)
    oval[100:300, 100:300] = True
    valid = np.ones((512, 512), bool)
    assert outside_share(oval, valid) == 0.0
    valid[:, 250:] = False  # the photo ends a quarter of the way into the oval's width
    assert abs(outside_share(oval, valid) - 0.25) < 1e-9
    assert outside_share(np.zeros((512, 512), bool), valid) == 0.0  # no oval: nothing to be outside


def test_a_face_cut_by_the_frame_reports_how_much_of_it_is_outside(default_backend, grace_rgb: np.ndarray) -> None:  # noqa: ANN001
    """The share grows with the cut: whole photo 0, a tight crop to the detection box a few %, a
    third of the box cut off by the right edge well past the verdict's limit."""
    from forgetalk.verdict import MAX_OUTSIDE_SHARE

    det = default_backend.detect(grace_rgb)[0]
    assert default_backend.align(grace_rgb, [det])[0].outside_share == 0.0
    x1, _, x2, _ = det.box
    shares = []
    for cut in (0.1, 0.35):
        photo = np.ascontiguousarray(grace_rgb[:, : int(x2 - cut * (x2 - x1))])
        shares.append(default_backend.align(photo, default_backend.detect(photo))[0].outside_share)
    assert 0.0 < shares[0] < MAX_OUTSIDE_SHARE <= shares[1]


def test_a_face_cut_by_the_frame_is_inconclusive_whatever_its_score() -> None:
    from forgetalk.engines.base import EngineOutput
    from forgetalk.faces.base import AlignedFace, DetectedFace
    from forgetalk.results import VERDICT_INCONCLUSIVE, VERDICT_MANIPULATED, VERDICT_NO_EVIDENCE
    from forgetalk.verdict import MAX_OUTSIDE_SHARE, face_verdict

    det = DetectedFace((0.0, 0.0, 400.0, 400.0), 1.0, np.array([[150, 200], [250, 200], [200, 250], [160, 300], [240, 300]], np.float32))
    eye = np.eye(2, 3)

    def face(share: float) -> AlignedFace:
        return AlignedFace(0, det, np.zeros((512, 512, 3), np.uint8), eye, eye, {}, np.ones((512, 512), bool), outside_share=share)

    meta = {"threshold": 0.8, "measured_fpr": 0.05}
    high = EngineOutput(heatmap=np.zeros((512, 512), np.float32), score=0.95, meta=meta)
    low = EngineOutput(heatmap=np.zeros((512, 512), np.float32), score=0.2, meta=meta)
    assert face_verdict(face(MAX_OUTSIDE_SHARE - 0.01), high)[0] == VERDICT_MANIPULATED
    assert face_verdict(face(MAX_OUTSIDE_SHARE - 0.01), low)[0] == VERDICT_NO_EVIDENCE
    for out in (high, low):
        verdict, reason = face_verdict(face(0.31), out)
        assert verdict == VERDICT_INCONCLUSIVE, reason
        assert reason.startswith("31 % of the face lies outside the photo (cut by its edge)") and "were flagged 30 % of the time" in reason
        assert f"score {out.score:.3f} vs threshold 0.800" in reason


def test_page_one_says_why_a_cut_face_is_inconclusive(tmp_path, grace_rgb: np.ndarray) -> None:  # noqa: ANN001
    """End to end: the photo's only face, a third of it cut off by the right edge."""
    import json

    from click.testing import CliRunner
    from PIL import Image

    from forgetalk.cli import main

    photo = tmp_path / "cut.png"
    Image.fromarray(np.ascontiguousarray(grace_rgb[:, :295])).save(photo)
    res = CliRunner().invoke(main, ["analyze", str(photo), "--summary", str(tmp_path / "t.pdf"), "--json-out", str(tmp_path / "r.json"),
                                    "--overlay", str(tmp_path / "r.png"), "--no-progress"], env={"CI": "1"})
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "r.json").read_text())
    face = rep["faces"][0]
    assert face["outside_share"] >= 0.15 and face["verdict"] == "inconclusive" and rep["verdict"] == "inconclusive"
    assert "lies outside the photo (cut by its edge)" in res.output


def test_a_cut_face_does_not_give_the_image_its_score_while_a_whole_one_is_there() -> None:
    from forgetalk.verdict import MAX_OUTSIDE_SHARE, deciding_index

    scores, sizes = [0.95, 0.40], [120.0, 200.0]
    assert deciding_index(scores, sizes) == 0
    assert deciding_index(scores, sizes, [MAX_OUTSIDE_SHARE, 0.0]) == 1  # the cut face's 0.95 is not read
    assert deciding_index(scores[:1], sizes[:1], [0.5]) == 0  # the only face still gives the score
