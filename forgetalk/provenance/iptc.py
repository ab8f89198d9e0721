"""IPTC-IIM (JPEG APP13 Photoshop resources, TIFF tag 33723): creator, credit, caption, program.

Owns the IIM record. Pillow's reader is used; a malformed record is a note.

Text is decoded by the record's own declaration: dataset 1:90 (CodedCharacterSet) ``ESC % G``
says UTF-8, ``ESC . A`` ISO 8859-1 (Latin-1). Without either the IIM standard leaves the set open; writers use UTF-8 or Latin-1, so
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


#: Dataset 1:90's value for ISO 8859-1 (``ESC . A``): the bytes are Latin-1 whatever they look like.
LATIN1_DECLARED = b"\x1b.A"


def _decode(v: bytes, charset: str | None) -> tuple[str, bool]:
    """(the text, whether the bytes were valid in the set used). ``charset`` "utf-8": UTF-8, U+FFFD
    for bad bytes; "latin-1": Latin-1; None (undeclared or unknown): UTF-8 when valid, else Latin-1."""
    if charset == "latin-1":
        return v.decode("latin-1"), True
    try:
        return v.decode("utf-8"), True
    except UnicodeDecodeError:
        return (v.decode("utf-8", "replace") if charset == "utf-8" else v.decode("latin-1")), charset != "utf-8"


def _text(v: Any, charset: str | None = None) -> tuple[str, bool]:
    """A dataset's value (a repeated dataset comes as a list) as text, and whether it was valid in
    its declared character set. An empty dataset is empty text, not "None"."""
    if isinstance(v, list):
        parts = [_text(x, charset) for x in v]
        return clip("; ".join(t for t, _ in parts), 300), all(ok for _, ok in parts)
    if isinstance(v, bytes):
        text, ok = _decode(v, charset)
        return clip(text.strip("\x00 "), 300), ok
    return ("" if v is None else clip(str(v), 300)), True


def _charset(v: Any) -> str:
    """Dataset 1:90 as the report shows it: "UTF-8" for ``ESC % G``, "ISO 8859-1" for ``ESC . A``,
    else its bytes escaped."""
    raw = v[0] if isinstance(v, list) and v else v
    if raw == UTF8_DECLARED:
        return "UTF-8"
    if raw == LATIN1_DECLARED:
        return "ISO 8859-1"
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
    values = declared if isinstance(declared, list) else [declared]
    charset = "utf-8" if UTF8_DECLARED in values else "latin-1" if LATIN1_DECLARED in values else None
    fields: dict[str, str] = {}
    bad: list[str] = []
    for k, v in rec.items():
        if isinstance(k, tuple) and k[0] == 2 and k[1] != 0:
            name = DATASETS.get(k, f"{k[0]}:{k[1]}")
            fields[name], ok = _text(v, charset)
            if not ok:
                bad.append(name)
    if bad:
        notes.append(f"IPTC record declares UTF-8 (1:90) but {', '.join(bad[:5])} {'is' if len(bad) == 1 else 'are'} not valid UTF-8 (shown with \ufffd)")
    if declared is not None:
        fields["CodedCharacterSet"] = _charset(declared)
    return IptcInfo(present=True, fields=fields)
