"""Caption metrics in pure Python: BLEU-1..4, ROUGE-L and CIDEr-D, as the COCO toolkit computes them.

Why not pycocoevalcap: it needs Java (PTB tokenizer) and downloads at first use, which an
offline forensic workstation cannot do. The scoring formulas here follow the toolkit's
(BLEU: corpus-level, "closest" reference length, its 1e-15/1e-9 smoothing; ROUGE-L:
max LCS precision and recall over references, beta = 1.2, averaged over images;
CIDEr-D: 1-4-grams, tf-idf with document frequencies from the evaluated references,
clipped n-gram vectors, Gaussian length penalty sigma = 6 on the bigram-count length
quirk of the toolkit, x10).

Known difference: tokenisation. The toolkit's Stanford PTB tokenizer is replaced by
lowercasing and splitting on ``[a-z0-9]+('[a-z]+)?``; punctuation is dropped as the
toolkit also drops it. Clitics ("n't", "'s") and hyphenated words may split differently,
which can move scores by a small amount (see docs/forgerytalker.md).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens without punctuation (stand-in for the PTB tokenizer)."""
    return _TOKEN.findall(text.lower())


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _all_ngrams(tokens: Sequence[str], max_n: int = 4) -> Counter[tuple[str, ...]]:
    c: Counter[tuple[str, ...]] = Counter()
    for n in range(1, max_n + 1):
        c.update(_ngrams(tokens, n))
    return c


def bleu(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str], max_n: int = 4) -> list[float]:
    """Corpus BLEU-1..max_n (COCO ``Bleu(4)``, option "closest"). ``refs``: id -> reference texts."""
    tiny, small = 1e-15, 1e-9
    testlen = reflen = 0
    guess = [0] * max_n
    correct = [0] * max_n
    for key, hyp in hyps.items():
        h = tokenize(hyp)
        rs = [tokenize(r) for r in refs[key]]
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


def rouge_l(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str], beta: float = 1.2) -> float:
    """Mean per-image ROUGE-L F (COCO ``Rouge``: max precision and max recall over references)."""
    scores = []
    for key, hyp in hyps.items():
        h = tokenize(hyp)
        precs, recs = [], []
        for r in refs[key]:
            rt = tokenize(r)
            lcs = _lcs(rt, h)
            precs.append(lcs / len(h) if h else 0.0)
            recs.append(lcs / len(rt) if rt else 0.0)
        p, r_ = max(precs, default=0.0), max(recs, default=0.0)
        scores.append(((1 + beta**2) * p * r_) / (r_ + beta**2 * p) if p and r_ else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def cider_d(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str], n: int = 4, sigma: float = 6.0) -> float:
    """Corpus CIDEr-D (COCO ``Cider``): document frequencies come from the references evaluated."""
    keys = list(hyps)
    if not keys:
        return 0.0
    crefs = {k: [_all_ngrams(tokenize(r), n) for r in refs[k]] for k in keys}
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
        vh, nh, lh = vec(_all_ngrams(tokenize(hyps[k]), n))
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


def caption_scores(refs: Mapping[str, Sequence[str]], hyps: Mapping[str, str]) -> dict[str, float]:
    """All text metrics under the COCO toolkit's names (Bleu_1..4, ROUGE_L, CIDEr), fractions not x100."""
    b = bleu(refs, hyps)
    return {"Bleu_1": b[0], "Bleu_2": b[1], "Bleu_3": b[2], "Bleu_4": b[3], "ROUGE_L": rouge_l(refs, hyps), "CIDEr": cider_d(refs, hyps)}
