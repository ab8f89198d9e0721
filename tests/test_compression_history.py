"""The compression-history map: a part pasted into a JPEG and saved again is found where it is.

Images here are made by the test (a seeded texture, or the public-domain example photos in
examples/), never the shared face sets.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from forgetalk.compression import face_compression
from forgetalk.faces import AlignedFace, DetectedFace
from forgetalk.provenance.compression_map import block_log_odds, compression_map, reachable_bins
from forgetalk.provenance.stage import inspect
from forgetalk.results import VERDICT_MANIPULATED, VERDICT_NO_EVIDENCE, FaceCompression, RegionCompression

REPO = Path(__file__).resolve().parents[1]


def jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def texture(seed: int, size: int = 512) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, size)
    base = (np.outer(np.sin(x * 7 + seed), np.cos(x * 5)) * 50 + 128)[..., None] + rng.normal(0, 9, (size, size, 3))
    return np.clip(cv2.GaussianBlur(base, (0, 0), 0.7), 0, 255).astype(np.uint8)


def pasted(host: np.ndarray, donor: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``host`` with ``donor`` resampled (scaled 1.07, as an editor fits a part) inside ``box``."""
    y0, y1, x0, x1 = box
    scaled = cv2.resize(donor, None, fx=1.07, fy=1.07, interpolation=cv2.INTER_LINEAR)
    out = host.copy()
    out[y0:y1, x0:x1] = scaled[y0:y1, x0:x1]
    return out


def test_reachable_bins_leave_the_gaps_of_a_double_histogram() -> None:
    """First step 8, second 5: values 8k/5 rounded are 0, 2, 3, 5, 6, 8, ...; 1, 4 and 7 are gaps."""
    x = np.arange(0, 9, dtype=np.float64)
    assert reachable_bins(x, 8.0, 5.0).tolist() == [1, 0, 1, 1, 0, 1, 1, 0, 1]
    assert reachable_bins(np.array([1.0]), 8.0, 5.0, slack=0.3).tolist() == [1]  # decoder noise tolerated


def _face(size: int, part: np.ndarray) -> AlignedFace:
    """An 'aligned face' that is the photo itself (identity warp), with one part and a whole-face mask."""
    det = DetectedFace(box=(0.0, 0.0, float(size), float(size)), score=1.0, landmarks5=np.zeros((5, 2), np.float32))
    ident = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return AlignedFace(index=0, detection=det, crop=np.zeros((size, size, 3), np.uint8), matrix=ident, inverse=ident,
                       regions={"mouth": part, "left_cheek": np.roll(part, -200, axis=1)}, face_mask=np.ones((size, size), bool))


def test_a_pasted_patch_is_reported_and_its_untouched_twin_is_not() -> None:
    box = (320, 400, 200, 320)
    first = decode(jpeg(texture(1), 70))  # the host photo as it came: compressed once, at quality 70
    part = np.zeros(first.shape[:2], bool)
    part[box[0] + 8: box[1] - 8, box[2] + 8: box[3] - 8] = True
    results = {}
    for name, img in (("forged", pasted(first, texture(2), box)), ("twin", first)):
        data = jpeg(img, 92)  # edited (or not) and saved again
        prov = inspect(data, "JPEG")
        cmap = compression_map(data, prov)
        assert cmap is not None, prov.jpeg.double_compression
        fc = face_compression(cmap, _face(img.shape[0], part))
        assert fc is not None
        results[name] = fc
    forged = {r.region: r for r in results["forged"].regions}
    assert results["forged"].single_regions == ("mouth",)
    assert forged["mouth"].log_odds > results["forged"].reference_log_odds + 2.0
    assert results["twin"].single_regions == ()
    assert not forged["left_cheek"].single


def test_blocks_clipped_to_white_are_left_out() -> None:
    """A block that touches white was clipped by the decoder: it counts no coefficient either way."""
    rng = np.random.default_rng(0)
    y = rng.normal(0, 40, (16, 16)).clip(-100, 100).astype(np.float32)
    y[12, 12] = 127.0  # one white pixel in the bottom-right block
    total, count = block_log_odds(y, tuple([4] * 64), {"0,1": 6, "1,0": 6, "1,1": 6})
    assert count[0, 0] > 0 and count[1, 1] == 0 and total[1, 1] == 0


def test_the_test_and_the_map_decode_the_photo_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """inspect_file decodes a twice-saved JPEG's luminance once for the test and the map, and the
    same map comes out as from two decodes; outside that call nothing is kept."""
    from forgetalk.pipeline import inspect_file
    from forgetalk.provenance import double_jpeg

    data = jpeg(decode(jpeg(texture(4), 70)), 92)
    decodes = []
    real = double_jpeg._y_plane
    monkeypatch.setattr(double_jpeg, "_y_plane", lambda d: decodes.append(1) or real(d))
    got = inspect_file(data, "JPEG")
    assert got.compression is not None and len(decodes) == 1
    alone = compression_map(data, inspect(data, "JPEG"))
    assert len(decodes) == 3  # the test's decode and the map's, without the scope
    assert np.array_equal(got.compression.log_odds, alone.log_odds) and np.array_equal(got.compression.coefficients, alone.coefficients)


def test_no_map_for_a_single_compression_or_a_png() -> None:
    img = texture(3)
    once = jpeg(img, 85)
    assert compression_map(once, inspect(once, "JPEG")) is None
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    assert compression_map(buf.getvalue(), inspect(buf.getvalue(), "PNG")) is None


@pytest.mark.slow
def test_the_report_names_a_mouth_pasted_into_a_resaved_photo(tmp_path: Path) -> None:
    """End to end through the product: Grace Hopper's photo (public domain) saved at quality 70,
    the astronaut's mouth area resampled into her mouth, saved at 92: the mouth is reported as
    compressed once, with its sentence, and the untouched photo saved the same way reports nothing."""
    from forgetalk.faces.align import warp_map_to_photo
    from forgetalk.pipeline import AnalyzeOptions, Analyzer

    an = Analyzer(AnalyzeOptions(engine="evidence"))
    host = decode(jpeg(np.asarray(Image.open(REPO / "examples" / "grace_hopper.jpg").convert("RGB")), 70))
    face = an.backend.align(host, an.backend.detect(host))[0]
    mouth = warp_map_to_photo(face.regions["mouth"].astype(np.float32), face.inverse, host.shape[:2]) > 0.5
    mouth = cv2.dilate(mouth.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    donor = cv2.resize(np.asarray(Image.open(REPO / "examples" / "astronaut.png").convert("RGB")), host.shape[1::-1])
    donor = cv2.resize(donor, None, fx=1.05, fy=1.05)[: host.shape[0], : host.shape[1]]
    forged = np.where(mouth[..., None], donor, host).astype(np.uint8)
    (tmp_path / "forged.jpg").write_bytes(jpeg(forged, 92))
    (tmp_path / "twin.jpg").write_bytes(jpeg(host, 92))
    twin_rep = an.analyze_path(tmp_path / "twin.jpg").report
    rep = an.analyze_path(tmp_path / "forged.jpg").report
    comp = rep.faces[0].compression
    assert comp is not None and comp.single_regions[:1] == ("mouth",)
    assert rep.faces[0].regions[0].name == "mouth"  # a reported region goes first
    assert rep.faces[0].verdict == VERDICT_MANIPULATED and "JPEG compression history: mouth" in rep.faces[0].verdict_reason
    mouth_row = next(r for r in rep.faces[0].regions if r.name == "mouth")
    assert any(e.startswith("Compression history:") for e in mouth_row.explanations)
    assert any(n.startswith("Compression history:") for n in rep.faces[0].notes)
    assert rep.to_dict()["faces"][0]["compression"]["single_regions"][0] == "mouth"
    twin = twin_rep.faces[0].compression
    assert twin is not None and twin.single_regions == ()
    assert "compression history" not in twin_rep.faces[0].verdict_reason


def test_a_reported_region_sets_the_verdict_and_the_score_stays_the_engines() -> None:
    from forgetalk.engines.base import EngineOutput
    from forgetalk.verdict import face_verdict

    face = _face(512, np.zeros((512, 512), bool))
    face = AlignedFace(**{**face.__dict__, "detection": DetectedFace((0.0, 0.0, 400.0, 400.0), 1.0,
                                                                     np.array([[150, 200], [250, 200], [200, 250], [160, 300], [240, 300]], np.float32))})
    out = EngineOutput(heatmap=np.zeros((512, 512), np.float32), score=0.1, meta={"threshold": 0.8, "measured_fpr": 0.05})
    row = RegionCompression("nose", 20.0, 300.0, 1.2, 1.5, 25.0, True)
    reported = FaceCompression(-0.3, 1.0, (row,), ("nose",), 10.0, 0.4, "m")
    quiet = FaceCompression(-0.3, 1.0, (RegionCompression("nose", 20.0, 300.0, 0.0, 0.3, 2.0, False),), (), 10.0, 0.4, "m")
    verdict, reason = face_verdict(face, out, None, reported)
    assert verdict == VERDICT_MANIPULATED and reason.startswith("JPEG compression history: nose") and "score 0.100 < threshold 0.800" in reason
    assert face_verdict(face, out, None, quiet)[0] == VERDICT_NO_EVIDENCE


@pytest.mark.slow
def test_the_summary_names_the_compression_history_and_why_the_order_changed(tmp_path: Path) -> None:
    """The committed nose-swap example: the terminal summary says why the face is flagged and
    that the reported region was put first, not only "ranked by rise above real faces"."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "forgetalk.cli", "analyze", str(REPO / "examples" / "grace_hopper_nose_swap.jpg"),
                          "--report", str(tmp_path / "r.pdf"), "--engine", "evidence", "--no-progress"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert any(ln.strip().startswith("JPEG compression history: nose compressed once") for ln in lines)
    assert any("regions the JPEG compression history reports come first" in ln for ln in lines)
    assert "top regions: nose" in res.stdout


@pytest.mark.parametrize(("mouth_per_coefficient", "reported"), [(-0.25, False), (0.5, True)])
def test_a_region_is_reported_only_when_its_own_evidence_favours_one_compression(mouth_per_coefficient: float, reported: bool) -> None:
    """A region merely less twice-compressed than the skin (-0.25 against -0.66, as on a retouched
    press photo) is not "compressed once"; one whose own log-odds favour a single compression is."""
    from forgetalk.provenance.compression_map import CompressionMap

    rng = np.random.default_rng(0)
    count = np.full((64, 64), 10.0, np.float32)
    total = (-0.66 + rng.normal(0, 0.5, (64, 64))).astype(np.float32) * count
    part = np.zeros((512, 512), bool)
    part[320:400, 200:320] = True
    total[40:50, 25:40] = mouth_per_coefficient * count[40:50, 25:40]
    fc = face_compression(CompressionMap(log_odds=total, coefficients=count, frequencies=("0,1",)), _face(512, part))
    assert fc is not None
    mouth = next(r for r in fc.regions if r.region == "mouth")
    assert mouth.excess > 0.4 and mouth.z > 10  # over both thresholds either way
    assert mouth.single is reported and (fc.single_regions == ("mouth",)) is reported


@pytest.mark.parametrize("orientation,mapped", [(1, True), (0, True), (9, True), (-6, True), (6, False), (3, False)])
def test_compression_map_is_dropped_only_for_a_photo_actually_turned(orientation: int, mapped: bool) -> None:
    """An invalid orientation tag (0, 9, -6) leaves the photo as stored, on its JPEG grid: the map
    was dropped with a note saying the photo had been rotated."""
    from forgetalk.io import InputInfo
    from forgetalk.pipeline import Inspected, _usable_compression_map
    from forgetalk.provenance.compression_map import CompressionMap

    info = InputInfo(path="/p.jpg", name="p.jpg", size_bytes=1, sha256="0", sha256_after="0", format="JPEG", mode="RGB",
                     width=64, height=48, exif_orientation=orientation)
    grid = np.zeros((6, 8), np.float32)
    cmap, note = _usable_compression_map(Inspected(provenance=None, compression=CompressionMap(grid, grid, ("0,1",))), info, (48, 64))  # type: ignore[arg-type]
    assert (cmap is not None) == mapped and (note is None) == mapped


@pytest.mark.parametrize("orientation,reduction,words", [
    (2, 1, "analysed mirrored left to right by its EXIF orientation (2)"),
    (4, 1, "analysed mirrored top to bottom by its EXIF orientation (4)"),
    (3, 1, "analysed rotated 180 degrees by its EXIF orientation (3)"),
    (6, 1, "analysed rotated 90 degrees clockwise by its EXIF orientation (6)"),
    (1, 2, "analysed reduced to 1/2 resolution, off the JPEG block grid"),
    (2, 2, "analysed reduced to 1/2 resolution and mirrored left to right by its EXIF orientation (2)"),
])
def test_the_unmapped_note_says_what_was_done_to_the_photo(orientation: int, reduction: int, words: str) -> None:
    """Orientations 2 and 4 are mirror flips: the note said the photo was "reduced or rotated"."""
    from forgetalk.io import InputInfo
    from forgetalk.pipeline import Inspected, _usable_compression_map
    from forgetalk.provenance.compression_map import CompressionMap

    info = InputInfo(path="/p.jpg", name="p.jpg", size_bytes=1, sha256="0", sha256_after="0", format="JPEG", mode="RGB",
                     width=64, height=48, exif_orientation=orientation, reduction=reduction)
    grid = np.zeros((6, 8), np.float32)
    cmap, note = _usable_compression_map(Inspected(provenance=None, compression=CompressionMap(grid, grid, ("0,1",))), info, (48, 64))  # type: ignore[arg-type]
    assert cmap is None and note is not None and words in note, note
    assert "reduced or rotated" not in note
    assert ("rotated" in note) == (orientation in (3, 6)) and ("reduced" in note) == (reduction != 1)


def test_the_unmapped_note_for_pixels_off_the_grid_blames_neither_reduction_nor_orientation() -> None:
    from forgetalk.io import InputInfo
    from forgetalk.pipeline import Inspected, _usable_compression_map
    from forgetalk.provenance.compression_map import CompressionMap

    info = InputInfo(path="/p.jpg", name="p.jpg", size_bytes=1, sha256="0", sha256_after="0", format="JPEG", mode="RGB",
                     width=64, height=48, exif_orientation=1)
    grid = np.zeros((5, 8), np.float32)
    cmap, note = _usable_compression_map(Inspected(provenance=None, compression=CompressionMap(grid, grid, ("0,1",))), info, (48, 64))  # type: ignore[arg-type]
    assert cmap is None and note == "compression history not mapped: the analysed 64x48 pixels do not fit the JPEG's 8x5 blocks"
