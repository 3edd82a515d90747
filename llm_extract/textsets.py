"""Word sets, sentences and the diagnosis matcher that the parser, the LLM
arbitration and the scorer share.

RECORD.md scores a diagnosis as matched when the word sets of the predicted
and the gold diagnosis have a Jaccard index of at least 0.5, one to one, as
many pairs as possible.  Code that judges "the same diagnosis" for the model
uses the same rule (:func:`diagnosis_matches`), so arbitration and scoring
never disagree on what a match is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .normalize import clean_string

_WORD = re.compile(r"[^\W_]+")
# A sentence ends at . ! ? followed by space and an upper-case letter, a digit,
# a quote or a parenthesis.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")
# RECORD.md: two diagnoses are the same at this word-set Jaccard index or more.
SAME_DIAGNOSIS = 0.5


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences (a period inside "7.5mg" or "e.g. the" does not end one)."""
    return _SENTENCE_BREAK.split(text)


def words(text: str) -> set[str]:
    """Case-folded word set (letters and digits; punctuation splits words)."""
    return set(_WORD.findall(clean_string(text).casefold()))


def word_jaccard(a: set[str], b: set[str]) -> float:
    """Jaccard index of two word sets; 0.0 when either is empty (no words, no match)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def jaccard(a: str, b: str) -> float:
    """Word overlap of two diagnoses; >= :data:`SAME_DIAGNOSIS` is the same diagnosis."""
    return word_jaccard(words(a), words(b))


def diagnosis_matches(
    gold: Sequence[str], predicted: Sequence[str]
) -> list[tuple[int, int, float]]:
    """One-to-one matches (gold index, predicted index, Jaccard), as many as possible.

    Jaccard >= 0.5 on word sets makes a pair eligible; the assignment maximises
    the number of matched pairs first (weight 1 each) and, among those, the
    total Jaccard (a bonus too small to trade away a pair).
    """
    gw = [words(g) for g in gold]
    pw = [words(p) for p in predicted]
    if not gw or not pw:
        return []
    eps = 1.0 / (min(len(gw), len(pw)) + 1)
    sims = [[word_jaccard(a, b) for b in pw] for a in gw]
    weights = [[1.0 + eps * s if s >= SAME_DIAGNOSIS else 0.0 for s in row] for row in sims]
    return [
        (i, j, round(sims[i][j], 4))
        for i, j in hungarian_max(weights)
        if sims[i][j] >= SAME_DIAGNOSIS
    ]


def hungarian_max(weights: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Rows-to-columns assignment maximising the total weight.

    Rectangular input is fine: every row (if rows <= columns) or every column
    is assigned.  Classic O(n^2 m) shortest augmenting path version with
    potentials (Kuhn-Munkres), on costs = -weights.
    """
    n = len(weights)
    m = len(weights[0]) if n else 0
    if n == 0 or m == 0:
        return []
    transposed = n > m
    if transposed:
        cost = [[-float(weights[i][j]) for i in range(n)] for j in range(m)]
        n, m = m, n
    else:
        cost = [[-float(w) for w in row] for row in weights]
    inf = float("inf")
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    p = [0] * (m + 1)  # p[j]: row (1-based) assigned to column j; 0 = none
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    pairs = [(p[j] - 1, j - 1) for j in range(1, m + 1) if p[j] != 0]
    if transposed:
        pairs = [(c, r) for r, c in pairs]
    return sorted(pairs)
