"""Builders of files with known provenance, made by the tests themselves (no downloaded samples).

EXIF blocks are written by a minimal TIFF writer here (Pillow cannot write an IFD1
thumbnail); XMP packets are plain text; C2PA manifests are signed with a CA and signer
certificate generated on the fly with ``cryptography`` (a dependency of c2pa-python).
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
GRACE = REPO / "examples" / "grace_hopper.jpg"  # US Navy photo, public domain
ASTRONAUT = REPO / "examples" / "astronaut.png"  # NASA photo, public domain

ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 2, 3, 4, 5, 7


def _entry_bytes(typ: int, value: object) -> tuple[int, bytes]:
    if typ == ASCII:
        raw = str(value).encode() + b"\x00"
        return len(raw), raw
    if typ == SHORT:
        vals = value if isinstance(value, (list, tuple)) else [value]
        return len(vals), b"".join(struct.pack("<H", v) for v in vals)
    if typ == LONG:
        vals = value if isinstance(value, (list, tuple)) else [value]
        return len(vals), b"".join(struct.pack("<I", v) for v in vals)
    if typ == RATIONAL:
        vals = value if isinstance(value, list) else [value]
        return len(vals), b"".join(struct.pack("<II", n, d) for n, d in vals)
    raw = bytes(value)  # UNDEFINED
    return len(raw), raw


def tiff_exif(ifd0: dict[int, tuple[int, object]], exif: dict[int, tuple[int, object]] | None = None,
              thumbnail: bytes | None = None) -> bytes:
    """Little-endian TIFF: IFD0 (+ Exif IFD via 0x8769) (+ IFD1 with a JPEG thumbnail)."""
    exif = exif or {}

    def ifd_size(n: int) -> int:
        return 2 + 12 * n + 4

    # Layout: header | IFD0 | IFD0 data | ExifIFD | Exif data | IFD1 | thumbnail
    ifd0 = dict(ifd0)
    if exif:
        ifd0[0x8769] = (LONG, 0)  # patched below
    blobs: list[bytes] = []

    def build(entries: dict[int, tuple[int, object]], start: int, next_ifd: int) -> bytes:
        n = len(entries)
        data_at = start + ifd_size(n)
        head = struct.pack("<H", n)
        data = b""
        for tag in sorted(entries):
            typ, val = entries[tag]
            count, raw = _entry_bytes(typ, val)
            if len(raw) <= 4:
                head += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\x00")
            else:
                head += struct.pack("<HHII", tag, typ, count, data_at + len(data))
                data += raw + (b"\x00" if len(raw) % 2 else b"")
        return head + struct.pack("<I", next_ifd) + data

    ifd0_at = 8
    first = build(ifd0, ifd0_at, 0)
    exif_at = ifd0_at + len(first)
    if exif:
        ifd0[0x8769] = (LONG, exif_at)
        first = build(ifd0, ifd0_at, 0)
    exif_blob = build(exif, exif_at, 0) if exif else b""
    ifd1_at = exif_at + len(exif_blob)
    if thumbnail is not None:
        thumb_ifd_len = ifd_size(3)
        thumb_at = ifd1_at + thumb_ifd_len
        ifd1 = {0x0103: (SHORT, 6), 0x0201: (LONG, thumb_at), 0x0202: (LONG, len(thumbnail))}
        first = build(ifd0, ifd0_at, ifd1_at)
        blobs = [build(ifd1, ifd1_at, 0), thumbnail]
    return b"II*\x00" + struct.pack("<I", ifd0_at) + first + exif_blob + b"".join(blobs)


def app_segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def insert_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """Insert marker segments right after SOI (before JFIF/APP0 is fine for every reader)."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def exif_segment(tiff: bytes) -> bytes:
    return app_segment(0xE1, b"Exif\x00\x00" + tiff)


def xmp_segment(xml: str) -> bytes:
    return app_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xml.encode("utf-8"))


def iptc_segment(*datasets: tuple[int, int, bytes]) -> bytes:
    """APP13 "Photoshop 3.0" with one 8BIM IPTC-IIM resource (0x0404) holding ``(record, dataset, value)``s."""
    iim = b"".join(b"\x1c" + bytes([r, d]) + struct.pack(">H", len(v)) + v for r, d, v in datasets)
    res = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(iim)) + iim + (b"\0" if len(iim) % 2 else b"")
    return app_segment(0xED, b"Photoshop 3.0\0" + res)


def jpeg_bytes(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def face_image(width: int = 480) -> Image.Image:
    """The portrait resampled off its JPEG grid (so it carries no earlier compression), without metadata."""
    im = Image.open(GRACE).convert("RGB")
    im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    return Image.fromarray(np.asarray(im))


#: A camera-like table set (not libjpeg's scaling at any quality): what firmware writes.
CAMERA_QTABLES = [[1 + (i // 8 + i % 8) // 2 for i in range(64)], [2 + (i // 8 + i % 8) for i in range(64)]]

CAMERA_IFD0 = {0x010F: (ASCII, "Canon"), 0x0110: (ASCII, "Canon EOS 5D Mark IV"), 0x0132: (ASCII, "2024:03:01 09:00:00")}
CAMERA_EXIF = {0x829A: (RATIONAL, [(1, 200)]), 0x829D: (RATIONAL, [(28, 10)]), 0x8827: (SHORT, 400),
               0x9003: (ASCII, "2024:03:01 09:00:00"), 0x9004: (ASCII, "2024:03:01 09:00:00"),
               0x920A: (RATIONAL, [(50, 1)]), 0x927C: (UNDEFINED, b"\x00" * 64 + b"CanonMakerNote"),
               0xA431: (ASCII, "012345678901"), 0xA434: (ASCII, "EF50mm f/1.8 STM")}


def camera_jpeg(img: Image.Image | None = None) -> bytes:
    """A photo as a camera writes it: make/model/exposure/maker note, own tables, no software."""
    img = img or face_image()
    body = jpeg_bytes(img, qtables=CAMERA_QTABLES, subsampling=1)
    return insert_segments(body, exif_segment(tiff_exif(CAMERA_IFD0, CAMERA_EXIF)))


PHOTOSHOP = "Adobe Photoshop 25.0 (Windows)"


def photoshop_xmp() -> str:
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
   xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" xmlns:stRef="http://ns.adobe.com/xap/1.0/sType/ResourceRef#"
   xmp:CreatorTool="{PHOTOSHOP}" xmp:CreateDate="2024-03-01T09:00:00" xmp:ModifyDate="2024-03-02T10:00:00+01:00"
   xmpMM:DocumentID="xmp.did:1111" xmpMM:InstanceID="xmp.iid:2222" xmpMM:OriginalDocumentID="xmp.did:0000">
  <xmpMM:History><rdf:Seq>
   <rdf:li stEvt:action="created" stEvt:instanceID="xmp.iid:0000" stEvt:when="2024-03-01T09:00:00" stEvt:softwareAgent="Canon EOS 5D Mark IV"/>
   <rdf:li stEvt:action="saved" stEvt:instanceID="xmp.iid:2222" stEvt:when="2024-03-02T10:00:00+01:00" stEvt:softwareAgent="{PHOTOSHOP}" stEvt:changed="/"/>
  </rdf:Seq></xmpMM:History>
  <xmpMM:DerivedFrom stRef:documentID="xmp.did:0000" stRef:instanceID="xmp.iid:0000"/>
 </rdf:Description>
</rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def edited_jpeg(img: Image.Image | None = None) -> bytes:
    """The same photo after Photoshop: Software, DateTime a day later, XMP history; libjpeg tables."""
    img = img or face_image()
    ifd0 = dict(CAMERA_IFD0)
    ifd0[0x0131] = (ASCII, PHOTOSHOP)
    ifd0[0x0132] = (ASCII, "2024:03:02 10:00:00")
    body = jpeg_bytes(img, quality=90)
    return insert_segments(body, exif_segment(tiff_exif(ifd0, CAMERA_EXIF)), xmp_segment(photoshop_xmp()))


def thumbnail_jpeg(edit_after_thumbnail: bool) -> bytes:
    """A camera-like JPEG whose EXIF thumbnail shows the original; optionally the main image is edited."""
    img = face_image(640)
    thumb = img.copy()
    thumb.thumbnail((160, 160))
    thumb_bytes = jpeg_bytes(thumb, quality=90)
    main = img.copy()
    if edit_after_thumbnail:
        patch = Image.open(ASTRONAUT).convert("RGB").resize((320, 320))
        main.paste(patch, (160, 200))
    return insert_segments(jpeg_bytes(main, qtables=CAMERA_QTABLES),
                           exif_segment(tiff_exif(CAMERA_IFD0, CAMERA_EXIF, thumbnail=thumb_bytes)))


def pristine_image(scale: float = 0.71) -> Image.Image:
    """A photo with no JPEG grid left in it (resampled off the 8-pixel grid)."""
    im = Image.open(ASTRONAUT).convert("RGB")
    return im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)


def saved_twice(q1: int, q2: int) -> bytes:
    first = Image.open(io.BytesIO(jpeg_bytes(pristine_image(), quality=q1)))
    return jpeg_bytes(first, quality=q2)


def heic_bytes(img: Image.Image | None = None, quality: int = 90) -> bytes:
    from pillow_heif import from_pillow

    img = img or face_image()
    exif = tiff_exif({0x010F: (ASCII, "Apple"), 0x0110: (ASCII, "iPhone 15 Pro")}, CAMERA_EXIF)
    h = from_pillow(img)
    buf = io.BytesIO()
    h.save(buf, quality=quality, exif=b"Exif\x00\x00" + exif)
    return buf.getvalue()


# --------------------------------------------------------------------------- C2PA

AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def make_signer_pems() -> tuple[bytes, bytes]:
    """(certificate chain PEM: signer then CA, signer private key PEM), valid for a month from now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "forgetalk tests")])

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ku = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(name("forgetalk test CA")).issuer_name(name("forgetalk test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **ku), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(name("forgetalk test signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **ku), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pkey = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return chain, pkey


def c2pa_signed(jpeg: bytes, pems: tuple[bytes, bytes], ai_generated: bool = False, title: str = "photo.jpg") -> bytes:
    """``jpeg`` with an embedded C2PA manifest signed by the test certificate (offline: no timestamp server)."""
    import c2pa

    action = {"action": "c2pa.created", "digitalSourceType": AI_SOURCE if ai_generated else
              "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}
    manifest = {"claim_generator_info": [{"name": "forgetalk-tests", "version": "1.0"}], "title": title, "format": "image/jpeg",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}]}
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", pems[0], pems[1], None))
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()


def tamper_pixels(jpeg: bytes) -> bytes:
    """Flip one byte of the entropy-coded image data (after the manifest), as an edit after signing would."""
    b = bytearray(jpeg)
    sos = jpeg.rfind(b"\xff\xda")
    pos = sos + 40 + (len(jpeg) - sos) // 2
    b[pos] = (b[pos] + 0x55) % 256 or 1
    if b[pos] == 0xFF:
        b[pos] = 0x7F
    return bytes(b)


def break_c2pa_box(jpeg: bytes) -> bytes:
    """Corrupt the inside of the JUMBF (APP11) manifest store, keeping the JPEG structure valid."""
    b = bytearray(jpeg)
    at = jpeg.find(b"\xff\xeb")
    assert at > 0, "no APP11 segment"
    length = struct.unpack(">H", jpeg[at + 2:at + 4])[0]
    for i in range(at + 40, at + 2 + length - 8, 7):
        b[i] = (b[i] * 31 + 7) % 256 or 1
    return bytes(b)


def noise_rgb(h: int = 256, w: int = 256, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
