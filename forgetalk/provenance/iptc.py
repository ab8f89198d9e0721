"""IPTC-IIM (JPEG APP13 Photoshop resources, TIFF tag 33723): creator, credit, caption, program.

Owns the IIM record. Pillow's reader is used; a malformed record is a note.

Text is decoded by the record's own declaration: dataset 1:90 (CodedCharacterSet) ``ESC % G``
says UTF-8. Without it the IIM standard leaves the set open; writers use UTF-8 or Latin-1, so
bytes that are valid UTF-8 are read as UTF-8 and any others as Latin-1 (every byte a character).
Reading everything as UTF-8 turned a Latin-1 "Jürgen" into "J\ufffdrgen", losing the byte.
"""

from __future__ import annotations

import warnings
from typing import Any

from PIL import Image

from .model import IptcInfo, clip

#: (record, dataset) -> name, the datasets analysts read.
DATASETS = {(2, 5): "ObjectName", (2, 25): "Keywords", (2, 55): "DateCreated", (2, 60): "TimeCreated",
            (2, 62): "DigitalCreationDate", (2, 65): "OriginatingProgram", (2, 70): "ProgramVersion",
            (2, 80): "By-line", (2, 85): "By-lineTitle", (2, 90): "City", (2, 101): "Country",
            (2, 105): "Headline", (2, 110): "Credit", (2, 115): "Source", (2, 116): "CopyrightNotice",
            (2, 120): "Caption-Abstract", (2, 122): "Writer-Editor"}


#: Dataset 1:90's value for UTF-8 (ISO 2022 escape ``ESC % G``).
UTF8_DECLARED = b"\x1b%G"


def _decode(v: bytes, utf8: bool) -> tuple[str, bool]:
    """(the text, whether the bytes were valid UTF-8): UTF-8 when valid; otherwise, if the record
    declares UTF-8, with U+FFFD for the bad bytes, else as Latin-1."""
    try:
        return v.decode("utf-8"), True
    except UnicodeDecodeError:
        return (v.decode("utf-8", "replace") if utf8 else v.decode("latin-1")), False


def _text(v: Any, utf8: bool = False) -> tuple[str, bool]:
    """A dataset's value (a repeated dataset comes as a list) as text, and whether it was valid UTF-8."""
    if isinstance(v, list):
        parts = [_text(x, utf8) for x in v]
        return clip("; ".join(t for t, _ in parts), 300), all(ok for _, ok in parts)
    if isinstance(v, bytes):
        text, ok = _decode(v, utf8)
        return clip(text.strip("\x00 "), 300), ok
    return clip(str(v), 300), True


def _charset(v: Any) -> str:
    """Dataset 1:90 as the report shows it: "UTF-8" for ``ESC % G``, else its bytes escaped."""
    raw = v[0] if isinstance(v, list) and v else v
    if raw == UTF8_DECLARED:
        return "UTF-8"
    return clip(repr(raw) if isinstance(raw, bytes) else str(raw), 60)


def read_iptc(img: Image.Image, notes: list[str]) -> IptcInfo:
    if img.format not in ("JPEG", "MPO", "TIFF"):
        return IptcInfo()
    try:
        from PIL import IptcImagePlugin

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = IptcImagePlugin.getiptcinfo(img)
    except Exception as exc:  # noqa: BLE001 - malformed metadata is a note
        notes.append(f"IPTC record is malformed and was not read ({exc.__class__.__name__})")
        return IptcInfo(present=True)
    if not rec:
        return IptcInfo()
    declared = rec.get((1, 90))
    utf8 = declared == UTF8_DECLARED or (isinstance(declared, list) and UTF8_DECLARED in declared)
    fields: dict[str, str] = {}
    bad: list[str] = []
    for k, v in rec.items():
        if isinstance(k, tuple) and k[0] == 2 and k[1] != 0:
            name = DATASETS.get(k, f"{k[0]}:{k[1]}")
            fields[name], ok = _text(v, utf8)
            if utf8 and not ok:
                bad.append(name)
    if bad:
        notes.append(f"IPTC record declares UTF-8 (1:90) but {', '.join(bad[:5])} {'is' if len(bad) == 1 else 'are'} not valid UTF-8 (shown with \ufffd)")
    if declared is not None:
        fields["CodedCharacterSet"] = _charset(declared)
    return IptcInfo(present=True, fields=fields)
