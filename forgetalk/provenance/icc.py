"""ICC colour profile: presence, size and its description (``desc``/``mluc`` tag).

Owns a small bounds-checked reader of the profile's tag table; nothing is applied to pixels.
"""

from __future__ import annotations

import struct

from .model import IccInfo, clip


def _desc(profile: bytes) -> str | None:
    if len(profile) < 132:
        return None
    (count,) = struct.unpack(">I", profile[128:132])
    for i in range(min(count, 200)):
        e = 132 + 12 * i
        if e + 12 > len(profile):
            return None
        sig, off, size = struct.unpack(">4sII", profile[e:e + 12])
        if sig != b"desc" or off + min(size, 12) > len(profile):
            continue
        body = profile[off:off + size]
        if body[:4] == b"desc" and len(body) >= 12:
            (n,) = struct.unpack(">I", body[8:12])
            return clip(body[12:12 + n].split(b"\x00", 1)[0].decode("latin-1").strip(), 200) or None
        if body[:4] == b"mluc" and len(body) >= 28:
            nrec, _rsize = struct.unpack(">II", body[8:16])
            if nrec < 1:
                return None
            length, offset = struct.unpack(">II", body[20:28])
            return clip(body[offset:offset + length].decode("utf-16-be", "replace").strip("\x00 "), 200) or None
    return None


def read_icc(profile: bytes | None, notes: list[str]) -> IccInfo:
    if not profile:
        return IccInfo()
    try:
        desc = _desc(profile)
    except (struct.error, ValueError) as exc:
        notes.append(f"ICC profile is malformed ({exc})")
        desc = None
    return IccInfo(present=True, size_bytes=len(profile), description=desc)
