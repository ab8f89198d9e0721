"""Error level analysis and the PDF's JPEG pictures on photos wider or taller than JPEG allows (65,500 px).

A hostile test pass: `analyze skinny.png --report r.pdf` on a 100000x2 PNG exited 1 ("broken data
stream when writing image file") after libjpeg printed its own line on stderr, and in a scan with
--pdf the item became error/internal, lost its overlay and JSON, and was retried on every run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _helpers import ENTRY, scan_cli
from PIL import Image

from forgetalk.provenance.ela import JPEG_MAX_SIDE, error_level


def _noise(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def _strip(path: Path, width: int, height: int) -> Path:
    Image.fromarray(_noise((height, width))).save(path)
    return path


@pytest.mark.parametrize("shape", [(203, 317), (2, 500), (500, 3), (130, 130), (17, 300)])
@pytest.mark.parametrize("max_side", [20, 64, 100, 129])
def test_tiled_error_level_is_the_whole_resave_pixel_for_pixel(shape: tuple[int, int], max_side: int) -> None:
    """Tiles on the JPEG grid with a margin of blocks around them: the same ELA, not an approximation
    (margins of 0 or 8 px differ at the tile borders: chroma is 4:2:0 and interpolated across blocks)."""
    img = _noise(shape, seed=sum(shape))
    whole = error_level(img)
    tiled = error_level(img, max_side=max_side)
    assert tiled.shape == whole.shape and np.array_equal(tiled, whole)


@pytest.mark.parametrize("shape", [(2, JPEG_MAX_SIDE + 100), (JPEG_MAX_SIDE + 8, 3)])
def test_error_level_of_a_side_over_the_jpeg_limit(shape: tuple[int, int]) -> None:
    img = _noise(shape)
    ela = error_level(img)  # raised OSError ("broken data stream when writing image file") before
    assert ela.shape == img.shape and ela.dtype == np.uint8 and ela.any()


def test_jpeg_bytes_never_asks_for_a_side_over_the_jpeg_limit() -> None:
    from forgetalk.render.pdfkit import jpeg_bytes

    data, w, h = jpeg_bytes(_noise((2, JPEG_MAX_SIDE + 100)), max_px=10**6)
    assert data.startswith(b"\xff\xd8") and w == JPEG_MAX_SIDE and h == 2


def test_a_failed_ela_picture_is_a_line_in_the_report_not_a_failed_report(monkeypatch: pytest.MonkeyPatch) -> None:
    import forgetalk.provenance.ela as ela
    from forgetalk.provenance.model import ProvenanceReport
    from forgetalk.render.provenance import _DefaultStyles, _ela_flowables

    def broken(*_a: object, **_k: object) -> np.ndarray:
        raise OSError("broken data stream when writing image file")

    monkeypatch.setattr(ela, "error_level", broken)
    story = _ela_flowables(_noise((16, 16)), ProvenanceReport(format="PNG"), _DefaultStyles())
    assert not any(type(f).__name__ == "Image" for f in story)
    assert "The picture was not drawn: the re-save as JPEG failed (broken data stream" in story[-1].text


@pytest.mark.parametrize("size", [(100_000, 2), (3, 70_000)])
def test_analyze_report_of_a_photo_wider_than_jpeg_allows(tmp_path: Path, size: tuple[int, int]) -> None:
    """The console script (a subprocess: libjpeg writes to the process's own stderr, not Python's)."""
    src = _strip(tmp_path / "skinny.png", *size)
    out = tmp_path / "o"
    proc = subprocess.run([*ENTRY, "analyze", str(src), "--report", str(out / "r.pdf"), "--engine", "evidence", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4, proc.stderr  # valid image, no face: the report is still written
    assert "Maximum supported image dimension" not in proc.stderr and "error:" not in proc.stderr, proc.stderr
    assert (out / "r.pdf").read_bytes().startswith(b"%PDF")
    assert json.loads((out / "r.json").read_text())["input"]["width"] == size[0]


def test_scan_pdf_of_a_photo_wider_than_jpeg_allows(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _strip(src / "skinny.png", 100_000, 2)
    out = tmp_path / "results"
    code, summary, err = scan_cli([str(src), "--out", str(out), "--pdf", "--workers", "0"])
    assert code == 0, err
    (row,) = json.loads((out / "index.json").read_text())["items"]
    assert row["status"] == "no_face" and row["error_kind"] is None, row
    # The index's pdf column was always empty: the worker journals the report as write_outputs names it, "report".
    assert all(row[k] and (out / row[k]).is_file() for k in ("overlay", "json", "pdf"))
    assert (out / row["pdf"]).read_bytes().startswith(b"%PDF")
