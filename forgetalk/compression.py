"""Compression history per facial region: the JPEG block map of :mod:`.provenance.compression_map`
read inside each aligned face.

Owns the face-level reading of that map and its sentences. A region whose blocks fit *one*
compression while the rest of the face fits the two that the file shows is what a part pasted
in from another photo and saved again leaves behind; the report quotes it for that region, with
its numbers, next to the engine's own evidence. A reported region is ranked first and makes the
face "likely manipulated" (:func:`forgetalk.verdict.face_verdict`); the engine's score and the
region numbers stay the engine's.

Why a threshold on the *excess* over the rest of the same face, not on the raw log-odds: how
strongly a twice-compressed block votes "twice" depends on the two qualities and on texture, so
the face's own skin is the reference, as for the border-continuity cues.
"""

from __future__ import annotations

import numpy as np

from .faces import REGION_LABELS, AlignedFace
from .provenance.compression_map import CompressionMap, warp_to_crop
from .results import FaceCompression, RegionCompression

#: A region is reported as compressed once when its log-odds per coefficient exceed the face
#: reference's by this much...
EXCESS_THRESHOLD = 0.4
#: ...and stand this many standard errors above it (the reference's per-coefficient spread, both
#: coefficient counts). Both were chosen on 40 validation faces (`benchmarks/compression_history.py
#: --split val --limit 40`): the untouched faces saved twice there reached at most 0.23 of excess
#: (with z 24: large regions make small differences significant, hence the excess floor), while
#: parts pasted before a final save at quality 84 or more had 0.66 or more; the test split measures them.
Z_THRESHOLD = 10.0
#: Floor on the per-coefficient spread (log-odds), for faces whose reference is nearly uniform.
SPREAD_FLOOR = 0.25
#: Regions holding fewer informative (non-zero, tested) DCT coefficients than this are not judged.
MIN_COEFFICIENTS = 40.0
#: Regions whose pixels are not compared with themselves (the reference is the face's own skin).
REFERENCE_EXCLUDES = ("left_eye", "right_eye", "left_brow", "right_brow", "nose", "mouth")


def face_compression(cmap: CompressionMap, face: AlignedFace) -> FaceCompression | None:
    """Read the compression map in ``face``'s crop; None when the face's reference skin holds too
    few informative coefficients to compare with."""
    m = face.matrix.astype(np.float64)
    total, count = warp_to_crop(cmap, m, (face.crop.shape[1], face.crop.shape[0]))
    scale = max(float(abs(np.linalg.det(m[:, :2]))), 1e-9)  # crop pixels per photo pixel
    ref = face.face_mask.copy()
    for name in REFERENCE_EXCLUDES:
        if name in face.regions:
            ref &= ~face.regions[name]
    n_ref = float(count[ref].sum()) / scale
    if n_ref < MIN_COEFFICIENTS * 4:
        return None
    reference = float(total[ref].sum()) / scale / n_ref
    resid = total[ref] - reference * count[ref]
    spread = max(float(np.sqrt(64.0 * float((resid.astype(np.float64) ** 2).sum()) / scale / n_ref)), SPREAD_FLOOR)
    rows: list[RegionCompression] = []
    for name, mask in face.regions.items():
        n = float(count[mask].sum()) / scale
        if n < MIN_COEFFICIENTS:
            continue
        mean = float(total[mask].sum()) / scale / n
        excess = mean - reference
        z = excess / (spread * float(np.sqrt(1.0 / n + 1.0 / n_ref)))
        blocks = float(mask.sum()) / scale / 64.0
        # Third condition, with nothing to tune: the region's own log-odds favour one compression. A
        # region merely *less* twice-compressed than the skin is not what the report's sentence says
        # (a retouched press photo's mouth at -0.25, skin -0.66, was reported before this condition).
        single = z >= Z_THRESHOLD and excess >= EXCESS_THRESHOLD and mean > 0.0
        rows.append(RegionCompression(name, round(blocks, 1), round(n, 1), round(mean, 3), round(excess, 3), round(z, 2), bool(single)))
    single = tuple(r.region for r in sorted(rows, key=lambda r: -r.z) if r.single)
    return FaceCompression(round(reference, 3), round(spread, 3), tuple(rows), single, Z_THRESHOLD, EXCESS_THRESHOLD, cmap.method)


def region_sentence(rc: RegionCompression, fc: FaceCompression) -> str:
    """One sentence for the region's explanations, in measured units."""
    return (f"Compression history: this region's JPEG blocks fit one compression where the rest of the face fits the "
            f"two that the file shows (log-odds {rc.log_odds:+.2f} per DCT coefficient against {fc.reference_log_odds:+.2f} "
            f"for the face's skin, {rc.z:.0f} standard errors apart, over {rc.blocks:.0f} blocks), as a part pasted in "
            f"from another photo and saved again leaves it.")


def face_note(fc: FaceCompression) -> str:
    """The face-level note naming the regions reported as compressed once."""
    names = ", ".join(REGION_LABELS.get(r, r.replace("_", " ")) for r in fc.single_regions)
    return (f"Compression history: JPEG blocks in {names} fit one compression where the rest of the face fits two "
            f"(the file was saved twice); see those regions' explanations.")
