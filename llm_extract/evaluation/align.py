"""One-to-one alignment of predicted items to gold items (RECORD.md scoring).

RECORD.md: items are aligned "by letter order and request text (an optimal
assignment on text similarity)".  Here that is:

* ``request_similarity`` in [0, 1]: the better of a word-level score (mean of
  the Jaccard index and the overlap coefficient of the two word sets, so
  ``Norco 10/325 #60`` still matches a prediction that kept the words around
  it) and a character-level ratio (so ``Tramadl`` still matches ``Tramadol``).
* A pair is *eligible* only when that similarity is at least
  :data:`MIN_SIMILARITY`; an ineligible pair is never matched, so an unrelated
  predicted item is a false positive and the gold item a miss, instead of
  borrowing the gold item's fields by position.
* The weight of an eligible pair is the similarity minus
  :data:`ORDER_WEIGHT` times the difference of the two items' relative
  positions in their lists: letter order breaks ties between equally similar
  requests (two identical ``Physical therapy`` lines) without overriding a
  clear text match.
* The assignment maximising the total weight is found with the Hungarian
  algorithm (:func:`llm_extract.textsets.hungarian_max`; no scipy dependency).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from ..normalize import clean_string
from ..textsets import hungarian_max, words

MIN_SIMILARITY = 0.5
ORDER_WEIGHT = 0.1


def request_similarity(a: str, b: str) -> float:
    a_norm, b_norm = clean_string(a).casefold(), clean_string(b).casefold()
    if a_norm == b_norm:
        return 1.0
    wa, wb = words(a_norm), words(b_norm)
    word_score = 0.0
    if wa and wb:
        inter = len(wa & wb)
        word_score = (inter / len(wa | wb) + inter / min(len(wa), len(wb))) / 2
    char_score = difflib.SequenceMatcher(None, a_norm, b_norm, autojunk=False).ratio()
    return max(word_score, char_score)


@dataclass(frozen=True)
class Alignment:
    """``pairs``: (gold index, predicted index, similarity), in gold order."""

    pairs: list[tuple[int, int, float]]
    missed: list[int]  # gold items with no predicted item
    extra: list[int]  # predicted items with no gold item

    def pred_for(self, gold_index: int) -> int | None:
        for g, p, _ in self.pairs:
            if g == gold_index:
                return p
        return None


def _relative(i: int, n: int) -> float:
    return i / (n - 1) if n > 1 else 0.0


def align_requests(gold: Sequence[str], predicted: Sequence[str]) -> Alignment:
    """Align two lists of request texts (gold order, predicted order)."""
    n, m = len(gold), len(predicted)
    sims = [[request_similarity(g, p) for p in predicted] for g in gold]
    weights = [
        [
            # Eligible weights are >= MIN_SIMILARITY - ORDER_WEIGHT > 0, so a
            # pair forced on an ineligible (0-weight) cell adds nothing and is dropped.
            (sims[i][j] - ORDER_WEIGHT * abs(_relative(i, n) - _relative(j, m)))
            if sims[i][j] >= MIN_SIMILARITY
            else 0.0
            for j in range(m)
        ]
        for i in range(n)
    ]
    pairs = [
        (i, j, round(sims[i][j], 4))
        for i, j in hungarian_max(weights)
        if sims[i][j] >= MIN_SIMILARITY
    ]
    matched_gold = {i for i, _, _ in pairs}
    matched_pred = {j for _, j, _ in pairs}
    return Alignment(
        pairs=pairs,
        missed=[i for i in range(n) if i not in matched_gold],
        extra=[j for j in range(m) if j not in matched_pred],
    )
