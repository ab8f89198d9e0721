"""JPEG file structure: markers, quantization tables, subsampling, thumbnail, trailing data.

Owns the byte-level walk of a JPEG (never trusting a length field: every read is bounds
checked, and a broken segment ends the walk with a note instead of an exception), the
reading of its quantization tables against libjpeg's standard scaling and a small table
of software signatures, the EXIF thumbnail against the main image, data after the
end-of-image marker and the MPF (multi-picture) index. Double-compression evidence is in
:mod:`.double_jpeg`, which uses the tables read here.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from functools import lru_cache

import numpy as np
from PIL import Image

from ..jpeg_markers import Segment, walk
from .model import JpegInfo, QuantTable, ThumbnailCheck, clip

#: Zigzag position -> natural (row-major) index, as DQT stores the 64 values.
ZIGZAG = (0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
          35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63)

#: libjpeg's (IJG, JPEG standard Annex K) base tables at quality 50, natural order.
IJG_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)
IJG_CHROMA = np.full(64, 99, dtype=np.int64)
IJG_CHROMA[[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 24, 25]] = [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 47, 66]

_SOF_NAMES = {0xC0: "baseline", 0xC1: "extended sequential", 0xC2: "progressive", 0xC3: "lossless",
              0xC5: "differential sequential", 0xC6: "differential progressive", 0xC7: "differential lossless",
              0xC9: "arithmetic sequential", 0xCA: "arithmetic progressive", 0xCB: "arithmetic lossless",
              0xCD: "arithmetic differential sequential", 0xCE: "arithmetic differential progressive",
              0xCF: "arithmetic differential lossless"}
_MAX_COMMENT = 300
#: Runs of stray bytes named one by one in the structure note; the rest are counted.
_MAX_JUNK_RUNS = 4


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's ``jpeg_quality_scaling`` + ``jpeg_add_quant_table`` with force_baseline."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((base * scale + 50) // 100, 1, 255)


def table_quality(values: np.ndarray, base: np.ndarray) -> int:
    """IJG-equivalent quality of any table (the inverse of the scaling on the mean ratio)."""
    scale = float(np.mean(values / base) * 100.0)
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return int(round(min(max(quality, 1.0), 100.0)))


def libjpeg_quality(values: np.ndarray, base: np.ndarray) -> int | None:
    """The quality whose standard libjpeg table equals ``values`` exactly, else None."""
    guess = table_quality(values, base)
    for q in sorted(range(max(1, guess - 3), min(100, guess + 3) + 1), key=lambda x: abs(x - guess)):
        if np.array_equal(ijg_table(base, q), values):
            return q
    return None


@lru_cache(maxsize=1)
def _signature_table() -> tuple[tuple[str, tuple[tuple[int, ...], ...]], ...]:
    """Known non-standard table sets, as they appear in files (luma, chroma; natural order).

    Built once by encoding an 8x8 image with each of Pillow's ``JpegPresets`` (Pillow
    documents them as equivalent to Adobe Photoshop's quality settings) and reading the
    tables back, so the signatures are exactly what a file made that way carries, and a
    test can reproduce every one of them.
    """
    from PIL import JpegPresets

    out = []
    tiny = Image.new("RGB", (8, 8), (128, 128, 128))
    for name in JpegPresets.presets:
        buf = io.BytesIO()
        tiny.save(buf, "JPEG", quality=name)
        tables = _read_dqt_tables(buf.getvalue())
        if tables:
            out.append((f"Adobe Photoshop '{name.replace('_', ' ')}' quality tables (as reproduced by Pillow's JpegPresets)",
                        tuple(tuple(int(v) for v in t) for _i, _p, t in tables[:2])))
    return tuple(out)


def _read_dqt_tables(data: bytes) -> list[tuple[int, int, np.ndarray]]:
    return [t for seg in walk(data).segments if seg.marker == 0xDB for t in parse_dqt(seg.payload)]


def parse_dqt(payload: bytes) -> list[tuple[int, int, np.ndarray]]:
    """(table id, precision bits, 64 values in natural order) for each table in one DQT."""
    out = []
    pos = 0
    while pos < len(payload):
        pq, tq = payload[pos] >> 4, payload[pos] & 15
        n = 128 if pq else 64
        body = payload[pos + 1: pos + 1 + n]
        if len(body) < n:
            break
        zz = np.frombuffer(body, dtype=">u2" if pq else np.uint8).astype(np.int64)
        nat = np.empty(64, np.int64)
        nat[list(ZIGZAG)] = zz
        out.append((tq, 16 if pq else 8, nat))
        pos += 1 + n
    return out


def software_signature(luma: np.ndarray, chroma: np.ndarray | None) -> tuple[str | None, bool]:
    """(what the tables match, whether they are libjpeg's standard ones)."""
    ql = libjpeg_quality(luma, IJG_LUMA)
    qc = libjpeg_quality(chroma, IJG_CHROMA) if chroma is not None else ql
    if ql is not None and qc == ql:
        return (f"libjpeg standard tables at quality {ql} (libjpeg/libjpeg-turbo and what builds on them: "
                "Pillow, OpenCV, ImageMagick, GIMP, many phones' and web services' encoders)"), True
    key = (tuple(int(v) for v in luma), tuple(int(v) for v in chroma) if chroma is not None else None)
    for name, tables in _signature_table():
        if tables[0] == key[0] and (key[1] is None or len(tables) < 2 or tables[1] == key[1]):
            return name, False
    return None, False


# --------------------------------------------------------------------------- marker walk


def _segment_name(seg: Segment) -> str:
    m, p = seg.marker, seg.payload
    if 0xE0 <= m <= 0xEF:
        n = m - 0xE0
        for prefix, label in ((b"JFIF\0", "JFIF"), (b"JFXX\0", "JFIF extension"), (b"Exif\0", "Exif"),
                              (b"http://ns.adobe.com/xap/1.0/\0", "XMP"), (b"http://ns.adobe.com/xmp/extension/\0", "extended XMP"),
                              (b"ICC_PROFILE\0", "ICC profile"), (b"MPF\0", "MPF"), (b"Photoshop 3.0\0", "Photoshop IRB"),
                              (b"Adobe", "Adobe"), (b"Ducky", "Ducky (Photoshop Save for Web)"), (b"JP", "JUMBF")):
            if p.startswith(prefix):
                return f"APP{n} {label}"
        tag = re.sub(rb"[^ -~]", b"", p[:16]).decode("ascii")
        return f"APP{n} {tag}".rstrip()
    if m in _SOF_NAMES:
        return f"SOF{m - 0xC0}"
    return {0xDB: "DQT", 0xC4: "DHT", 0xDA: "SOS", 0xDD: "DRI", 0xFE: "COM", 0xCC: "DAC"}.get(m, f"0x{m:02X}")


def _compress_names(names: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    count = 0
    for i, name in enumerate(names):
        count += 1
        if i + 1 < len(names) and names[i + 1] == name:
            continue
        out.append(f"{name} x{count}" if count > 1 else name)
        count = 0
    return tuple(out)


# --------------------------------------------------------------------------- TIFF (EXIF, MPF)


def _ifd(tiff: bytes, offset: int) -> tuple[dict[int, tuple[int, int, bytes]], int, str]:
    """One TIFF IFD: tag -> (type, count, 4-byte value field); next IFD offset; byte order."""
    bo = "<" if tiff[:2] == b"II" else ">"
    if tiff[:2] not in (b"II", b"MM") or offset + 2 > len(tiff):
        return {}, 0, bo
    (count,) = struct.unpack(bo + "H", tiff[offset:offset + 2])
    entries = {}
    for i in range(min(count, 1000)):
        e = offset + 2 + 12 * i
        if e + 12 > len(tiff):
            break
        tag, typ, cnt = struct.unpack(bo + "HHI", tiff[e:e + 8])
        entries[tag] = (typ, cnt, tiff[e + 8:e + 12])
    nxt_at = offset + 2 + 12 * count
    nxt = struct.unpack(bo + "I", tiff[nxt_at:nxt_at + 4])[0] if nxt_at + 4 <= len(tiff) else 0
    return entries, nxt, bo


def _long(entry: tuple[int, int, bytes] | None, bo: str) -> int | None:
    if entry is None:
        return None
    typ, _cnt, raw = entry
    return struct.unpack(bo + ("H" if typ == 3 else "I"), raw[:2] if typ == 3 else raw)[0]


def exif_thumbnail(exif_tiff: bytes) -> bytes | None:
    """The JPEG thumbnail of IFD1 (JPEGInterchangeFormat/Length), bounds-checked."""
    if len(exif_tiff) < 8 or exif_tiff[:2] not in (b"II", b"MM"):
        return None
    bo = "<" if exif_tiff[:2] == b"II" else ">"
    ifd0 = struct.unpack(bo + "I", exif_tiff[4:8])[0]
    _e0, ifd1, _ = _ifd(exif_tiff, ifd0)
    if not ifd1 or ifd1 >= len(exif_tiff):
        return None
    e1, _n, _ = _ifd(exif_tiff, ifd1)
    off, length = _long(e1.get(0x0201), bo), _long(e1.get(0x0202), bo)
    if not off or not length or off + length > len(exif_tiff):
        return None
    thumb = exif_tiff[off:off + length]
    return thumb if thumb[:2] == b"\xff\xd8" else None


def mpf_image_count(payload: bytes) -> int | None:
    """NumberOfImages (0xB001) of an APP2 MPF segment."""
    tiff = payload[4:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    bo = "<" if tiff[:2] == b"II" else ">"
    entries, _n, _ = _ifd(tiff, struct.unpack(bo + "I", tiff[4:8])[0])
    return _long(entries.get(0xB001), bo)


# --------------------------------------------------------------------------- thumbnail check

#: A thumbnail whose grey levels differ from the downscaled main image by more than this
#: (mean absolute difference, 0-255) in any cell of an 8x8 grid does not show the same picture.
THUMB_CELL_MAD = 28.0
THUMB_MIN_CORRELATION = 0.90


def compare_thumbnail(data: bytes, thumb: bytes) -> tuple[ThumbnailCheck, str | None]:
    """Decode the thumbnail and the main image at about its size and compare them in grey."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_img = Image.open(io.BytesIO(thumb))
            tw, th = t_img.size
            if tw * th > 1_000_000 or tw < 8 or th < 8:
                return ThumbnailCheck(present=True, width=tw, height=th), f"EXIF thumbnail of {tw}x{th} not compared (unusual size)"
            t = np.asarray(t_img.convert("L"), np.float32)
            main = Image.open(io.BytesIO(data))
            main.draft("L", (tw * 2, th * 2))
            m_img = main.convert("L")
    except Exception as exc:  # noqa: BLE001 - a corrupt thumbnail is a note, never a failure
        return ThumbnailCheck(present=True), f"EXIF thumbnail could not be decoded ({exc.__class__.__name__}: {str(exc)[:120]})"
    t = _trim_bars(t, m_img.size[0] / m_img.size[1])
    h, w = t.shape
    m = np.asarray(m_img.resize((w, h), Image.BOX), np.float32)
    diff = np.abs(m - t)
    mad = float(diff.mean())
    a, b = m - m.mean(), t - t.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    corr = float((a * b).sum() / denom) if denom > 0 else 1.0
    ys = np.linspace(0, h, 9).astype(int)
    xs = np.linspace(0, w, 9).astype(int)
    cell = max(float(diff[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].mean()) for i in range(8) for j in range(8)
               if ys[i + 1] > ys[i] and xs[j + 1] > xs[j])
    mismatch = cell > THUMB_CELL_MAD or corr < THUMB_MIN_CORRELATION
    return ThumbnailCheck(present=True, width=tw, height=th, compared=True, mean_abs_diff=round(mad, 3),
                          correlation=round(corr, 4), mismatch=mismatch), None


def _trim_bars(t: np.ndarray, main_aspect: float) -> np.ndarray:
    """Cameras letterbox thumbnails to 160x120; cut black bars when the aspect differs."""
    h, w = t.shape
    if abs(w / h - main_aspect) / main_aspect < 0.03:
        return t
    rows = np.where(t.mean(axis=1) > 12)[0]
    cols = np.where(t.mean(axis=0) > 12)[0]
    if rows.size < 8 or cols.size < 8:
        return t
    return t[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


# --------------------------------------------------------------------------- the JPEG reading


def _subsampling(factors: list[tuple[int, int]]) -> str | None:
    if len(factors) < 3:
        return None
    (hy, vy), rest = factors[0], factors[1:3]
    if any(f != rest[0] for f in rest) or rest[0] != (1, 1):
        return "other"
    return {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0", (4, 1): "4:1:1"}.get((hy, vy), "other")


def read_jpeg(data: bytes) -> tuple[JpegInfo, bytes | None, list[str]]:
    """(structure, the EXIF TIFF payload if any, notes). Never raises on bad bytes."""
    notes: list[str] = []
    w = walk(data)
    if w.problem:
        notes.append(f"JPEG structure: {w.problem}")
    if w.extraneous:
        runs = "; ".join(f"{count} at offset {off} before marker 0x{marker:02x}" for off, count, marker in w.extraneous[:_MAX_JUNK_RUNS])
        more = f"; {len(w.extraneous) - _MAX_JUNK_RUNS} more run(s)" if len(w.extraneous) > _MAX_JUNK_RUNS else ""
        notes.append(f"JPEG structure: bytes where a marker should start ({runs}{more}), skipped as decoders skip them: "
                     "a damaged copy, or a segment written longer than its declared length")
    names: list[str] = []
    tables: list[QuantTable] = []
    raw_tables: dict[int, np.ndarray] = {}
    comments: list[str] = []
    coding, progressive, factors = "unknown", False, []
    exif_payload: bytes | None = None
    mpf: int | None = None
    for seg in w.segments:
        names.append(_segment_name(seg))
        if seg.marker == 0xDB:
            for tid, bits, values in parse_dqt(seg.payload):
                raw_tables[tid] = values
                base = IJG_LUMA if tid == 0 else IJG_CHROMA
                tables.append(QuantTable(index=tid, precision_bits=bits, values=tuple(int(v) for v in values),
                                         quality=table_quality(values, base), libjpeg_quality=libjpeg_quality(values, base)))
        elif seg.marker in _SOF_NAMES and coding == "unknown":
            coding = _SOF_NAMES[seg.marker]
            progressive = seg.marker in (0xC2, 0xC6, 0xCA, 0xCE)
            p = seg.payload
            if len(p) >= 6:
                for i in range(min(p[5], 4)):
                    c = p[6 + 3 * i: 9 + 3 * i]
                    if len(c) == 3:
                        factors.append((c[1] >> 4, c[1] & 15))
        elif seg.marker == 0xFE:
            comments.append(clip(seg.payload.decode("utf-8", "replace").strip("\x00 \r\n"), _MAX_COMMENT))
        elif seg.marker == 0xE1 and seg.payload.startswith(b"Exif\0") and exif_payload is None:
            exif_payload = seg.payload[6:]
        elif seg.marker == 0xE2 and seg.payload.startswith(b"MPF\0"):
            try:
                mpf = mpf_image_count(seg.payload)
            except struct.error:
                notes.append("MPF segment is malformed")
    trailing = len(data) - w.eoi_end if w.eoi_end is not None else 0
    kind = None
    if trailing > 0:
        tail = data[w.eoi_end:]
        if tail[:2] == b"\xff\xd8":
            kind = "another JPEG image"
        elif not tail.strip(b"\x00"):
            kind = "zero padding"
        elif tail[:2] == b"PK":
            kind = "a ZIP archive"
        else:
            kind = "unidentified data"
    luma = raw_tables.get(0)
    signature, standard = software_signature(luma, raw_tables.get(1)) if luma is not None else (None, False)
    info = JpegInfo(
        coding=coding, progressive=progressive, components=len(factors), subsampling=_subsampling(factors),
        quant_tables=tuple(tables), quality=table_quality(luma, IJG_LUMA) if luma is not None else None,
        standard_tables=standard, software_signature=signature, segments=_compress_names(names),
        comments=tuple(c for c in comments if c), trailing_bytes=trailing, trailing_kind=kind, mpf_images=mpf,
    )
    return info, exif_payload, notes
