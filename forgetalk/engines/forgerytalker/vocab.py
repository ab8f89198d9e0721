"""ForgeryTalker's 21 region words, their synonyms, the prompt templates, and text linking.

Pure Python on purpose (no torch): the explanation layer imports :data:`WORD_TO_REGIONS`
and :func:`link_sentences` to place each generated sentence next to the face region it
names, and that must stay cheap for engines that never load a model.

Sources: the word order, the synonym lists used to derive MMTT multi-labels and the two
prompt templates are those of the released DFF code (see /work/shared/design/paper.md,
sections 2.4-2.6). The mapping to forgetalk region names is ours.
"""

from __future__ import annotations

import re

#: The Face-ViT prompter's output order (index i of the 21-way sigmoid is REGION_WORDS[i]).
REGION_WORDS: tuple[str, ...] = (
    "eye", "pupil", "lip", "mouth", "nose", "ear", "cheek", "forehead", "chin", "jaw", "eyebrow",
    "tooth", "tongue", "beard", "mustache", "skin", "hair", "wrinkle", "freckle", "scar", "dimple",
)

#: Region word -> forgetalk region names (see ``forgetalk.faces.base.REGION_NAMES``).
#: Words with no dedicated face region go to the closest one (ear -> face boundary, the
#: skin blemish words -> skin) so that every sentence lands somewhere on the face.
WORD_TO_REGIONS: dict[str, tuple[str, ...]] = {
    "eye": ("left_eye", "right_eye"),
    "pupil": ("left_eye", "right_eye"),
    "lip": ("mouth",),
    "mouth": ("mouth",),
    "nose": ("nose",),
    "ear": ("face_boundary",),
    "cheek": ("left_cheek", "right_cheek"),
    "forehead": ("forehead",),
    "chin": ("chin_jaw",),
    "jaw": ("chin_jaw",),
    "eyebrow": ("left_brow", "right_brow"),
    "tooth": ("mouth",),
    "tongue": ("mouth",),
    "beard": ("chin_jaw", "left_cheek", "right_cheek"),
    "mustache": ("mouth",),
    "skin": ("skin",),
    "hair": ("hair",),
    "wrinkle": ("skin", "forehead"),
    "freckle": ("skin",),
    "scar": ("skin",),
    "dimple": ("left_cheek", "right_cheek"),
}

#: Synonyms the released code uses to turn a caption into the 21-dim multi-label
#: (``to_mutilabel.py``). Kept verbatim so labels derived here match MMTT's.
LABEL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "eye": ("eye", "eyes", "ocular", "optic", "vision"),
    "pupil": ("pupil", "pupils"),
    "lip": ("lip", "lips", "labium", "labia"),
    "mouth": ("mouth", "mouths", "oral cavity", "buccal"),
    "nose": ("nose", "noses", "nasal", "nostril", "nostrils"),
    "ear": ("ear", "ears", "auricle", "pinna", "pinnae"),
    "cheek": ("cheek", "cheeks", "buccal", "malar"),
    "forehead": ("forehead", "frontal", "brow", "brows"),
    "chin": ("chin", "chins", "mentum"),
    "jaw": ("jaw", "jaws", "mandible", "maxilla"),
    "eyebrow": ("eyebrow", "eyebrows"),
    "tooth": ("tooth", "teeth", "dentition"),
    "tongue": ("tongue", "tongues", "glossa", "lingua"),
    "beard": ("beard", "beards", "facial hair"),
    "mustache": ("mustache", "mustaches", "moustache", "moustaches"),
    "skin": ("skin", "derma", "epidermis", "cutis"),
    "hair": ("hair", "hairs", "locks", "tresses", "strands"),
    "wrinkle": ("wrinkle", "wrinkles", "line", "lines", "crease", "creases"),
    "freckle": ("freckle", "freckles", "lentigo", "lentigines"),
    "scar": ("scar", "scars", "cicatrix", "cicatrices"),
    "dimple": ("dimple", "dimples", "fossa", "fossae"),
}

#: Synonyms for linking *generated* sentences to regions. Differs from LABEL_SYNONYMS on
#: purpose: "line(s)" and "vision/optic" are dropped (too generic in free text), "brow(s)"
#: means eyebrows in ordinary English, and compound words the model writes are added.
LINK_SYNONYMS: dict[str, tuple[str, ...]] = {
    **LABEL_SYNONYMS,
    "eye": ("eye", "eyes", "ocular", "eyelid", "eyelids", "eyelash", "eyelashes", "lashes", "sclera", "iris", "irises"),
    "forehead": ("forehead", "foreheads", "frontal"),
    "eyebrow": ("eyebrow", "eyebrows", "brow", "brows"),
    "hair": ("hair", "hairs", "hairline", "locks", "tresses"),
    "jaw": ("jaw", "jaws", "jawline", "mandible"),
    "wrinkle": ("wrinkle", "wrinkles", "wrinkled", "crease", "creases"),
}

_PROMPT_WITH = (
    "The following facial areas may have been modified by AI: {regions}. These areas might have been manipulated either by "
    "replacing the entire face or by altering specific facial features. Please identify these areas and describe why they appear unnatural."
)
_PROMPT_WITHOUT = (
    "The following facial areas may have been modified by AI. These areas might have been manipulated either by "
    "replacing the entire face or by altering specific facial features. Please identify these areas and describe why they appear unnatural."
)


def selected_words(probs: list[float] | tuple[float, ...], threshold: float = 0.5) -> list[str]:
    """Region words whose prompter probability passes the threshold, in vocabulary order.

    Strictly greater than the threshold, as the released code does.
    """
    if len(probs) != len(REGION_WORDS):
        raise ValueError(f"expected {len(REGION_WORDS)} probabilities, got {len(probs)}")
    return [w for w, p in zip(REGION_WORDS, probs, strict=True) if float(p) > threshold]


def build_prompt(words: list[str] | tuple[str, ...]) -> str:
    """The instruction given to both the Q-Former and the T5 encoder (released template)."""
    return _PROMPT_WITH.format(regions=", ".join(words)) if words else _PROMPT_WITHOUT


def mask_label(words: list[str] | tuple[str, ...]) -> str:
    """The region text that conditions the mask decoder: words joined by single spaces."""
    return " ".join(words)


def _pattern(synonyms: dict[str, tuple[str, ...]]) -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for word, syns in synonyms.items():
        alts = sorted((re.escape(s).replace(r"\ ", r"\s+") for s in syns), key=len, reverse=True)
        out.append((word, re.compile(r"\b(?:" + "|".join(alts) + r")\b", re.IGNORECASE)))
    return out


_LABEL_RES = _pattern(LABEL_SYNONYMS)
_LINK_RES = _pattern(LINK_SYNONYMS)
_SENTENCE_RE = re.compile(r"[^.!?;]+[.!?;]?")


def caption_multilabel(caption: str) -> list[int]:
    """The 21-dim 0/1 label MMTT derives from a caption (whole-word, case-insensitive)."""
    return [1 if rx.search(caption) else 0 for _, rx in _LABEL_RES]


def words_in_text(text: str) -> list[str]:
    """Region words a piece of generated text mentions (link synonyms), vocabulary order."""
    return [w for w, rx in _LINK_RES if rx.search(text)]


def split_sentences(text: str) -> list[str]:
    """Sentences of a generated report, stripped; empty pieces dropped."""
    return [s.strip() for s in _SENTENCE_RE.findall(text or "") if s.strip(" .!?;")]


def regions_for_words(words: list[str] | tuple[str, ...]) -> list[str]:
    """Forgetalk regions for region words, first-mention order, no duplicates."""
    seen: dict[str, None] = {}
    for w in words:
        for r in WORD_TO_REGIONS.get(w, ()):
            seen.setdefault(r, None)
    return list(seen)


#: Clause boundaries inside a sentence: commas/semicolons/colons and clause-joining words.
_CLAUSE_BREAK = re.compile(
    r"\s*[,;:]\s*|\s+(?:and|but|while|whereas|although|though|yet|also|plus|meanwhile|additionally|moreover|furthermore|besides|as well as)\s+",
    re.IGNORECASE,
)
#: Words that may stand between a region word and the start of its noun phrase ("the left", "her upper").
_NP_WORDS = frozenset(
    "the a an her his their its this that these those both either each one two left right upper lower inner outer top bottom middle "
    "entire whole person's woman's man's subject's face's of on in near around".split()
)
_WORD = re.compile(r"[^\s,;:]+")
#: Verbs that start a predicate right after a region's noun phrase ("the teeth *are* unclear").
_VERBS = frozenset("is are was were has have had looks look appears appear seems seem lacks lack shows show exhibits exhibit "
                   "contains contain becomes become displays display".split())


def _mentions(text: str) -> list[tuple[int, int, str]]:
    """(start, end, region word) of each link-synonym mention, overlaps resolved to the longer one."""
    found = sorted(((m.start(), m.end(), w) for w, rx in _LINK_RES for m in rx.finditer(text)), key=lambda x: (x[0], -(x[1] - x[0])))
    out: list[tuple[int, int, str]] = []
    for m in found:
        if not out or m[0] >= out[-1][1]:
            out.append(m)
    return out


def _split_at_mentions(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split one comma/conjunction piece before a region mention that follows a predicate ("... is blurred the lips ...")."""
    piece = text[start:end]
    ments = _mentions(piece)
    cuts = []
    words = [(m.start(), m.end(), m.group().lower().strip(".!?'\"")) for m in _WORD.finditer(piece)]
    for prev, cur in zip([None, *ments], ments, strict=False):
        between = [w for w in words if (prev is None or w[0] >= prev[1]) and w[1] <= cur[0]]
        if not any(w[2] not in _NP_WORDS for w in between):
            continue  # "the skin of the cheek": one noun phrase
        if prev is None and not any(w[2] in _VERBS for w in [w for w in words if w[0] >= cur[1]][:3]):
            continue  # "the surface of the nose": text before the first region word splits off only before "<region> is ..."
        cut = cur[0]
        for w in reversed(between):  # back over "the left" to the start of the noun phrase
            if w[2] not in _NP_WORDS:
                break
            cut = w[0]
        cuts.append(cut)
    bounds = [0, *cuts, len(piece)]
    return [(start + a, start + b) for a, b in zip(bounds, bounds[1:], strict=False) if piece[a:b].strip()]


def clauses(sentence: str) -> list[tuple[str, list[str]]]:
    """(clause text, forgetalk regions) for a sentence, for reports without punctuation.

    Clauses split on commas/semicolons, clause-joining conjunctions and at a region word
    that follows a predicate. A bare noun phrase ("the eyes" in "the eyes and the nose
    are deformed") joins the next clause; a clause naming no region joins the previous
    one; neighbours with the same regions are merged back into one span of the text.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _CLAUSE_BREAK.finditer(sentence):
        spans += _split_at_mentions(sentence, pos, m.start())
        pos = m.end()
    spans += _split_at_mentions(sentence, pos, len(sentence))
    items: list[list] = []  # [start, end, regions, has_predicate]
    for a, b in spans:
        ments = _mentions(sentence[a:b])
        words = [w.lower().strip(".!?'\"") for w in _WORD.findall(sentence[a:b])]
        ment_words = {sentence[a + m[0]:a + m[1]].lower() for m in ments}
        # a bare noun phrase has no verb and ends on its region word ("the eyes", "the surface of the nose")
        pred = any(w in _VERBS for w in words) or not words or words[-1] not in ment_words
        items.append([a, b, regions_for_words([m[2] for m in ments]), pred])
    merged: list[list] = []
    carry: list | None = None
    for it in items:  # bare noun phrases join the following clause
        if carry is not None:
            it = [carry[0], it[1], list(dict.fromkeys(carry[2] + it[2])), it[3]]
            carry = None
        if it[2] and not it[3]:
            carry = it
            continue
        merged.append(it)
    if carry is not None:
        if merged:
            merged[-1] = [merged[-1][0], carry[1], list(dict.fromkeys(merged[-1][2] + carry[2])), True]
        else:
            merged.append(carry)
    out: list[list] = []
    for it in merged:  # region-less clauses continue the previous one; equal neighbours merge
        if out and (not it[2] or it[2] == out[-1][2]):
            out[-1][1] = it[1]
        elif out and not out[-1][2]:
            out[-1] = [out[-1][0], it[1], it[2], True]
        else:
            out.append(list(it))
    return [(sentence[a:b].strip(" ,;:"), regions) for a, b, regions, _ in out if sentence[a:b].strip(" ,;:")]


def link_sentences(text: str) -> dict[str, list[str]]:
    """Region name -> the generated sentences (or clauses) that mention it.

    A sentence that names at most one region is kept whole under it; a sentence naming
    several regions is cut into clauses (:func:`clauses`) and each region gets only its
    own clauses. This matters for the released model, whose reports are lowercase and
    mostly without full stops (its training captions went through ``pre_caption``), so a
    whole report is one "sentence". Text that names no region goes under ``"face"`` so
    nothing the model wrote is silently dropped.
    """
    out: dict[str, list[str]] = {}
    for sentence in split_sentences(text):
        regions = regions_for_words(words_in_text(sentence))
        parts = clauses(sentence) if len(regions) > 1 else [(sentence, regions)]
        for part, regs in parts:
            for r in regs or ["face"]:
                if part not in out.setdefault(r, []):
                    out[r].append(part)
    return out


__all__ = [
    "LABEL_SYNONYMS", "LINK_SYNONYMS", "REGION_WORDS", "WORD_TO_REGIONS", "build_prompt", "caption_multilabel", "clauses", "link_sentences",
    "mask_label", "regions_for_words", "selected_words", "split_sentences", "words_in_text",
]
