"""libjpeg's own word on a JPEG's picture data: the warnings it prints and Pillow silences.

Why: libjpeg decodes damaged picture data without an error: a bad Huffman code, a segment that
ends before its blocks do, or bytes left over before the end-of-image marker only raise a warning,
and the blocks it could not read are filled in. Pillow silences those warnings, so a JPEG with
3,000 random bytes written into its picture data was analysed as a photo, and scored "likely
manipulated" on its garbled cheeks (a hostile test pass, 2026-11-28). :func:`jpeg_decoder_messages`
decodes the file a second time with OpenCV's libjpeg-turbo at 1/8 scale in grey (every coefficient
is still entropy-decoded, so every warning still comes; a few milliseconds for a 1024 px photo) and
reads what it prints; :func:`picture_damage` keeps the warnings that mean the pixels are not all
the file's.

Not damage: bytes between two header segments (the marker walk names them in the provenance
stage's structure note) and zero padding after the last block before the end-of-image marker,
which some encoders write.
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


def jpeg_decoder_messages(data: bytes) -> tuple[str, ...]:
    """The lines libjpeg prints while decoding ``data`` (its first warning; libjpeg prints one).

    Read from file descriptor 2, which the decode writes to, held for the few milliseconds of the
    decode; anything else written there meanwhile (another thread's output) is written back."""
    import cv2
    import numpy as np

    buf = np.frombuffer(data, np.uint8)
    with _STDERR_LOCK, tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            try:
                cv2.imdecode(buf, cv2.IMREAD_REDUCED_GRAYSCALE_8)
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode("utf-8", "replace")
    ours = [line for line in text.splitlines() if _LIBJPEG.match(line)]
    other = "".join(line + "\n" for line in text.splitlines() if line and not _LIBJPEG.match(line))
    if other:
        os.write(2, other.encode("utf-8", "replace"))
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
