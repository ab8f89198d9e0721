"""Odd but legitimate inputs from a hostile test pass (2026-11-28): float and 32-bit images with a
non-finite or outlier pixel, an iPhone-style HEIC turned by its container, and the reduced-size
note of a rotated photo."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgetalk.io import load_image
from forgetalk.provenance import inspect

GRACE = Path(__file__).resolve().parents[1] / "examples" / "grace_hopper.jpg"


def _grey() -> np.ndarray:
    return np.asarray(Image.open(GRACE).convert("L"), dtype=np.float64)


@pytest.mark.parametrize(("mode", "bad", "expect"), [
    ("F", np.nan, "1 non-finite pixel(s) (NaN or infinite) set to black"),
    ("F", np.inf, "1 non-finite pixel(s)"),
    ("I", 2**31 - 1, "which span [0, 2.14748e+09]: "),
])
def test_one_bad_pixel_no_longer_blacks_out_a_float_or_32_bit_image(tmp_path: Path, mode: str, bad: float, expect: str) -> None:
    grey = _grey()
    values = grey / 255.0 if mode == "F" else grey * 4.0  # a 0-1 float image; a 0-1020 integer one
    clean = (values.astype(np.float32) if mode == "F" else values.astype(np.int32))
    dirty = clean.copy()
    dirty[0, 0] = bad
    for arr, name in ((clean, "clean.tif"), (dirty, "dirty.tif")):
        Image.fromarray(arr, mode).save(tmp_path / name)
    a, b = load_image(tmp_path / "clean.tif"), load_image(tmp_path / "dirty.tif")
    assert not any("non-finite" in n or "outside it" in n for n in a.info.notes)
    note = next(n for n in b.info.notes if "linearly rescaled" in n)
    assert expect in note, note
    # every other pixel keeps (nearly) the picture it had: not crushed to black
    diff = np.abs(a.rgb.astype(int) - b.rgb.astype(int))[1:, 1:]
    assert float(diff.mean()) < 2.0 and float(b.rgb[1:, 1:].mean()) > 40


def test_a_heic_turned_by_its_container_reports_its_orientation(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif")
    from forgetalk.io import ensure_heif_opener

    ensure_heif_opener()
    upright = Image.open(GRACE)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, "HEIF", exif=exif.tobytes(), quality=90)
    path = tmp_path / "portrait.heic"
    path.write_bytes(buf.getvalue())
    loaded = load_image(path)
    assert loaded.info.exif_orientation == 6
    assert loaded.rgb.shape[:2] == (upright.height, upright.width)  # upright, turned once (by the decoder), not twice
    assert any(n.startswith("EXIF orientation 6 applied (by the HEIF decoder") for n in loaded.info.notes)
    assert inspect(buf.getvalue(), "HEIF").exif.fields.get("Orientation") == "6"


def test_the_reduced_size_note_gives_the_displayed_size(tmp_path: Path) -> None:
    img = Image.new("RGB", (6000, 3000), (128, 128, 128))  # stored landscape, displayed portrait (orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "big.jpg", quality=80, exif=exif.tobytes())
    info = load_image(tmp_path / "big.jpg", analysis_pixels=4_000_000).info
    note = next(n for n in info.notes if n.startswith("photo is "))
    assert note.startswith("photo is 3000x6000") and (info.native_width, info.native_height) == (3000, 6000)
    assert f"({info.width}x{info.height})" in note and info.height > info.width


def test_the_alpha_note_says_how_much_is_transparent(tmp_path: Path) -> None:
    """A face stored under fully transparent pixels is not analysed ("no face found"): the note now
    says how much of the picture that was, so the analyst knows to look at the colour data."""
    rgba = np.asarray(Image.open(GRACE).convert("RGBA")).copy()
    rgba[: rgba.shape[0] // 2, :, 3] = 0
    rgba[rgba.shape[0] // 2:, : rgba.shape[1] // 4, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    note = next(n for n in load_image(tmp_path / "a.png").info.notes if n.startswith("alpha channel"))
    assert "(50.0 % of the pixels fully transparent, 12.5 % partly;" in note


def test_no_face_in_the_first_of_several_frames_says_so(tmp_path: Path) -> None:
    """A face on page 2 of a TIFF gave "No face was found in multi.tif": read as if the file held none."""
    import json

    from _helpers import run_cli

    from forgetalk.render.answer import plain_summary, verdict_words

    blank = Image.new("RGB", (400, 400), (200, 200, 200))
    blank.save(tmp_path / "multi.tif", save_all=True, append_images=[Image.open(GRACE).convert("RGB")])
    code, out, _ = run_cli("analyze", str(tmp_path / "multi.tif"), "--json", "--no-progress")
    rep = json.loads(out)["report"]
    assert code == 4 and rep["input"]["frames"] == 2
    assert "No face was found in multi.tif in its first frame (the only one analysed; the file holds 2)" in plain_summary(rep)
    assert "in its first frame (the only one analysed; the file holds 2)" in verdict_words(rep)[1]
    single = dict(rep, input=dict(rep["input"], frames=1))
    assert "first frame" not in plain_summary(single) and "first frame" not in verdict_words(single)[1]
