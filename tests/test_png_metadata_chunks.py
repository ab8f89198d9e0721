"""A PNG's metadata chunks never stop the face analysis (README "File and provenance").

Why: Pillow refused a whole PNG for one ancillary chunk beyond its limits (a zTXt comment of 200 MB
of zeros, an iTXt XMP packet or a 300 MB iCCP profile, each a few hundred kB compressed), so adding
one chunk made any photo unanalysable (exit 3, "corrupt image (Decompressed data too large for
PngImagePlugin.MAX_TEXT_CHUNK)"). The pixels are now decoded from a copy without such chunks, a
note names them, Pillow's limits stay where they are and the hashes are of the original bytes.
Every input is built here: a small face-free PNG plus one hostile chunk.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from forgetalk import png_chunks
from forgetalk.errors import InputError
from forgetalk.io import load_image

REPO = Path(__file__).resolve().parent.parent
GRACE = REPO / "examples" / "grace_hopper.jpg"


def chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def zeros_deflated(n_mib: int) -> bytes:
    """``n_mib`` MiB of zeros, deflated a MiB at a time (never held inflated in memory)."""
    c, block = zlib.compressobj(9), bytes(1 << 20)
    return b"".join([*(c.compress(block) for _ in range(n_mib)), c.flush()])


@pytest.fixture(scope="module")
def bomb200() -> bytes:
    return zeros_deflated(200)


@pytest.fixture(scope="module")
def bomb300() -> bytes:
    return zeros_deflated(300)


def png_bytes(rgb: np.ndarray, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", **({"exif": exif} if exif else {}))
    return buf.getvalue()


def insert(png: bytes, extra: bytes, after: bytes = b"IHDR") -> bytes:
    """``png`` with ``extra`` (whole chunks) placed right after the first chunk of type ``after``."""
    at = next(c for c in png_chunks.walk(png) if c.type == after)
    return png[:at.end] + extra + png[at.end:]


@pytest.fixture(scope="module")
def tiny() -> tuple[np.ndarray, bytes]:
    """A 24x16 face-free PNG (random colours) and its pixels."""
    rgb = np.random.default_rng(7).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    return rgb, png_bytes(rgb)


def load(data: bytes, tmp_path: Path, name: str = "photo.png"):  # noqa: ANN201 - LoadedImage
    path = tmp_path / name
    path.write_bytes(data)
    return load_image(path)


def ztxt(bomb: bytes, key: bytes = b"Comment") -> bytes:
    return chunk(b"zTXt", key + b"\x00\x00" + bomb)


def iccp(bomb: bytes) -> bytes:
    return chunk(b"iCCP", b"icc\x00\x00" + bomb)


def itxt_xmp(bomb: bytes) -> bytes:
    return chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb)


@pytest.mark.parametrize("kind", ["zTXt", "iCCP", "iTXt"])
def test_a_metadata_bomb_is_ignored_and_the_pixels_decode_as_in_the_clean_png(kind: str, tiny, bomb200: bytes, bomb300: bytes,
                                                                              tmp_path: Path) -> None:  # noqa: ANN001
    rgb, clean = tiny
    extra = {"zTXt": ztxt(bomb200), "iCCP": iccp(bomb300), "iTXt": itxt_xmp(bomb200)}[kind]
    hostile = insert(clean, extra)
    with pytest.raises(ValueError, match="MAX_TEXT_CHUNK"):  # what Pillow itself does with it, unchanged
        Image.open(io.BytesIO(hostile)).load()
    got = load(hostile, tmp_path)
    assert np.array_equal(got.rgb, rgb) and np.array_equal(got.rgb, load(clean, tmp_path, "clean.png").rgb)
    note = got.info.notes[0]
    key = {"zTXt": "'Comment'", "iCCP": "'icc'", "iTXt": "'XML:com.adobe.xmp'"}[kind]
    assert f"{kind} {key}" in note and "ignored" in note and "inflates to more than" in note, note
    assert got.info.sha256 == hashlib.sha256(hostile).hexdigest() == got.info.sha256_after  # the evidence bytes, not the copy
    assert got.info.size_bytes == len(hostile) and got.info.format == "PNG"
    assert PngImagePlugin.MAX_TEXT_CHUNK == 1 << 20 and PngImagePlugin.MAX_TEXT_MEMORY == 64 << 20  # limits left alone


def test_a_bomb_after_the_image_data_is_ignored_too(tiny, bomb200: bytes, tmp_path: Path) -> None:  # noqa: ANN001
    rgb, clean = tiny
    got = load(insert(clean, ztxt(bomb200, b"Late"), after=b"IDAT"), tmp_path)  # read by Pillow only at the end of load()
    assert np.array_equal(got.rgb, rgb)
    assert "zTXt 'Late'" in got.info.notes[0]


def test_only_the_offending_chunk_is_removed_and_exif_orientation_still_applies(bomb200: bytes, tmp_path: Path) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    clean = png_bytes(rgb, exif=exif.tobytes())
    hostile = insert(clean, chunk(b"tEXt", b"Software\x00kept") + ztxt(bomb200))
    a, b = load(clean, tmp_path, "a.png"), load(hostile, tmp_path, "b.png")
    assert a.rgb.shape == (24, 16, 3) and np.array_equal(a.rgb, b.rgb)
    assert "EXIF orientation 6 applied" in b.info.notes
    problems = png_chunks.metadata_problems(hostile)
    assert [(p.chunk.type, p.keyword) for p in problems] == [(b"zTXt", "Comment")]
    stripped = png_chunks.without(hostile, [p.chunk for p in problems])
    assert stripped == clean[:33] + chunk(b"tEXt", b"Software\x00kept") + clean[33:]  # every other byte in place


def test_the_checks_never_inflate_a_chunk_past_pillows_limit(bomb200: bytes, tiny, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    real = zlib.decompressobj
    produced: list[int] = []

    class Spy:
        def __init__(self, *a: object) -> None:
            self._d = real(*a)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            assert 0 < max_length <= PngImagePlugin.MAX_TEXT_CHUNK  # never unbounded
            out = self._d.decompress(data, max_length)
            produced.append(len(out))
            return out

        @property
        def unconsumed_tail(self) -> bytes:
            return self._d.unconsumed_tail

    monkeypatch.setattr(png_chunks.zlib, "decompressobj", Spy)
    hostile = insert(tiny[1], ztxt(bomb200) + iccp(bomb200) + itxt_xmp(bomb200))
    assert len(png_chunks.metadata_problems(hostile)) == 3
    assert produced and max(produced) <= PngImagePlugin.MAX_TEXT_CHUNK


@pytest.mark.parametrize("extra, why", [
    (chunk(b"tEXt", b"Comment\x00hello", crc=0), "bad CRC"),
    (chunk(b"pHYs", b"\x00\x00"), "shorter than the 9"),
    (chunk(b"zTXt", b"Comment\x00\x07xx"), "unknown compression method 7"),
    (chunk(b"iCCP", b""), "no compression method byte"),
], ids=["bad-crc", "short-pHYs", "zTXt-method", "empty-iCCP"])
def test_other_ancillary_chunks_pillow_refuses(tiny, tmp_path: Path, extra: bytes, why: str) -> None:  # noqa: ANN001
    rgb, clean = tiny
    got = load(insert(clean, extra), tmp_path)
    assert np.array_equal(got.rgb, rgb)
    assert why in got.info.notes[0]


def test_text_beyond_pillows_total_is_ignored_from_the_chunk_that_crosses_it(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(PngImagePlugin, "MAX_TEXT_MEMORY", 1000)  # read at call time, as Pillow reads it
    rgb, clean = tiny
    texts = [chunk(b"tEXt", b"K%d\x00" % i + b"x" * 600) for i in range(3)]
    got = load(insert(clean, b"".join(texts)), tmp_path)
    assert np.array_equal(got.rgb, rgb)
    assert "tEXt 'K1'" in got.info.notes[0] and "tEXt 'K2'" in got.info.notes[0] and "'K0'" not in got.info.notes[0]


def test_a_truly_broken_png_is_still_refused(tiny, bomb200: bytes, tmp_path: Path) -> None:  # noqa: ANN001
    _, clean = tiny
    idat = next(c for c in png_chunks.walk(clean) if c.type == b"IDAT")
    broken = clean[:idat.offset + 8] + bytes(idat.length) + clean[idat.offset + 8 + idat.length:]  # image data zeroed
    with pytest.raises(InputError):
        load(insert(broken, ztxt(bomb200)), tmp_path)
    with pytest.raises(InputError):
        load(broken, tmp_path, "plain.png")
    assert png_chunks.metadata_problems(broken) == []  # nothing to blame on metadata: the error stands


def test_provenance_reads_the_rest_of_the_metadata_beside_a_bomb(bomb300: bytes) -> None:
    from forgetalk.provenance.stage import inspect

    rgb = np.random.default_rng(5).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0131] = "EditorX 1.0"  # Software
    hostile = insert(png_bytes(rgb, exif=exif.tobytes()), iccp(bomb300))
    rep = inspect(hostile, "PNG")
    assert rep.exif.software == "EditorX 1.0", rep.notes
    assert any("iCCP 'icc'" in n and "skipped" in n for n in rep.notes), rep.notes
    assert not any("could not be read" in n for n in rep.notes), rep.notes


@pytest.mark.parametrize("kind", ["zTXt", "iCCP"])
def test_cli_analyses_an_example_photo_with_a_metadata_bomb(kind: str, bomb200: bytes, bomb300: bytes, tmp_path: Path) -> None:
    """The command an analyst runs: exit 0 as for the clean PNG, the chunk named, the original hashed."""
    rgb = np.asarray(Image.open(GRACE).convert("RGB"))
    photo = tmp_path / "grace.png"
    photo.write_bytes(insert(png_bytes(rgb), ztxt(bomb200) if kind == "zTXt" else iccp(bomb300)))
    env = {**os.environ, "CI": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "forgetalk.cli", "analyze", str(photo), "--report", str(tmp_path / "r.pdf"),
                          "--engine", "evidence", "--no-progress"], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    assert f"{kind} '{'Comment' if kind == 'zTXt' else 'icc'}'" in res.stdout and "ignored" in res.stdout, res.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["input"]["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert any(kind in w for w in doc["warnings"]) and (tmp_path / "r.pdf").is_file()
