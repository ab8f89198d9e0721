"""Evidence-safe image loading, hashing and atomic output writes.

Owns every byte that crosses the disk boundary for a single analysis: inputs are read
read-only and hashed before decoding and again afterwards (so a report can prove the
file it describes is the file that was analysed), and outputs are written to a temporary
sibling then renamed, so a crash never leaves a half-written report next to evidence.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import signal
import stat
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from struct import error as struct_error
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageFile, UnidentifiedImageError

from . import png_chunks
from .errors import ImageTooLargeError, InputError, IntegrityError, OutOfMemory, OutputError
from .jpeg_damage import jpeg_decoder_messages, picture_damage, picture_only
from .jpeg_markers import walk

#: Default decompression-bomb limit in pixels (about 16k x 10k). Overridable per call.
DEFAULT_MAX_PIXELS = 160_000_000
#: Refuse to even read files bigger than this (bytes); a photo this large is not a photo.
DEFAULT_MAX_BYTES = 1_000_000_000
#: Memory budget of an analysis, in decoded pixels. Face detection and the photo-size maps
#: cost about 70 bytes per analysed pixel, so 16 MP keeps one ``analyze`` near 1.2 GB peak.
#: Larger photos are reduced by an integer factor while decoding (JPEG: DCT scaling in the
#: decoder; other formats: box reduction right after decoding, in row bands), and the report
#: says so with the native size. Hashes are always of the original bytes.
DEFAULT_ANALYSIS_PIXELS = 16_000_000
_CHUNK = 1 << 20
#: EXIF orientation values defined by the standard; anything else is reported and ignored.
_VALID_ORIENTATIONS = frozenset(range(1, 9))
#: How each EXIF orientation's stored pixels are turned for display (as ``ImageOps.exif_transpose``).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
#: Bytes put just before a JPEG's end-of-image marker by :func:`jpeg_data_ends_early`.
_JPEG_PROBE_FILL = b"\x55" * 64

# Never let Pillow silently pad a truncated file with grey: that would fabricate pixels.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pillow's own bomb check fires inside Image.open with a generic message; we enforce our
# (configurable) limit right after reading the header instead, before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class InputInfo:
    """What we know about the input file; every field goes into the report."""

    path: str
    name: str
    size_bytes: int
    sha256: str
    sha256_after: str
    format: str
    mode: str
    width: int
    height: int
    exif_orientation: int
    jpeg_quality: int | None = None
    notes: tuple[str, ...] = ()
    native_width: int | None = None  # stored size (after EXIF orientation) when analysed reduced
    native_height: int | None = None
    reduction: int = 1  # integer factor the photo was reduced by to fit the analysis budget
    #: libjpeg's warning when a JPEG's picture data is damaged (``jpeg_damage.picture_damage``):
    #: parts of the pixels are the decoder's filling, and the verdict is "inconclusive".
    picture_damage: str | None = None
    #: Frames (pages) in the file; only the first (an APNG's default image) is analysed.
    frames: int = 1


@dataclass(frozen=True)
class LoadedImage:
    """Decoded RGB pixels (uint8, HxWx3, orientation applied) plus provenance."""

    rgb: np.ndarray = field(repr=False)
    info: InputInfo
    #: What ``load_image(..., inspect=fn)`` returned for the hashed bytes (the provenance stage).
    inspected: Any = None
    inspect_s: float = 0.0  # seconds spent in ``inspect``


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class NotARegularFile(OSError):
    """The path is a FIFO, device, socket or folder: never opened for reading (it could block
    forever, like a FIFO, or never end, like ``/dev/zero``)."""


def open_regular(path: str | os.PathLike[str]) -> int:
    """Open a file read-only without ever blocking, and only if it is a regular file.

    The type is checked with ``stat`` before opening (so a device is never opened) and again
    with ``fstat`` on the descriptor (so a swap between the two checks is caught); the open
    is non-blocking, so a FIFO swapped in between cannot hang us.
    """
    p = os.fspath(path)
    st = os.stat(p)
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFile(errno.EINVAL, f"not a regular file ({mode_kind(st.st_mode)})", p)
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            raise NotARegularFile(errno.EINVAL, f"not a regular file ({mode_kind(fst.st_mode)})", p)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def special_file_kind(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` (symlinks followed) is when it exists and is not a regular file, else None.

    Why outputs care: every output is written to a temp file and renamed over its path, which
    would replace a device, a FIFO or the symlink in front of one (``--report /dev/stdout`` or
    ``--json-out /dev/null`` run as root replaced the system's own files with a report)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # absent (a new file, a dangling link) or not reachable: the write itself reports
        return None
    return None if stat.S_ISREG(mode) else mode_kind(mode)


def mode_kind(mode: int) -> str:
    """What a file that is not a regular file is (``stat`` mode in), for one-line messages."""
    for test, name in ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


_HEX = frozenset("0123456789abcdef")


def is_sha256(value: object, *, any_case: bool = False) -> bool:
    """A SHA-256 as forgetalk records it: 64 lowercase hex digits (``any_case``: upper case too,
    for what a person types or a manifest entry written by hand). The one check every pinned hash,
    journal record and self-test answer goes through."""
    if not isinstance(value, str) or len(value) != 64:
        return False
    return set(value.lower() if any_case else value) <= _HEX


def sha256_file(path: str | os.PathLike[str], limit: int | None = None) -> str:
    """Stream-hash a regular file opened read-only (only its first ``limit`` bytes, when given);
    :class:`NotARegularFile` for anything else."""
    h = hashlib.sha256()
    left = limit
    with os.fdopen(open_regular(path), "rb") as fh:
        while left is None or left > 0:
            chunk = fh.read(_CHUNK if left is None else min(_CHUNK, left))
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
    return h.hexdigest()


def read_input_bytes(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a whole input file through a read-only descriptor, with clear errors."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except PermissionError:
        raise InputError(f"{p}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{p}: symbolic link loop") from None
        raise InputError(f"{p}: cannot stat ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{p}: is a directory, not an image (`forgetalk scan` analyses a folder)")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{p}: not a regular file ({mode_kind(st.st_mode)})")
    if st.st_size > max_bytes:
        raise ImageTooLargeError(f"{p}: file is {st.st_size} bytes, over the {max_bytes}-byte limit")
    try:
        with os.fdopen(open_regular(p), "rb") as fh:
            data = fh.read(st.st_size + 1)  # one byte more than stat says: detects growth and pseudo-files
    except NotARegularFile as exc:
        raise InputError(f"{p}: {exc.strerror}") from None
    except PermissionError:
        raise InputError(f"{p}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if st.st_size == 0 and data:
        # /proc and /sys files report size 0 but produce content: they are not stored files.
        raise InputError(f"{p}: pseudo-file (reports 0 bytes but has content, as /proc and /sys files do): not an image")
    if not data:
        raise InputError(f"{p}: empty file (0 bytes)")
    if len(data) != st.st_size:
        raise IntegrityError(f"{p}: file size changed while being read ({st.st_size} -> at least {len(data)} bytes)")
    return data


#: Said of every one-channel picture (with or without alpha, 1 to 32 bits): the engines' colour cues
#: (skin colour mismatch, iris colour) compare three equal channels there.
_GRAY_NOTE = "grayscale image: colour cues are not informative"


def _to_rgb8(img: Image.Image, notes: list[str], src_mode: str | None = None) -> np.ndarray:
    """:func:`_mode_to_rgb8`, and the grayscale note for a colour file whose pixels are all grey
    (:func:`channels_equal`)."""
    rgb = _mode_to_rgb8(img, notes, src_mode)
    if _GRAY_NOTE not in notes and channels_equal(rgb):
        notes.append(_GRAY_NOTE)
    return rgb


def _mode_to_rgb8(img: Image.Image, notes: list[str], src_mode: str | None = None) -> np.ndarray:
    """Normalise any Pillow mode to uint8 RGB without inventing content.

    16-bit data are scaled (not clipped) so dynamic range is preserved proportionally;
    alpha is composited over white and recorded, because hidden pixels under a fully
    transparent alpha can be a manipulation trace the analyst should know about.
    """
    mode = img.mode
    if mode in ("RGB",):
        return np.asarray(img, dtype=np.uint8).copy()
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        arr = np.asarray(rgba, dtype=np.float32)
        alpha = arr[..., 3:4] / 255.0
        if float(alpha.min()) < 1.0:  # how much is hidden, said: a face in fully transparent pixels is not analysed
            clear, partial = float(np.mean(alpha == 0.0)), float(np.mean((alpha > 0.0) & (alpha < 1.0)))
            notes.append(f"alpha channel composited over white for analysis ({100 * clear:.1f} % of the pixels fully transparent, "
                         f"{100 * partial:.1f} % partly; the colour stored under transparent pixels is not analysed)")
        if mode in ("LA", "La"):
            notes.append(_GRAY_NOTE)
        rgb = arr[..., :3] * alpha + 255.0 * (1.0 - alpha)
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16") or (src_mode or "").startswith("I;16"):
            scaled = arr / 257.0
            notes.append("16-bit grayscale scaled to 8 bits")
        else:
            scaled = _window_to_8bit(arr, mode, notes)
        g = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
        notes.append(_GRAY_NOTE)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "CMYK":
        notes.append("CMYK converted to RGB (naive conversion, no ICC profile applied)")
    elif mode in ("L", "1", "P", "YCbCr", "LAB", "HSV"):
        if mode in ("L", "1"):
            notes.append(_GRAY_NOTE)
    else:
        notes.append(f"unusual mode {mode} converted to RGB")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def channels_equal(rgb: np.ndarray, step: int = 2) -> bool:
    """Whether every pixel of ``rgb`` (every ``step``-th row and column) is grey: R, G and B within
    2 levels. Why: a greyscale photo saved as a colour JPEG or PNG (every scanner and most editors'
    "black and white") decodes to three exactly equal channels, and was analysed without the note
    a one-channel file gets; the engines' colour cues then compare equal channels too."""
    sub = rgb[::step, ::step]
    return bool(sub.size) and int((sub.max(axis=2).astype(np.int16) - sub.min(axis=2)).max()) <= 2


#: A float or 32-bit image whose full range is this many times wider than its 0.1-99.9 %
#: percentile range is windowed on the percentiles: one outlier pixel no longer decides the scale.
_OUTLIER_RANGE = 4.0


def _window_to_8bit(arr: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    """Float / 32-bit integer grey values linearly mapped to 0-255, said in a note.

    Why not min to max: one NaN made the range NaN and one infinite or outlier pixel (2**31-1 in
    an otherwise 0-1000 image) crushed every other pixel to black, so a face in the image was
    "no face found" (a hostile test pass). Non-finite pixels are left out of the range (NaN and
    -inf become black, +inf white) and counted; a range stretched by a few outliers (wider than
    ``_OUTLIER_RANGE`` times the 0.1-99.9 % percentile range) is windowed on the percentiles, the
    pixels outside clipped and counted. The mapping stays linear and is stated.
    """
    finite = np.isfinite(arr)
    vals = arr[finite]
    n_bad = int(arr.size - vals.size)
    if vals.size == 0:
        notes.append(f"{mode}-mode data has no finite value: analysed as black")
        return np.zeros_like(arr)
    lo, hi = float(vals.min()), float(vals.max())
    plo, phi = (float(v) for v in np.percentile(vals, [0.1, 99.9]))
    windowed = phi > plo and (hi - lo) > _OUTLIER_RANGE * (phi - plo)
    a, b = (plo, phi) if windowed else (lo, hi)
    scaled = (np.where(finite, arr, 0.0) - a) * (255.0 / (b - a)) if b > a else np.zeros_like(arr)
    scaled = np.where(np.isposinf(arr), 255.0, np.where(finite, scaled, 0.0))
    note = f"{mode}-mode data linearly rescaled from [{a:g}, {b:g}] to 8 bits"
    if windowed:
        clipped = int(np.count_nonzero(finite & ((arr < a) | (arr > b))))
        note += f" (the 0.1-99.9 % range of its values, which span [{lo:g}, {hi:g}]: {clipped} pixel(s) outside it clipped)"
    if n_bad:
        note += f"; {n_bad} non-finite pixel(s) (NaN or infinite) set to black (white for +inf)"
    notes.append(note)
    return scaled


# IJG standard luminance table (quality 50), used to estimate a JPEG's quality factor.
_IJG_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                      14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                      49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)


def estimate_jpeg_quality(img: Image.Image) -> int | None:
    """Approximate IJG quality (1-100) from the luminance quantization table, if JPEG.

    Heavy compression erases the fine traces the engines look for, so the verdict needs it.
    """
    tables = getattr(img, "quantization", None)
    if not tables or 0 not in tables:
        return None
    q = np.asarray(tables[0], dtype=np.float64)
    if q.size != 64:
        return None
    scale = float(np.mean(q / _IJG_LUMA) * 100.0)
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return int(round(min(max(quality, 1.0), 100.0)))


@dataclass(frozen=True)
class _Decoded:
    rgb: np.ndarray
    format: str
    mode: str
    orientation: int
    notes: list[str]
    jpeg_quality: int | None
    native_size: tuple[int, int]  # (width, height) as stored, before EXIF orientation
    reduction: int
    picture_damage: str | None = None
    frames: int = 1


def orientation_tag(value: object) -> tuple[int, str | None]:
    """The EXIF orientation to record (1-8 are applied) and, when the tag is unusable, the note saying so.

    Why not ``int(value)``: the tag arrives as whatever type the file declares: a SHORT as the
    standard says, but also a LONG, a float, a rational (NaN when its denominator is 0), text or raw
    bytes. ``int()`` refused the whole photo as "corrupt" for that one metadata field (NaN, bytes),
    and text "6" was reported as applied while Pillow's transpose left the picture as stored. Only
    an integral number counts; an out-of-range one is recorded as it is, anything else as 0, and
    the picture is then analysed as stored.
    """
    if value is None:
        return 1, None
    number = math.nan
    if not isinstance(value, (str, bytes, bytearray)):
        with contextlib.suppress(TypeError, ValueError, ZeroDivisionError, OverflowError):
            number = float(value)  # type: ignore[arg-type]  # int, float, IFDRational
    if math.isfinite(number) and number == int(number):
        orientation = int(number)
        if orientation in _VALID_ORIENTATIONS:
            return orientation, None
        shown = str(orientation)
    else:
        orientation, shown = 0, repr(value)[:40]
    return orientation, f"EXIF orientation tag has the invalid value {shown}: ignored (image analysed as stored)"


#: The content formats each image extension names; also the extensions a scan tries by default
#: (``forgetalk.scan.walk.IMAGE_EXTENSIONS``).
EXTENSION_FORMATS = {
    **dict.fromkeys((".jpg", ".jpeg", ".jpe", ".jfif"), ("JPEG", "MPO")), ".png": ("PNG",), ".webp": ("WEBP",),
    ".bmp": ("BMP",), ".tif": ("TIFF",), ".tiff": ("TIFF",), ".gif": ("GIF",),
    **dict.fromkeys((".ppm", ".pgm", ".pbm", ".pnm"), ("PPM",)), ".jp2": ("JPEG2000",), ".j2k": ("JPEG2000",),
    **dict.fromkeys((".heic", ".heif", ".hif"), ("HEIF",)), ".avif": ("AVIF",),
}


def extension_note(name: str, fmt: str) -> str | None:
    """A note when the name's extension announces another format than the content is, else None.

    Why: Pillow opens a file by its content, so the analysis is right either way, but a photo
    whose name says JPEG and whose bytes are WebP (or PNG, or TIFF) was renamed or re-encoded
    after it was named; the examiner should read that in the report, not find it later.
    Unknown or missing extensions say nothing.
    """
    expected = EXTENSION_FORMATS.get(os.path.splitext(name)[1].lower())
    if expected is None or fmt in expected:
        return None
    return f"the file name ends in {os.path.splitext(name)[1]!r} but the content is {fmt}: analysed as {fmt}"


def jpeg_data_ends_early(data: bytes, decoded: Image.Image, draft: tuple[str | None, tuple[int, int]] | None = None) -> bool:
    """True if the JPEG's compressed picture stops short at an end-of-image marker, so that libjpeg
    invented the rest (grey blocks, or a blurred progressive pass) instead of failing.

    Why: Pillow refuses a JPEG that is cut short, but one whose end-of-image marker comes early (a
    cut file "repaired" by appending FF D9, or the marker planted mid-picture with the rest of the
    file behind it) decodes without an error: libjpeg only warns, Pillow silences its warnings,
    and the analysis ran on pixels the file does not hold. The test: decode again (``draft`` as
    for ``decoded``) with filler bytes just before that marker. A complete picture never reads
    them (libjpeg skips bytes in front of a marker) and decodes the same; a picture that ended
    early decodes them instead of its padding, and differs.
    """
    end = walk(data).eoi_end
    if end is None:
        return False  # no end-of-image marker: Pillow itself reports the file as truncated
    filled = data[:end - 2] + _JPEG_PROBE_FILL + data[end - 2:]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the decode of ``decoded`` already reported its warnings
            probe = open_evidence_image(filled)
            if draft is not None:
                probe.draft(*draft)
            probe.load()
    except (OSError, SyntaxError, ValueError):
        return False  # cannot tell: the file is judged on its own decode
    if probe.size != decoded.size or probe.mode != decoded.mode:
        return True
    if decoded.mode in ("RGB", "L"):  # compared in C: two array copies of a 20 MP photo cost more than its decode
        return ImageChops.difference(probe, decoded).getbbox() is not None
    return probe.tobytes() != decoded.tobytes()


def reduction_factor(width: int, height: int, budget: int) -> int:
    """Smallest integer factor that brings ``width x height`` within ``budget`` pixels."""
    if budget <= 0 or width * height <= budget:
        return 1
    f = max(2, math.ceil(math.sqrt(width * height / budget)))
    while math.ceil(width / f) * math.ceil(height / f) > budget:
        f += 1
    return f


#: Modes Pillow cannot box-reduce directly (palette indices, bilevel, 16-bit grey):
#: converted band by band to a mode it can, so no second full-size raster is made.
_REDUCE_VIA = {"1": "L", "P": "RGB", "PA": "RGBA", "I;16": "I", "I;16B": "I", "I;16L": "I", "I;16N": "I"}
_BAND_ROWS = 1024


def _reduce(img: Image.Image, factor: int) -> Image.Image:
    """Box-reduce a decoded image by an integer factor with one band of extra memory."""
    target = _REDUCE_VIA.get(img.mode)
    if target is None:
        return img.reduce(factor)
    if img.mode == "P" and "transparency" in img.info:
        target = "RGBA"
    w, h = img.size
    out = Image.new(target, (math.ceil(w / factor), math.ceil(h / factor)))
    band = factor * max(1, _BAND_ROWS // factor)
    for y in range(0, h, band):
        part = img.crop((0, y, w, min(h, y + band))).convert(target).reduce(factor)
        out.paste(part, (0, y // factor))
    return out


def _sixteen_bit_colour_note(data: bytes, img: Image.Image, fmt: str) -> str | None:
    """Pillow decodes 16-bit colour PNG/TIFF to 8 bits by dropping the low byte; say so."""
    if fmt == "PNG" and data[12:16] == b"IHDR" and len(data) > 25 and data[24] == 16 and data[25] in (2, 4, 6):
        kind = {2: "RGB", 4: "grey+alpha", 6: "RGBA"}[data[25]]
        return f"16-bit {kind} PNG reduced to 8 bits per channel"
    if fmt == "TIFF":
        bits = getattr(img, "tag_v2", {}).get(258)
        bits_t = bits if isinstance(bits, tuple) else (bits,)
        if any(b == 16 for b in bits_t) and img.mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
            return "16-bit TIFF reduced to 8 bits per channel"
    return None


#: ISO-BMFF brands of HEIF stills (phones' HEIC); AVIF is decoded by Pillow itself.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"heif"})


def is_heif(data: bytes) -> bool:
    """An ISO-BMFF file whose major brand is a HEIF/HEIC one (AVIF's ``avif`` brand is not)."""
    return len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


#: The only Pillow formats a piece of evidence is opened as (the README's list, plus the other
#: image extensions a scan accepts; an MPO opens through "JPEG"). Why an allowlist: Pillow
#: identifies a file by its content, whatever its name, and some of its plugins hand the file to
#: other programs (EPS runs Ghostscript, when installed, on the PostScript inside) or parse
#: formats nobody analyses faces in; a hostile file named ``photo.jpg`` must not reach them.
EVIDENCE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP", "PPM", "JPEG2000", "AVIF", "HEIF")


def open_evidence_image(data: bytes) -> Image.Image:
    """Pillow's lazy view of ``data`` (header read, pixels not decoded), in an evidence format
    only (:data:`EVIDENCE_FORMATS`; any other is ``UnidentifiedImageError``). HEIF and AVIF count
    once their opener is registered (:func:`ensure_heif_opener`, called for HEIF files)."""
    Image.init()  # every plugin registered, so the list below is what Pillow knows
    return Image.open(io.BytesIO(data), formats=[f for f in EVIDENCE_FORMATS if f in Image.OPEN])


def ensure_heif_opener() -> None:
    """Teach Pillow to open HEIC/HEIF (pillow-heif), once, only when such a file arrives.

    Done lazily so importing forgetalk has no global side effect on Pillow and so the
    decoder library is loaded only for the files that need it. Thumbnails stay off: the
    analysis reads the primary image; the provenance stage reads metadata itself.
    """
    if "HEIF" in Image.OPEN:
        return
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # pragma: no cover - pillow-heif is a pinned dependency
        return  # Pillow then says "not a recognised image format" (exit 3)
    register_heif_opener(thumbnails=False)


def _decode(data: bytes, label: str, max_pixels: int, analysis_pixels: int = DEFAULT_ANALYSIS_PIXELS) -> _Decoded:
    """Decode the pixels (:func:`_decode_pixels`), also when a PNG's metadata breaks Pillow's limits.

    Why: Pillow refuses a whole PNG for one ancillary chunk it will not decode (a zTXt comment or an
    iCCP profile that inflates beyond ``MAX_TEXT_CHUNK``, text beyond ``MAX_TEXT_MEMORY``, a
    truncated pHYs...), so one added chunk made any photo unanalysable (exit 3). Metadata carries no
    pixels: when decoding fails and such chunks are found (:func:`forgetalk.png_chunks.metadata_problems`),
    the pixels are decoded from an in-memory copy without them and the first note names them. Pillow's
    limits stay as they are (raising them would reopen the bombs), nothing is inflated past them, and
    the caller keeps hashing (and inspecting) the original bytes.
    """
    try:
        return _decode_pixels(data, label, max_pixels, analysis_pixels)
    except ImageTooLargeError:
        raise
    except InputError:
        fixed = png_chunks.repaired(data)
        if fixed is None:
            raise
    clean, problems = fixed
    dec = _decode_pixels(clean, label, max_pixels, analysis_pixels)
    return replace(dec, notes=[png_chunks.ignored_note(problems), *dec.notes])


def _decode_pixels(data: bytes, label: str, max_pixels: int, analysis_pixels: int = DEFAULT_ANALYSIS_PIXELS) -> _Decoded:
    """Decode within the memory budget: at most ``analysis_pixels`` reach the analysis.

    JPEGs are decoded directly at 1/2, 1/4 or 1/8 size by libjpeg (draft mode), so a huge
    JPEG never exists at full size in memory; other formats are decoded once (Pillow's raster,
    at most 4 bytes per pixel, bounded by ``max_pixels``) and box-reduced immediately.
    Pillow's warnings become report notes instead of stderr chatter.
    """
    notes: list[str] = []
    w = h = 0
    if is_heif(data):
        ensure_heif_opener()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = open_evidence_image(data)
            w, h = img.size
            if w * h > max_pixels:
                raise ImageTooLargeError(
                    f"{label}: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} "
                    "(possible decompression bomb; raise --max-pixels if genuine)"
                )
            fmt = img.format or "unknown"
            orig_mode = img.mode
            jpeg_quality = estimate_jpeg_quality(img) if fmt in ("JPEG", "MPO") else None
            sixteen = _sixteen_bit_colour_note(data, img, fmt)
            if sixteen:
                notes.append(sixteen)
            factor = reduction_factor(w, h, analysis_pixels)
            draft = None
            if factor > 1 and fmt in ("JPEG", "MPO"):
                draft = (img.mode if img.mode in ("RGB", "L", "CMYK") else None, (math.ceil(w / factor), math.ceil(h / factor)))
                img.draft(*draft)
            # Read before load(): Pillow's TIFF decoder turns the picture upright while loading and drops the tag.
            orientation, bad_orientation = orientation_tag(img.getexif().get(0x0112))
            # pillow-heif turns the picture by the container's rotation as it opens it and rewrites the EXIF copy it exposes to 1,
            # keeping the file's value here: the report said orientation 1 and "nothing applied" for a turned iPhone portrait.
            heif_turned = fmt == "HEIF" and orientation == 1 and img.info.get("original_orientation") in _UPRIGHT
            if heif_turned:
                orientation = int(img.info["original_orientation"])
            img.load()
            if fmt in ("JPEG", "MPO") and jpeg_data_ends_early(data, img, draft):
                raise InputError(f"{label}: truncated image (the JPEG's picture data ends early, at an end-of-image "
                                 "marker; the decoder would make up the rest)")
            damage = None
            if fmt in ("JPEG", "MPO"):
                picture = picture_only(data)
                with deferred_signals():  # file descriptor 2 is swapped for the decode: never left swapped by Ctrl-C
                    messages = jpeg_decoder_messages(picture)
                damage = picture_damage(picture, messages)
            if damage is not None:
                notes.append(f"the JPEG's picture data is damaged (libjpeg: \"{damage}\"): the decoder filled in what it could not "
                             "read, so parts of the picture are not the file's, and heat there can follow the damage rather than an "
                             "edit; the verdict is inconclusive whatever the score")
            turned = heif_turned or (orientation in _UPRIGHT and img.getexif().get(0x0112) is None)  # by the decoder (HEIF, TIFF)
            stored = (h, w) if turned and orientation >= 5 else (w, h)  # TIFF reports the turned size from open
            n_frames = getattr(img, "n_frames", 1)
            decoded_w, decoded_h = img.size
            # draft() may have stopped short of the budget (1/8 at most): finish with a box reduction.
            rest = reduction_factor(decoded_w, decoded_h, analysis_pixels)
            if rest > 1:
                img = _reduce(img, rest)
            if orientation in _UPRIGHT:
                if not turned:
                    img = img.transpose(_UPRIGHT[orientation])
                notes.append(f"EXIF orientation {orientation} applied" + (" (by the HEIF decoder, from the file's rotation and mirror boxes)" if heif_turned else ""))
            elif bad_orientation:
                notes.append(bad_orientation)
            if n_frames > 1 and fmt == "PNG" and img.info.get("default_image"):
                # an APNG whose first image is a still shown by viewers without animation, not a frame
                notes.append(f"animated PNG: its default image (what viewers without animation show) analysed, not its {n_frames - 1} animation frames")
            elif n_frames > 1:
                notes.append(f"multi-frame file: only frame 1 of {n_frames} analysed")
            rgb = _to_rgb8(img, notes, src_mode=orig_mode)
        for warning in caught:
            notes.append(f"decoder warning: {str(warning.message).splitlines()[0][:200]}")
    except ImageTooLargeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{label}: {exc}") from None
    except UnidentifiedImageError:
        raise InputError(f"{label}: not a recognised image format") from None
    except MemoryError:
        raise OutOfMemory(f"{label}: not enough memory to decode {w}x{h} pixels (lower --max-pixels or --workers, "
                          "or close other programs)") from None
    except (OSError, SyntaxError, ValueError, IndexError, EOFError, struct_error) as exc:  # IndexError: Pillow on some malformed chunks
        msg = str(exc) or exc.__class__.__name__
        if "truncated" in msg.lower():
            raise InputError(f"{label}: truncated image ({msg})") from None
        raise InputError(f"{label}: corrupt image ({msg})") from None
    if rgb.ndim == 3 and (rgb.shape[0] < 2 or rgb.shape[1] < 2):
        raise InputError(f"{label}: image is {rgb.shape[1]}x{rgb.shape[0]} pixels, too small to hold a face")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"{label}: decoded to an unusable shape {rgb.shape}")
    reduction = max(1, round(max(w, h) / max(rgb.shape[:2])))
    if reduction > 1:
        # The size as displayed, like the analysed size beside it (a JPEG's header gives it as stored: "6000x5120 ... (2560x3000)").
        shown_w, shown_h = (stored[1], stored[0]) if orientation in (5, 6, 7, 8) else stored
        notes.append(f"photo is {shown_w}x{shown_h} ({w * h / 1e6:.1f} MP): analysed at 1/{reduction} resolution "
                     f"({rgb.shape[1]}x{rgb.shape[0]}) to stay within the {analysis_pixels / 1e6:g} MP analysis memory budget; "
                     "hashes are of the original file")
    return _Decoded(rgb, fmt, orig_mode, orientation, notes, jpeg_quality, stored, reduction, damage, max(1, int(n_frames)))


def load_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS,
               analysis_pixels: int = DEFAULT_ANALYSIS_PIXELS,
               inspect: Callable[[bytes, str], Any] | None = None) -> LoadedImage:
    """Load an image as evidence: read-only, hashed before and after, orientation applied.

    ``inspect(data, format)``, when given, is called once on the very bytes that were hashed
    and decoded (after the decode succeeded, so it only ever sees a usable image within the
    pixel limit); its result is kept as :attr:`LoadedImage.inspected`. The provenance stage
    uses it, so metadata are read from the analysed bytes without a second read of the file.

    Raises :class:`InputError` (or a child) with a one-line message for anything that is
    not a usable image, and :class:`IntegrityError` if the file changed while we read it.
    """
    p = Path(path)
    data = read_input_bytes(p)
    digest = sha256_bytes(data)
    size = len(data)
    dec = _decode(data, str(p), max_pixels, analysis_pixels)
    renamed = extension_note(p.name, dec.format)
    if renamed:
        dec = replace(dec, notes=[*dec.notes, renamed])
    inspected: Any = None
    inspect_s = 0.0
    if inspect is not None:
        t = time.perf_counter()
        inspected = inspect(data, dec.format)
        inspect_s = time.perf_counter() - t
    del data  # the raw bytes are not needed any more: free them before the analysis
    try:
        after = sha256_file(p)
    except OSError as exc:
        raise IntegrityError(f"{p}: file changed while being read ({exc.strerror or exc})") from None
    if after != digest:
        raise IntegrityError(f"{p}: file changed while being read (sha256 {digest} -> {after})")
    rgb = dec.rgb
    native_w, native_h = dec.native_size
    if dec.orientation in (5, 6, 7, 8):
        native_w, native_h = native_h, native_w
    info = InputInfo(
        path=str(p.resolve()),
        name=p.name,
        size_bytes=size,
        sha256=digest,
        sha256_after=after,
        format=dec.format,
        mode=dec.mode,
        width=int(rgb.shape[1]),
        height=int(rgb.shape[0]),
        exif_orientation=dec.orientation,
        jpeg_quality=dec.jpeg_quality,
        notes=tuple(dec.notes),
        native_width=native_w if dec.reduction > 1 else None,
        native_height=native_h if dec.reduction > 1 else None,
        reduction=dec.reduction,
        picture_damage=dec.picture_damage,
        frames=dec.frames,
    )
    return LoadedImage(rgb=rgb, info=info, inspected=inspected, inspect_s=inspect_s)


# --------------------------------------------------------------------------- outputs


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a fsynced temp file and ``os.replace``.

    Parent folders are created. Readers see either the old file or the complete new one.
    """
    return atomic_write_many([(path, data)])[0]


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them (main thread; elsewhere a no-op).

    Why: a set of outputs renamed into place one after another, or a scan's index and its
    manifest, must not be cut in two by Ctrl-C; the interrupt then arrives right after the
    block, with the set complete.

    Why the handlers are swapped instead of the signals masked: ``pthread_sigmask`` blocks the
    calling thread only, and by the time outputs are written onnxruntime's and MediaPipe's
    threads exist with the signals unblocked, so the kernel handed Ctrl-C to one of them and
    Python raised KeyboardInterrupt in the middle of the block anyway. A Python-level handler
    runs in the main thread whichever thread the kernel chose. A signal that arrived is
    delivered at the end: to the previous Python handler, or re-sent for the default action.
    SIGALRM is held too when a Python handler owns it: the console script delivers a Ctrl-C that
    came during an import on it, and one that fired inside a scan's worker spawn cut the start-up
    data a new worker was reading ("EOFError: Ran out of input" and a traceback).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    wanted = [s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None]
    alarm = getattr(signal, "SIGALRM", None)
    if alarm is not None and callable(signal.getsignal(alarm)):  # a Ctrl-C held during an import arrives on it (errors.record_interrupts)
        wanted.append(alarm)
    previous = {s: signal.signal(s, lambda signum, _frame: arrived.append(signum)) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for s in dict.fromkeys(arrived):
            handler = previous[s]
            if callable(handler):
                handler(s, None)
            elif handler != signal.SIG_IGN:
                os.kill(os.getpid(), s)  # the default action: end the process as the signal would have


def atomic_write_many(items: Sequence[tuple[str | os.PathLike[str], bytes]]) -> list[Path]:
    """Write several files as one set: every temp file is written and fsynced first, then all
    are renamed into place with Ctrl-C held (:func:`deferred_signals`).

    A failure while writing (a full disk, a parent that is a file) or an interrupt before the
    renames leaves none of them and no temp file; only a rename failing part-way (rare: same
    folder, same file system) can leave part of the set. Existing targets that are not regular
    files are refused, never replaced.
    """
    targets = [Path(p) for p, _ in items]
    for target in targets:
        kind = special_file_kind(target)
        if kind is not None:  # the rename would replace a device, FIFO or folder (guard.check_outputs asks first)
            raise OutputError(f"{target}: cannot write output (it is a {kind}, not a regular file; not replaced)")
        blocker = next((d for d in target.parents if d.exists() or d.is_symlink()), None)
        if blocker is not None and not blocker.is_dir():  # mkdir would say only "File exists"
            raise OutputError(f"{target}: cannot write output ({blocker} is a file, not a folder)")
    temps: list[str] = []
    renamed = 0
    current = targets[0] if targets else None
    try:
        for target, (_, data) in zip(targets, items, strict=True):
            current = target
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
            temps.append(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
        with deferred_signals():
            for tmp, target in zip(temps, targets, strict=True):
                current = target
                os.replace(tmp, target)
                renamed += 1
    except OSError as exc:
        raise OutputError(f"{current}: cannot write output ({exc.strerror or exc})") from None
    finally:
        for tmp in temps[renamed:]:  # an error or an interrupt before the renames: no temp file stays behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    for folder in dict.fromkeys(t.parent for t in targets):
        _fsync_dir(folder)
    return targets


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def encode_text(text: str) -> bytes:
    """UTF-8 of text forgetalk writes (files, journal lines, --json): a file name that is not UTF-8
    reaches Python as lone surrogates (PEP 383) and becomes a ``\\udcXX`` escape, which is valid
    JSON and loads back to the same name, instead of aborting the write."""
    return text.encode("utf-8", errors="backslashreplace")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, encode_text(text))


def read_json_file(path: Path, error: type[Exception], missing: str) -> Any:
    """Parse a manifest we depend on (weights, scan results) or raise ``error``
    with a one-line message: ``missing`` when absent, the parser's reason when unreadable."""
    return parse_json_bytes(read_file_bytes(path, error, missing), path, error)


def read_file_bytes(path: Path, error: type[Exception], missing: str) -> bytes:
    """The bytes of a regular file we depend on, read once, or ``error`` with one line: ``missing``
    when absent; a FIFO or device in its place is refused, never opened blocking."""
    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise error(missing) from None
    except OSError as exc:
        raise error(f"{path}: unreadable manifest ({exc})") from None


def parse_json_bytes(raw: bytes, path: Path, error: type[Exception]) -> Any:
    """:func:`read_json_file`'s parse of bytes already read (a caller that also hashes them parses
    the very bytes it hashed); ``error`` with a one-line message when they are not JSON."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than any manifest of ours
        raise error(f"{path}: unreadable manifest ({type(exc).__name__ if isinstance(exc, RecursionError) else exc})") from None


def read_regular_text(path: str | os.PathLike[str]) -> str:
    """UTF-8 text of a regular file; a FIFO or device in its place raises instead of blocking."""
    with os.fdopen(open_regular(path), "rb") as fh:
        return fh.read().decode("utf-8")


def json_file_bytes(obj: Any) -> bytes:
    """The bytes of every JSON file forgetalk writes (indent 2, UTF-8, undecodable name bytes escaped)."""
    return encode_text(json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_bytes(path, json_file_bytes(obj))


def encode_png(rgb: np.ndarray, software: str | None = None, text: dict[str, str] | None = None) -> bytes:
    """PNG-encode an RGB uint8 array in memory (pure; the caller writes atomically).

    ``software`` goes into a ``Software`` text chunk: how a later run recognises its own output
    before writing over it (forgetalk.guard.check_not_foreign). ``text``: more chunks, after it
    (UTF-8 ``iTXt``, so any file name survives)."""
    from PIL import PngImagePlugin

    info = None
    if software or text:
        info = PngImagePlugin.PngInfo()
        if software:
            info.add_text("Software", software)
        for key, value in (text or {}).items():
            info.add_itxt(key, value)
    buf = io.BytesIO()
    # compress_level 1: lossless all the same, ~4x faster than the default 6 on photos.
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", compress_level=1, pnginfo=info)
    return buf.getvalue()


#: Timestamp of every member of a reproducible npz (the earliest a zip can record).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def npz_bytes(arrays: dict[str, np.ndarray], compress: bool = True) -> bytes:
    """An npz of ``arrays``, byte-identical for identical arrays (pure).

    Why not ``np.savez``/``np.savez_compressed``: they stamp each member with the wall-clock
    time, so two builds of the same calibration (or training bundle) differ in bytes and a
    pinned sha256 cannot show that a rebuild reproduced the file. Members are written in name
    order with a fixed timestamp; the result is an ordinary npz (``np.load(...,
    allow_pickle=False)``). ``compress=False`` stores them, for payloads already compressed.
    """
    import zipfile

    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name in sorted(arrays):
            arr = np.asarray(arrays[name])
            if arr.dtype.hasobject:
                raise ValueError(f"npz member {name!r} holds Python objects; only plain arrays are written")
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()
