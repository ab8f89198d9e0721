"""EXIF: camera, lens, serial, software, dates, GPS, maker note, as the file states them.

Owns the reading of EXIF from any format Pillow exposes it for (JPEG APP1, PNG eXIf, WebP,
TIFF, HEIC/AVIF through their ``exif`` info). Malformed EXIF (bad offsets, wrong counts,
oversized blocks) is a note, never an exception: Pillow's warnings are caught and any
parser error ends the EXIF reading with what was read so far.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image

from .model import ExifInfo, clip

#: EXIF blocks larger than this are not parsed (a camera writes tens of KB; JPEG caps at 64 KB).
MAX_EXIF_BYTES = 4_000_000
_EXPOSURE = {0x829A: "ExposureTime", 0x829D: "FNumber", 0x8827: "ISOSpeedRatings", 0x920A: "FocalLength",
             0x9207: "MeteringMode", 0x9209: "Flash"}
_MAX_VALUE = 200


def _utf8(s: str) -> str:
    """Undo Pillow's Latin-1 decoding of EXIF ASCII where the bytes are really UTF-8.

    EXIF ASCII is 7-bit by the standard, but phones and editors write UTF-8 into it, and
    Pillow decodes every byte as Latin-1: "Café" would read "CafÃ©", and a right-to-left
    override (U+202E) would become "â\x80®", hiding from the report's escaping what the
    file really says. Bytes that are not valid UTF-8 are kept as Pillow read them.
    """
    if s.isascii():
        return s
    try:
        return s.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.split(b"\x00", 1)[0].decode("utf-8", "replace")
    s = _utf8(str(v)).strip().strip("\x00").strip()
    return clip(s, _MAX_VALUE) or None


def _show(v: Any) -> str:
    if isinstance(v, bytes):
        printable = v.rstrip(b"\x00")
        if printable and all(32 <= b < 127 for b in printable[:64]) and len(printable) <= _MAX_VALUE:
            return printable.decode("ascii")
        return f"<{len(v)} bytes>"
    return clip(_utf8(v) if isinstance(v, str) else str(v), _MAX_VALUE)


def parse_date(value: str | None) -> datetime | None:
    """EXIF ``YYYY:MM:DD HH:MM:SS`` (or XMP ISO 8601) as a naive datetime, else None."""
    if not value:
        return None
    s = value.strip()
    for fmt, n in (("%Y:%m:%d %H:%M:%S", 19), ("%Y-%m-%dT%H:%M:%S", 19), ("%Y-%m-%dT%H:%M", 16), ("%Y-%m-%d", 10), ("%Y:%m:%d", 10)):
        try:
            return datetime.strptime(s[:n], fmt)
        except ValueError:
            continue
    return None


def _gps(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    def deg(v: Any, ref: Any) -> float | None:
        try:
            d, m, s = (float(x) for x in v)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        val = d + m / 60 + s / 3600
        return round(-val if str(_text(ref) or "").upper() in ("S", "W") else val, 6)

    if not gps:
        return None, None
    return deg(gps.get(2), gps.get(1)), deg(gps.get(4), gps.get(3))


def read_exif(img: Image.Image, notes: list[str]) -> ExifInfo:
    """EXIF of an opened (not decoded) image; problems go to ``notes``."""
    raw = img.info.get("exif")
    if isinstance(raw, (bytes, bytearray)) and len(raw) > MAX_EXIF_BYTES:
        notes.append(f"EXIF block of {len(raw)} bytes is larger than {MAX_EXIF_BYTES} bytes: not parsed")
        return ExifInfo(present=True)
    fields: dict[str, str] = {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exif = img.getexif()
            ifd0 = dict(exif)
            # pillow-heif rewrites the Orientation of the EXIF it exposes to 1 once it has turned the picture; the file says otherwise
            if isinstance(img.info.get("original_orientation"), int) and 0x0112 in ifd0:
                ifd0[0x0112] = img.info["original_orientation"]
            sub = dict(exif.get_ifd(ExifTags.IFD.Exif)) if ExifTags.IFD.Exif in exif else {}
            gps = dict(exif.get_ifd(ExifTags.IFD.GPSInfo)) if ExifTags.IFD.GPSInfo in exif else {}
        for w in caught:
            notes.append(f"EXIF: {str(w.message).splitlines()[0][:160]}")
    except Exception as exc:  # noqa: BLE001 - malformed metadata is a note, never a failure
        notes.append(f"EXIF is malformed and was not read ({exc.__class__.__name__}: {str(exc)[:160]})")
        return ExifInfo(present=raw is not None)
    if not ifd0 and not sub and not gps:
        if raw:
            notes.append("EXIF block present but no tag could be read from it")
        return ExifInfo(present=bool(raw))
    for tag, v in ifd0.items():
        if tag in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.IFD.Interop):
            continue
        fields[ExifTags.TAGS.get(tag, f"0x{tag:04X}")] = _show(v)
    for tag, v in sub.items():
        fields[ExifTags.TAGS.get(tag, f"0x{tag:04X}")] = _show(v)
    for tag, v in gps.items():
        fields["GPS" + ExifTags.GPSTAGS.get(tag, f"0x{tag:04X}")] = _show(v)
    lat, lon = _gps(gps)
    maker = sub.get(0x927C)
    return ExifInfo(
        present=True,
        make=_text(ifd0.get(0x010F)),
        model=_text(ifd0.get(0x0110)),
        lens=_text(sub.get(0xA434)),
        body_serial=_text(sub.get(0xA431)),
        software=_text(ifd0.get(0x0131)),
        artist=_text(ifd0.get(0x013B)),
        copyright=_text(ifd0.get(0x8298)),
        datetime_original=_text(sub.get(0x9003)),
        datetime_digitized=_text(sub.get(0x9004)),
        datetime_modified=_text(ifd0.get(0x0132)),
        gps_lat=lat,
        gps_lon=lon,
        maker_note_bytes=len(maker) if isinstance(maker, (bytes, bytearray)) else None,
        exposure_fields=tuple(name for tag, name in _EXPOSURE.items() if tag in sub),
        fields=fields,
    )
