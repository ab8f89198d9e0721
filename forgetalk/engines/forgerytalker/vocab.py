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


def link_sentences(text: str) -> dict[str, list[str]]:
    """Region name -> the generated sentences that mention it.

    A sentence that names several regions is listed under each; a sentence that names
    none goes under ``"face"`` so nothing the model wrote is silently dropped.
    """
    out: dict[str, list[str]] = {}
    for sentence in split_sentences(text):
        regions = regions_for_words(words_in_text(sentence)) or ["face"]
        for r in regions:
            out.setdefault(r, []).append(sentence)
    return out


__all__ = [
    "LABEL_SYNONYMS", "LINK_SYNONYMS", "REGION_WORDS", "WORD_TO_REGIONS", "build_prompt", "caption_multilabel", "link_sentences",
    "mask_label", "regions_for_words", "selected_words", "split_sentences", "words_in_text",
]
