"""Damaged JPEG picture data: libjpeg's warnings, which Pillow silences, are read and make the
verdict "inconclusive" (a hostile test pass: 3,000 random bytes written into the picture data
were analysed as a photo, scored "likely manipulated" on the garbled cheeks, exit 0, no note)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from _helpers import run_cli

from forgetalk.io import load_image
from forgetalk.jpeg_damage import jpeg_decoder_messages, picture_damage, picture_only
from forgetalk.jpeg_markers import walk

GRACE = Path(__file__).resolve().parents[1] / "examples" / "grace_hopper.jpg"


def _scan_span(data: bytes) -> tuple[int, int]:
    """(first byte of the picture data, offset of the end-of-image marker)."""
    w = walk(data)
    sos = next(s for s in w.segments if s.marker == 0xDA)
    assert w.eoi_end is not None
    return sos.offset + 2 + len(sos.payload) + 2, w.eoi_end - 2


def _garbage(data: bytes, n: int = 300) -> bytes:
    start, end = _scan_span(data)
    rng = random.Random(0)
    mid = (start + end) // 2
    return data[:mid] + bytes(rng.randrange(255) for _ in range(n)) + data[mid:]  # no 0xFF: no marker invented


def _flipped(data: bytes) -> bytes:
    start, end = _scan_span(data)
    rng = random.Random(1)
    b = bytearray(data)
    for _ in range(20):
        k = rng.randrange(start + 1, end)
        if b[k] != 0xFF and b[k - 1] != 0xFF:
            b[k] ^= 0x5A
    return bytes(b)


def test_damaged_picture_data_is_found_and_padding_or_header_bytes_are_not() -> None:
    data = GRACE.read_bytes()
    assert jpeg_decoder_messages(data) == () and picture_damage(data, ()) is None
    for damaged in (_garbage(data), _flipped(data)):
        msgs = jpeg_decoder_messages(picture_only(damaged))
        assert picture_damage(damaged, msgs) is not None and msgs[0].startswith("Corrupt JPEG data")
    start, end = _scan_span(data)
    cut = data[:(start + end) // 2] + data[(start + end) // 2 + 500:]
    assert picture_damage(cut, jpeg_decoder_messages(picture_only(cut))) == "Corrupt JPEG data: premature end of data segment"
    # zero padding after the last block: libjpeg counts it as extraneous, it is not damage
    padded = data[:end] + b"\0" * 16 + data[end:]
    msgs = jpeg_decoder_messages(picture_only(padded))
    assert msgs and "extraneous bytes before marker 0xd9" in msgs[0] and picture_damage(padded, msgs) is None
    # a stray byte pair between header segments: the marker walk names it, the picture is intact
    i = data.index(b"\xff\xdb")
    stray = data[:i] + b"\x00\x13" + data[i:]
    assert jpeg_decoder_messages(stray) == ("Corrupt JPEG data: 2 extraneous bytes before marker 0xdb",)
    assert jpeg_decoder_messages(picture_only(stray)) == ()  # checked without the header's stray bytes: nothing to report
    assert picture_damage(stray, ("Corrupt JPEG data: 2 extraneous bytes before marker 0xdb",)) is None


def test_other_output_on_stderr_during_the_decode_is_written_back(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    import cv2

    def noisy(buf, flags):  # noqa: ANN001, ANN202 - stands in for cv2.imdecode
        os.write(2, b"another thread's line\nCorrupt JPEG data: bad Huffman code\n")

    monkeypatch.setattr(cv2, "imdecode", noisy)
    assert jpeg_decoder_messages(b"") == ("Corrupt JPEG data: bad Huffman code",)
    assert capfd.readouterr().err == "another thread's line\n"


def test_a_damaged_jpeg_is_analysed_with_a_note_and_an_inconclusive_verdict(tmp_path: Path) -> None:
    photo = tmp_path / "damaged.jpg"
    photo.write_bytes(_garbage(GRACE.read_bytes(), 3000))
    info = load_image(photo).info
    assert info.picture_damage is not None and info.picture_damage.startswith("Corrupt JPEG data")
    assert any(n.startswith("the JPEG's picture data is damaged (libjpeg: ") for n in info.notes)
    code, out, err = run_cli("analyze", str(photo), "--json", "--no-progress")
    assert code == 0, err
    rep = json.loads(out)["report"]
    assert rep["verdict"] == "inconclusive" and rep["input"]["picture_damage"] == info.picture_damage
    assert all(f["verdict"] == "inconclusive" and "picture data is damaged" in f["verdict_reason"] for f in rep["faces"])
    assert "Corrupt JPEG" not in err  # libjpeg's own line does not leak to the terminal
    assert load_image(GRACE).info.picture_damage is None
    code, out, _ = run_cli("analyze", str(photo), "--no-progress")  # the terminal says why, under the face's line
    assert code == 0 and "    the JPEG's picture data is damaged (libjpeg: Corrupt JPEG data" in out


def test_a_harmless_first_warning_no_longer_hides_damage_after_it() -> None:
    """(hostile pass) libjpeg prints only its first warning: an unknown JFIF revision or a stray
    byte before a table was that warning, and the damaged picture data after it went unreported."""
    damaged = _garbage(GRACE.read_bytes(), 3000)
    assert damaged[6:11] == b"JFIF\0"
    jfif3 = damaged[:11] + b"\x03" + damaged[12:]  # JFIF major version 3
    i = damaged.index(b"\xff\xdb")
    stray = damaged[:i] + b"\x00\x13" + damaged[i:]
    for data in (jfif3, stray):
        assert jpeg_decoder_messages(data)[0].startswith(("Warning: unknown JFIF", "Corrupt JPEG data: 2 extraneous"))  # the mask
        assert picture_damage(picture_only(data), jpeg_decoder_messages(picture_only(data))) is not None
    # the copy that is checked keeps the picture: the same pixels as the original
    import cv2
    import numpy as np

    good = GRACE.read_bytes()
    a, b = (cv2.imdecode(np.frombuffer(x, np.uint8), cv2.IMREAD_GRAYSCALE) for x in (good, picture_only(good)))
    assert a.shape == b.shape and np.array_equal(a, b)


def test_other_output_is_written_back_byte_for_byte(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    import cv2

    def noisy(buf, flags):  # noqa: ANN001, ANN202
        os.write(2, b"progress 10%\rprogress 20%\r\nCorrupt JPEG data: bad Huffman code\nlast")

    monkeypatch.setattr(cv2, "imdecode", noisy)
    assert jpeg_decoder_messages(b"") == ("Corrupt JPEG data: bad Huffman code",)
    assert capfd.readouterr().err == "progress 10%\rprogress 20%\r\nlast"


def test_ctrl_c_during_the_decode_never_leaves_stderr_swapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(hostile pass) 1 in 509 interrupts left file descriptor 2 on the deleted temporary file: every
    later line, "error: interrupted" included, was lost. The loader holds Ctrl-C for the decode."""
    import signal

    import cv2

    real = cv2.imdecode

    def interrupted(buf, flags):  # noqa: ANN001, ANN202
        os.kill(os.getpid(), signal.SIGINT)
        return real(buf, flags)

    monkeypatch.setattr(cv2, "imdecode", interrupted)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(GRACE.read_bytes())
    before = os.fstat(2)
    with pytest.raises(KeyboardInterrupt):
        load_image(photo)
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
