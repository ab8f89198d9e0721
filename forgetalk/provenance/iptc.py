"""IPTC-IIM (JPEG APP13 Photoshop resources, TIFF tag 33723): creator, credit, caption, program.

Owns the IIM record. Pillow's reader is used; a malformed record is a note.
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


def _text(v: Any) -> str:
    if isinstance(v, list):
        return clip("; ".join(_text(x) for x in v), 300)
    if isinstance(v, bytes):
        return clip(v.decode("utf-8", "replace").strip("\x00 "), 300)
    return clip(str(v), 300)


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
    fields = {DATASETS.get(k, f"{k[0]}:{k[1]}"): _text(v) for k, v in rec.items() if isinstance(k, tuple) and k[0] == 2 and k[1] != 0}
    return IptcInfo(present=True, fields=fields)
