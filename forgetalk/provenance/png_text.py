"""PNG text chunks (tEXt, zTXt, iTXt) and the eXIf chunk, read from the chunk stream.

Owns a bounds-checked PNG chunk walk (no pixel decoding). Compressed text is inflated with
a hard output limit, so a zip bomb in a zTXt chunk costs at most that much memory.
"""

from __future__ import annotations

import struct
import zlib

from .model import clip

MAX_TEXT = 1_000_000  # bytes of inflated text per chunk
MAX_CHUNKS = 10_000
SHOWN = 500  # characters of each value kept in the report
MAX_REPEATS = 16  # chunks of one keyword kept (a file of 10,000 "Software" chunks keeps 16 and says so)


def _inflate(data: bytes, notes: list[str], key: str) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_TEXT)
    except zlib.error as exc:
        notes.append(f"PNG text chunk '{key}' is corrupt ({exc})")
        return b""
    if d.unconsumed_tail:
        notes.append(f"PNG text chunk '{key}' inflates to more than {MAX_TEXT} bytes: cut")
    return out


def read_png_text(data: bytes, notes: list[str]) -> dict[str, str]:
    """key -> value (cut at :data:`SHOWN` characters, with a mark) for every text chunk, in file
    order; a keyword that comes again is kept as ``KEY (2)``, ``KEY (3)``... up to
    :data:`MAX_REPEATS` chunks of it, the rest counted in a note (a second ``Software`` chunk used
    to replace the first, hiding one of the two programs named)."""
    out: dict[str, str] = {}
    seen: dict[str, int] = {}  # chunks met per keyword
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return out
    pos, n = 8, len(data)
    for _ in range(MAX_CHUNKS):
        if pos + 8 > n:
            break
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) < length:
            notes.append(f"PNG chunk {ctype.decode('latin-1')} at offset {pos} runs past the end of the file")
            break
        pos += 12 + length
        if ctype == b"IEND":
            break
        try:
            if ctype == b"tEXt":
                key, _, val = body.partition(b"\x00")
                text = val.decode("latin-1")
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                text = _inflate(rest[1:], notes, key.decode("latin-1")).decode("latin-1")
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                compressed = rest[:1] == b"\x01"
                _lang, _, rest2 = rest[2:].partition(b"\x00")
                _tkey, _, val = rest2.partition(b"\x00")
                raw = _inflate(val, notes, key.decode("latin-1")) if compressed else val
                text = raw.decode("utf-8", "replace")
            else:
                continue
        except (IndexError, UnicodeDecodeError) as exc:
            notes.append(f"PNG text chunk is malformed ({exc.__class__.__name__})")
            continue
        k = clip(key.decode("latin-1"), 79) or "(no keyword)"  # the PNG standard's longest keyword: 79 bytes
        if k == "XML:com.adobe.xmp":
            continue  # read as XMP
        seen[k] = seen.get(k, 0) + 1
        if seen[k] > MAX_REPEATS:
            continue
        # a second chunk of one keyword (a tool that appends, not rewrites) must not replace the first
        name = k if seen[k] == 1 else f"{k} ({seen[k]})"
        while name in out:  # a chunk whose own keyword is "Software (2)" keeps its value too
            name += " (again)"
        out[name] = clip(text, SHOWN)
    for k, n in seen.items():
        if n > MAX_REPEATS:
            notes.append(f"PNG text keyword '{k}' appears {n} times: the first {MAX_REPEATS} are kept")
    return out
