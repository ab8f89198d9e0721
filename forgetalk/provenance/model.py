"""The provenance stage's results: frozen dataclasses, one per source, plus findings.

Owns only the data model. Every field is plain data (str, int, float, bool, tuples, dicts
of str), so ``dataclasses.asdict`` puts all of it into the JSON sidecar unchanged, and the
PDF and the scan index print nothing that is not here.

A :class:`Finding` is one plain sentence about what the *file* states or shows (never about
the pixels of the face), with a machine ``code`` for the index and a ``confidence`` when it
is an inference (double compression) rather than a quotation of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: C2PA states as reported: no manifest; the signature and hashes check out and the signer is
#: on a configured trust list; they check out but the signer is not on one (offline there is
#: no trust list, so a correct signature from any certificate lands here, never in "invalid");
#: a hash or signature check failed; the manifest could not be parsed at all.
C2PA_NONE = "none"
C2PA_TRUSTED = "trusted"
C2PA_VALID_UNTRUSTED = "untrusted signer"
C2PA_INVALID = "invalid"
C2PA_UNREADABLE = "unreadable"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a mark saying how much was cut.

    Metadata strings are evidence-controlled and can be tens of kilobytes; a silent cut
    would make a 60 kB EXIF Model look like an ordinary 200-character one in the JSON and
    the PDF, hiding the very oddity an analyst should see, so every cut is marked.
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [... {len(text) - limit} more characters not kept]"


@dataclass(frozen=True)
class Finding:
    code: str  # machine label, e.g. "editing_software"; flagged codes form the index's provenance_flags
    source: str  # exif | xmp | iptc | icc | c2pa | jpeg | png | file
    sentence: str  # one plain sentence, in the file's own words where it quotes the file
    flag: bool = True  # worth the analyst's attention; False: context only
    confidence: str | None = None  # for inferences only: "low" | "moderate" | "high"


@dataclass(frozen=True)
class ExifInfo:
    present: bool = False
    make: str | None = None
    model: str | None = None
    lens: str | None = None
    body_serial: str | None = None
    software: str | None = None
    artist: str | None = None
    copyright: str | None = None
    datetime_original: str | None = None  # EXIF DateTimeOriginal (capture)
    datetime_digitized: str | None = None
    datetime_modified: str | None = None  # IFD0 DateTime (last change, as the writer states it)
    gps_lat: float | None = None
    gps_lon: float | None = None
    maker_note_bytes: int | None = None  # size of the MakerNote, None when absent
    exposure_fields: tuple[str, ...] = ()  # camera exposure fields present (ExposureTime, FNumber, ...)
    thumbnail_bytes: int | None = None  # size of the IFD1 JPEG thumbnail, None when absent
    fields: dict[str, str] = field(default_factory=dict)  # every readable tag, name -> value (values cut at 200 chars)


@dataclass(frozen=True)
class XmpEvent:
    action: str | None
    when: str | None
    software_agent: str | None
    changed: str | None = None


@dataclass(frozen=True)
class XmpInfo:
    present: bool = False
    size_bytes: int = 0
    creator_tool: str | None = None
    create_date: str | None = None
    modify_date: str | None = None
    metadata_date: str | None = None
    document_id: str | None = None
    instance_id: str | None = None
    original_document_id: str | None = None
    derived_from: dict[str, str] = field(default_factory=dict)
    history: tuple[XmpEvent, ...] = ()
    digital_source_type: str | None = None  # Iptc4xmpExt:DigitalSourceType


@dataclass(frozen=True)
class IptcInfo:
    present: bool = False
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IccInfo:
    present: bool = False
    size_bytes: int = 0
    description: str | None = None


@dataclass(frozen=True)
class C2paAction:
    action: str
    digital_source_type: str | None = None
    software_agent: str | None = None
    when: str | None = None


@dataclass(frozen=True)
class C2paInfo:
    present: bool = False
    state: str = C2PA_NONE  # one of the C2PA_* constants above
    validation_state: str | None = None  # the library's own word (Valid, Invalid, Trusted)
    manifests: int = 0
    claim_generator: str | None = None
    title: str | None = None
    signer: str | None = None  # certificate common name
    issuer: str | None = None  # certificate issuer organisation
    signed_at: str | None = None  # trusted timestamp, when the manifest has one
    actions: tuple[C2paAction, ...] = ()
    ingredients: tuple[str, ...] = ()  # ingredient titles (the files it was made from)
    failures: tuple[str, ...] = ()  # "code: explanation" of every failed check
    ai_generated: bool = False  # an action declares digitalSourceType trainedAlgorithmicMedia (or composite of it)


@dataclass(frozen=True)
class QuantTable:
    index: int  # table id in the file (0 = usually luminance)
    precision_bits: int
    values: tuple[int, ...]  # 64 values, natural (row-major) order
    quality: int | None  # IJG-equivalent quality estimate for this table
    libjpeg_quality: int | None  # exact match with libjpeg's standard table scaled to this quality, else None


@dataclass(frozen=True)
class ThumbnailCheck:
    present: bool = False
    width: int | None = None
    height: int | None = None
    compared: bool = False
    mean_abs_diff: float | None = None  # on 0-255 grey, after downscaling the main image to the thumbnail
    correlation: float | None = None
    mismatch: bool | None = None


@dataclass(frozen=True)
class DoubleCompression:
    tested: bool = False
    found: bool = False
    confidence: str = "none"  # none | low | moderate | high
    score: float = 0.0  # share of tested DCT frequencies whose histogram is best explained by two quantizations
    frequencies_tested: int = 0
    frequencies_double: int = 0
    primary_steps: dict[str, int] = field(default_factory=dict)  # "u,v" -> estimated first-compression step
    method: str = ""
    note: str | None = None


@dataclass(frozen=True)
class JpegInfo:
    coding: str = "unknown"  # baseline | extended | progressive | lossless | arithmetic ...
    progressive: bool = False
    components: int = 0
    subsampling: str | None = None  # 4:4:4 | 4:2:2 | 4:2:0 | 4:4:0 | 4:1:1 | other | None for grey
    quant_tables: tuple[QuantTable, ...] = ()
    quality: int | None = None  # luminance table's IJG-equivalent quality
    standard_tables: bool = False  # every table is libjpeg's standard table at one quality
    software_signature: str | None = None  # what the tables match in forgetalk's signature table
    segments: tuple[str, ...] = ()  # markers in file order, e.g. "APP1 Exif", "DQT", "SOF2"
    comments: tuple[str, ...] = ()
    trailing_bytes: int = 0  # bytes after the end-of-image marker
    trailing_kind: str | None = None
    mpf_images: int | None = None  # number of images the MPF index declares
    thumbnail: ThumbnailCheck = field(default_factory=ThumbnailCheck)
    double_compression: DoubleCompression = field(default_factory=DoubleCompression)


@dataclass(frozen=True)
class ProvenanceReport:
    """Everything the file says about its origin. Never folded into the face score."""

    format: str
    exif: ExifInfo = field(default_factory=ExifInfo)
    xmp: XmpInfo = field(default_factory=XmpInfo)
    iptc: IptcInfo = field(default_factory=IptcInfo)
    icc: IccInfo = field(default_factory=IccInfo)
    c2pa: C2paInfo = field(default_factory=C2paInfo)
    jpeg: JpegInfo | None = None
    text_chunks: dict[str, str] = field(default_factory=dict)  # PNG tEXt/zTXt/iTXt (values cut at 500 chars)
    software: str | None = None  # the software the file names (EXIF Software, else XMP CreatorTool, else C2PA generator)
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()  # malformed or unreadable metadata, checks skipped and why
    ela_quality: int = 90  # the re-save quality of the error level analysis image (visual aid only)
    elapsed_s: float = 0.0

    @property
    def flags(self) -> tuple[str, ...]:
        """Codes of the flagged findings, in order, without repeats (the index column)."""
        seen: list[str] = []
        for f in self.findings:
            if f.flag and f.code not in seen:
                seen.append(f.code)
        return tuple(seen)
