"""File and provenance forensics: what the file itself says about its origin.

One module per source, each owning one job: :mod:`.exif`, :mod:`.xmp`, :mod:`.iptc`,
:mod:`.icc`, :mod:`.png_text` (metadata), :mod:`.credentials` (C2PA Content Credentials),
:mod:`.jpeg` (marker structure, quantization tables and software signatures, thumbnail,
trailing data, MPF), :mod:`.double_jpeg` (double-compression evidence), :mod:`.ela` (error
level analysis picture, a visual aid only), :mod:`.findings` (plain sentences) and
:mod:`.stage` (runs them all on the hashed bytes, each isolated). Results are :mod:`.model`
dataclasses. Nothing here touches the network or the face score.
"""

from .model import ProvenanceReport
from .stage import inspect

__all__ = ["ProvenanceReport", "inspect"]
