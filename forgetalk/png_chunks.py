"""PNG chunk structure: a bounds-checked walk, the metadata chunks Pillow refuses, and a copy without them.

Why this module exists: Pillow reads a PNG's ancillary metadata chunks (text, ICC profile, gamma...)
while it decodes, and refuses the *whole image* when one of them breaks its limits, e.g. a zTXt
comment that inflates beyond ``PngImagePlugin.MAX_TEXT_CHUNK``. One added chunk would then make any
photo unanalysable. Those chunks carry no pixels, so the loader decodes a copy of the bytes without
the offending chunks instead (:func:`forgetalk.io.load_image`), says which chunks and why in a note,
and keeps hashing the original bytes. Raising Pillow's limits instead would reopen the decompression
bombs they guard against: the checks here apply Pillow's own limits and never inflate a chunk past
them (nor, in all, past :data:`PROBE_BUDGET`).

Every function is pure over bytes: nothing is read from disk and nothing is decoded to pixels.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Ancillary chunks that change the decoded pixels (transparency, APNG frames): never removed, since
#: that would change what is analysed; their problems are the image's own. (``eXIf``, which may hold
#: the orientation, is only ever removed for a bad CRC, for which Pillow refuses the image anyway.)
PIXEL_CHUNKS = frozenset({b"tRNS", b"acTL", b"fcTL", b"fdAT"})
#: The shortest data Pillow accepts in its fixed-size chunks (shorter: "Truncated gAMA chunk").
MIN_LENGTH = {b"gAMA": 4, b"cHRM": 32, b"sRGB": 1, b"pHYs": 9}
#: A walk stops after this many chunks (a real photo has a few dozen).
MAX_CHUNKS = 100_000
#: Bytes the checks may inflate over all compressed chunks together; later ones are not examined.
PROBE_BUDGET = 256 << 20
#: Chunks named one by one in a note; the rest are counted.
NAMED_IN_NOTE = 5


@dataclass(frozen=True)
class Chunk:
    """One chunk: its 4-byte type and where it sits (``offset`` is that of its length field)."""

    type: bytes
    offset: int
    length: int  # bytes of data, between the type and the CRC
    crc_ok: bool

    @property
    def end(self) -> int:
        return self.offset + 12 + self.length

    @property
    def ancillary(self) -> bool:
        """Bit 5 of the first type byte (a lower-case letter): a decoder may skip it (PNG spec 5.4)."""
        return bool(self.type[0] & 0x20)

    @property
    def name(self) -> str:
        return self.type.decode("latin-1")

    def data(self, png: bytes) -> bytes:
        return png[self.offset + 8:self.offset + 8 + self.length]


@dataclass(frozen=True)
class Problem:
    """A metadata chunk Pillow would refuse the image for, and why, in words for the report."""

    chunk: Chunk
    keyword: str  # text keyword or ICC profile name; "" when the chunk has none
    reason: str

    def describe(self) -> str:
        key = f" '{self.keyword}'" if self.keyword else ""
        return f"{self.chunk.name}{key} ({self.chunk.length:,} bytes at offset {self.chunk.offset}): {self.reason}"


def is_png(data: bytes) -> bool:
    return data[:8] == SIGNATURE


def walk(png: bytes) -> list[Chunk]:
    """Every complete chunk after the signature, up to and including IEND.

    Stops (without raising) at a chunk that runs past the end of the data or whose type is not
    four ASCII letters: what follows is the decoder's to judge, as a truncated or corrupt file.
    """
    out: list[Chunk] = []
    if not is_png(png):
        return out
    pos, n = 8, len(png)
    while len(out) < MAX_CHUNKS and pos + 12 <= n:
        length, ctype = struct.unpack(">I4s", png[pos:pos + 8])
        if not all(65 <= b <= 90 or 97 <= b <= 122 for b in ctype) or pos + 12 + length > n:
            break
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        crc_ok = zlib.crc32(png[pos + 4:pos + 8 + length]) & 0xFFFFFFFF == crc
        out.append(Chunk(ctype, pos, length, crc_ok))
        pos += 12 + length
        if ctype == b"IEND":
            break
    return out


def _keyword(data: bytes) -> str:
    key = data.split(b"\x00", 1)[0][:79].decode("latin-1")
    return "".join(c if c.isprintable() else "?" for c in key)


class _Inflater:
    """Inflates compressed chunk content the way Pillow does (``_safe_zlib_decompress``), never past
    its per-chunk limit, and never more than :data:`PROBE_BUDGET` bytes in all."""

    def __init__(self, max_chunk: int) -> None:
        self.max_chunk = max_chunk
        self.left = PROBE_BUDGET

    def __call__(self, compressed: bytes, want: int | None = None) -> tuple[str, bytes]:
        """("ok", text) when it inflates within ``min(max_chunk, want)`` bytes; ("over", b"") beyond
        that; ("corrupt", b"") for data zlib refuses (Pillow then keeps the chunk empty); ("budget",
        b"") once :data:`PROBE_BUDGET` is spent."""
        cap = self.max_chunk if want is None else min(self.max_chunk, want)
        if self.left < cap:
            return "budget", b""
        d = zlib.decompressobj()
        try:
            out = d.decompress(compressed, cap)
        except zlib.error:
            return "corrupt", b""
        self.left -= len(out)
        if d.unconsumed_tail:  # Pillow's own test: more output was waiting
            return "over", b""
        return "ok", out


def metadata_problems(png: bytes, max_chunk: int | None = None, max_text: int | None = None) -> list[Problem]:
    """The ancillary metadata chunks for which Pillow would refuse the image, in file order.

    Mirrors ``PngImagePlugin``'s chunk handlers: compressed text (zTXt, compressed iTXt) and ICC
    profiles (iCCP) that inflate beyond ``MAX_TEXT_CHUNK`` or name an unknown compression method,
    text beyond the ``MAX_TEXT_MEMORY`` total, fixed-size chunks too short to hold their fields, and
    a bad CRC on an ancillary chunk before the image data (the only ones Pillow checks). Chunks that
    change the pixels (:data:`PIXEL_CHUNKS`) and critical chunks are never listed: their problems are
    the image's own. The limits default to Pillow's, read at call time.
    """
    from PIL import PngImagePlugin

    max_chunk = PngImagePlugin.MAX_TEXT_CHUNK if max_chunk is None else max_chunk
    max_text = PngImagePlugin.MAX_TEXT_MEMORY if max_text is None else max_text
    inflate = _Inflater(max_chunk)
    text_used = 0
    seen_idat = False
    out: list[Problem] = []

    for ch in walk(png):
        if ch.type in (b"IDAT", b"fdAT"):
            seen_idat = True
        if not ch.ancillary or ch.type in PIXEL_CHUNKS:
            continue
        data = ch.data(png)
        key = _keyword(data) if ch.type in (b"tEXt", b"zTXt", b"iTXt", b"iCCP") else ""
        reason = _problem(ch, data, seen_idat, inflate, max_text - text_used, max_text)
        if isinstance(reason, str):
            out.append(Problem(ch, key, reason))
        else:
            text_used += reason
    return out


def _problem(ch: Chunk, data: bytes, seen_idat: bool, inflate: _Inflater, room: int, max_text: int) -> str | int:
    """Why Pillow would refuse the image for this ancillary chunk, or else the characters of text it
    adds to Pillow's text total (``room``: what is left of that total)."""
    if not ch.crc_ok and not seen_idat:
        return "bad CRC (the chunk was altered or damaged)"
    if ch.type in MIN_LENGTH and ch.length < MIN_LENGTH[ch.type]:
        return f"{ch.length} bytes, shorter than the {MIN_LENGTH[ch.type]} its fields need"
    text_total = f"its text would take Pillow's total for text chunks beyond {max_text:,} characters"
    if ch.type in (b"zTXt", b"iCCP"):
        nul = data.find(b"\x00")  # Pillow: no separator means a zTXt without text, and an iCCP read from byte 0
        if ch.type == b"zTXt" and nul < 0:
            return 0
        if nul + 1 >= len(data):
            return 0 if ch.type == b"zTXt" else "no compression method byte (malformed profile chunk)"
        if data[nul + 1] != 0:
            return f"unknown compression method {data[nul + 1]}"
        counted = ch.type == b"zTXt" and nul > 0
        status, text = inflate(data[nul + 2:], room + 1 if counted else None)
        if status == "over" and counted and room + 1 < inflate.max_chunk:
            return text_total
        return _status_reason(status, inflate) or (len(text) if counted else 0)
    n = 0
    if ch.type == b"tEXt":
        key, _, value = data.partition(b"\x00")
        n = len(value) if key else 0
    elif ch.type == b"iTXt":
        status, n = _itxt(data, inflate, room + 1)
        if status == "over" and room + 1 < inflate.max_chunk:
            return text_total
        why = _status_reason(status, inflate)
        if why:
            return why
    return text_total if n > room else n


def _status_reason(status: str, inflate: _Inflater) -> str | None:
    if status == "over":
        return f"inflates to more than {inflate.max_chunk:,} bytes, Pillow's limit per chunk (a decompression bomb)"
    if status == "budget":
        return f"not examined: the file's compressed metadata inflates beyond {PROBE_BUDGET:,} bytes in all"
    return None  # "ok", or "corrupt": Pillow keeps such a chunk empty and goes on


def split_itxt(data: bytes) -> tuple[bytes, int, int, bytes, bytes, bytes] | None:
    """An iTXt chunk's data split as Pillow splits it: (keyword, compression flag, compression
    method, language, translated keyword, value as stored), or None where Pillow cannot split it
    (and skips the chunk)."""
    key, sep, rest = data.partition(b"\x00")
    if not sep or len(rest) < 2:
        return None
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) < 3:
        return None
    return key, rest[0], rest[1], parts[0], parts[1], parts[2]


def _itxt(data: bytes, inflate: _Inflater, cap: int) -> tuple[str, int]:
    """(inflate status, characters Pillow would count) for an iTXt chunk, parsed as Pillow parses it:
    a chunk it cannot split or decode is skipped, and so counts nothing here."""
    split = split_itxt(data)
    if split is None:
        return "ok", 0
    _key, compressed, method, lang, tkey, value = split
    if compressed:
        if method != 0:
            return "ok", 0
        status, value = inflate(value, cap)
        if status != "ok":
            return status, 0
    try:
        lang.decode("utf-8")
        tkey.decode("utf-8")
        return "ok", len(value.decode("utf-8"))
    except UnicodeDecodeError:
        return "ok", 0


def without(png: bytes, chunks: Iterable[Chunk]) -> bytes:
    """A copy of ``png`` with ``chunks`` (from :func:`walk` of the same bytes) cut out, every other
    byte in place: the image data, palette and transparency are untouched."""
    cut = sorted({(c.offset, c.end) for c in chunks})
    parts, pos = [], 0
    for start, end in cut:
        parts.append(png[pos:start])
        pos = end
    parts.append(png[pos:])
    return b"".join(parts)


def repaired(data: bytes) -> tuple[bytes, list[Problem]] | None:
    """``data`` without the metadata chunks Pillow refuses it for, and those chunks; None when
    ``data`` is not a PNG or has none (the failure is then the image's own). The one step the
    pixel decoding and the provenance stage both take after Pillow refused a file."""
    problems = metadata_problems(data) if is_png(data) else []
    return (without(data, (p.chunk for p in problems)), problems) if problems else None


def ignored_note(problems: list[Problem]) -> str:
    """The report note for chunks left out of the pixel decoding."""
    named = "; ".join(p.describe() for p in problems[:NAMED_IN_NOTE])
    more = f"; and {len(problems) - NAMED_IN_NOTE} more" if len(problems) > NAMED_IN_NOTE else ""
    return (f"PNG metadata chunk{'s' if len(problems) > 1 else ''} ignored for decoding the pixels: {named}{more}. "
            "The pixels were decoded from a copy of the file without "
            f"{'them' if len(problems) > 1 else 'it'} (metadata carries no pixels); hashes are of the original file")
