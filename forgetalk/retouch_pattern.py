"""The whole-skin retouch pattern: a face note for a finding spread over the skin, not one part.

Why: a beauty mode's or a studio's retouch of the whole skin made the `fused` engine of
2026-11-26 flag most untouched portraits (57 % at 600 px on held-out parsing-set portraits, against
10 % without it; docs/localizer_history.md, sixteenth session), because its training taught it that
smooth skin is a forgery. The ensemble shipped since the seventeenth session flags 11 % of them
(two of its four members were trained with retouched hosts; the other two still carry the lesson).
Its heat then covers the skin and a cheek, the forehead or the skin ranks first, where a pasted
part puts its own region first. An analyst reading "likely manipulated" should know which
of the two the engine saw. The note does not change the score or the verdict: a retouch is still a
change to the photo, and a retouched photo may hold a pasted part as well.

The rule and its rates were chosen on the validation split and measured on the test split
(``benchmarks/image_score.py`` with and without ``--finish beauty``, 600 px photos, the parsing
set's portraits; the shipped engine of 2026-11-27):

* validation: the note on 55.3 % of retouched untouched portraits, 5.0 % of plain untouched ones
  and 5.7 % of photos with pasted parts;
* test: 57.1 %, 4.3 % and 5.7 %; it came with 73 of the 80 "likely manipulated" verdicts on
  retouched untouched portraits and 7 of the 76 on plain pasted parts.

Below ``MIN_FACE_PX`` (faces of the 160 px photos, about 100 px) the heat of untouched faces
spreads over the skin too often (18 % of plain untouched faces on validation at this threshold),
so no note is given there.

With the ensemble shipped since the seventeenth session the rule was re-checked on the validation
runs: ``HOT_FRAC_MIN`` from 0.10 to 0.30 gives the note with 10-11 of the 21 verdicts on retouched
untouched portraits (the others rank no skin area first) and with 6-15 of the 64 on pasted parts,
so 0.25 was kept (validation: the note on 39.7 % of retouched untouched portraits, 4.3 % of plain
untouched ones, 8.5 % of pasted parts). Measured then on the test runs: 42.1 %, 3.6 % and 9.3 %,
with 14 of the 16 verdicts on retouched untouched portraits and 11 of the 73 on pasted parts.

Re-checked with the size-banded region calibration of the nineteenth session (the ranking of a
600 px portrait's face changed a little): validation 39.0 %, 4.3 % and 9.2 % at 0.25; test 41.4 %
of retouched untouched portraits (with 14 of their 16 verdicts), 2.9 % of plain untouched ones and
10.7 % of pasted parts; kept.

The threshold and the rates belong to the weights they were measured with: ``hot_frac`` is
measured against the fused calibration's pixel threshold, so a new localizer or calibration needs
the rule re-chosen on the validation runs (``image_score.py --split val`` with and without
``--finish beauty``, which print the note's rates per size).
"""

from __future__ import annotations

from collections.abc import Mapping

from .faces import REGION_LABELS, SKIN_AREAS

#: Regions ranked first in the pattern: the skin areas and the rest of the skin.
SKIN_FIRST: tuple[str, ...] = (*SKIN_AREAS, "skin")
#: Share of the face at or above the fused heat's pixel threshold (the engine's ``hot_frac``).
HOT_FRAC_MIN = 0.25
#: Smallest face (detector size, px) the note is given for.
MIN_FACE_PX = 160.0


def retouch_pattern(top_region: str | None, features: Mapping[str, float], face_px: float) -> bool:
    """Whether a face's finding has the whole-skin retouch pattern: a skin area ranked first and at
    least ``HOT_FRAC_MIN`` of the face hot, on a face of at least ``MIN_FACE_PX``. False for engines
    that report no ``hot_frac``."""
    hot = features.get("hot_frac")
    return top_region in SKIN_FIRST and hot is not None and float(hot) >= HOT_FRAC_MIN and face_px >= MIN_FACE_PX


def retouch_note(top_region: str, hot_frac: float) -> str:
    """The face note for a finding with the whole-skin retouch pattern."""
    label = REGION_LABELS.get(top_region, top_region.replace("_", " "))
    return (f"What the engine found is spread over the skin ({100 * hot_frac:.0f} % of the face hot; {label} ranked first), "
            "the pattern a retouch of the whole skin (a beauty mode, a studio's skin pass) leaves, which this engine reads as "
            "an edit; a pasted part usually puts its own region first. On held-out portraits this note came with 73 of 80 such "
            "verdicts on retouched but otherwise untouched photos, and with 7 of 76 on photos with pasted parts.")
