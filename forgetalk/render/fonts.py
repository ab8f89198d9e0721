"""Font registration and safe mini-markup for the PDF.

reportlab's Paragraph parses an XML-like markup, so any text we did not write ourselves
(file names, paths, engine/model strings, explanations) must be escaped, or a file named
``<b>&x.jpg`` breaks the report. Its 14 standard fonts only cover Latin-1, so we embed a
Unicode TrueType font: DejaVu Sans when the system has it, else Bitstream Vera, which
ships inside reportlab (Latin, some Greek, no Cyrillic beyond basics, no CJK).

Characters the body font lacks are wrapped in a fallback font: a CJK TrueType font when
one is installed, otherwise reportlab's built-in ``STSong-Light`` CID font. That CID font
is *not embedded*: viewers with Adobe's Asian font pack (or poppler with a CJK font) show
it and text extraction always works, but some viewers draw boxes. Characters no font
covers are drawn as the body font's missing-glyph box; rendering never fails.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import registerFontFamily
from reportlab.pdfbase.ttfonts import TTFont

_SYSTEM_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/local/share/fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)
_CJK_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
_CID_FALLBACK = "STSong-Light"


@dataclass(frozen=True)
class FontSet:
    """Registered font names for the report, plus a description for the methods section."""

    regular: str
    bold: str
    mono: str
    fallback: str | None  # font for glyphs the body font lacks (CJK), if any
    description: str
    covered: frozenset[int] | None  # code points the body font has; None = unknown (standard font)
    fallback_embedded: bool


def _find(name: str) -> Path | None:
    dirs = list(_SYSTEM_DIRS)
    spec = importlib.util.find_spec("matplotlib")  # its bundled DejaVu, without importing it
    if spec and spec.submodule_search_locations:
        dirs.append(str(Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"))
    for d in dirs:
        p = Path(d) / name
        if p.is_file():
            return p
    return None


def _reportlab_font(name: str) -> Path | None:
    spec = importlib.util.find_spec("reportlab")
    if not spec or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / "fonts" / name
    return p if p.is_file() else None


def _register(alias: str, path: Path | None) -> TTFont | None:
    if path is None:
        return None
    try:
        font = TTFont(alias, str(path))
        pdfmetrics.registerFont(font)
        return font
    except Exception:  # noqa: BLE001 - a broken font file must never break the report
        return None


def _register_cjk() -> tuple[str | None, bool]:
    for cand in _CJK_CANDIDATES:
        p = Path(cand)
        if p.is_file():
            try:
                pdfmetrics.registerFont(TTFont("FT-CJK", str(p), subfontIndex=0))
                return "FT-CJK", True
            except Exception:  # noqa: BLE001 - e.g. CFF-flavoured OpenType, unsupported
                continue
    try:
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont(_CID_FALLBACK))
        return _CID_FALLBACK, False
    except Exception:  # noqa: BLE001
        return None, False


_FONT_LOCK = threading.Lock()


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for reportlab's Paragraph markup (what
    ``xml.sax.saxutils.escape`` does; importing that module pulls in ``urllib.request``, the
    HTTP and e-mail stacks, about 30 ms of a fresh command's start-up)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def import_font_modules() -> None:
    """Import, on the calling thread, the modules :func:`font_set` would otherwise import lazily
    (reportlab's CID fallback font, the Mac Roman codec of TrueType name tables), so that
    ``font_set()`` run on another thread imports nothing: two threads importing at once can trip
    the import system's deadlock detection (see ``commands.analyze._warm_up_in_background``;
    tests/test_warm_up.py checks the "nothing" after each reportlab upgrade)."""
    import encodings.mac_roman  # noqa: F401

    from reportlab.pdfbase import cidfonts  # noqa: F401


def font_set() -> FontSet:
    """Register fonts once per process; always returns something usable.

    The regular/bold pair is also registered as a family, so ``<b>`` in our own markup
    switches to the embedded bold face instead of silently staying regular. The lock makes
    "once" hold when ``analyze`` warms the fonts up on a background thread (see
    ``commands.analyze._warm_up_in_background``) while the main thread may reach here too.
    """
    with _FONT_LOCK:
        return _registered_font_set()


@functools.lru_cache(maxsize=1)
def _registered_font_set() -> FontSet:
    fs = _pick_fonts()
    if fs.regular.startswith("FT-"):
        registerFontFamily(fs.regular, normal=fs.regular, bold=fs.bold, italic=fs.regular, boldItalic=fs.bold)
    return fs


def _pick_fonts() -> FontSet:
    r = _register("FT-Regular", _find("DejaVuSans.ttf"))
    if r is not None:
        b = _register("FT-Bold", _find("DejaVuSans-Bold.ttf"))
        m = _register("FT-Mono", _find("DejaVuSansMono.ttf"))
        fb, emb = _register_cjk()
        return FontSet("FT-Regular", "FT-Bold" if b else "FT-Regular", "FT-Mono" if m else "Courier", fb, "DejaVu Sans (system)",
                       frozenset(r.face.charToGlyph), emb)
    r = _register("FT-Regular", _reportlab_font("Vera.ttf"))
    if r is not None:
        b = _register("FT-Bold", _reportlab_font("VeraBd.ttf"))
        fb, emb = _register_cjk()
        return FontSet("FT-Regular", "FT-Bold" if b else "FT-Regular", "Courier", fb, "Bitstream Vera Sans (bundled with reportlab)",
                       frozenset(r.face.charToGlyph), emb)
    return FontSet("Helvetica", "Helvetica-Bold", "Courier", None, "Helvetica (standard PDF font, Latin-1 only)", None, False)


# --------------------------------------------------------------------------- text safety

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Invisible Unicode format characters: bidirectional overrides, embeddings and isolates, marks,
#: zero-width characters and the BOM. A file's "Photo\u202eshop" (a metadata value, a file name)
#: would otherwise print, or be copied out of the PDF, as something other than what the file says.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def visible(text: object) -> str:
    """Make any value printable without losing information.

    Undecodable file-name bytes (lone surrogates from ``os.fsdecode``) become ``\\xNN``,
    control characters ``\\xNN`` too and invisible format characters (bidi overrides,
    zero-width characters) ``\\uXXXX``, so an analyst sees exactly what is in the name or
    the metadata instead of a crash, an invisible character or reversed text.
    """
    s = "" if text is None else str(text)
    s = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if _has_surrogate(s) else s
    s = s.replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n")
    s = _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", s)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


def _has_surrogate(s: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in s)


def _needs_fallback(ch: str, fs: FontSet) -> bool:
    if fs.fallback is None or fs.covered is None:
        return False
    cp = ord(ch)
    if cp in fs.covered or ch in " \n":
        return False
    if fs.fallback_embedded:
        return True
    # The CID fallback only covers East Asian scripts; anything else stays a box.
    return unicodedata.east_asian_width(ch) in ("W", "F")


def markup(text: object, *, keep_newlines: bool = True) -> str:
    """Escape untrusted text for a reportlab Paragraph and route missing glyphs to the fallback font."""
    s = visible(text)
    fs = font_set()
    out: list[str] = []
    run: list[str] = []
    run_fb = False

    def flush() -> None:
        if not run:
            return
        chunk = escape("".join(run))
        out.append(f'<font name="{fs.fallback}">{chunk}</font>' if run_fb else chunk)
        run.clear()

    for ch in s:
        fb = _needs_fallback(ch, fs)
        if fb != run_fb:
            flush()
            run_fb = fb
        run.append(ch)
    flush()
    res = "".join(out)
    return res.replace("\n", "<br/>") if keep_newlines else res.replace("\n", " ")
