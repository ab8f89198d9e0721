"""File and provenance forensics: what the file itself says about its origin.

One module per source, each owning one job: :mod:`.exif`, :mod:`.xmp`, :mod:`.iptc`,
:mod:`.icc` (metadata), :mod:`.credentials` (C2PA Content Credentials), :mod:`.jpeg`
(marker structure, quantization tables, thumbnail), :mod:`.double_jpeg` (double-compression
evidence), :mod:`.ela` (error level analysis image, a visual aid only), :mod:`.findings`
(plain sentences from the measurements) and :mod:`.stage` (runs them all on the hashed
bytes). Results are :mod:`.model` dataclasses. Nothing here touches the network or the face
score.
"""
