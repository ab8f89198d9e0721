"""libjpeg's own word on a JPEG's picture data: the warnings it prints and Pillow silences.

Why: libjpeg decodes damaged picture data without an error: a bad Huffman code, a segment that
ends before its blocks do, or bytes left over before the end-of-image marker only raise a warning,
and the blocks it could not read are filled in. Pillow silences those warnings, so a JPEG with
3,000 random bytes written into its picture data was analysed as a photo, and scored "likely
manipulated" on its garbled cheeks (a hostile test pass, 2026-11-28). :func:`jpeg_decoder_messages`
decodes the file's :func:`picture_only` copy a second time with OpenCV's libjpeg-turbo at 1/8 scale
in grey (every coefficient is still entropy-decoded, so the warning still comes; a few milliseconds
for a 1024 px photo) and reads what it prints; :func:`picture_damage` keeps a warning that means the
pixels are not all the file's.

Not damage: bytes between two header segments (the marker walk names them in the provenance
stage's structure note) and zero padding after the last block before the end-of-image marker,
which some encoders write.

What it cannot see: damage libjpeg decodes without a warning. Huffman decoding can fall back into
step after a few bad bytes, so a changed byte or a short run of them (a colour band across the
rest of the picture) often leaves nothing to read: in a hostile test, about a quarter of runs of 64
random bytes and most single-bit flips in a 1024 px photo passed unreported.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Sequence

from .jpeg_markers import walk

#: libjpeg's warnings (jerror.h, JWRN_*) that say the picture data could not all be read.
DAMAGE_PREFIXES = ("Corrupt JPEG data", "Premature end of JPEG file", "Inconsistent progression sequence")
#: Every libjpeg warning text that can appear (damage or not): what is taken from the captured stream.
_LIBJPEG = re.compile(r"^(Corrupt JPEG data|Premature end of JPEG file|Inconsistent progression sequence|Invalid SOS parameters|"
                      r"Unknown Adobe color transform|Warning: unknown JFIF revision|Application transferred too many scanlines|"
                      r"Warning: thumbnail image size)")
_EXTRANEOUS = re.compile(r"^Corrupt JPEG data: (\d+) extraneous bytes before marker 0x([0-9a-fA-F]{2})")
_STDERR_LOCK = threading.Lock()


#: Segments a decoder needs (tables, frame, restart interval, scans); application segments and
#: comments are left out of the copy that is checked.
_NEEDED = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF, 0xDB, 0xDD, 0xDA})


def picture_only(data: bytes) -> bytes:
    """``data`` with only what decoding needs: its tables, frame header, scans and their picture
    data; no application segments, comments or stray bytes between segments.

    Why: libjpeg prints only its *first* warning. A harmless one about the header (an unknown JFIF
    revision, a stray byte before a table) was that first warning, and 3,000 random bytes in the
    picture data after it went unreported: the damaged photo scored "likely manipulated" again (a
    hostile test pass). ``data`` itself when its markers cannot be walked."""
    found = walk(data)
    if not found.segments or found.eoi_end is None:
        return data
    out = [b"\xff\xd8"]
    segs = found.segments
    for i, seg in enumerate(segs):
        if seg.marker not in _NEEDED:
            continue
        end = seg.offset + 4 + len(seg.payload)
        # a scan's picture data runs to the next segment (restart markers inside it are kept)
        stop = segs[i + 1].offset if seg.marker == 0xDA and i + 1 < len(segs) else found.eoi_end - 2 if seg.marker == 0xDA else end
        out.append(data[seg.offset:stop])
    out.append(b"\xff\xd9")
    return b"".join(out)


def jpeg_decoder_messages(data: bytes) -> tuple[str, ...]:
    """The lines libjpeg prints while decoding ``data`` (its first warning only: pass
    :func:`picture_only` of a file, so that no header oddity is that warning).

    Read from file descriptor 2, which the decode writes to, held for the few milliseconds of the
    decode; anything else written there meanwhile (another thread's output) is written back byte
    for byte. Callers in the main thread hold Ctrl-C meanwhile (``io.deferred_signals``): an
    interrupt between the two swaps would leave file descriptor 2 on the temporary file."""
    import cv2
    import numpy as np

    buf = np.frombuffer(data, np.uint8)
    with _STDERR_LOCK, tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            try:
                os.dup2(tmp.fileno(), 2)
                cv2.imdecode(buf, cv2.IMREAD_REDUCED_GRAYSCALE_8)
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        tmp.seek(0)
        raw = tmp.read()
    pieces = raw.split(b"\n")
    ours = [p.decode("utf-8", "replace") for p in pieces if _LIBJPEG.match(p.decode("utf-8", "replace"))]
    other = b"\n".join(p for p in pieces if not _LIBJPEG.match(p.decode("utf-8", "replace")))
    if other.strip(b"\n"):
        os.write(2, other)
    return tuple(ours)


def picture_damage(data: bytes, messages: Sequence[str]) -> str | None:
    """The first of ``messages`` that says the picture data is damaged, or None."""
    found = walk(data)
    for message in messages:
        if not message.startswith(DAMAGE_PREFIXES):
            continue
        extra = _EXTRANEOUS.match(message)
        if extra is not None:
            count, marker = int(extra[1]), int(extra[2], 16)
            if any(n == count and m == marker for _, n, m in found.extraneous):
                continue  # stray bytes between header segments, named by the structure note
            if marker == 0xD9 and found.eoi_end is not None:
                tail = data[found.eoi_end - 2 - count:found.eoi_end - 2]
                if len(tail) == count and not tail.strip(b"\x00"):
                    continue  # zero padding after the last block
        return message
    return None
