"""Caption metrics in pure Python: BLEU-1..4, ROUGE-L and CIDEr-D, as the COCO toolkit computes them.

Why not pycocoevalcap: it needs Java (PTB tokenizer) and downloads at first use, which an
offline forensic workstation cannot do. The scoring formulas here follow the toolkit's
(BLEU: corpus-level, "closest" reference length, its 1e-15/1e-9 smoothing; ROUGE-L:
max LCS precision and recall over references, beta = 1.2, averaged over images;
CIDEr-D: 1-4-grams, tf-idf with document frequencies from the evaluated references,
clipped n-gram vectors, Gaussian length penalty sigma = 6 on the bigram-count length
quirk of the toolkit, x10).

Tokenisation (:func:`ptb_tokenize`, the default) re-implements the documented behaviour of
what the toolkit runs: Stanford CoreNLP 3.4.1 ``PTBTokenizer -preserveLines -lowerCase``
followed by the removal of the toolkit's punctuation tokens. Written from that
behaviour, not from either code base:

* everything lower-cased (Unicode letters kept: "Élodie" -> "élodie");
* clitics split off: "woman's" -> "woman 's", "isn't" -> "is n't", "they're" -> "they 're",
  "cannot" -> "can not", "gonna" -> "gon na";
* hyphenated words stay one token ("blue-green"), numbers keep their inner point or
  comma ("5.5", "1,000"), letter-period acronyms stay whole ("e.g.");
* punctuation becomes its own token and the toolkit then drops ``'' ' `` ` . ? ! , : ; -
  -- ...`` (quotes of any kind included); brackets become PTB escapes, and since the
  toolkit only drops the upper-case ``-LRB-``/``-RRB-``/``-LCB-``/``-RCB-`` while
  ``-lowerCase`` has already lower-cased them, ``-lrb-``/``-rrb-``/``-lsb-``/``-rsb-``/
  ``-lcb-``/``-rcb-`` stay in the token stream, as they do in the official pipeline.

Not reproduced: CoreNLP's abbreviation list ("approx." before a noun), its British-to-
American respelling and exotic Unicode normalisations. :func:`simple_tokenize` is the
previous ``[a-z0-9]+('[a-z]+)?`` stand-in, kept for the ``legacy`` evaluation protocol.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

_SIMPLE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

#: Tokens the COCO toolkit removes after PTB tokenisation.
PTB_PUNCTUATION = frozenset({"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"})
_BRACKETS = {"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-"}
_UNICODE_PUNCT = {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
                  "\u00ab": '"', "\u00bb": '"', "\u2026": "...", "\u2013": "--", "\u2014": "--", "\u2015": "--", "\u2212": "-", "\u00a0": " "}
_W = r"[^\W_]"  # a Unicode letter or digit
_PTB_TOKEN = re.compile(
    rf"(?:{_W}\.){{2,}}(?!{_W})"  # acronyms: e.g.  u.s.
    r"|\d+(?:[.,:/]\d+)+"  # numbers: 5.5  1,000  3:30  1/2
    rf"|{_W}+(?:[-'&]{_W}+)*"  # words, inner hyphens/apostrophes kept for now
    r"|\.\.\.|--|``|''|\S"  # punctuation, one token each
)
_CLITIC = re.compile(r"^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$")
_SPLIT_WORDS = {"cannot": ("can", "not"), "gonna": ("gon", "na"), "gotta": ("got", "ta"), "wanna": ("wan", "na"), "gimme": ("gim", "me"),
                "lemme": ("lem", "me")}


def _ptb_raw(text: str) -> list[str]:
    """PTB tokens before lower-casing and punctuation removal (brackets escaped)."""
    t = unicodedata.normalize("NFC", text)
    for a, b in _UNICODE_PUNCT.items():
        t = t.replace(a, b)
    out: list[str] = []
    for tok in _PTB_TOKEN.findall(t):
        if tok in _BRACKETS:
            out.append(_BRACKETS[tok])
        elif tok == '"':
            out.append("''")  # directional quotes: removed either way
        elif tok.lower() in _SPLIT_WORDS:
            a, b = _SPLIT_WORDS[tok.lower()]
            out.extend((tok[:len(a)], tok[len(a):]))
        else:
            m = _CLITIC.match(tok) if "'" in tok else None
            if m and not (m.group(2) == "n't" and not m.group(1)):
                out.extend(m.groups())
            else:
                out.append(tok)
    return out


def ptb_tokenize(text: str) -> list[str]:
    """Tokens as pycocoevalcap's PTB step yields them (lower-cased, its punctuation removed); see module doc."""
    lowered = (tok.lower() for tok in _ptb_raw(text))  # Java lower-cases its output, then the toolkit filters
    return [tok for tok in lowered if tok not in PTB_PUNCTUATION]


def simple_tokenize(text: str) -> list[str]:
    """The previous stand-in: lowercase ``[a-z0-9]+('[a-z]+)?`` tokens (legacy protocol)."""
    return _SIMPLE.findall(text.lower())


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"ptb": ptb_tokenize, "simple": simple_tokenize}


def tokenize(text: str) -> list[str]:
    """Default tokeniser of the metrics: :func:`ptb_tokenize`."""
    return ptb_tokenize(text)


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _all_ngrams(tokens: Sequence[str], max_n: int = 4) -> Counter[tuple[str, ...]]:
    c: Counter[tuple[str, ...]] = Counter()
    for n in range(1, max_n + 1):
        c.update(_ngrams(tokens, n))
    return c


def bleu(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str], max_n: int = 4, tok: Callable[[str], list[str]] = tokenize) -> list[float]:
    """Corpus BLEU-1..max_n (COCO ``Bleu(4)``, option "closest"). ``refs``: id -> reference texts."""
    tiny, small = 1e-15, 1e-9
    testlen = reflen = 0
    guess = [0] * max_n
    correct = [0] * max_n
    for key, hyp in hyps.items():
        h = tok(hyp)
        rs = [tok(r) for r in refs[key]]
        maxref: Counter[tuple[str, ...]] = Counter()
        for r in rs:
            for g, c in _all_ngrams(r, max_n).items():
                maxref[g] = max(maxref[g], c)
        testlen += len(h)
        reflen += min((len(r) for r in rs), key=lambda x: (abs(x - len(h)), x))
        for g, c in _all_ngrams(h, max_n).items():
            correct[len(g) - 1] += min(c, maxref.get(g, 0))
        for k in range(max_n):
            guess[k] += max(0, len(h) - k)
    out, prod = [], 1.0
    for k in range(max_n):
        prod *= (correct[k] + tiny) / (guess[k] + small)
        out.append(prod ** (1.0 / (k + 1)))
    ratio = (testlen + tiny) / (reflen + small)
    if ratio < 1:
        out = [b * math.exp(1 - 1 / ratio) for b in out]
    return out


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str], beta: float = 1.2, tok: Callable[[str], list[str]] = tokenize) -> float:
    """Mean per-image ROUGE-L F (COCO ``Rouge``: max precision and max recall over references)."""
    scores = []
    for key, hyp in hyps.items():
        h = tok(hyp)
        precs, recs = [], []
        for r in refs[key]:
            rt = tok(r)
            lcs = _lcs(rt, h)
            precs.append(lcs / len(h) if h else 0.0)
            recs.append(lcs / len(rt) if rt else 0.0)
        p, r_ = max(precs, default=0.0), max(recs, default=0.0)
        scores.append(((1 + beta**2) * p * r_) / (r_ + beta**2 * p) if p and r_ else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def cider_d(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str], n: int = 4, sigma: float = 6.0,
            tok: Callable[[str], list[str]] = tokenize) -> float:
    """Corpus CIDEr-D (COCO ``Cider``): document frequencies come from the references evaluated."""
    keys = list(hyps)
    if not keys:
        return 0.0
    crefs = {k: [_all_ngrams(tok(r), n) for r in refs[k]] for k in keys}
    df: Counter[tuple[str, ...]] = Counter()
    for k in keys:
        df.update({g for c in crefs[k] for g in c})
    log_n = math.log(float(len(keys)))

    def vec(counts: Counter[tuple[str, ...]]) -> tuple[list[dict[tuple[str, ...], float]], list[float], int]:
        v: list[dict[tuple[str, ...], float]] = [{} for _ in range(n)]
        norms = [0.0] * n
        length = 0
        for g, tf in counts.items():
            i = len(g) - 1
            v[i][g] = float(tf) * (log_n - math.log(max(1.0, df[g])))
            norms[i] += v[i][g] ** 2
            if i == 1:
                length += tf  # the toolkit measures length in bigrams
        return v, [math.sqrt(x) for x in norms], length

    total = 0.0
    for k in keys:
        vh, nh, lh = vec(_all_ngrams(tok(hyps[k]), n))
        acc = [0.0] * n
        for rc in crefs[k]:
            vr, nr, lr = vec(rc)
            delta = float(lh - lr)
            for i in range(n):
                val = sum(min(x, vr[i].get(g, 0.0)) * vr[i].get(g, 0.0) for g, x in vh[i].items())
                if nh[i] and nr[i]:
                    val /= nh[i] * nr[i]
                acc[i] += val * math.exp(-(delta**2) / (2 * sigma**2))
        total += sum(acc) / n / max(len(crefs[k]), 1) * 10.0
    return total / len(keys)


def caption_scores(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str], tokenizer: str = "ptb") -> dict[str, float]:
    """All text metrics under the COCO toolkit's names (Bleu_1..4, ROUGE_L, CIDEr), fractions not x100.

    ``tokenizer``: ``"ptb"`` (default, as the toolkit) or ``"simple"`` (legacy protocol).
    """
    tok = TOKENIZERS[tokenizer]
    b = bleu(refs, hyps, tok=tok)
    return {"Bleu_1": b[0], "Bleu_2": b[1], "Bleu_3": b[2], "Bleu_4": b[3], "ROUGE_L": rouge_l(refs, hyps, tok=tok),
            "CIDEr": cider_d(refs, hyps, tok=tok)}
