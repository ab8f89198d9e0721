"""A JPEG's marker segments, walked without decoding: where each segment sits and where the
picture ends.

Why a module of its own, at the bottom: the provenance stage reads the segments (tables,
metadata, comments) and the decoder in :mod:`forgetalk.io` needs where the end-of-image marker
sits (to tell a picture that ends early from a complete one); both now read one walker.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

#: A marker inside entropy-coded data: 0xFF followed by neither a stuffed 0x00 nor a restart marker.
_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


@dataclass(frozen=True)
class Segment:
    marker: int
    offset: int
    payload: bytes


@dataclass(frozen=True)
class Walk:
    segments: tuple[Segment, ...]
    eoi_end: int | None  # offset just after the EOI marker, None if never reached
    problem: str | None  # why the walk stopped early
    #: (offset, byte count, the marker they precede) for every run of bytes found where a marker
    #: should start; skipped, as libjpeg and Pillow skip them ("N extraneous bytes before marker").
    extraneous: tuple[tuple[int, int, int], ...] = ()


def walk(data: bytes) -> Walk:
    """Every marker segment up to EOI, bounds-checked; entropy-coded data is skipped.

    Bytes where a marker should start are skipped up to the next 0xFF and listed in
    ``extraneous``, as the decoders do: a walk that stopped there read none of the segments after
    them (an XMP packet or a comment after one stray byte went unseen while the picture decoded).
    """
    segs: list[Segment] = []
    junk: list[tuple[int, int, int]] = []
    if data[:2] != b"\xff\xd8":
        return Walk((), None, "no JPEG start-of-image marker")
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            nxt = data.find(b"\xff", pos)
            if nxt < 0 or nxt + 1 >= n:
                return Walk(tuple(segs), None, f"{n - pos} byte(s) of unexpected data at offset {pos} where a marker should be, and no marker after them",
                            tuple(junk))
            junk.append((pos, nxt - pos, data[nxt + 1]))
            pos = nxt
        while pos + 1 < n and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos + 1 >= n:
            break
        marker = data[pos + 1]
        if marker == 0xD9:
            return Walk(tuple(segs), pos + 2, None, tuple(junk))
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if pos + 4 > n:
            return Walk(tuple(segs), None, f"marker 0x{marker:02x} at offset {pos} is cut off", tuple(junk))
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if length < 2 or pos + 2 + length > n:
            return Walk(tuple(segs), None, f"segment 0x{marker:02x} at offset {pos} declares {length} bytes, past the end of the file", tuple(junk))
        segs.append(Segment(marker, pos, data[pos + 4:pos + 2 + length]))
        pos += 2 + length
        if marker == 0xDA:
            m = _ENTROPY_END.search(data, pos)
            while m is not None and data[m.start() + 1] == 0xFF:  # 0xFF fill before a marker
                m = _ENTROPY_END.search(data, m.start() + 1)
            if m is None:
                return Walk(tuple(segs), None, "image data runs to the end of the file without an end-of-image marker", tuple(junk))
            pos = m.start()
    return Walk(tuple(segs), None, "no end-of-image marker", tuple(junk))
